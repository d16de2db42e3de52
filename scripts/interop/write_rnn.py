#!/usr/bin/env python3
"""Writes an .rnn file from docs/FORMAT.md alone (numpy + xxhash): a random Elman token model.

Usage: write_rnn.py OUT --vocab N --hidden H [--seed S] [--dtype f32|f16]
Used to build large models for measurements, and by tests as a second, independent writer.
"""
import argparse
import struct

import numpy as np
import xxhash

MAGIC = b"\x89RNN\r\n\x1a\n"
CODES = {"f32": (0, "<f4"), "f16": (1, "<f2"), "u8": (4, "u1"), "u32": (5, "<u4")}


def align64(n):
    return (n + 63) & ~63


def meta_entry(key, value):
    k = key.encode()
    if isinstance(value, bool):
        tag, raw = 4, bytes([1 if value else 0])
    elif isinstance(value, str):
        tag, raw = 1, value.encode()
    else:
        raise TypeError(value)
    return struct.pack("<I", len(k)) + k + bytes([tag]) + struct.pack("<Q", len(raw)) + raw


def write(path, metadata, tensors):
    """tensors: list of (name, dtype name, numpy array)."""
    meta = struct.pack("<I", len(metadata)) + b"".join(meta_entry(k, v) for k, v in metadata)
    table_len = 4 + sum(4 + len(n.encode()) + 2 + 8 * a.ndim + 24 for n, _, a in tensors)
    header_len = len(meta) + table_len
    data_off = align64(64 + header_len)
    tensors = [(n, d, np.ascontiguousarray(a, dtype=CODES[d][1])) for n, d, a in tensors]
    offsets, cursor = [], data_off
    for _, _, a in tensors:
        start = align64(cursor)
        offsets.append(start)
        cursor = start + a.nbytes
    table = struct.pack("<I", len(tensors))
    blobs = []
    for (name, dtype, a), off in zip(tensors, offsets):
        code, np_dtype = CODES[dtype]
        body = np.ascontiguousarray(a, dtype=np_dtype).tobytes()
        blobs.append(body)
        n = name.encode()
        table += struct.pack("<I", len(n)) + n + bytes([code, a.ndim])
        table += struct.pack(f"<{a.ndim}Q", *a.shape)
        table += struct.pack("<QQQ", off, len(body), xxhash.xxh64(body).intdigest())
    header = meta + table
    pre = MAGIC + struct.pack("<HHIQQQ", 1, 0, 0x0A0B0C0D, header_len, data_off, cursor - data_off)
    pre += bytes(16)
    pre += struct.pack("<Q", xxhash.xxh64(pre + header).intdigest())
    with open(path, "wb") as f:
        f.write(pre + header + bytes(data_off - 64 - header_len))
        pos = data_off
        for body, off in zip(blobs, offsets):
            f.write(bytes(off - pos))
            f.write(body)
            pos = off + len(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="f32", choices=["f32", "f16"])
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    h, x = a.hidden, a.vocab
    tokens = ["<unk>"] + [f"w{i}" for i in range(1, x)]
    blob = "".join(tokens).encode()
    offs = np.cumsum([0] + [len(t.encode()) for t in tokens]).astype(np.uint32)
    scale = 1.0 / np.sqrt(h)
    tensors = [
        ("W", a.dtype, (rng.standard_normal((h, h + x), dtype=np.float32) * scale)),
        ("b", a.dtype, np.zeros(h, np.float32)),
        ("V", a.dtype, (rng.standard_normal((x, h), dtype=np.float32) * scale)),
        ("c", a.dtype, np.zeros(x, np.float32)),
        ("vocab.offsets", "u32", offs),
        ("vocab.bytes", "u8", np.frombuffer(blob, np.uint8)),
    ]
    metadata = [
        ("rnn.architecture", "elman"), ("rnn.hidden_activation", "tanh"), ("rnn.output_activation", "softmax"),
        ("rnn.input_kind", "tokens"), ("tokenizer.level", "word"), ("tokenizer.lowercase", True),
        ("tokenizer.split_punctuation", True), ("tokenizer.unknown_token", "<unk>"),
        ("general.name", f"random-{x}x{h}"),
    ]
    write(a.out, metadata, tensors)


if __name__ == "__main__":
    main()
