#!/usr/bin/env bash
# Load + first answer on the LARGE model (V 50,000, H 1,024, about 415 MB): whole processes of
# `rnnkit predict`, warm and cold, against a numpy script that maps the same weights from
# safetensors (scripts/bench_load_numpy.py) and against `cat` of the file, with each process's
# peak RSS beside its time.
#
#   scripts/bench_load.sh [--rounds N] [--cold-rounds N] [--tokens N] [--keep DIR] [--before BIN]
#
# --before BIN adds `BIN predict` on the 1.1 file (an rnnkit built from an older commit) to the
# same rounds.
# The models are generated in a temporary folder (or DIR, reused when present) and never
# committed. Cold runs drop the page cache (echo 3 > /proc/sys/vm/drop_caches) before every
# process and need root; without it they are skipped. Contestants run interleaved, round by
# round, so a busy machine slows them alike; compare the ratios, and note the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=11
COLD_ROUNDS=3
KEEP=
TOKENS=16
BEFORE=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --cold-rounds) COLD_ROUNDS=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --before) BEFORE=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--cold-rounds N] [--tokens N] [--keep DIR] [--before BIN]" >&2; exit 2 ;;
  esac
done
bash scripts/bootstrap.sh
python3 -c "import numpy, xxhash" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
swift build -c release --product rnnkit -q
bin="$(swift build -c release --show-bin-path)/rnnkit"
if [ -n "$KEEP" ]; then
  work=$KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
if [ ! -f "$work/large.safetensors" ]; then
  echo "generating the LARGE model in $work"
  # Written as format 1.0 by the independent Python writer, then rewritten by RNNKit, which
  # writes 1.1 (block checksums) for tensors this large.
  python3 scripts/interop/write_rnn.py "$work/large-1.0.rnn" --vocab 50000 --hidden 1024 --seed 1
  "$bin" convert "$work/large-1.0.rnn" "$work/large.rnn" --force >/dev/null
  "$bin" convert "$work/large.rnn" "$work/large.safetensors" --force >/dev/null
fi
exec python3 scripts/bench_load.py --bin "$bin" --dir "$work" --rounds "$ROUNDS" --cold-rounds "$COLD_ROUNDS" \
  --tokens "$TOKENS" ${BEFORE:+--before "$BEFORE"}
