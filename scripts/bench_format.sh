#!/usr/bin/env bash
# Measures `rnnkit inspect` (warm cache) and `rnnkit validate` throughput on a 400 MB model
# (Vocab 50,000, H 1,024) built by the independent Python writer. Nothing it makes is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --python
swift build -c release --product rnnkit -q
bin="$(swift build -c release --show-bin-path)/rnnkit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model="$work/large.rnn"
python3 scripts/interop/write_rnn.py "$model" --vocab 50000 --hidden 1024
size=$(stat -c %s "$model")
echo "model: $size bytes"
python3 - "$bin" "$model" "$size" <<'PY'
import statistics, subprocess, sys, time
bin, model, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
def timed(args, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([bin] + args, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out
subprocess.run(["cat", model], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
timed(["inspect", model], 2)
inspect = timed(["inspect", model], 11)
noop = timed(["--version"], 11)
print(f"rnnkit inspect: median {statistics.median(inspect)*1000:.1f} ms "
      f"(process start alone: {statistics.median(noop)*1000:.1f} ms)")
validate = timed(["validate", model], 5)
m = statistics.median(validate)
print(f"rnnkit validate: median {m*1000:.0f} ms = {size/m/1e9:.2f} GB/s over {size/1e6:.0f} MB "
      f"(checksums of every tensor, finiteness of every weight, vocabulary uniqueness)")
PY
