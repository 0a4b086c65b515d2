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
write("data/labels-rank2", idx([20, 1], labels))
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
case("unknown-optimizer", "name: adam", "name: adamw")
case("momentum-with-adam", "lr: 0.01}", "lr: 0.01, momentum: 0.9}")
case("steps-and-epochs", "steps: 10", "steps: 10\n  epochs: 2")
case("no-steps", "  steps: 10\n", "")
case("no-data", BASE.split("graph:")[0], "")
GRAPH = BASE[BASE.index("graph:"):BASE.index("\ntrain:\n") + 1]
case("no-graph", GRAPH, "")
case("graph-not-a-list", GRAPH, "graph: {image: input}\n")
case("node-without-name", "{name: last, op: slice", "{op: slice")
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
case("mse-shape-mismatch", "{name: loss, op: softmax_cross_entropy, inputs: [logits, label]}",
     "{name: loss, op: mse, inputs: [logits, last]}")
case("data-image-shape", "shape: [16]}", "shape: [15]}", "shape: [4, 4]}", "shape: [3, 5]}")
