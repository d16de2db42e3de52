"""int8-V against f32-V scoring at forced kernel levels, without VNNI (scripts/bench_int8_levels.sh).

Each contestant is its own `rnnkit-bench run` process (the level is forced for the whole process,
worker threads included), run in turn within each round so that load changes hit all of them.
"""

import argparse
import json
import os
import statistics
import subprocess

CONTESTANTS = [
    ("i8 packed", ["--int8-product", "packed"], "8"),
    ("i8 gemm (before)", ["--int8-product", "gemm"], "8"),
    ("f32", [], ""),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--levels", default="avx2,avx512")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--tasks", default="a,b")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    results = {}
    loads = []
    for round_ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for size in args.sizes.split(","):
            for level in args.levels.split(","):
                for threads in args.threads.split(","):
                    for name, options, suffix in CONTESTANTS:
                        command = [
                            args.bench, "run", "--size", size, "--dir", args.dir, "--level", level, "--no-vnni",
                            "--repeats", str(args.repeats), "--sequences", str(args.sequences),
                            "--tasks", ",".join(t + suffix for t in tasks),
                        ] + options
                        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads)
                        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
                        for line in out.splitlines():
                            r = json.loads(line)
                            key = (size, level, threads, r["task"])
                            results.setdefault(key, {}).setdefault(name, []).append(r["cpu_median_s"])
                            assert r["level"] == level and r["vnni"] == "no"
        print(f"round {round_ + 1}/{args.rounds} done, load {loads[-1]:.2f}", flush=True)
    loads.append(os.getloadavg()[0])
    print(f"load average (1 min) at the rounds' starts and end: {', '.join(f'{x:.2f}' for x in loads)}")
    print("CPU seconds per run (all threads), median over rounds; ratio = f32 / contestant (> 1: faster than f32)")
    header = f"{'size':6} {'level':7} {'thr':>3} {'task':4} " + " ".join(f"{n:>17}" for n, _, _ in CONTESTANTS)
    print(header + f" {'f32/packed':>10} {'f32/gemm':>9} {'gemm/packed':>11}")
    for key in sorted(results, key=lambda k: (k[0] != "small", k[1], k[2], k[3])):
        m = {n: statistics.median(v) for n, v in results[key].items()}
        cells = " ".join(f"{m[n]:17.3f}" for n, _, _ in CONTESTANTS)
        print(
            f"{key[0]:6} {key[1]:7} {key[2]:>3} {key[3]:4} {cells}"
            f" {m['f32'] / m['i8 packed']:10.2f} {m['f32'] / m['i8 gemm (before)']:9.2f}"
            f" {m['i8 gemm (before)'] / m['i8 packed']:11.2f}"
        )
    with open(os.path.join(args.dir, "int8_levels.json"), "w") as f:
        json.dump({"loads": loads, "results": [{"key": list(k), "cpu_s": v} for k, v in results.items()]}, f)


if __name__ == "__main__":
    main()
