#!/usr/bin/env python3
"""Compares RNNKit with ONNX Runtime and numpy on the same weights and the same work.

Run through scripts/bench_runtime.sh, which builds the Swift benchmark and prepares the weights.
This script installs its own Python dependencies (numpy, onnx, onnxruntime, threadpoolctl) when
they are missing, then runs, for each size and thread count:
  (a) scoring one sequence of 512 tokens (512 logit rows and their log-softmax),
  (b) scoring 32 such sequences at once,
  (c) a 64-token prompt, then 64 tokens generated greedily (f32 V; RNNKit also with f16, bf16 and int8 V),
plus this machine's sgemm peak and read bandwidth, and prints medians and ratios.

ONNX Runtime gets its best configuration: memory arena on, ORT_ENABLE_ALL, intra_op_num_threads =
N, and for each cell the faster of two graphs (timed both, the faster kept) and of sequential and
parallel execution: a Gather of the input weights (W_x transposed, with b folded in) feeding either
an RNN node whose input weights are the identity or a Scan whose body is tanh(x_t + h·W_hᵀ), then
MatMul + LogSoftmax (scoring) or MatMul + ArgMax (generation).

With --bench-before, a second rnnkit-bench build (an older commit) runs in the same rounds, so its
ratios to ONNX Runtime are taken against the same measurements.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time


def ensure_packages():
    needed = {"numpy": "numpy", "onnx": "onnx", "onnxruntime": "onnxruntime", "threadpoolctl": "threadpoolctl"}
    missing = [pkg for mod, pkg in needed.items() if importlib.util.find_spec(mod) is None]
    if missing:
        print(f"installing {' '.join(missing)}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *missing])


SIZES = {"tiny": (500, 32), "small": (10_000, 256), "large": (50_000, 1_024)}
SEQUENCES, LENGTH, PROMPT, GENERATED = 32, 512, 64, 64


def load(folder, size):
    import numpy as np

    x, h = SIZES[size]
    p = os.path.join(folder, size)
    w = np.fromfile(p + "-W.f32", dtype="<f4").reshape(h, h + x)
    weights = {
        "Wh": np.ascontiguousarray(w[:, :h]),
        "b": np.fromfile(p + "-b.f32", dtype="<f4"),
        "V": np.fromfile(p + "-V.f32", dtype="<f4").reshape(x, h),
        "c": np.fromfile(p + "-c.f32", dtype="<f4"),
    }
    # The input projection of token j is column j of W_x plus b: one row of this table.
    weights["E"] = np.ascontiguousarray(w[:, h:].T + weights["b"][None, :])
    tokens = np.fromfile(p + "-tokens.i32", dtype="<i4").astype(np.int64)
    batch = tokens[: SEQUENCES * LENGTH].reshape(SEQUENCES, LENGTH)
    prompt = tokens[SEQUENCES * LENGTH :]
    return weights, batch, prompt


def timed(repeats, fn, minimum_seconds=0.3):
    """Median and best time of `fn` after a warm-up call: at least `repeats` calls, and more (up to
    1,000) until they add up to `minimum_seconds`, as rnnkit-bench's measure() does, so that a task of a
    few milliseconds is not judged by the median of five calls on a shared machine."""
    fn()  # warm-up
    times = []
    while len(times) < repeats or (sum(times) < minimum_seconds and len(times) < 1000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    n = len(times)
    return (times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2), times[0]


# MARK: numpy


def numpy_score(wt, batch):
    """Sum of log p(x_{t+1} | x_1..x_t) over every sequence; logits in row blocks."""
    import numpy as np

    seqs, length = batch.shape
    h = wt["Wh"].shape[0]
    hs = np.empty((seqs, length, h), dtype=np.float32)
    state = np.zeros((seqs, h), dtype=np.float32)
    proj = wt["E"][batch]  # [S, T, H]
    whT = np.ascontiguousarray(wt["Wh"].T)
    for t in range(length):
        state = np.tanh(proj[:, t, :] + state @ whT)
        hs[:, t, :] = state
    rows = hs.reshape(-1, h)
    targets = np.concatenate([batch[:, 1:], np.full((seqs, 1), -1)], axis=1).reshape(-1)
    vT = wt["V"].T
    total = 0.0
    block = max(16, (1 << 22) // wt["V"].shape[0])
    for start in range(0, rows.shape[0], block):
        z = rows[start : start + block] @ vT
        z += wt["c"]
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        tg = targets[start : start + block]
        keep = tg >= 0
        total += float((z[np.arange(len(tg))[keep], tg[keep]] - lse[keep]).sum())
    return total


def numpy_generate(wt, prompt):
    import numpy as np

    h = np.zeros(wt["Wh"].shape[0], dtype=np.float32)
    for tok in prompt:
        h = np.tanh(wt["E"][tok] + wt["Wh"] @ h)
    out = []
    for i in range(GENERATED):
        z = wt["V"] @ h + wt["c"]
        tok = int(np.argmax(z))
        out.append(tok)
        if i + 1 < GENERATED:
            h = np.tanh(wt["E"][tok] + wt["Wh"] @ h)
    return out


# MARK: ONNX Runtime


def onnx_graph(wt, mode, recurrence):
    """mode 'score': ids [T, B], targets [T, B], h0 [B, H] -> log p [T, B].
    mode 'step': ids [T, 1], h0 [1, 1, H] -> next id [1], h [1, 1, H] (the logits of the last step only).
    recurrence 'rnn': ONNX's RNN operator; 'scan': a Scan whose body is tanh(x_t + h·W_hᵀ)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h = wt["Wh"].shape[0]
    init = [
        numpy_helper.from_array(wt["E"], "E"),
        numpy_helper.from_array(np.ascontiguousarray(wt["V"].T), "Vt"),
        numpy_helper.from_array(wt["c"], "c"),
    ]
    nodes = [helper.make_node("Gather", ["E", "ids"], ["x"], axis=0)]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["T", "B"])]
    if mode == "score":
        inputs.append(helper.make_tensor_value_info("targets", TensorProto.INT64, ["T", "B"]))
        inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, ["B", h]))
    else:
        inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, h]))
    # The recurrence: hs [T, B, H] and, for generation, the last state as [1, 1, H].
    if recurrence == "rnn":
        init += [numpy_helper.from_array(np.eye(h, dtype=np.float32)[None], "Wi"),
                 numpy_helper.from_array(wt["Wh"][None], "R")]
        if mode == "score":
            init += [numpy_helper.from_array(np.array([0], np.int64), "axis0"),
                     numpy_helper.from_array(np.array([1], np.int64), "axis1")]
            nodes += [helper.make_node("Unsqueeze", ["h0", "axis0"], ["h0r"]),
                      helper.make_node("RNN", ["x", "Wi", "R", "", "", "h0r"], ["Y", "Yh"], hidden_size=h,
                                       activations=["Tanh"]),
                      helper.make_node("Squeeze", ["Y", "axis1"], ["hs"])]
        else:
            nodes.append(helper.make_node("RNN", ["x", "Wi", "R", "", "", "h0"], ["Y", "h"], hidden_size=h,
                                          activations=["Tanh"]))
    else:
        init.append(numpy_helper.from_array(np.ascontiguousarray(wt["Wh"].T), "WhT"))
        body = helper.make_graph(
            [helper.make_node("MatMul", ["h_in", "WhT"], ["r"]),
             helper.make_node("Add", ["r", "x_t"], ["a"]),
             helper.make_node("Tanh", ["a"], ["h_out"]),
             helper.make_node("Identity", ["h_out"], ["y_t"])],
            "step",
            [helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["B", h]),
             helper.make_tensor_value_info("x_t", TensorProto.FLOAT, ["B", h])],
            [helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["B", h]),
             helper.make_tensor_value_info("y_t", TensorProto.FLOAT, ["B", h])])
        if mode == "score":
            nodes.append(helper.make_node("Scan", ["h0", "x"], ["hT", "hs"], body=body, num_scan_inputs=1))
        else:
            init += [numpy_helper.from_array(np.array([1, h], np.int64), "flat"),
                     numpy_helper.from_array(np.array([1, 1, h], np.int64), "cube")]
            nodes += [helper.make_node("Reshape", ["h0", "flat"], ["h0f"]),
                      helper.make_node("Scan", ["h0f", "x"], ["hT", "hs"], body=body, num_scan_inputs=1),
                      helper.make_node("Reshape", ["hT", "cube"], ["h"])]
    if mode == "score":
        nodes += [
            helper.make_node("MatMul", ["hs", "Vt"], ["zv"]),
            helper.make_node("Add", ["zv", "c"], ["z"]),
            helper.make_node("LogSoftmax", ["z"], ["lp"], axis=-1),
            helper.make_node("Unsqueeze", ["targets", "axis2"], ["tg"]),
            helper.make_node("GatherElements", ["lp", "tg"], ["picked"], axis=2),
            helper.make_node("Squeeze", ["picked", "axis2"], ["logp"]),
        ]
        init.append(numpy_helper.from_array(np.array([2], np.int64), "axis2"))
        outputs = [helper.make_tensor_value_info("logp", TensorProto.FLOAT, ["T", "B"])]
    else:
        nodes += [
            helper.make_node("Reshape", ["h", "shape"], ["hv"]),
            helper.make_node("MatMul", ["hv", "Vt"], ["zv"]),
            helper.make_node("Add", ["zv", "c"], ["z"]),
            helper.make_node("ArgMax", ["z"], ["next"], axis=1, keepdims=0),
        ]
        init.append(numpy_helper.from_array(np.array([1, h], np.int64), "shape"))
        outputs = [helper.make_tensor_value_info("next", TensorProto.INT64, [1]),
                   helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, h])]
    graph = helper.make_graph(nodes, f"{mode}-{recurrence}", inputs, outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort_configs(threads):
    """Every configuration tried for ONNX Runtime: graph x execution mode (parallel needs 2+ threads)."""
    modes = ["sequential"] + (["parallel"] if threads > 1 else [])
    return [(recurrence, mode) for recurrence in ("rnn", "scan") for mode in modes]


def ort_session(blob, threads, execution):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if execution == "parallel":
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.inter_op_num_threads = threads
    else:
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    return ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])


