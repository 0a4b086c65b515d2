#!/usr/bin/env bash
# The benchmark in one command: set graphrun up (tools/setup.sh), install
# Debian's PyTorch for the reference if it is missing, then compare.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup.sh
bash tools/install_missing.sh bench python3-torch python3-numpy
exec /usr/bin/python3 tools/bench/bench.py "$@"
