#!/usr/bin/env bash
# Times `rnnkit convert` on a 400 MB model (vocabulary 50,000, H 1,024): plain HDF5 -> .rnn -> plain
# HDF5, and .rnn -> safetensors, npz, PyTorch .pt and ONNX, as whole processes, next to `cp` of the same bytes and scripts/bench_convert_h5py.py doing
# the same conversion. The model is generated into a temporary folder (never committed).
#
# Usage: scripts/bench_convert.sh [runs]     (default 5 runs; prints the median and the best)
#        RNNKIT_BEFORE=/path/to/other/rnnkit scripts/bench_convert.sh [runs]
# With RNNKIT_BEFORE, that binary (an older build, say) runs the same conversions in the same
# session; it may have any name (each binary serves its own isolated reads, RNNKIT_EXECUTABLE).
# Contestants take turns within each run, so a change of machine load hits them alike.
# Every time is also given as a ratio to `cp` + `sync` of the same bytes, the floor for a tool that
# makes its output durable, as rnnkit does.
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

# One conversion each way (the .rnn input is made once, below).
cp_sync_once() { cp "$WORK/model.h5" "$WORK/copy1" && sync "$WORK/copy1"; rm -f "$WORK/copy1"; }
to_rnn() { RNNKIT_EXECUTABLE="$1" "$1" convert "$WORK/model.h5" "$WORK/out.rnn" "${@:2}"; rm -f "$WORK/out.rnn"; }
to_h5() { RNNKIT_EXECUTABLE="$1" "$1" convert "$WORK/input.rnn" "$WORK/out.h5"; rm -f "$WORK/out.h5"; }
# .rnn -> the format of extension $2.
to_format() { RNNKIT_EXECUTABLE="$1" "$1" convert "$WORK/input.rnn" "$WORK/out.$2"; rm -f "$WORK/out.$2"; }

cp_round_trip() { cp "$WORK/model.h5" "$WORK/copy1"; cp "$WORK/copy1" "$WORK/copy2"; rm -f "$WORK/copy1" "$WORK/copy2"; }
cp_sync_round_trip() {
  cp "$WORK/model.h5" "$WORK/copy1" && sync "$WORK/copy1"
  cp "$WORK/copy1" "$WORK/copy2" && sync "$WORK/copy2"
  rm -f "$WORK/copy1" "$WORK/copy2"
}
round_trip() {
  RNNKIT_EXECUTABLE="$1" "$1" convert "$WORK/model.h5" "$WORK/out.rnn" "${@:2}"
  RNNKIT_EXECUTABLE="$1" "$1" convert "$WORK/out.rnn" "$WORK/back.h5"
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
"$RNNKIT" convert "$WORK/model.h5" "$WORK/input.rnn" >/dev/null

# name|command; "floor" rows are the ones the others are divided by.
ONE_WAY=(
  "cp + sync|cp_sync_once"
  "h5 -> rnn|to_rnn $RNNKIT"
  "h5 -> rnn --trust-input|to_rnn $RNNKIT --trust-input"
  "rnn -> h5|to_h5 $RNNKIT"
  "rnn -> safetensors|to_format $RNNKIT safetensors"
  "rnn -> npz|to_format $RNNKIT npz"
  "rnn -> pt|to_format $RNNKIT pt"
  "rnn -> onnx|to_format $RNNKIT onnx"
)
ROUND_TRIP=(
  "cp + sync twice|cp_sync_round_trip"
  "cp twice|cp_round_trip"
  "convert twice|round_trip $RNNKIT"
  "convert twice --trust-input|round_trip $RNNKIT --trust-input"
  "h5py script twice|script_round_trip"
)
if [[ -n "${RNNKIT_BEFORE:-}" ]]; then
  ONE_WAY+=(
    "before: h5 -> rnn|to_rnn $RNNKIT_BEFORE"
    "before: h5 -> rnn --trust-input|to_rnn $RNNKIT_BEFORE --trust-input"
    "before: rnn -> h5|to_h5 $RNNKIT_BEFORE"
    "before: rnn -> safetensors|to_format $RNNKIT_BEFORE safetensors"
    "before: rnn -> npz|to_format $RNNKIT_BEFORE npz"
    "before: rnn -> pt|to_format $RNNKIT_BEFORE pt"
    "before: rnn -> onnx|to_format $RNNKIT_BEFORE onnx"
  )
  ROUND_TRIP+=(
    "before: convert twice|round_trip $RNNKIT_BEFORE"
    "before: convert twice --trust-input|round_trip $RNNKIT_BEFORE --trust-input"
  )
fi

TIMES="$WORK/times"
cat "$WORK/model.h5" "$WORK/input.rnn" >/dev/null  # warm the page cache for every contestant alike
for _ in $(seq "$RUNS"); do
  for entry in "${ONE_WAY[@]}" "${ROUND_TRIP[@]}"; do
    # Untimed: `cp` without `sync` leaves dirty pages whose writeback would slow the next contestant.
    sync
    # shellcheck disable=SC2086  # the command is a function name and its words
    echo "${entry%%|*}|$(seconds ${entry#*|})" >>"$TIMES"
  done
done

# Median and best of each contestant, and the median's ratio to the first row of its table.
report() {
  local floor=""
  for entry in "$@"; do
    local name=${entry%%|*}
    local stats
    stats=$(awk -F'|' -v name="$name" '$1 == name {print $2}' "$TIMES" | sort -n \
      | awk '{a[NR]=$1} END {printf "%.3f %.3f", a[int((NR+1)/2)], a[1]}')
    local median=${stats% *} best=${stats#* }
    [[ -z "$floor" ]] && floor=$median
    printf '%-38s median %.3f s  best %.3f s  %.2fx\n' "$name" "$median" "$best" "$(echo "$median / $floor" | bc -l)"
  done
}
echo "one conversion (ratio to cp + sync of the same file):"
report "${ONE_WAY[@]}"
echo "round trip h5 -> rnn -> h5 (ratio to cp + sync twice):"
report "${ROUND_TRIP[@]}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
