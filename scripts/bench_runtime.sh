#!/usr/bin/env bash
# Runtime benchmark: RNNKit vs ONNX Runtime vs numpy on the same weights and work, in one run.
#
#   scripts/bench_runtime.sh [--sizes small,large] [--threads 1,2] [--repeats 5] [--rounds 1] [--tasks a,b,c]
#
# Builds Benchmarks/ in release, writes the models and weights to bench-out/ (once per size), then
# runs scripts/bench_runtime.py, which installs its Python dependencies when missing, prints a
# table of medians and ratios, and saves every measurement to bench-out/results.json.
# The machine is shared: run it when nothing else is busy, and compare ratios from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=small,large
THREADS=1,2
REPEATS=5
ROUNDS=1
TASKS=a,b,c
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --tasks) TASKS=$2; shift 2 ;;
    *) echo "usage: $0 [--sizes small,large] [--threads 1,2] [--repeats N] [--rounds N] [--tasks a,b,c]" >&2; exit 2 ;;
  esac
done
bash scripts/bootstrap.sh
(cd Benchmarks && swift build -c release >/dev/null)
BENCH=Benchmarks/.build/release/rnnkit-bench
mkdir -p bench-out
for size in ${SIZES//,/ }; do
  if [ ! -f "bench-out/$size-tokens.i32" ]; then
    echo "preparing $size weights"
    "$BENCH" prepare --size "$size" --dir bench-out >/dev/null
  fi
done
# Debian's OpenBLAS 0.3.21 falls back to its generic SSE3 kernels ("Prescott") on cores it does not
# know, which makes sgemm several times slower. Unless the environment already chooses a core type,
# pick the newest kernel set this CPU can run (numpy and ONNX Runtime are not affected by this).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  core=$("$BENCH" core)
  if [ "$core" = "Prescott" ] || [ "$core" = "Core2" ] || [ "$core" = "Nehalem" ]; then
    if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
    fi
    echo "OpenBLAS chose $core; using OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$core} for RNNKit"
  fi
fi
exec python3 scripts/bench_runtime.py --bench "$BENCH" --dir bench-out --sizes "$SIZES" --threads "$THREADS" \
  --repeats "$REPEATS" --rounds "$ROUNDS" --tasks "$TASKS" --out bench-out/results.json
