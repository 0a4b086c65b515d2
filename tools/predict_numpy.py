#!/usr/bin/python3
"""Classify an image with a graphrun checkpoint using numpy alone.

    /usr/bin/python3 tools/predict_numpy.py CHECKPOINT IMAGE [--json]

A graphrun checkpoint is a safetensors file: an 8-byte little-endian header
length, a JSON header naming each tensor's dtype, shape and byte range, then
the raw little-endian data. Parameters are stored as "param/NODE.NAME". This
script reads them and runs the model of configs/lstm_mnist.yaml by hand:

    x     [28, 28]   the image's rows, bytes / 255 (pixel_range [0, 1])
    z_t = [x_t, h_{t-1}] @ lstm.kernel + lstm.bias          [4H], gates i, f, g, o
    i = sigmoid(z_i)  f = sigmoid(z_f + 1.0)  g = tanh(z_g)  o = sigmoid(z_o)
    c_t = f * c_{t-1} + i * g ;  h_t = o * tanh(c_t)        h_{-1} = c_{-1} = 0
    logits = h_27 @ logits.kernel + logits.bias             [10]
    probs  = softmax(logits)

IMAGE is an 8-bit grayscale PNG (non-interlaced) or a binary PGM (P5).
It prints the same line as `graphrun predict`, or with --json the same
object as one element of `graphrun predict --json`.
"""
import json
import struct
import sys
import zlib

import numpy as np

FORGET_BIAS = 1.0  # the lstm op's default, used by configs/lstm_mnist.yaml


def read_checkpoint(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or not name.startswith("param/"):
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        t = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
        tensors[name[len("param/"):]] = t.astype(np.float64)
    return tensors


def read_png_gray8(blob):
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, ihdr = 8, b"", None
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind = blob[pos + 4:pos + 8]
        body = blob[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or color != 0 or interlace != 0:
        raise ValueError("this example reads only 8-bit gray, non-interlaced PNG")
    raw = zlib.decompress(idat)
    rows, prev = [], np.zeros(width, dtype=np.int32)
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        kind, cur = line[0], np.frombuffer(line[1:], dtype=np.uint8).astype(np.int32)
        out = np.zeros(width, dtype=np.int32)
        for x in range(width):  # undo the per-row filter (PNG spec, section 9)
            a = out[x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[x] = (cur[x] + pred) & 0xFF
        rows.append(out)
        prev = out
    return np.array(rows, dtype=np.uint8)


def read_pgm(blob):
    fields, pos = [], 0
    while len(fields) < 4:
        while blob[pos:pos + 1].isspace():
            pos += 1
        if blob[pos:pos + 1] == b"#":
            pos = blob.index(b"\n", pos)
            continue
        end = pos
        while not blob[end:end + 1].isspace():
            end += 1
        fields.append(blob[pos:end])
        pos = end
    if fields[0] != b"P5" or int(fields[3]) != 255:
        raise ValueError("this example reads only 8-bit binary PGM (P5)")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(blob[pos + 1:pos + 1 + w * h], dtype=np.uint8).reshape(h, w)


def read_image(path):
    with open(path, "rb") as f:
        blob = f.read()
    return read_png_gray8(blob) if blob[:4] == b"\x89PNG" else read_pgm(blob)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def predict(t, pixels):
    x = pixels.reshape(28, 28).astype(np.float64) / 255.0
    kernel, bias = t["lstm.kernel"], t["lstm.bias"]
    units = bias.shape[0] // 4
    h, c = np.zeros(units), np.zeros(units)
    for step in range(x.shape[0]):
        z = np.concatenate([x[step], h]) @ kernel + bias
        i = sigmoid(z[0:units])
        f = sigmoid(z[units:2 * units] + FORGET_BIAS)
        g = np.tanh(z[2 * units:3 * units])
        o = sigmoid(z[3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
    logits = h @ t["logits.kernel"] + t["logits.bias"]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def main(argv):
    args = [a for a in argv[1:] if a != "--json"]
    if len(args) != 2:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    try:
        probs = predict(read_checkpoint(args[0]), read_image(args[1]))
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"predict_numpy.py: {e}")
    cls = int(np.argmax(probs))
    if "--json" in argv:
        print(json.dumps({"image": args[1], "class": cls,
                          "probabilities": [float(f"{p:.8g}") for p in probs]}))
    else:
        print(f"{args[1]}: {cls} ({probs[cls]:.4f})   " + " ".join(f"{k}:{p:.4f}" for k, p in enumerate(probs)))


if __name__ == "__main__":
    main(sys.argv)
