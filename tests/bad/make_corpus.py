"""Writes the broken-input corpus in this folder: configs and data files that
graphrun must refuse with one clear line and a non-zero exit, never a signal.
tests/test_cli.c runs every case listed in CASES through the command.

The files are committed; this script documents how they were made and
rebuilds them (python3, standard library only):  python3 tests/bad/make_corpus.py
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data, mode="wb"):
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def idx(dims, payload, typ=0x08):
    return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


# ---- data: a tiny valid set (20 training, 10 test images of 4x4, labels 0..2)
images = bytes((i * 7) % 256 for i in range(20 * 16))
labels = bytes(i % 3 for i in range(20))
write("data/train-images", idx([20, 4, 4], images))
write("data/train-labels", idx([20], labels))
write("data/test-images", idx([10, 4, 4], images[: 10 * 16]))
write("data/test-labels", idx([10], labels[:10]))

# ---- data: broken files
write("data/truncated-images", idx([20, 4, 4], images[:300]))
write("data/trailing-images", idx([20, 4, 4], images + b"\x00"))
write("data/liar-images", idx([0x80000000, 28, 28], images[:100]))
write("data/huge-images", idx([10000000, 28, 28], images[:100]))
write("data/text-images", b"P5 this is not an IDX file at all\n")
write("data/float-images", idx([20, 4, 4], b"\x00" * (20 * 16 * 4), typ=0x0D))
write("data/rank9-images", bytes([0, 0, 8, 9]) + b"\x00" * 40)
write("data/zero-dim-images", idx([0, 4, 4], b""))
write("data/empty-images", b"")
write("data/gz-truncated-images.gz", gzip.compress(idx([20, 4, 4], images), mtime=0)[:60])
write("data/gz-garbage-images.gz", b"\x1f\x8b\x08\x00" + b"garbage that is not deflate data" * 4)
write("data/gz-short-images.gz", gzip.compress(idx([20, 4, 4], images[:200]), mtime=0))
write("data/labels-19", idx([19], labels[:19]))
write("data/labels-out-of-range", idx([20], labels[:13] + bytes([7]) + labels[14:]))
write("data/labels-rank2", idx([20, 2], labels + labels))  # two values a sample for one label
os.makedirs(os.path.join(HERE, "data/a-directory"), exist_ok=True)
write("data/a-directory/.keep", b"")

# ---- configs: one valid base; each case changes one thing
BASE = """data:
  train: {images: ../data/train-images, labels: ../data/train-labels}
  test: {images: ../data/test-images, labels: ../data/test-labels}
graph:
  - {name: image, op: input, data: images, shape: [16]}
  - {name: label, op: input, data: labels}
  - {name: rows, op: reshape, inputs: [image], shape: [4, 4]}
  - {name: lstm, op: lstm, inputs: [rows], num_units: 8}
  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}
  - {name: logits, op: dense, inputs: [last], units: 3}
  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}
train:
  loss: loss
  optimizer: {name: adam, lr: 0.01}
  batch_size: 4
  steps: 10
  checkpoint: {path: /tmp/graphrun-bad-corpus/ok.safetensors}
