#!/usr/bin/env python3
"""Whole `rnnkit score` processes on SMALL's 32 sequences of 512 tokens, the command that
scripts/bench_runtime.py times for its whole-process figure, for one or more builds of `rnnkit`
interleaved round by round.

    scripts/bench_score_process.py [--dir bench-out] [--models small-f32.rnn,small-i8v.rnn] [--threads 1,2]
                                   [--rounds 11] NAME=RNNKIT[,VAR=VALUE...] ...

A build may carry environment variables of its own: `t20=.build/release/rnnkit,OPENBLAS_THREAD_TIMEOUT=20`
runs the same executable with that variable set, as one more contestant.

Each process's wall time, CPU time of all its threads (user + system), minor page faults and
peak resident memory are taken from wait4; medians are printed with each build's ratio to the first build. On a busy
machine compare the ratios (and the CPU times, which move less with the load); the load average
is printed beside them. Before timing, every build's JSON output is checked to be byte for byte
the first build's at the same thread count.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from bench_load import cpu_name  # scripts/ is on sys.path when this runs as a script


def batch_text(folder):
    """SMALL's 32×512 benchmark tokens as text, one sequence per line (as bench_runtime.py writes it)."""
    path = os.path.join(folder, "small-batch.txt")
    if not os.path.exists(path):
        import numpy as np
        tokens = np.fromfile(os.path.join(folder, "small-tokens.i32"), dtype="<i4")
        with open(path, "w") as f:
            for row in tokens[: 32 * 512].reshape(32, 512):
                f.write(" ".join(f"w{int(t)}" for t in row) + "\n")
    return path


def run(argv, env):
    """Wall s, CPU s (all threads), minor page faults and peak RSS (MB) of one process; its output is
    returned last."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_minflt, usage.ru_maxrss / 1024, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+",
                        help="NAME=PATH[,VAR=VALUE...]: an rnnkit executable (and its own environment); the first is the reference")
    parser.add_argument("--dir", default="bench-out", help="where bench_runtime.sh put small-f32.rnn")
    parser.add_argument("--models", default="small-f32.rnn",
                        help="comma-separated model files in --dir, each scored on the same text")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    builds = []
    for spec in args.builds:
        name, rest = spec.split("=", 1)
        path, *settings = rest.split(",")
        builds.append((name, path, dict(setting.split("=", 1) for setting in settings)))
    text = batch_text(args.dir)
    print(f"{cpu_name()}, {os.cpu_count()} CPUs")
    for model in [os.path.join(args.dir, name) for name in args.models.split(",")]:
        for threads in [int(t) for t in args.threads.split(",")]:
            compare(builds, model, text, threads, args.rounds)


def compare(builds, model, text, threads, rounds):
    """Interleaved rounds of every build on one model and thread count; prints the medians."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    argv = ["score", model, text, "--json"]
    reference = None
    for name, path, extra in builds:
        output = run([path, *argv], {**env, **extra})[-1]
        reference = reference or output
        if output != reference:
            sys.exit(f"{name}: its output differs from {builds[0][0]}'s with {threads} thread(s)")
    samples = {name: [] for name, _, _ in builds}
    for _ in range(rounds):
        for name, path, extra in builds:
            samples[name].append(run([path, *argv], {**env, **extra})[:4])
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\n`rnnkit score {model} {text} --json`, {threads} thread(s), {rounds} rounds, "
          f"load average {' '.join(load)}")
    print(f"{'build':14} {'wall ms':>9} {'ratio':>6} {'CPU ms':>9} {'ratio':>6} {'faults':>8} {'RSS MB':>7}")
    first = None
    for name, _, _ in builds:
        wall, cpu, faults, rss = (statistics.median(s[i] for s in samples[name]) for i in range(4))
        first = first or (wall, cpu)
        print(f"{name:14} {wall * 1000:9.1f} {wall / first[0]:6.3f} {cpu * 1000:9.1f} {cpu / first[1]:6.3f} "
              f"{faults:8.0f} {rss:7.1f}")

if __name__ == "__main__":
    main()
