#!/usr/bin/env bash
# Set up graphrun on a Debian machine: install the packages that are missing,
# build in Release mode into build/, and fetch MNIST into data/mnist/ unless
# it is already there. Safe to run again: each step skips what is done.
# With --tests it also installs what only the test suite uses
# (tools/setup_onnx.sh: the ONNX checker and ONNX Runtime for the export tests).
set -euo pipefail

tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    *) echo "setup: unknown option '$arg' (the one option is --tests)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# build: compiler, libraries; runs: gnuplot draws a run's curves; tests:
# graphviz (graphrun graph output is rendered) and numpy (the interop example,
# .npy files); data: Fashion-MNIST as gzip IDX files under
# /usr/share/datasets/fashion-mnist/ (configs/fashion_lstm.yaml, fashion_cnn.yaml); Open MPI:
# data-parallel training (mpirun -np N graphrun train) and its tests
pkgs=(gcc make cmake pkg-config libyaml-dev libopenblas-dev libcriterion-dev zlib1g-dev libjansson-dev libpng-dev
      gnuplot-nox graphviz python3-numpy dataset-fashion-mnist openmpi-bin libopenmpi-dev)
command -v npm >/dev/null || pkgs+=(npm)

bash tools/install_missing.sh setup "${pkgs[@]}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "setup: built build/graphrun"

bash tools/fetch_mnist.sh

if [ "$tests" = 1 ]; then bash tools/setup_onnx.sh; fi
