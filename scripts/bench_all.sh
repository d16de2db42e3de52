#!/usr/bin/env bash
# Every comparison of the performance issue in one run, one after the other on the same machine:
#   1. the runtime (scoring, generation, f16/bf16/int8 V) against ONNX Runtime and numpy
#      (scripts/bench_runtime.sh);
#   2. training against PyTorch (scripts/benchmarks/train_throughput.sh);
#   3. load + first answer against numpy + safetensors and `cat` (scripts/bench_load.sh).
# Each part prints its own ratios, taken within its rounds. Run it on an otherwise idle machine.
#
# Usage: scripts/bench_all.sh [--quick]    (--quick: fewer repeats and rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=5 ROUNDS=3 LOAD_ROUNDS=9
if [[ "${1:-}" == "--quick" ]]; then REPEATS=3 ROUNDS=1 LOAD_ROUNDS=5; fi
echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. runtime"
bash scripts/bench_runtime.sh --sizes small,large --threads 1,2 --repeats "$REPEATS"
echo "== 2. training (load: $(cut -d' ' -f1-3 /proc/loadavg))"
bash scripts/benchmarks/train_throughput.sh --threads 1,2 --rounds "$ROUNDS"
echo "== 3. load + first answer (load: $(cut -d' ' -f1-3 /proc/loadavg))"
bash scripts/bench_load.sh --rounds "$LOAD_ROUNDS" --cold-rounds 3
echo "== done (load: $(cut -d' ' -f1-3 /proc/loadavg))"
