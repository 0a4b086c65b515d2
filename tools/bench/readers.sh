#!/usr/bin/env bash
# The readers' timings on MNIST's 60000 training images: the IDX file, the
# same images as .npy (tools/make_npy_mnist.py) and as a 60000 x 785 CSV
# (label, then 784 pixels; written with numpy), all in a temporary folder.
# Usage: tools/bench/readers.sh [ROUNDS]   (after a build in build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 tools/make_npy_mnist.py data/mnist "$tmp" >/dev/null
/usr/bin/python3 - "$tmp" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
x = np.load(d + "/train-images.npy").reshape(60000, 784)
y = np.load(d + "/train-labels.npy")
header = "label," + ",".join("pixel%d" % i for i in range(784))
np.savetxt(d + "/train.csv", np.column_stack([y, x]), fmt="%d", delimiter=",", header=header, comments="")
PY
ls -l "$tmp"/train.csv | awk '{printf "CSV: %.1f MB\n", $5 / 1e6}'
build/bench_readers data/mnist/train-images-idx3-ubyte "$tmp/train-images.npy" "$tmp/train.csv" "${1:-5}"
