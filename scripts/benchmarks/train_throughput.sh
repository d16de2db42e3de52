#!/usr/bin/env bash
# Training throughput of `rnnkit train` beside PyTorch, for H 128, a vocabulary of 5,000 and BPTT
# length 32 (issue 5): the same model, trained the same way (plain SGD, batch 1, summed
# cross-entropy per window, gradient-norm clipping at 5), on the same synthetic corpus.
#
# Usage: scripts/benchmarks/train_throughput.sh [--no-torch] [TOKENS]
# The first run installs torch from PyPI into a private virtual environment ($TORCH_VENV, default
# ~/.cache/rnnkit-bench-venv); nothing in CI runs this script. Run it on an otherwise idle machine:
# the wall-clock figures of multi-threaded runs collapse when other processes share the cores, so
# each line also gives tokens per CPU second.
set -euo pipefail
cd "$(dirname "$0")/../.."

with_torch=1
if [ "${1:-}" = "--no-torch" ]; then
  with_torch=0
  shift
fi
tokens="${1:-32768}"
work="${BENCH_DIR:-${TMPDIR:-/tmp}/rnnkit-bench}"
mkdir -p "$work"
python3 scripts/benchmarks/make_corpus.py "$work/corpus.txt" --vocab 5000 --tokens "$tokens"

swift build -c release --product rnnkit >/dev/null 2>&1 || { echo "build failed; run swift build -c release" >&2; exit 1; }
rnnkit="$(swift build -c release --show-bin-path)/rnnkit"

# rnnkit picks OpenBLAS's kernel set itself unless OPENBLAS_CORETYPE is set (docs/ARCHITECTURE.md).
threads="$(nproc)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"

options=(--hidden 128 --bptt-length 32 --learning-rate 0.05 --clip 5)
# Predicted tokens: every token but the first of each line.
predicted="$(python3 -c 'import sys; print(sum(max(len(l.split()) - 1, 0) for l in open(sys.argv[1])))' "$work/corpus.txt")"
run_rnnkit() { # backend, OpenBLAS threads
  local times line
  times="$(mktemp)"
  line="$(OPENBLAS_NUM_THREADS="$2" /usr/bin/time -f "%U %S" -o "$times" "$rnnkit" train "$work/corpus.txt" \
    -o "$work/model-$1.rnn" --force --epochs 1 --backend "$1" "${options[@]}" 2>/dev/null)"
  local cpu
  cpu="$(awk '{print $1 + $2}' "$times")"
  rm -f "$times"
  echo "rnnkit --backend $1, $2 BLAS thread(s): ${line##*, } ($(python3 -c "print(round($predicted / $cpu))") per CPU second of the whole command)"
}
run_rnnkit portable 1
for t in $(seq 1 "$threads"); do run_rnnkit blas "$t"; done

if [ "$with_torch" = 1 ]; then
  venv="${TORCH_VENV:-$HOME/.cache/rnnkit-bench-venv}"
  if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "installing torch into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check torch
  fi
  for t in $(seq 1 "$threads"); do
    "$venv/bin/python" scripts/benchmarks/train_torch.py "$work/corpus.txt" --threads "$t" "${options[@]}"
  done
fi