eval: {logits: logits, every: 5, samples: 8, batch_size: 4}
"""
write("configs/ok.yaml", BASE, "w")
write("configs/ok-16-units.yaml", BASE.replace("num_units: 8", "num_units: 16"), "w")


def case(name, old, new, *more):
    text = BASE
    for o, n in [(old, new)] + list(zip(more[::2], more[1::2])):
        assert o in text, (name, o)
        text = text.replace(o, n, 1)
    write("configs/" + name + ".yaml", text, "w")


def data_case(name, key, path):
    case(name, key, key.split("../data/")[0] + "../" + path)


case("syntax-error", "optimizer: {name: adam, lr: 0.01}", "optimizer: {name: adam, lr: 0.01")
case("tab-indent", "  loss: loss", "\tloss: loss")
case("unknown-top-key", "\ntrain:\n", "\ntrian:\n")
case("unknown-train-key", "batch_size: 4", "batch_sise: 4")
case("unknown-op", "op: lstm,", "op: lstn,")
case("unknown-attribute", "num_units: 8", "num_unit: 8")
case("negative-units", "num_units: 8", "num_units: -3")
case("zero-batch", "batch_size: 4", "batch_size: 0")
case("quoted-batch", "batch_size: 4", 'batch_size: "4"')
case("lr-zero", "lr: 0.01", "lr: 0")
case("lr-negative", "lr: 0.01", "lr: -0.5")
case("lr-word", "lr: 0.01", "lr: fast")
case("unknown-optimizer", "name: adam", "name: nadam")
case("momentum-with-adam", "lr: 0.01}", "lr: 0.01, momentum: 0.9}")
case("steps-and-epochs", "steps: 10", "steps: 10\n  epochs: 2")
case("no-steps", "  steps: 10\n", "")
case("no-data", BASE.split("graph:")[0], "")
GRAPH = BASE[BASE.index("graph:"):BASE.index("\ntrain:\n") + 1]
case("no-graph", GRAPH, "")
case("graph-not-a-list", GRAPH, "graph: {image: input}\n")
case("node-without-name-or-op", "{name: last, op: slice, ", "{")
case("node-without-op", "{name: last, op: slice,", "{name: last,")
case("duplicate-node-name", "{name: last, op: slice", "{name: rows, op: slice")
case("input-names-nothing", "inputs: [rows]", "inputs: [rowz]")
case("cycle", "inputs: [image], shape: [4, 4]", "inputs: [last], shape: [4, 4]")
case("self-loop", "inputs: [lstm], axis", "inputs: [last], axis")
case("too-many-inputs", "inputs: [rows]", "inputs: [rows, image]")
case("missing-attribute", ", units: 3}", "}")
case("reshape-mismatch", "shape: [4, 4]}", "shape: [4, 5]}")
case("lstm-on-2d", "inputs: [rows], num_units", "inputs: [image], num_units")
case("slice-the-batch", "axis: 1, index: -1", "axis: 0, index: -1")
case("slice-out-of-range", "axis: 1, index: -1", "axis: 1, index: 4")
case("matmul-mismatch", "  - {name: logits, op: dense, inputs: [last], units: 3}",
     "  - {name: w, op: param, shape: [5, 3]}\n  - {name: logits, op: matmul, inputs: [last, w]}")
case("dense-on-labels", "inputs: [last], units", "inputs: [label], units")
case("loss-shape-mismatch", "inputs: [logits, label]", "inputs: [logits, rows]")
case("loss-not-scalar", "loss: loss\n", "loss: logits\n")
case("loss-names-nothing", "loss: loss\n", "loss: los\n")
case("eval-logits-3d", "logits: logits,", "logits: lstm,")
case("duplicate-yaml-key", "steps: 10", "steps: 10\n  steps: 20")
case("undefined-alias", "loss: loss\n", "loss: *nothing\n")
case("yaml-tag", "lr: 0.01", "lr: !!python/object 0.01")
case("huge-model", "num_units: 8", "num_units: 100000")
case("batch-larger-than-data", "batch_size: 4", "batch_size: 21")
case("eval-samples-too-many", "samples: 8", "samples: 11")
case("pixel-range-reversed", "  test: {images", "  pixel_range: [1, 0]\n  test: {images")
case("checkpoint-every-zero", "safetensors}", "safetensors, every: 0}")
case("threads-too-many", "steps: 10", "steps: 10\n  threads: 65")
case("not-a-mapping", BASE, "- data\n- graph\n")
write("configs/empty.yaml", "", "w")
write("configs/binary.yaml", b"\x00\x01\x02\xff\xfe graph: \x00\x00")
laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
for i, (k, prev) in enumerate(zip("bcdefghi", "abcdefgh")):
    laughs += "%s: &%s [%s]\n" % (k, k, ", ".join(["*" + prev] * 10))
write("configs/billion-laughs.yaml", laughs, "w")
write("configs/deep-nesting.yaml", "a: " + "[" * 100 + "]" * 100 + "\n", "w")

data_case("data-missing-file", "train: {images: ../data/train-images", "data/no-such-file")
data_case("data-directory", "train: {images: ../data/train-images", "data/a-directory")
data_case("data-empty", "train: {images: ../data/train-images", "data/empty-images")
data_case("data-truncated", "train: {images: ../data/train-images", "data/truncated-images")
data_case("data-trailing-bytes", "train: {images: ../data/train-images", "data/trailing-images")
data_case("data-liar-header", "train: {images: ../data/train-images", "data/liar-images")
data_case("data-huge-header", "train: {images: ../data/train-images", "data/huge-images")
data_case("data-not-idx", "train: {images: ../data/train-images", "data/text-images")
data_case("data-float-type", "train: {images: ../data/train-images", "data/float-images")
data_case("data-rank-9", "train: {images: ../data/train-images", "data/rank9-images")
data_case("data-zero-images", "train: {images: ../data/train-images", "data/zero-dim-images")
data_case("data-gzip-truncated", "train: {images: ../data/train-images", "data/gz-truncated-images.gz")
data_case("data-gzip-garbage", "train: {images: ../data/train-images", "data/gz-garbage-images.gz")
data_case("data-gzip-short", "train: {images: ../data/train-images", "data/gz-short-images.gz")
data_case("data-count-mismatch", "labels: ../data/train-labels", "data/labels-19")
data_case("data-label-out-of-range", "labels: ../data/train-labels", "data/labels-out-of-range")
data_case("data-labels-rank-2", "labels: ../data/train-labels", "data/labels-rank2")
# the layers of convolutional, recurrent and small ops: shapes and attributes they refuse
def layer_case(name, node, rows_shape="[4, 4, 1]"):
    case(name, "shape: [4, 4]}", "shape: %s}" % rows_shape,
         "{name: lstm, op: lstm, inputs: [rows], num_units: 8}", node, "inputs: [lstm], axis", "inputs: [layer], axis")


layer_case("conv2d-kernel-larger-than-input", "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [5]}")
layer_case("conv2d-dilated-kernel-too-large",
           "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3], dilation: [2]}")
layer_case("conv2d-zero-strides", "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3], strides: [0]}")
layer_case("conv2d-three-kernel-values", "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3, 3, 3]}")
layer_case("conv2d-on-3d", "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3]}", "[4, 4]")
layer_case("conv2d-unknown-padding",
           "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3], padding: full}")
layer_case("max-pool-window-larger-than-input", "{name: layer, op: max_pool2d, inputs: [rows], size: [5, 2]}")
layer_case("avg-pool-zero-strides", "{name: layer, op: avg_pool2d, inputs: [rows], strides: [0, 1]}")
layer_case("gru-on-4d", "{name: layer, op: gru, inputs: [rows], num_units: 8}")
layer_case("rnn-reverse-word", "{name: layer, op: rnn, inputs: [rows], num_units: 8, reverse: backwards}", "[4, 4]")
layer_case("embedding-on-images", "{name: layer, op: embedding, inputs: [rows], input_dim: 10, output_dim: 4}")
layer_case("leaky-relu-negative-alpha", "{name: layer, op: leaky_relu, inputs: [rows], alpha: -0.1}")
layer_case("max-pool-zero-strides", "{name: layer, op: max_pool2d, inputs: [rows], strides: [1, 0]}")
layer_case("dropout-rate-one", "{name: layer, op: dropout, inputs: [rows], rate: 1.0}")
layer_case("dropout-negative-rate", "{name: layer, op: dropout, inputs: [rows], rate: -0.1}")
layer_case("batch-norm-negative-momentum", "{name: layer, op: batch_norm, inputs: [rows], momentum: -0.5}")
layer_case("batch-norm-momentum-one", "{name: layer, op: batch_norm, inputs: [rows], momentum: 1}")
layer_case("batch-norm-epsilon-zero", "{name: layer, op: batch_norm, inputs: [rows], epsilon: 0}")
layer_case("batch-norm-on-labels", "{name: layer, op: batch_norm, inputs: [label]}")
layer_case("init-unknown-parameter",
           "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3], init: {kernels: he_normal}}")
layer_case("init-unknown-initializer",
           "{name: layer, op: conv2d, inputs: [rows], filters: 2, kernel_size: [3], init: {kernel: kaiming}}")
# a residual sum of two convolutions with different channel counts
layer_case("add-mismatched-channels",
           "{name: a, op: conv2d, inputs: [rows], filters: 2, kernel_size: [1]}\n"
           "  - {name: b, op: conv2d, inputs: [rows], filters: 3, kernel_size: [1]}\n"
           "  - {name: layer, op: add, inputs: [a, b]}")
case("mse-shape-mismatch", "{name: loss, op: softmax_cross_entropy, inputs: [logits, label]}",
     "{name: loss, op: mse, inputs: [logits, last]}")
case("data-image-shape", "shape: [16]}", "shape: [15]}", "shape: [4, 4]}", "shape: [3, 5]}")

# ---- the shorthand (models/expand.h): a valid short form of the base, then
# one mistake each; a mistake inside a block names its line and the use
SHORT = BASE.replace(GRAPH, """blocks:
  rec:                            # a recurrence read at its last step
    params: [units]
    defaults: {axis: 1}
    graph:
      - {name: r, op: lstm, num_units: $units}
      - {op: slice, axis: $axis, index: -1}
