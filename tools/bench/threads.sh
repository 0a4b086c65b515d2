#!/usr/bin/env bash
# How the thread pool behaves when it has fewer cores than threads. Not a
# test: it prints wall-time ratios, which depend on the machine and its load.
#
#   affinity:         graphrun pinned to one core (taskset -c 0), 2 threads
#                     against 1 thread;
#   oversubscription: 2, 4 and 8 threads against 1 thread while a busy loop
#                     (started and stopped by this script) takes a core.
#
# Each figure is the median of RUNS rounds; within a round the runs being
# compared alternate, so drifts in the machine's speed hit both alike. A run
# is `graphrun train CONFIG` for STEPS steps with no periodic evaluation, a
# 1000-image final evaluation and no run folder, timed as a whole process.
#
# Usage: tools/bench/threads.sh [--steps N] [--runs N] [--graphrun PATH] [CONFIG]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
steps=60
runs=3
graphrun=$root/build/graphrun
config=$root/configs/lstm_mnist.yaml
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --graphrun) graphrun=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) config=$1; shift ;;
  esac
done
[ -x "$graphrun" ] || { echo "no graphrun at $graphrun (build it first)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is missing (util-linux)" >&2; exit 1; }

busy=
cleanup() { if [ -n "$busy" ]; then kill "$busy" 2>/dev/null || true; wait "$busy" 2>/dev/null || true; fi; }
trap cleanup EXIT

# one timed run: seconds on stdout; extra arguments go before graphrun
run() {
  local threads=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  "$@" "$graphrun" train "$config" --threads "$threads" --no-run-dir --quiet \
      --set train.steps="$steps" --set eval.every=1000000000 --set data.test.limit=1000 --set eval.samples=1000 >/dev/null
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# compare THREADS against 1 thread, alternating; prefix command in the rest
compare() {
  local label=$1 threads=$2; shift 2
  local base=() other=() ratio=()
  for ((r = 0; r < runs; r++)); do
    base+=("$(run 1 "$@")")
    other+=("$(run "$threads" "$@")")
    ratio+=("$(awk -v a="${base[r]}" -v b="${other[r]}" 'BEGIN { printf "%.2f", b / a }')")
  done
  printf '%-34s %8.3f s %8.3f s %8.2f\n' "$label" \
    "$(printf '%s\n' "${base[@]}" | median)" "$(printf '%s\n' "${other[@]}" | median)" \
    "$(printf '%s\n' "${ratio[@]}" | median)"
}

echo "graphrun: $graphrun ($("$graphrun" --version | tr '\n' ' '))"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; $(nproc) CPUs online; $steps steps; medians of $runs rounds"
printf '%-34s %10s %10s %8s\n' "case" "1 thread" "N threads" "ratio"
compare "affinity: taskset -c 0, 2 threads" 2 taskset -c 0
( while :; do :; done ) &
busy=$!
for n in 2 4 8; do compare "one busy process, $n threads" "$n"; done
