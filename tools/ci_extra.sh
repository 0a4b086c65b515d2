#!/usr/bin/env bash
# The checks CI runs after the test suite (after tools/setup.sh has run):
#   1. the whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer,
#      the tests/bad corpus through the sanitized command among it;
#   2. each libFuzzer target for FUZZ_SECONDS (default 60) from its seed corpus;
#   3. a short training under valgrind, and a two-thread one, one on a CSV
#      table, one augmented with a validation set held out, then eval, export
#      and predict from the first one's checkpoint: no leak, no
#      invalid access (a build without -march=native, which valgrind can run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash tools/install_missing.sh ci_extra clang libclang-rt-14-dev valgrind

# The sanitized suite includes test_cli, which runs every case of tests/bad
# through build-asan/graphrun itself (GR_BUILD_DIR): the broken-input corpus
# under ASan and UBSan, a report failing the case.
echo "== sanitizers: the suite (and the tests/bad corpus through the command) under ASan and UBSan"
cmake -S . -B build-asan -DGRAPHRUN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j "$(nproc)" >/dev/null
ctest --test-dir build-asan --output-on-failure

echo "== fuzzing"
bash tools/fuzz.sh "${FUZZ_SECONDS:-60}"

echo "== valgrind"
cmake -S . -B build-valgrind -DGRAPHRUN_NATIVE=OFF -DGRAPHRUN_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-valgrind -j "$(nproc)" >/dev/null
vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --quiet)
# run folders into a temporary folder, so valgrind also sees them written
vgdir=$(mktemp -d)
trap 'rm -rf "$vgdir"' EXIT
"${vg[@]}" build-valgrind/graphrun train tests/short_mnist.yaml --run-dir "$vgdir/short"
(cd tests/bad && "${vg[@]}" ../../build-valgrind/graphrun train configs/ok.yaml --threads 2 --run-dir "$vgdir/ok")
# the CSV reader, a held-out validation set and augmented images under valgrind too
"${vg[@]}" build-valgrind/graphrun train configs/spirals_mlp.yaml --set train.steps=300 --no-run-dir --quiet >/dev/null
"${vg[@]}" build-valgrind/graphrun train tests/short_mnist.yaml --no-run-dir --quiet --set data.validation=100 \
    --set 'data.train.augment={shift: 2, rotate: 10, erase: {p: 0.5}}' >/dev/null
# and eval and predict from that checkpoint (a PGM of zeros, a PNG of the plot)
"${vg[@]}" build-valgrind/graphrun eval tests/short_mnist.yaml --checkpoint "$vgdir/short/checkpoint.safetensors" >/dev/null
"${vg[@]}" build-valgrind/graphrun export tests/short_mnist.yaml --checkpoint "$vgdir/short/checkpoint.safetensors" \
    -o "$vgdir/short.onnx" --softmax >/dev/null
{ printf 'P5\n28 28\n255\n'; head -c 784 /dev/zero; } >"$vgdir/zeros.pgm"
"${vg[@]}" build-valgrind/graphrun predict tests/short_mnist.yaml --checkpoint "$vgdir/short/checkpoint.safetensors" \
    "$vgdir/zeros.pgm" --json >/dev/null
if "${vg[@]}" build-valgrind/graphrun predict tests/short_mnist.yaml \
    --checkpoint "$vgdir/short/checkpoint.safetensors" "$vgdir/short/plot.png" 2>"$vgdir/err"; then
    echo "predict accepted a 960x720 image"; exit 1
fi
grep -q "960x720 pixels, but the model reads 28x28 images" "$vgdir/err" || { cat "$vgdir/err"; exit 1; }
echo "ci_extra: all passed"