def ort_score(session, batch):
    import numpy as np

    ids = np.ascontiguousarray(batch.T)  # [T, B]
    targets = np.concatenate([batch[:, 1:], batch[:, :1]], axis=1).T.copy()
    h0 = np.zeros((batch.shape[0], session.get_inputs()[2].shape[1]), dtype=np.float32)
    (logp,) = session.run(None, {"ids": ids, "targets": targets, "h0": h0})
    return float(logp[:-1].sum())  # the last row has no target


def ort_generate(session, prompt, h):
    import numpy as np

    state = np.zeros((1, 1, h), dtype=np.float32)
    nxt, state = session.run(None, {"ids": prompt.reshape(-1, 1), "h0": state})
    out = [int(nxt[0])]
    for _ in range(GENERATED - 1):
        nxt, state = session.run(None, {"ids": nxt.reshape(1, 1), "h0": state})
        out.append(int(nxt[0]))
    return out


# MARK: driver


def record_cli(results, cli, folder, size, batch, threads, env_extra, repeats, round_index, dtype="f32"):
    """Times whole `rnnkit score` processes on the batch written as text, one sequence per line, with
    the model whose V is stored as `dtype` (f32, or i8 for the `--dtype int8` file)."""
    path = os.path.join(folder, f"{size}-batch.txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            for row in batch:
                f.write(" ".join(f"w{int(t)}" for t in row) + "\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), **env_extra)
    model = os.path.join(folder, f"{size}-f32.rnn" if dtype == "f32" else f"{size}-{dtype}v.rnn")
    command = [cli, "score", model, path, "--json"]

    def run():
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    first = run()
    med, best = timed(repeats, run)
    tokens = batch.shape[0] * batch.shape[1]
    predicted = first["predicted"]
    results.append({"impl": "rnnkit-cli", "size": size, "task": "b", "dtype": dtype, "threads": threads,
                    "round": round_index, "median_s": med, "min_s": best, "tokens": tokens,
                    "tokens_per_s": tokens / med, "check": -first["cross_entropy"] * predicted})
    print(json.dumps(results[-1]), file=sys.stderr)



def swift_bench(binary, args, threads, env_extra):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), **env_extra)
    out = subprocess.run([binary, *args], env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    # numpy's bundled OpenBLAS knows this CPU; a forced OPENBLAS_CORETYPE meant for Debian's older
    # build would slow it. This process only runs numpy and ONNX Runtime, so drop both variables
    # here (before numpy loads) and pass the caller's values on to the RNNKit runs.
    saved = {k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True, help="the rnnkit-bench executable")
    parser.add_argument("--bench-before", default=None,
                        help="another rnnkit-bench build (an older commit) to run in the same rounds")
    parser.add_argument("--cli", default=None, help="the release rnnkit executable, for whole-process scoring")
    parser.add_argument("--dir", default="bench-out")
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", default="a,b,c", help="which of the tasks a, b and c to run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole comparison; ratios are taken within each round, then the median")
    parser.add_argument("--out", default=None, help="write all results as JSON here")
    args = parser.parse_args()
    ensure_packages()
    import numpy as np
    import onnxruntime as ort
    from threadpoolctl import threadpool_info, threadpool_limits

    # RNNKit's own OpenBLAS loader picks a kernel set unless OPENBLAS_CORETYPE is given; the caller's
    # value (if any) goes to the RNNKit runs unchanged.
    rnnkit_env = saved
    results = []
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}; RNNKit OpenBLAS env {rnnkit_env or 'default'}")
    for info in threadpool_info():
        print(f"numpy BLAS: {info.get('internal_api')} {info.get('version')} core {info.get('architecture')}")
    thread_counts = [int(t) for t in args.threads.split(",")]
    data = {size: load(args.dir, size) for size in args.sizes.split(",")}
    blobs = {}

    def blob(size, mode, recurrence):
        """The serialized graph, built on first use."""
        if (size, mode, recurrence) not in blobs:
            blobs[(size, mode, recurrence)] = onnx_graph(data[size][0], mode, recurrence)
        return blobs[(size, mode, recurrence)]

    benches = [("rnnkit", args.bench)] + ([("rnnkit-before", args.bench_before)] if args.bench_before else [])
    for round_index in range(args.rounds):
        for threads in thread_counts:
            # The sgemm peak is OpenBLAS's best: with the caller's settings, and, when those force a
            # kernel set or cache size, also with RNNKit's own choice; the faster counts.
            envs = [rnnkit_env] + ([{}] if rnnkit_env else [])
            peaks = [r for env in envs
                     for r in swift_bench(args.bench, ["peak", "--repeats", str(args.repeats)], threads, env)]
            sgemm = [r for r in peaks if r.get("measure") == "sgemm"]
            best = max(sgemm, key=lambda r: r["median_gflops"])
            for r in sgemm:
                print(f"sgemm {threads} thread(s), OpenBLAS core {r.get('core')}: {r['median_gflops']:.1f} GFLOP/s"
                      + ("  (the peak)" if r is best else ""), file=sys.stderr)
            results.append(dict(best, round=round_index))
            results += [dict(r, round=round_index) for r in peaks if r.get("measure") != "sgemm"][:2]
            with threadpool_limits(limits=threads):
                a = np.ones((4096, 4096), np.float32)
                med, best = timed(args.repeats, lambda: a @ a)
            results.append({"impl": "numpy", "measure": "sgemm", "threads": threads, "round": round_index,
                            "median_gflops": 2 * 4096**3 / med / 1e9, "best_gflops": 2 * 4096**3 / best / 1e9})
        # numpy's OpenBLAS threads spin for a while after its last product; the next process
        # measured (RNNKit's first run) would share a core with them. Let them park first.
        time.sleep(0.5)
        for size, (wt, batch, prompt) in data.items():
            x, h = SIZES[size]
            flops = 2.0 * x * h
            for threads in thread_counts:
                tasks = args.tasks.split(",")
                swift_tasks = ",".join(t for t in tasks if t in ("a", "b")) + (",c,c16" if "c" in tasks else "")
                # int8 V (RNNKit only) on the same tasks, in the same run.
                swift_tasks += "".join(f",{t}8" for t in tasks if t in ("a", "b", "c"))
                swift_tasks += ",cb16" if "c" in tasks else ""
                # The builds take turns going first, so neither always runs right after something else.
                for label, binary in benches if round_index % 2 == 0 else benches[::-1]:
                    for r in swift_bench(binary, ["run", "--size", size, "--dir", args.dir, "--repeats",
                                                  str(args.repeats), "--tasks", swift_tasks.strip(",")],
                                         threads, rnnkit_env):
                        results.append(dict(r, impl=label, round=round_index))
                        print(json.dumps(results[-1]), file=sys.stderr)
                if args.cli and size == "small" and "b" in tasks:
                    for dtype in ("f32", "i8"):
                        record_cli(results, args.cli, args.dir, size, batch, threads, rnnkit_env, args.repeats,
                                   round_index, dtype)
                work = [
                    ("a", LENGTH, "score", lambda s: ort_score(s, batch[:1]), lambda: numpy_score(wt, batch[:1])),
                    ("b", SEQUENCES * LENGTH, "score", lambda s: ort_score(s, batch), lambda: numpy_score(wt, batch)),
                    ("c", GENERATED, "step", lambda s: sum(ort_generate(s, prompt, h)),
                     lambda: sum(numpy_generate(wt, prompt))),
                ]
                for task, tokens, mode, ort_fn, np_fn in work:
                    if task not in tasks:
                        continue
                    repeats = max(1, args.repeats // 2) if task == "b" else args.repeats

                    def record(impl, med, best, check, **extra):
                        results.append({"impl": impl, "size": size, "task": task, "dtype": "f32",
                                        "threads": threads, "round": round_index, "median_s": med, "min_s": best,
                                        "tokens": tokens, "tokens_per_s": tokens / med,
                                        "gflops": flops * tokens / med / 1e9, "check": check, **extra})
                        print(json.dumps(results[-1]), file=sys.stderr)

                    # ONNX Runtime: every configuration in turn (one session alive at a time, since
                    # the arena keeps what a run allocated), and the fastest is its result.
                    tried = {}
                    for recurrence, execution in ort_configs(threads):
                        session = ort_session(blob(size, mode, recurrence), threads, execution)
                        check = ort_fn(session)
                        med, best = timed(repeats, lambda: ort_fn(session))
                        tried[f"{recurrence}/{execution}"] = (med, best, check)
                        del session
                    config = min(tried, key=lambda k: tried[k][0])
                    record("onnxruntime", *tried[config], config=config,
                           configs={k: v[0] for k, v in tried.items()})
                    with threadpool_limits(limits=threads):
                        check = np_fn()
                        med, best = timed(repeats, np_fn)
                    record("numpy", med, best, check)
    report(results)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def report(results):
    rounds = sorted({r.get("round", 0) for r in results})

    def find(round_index, **kw):
        for r in results:
            if r.get("round", 0) == round_index and all(r.get(k) == v for k, v in kw.items()):
                return r
        return None

    def over_rounds(fn):
        """The median over rounds of fn(round), skipping rounds where it is None."""
        values = [v for v in (fn(i) for i in rounds) if v is not None]
        return median(values) if values else float("nan")

    threads_list = sorted({r["threads"] for r in results})
    print(f"\n== machine (medians of runs, then of {len(rounds)} round(s))")
    for t in threads_list:
        def value(key, **kw):
            return over_rounds(lambda i: (find(i, threads=t, **kw) or {}).get(key))
        core = (find(rounds[0], impl="openblas", measure="sgemm", threads=t) or {}).get("core")
        print(f"{t} thread(s): sgemm OpenBLAS(Debian, {core}) {value('median_gflops', impl='openblas', measure='sgemm'):.1f}"
              f" GFLOP/s (best {value('best_gflops', impl='openblas', measure='sgemm'):.1f}), numpy "
              f"{value('median_gflops', impl='numpy', measure='sgemm'):.1f} "
              f"(best {value('best_gflops', impl='numpy', measure='sgemm'):.1f}); read 10 MB "
              f"{value('median_gbps', impl='memory', measure='l3_10MB'):.1f} GB/s, 1 GiB "
              f"{value('median_gbps', impl='memory', measure='memory_1GiB'):.1f} GB/s")
    before = any(r.get("impl") == "rnnkit-before" for r in results)
    print("\n== tasks: tokens/s (median over rounds); ratios and %peak taken within each round, then the median;"
          " %peak against the faster sgemm above (OpenBLAS at its best kernel set, or numpy's)")
    header = (f"{'size':6} {'task':5} {'thr':>3} {'RNNKit':>9} {'ORT':>9} {'numpy':>9} {'RNNKit/ORT':>10} "
              f"{'%peak':>6} {'f16 V':>9} {'f16/ORT':>8} {'t/V-read':>9} {'i8 V':>9} {'i8/ORT':>7} {'bf16 V':>9} {'bf16/ORT':>8}")
    if before:
        header += f" {'before':>9} {'bef/ORT':>8} {'bef16/ORT':>9} {'bef i8/ORT':>10}"
    print(header + f"  {'ORT graph':<16} checks")
    for size in ("tiny", "small", "large"):
        for task in ("a", "b", "c"):
            for t in threads_list:
                def get(i, impl, dtype="f32"):
                    return find(i, impl=impl, size=size, task=task, threads=t, dtype=dtype)
                if not any(get(i, "rnnkit") and get(i, "onnxruntime") for i in rounds):
                    continue
                rate = lambda impl, dtype="f32": over_rounds(lambda i: (get(i, impl, dtype) or {}).get("tokens_per_s"))

                def ratio(i, dtype="f32", impl="rnnkit"):
                    rk, ox = get(i, impl, dtype), get(i, "onnxruntime")
                    return rk["tokens_per_s"] / ox["tokens_per_s"] if rk and ox else None

                line = (f"{size:6} {task:5} {t:>3} {rate('rnnkit'):>9.0f} {rate('onnxruntime'):>9.0f} "
                        f"{rate('numpy'):>9.0f} {over_rounds(ratio):>10.2f} ")
                if task in ("a", "b"):
                    def peak(i):
                        rk = get(i, "rnnkit")
                        sg = find(i, impl="openblas", measure="sgemm", threads=t)
                        npy = find(i, impl="numpy", measure="sgemm", threads=t)
                        best = max([r["median_gflops"] for r in (sg, npy) if r] or [0])
                        return 100 * rk["gflops"] / best if rk and best else None
                    line += f"{over_rounds(peak):>5.0f}% {'':>9} {'':>8} {'':>9}"
                else:
                    x, h = SIZES[size]
                    where = "l3_10MB" if size != "large" else "memory_1GiB"

                    def bound(i):
                        rk = get(i, "rnnkit")
                        bw = find(i, impl="memory", measure=where, threads=t)
                        if not (rk and bw):
                            return None
                        return (rk["median_s"] / rk["tokens"]) / (x * h * 4 / (bw["median_gbps"] * 1e9))
                    line += (f"{'':>6} {rate('rnnkit', 'f16'):>9.0f} {over_rounds(lambda i: ratio(i, 'f16')):>8.2f} "
                             f"{over_rounds(bound):>8.2f}x")
                line += f" {rate('rnnkit', 'i8'):>9.0f} {over_rounds(lambda i: ratio(i, 'i8')):>7.2f}"
                line += f" {rate('rnnkit', 'bf16'):>9.0f} {over_rounds(lambda i: ratio(i, 'bf16')):>8.2f}"
                if before:
                    line += (f" {rate('rnnkit-before'):>9.0f} "
                             f"{over_rounds(lambda i: ratio(i, impl='rnnkit-before')):>8.2f} ")
                    line += (f"{over_rounds(lambda i: ratio(i, 'f16', 'rnnkit-before')):>9.2f}" if task == "c"
                             else f"{'':>9}")
                    line += f" {over_rounds(lambda i: ratio(i, 'i8', 'rnnkit-before')):>10.2f}"
                configs = sorted({r["config"] for r in results if r.get("impl") == "onnxruntime"
                                  and r.get("size") == size and r.get("task") == task and r.get("threads") == t})
                line += f"  {','.join(configs):<16}"
                def agree(dtypes):
                    checks = [r["check"] for r in results if r.get("size") == size and r.get("task") == task
                              and r.get("threads") == t and r.get("dtype") in dtypes]
                    return max(checks) - min(checks) <= 1e-3 * max(1.0, abs(checks[0])) if checks else None
                line += f" {'agree' if agree({'f32', 'f16'}) else 'DIFFER'}"
                # int8 V changes the logits a little: report whether its check still matches f32's.
                for low in ("i8", "bf16"):
                    if any(get(i, "rnnkit", low) for i in rounds):
                        line += f"; {low} {'same' if agree({'f32', low}) else 'differs'}"
                print(line)
    cpu_rows = [r for r in results if r.get("impl") == "rnnkit" and r.get("task") == "c" and "cpu_median_s" in r]
    if cpu_rows:
        # On a shared machine wall-clock times include the time other processes held the cores;
        # CPU times do not. Both sides here are CPU times summed over the threads: a generated
        # token's, and that of reading V once (the 1 GiB read, or 10 MB for SMALL, at its CPU rate).
        print("\n== RNNKit generation in CPU time (robust to other load): time per token / time to read V once")
        for size in ("tiny", "small", "large"):
            for t in threads_list:
                x, h = SIZES.get(size, (0, 0))
                where = "l3_10MB" if size != "large" else "memory_1GiB"
                cells = []
                for impl, dtype in (("rnnkit", "f32"), ("rnnkit", "f16"), ("rnnkit-before", "f32")):
                    def cpu_bound(i):
                        rk = find(i, impl=impl, size=size, task="c", threads=t, dtype=dtype)
                        bw = find(i, impl="memory", measure=where, threads=t)
                        if not (rk and bw and "cpu_median_s" in rk and bw.get("cpu_median_gbps")):
                            return None
                        read = x * h * 4 * t / (bw["cpu_median_gbps"] * 1e9)
                        return (rk["cpu_median_s"] / rk["tokens"]) / read
                    value = over_rounds(cpu_bound)
                    if value == value:
                        cells.append(f"{'before ' if impl != 'rnnkit' else ''}{dtype} {value:.2f}x")
                if cells:
                    # What the runtime measured and kept, per round: V's thread count (0: nothing
                    # chosen) and the prefetch distance of large f32 products.
                    kept = [find(i, impl="rnnkit", size=size, task="c", threads=t, dtype="f32") for i in rounds]
                    kept = [f"{r['split_threads']}/{r['prefetch_distance']}" for r in kept
                            if r and "split_threads" in r]
                    note = f"; kept threads/prefetch bytes per round: {', '.join(kept)}" if kept else ""
                    print(f"{size:6} c {t:>3}  " + ", ".join(cells) + " (f16 against reading V in f32)" + note)
    # On a busy machine wall-clock rates swing with the load; CPU seconds (all threads) much less. Work
    # per CPU-second against the sgemm's shows how much of RNNKit's work is the matrix product's.
    if any(r.get("cpu_median_s") for r in results if r.get("impl") == "rnnkit"):
        # The reference is sgemm with one thread: OpenBLAS's threads spin while they wait, so its
        # CPU seconds with more threads overstate its work.
        print("\n== CPU time: RNNKit's GFLOP per CPU-second (all threads) against one-thread sgemm's"
              " (f32 V; int8 V, above 100% since vpdpbusd does 4 times an FMA's work; the before build's int8 V)")
        for size in ("tiny", "small", "large"):
            for task in ("a", "b"):
                for t in threads_list:
                    def efficiency(i, dtype="f32", impl="rnnkit"):
                        rk = find(i, impl=impl, size=size, task=task, threads=t, dtype=dtype)
                        sg = find(i, impl="openblas", measure="sgemm", threads=min(threads_list))
                        if not (rk and sg and rk.get("cpu_median_s") and sg.get("cpu_gflops")):
                            return None
                        return 100 * rk["gflops"] * rk["median_s"] / rk["cpu_median_s"] / sg["cpu_gflops"]
                    value = over_rounds(efficiency)
                    if value == value:
                        line = f"{size:6} {task:5} {t:>3}  {value:5.1f}%"
                        int8 = over_rounds(lambda i: efficiency(i, "i8"))
                        if int8 == int8:
                            line += f"   i8 V {int8:6.1f}%"
                        before = over_rounds(lambda i: efficiency(i, "i8", "rnnkit-before"))
                        if before == before:
                            line += f"   before i8 V {before:6.1f}%"
                        print(line)
    cli = [r for r in results if r.get("impl") == "rnnkit-cli"]
    if cli:
        print("\n== whole process: `rnnkit score` of the 32 sequences (SMALL), against ONNX Runtime in-process (task b)")
        for dtype, label in (("f32", "f32 model"), ("i8", "int8 V model")):
            for t in threads_list:
                def cli_ratio(i):
                    c = find(i, impl="rnnkit-cli", size="small", task="b", threads=t, dtype=dtype)
                    o = find(i, impl="onnxruntime", size="small", task="b", threads=t)
                    return o["median_s"] / c["median_s"] if c and o else None
                seconds = over_rounds(lambda i: (find(i, impl="rnnkit-cli", size="small", threads=t, dtype=dtype)
                                                 or {}).get("median_s"))
                if seconds != seconds:
                    continue
                print(f"{t} thread(s), {label}: rnnkit score {seconds * 1000:.1f} ms, "
                      f"ONNX Runtime f32 time / rnnkit score time {over_rounds(cli_ratio):.2f}")
    ort = [r for r in results if r.get("impl") == "onnxruntime" and r.get("configs")]
    if ort:
        print("\n== ONNX Runtime: median s of each configuration tried (round 0)")
        for r in ort:
            if r.get("round", 0) == rounds[0]:
                tried = ", ".join(f"{k} {v:.4f}" for k, v in r["configs"].items())
                print(f"{r['size']:6} {r['task']:5} {r['threads']:>3}  {tried}")


if __name__ == "__main__":
    main()