graph:                            # each node takes the one before it unless it names its inputs
  - {name: label, op: input, data: labels}
  - {name: image, op: input, data: images, shape: [16]}
  - {op: reshape, shape: [4, 4]}
  - {name: seq, use: rec, with: {units: 8}}
  - {name: hidden, op: dense, units: 6, activation: relu}
  - {name: logits, op: dense, units: 3}
  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}
""")
write("configs/ok-shorthand.yaml", SHORT, "w")

# blocks inside blocks, a repeat, $input, an activation with attributes and a name
write("configs/ok-blocks-nested.yaml", BASE.replace(GRAPH, """blocks:
  residual:                       # x + act(dense(x))
    params: [width]
    defaults: {act: tanh}
    graph:
      - {op: dense, units: $width, activation: {op: $act, name: f}}
      - {op: add, inputs: [f, $input]}
  stack:
    params: [width]
    graph:
      - {use: residual, with: {width: $width}, repeat: 2}
      - {op: leaky_relu, alpha: 0.1}
graph:
  - {name: label, op: input, data: labels}
  - {name: image, op: input, data: images, shape: [16]}
  - {op: dense, units: 8}
  - {name: body, use: stack, with: {width: 8}}
  - {name: logits, op: dense, units: 3}
  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}
"""), "w")


def short_case(name, old, new, *more):
    text = SHORT
    for o, n in [(old, new)] + list(zip(more[::2], more[1::2])):
        assert o in text, (name, o)
        text = text.replace(o, n, 1)
    write("configs/" + name + ".yaml", text, "w")


short_case("block-unknown-parameter", "with: {units: 8}", "with: {unit: 8}")
short_case("block-missing-parameter", "with: {units: 8}", "with: {axis: 1}")
short_case("block-unknown-reference", "num_units: $units", "num_units: $unit")
short_case("block-bad-reference", "index: -1}", "index: $-1}")
short_case("block-value-out-of-range", "with: {units: 8}", "with: {units: -3}")
short_case("block-repeat-zero", "with: {units: 8}", "with: {units: 8}, repeat: 0")
short_case("block-repeat-negative", "with: {units: 8}", "with: {units: 8}, repeat: -2")
short_case("block-cycle", "      - {op: slice, axis: $axis, index: -1}\n",
           "      - {op: slice, axis: $axis, index: -1}\n      - {use: pair}\n"
           "  pair:\n    graph:\n      - {op: tanh}\n      - {use: rec, with: {units: 4}}\n")
short_case("block-uses-itself", "      - {op: slice, axis: $axis, index: -1}\n",
           "      - {op: slice, axis: $axis, index: -1}\n      - {use: rec, with: {units: 4}}\n")
short_case("block-named-like-an-op", "  rec:", "  tanh:", "use: rec", "use: tanh")
short_case("block-unknown", "use: rec", "use: rek")
short_case("block-duplicate-generated-name", "  - {name: hidden,", "  - {name: seq_r, op: relu}\n  - {name: hidden,")
short_case("activation-duplicate-name", "  - {name: logits,", "  - {name: hidden_relu, op: tanh}\n  - {name: logits,")
short_case("activation-on-a-recurrent-layer", "num_units: $units}", "num_units: $units, activation: relu}")
short_case("activation-not-an-activation", "activation: relu}", "activation: dense}")
short_case("implicit-input-from-labels", "  - {name: label, op: input, data: labels}\n  - {name: image, op: input, "
           "data: images, shape: [16]}\n", "  - {name: image, op: input, data: images, shape: [16]}\n"
           "  - {name: label, op: input, data: labels}\n")
short_case("implicit-input-first-node", "  - {name: label, op: input, data: labels}\n  - {name: image, op: input, "
           "data: images, shape: [16]}\n  - {op: reshape, shape: [4, 4]}\n",
           "  - {op: reshape, shape: [4, 4]}\n  - {name: label, op: input, data: labels}\n"
           "  - {name: image, op: input, data: images, shape: [16]}\n")
short_case("implicit-two-inputs", "inputs: [logits, label]}", "}")
short_case("block-expands-too-far", "with: {units: 8}", "with: {units: 8}, repeat: 10000",
           "      - {op: slice, axis: $axis, index: -1}\n", "      - {op: slice, axis: $axis, index: -1}\n"
           "      - {op: reshape, shape: [1, 8]}\n")

# ---- checkpoints for configs/ok.yaml, written here independently of graphrun
# (format graphrun-checkpoint-2: crc32 is the CRC-32 of the whole file, with
# its own 8 digits counted as '0'); ok.safetensors loads, each other one
# breaks one thing that a checksum alone cannot catch or that is stale
import json
import zlib

OK_TENSORS = [("lstm.kernel", [12, 32]), ("lstm.bias", [32]), ("logits.kernel", [8, 3]), ("logits.bias", [3])]


def floats(n, seed, positive=False):
    v = [((i * 37 + seed * 11) % 101 - 50) / 500.0 for i in range(n)]
    return [abs(x) + 1e-4 for x in v] if positive else v


def checkpoint(name, fmt="graphrun-checkpoint-2", change=None, step="10", stale_crc=False):
    tensors = []  # (name, dtype, shape, bytes)
    for k, (kind, positive) in enumerate([("param/", False), ("optim/m/", False), ("optim/v/", True)]):
        for node, shape in OK_TENSORS:
            n = 1
            for d in shape:
                n *= d
            vals = floats(n, k, positive)
            if change and change[0] == kind + node:
                vals[change[1]] = change[2]
            tensors.append((kind + node, "F32", shape, struct.pack("<%df" % n, *vals)))
    tensors.append(("rng", "U64", [4], struct.pack("<4Q", 1, 2, 3, 4)))
    tensors.append(("data/order", "I32", [20], struct.pack("<20i", *[(i * 7) % 20 for i in range(20)])))
    header, data = {}, b""
    for tname, dtype, shape, raw in tensors:
        header[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    with open(os.path.join(HERE, "configs/ok.yaml")) as f:
        config = f.read()
    meta = {"format": fmt, "step": "10", "optim_t": "10", "data_pos": "0", "data_epoch": "2",
            "optimizer": "adam", "config": config, "crc32": "00000000"}
    header["__metadata__"] = meta

    def encode():
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text

    if fmt == "graphrun-checkpoint-1":
        meta["crc32"] = "%08x" % zlib.crc32(data)  # the data alone, as older graphruns wrote it
    else:
        meta["crc32"] = "%08x" % zlib.crc32(data, zlib.crc32(encode()))
    meta["step"] = step  # after the checksum: stale if it changed
    write("checkpoints/" + name, encode() + data)


checkpoint("ok.safetensors")
checkpoint("nan-weight.safetensors", change=("param/lstm.kernel", 37, float("nan")))
checkpoint("inf-moment.safetensors", change=("optim/m/logits.kernel", 4, float("inf")))
checkpoint("negative-moment.safetensors", change=("optim/v/logits.bias", 1, -0.5))
checkpoint("step-edited.safetensors", step="90")
checkpoint("format-1.safetensors", fmt="graphrun-checkpoint-1")

# ---- images for predict with checkpoints/ok.safetensors (the model reads 4x4)


def png(width, height, color_type, depth, raw_rows, extra=b"", crc_ok=True):
    def chunk(kind, body, good=True):
        crc = zlib.crc32(kind + body) ^ (0 if good else 1)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr, crc_ok) + extra +
            chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b""))


gray_rows = b"".join(b"\x00" + bytes((x * 60 + y * 5) % 256 for x in range(4)) for y in range(4))
write("images/truncated.png", png(4, 4, 0, 8, gray_rows)[:45])
write("images/bad-ihdr-crc.png", png(4, 4, 0, 8, gray_rows, crc_ok=False))
write("images/zero-width.png", png(0, 4, 0, 8, gray_rows))
write("images/short-data.png", png(4, 4, 0, 8, gray_rows[:7]))
write("images/wrong-size.png", png(5, 4, 0, 8, b"".join(b"\x00" + bytes(5) for _ in range(4))))
write("images/maxval-0.pgm", b"P5\n4 4\n0\n" + bytes(16))
write("images/maxval-16bit.pgm", b"P5\n4 4\n65535\n" + bytes(32))
write("images/truncated.pgm", b"P5\n4 4\n255\n" + bytes(10))
write("images/over-maxval.pgm", b"P2\n2 2\n15\n0 3 16 1\n")
# ---- a missing MNIST file says how to fetch it
data_case("data-mnist-missing", "train: {images: ../data/train-images", "data/mnist/train-images-idx3-ubyte")

# ---- sizes a user gives: every product is overflow-checked (none may crash)
case("reshape-huge-wildcard", "shape: [4, 4]}", "shape: [4294967296, 4294967296, -1]}")
case("reshape-huge-product", "shape: [4, 4]}", "shape: [1000000000000, 1000000000000]}")
case("input-huge-shape", "shape: [16]}", "shape: [1000000000, 1000000000, 1000000000]}")
case("param-huge-shape", "  - {name: loss,",
     "  - {name: w, op: param, shape: [1000000000, 1000000000, 1000000000, 1000000000, 1000000000, 1000000000]}\n"
     "  - {name: loss,")
case("dense-huge-units", "  - {name: logits,",
     "  - {name: big, op: input, data: images, shape: [1000000000]}\n"
     "  - {name: wide, op: dense, inputs: [big], units: 16777216}\n  - {name: logits,")
case("lstm-huge-units", "num_units: 8", "num_units: 1048576")
case("concat-huge", "  - {name: logits,",
     "  - {name: big, op: input, data: images, shape: [1000000000, 60]}\n"
     "  - {name: cat, op: concat, axis: 1, inputs: [big, big, big, big, big, big, big, big, big, big, big, big, big, "
     "big, big, big]}\n  - {name: logits,")
case("matmul-huge", "  - {name: logits,",
     "  - {name: w, op: param, shape: [8, 1000000000]}\n"
     "  - {name: wide, op: matmul, inputs: [last, w]}\n  - {name: logits,")

# ---- labels are checked wherever they are used as class indices
case("labels-through-reshape", "labels: ../data/train-labels", "labels: ../data/labels-out-of-range",
     "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}",
     "  - {name: label1, op: reshape, inputs: [label], shape: [1]}\n"
     "  - {name: logits1, op: reshape, inputs: [logits], shape: [1, 3]}\n"
     "  - {name: loss, op: softmax_cross_entropy, inputs: [logits1, label1]}",
     "eval: {logits: logits, every: 5, samples: 8, batch_size: 4}\n", "")

# ---- the evaluation target and the loss need a batch axis and the data
case("eval-logits-param", "logits: logits,", "logits: fixed,", "  - {name: loss,",
     "  - {name: p, op: param, shape: [4, 3]}\n  - {name: fixed, op: relu, inputs: [p]}\n  - {name: loss,")
case("eval-logits-coincidence", "logits: logits,", "logits: biased,", "  - {name: loss,",
     "  - {name: p, op: param, shape: [4, 3]}\n  - {name: biased, op: add, inputs: [logits, p]}\n  - {name: loss,")
case("eval-logits-tied-to-batch", "logits: logits,", "logits: mixed,", "  - {name: loss,",
     "  - {name: p, op: param, shape: [4, 4]}\n  - {name: mixed, op: matmul, inputs: [p, logits]}\n  - {name: loss,")
case("loss-without-input", "loss: loss\n", "loss: decay\n", "  - {name: loss,",
     "  - {name: p, op: param, shape: [3]}\n  - {name: decay, op: mean, inputs: [p]}\n  - {name: loss,")

# ---- a checkpoint path that cannot be written is refused before training
case("checkpoint-is-a-directory", "/tmp/graphrun-bad-corpus/ok.safetensors", "../data/a-directory")
case("checkpoint-under-a-file", "/tmp/graphrun-bad-corpus/ok.safetensors", "../data/train-images/ckpt.safetensors")
# ---- encodings: a UTF-8 byte-order mark is skipped, UTF-16 and UTF-32 refused
write("configs/ok-bom.yaml", ("\ufeff" + BASE).encode("utf-8"))
write("configs/bom-zero-batch.yaml", ("\ufeff" + BASE.replace("batch_size: 4", "batch_size: 0", 1)).encode("utf-8"))
write("configs/bom-utf16.yaml", BASE.encode("utf-16"))
write("configs/bom-utf32.yaml", BASE.encode("utf-32"))

# ---- merge keys (<<) share blocks; a mistake in a shared block points at it
RNN = "  - {name: lstm, op: lstm, inputs: [rows], num_units: 8}\n"
MERGED = ("  - &rnn {name: lstm, op: lstm, inputs: [rows], num_units: 8}\n"
          "  - {<<: *rnn, name: lstm2, inputs: [lstm]}\n")
case("ok-merge", RNN, MERGED, "inputs: [lstm], axis", "inputs: [lstm2], axis")
LOGITS = "  - {name: logits, op: dense, inputs: [last], units: 3}\n"
case("merge-shared-bad-value", "  - {name: last, op: slice", "  - &take {name: last, op: slice",
     "axis: 1, index: -1", "axis: 1, index: 3", LOGITS, LOGITS + "  - {<<: *take, name: bad, inputs: [logits]}\n")
case("merge-key-scalar", "optimizer: {name: adam", "optimizer: {<<: 5, name: adam")
write("configs/alias-too-deep.yaml", "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n", "w")

# ---- an op's declared index range (gr_infer.index_limit) checked against the
# labels that reach it, whatever the op: an embedding of 2 rows fed labels 0..2
case("labels-into-small-embedding", "  - {name: loss, op: softmax_cross_entropy",
     "  - {name: emb, op: embedding, inputs: [label], input_dim: 2, output_dim: 4}\n"
     "  - {name: loss, op: softmax_cross_entropy")

# ---- optimizers, schedules, clipping, early stopping and targets: every key
# checked, a key of another optimizer or schedule named as such, what only
# the run's length can refuse refused by check
def train_case(name, extra, old="  steps: 10\n"):
    case(name, old, old + extra)


train_case("schedule-unknown", "  schedule: {name: cosin}\n")
train_case("schedule-key-of-another-schedule", "  schedule: {name: cosine, gamma: 0.5}\n")
train_case("schedule-optimizer-key", "  schedule: {name: step, every: 2, momentum: 0.9}\n")
case("optimizer-schedule-key", "lr: 0.01}", "lr: 0.01, gamma: 0.5}")
case("optimizer-key-of-another-optimizer", "optimizer: {name: adam, lr: 0.01}",
     "optimizer: {name: rmsprop, lr: 0.01, amsgrad: true}")
train_case("milestones-out-of-order", "  schedule: {name: multistep, milestones: [4, 2]}\n")
train_case("milestones-past-the-run", "  schedule: {name: multistep, milestones: [2, 20]}\n")
train_case("warmup-longer-than-the-run", "  schedule: {name: cosine, warmup: {steps: 10}}\n")
train_case("warmup-key-misspelt", "  schedule: {name: cosine, warmup: {step: 3}}\n")
train_case("schedule-unit-misspelt", "  schedule: {name: cosine, unit: epoch}\n")
train_case("step-without-every", "  schedule: {name: step}\n")
train_case("cosine-floor-above-the-rate", "  schedule: {name: cosine, floor: 0.1}\n")
train_case("cosine-multiplier-without-restart", "  schedule: {name: cosine, multiplier: 2}\n")
train_case("plateau-factor-one", "  schedule: {name: reduce_on_plateau, factor: 1}\n")
case("plateau-without-eval", "  steps: 10\n", "  steps: 10\n  schedule: {name: reduce_on_plateau}\n",
     "eval: {logits: logits, every: 5, samples: 8, batch_size: 4}\n", "")
train_case("patience-negative", "  early_stopping: {metric: loss, patience: -1}\n")
train_case("early-stopping-metric-misspelt", "  early_stopping: {metric: acuracy, patience: 2}\n")
case("early-stopping-without-eval", "  steps: 10\n", "  steps: 10\n  early_stopping: {patience: 2}\n",
     "eval: {logits: logits, every: 5, samples: 8, batch_size: 4}\n", "")
train_case("target-accuracy-above-one", "  target: {metric: accuracy, value: 1.5}\n")
train_case("clip-norm-and-value", "  clip: {norm: 1, value: 0.5}\n")
train_case("clip-norm-negative", "  clip: {norm: -1}\n")
case("nesterov-without-momentum", "optimizer: {name: adam, lr: 0.01}",
     "optimizer: {name: sgd, lr: 0.01, nesterov: true}")
case("decay-exclude-matches-nothing", "optimizer: {name: adam, lr: 0.01}",
     "optimizer: {name: adamw, lr: 0.01, weight_decay_exclude: ['lstm.bais']}")
case("rmsprop-rho-above-one", "optimizer: {name: adam, lr: 0.01}", "optimizer: {name: rmsprop, lr: 0.01, rho: 1.5}")

# ---- data: broken .npy, .npz and .csv files for the dataset readers
# (runtime/reader_*.c). tests/test_readers.c opens each with the options
# it lists and expects one line naming the file (and, for CSV, the line).
import zipfile  # noqa: E402
import zlib  # noqa: E402


def npy(descr, shape, payload, fortran=False, header=None, major=1):
    """A .npy image as np.save lays it out (header padded to 64 bytes)."""
    if header is None:
        header = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (descr, fortran, tuple(shape))
    text = header.encode("latin1")
    pre = 10 if major == 1 else 12
    text += b" " * ((-(pre + len(text) + 1)) % 64) + b"\n"
    size = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + size + text + payload


def f32(*v, big=False):
    return struct.pack((">" if big else "<") + "%df" % len(v), *v)


SIX = f32(0, 1, 2, 3, 4, 5)
NAN, INF = float("nan"), float("inf")

write("data/npy-truncated.npy", npy("<f4", (2, 3), SIX[:20]))
write("data/npy-trailing.npy", npy("<f4", (2, 3), SIX + b"\x00"))
write("data/npy-bad-magic.npy", b"\x93NUMPX" + npy("<f4", (2, 3), SIX)[6:])
write("data/npy-version-9.npy", b"\x93NUMPY\x09\x00" + npy("<f4", (2, 3), SIX)[8:])
write("data/npy-header-truncated.npy", npy("<f4", (2, 3), SIX)[:40])
write("data/npy-lying-shape.npy", npy("<f4", (1000000, 28, 28), SIX))
write("data/npy-unknown-key.npy", npy("", (), SIX, header="{'descr': '<f4', 'fortran_order': False, "
                                                            "'shape': (2, 3), 'order': 'C', }"))
write("data/npy-missing-shape.npy", npy("", (), SIX, header="{'descr': '<f4', 'fortran_order': False, }"))
write("data/npy-not-a-tuple.npy", npy("", (), SIX, header="{'descr': '<f4', 'fortran_order': False, 'shape': (6), }"))
write("data/npy-fortran-maybe.npy", npy("", (), SIX, header="{'descr': '<f4', 'fortran_order': Maybe, "
                                                              "'shape': (2, 3), }"))
write("data/npy-0d.npy", npy("<f4", (), f32(1)))
write("data/npy-zero-rows.npy", npy("<f4", (0, 3), b""))
write("data/npy-object.npy", npy("|O", (2,), b"\x00" * 16))
write("data/npy-unicode.npy", npy("<U5", (2,), b"\x00" * 40))
write("data/npy-float16.npy", npy("<f2", (2, 3), b"\x00" * 12))
write("data/npy-structured.npy", npy("", (), b"\x00" * 8, header="{'descr': [('a', '<i4'), ('b', '<f4')], "
                                                                  "'fortran_order': False, 'shape': (1,), }"))
write("data/npy-nan.npy", npy("<f4", (2, 3), f32(0, 1, 2, 3, 4, NAN)))
write("data/npy-inf-big-endian.npy", npy(">f8", (2, 3), struct.pack(">6d", 0, 1, -INF, 3, 4, 5)))
write("data/npy-float64-overflow.npy", npy("<f8", (3,), struct.pack("<3d", 1, 1e300, 2)))
write("data/npy-uint64-too-big.npy", npy("<u8", (3,), struct.pack("<3Q", 1, 2**31, 3)))
write("data/npy-int64-big-endian-too-small.npy", npy(">i8", (2,), struct.pack(">2q", -(2**31) - 1, 0)))
write("data/npy-bool-2.npy", npy("|b1", (4,), b"\x00\x01\x02\x01"))
# Fortran order: file position 4 is element [0, 2] of shape (2, 3), flat index 2
write("data/npy-fortran-nan.npy", npy("<f4", (2, 3), f32(0, 1, 2, 3, NAN, 5), fortran=True))


def zipped(members, method=zipfile.ZIP_STORED, comment=b""):
    """An archive as np.savez / np.savez_compressed write it (fixed dates)."""
    import io
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
        z.comment = comment
    return bytearray(out.getvalue())


def cdir(z, k=0):
    """Offset of the k-th central directory entry of an archive."""
    at = struct.unpack_from("<I", z, len(z) - 22 + 16)[0]
    for _ in range(k):
        n, e, c = struct.unpack_from("<HHH", z, at + 28)
        at += 46 + n + e + c
    return at


X = npy("<f4", (2, 3), SIX)
Y = npy("<i8", (2,), struct.pack("<2q", 0, 1))

z = zipped([("x.npy", X)])
z[30 + 5 + len(X) - 3] ^= 0x01  # a low mantissa bit of the last float: still finite
write("data/npz-bad-crc.npz", bytes(z))
z = zipped([("x.npy", X), ("y.npy", Y)])
struct.pack_into("<I", z, cdir(z, 1) + 42, 1 << 20)
write("data/npz-member-outside.npz", bytes(z))
# y.npy's local header and data sit inside x.npy's bytes; both entries point at them
inner = zipped([("y.npy", Y)])
inner_len = cdir(inner)
z = zipped([("x.npy", bytes(inner[:inner_len]))])
y_cd = inner[cdir(inner):len(inner) - 22]
y_cd = bytearray(y_cd)
struct.pack_into("<I", y_cd, 42, 30 + 5)
cd_at = cdir(z)
z = z[:len(z) - 22] + y_cd + z[len(z) - 22:]
struct.pack_into("<HHI", z, len(z) - 22 + 8, 2, 2, struct.unpack_from("<I", z, len(z) - 22 + 12)[0] + len(y_cd))
write("data/npz-overlap.npz", bytes(z))
z = zipped([("x.npy", X)])
struct.pack_into("<H", z, cdir(z) + 8, 1)
write("data/npz-encrypted.npz", bytes(z))
z = zipped([("x.npy", X)])
struct.pack_into("<H", z, cdir(z) + 10, 12)
write("data/npz-bzip2.npz", bytes(z))
write("data/npz-truncated.npz", bytes(zipped([("x.npy", X), ("y.npy", Y)])[:200]))
write("data/npz-not-zip.npz", b"x,y\n1,2\n")
write("data/npz-text-member.npz", bytes(zipped([("x.npy", X), ("readme.txt", b"hello")])))
write("data/npz-empty.npz", bytes(zipped([])))
z = zipped([("x.npy", X)])
z[30] = ord("z")
write("data/npz-local-name.npz", bytes(z))
z = zipped([("x.npy", npy("<f4", (64,), f32(*range(64))))], zipfile.ZIP_DEFLATED)
z[30 + 5 + 40] ^= 0xFF
write("data/npz-deflate-corrupt.npz", bytes(z))
write("data/npz-member-nan.npz", bytes(zipped([("x.npy", npy("<f4", (2, 3), f32(0, 1, 2, NAN, 4, 5)))])))
z = zipped([("x.npy", X)])
z[30 + 5 + len(X) - 4:30 + 5 + len(X)] = f32(NAN)  # corrupt bytes that read as a NaN: the CRC-32 is blamed
write("data/npz-crc-nan.npz", bytes(z))
z = zipped([("x.npy", X)])
for at in (cdir(z) + 24, 22):  # size in the central directory and the local header
    struct.pack_into("<I", z, at, len(X) + 8)
write("data/npz-stored-sizes.npz", bytes(z))
z = zipped([("x.npy", X)], zipfile.ZIP_DEFLATED)
for at in (cdir(z) + 24, 22):
    struct.pack_into("<I", z, at, 10**9)
write("data/npz-deflate-ratio.npz", bytes(z))
write("data/npz-member-truncated.npz", bytes(zipped([("x.npy", npy("<f4", (100,), SIX))])))
# the member's npy header and the directory both say 8 floats; the stream holds 6
z = zipped([("x.npy", npy("<f4", (8,), SIX))], zipfile.ZIP_DEFLATED)
for at in (cdir(z) + 24, 22):
    struct.pack_into("<I", z, at, len(X) + 8)
write("data/npz-deflate-short.npz", bytes(z))
z = zipped([("x.npy", X)])
struct.pack_into("<I", z, len(z) - 22 + 16, cdir(z) + 1)
write("data/npz-cdir-offset.npz", bytes(z))
z = zipped([("x.npy", X)])
struct.pack_into("<H", z, len(z) - 22 + 4, 1)
write("data/npz-multi-disk.npz", bytes(z))

# CSV, read with the label in the last column and the other columns as features
write("data/csv-empty.csv", b"")
write("data/csv-bom-only.csv", b"\xef\xbb\xbf")
write("data/csv-header-only.csv", b"a,b,label\n")
write("data/csv-ragged.csv", b"a,b,label\n1,2,0\n3,4\n5,6,1\n")
write("data/csv-too-many-fields.csv", b"a,b,label\n1,2,0\n3,4,1,9\n")
write("data/csv-empty-line.csv", b"a,b,label\n1,2,0\n\n3,4,1\n")
write("data/csv-not-a-number.csv", b"a,b,label\n1,2,0\n3,abc,1\n")
write("data/csv-label-not-a-number.csv", b"a,b,label\n1,2,0\n3,4,cat\n")
write("data/csv-empty-cell.csv", b"a,b,label\n1,,0\n")
write("data/csv-nan.csv", b"a,b,label\n1,nan,0\n")
write("data/csv-infinity.csv", b"a,b,label\n1,2,0\n-Infinity,2,1\n")
write("data/csv-overflow.csv", b"a,b,label\n1,1e39,0\n")
write("data/csv-hex.csv", b"a,b,label\n0x10,2,0\n")
write("data/csv-trailing-garbage.csv", b"a,b,label\n1.5abc,2,0\n")
write("data/csv-unclosed-quote.csv", b'a,b,label\n1,"2,0\n3,4,1\n')
write("data/csv-after-quote.csv", b'a,b,label\n1,"2"x,0\n')
write("data/csv-stray-quote.csv", b'a,b,label\n1,2"3,0\n')
write("data/csv-bare-cr.csv", b"a,b,label\r1,2,0\r")
# a header cell with a quoted line break: the bad cell is on line 4
write("data/csv-quoted-newline.csv", b'a,"b\nsecond line",label\n1,2,0\n3,x,1\n')

# ---- configs that name the readers' files: each refusal is one line at the
# file's key, naming the file (and, for CSV, the line)
PIXELS = [float(b) / 255 for b in images]
write("data/npy-nan-images.npy", npy("<f4", (20, 4, 4), f32(*PIXELS[:37], NAN, *PIXELS[38:])))
write("data/npy-int64-images.npy", npy("<i8", (20, 4, 4), struct.pack("<320q", *images)))
write("data/npy-float-labels.npy", npy("<f4", (20,), f32(*[float(b) for b in labels])))
data_case("data-npy-truncated", "train: {images: ../data/train-images", "data/npy-truncated.npy")
data_case("data-npy-nan", "train: {images: ../data/train-images", "data/npy-nan-images.npy")
data_case("data-npy-int-images", "train: {images: ../data/train-images", "data/npy-int64-images.npy")
data_case("data-npy-float-labels", "labels: ../data/train-labels", "data/npy-float-labels.npy")
case("data-csv-not-a-number", "train: {images: ../data/train-images, labels: ../data/train-labels}",
     "train: {file: ../data/csv-not-a-number.csv, csv: {label: label}}")
case("data-csv-ragged", "train: {images: ../data/train-images, labels: ../data/train-labels}",
     "train: {file: ../data/csv-ragged.csv, csv: {label: label}}")
case("data-unknown-array", "data: images, shape: [16]", "data: imagez, shape: [16]")
case("data-validation-takes-all", "  test: {", "  validation: 20\n  test: {")
case("data-augment-labels", "labels: ../data/train-labels}", "labels: ../data/train-labels, augment: {array: labels, shift: 1}}")
case("eval-on-validation-without-one", "eval: {logits: logits,", "eval: {on: validation, logits: logits,")
