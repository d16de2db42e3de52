#!/usr/bin/env bash
# Measures `rnnkit report` on a large model (Vocab 50,000, H 1,024, 414 MB, built by the
# independent Python writer): generation time (warm page cache), page size, and the time headless
# Chromium takes to load it. Nothing it makes is committed.
# Usage: scripts/bench_report.sh [RUNS]   (default 5; the median is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bash scripts/bootstrap.sh --python
swift build -c release --product rnnkit -q
bin="$(swift build -c release --show-bin-path)/rnnkit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model="$work/large.rnn"
python3 scripts/interop/write_rnn.py "$model" --vocab 50000 --hidden 1024 --seed 1
# Sample text for --text: 3,000 words of the model's vocabulary (w1 … w49999).
python3 -c "import random; random.seed(1); print(' '.join(f'w{random.randrange(1, 50000)}' for _ in range(3000)))" \
  >"$work/sample.txt"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo "model: $(stat -c %s "$model") bytes; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$bin" "$model" "$work" "$runs" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
bin, model, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
subprocess.run(["cat", model], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
def timed(extra, name):
    out = os.path.join(work, name)
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([bin, "report", model, "-o", out, "--force"] + extra, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), max(times), statistics.median(cpu), os.path.getsize(out)
for label, extra, name in [
    ("report", [], "plain.html"),
    ("report --no-verify", ["--no-verify"], "noverify.html"),
    ("report --text (2,000 tokens)", ["--text", os.path.join(work, "sample.txt")], "text.html"),
]:
    median, low, high, cpu, size = timed(extra, name)
    print(f"rnnkit {label}: median {median:.2f} s wall (min {low:.2f}, max {high:.2f}, {runs} runs), "
          f"{cpu:.2f} s CPU, page {size/1e6:.2f} MB")
check = subprocess.run(
    [sys.executable, "scripts/report/check_report.py", os.path.join(work, "text.html"), "--min-heatmaps", "3"],
    capture_output=True, text=True)
page = json.loads(check.stdout)
print(f"headless Chromium: page loaded in {page['load_seconds']:.2f} s (browser start included), "
      f"{page['page_height']} px tall, failures: {page['failures'] or 'none'}")
PY
