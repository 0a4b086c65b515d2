#!/usr/bin/env bash
# The benchmark in one command: set graphrun up (tools/setup.sh), install
# Debian's PyTorch for the reference if it is missing, then compare.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup.sh
missing=()
for p in python3-torch python3-numpy; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "bench: needs ${missing[*]}; run as root" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exec /usr/bin/python3 tools/bench/bench.py "$@"
