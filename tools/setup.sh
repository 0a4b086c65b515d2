#!/usr/bin/env bash
# Set up graphrun on a Debian machine: install the packages that are missing,
# build in Release mode into build/, and fetch MNIST into data/mnist/ unless
# it is already there. Safe to run again: each step skips what is done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# build: compiler, libraries; runs: gnuplot draws a run's curves; tests:
# graphviz (graphrun graph output is rendered) and numpy (the interop example)
pkgs=(gcc make cmake pkg-config libyaml-dev libopenblas-dev libcriterion-dev zlib1g-dev libjansson-dev libpng-dev
      gnuplot-nox graphviz python3-numpy)
command -v npm >/dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "setup: built build/graphrun"

bash tools/fetch_mnist.sh
