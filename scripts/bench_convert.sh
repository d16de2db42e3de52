#!/usr/bin/env bash
# Times `rnnkit convert` on a 400 MB model (vocabulary 50,000, H 1,024): plain HDF5 -> .rnn -> plain
# HDF5, as whole processes, next to `cp` of the same bytes and scripts/bench_convert_h5py.py doing
# the same conversion. The model is generated into a temporary folder (never committed).
#
# Usage: scripts/bench_convert.sh [runs]     (default 5 runs; prints the median and the best)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
swift build -c release --product rnnkit >/dev/null
RNNKIT=$(swift build -c release --show-bin-path)/rnnkit
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

python3 - "$WORK/model.h5" <<'PY'
import sys
import h5py
import numpy as np
V, H = 50_000, 1_024
rng = np.random.default_rng(0)
with h5py.File(sys.argv[1], "w") as f:
    f["W"] = rng.standard_normal((H, H + V), dtype=np.float32) * 0.01
    f["b"] = np.zeros(H, dtype=np.float32)
    f["V"] = rng.standard_normal((V, H), dtype=np.float32) * 0.01
    f["c"] = np.zeros(V, dtype=np.float32)
    f.create_dataset("vocab", data=[f"tok{i}" for i in range(V)], dtype=h5py.string_dtype("utf-8"))
    f.attrs["hidden_activation"] = "tanh"
    f.attrs["output_activation"] = "softmax"
PY
SIZE=$(stat -c %s "$WORK/model.h5")
echo "model: $SIZE bytes (W 1024x51024, V 50000x1024, f32, 50,000 tokens)"

# Seconds of wall time for one run of "$@".
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

# Median and minimum of the numbers on stdin.
summary() { sort -n | awk '{a[NR]=$1} END {printf "median %.3f s  best %.3f s\n", a[int((NR+1)/2)], a[1]}'; }

cp_round_trip() { cp "$WORK/model.h5" "$WORK/copy1"; cp "$WORK/copy1" "$WORK/copy2"; rm -f "$WORK/copy1" "$WORK/copy2"; }
cp_sync_round_trip() {
  cp "$WORK/model.h5" "$WORK/copy1" && sync "$WORK/copy1"
  cp "$WORK/copy1" "$WORK/copy2" && sync "$WORK/copy2"
  rm -f "$WORK/copy1" "$WORK/copy2"
}
rnnkit_round_trip() {
  "$RNNKIT" convert "$WORK/model.h5" "$WORK/out.rnn"
  "$RNNKIT" convert "$WORK/out.rnn" "$WORK/back.h5"
  rm -f "$WORK/out.rnn" "$WORK/back.h5"
}
# The same without the child process that shields rnnkit from libhdf5 crashes (docs/CLI.md).
rnnkit_trusted_round_trip() {
  "$RNNKIT" convert "$WORK/model.h5" "$WORK/out.rnn" --trust-input
  "$RNNKIT" convert "$WORK/out.rnn" "$WORK/back.h5"
  rm -f "$WORK/out.rnn" "$WORK/back.h5"
}
script_round_trip() {
  python3 scripts/bench_convert_h5py.py to-rnn "$WORK/model.h5" "$WORK/py.rnn"
  python3 scripts/bench_convert_h5py.py to-h5 "$WORK/py.rnn" "$WORK/py.h5"
  rm -f "$WORK/py.rnn" "$WORK/py.h5"
}

# Check once that the script's .rnn is one rnnkit accepts, so both sides really do the same work.
python3 scripts/bench_convert_h5py.py to-rnn "$WORK/model.h5" "$WORK/check.rnn"
"$RNNKIT" validate "$WORK/check.rnn" >/dev/null
rm -f "$WORK/check.rnn"

cat "$WORK/model.h5" >/dev/null  # warm the page cache for every contestant alike
for name in cp_round_trip cp_sync_round_trip rnnkit_round_trip rnnkit_trusted_round_trip script_round_trip; do
  for _ in $(seq "$RUNS"); do seconds "$name"; done | summary | sed "s/^/$(printf '%-20s' "$name") /"
done
