#!/usr/bin/env python3
"""Times whole processes for scripts/bench_load.sh and prints a table (see there)."""
import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(argv):
    """Wall time (s), CPU time of all its threads (user + system, s) and peak RSS (MB) of one
    process, its output discarded. On a busy machine the CPU time is the steadier figure.

    The peak RSS is the process's own (ru_maxrss of that child), with one floor: Linux carries
    the peak RSS of the address space a child leaves at exec (this script's, which the child
    shares or copies until then) into the child's, so figures at or below this script's own peak
    (launcher_floor) only say "no more than that"; the table marks them with ≤."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def launcher_floor():
    """This script's peak RSS (MB): the least any child's ru_maxrss can read (see run)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--cold-rounds", type=int, default=3)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--before", help="an older rnnkit, timed on the 1.1 file in the same rounds")
    a = p.parse_args()
    rnn = os.path.join(a.dir, "large.rnn")
    rnn10 = os.path.join(a.dir, "large-1.0.rnn")
    st = os.path.join(a.dir, "large.safetensors")
    rng = random.Random(1)
    text = " ".join(f"w{rng.randrange(1, 50000)}" for _ in range(a.tokens))
    numpy_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_load_numpy.py")
    contestants = [
        ("rnnkit predict, format 1.1 (blocks verified on first use)", [a.bin, "predict", rnn, text], rnn),
        ("rnnkit predict, format 1.0 (all verified at open)", [a.bin, "predict", rnn10, text], rnn10),
    ]
    if a.before:
        contestants.append(("--before build: rnnkit predict, format 1.1", [a.before, "predict", rnn, text], rnn))
    contestants += [
        ("rnnkit predict --skip-checksums (nothing verified)", [a.bin, "predict", rnn, text, "--skip-checksums"], rnn),
        ("numpy + safetensors mmap (bench_load_numpy.py)", [sys.executable, numpy_script, st, text], st),
        ("cat of the .rnn file", ["cat", rnn], rnn),
        ("rnnkit --version (process start)", [a.bin, "--version"], None),
        ("python3 -c 'import numpy' (start)", [sys.executable, "-c", "import numpy"], None),
    ]
    # The two programs must agree before they are timed.
    ours = subprocess.run([a.bin, "predict", rnn, text, "--top", "3"], capture_output=True, text=True, check=True)
    theirs = subprocess.run(
        [sys.executable, numpy_script, st, text, "--top", "3"], capture_output=True, text=True, check=True)
    top_ours = [line.split()[1] for line in ours.stdout.splitlines()[1:]]
    top_theirs = [line.split()[1] for line in theirs.stdout.splitlines()]
    if top_ours != top_theirs:
        sys.exit(f"rnnkit and numpy disagree: {top_ours} vs {top_theirs}")

    print(f"CPU: {cpu_name()}, {os.cpu_count()} CPUs; prompt: {a.tokens} random tokens; model: "
          f"{os.path.getsize(rnn) / 1e6:.0f} MB (.rnn 1.1), {os.path.getsize(st) / 1e6:.0f} MB (safetensors)")
    print(f"load average before: {os.getloadavg()}")
    results = {name: {"warm": [], "cold": []} for name, _, _ in contestants}
    for _, argv, _ in contestants:  # warm the page cache and the programs
        run(argv)
    for _ in range(a.rounds):
        for name, argv, _ in contestants:
            results[name]["warm"].append(run(argv))
    cold = a.cold_rounds > 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)
    if cold:
        for _ in range(a.cold_rounds):
            for name, argv, _ in contestants:
                drop_caches()
                results[name]["cold"].append(run(argv))
    print(f"load average after: {os.getloadavg()}")
    anchor = "numpy + safetensors mmap (bench_load_numpy.py)"

    def summary(samples):
        times = [t for t, _, _ in samples]
        cpu = statistics.median(c for _, c, _ in samples)
        return statistics.median(times) * 1000, min(times) * 1000, cpu * 1000, max(r for _, _, r in samples)

    floor = launcher_floor()

    def rss_text(rss):
        return f"≤{floor:.0f}" if rss <= floor + 0.5 else f"{rss:.0f}"

    kinds = ["warm"] + (["cold"] if cold else [])
    for kind in kinds:
        base = summary(results[anchor][kind])[0]
        print(f"\n{kind} page cache, {len(results[anchor][kind])} rounds:")
        print(f"| {'process':<58} | median ms | min ms | CPU ms (median) | peak RSS MB | numpy median / this |")
        print(f"| {'-' * 58} | --------: | -----: | --------------: | ----------: | ------------------: |")
        for name, _, _ in contestants:
            median, best, cpu, rss = summary(results[name][kind])
            print(f"| {name:<58} | {median:9.1f} | {best:6.1f} | {cpu:15.1f} | {rss_text(rss):>11} | {base / median:18.2f}× |")
    print(f"\n≤N: at or below this script's own peak RSS (N MB), which Linux carries into a child at exec")
    if not cold and a.cold_rounds > 0:
        print("\ncold runs skipped: dropping the page cache needs root (/proc/sys/vm/drop_caches)")


if __name__ == "__main__":
    main()
