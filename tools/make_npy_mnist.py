#!/usr/bin/python3
"""Write MNIST's IDX files as .npy pairs, as np.save writes them (numpy only).

    /usr/bin/python3 tools/make_npy_mnist.py [SRC_DIR [DEST_DIR]]

Reads SRC_DIR (default data/mnist) train- and t10k- images and labels, raw or
gzipped, and writes DEST_DIR (default data/mnist-npy) train-images.npy
(uint8 [60000, 28, 28]), train-labels.npy (uint8 [60000]), t10k-images.npy
and t10k-labels.npy: the same bytes as the IDX files, so a config that
names these four paths instead trains to the same losses.
"""
import gzip
import os
import struct
import sys

import numpy as np


def read_idx(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08 or not 1 <= blob[3] <= 4:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    rank = blob[3]
    dims = struct.unpack(">%dI" % rank, blob[4:4 + 4 * rank])
    data = blob[4 + 4 * rank:]
    if len(data) != int(np.prod(dims)):
        raise SystemExit(f"{path}: header promises {int(np.prod(dims))} bytes of data, the file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "data", "mnist")
    dest = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "data", "mnist-npy")
    os.makedirs(dest, exist_ok=True)
    for split in ("train", "t10k"):
        images = read_idx(os.path.join(src, f"{split}-images-idx3-ubyte"))
        labels = read_idx(os.path.join(src, f"{split}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise SystemExit(f"{src}: {split} images {images.shape} and labels {labels.shape} do not pair up")
        for name, arr in (("images", images), ("labels", labels)):
            out = os.path.join(dest, f"{split}-{name}.npy")
            np.save(out, arr)
            print(f"{out}: {arr.dtype} {list(arr.shape)}")


if __name__ == "__main__":
    main()
