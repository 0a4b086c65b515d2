#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for SECONDS (default 60)
# from its seed corpus. A finding leaves crash-*, leak-*, oom-* or timeout-*
# files in build-fuzz/findings/ and fails the script: add the input to
# tests/fuzz/regressions/<target>/ once it is fixed.
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
targets=${*:-config set idx checkpoint image npy csv}

CC=clang cmake -S . -B build-fuzz -DGRAPHRUN_FUZZ=ON -DGRAPHRUN_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null

declare -A seeds=(
  [config]="tests/bad/configs configs tests/fuzz/regressions/config"
  [set]="tests/fuzz/seeds/set tests/fuzz/regressions/set"
  [idx]="tests/bad/data tests/fuzz/regressions/idx"
  [checkpoint]="tests/fuzz/seeds/checkpoint tests/bad/checkpoints tests/fuzz/regressions/checkpoint"
  [image]="tests/fuzz/seeds/image tests/bad/images tests/fuzz/regressions/image"
  [npy]="tests/fixtures/npy tests/fixtures/npz tests/bad/data tests/fuzz/regressions/npy"
  [csv]="tests/fixtures/csv tests/bad/data tests/fuzz/regressions/csv"
)
mkdir -p build-fuzz/findings
status=0
for t in $targets; do
  work=build-fuzz/corpus/$t
  mkdir -p "$work"
  echo "fuzz_$t: ${seconds} s"
  if ! (cd build-fuzz/findings && "$root/build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 "$root/$work" \
        $(for s in ${seeds[$t]}; do printf '%s ' "$root/$s"; done) 2>"$root/build-fuzz/fuzz_$t.log"); then
    echo "fuzz_$t: FINDING (see build-fuzz/fuzz_$t.log and build-fuzz/findings/)" >&2
    tail -n 40 "build-fuzz/fuzz_$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build-fuzz/fuzz_$t.log" | sed "s/^/fuzz_$t: /"
  fi
done
exit $status
