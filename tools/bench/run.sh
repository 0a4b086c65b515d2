#!/usr/bin/env bash
# The benchmark in one command: install what only the benchmark needs
# (Debian's PyTorch for the reference, PyYAML for its CNN builder, libxsmm
# for the product comparison of build/gemm_bench), set graphrun up
# (tools/setup.sh, which builds gemm_bench against libxsmm when it finds
# it), then compare. Arguments go to tools/bench/bench.py (--runs, --cnn,
# --json, --plot, --skip).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/install_missing.sh bench python3-torch python3-numpy python3-yaml libxsmm-dev
bash tools/setup.sh
exec /usr/bin/python3 tools/bench/bench.py "$@"
