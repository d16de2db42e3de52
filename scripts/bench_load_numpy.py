#!/usr/bin/env python3
"""The comparison anchor of scripts/bench_load.sh: `rnnkit predict` written with numpy.

Usage: bench_load_numpy.py MODEL.safetensors TEXT [--top K]

Maps the safetensors file (numpy.memmap over the offsets in its header: zero-copy, as RNNKit
maps .rnn files), tokenizes TEXT with the vocabulary RNNKit stores in the metadata (lower-cased
words), runs h_t = tanh(W_h·h_{t-1} + W_x[:, x_t] + b), then prints the K most likely next tokens
of softmax(V·h_T + c). numpy's own BLAS does the products, with its default threads.
"""
import json
import struct
import sys

import numpy as np


def main():
    path, text = sys.argv[1], sys.argv[2]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 10
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    meta = header.pop("__metadata__")
    assert meta["rnn.hidden_activation"] == "tanh" and meta["rnn.output_activation"] == "softmax"
    base = 8 + length
    data = np.memmap(path, dtype=np.uint8, mode="r")

    def tensor(name):
        entry = header[name]
        assert entry["dtype"] == "F32"
        start, end = entry["data_offsets"]
        return data[base + start : base + end].view(np.float32).reshape(entry["shape"])

    W, b, V, c = tensor("W"), tensor("b"), tensor("V"), tensor("c")
    hidden = b.shape[0]
    vocabulary = json.loads(meta["rnnkit.vocabulary"])
    index = {token: i for i, token in enumerate(vocabulary)}
    unknown = index.get(meta.get("tokenizer.unknown_token"))
    ids = [index.get(word, unknown) for word in text.lower().split()]
    h = np.zeros(hidden, np.float32)
    W_h = W[:, :hidden]
    for t in ids:
        h = np.tanh(W_h @ h + W[:, hidden + t] + b)
    z = V @ h + c
    p = np.exp(z - z.max())
    p /= p.sum()
    best = np.argpartition(-p, top)[:top]
    best = best[np.argsort(-p[best], kind="stable")]
    for i in best:
        print(f"{vocabulary[i]}\t{i}\t{p[i]:.6g}")


if __name__ == "__main__":
    main()
