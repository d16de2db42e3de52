#!/usr/bin/env bash
# int8-V scoring against f32-V scoring at forced kernel levels (docs/PERFORMANCE.md, "int8 scoring
# without VNNI"): the kernels a CPU without VNNI runs, measured on any CPU that has the level.
#
#   scripts/bench_int8_levels.sh [--sizes small,large] [--threads 1,2] [--levels avx2,avx512]
#                                [--rounds 3] [--repeats 3] [--sequences 32]
#
# Builds Benchmarks/ in release, writes the models to bench-out/ (once per size), then runs, per
# round, size, level and thread count, one `rnnkit-bench run --no-vnni --level L` process per
# contestant in turn (interleaved): int8 V by the packed int8 product, int8 V by the matrix-matrix
# kernel (the path before it; --int8-product gemm), and f32 V; tasks a and b. Prints the medians
# over rounds of each run's median CPU time (all threads) and the ratios to f32, with the load.
# The machine may be shared: compare ratios from one run. --sequences N shortens task b.
set -euo pipefail
cd "$(dirname "$0")/.."
ARGS=("$@")
(cd Benchmarks && swift build -c release >/dev/null)
BENCH=Benchmarks/.build/release/rnnkit-bench
SIZES=small,large
for ((i = 0; i < ${#ARGS[@]}; i++)); do
  if [ "${ARGS[$i]}" = --sizes ]; then SIZES=${ARGS[$((i + 1))]}; fi
done
mkdir -p bench-out
for size in ${SIZES//,/ }; do
  if [ ! -f "bench-out/$size-tokens.i32" ]; then
    echo "preparing $size weights"
    "$BENCH" prepare --size "$size" --dir bench-out >/dev/null
  fi
  if [ ! -f "bench-out/$size-i8v.rnn" ]; then
    echo "preparing $size int8 V"
    "$BENCH" prepare-v --size "$size" --dir bench-out >/dev/null
  fi
done
exec python3 scripts/bench_int8_levels.py --bench "$BENCH" --dir bench-out "${ARGS[@]}"
