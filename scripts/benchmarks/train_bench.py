#!/usr/bin/env python3
"""Training throughput of `rnnkit train` (default backend, and --backend blas) beside PyTorch, in one
run: H 128, a vocabulary of 5,000, BPTT 32, plain SGD with batch 1, summed cross-entropy per window,
gradient-norm clipping at 5, one epoch over the same synthetic corpus (issue 11).

The contestants take turns within each round (the first of a round rotates), for each thread count,
and every ratio is taken within one round; the table shows the medians over rounds and the load
average around each round. Tokens/s is wall time, as each tool reports it for its training loop:
rnnkit's whole epoch, PyTorch's windows after a warm-up of 20. With more than one thread PyTorch
runs with each OpenMP wait policy of --torch-wait-policies, and the faster run counts. "cpu" is tokens per CPU second (for
rnnkit, of the whole command), which contention from other processes inflates far less.

Usage: scripts/benchmarks/train_throughput.sh [--threads 1,2] [--rounds 3] [--tokens 32768] [--no-torch]
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
parser = argparse.ArgumentParser()
parser.add_argument("--threads", default="1,2")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--tokens", type=int, default=32768)
parser.add_argument("--no-torch", action="store_true")
parser.add_argument("--no-blas", action="store_true")
parser.add_argument("--python", default=sys.executable, help="the Python that has torch")
parser.add_argument("--rnnkit", help="an rnnkit binary (default: build this checkout in release mode)")
parser.add_argument("--torch-wait-policies", default="default,passive",
                    help="OMP_WAIT_POLICY settings to try for PyTorch with more than one thread; the faster counts")
args = parser.parse_args()
threads = [int(t) for t in args.threads.split(",")]

work = os.environ.get("BENCH_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "rnnkit-train-bench"))
os.makedirs(work, exist_ok=True)
corpus = os.path.join(work, "corpus.txt")
subprocess.run(
    [sys.executable, os.path.join(root, "scripts/benchmarks/make_corpus.py"), corpus, "--vocab", "5000",
     "--tokens", str(args.tokens)], check=True)

rnnkit = args.rnnkit
if rnnkit is None:
    subprocess.run(["swift", "build", "-c", "release", "--product", "rnnkit"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
    rnnkit = os.path.join(bin_path, "rnnkit")

common = ["--hidden", "128", "--bptt-length", "32", "--learning-rate", "0.05", "--clip", "5"]


def load():
    return float(open("/proc/loadavg").read().split()[0])


def run(command, env=None):
    """Runs a command; returns its stdout and the CPU seconds it and its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result.stdout, cpu


def rnnkit_run(backend, n):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n))
    # --no-eos: the vocabulary is the corpus's 4,999 words and <unk>, as in the PyTorch script.
    command = [rnnkit, "train", corpus, "-o", os.path.join(work, f"model-{backend}-{n}.rnn"), "--force",
               "--epochs", "1", "--no-eos", "--backend", backend, "--json"] + common
    if backend == "portable":
        command += ["--threads", str(n)]
    out, cpu = run(command, env)
    result = json.loads(out)
    tokens = predicted_tokens
    return result["tokens_per_second"], tokens / cpu


def torch_run(n):
    """PyTorch's best of the OpenMP wait policies tried (with 2 threads on busy cores, the default
    spinning can cost it 10x or more; on idle cores it is usually the faster)."""
    global torch_version
    best = None
    policies = args.torch_wait_policies.split(",") if n > 1 else ["default"]
    for policy in policies:
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if policy != "default":
            env["OMP_WAIT_POLICY"] = policy.upper()
        out, _ = run([args.python, os.path.join(root, "scripts/benchmarks/train_torch.py"), corpus, "--threads",
                      str(n)] + common, env)
        match = re.search(r"([0-9]+) tokens/s \(([0-9]+) per CPU second\)", out)
        version = re.search(r"pytorch (\S+),", out)
        torch_version = version.group(1) if version else "?"
        rate = (float(match.group(1)), float(match.group(2)))
        print(f"  pytorch {n} thread(s), OMP_WAIT_POLICY={policy}: {rate[0]:.0f} tokens/s", flush=True)
        if best is None or rate[0] > best[0]:
            best = rate
    return best


predicted_tokens = sum(max(len(line.split()) - 1, 0) for line in open(corpus, encoding="utf-8"))
torch_version = "?"
contestants = [("rnnkit", lambda n: rnnkit_run("portable", n))]
if not args.no_blas:
    contestants.append(("blas", lambda n: rnnkit_run("blas", n)))
if not args.no_torch:
    contestants.append(("torch", torch_run))

model = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip()
        break
print(f"machine: {model}, {os.cpu_count()} processors; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'auto')}")
print(f"corpus: {predicted_tokens} predicted tokens, vocabulary 5000; H 128, BPTT 32, batch 1, SGD, clip 5")

results = {}  # (name, threads) -> [(tokens/s, per cpu s)] per round
loads = []
for r in range(args.rounds):
    start_load = load()
    for n in threads:
        order = contestants[r % len(contestants):] + contestants[:r % len(contestants)]
        for name, function in order:
            results.setdefault((name, n), []).append(function(n))
    loads.append((start_load, load()))
    line = ", ".join(f"{name} {n}t {results[(name, n)][-1][0]:.0f}" for n in threads for name, _ in contestants)
    print(f"round {r + 1}: load {loads[-1][0]:.1f} -> {loads[-1][1]:.1f}: {line}", flush=True)


def median_ratio(a, b, index):
    return statistics.median(x[index] / y[index] for x, y in zip(results[a], results[b]))


print()
print(f"tokens/s, medians over {args.rounds} round(s); ratios taken within each round (PyTorch {torch_version})")
header = "threads  rnnkit  (cpu)     blas  (cpu)    torch  (cpu)   rnnkit/torch (cpu)   blas/torch"
print(header)
for n in threads:
    cells = []
    for name in ("rnnkit", "blas", "torch"):
        if (name, n) in results:
            rates = results[(name, n)]
            cells.append(f"{statistics.median(x[0] for x in rates):7.0f} {statistics.median(x[1] for x in rates):6.0f}")
        else:
            cells.append(f"{'-':>7} {'-':>6}")
    ratios = ""
    if ("torch", n) in results:
        ratios = f"   {median_ratio(('rnnkit', n), ('torch', n), 0):8.2f}x {median_ratio(('rnnkit', n), ('torch', n), 1):6.2f}x"
        if ("blas", n) in results:
            ratios += f"   {median_ratio(('blas', n), ('torch', n), 0):8.2f}x"
    print(f"{n:7d}  " + "  ".join(cells) + ratios)
print(f"load average (1 min) per round, start -> end: "
      + ", ".join(f"{a:.1f}->{b:.1f}" for a, b in loads))
