#!/usr/bin/env bash
# Training throughput of `rnnkit train` (default backend and --backend blas) beside PyTorch, for
# H 128, a vocabulary of 5,000 and BPTT 32 (issues 5 and 11), with 1 and 2 threads, contestants
# interleaved and ratios taken within each round. See scripts/benchmarks/train_bench.py.
#
# Usage: scripts/benchmarks/train_throughput.sh [--threads 1,2] [--rounds 3] [--tokens 32768] [--no-torch] [--no-blas]
#        [--torch-wait-policies default,passive]
# PyTorch comes from python3 when it has torch; otherwise the script installs it from PyPI into a
# private virtual environment ($TORCH_VENV, default ~/.cache/rnnkit-bench-venv). Nothing in CI runs
# this script. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

python=python3
if ! python3 -c "import torch" 2>/dev/null && [[ " $* " != *" --no-torch "* ]]; then
  venv="${TORCH_VENV:-$HOME/.cache/rnnkit-bench-venv}"
  if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "installing torch into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check torch
  fi
  python="$venv/bin/python"
fi
exec python3 scripts/benchmarks/train_bench.py --python "$python" "$@"
