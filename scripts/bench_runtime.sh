#!/usr/bin/env bash
# Runtime benchmark: RNNKit vs ONNX Runtime vs numpy on the same weights and work, in one run.
#
#   scripts/bench_runtime.sh [--sizes small,large] [--threads 1,2] [--repeats 5] [--rounds 1] [--tasks a,b,c]
#                            [--before DIR]
#
# Builds Benchmarks/ in release, writes the models and weights to bench-out/ (once per size), then
# runs scripts/bench_runtime.py, which installs its Python dependencies when missing, prints a
# table of medians and ratios, and saves every measurement to bench-out/results.json.
# --before DIR also builds DIR/Benchmarks (a checkout of an older commit) and runs it in the same
# rounds, so both builds are compared with the same ONNX Runtime measurements.
# With task b at SMALL it also times whole `rnnkit score` processes on the same 32 sequences (as a
# text file), against ONNX Runtime's in-process time for them.
# The machine is shared: run it when nothing else is busy, and compare ratios from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=small,large
THREADS=1,2
REPEATS=5
ROUNDS=1
TASKS=a,b,c
BEFORE=
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --tasks) TASKS=$2; shift 2 ;;
    --before) BEFORE=$2; shift 2 ;;
    *) echo "usage: $0 [--sizes small,large] [--threads 1,2] [--repeats N] [--rounds N] [--tasks a,b,c] [--before DIR]" >&2; exit 2 ;;
  esac
done
bash scripts/bootstrap.sh
(cd Benchmarks && swift build -c release >/dev/null && swift build -c release --product rnnkit >/dev/null)
BENCH=Benchmarks/.build/release/rnnkit-bench
# The release CLI, for the whole-process `rnnkit score` of SMALL's 32 sequences (task b).
CLI=Benchmarks/.build/release/rnnkit
mkdir -p bench-out
for size in ${SIZES//,/ }; do
  if [ ! -f "bench-out/$size-tokens.i32" ]; then
    echo "preparing $size weights"
    "$BENCH" prepare --size "$size" --dir bench-out >/dev/null
  fi
  if [ ! -f "bench-out/$size-i8v.rnn" ] || [ ! -f "bench-out/$size-bf16v.rnn" ]; then
    echo "preparing $size int8 and bf16 V"
    "$BENCH" prepare-v --size "$size" --dir bench-out >/dev/null
  fi
done
BEFORE_ARGS=()
if [ -n "$BEFORE" ]; then
  (cd "$BEFORE/Benchmarks" && swift build -c release >/dev/null)
  BEFORE_ARGS=(--bench-before "$BEFORE/Benchmarks/.build/release/rnnkit-bench")
fi
# RNNKit chooses OpenBLAS's kernel set itself when it loads the library (Sources/RNNRuntime/OpenBLAS.swift);
# an OPENBLAS_CORETYPE in the environment is passed on to it unchanged.
echo "RNNKit's OpenBLAS kernel set: $("$BENCH" core)"
exec python3 scripts/bench_runtime.py --bench "$BENCH" --dir bench-out --sizes "$SIZES" --threads "$THREADS" \
  --repeats "$REPEATS" --rounds "$ROUNDS" --tasks "$TASKS" --out bench-out/results.json --cli "$CLI" "${BEFORE_ARGS[@]}"
