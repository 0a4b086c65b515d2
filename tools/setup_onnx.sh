#!/usr/bin/env bash
# What the ONNX export tests (tests/test_export.c) need besides tools/setup.sh:
# Debian's python3-onnx, whose checker reads every exported model, and npm's
# onnxruntime-node (ONNX Runtime, about 290 MB) in build/npm, where the tests
# look for it. A copy already there that loads is kept. Without them those
# tests are skipped, saying so.
#
# onnxruntime-node's install script fetches optional GPU binaries from a host
# outside the npm registry, so it is installed with --ignore-scripts; the CPU
# binding ships inside the package, and is loaded once here to prove it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=1.30.0
dir=build/npm

pkgs=(python3-onnx)
command -v npm >/dev/null || pkgs+=(npm)
bash tools/install_missing.sh setup_onnx "${pkgs[@]}"

loads() {
  NODE_PATH="$dir/node_modules" node -e "
    const v = require('onnxruntime-node/package.json').version;
    require('onnxruntime-node');
    if (v !== '$version') process.exit(1);" 2>/dev/null
}
if ! loads; then
  echo "setup_onnx: installing onnxruntime-node@$version into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error "onnxruntime-node@$version" >/dev/null
  loads || { echo "setup_onnx: onnxruntime-node@$version is installed in $dir but its native binding does not load" >&2; exit 1; }
fi
echo "setup_onnx: python3-onnx and onnxruntime-node@$version ($dir) ready"
