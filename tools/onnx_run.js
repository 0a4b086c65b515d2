#!/usr/bin/env node
// Run a model written by `graphrun export` with ONNX Runtime (npm's
// onnxruntime-node) on the first images of an IDX file, and print the
// predicted classes and the probabilities as JSON:
//
//   node tools/onnx_run.js MODEL.onnx IMAGES [--labels LABELS] [--count N]
//                          [--pixel-range LO,HI] [--threads N]
//
// IMAGES and LABELS are IDX files, raw or gzipped, as a config's data
// section names them. Pixels become floats as graphrun makes them (in
// float32: lo + ((hi - lo) / 255) * byte; default [0, 1]), each float input
// of the model takes the images in its own shape, and an int32 input takes
// the labels. The probabilities are the model's `probabilities` output (an
// export with --softmax), or else a softmax of its first output computed
// here in double precision. Output:
//
//   {"model": ..., "count": N, "output": "probabilities",
//    "classes": [7, 2, ...], "probabilities": [[...10 floats...], ...]}
//
// onnxruntime-node is found the usual way, or through NODE_PATH
// (NODE_PATH=build/npm/node_modules, where tools/ci_extra.sh installs it).
'use strict';
const fs = require('fs');
const zlib = require('zlib');

function usage(msg) {
  process.stderr.write(`onnx_run: ${msg}\nusage: node tools/onnx_run.js MODEL.onnx IMAGES [--labels LABELS] ` +
                       `[--count N] [--pixel-range LO,HI] [--threads N]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {pos: [], count: 0, lo: 0, hi: 1, labels: null, threads: 1};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { o.pos.push(a); continue; }
    const v = argv[++i];
    if (v === undefined) usage(`${a} needs a value`);
    if (a === '--count') o.count = parseInt(v, 10);
    else if (a === '--labels') o.labels = v;
    else if (a === '--threads') o.threads = parseInt(v, 10);
    else if (a === '--pixel-range') [o.lo, o.hi] = v.split(',').map(Number);
    else usage(`unknown option ${a}`);
  }
  if (o.pos.length !== 2) usage('expected MODEL.onnx and IMAGES');
  if (!(o.count >= 0) || !Number.isFinite(o.lo) || !Number.isFinite(o.hi)) usage('bad --count or --pixel-range');
  return o;
}

// An IDX file of unsigned bytes: its dims and its data.
function readIdx(path) {
  let b = fs.readFileSync(path);
  if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
  if (b.readUInt16BE(0) !== 0 || b[2] !== 0x08) throw new Error(`${path}: not an IDX file of unsigned bytes`);
  const dims = [];
  for (let k = 0; k < b[3]; k++) dims.push(b.readUInt32BE(4 + 4 * k));
  return {dims, data: b.subarray(4 + 4 * b[3])};
}

// graphrun's gr_bytes_to_floats, rounding as float32 does
function toFloats(bytes, lo, hi) {
  const f = Math.fround, scale = f(f(hi - lo) / 255), out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = f(lo + f(scale * bytes[i]));
  return out;
}

function softmax(row) {
  const m = Math.max(...row), e = row.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(o.pos[0], {intraOpNumThreads: o.threads, interOpNumThreads: 1});
  const images = readIdx(o.pos[1]);
  const n = o.count ? Math.min(o.count, images.dims[0]) : images.dims[0];
  const size = images.dims.slice(1).reduce((a, b) => a * b, 1);
  const feeds = {};
  for (const meta of session.inputMetadata) {
    const dims = [n, ...meta.shape.slice(1)];
    if (meta.type === 'float32') {
      feeds[meta.name] = new ort.Tensor('float32', toFloats(images.data.subarray(0, n * size), o.lo, o.hi), dims);
    } else if (meta.type === 'int32') {
      if (!o.labels) usage(`the model's input '${meta.name}' takes labels: give --labels`);
      feeds[meta.name] = new ort.Tensor('int32', Int32Array.from(readIdx(o.labels).data.subarray(0, n)), dims);
    } else {
      throw new Error(`input '${meta.name}' is ${meta.type}; graphrun writes float32 and int32 inputs`);
    }
  }
  const results = await session.run(feeds);
  const name = session.outputNames.includes('probabilities') ? 'probabilities' : session.outputNames[0];
  const y = results[name], c = y.dims[1], classes = [], probabilities = [];
  for (let i = 0; i < n; i++) {
    let row = Array.from(y.data.subarray(i * c, (i + 1) * c));
    if (name !== 'probabilities') row = softmax(row);
    let best = 0;
    for (let k = 1; k < c; k++) if (row[k] > row[best]) best = k;
    classes.push(best);
    probabilities.push(row);
  }
  process.stdout.write(JSON.stringify({model: o.pos[0], count: n, output: name, classes, probabilities}) + '\n');
}

main().catch((e) => {
  process.stderr.write(`onnx_run: ${e.message}\n`);
  process.exit(1);
});
