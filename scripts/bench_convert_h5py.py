#!/usr/bin/env python3
"""The same conversion as `rnnkit convert`, in h5py + numpy + xxhash, as a speed baseline.

Usage: bench_convert_h5py.py to-rnn IN.h5 OUT.rnn
       bench_convert_h5py.py to-h5 IN.rnn OUT.h5

to-rnn reads the plain layout (docs/HDF5.md) and writes a .rnn file (docs/FORMAT.md) with XXH64
checksums; to-h5 reads a .rnn file, verifies its checksums and writes the plain layout. Like
rnnkit, both write to a temporary file, fsync it and rename it into place.
"""
import os
import struct
import sys

import h5py
import numpy as np
import xxhash

MAGIC = b"\x89RNN\r\n\x1a\n"


def align64(n):
    return (n + 63) & ~63


def entry(key, tag, raw):
    k = key.encode()
    return struct.pack("<I", len(k)) + k + bytes([tag]) + struct.pack("<Q", len(raw)) + raw


def atomic(path, write):
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_rnn(src, dst):
    with h5py.File(src, "r") as f:
        tensors = [(name, np.ascontiguousarray(f[name][()], dtype="<f4")) for name in ["W", "b", "V", "c"]]
        meta = [
            entry("rnn.architecture", 1, b"elman"),
            entry("rnn.hidden_activation", 1, str(f.attrs["hidden_activation"]).encode()),
            entry("rnn.output_activation", 1, str(f.attrs["output_activation"]).encode()),
        ]
        if "vocab" in f:
            tokens = [t.encode() if isinstance(t, str) else t for t in f["vocab"].asstr()[()]]
            lengths = np.fromiter((len(t) for t in tokens), dtype="<u4", count=len(tokens))
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("<u4")
            blob = np.frombuffer(b"".join(tokens), dtype="u1")
            tensors += [("vocab.offsets", offsets), ("vocab.bytes", blob)]
            meta += [entry("rnn.input_kind", 1, b"tokens"), entry("tokenizer.level", 1, b"word")]
        else:
            meta.append(entry("rnn.input_kind", 1, b"dense"))
    codes = {np.dtype("<f4"): 0, np.dtype("<u4"): 5, np.dtype("u1"): 4}
    header_len = 4 + sum(len(m) for m in meta) + 4
    header_len += sum(4 + len(n.encode()) + 2 + 8 * a.ndim + 24 for n, a in tensors)
    data_off = align64(64 + header_len)
    offsets, cursor = [], data_off
    for _, a in tensors:
        cursor = align64(cursor)
        offsets.append(cursor)
        cursor += a.nbytes
    header = struct.pack("<I", len(meta)) + b"".join(meta) + struct.pack("<I", len(tensors))
    for (name, a), off in zip(tensors, offsets):
        n = name.encode()
        header += struct.pack("<I", len(n)) + n + bytes([codes[a.dtype], a.ndim])
        header += b"".join(struct.pack("<Q", d) for d in a.shape)
        header += struct.pack("<QQQ", off, a.nbytes, xxhash.xxh64(memoryview(a).cast("B")).intdigest())
    pre = MAGIC + struct.pack("<HHIQQQ", 1, 0, 0x0A0B0C0D, len(header), data_off, cursor - data_off) + bytes(16)
    pre += struct.pack("<Q", xxhash.xxh64(pre + header).intdigest())

    def write(tmp):
        with open(tmp, "wb") as out:
            out.write(pre + header)
            position = 64 + len(header)
            for (_, a), off in zip(tensors, offsets):
                out.write(bytes(off - position))
                out.write(memoryview(a).cast("B"))
                position = off + a.nbytes

    atomic(dst, write)


def to_h5(src, dst):
    data = np.memmap(src, dtype="u1", mode="r")
    raw = memoryview(data)
    if bytes(raw[:8]) != MAGIC:
        sys.exit(f"{src}: not an .rnn file")
    _, _, _, header_len, data_off, _ = struct.unpack_from("<HHIQQQ", raw, 8)
    (stored,) = struct.unpack_from("<Q", raw, 56)
    if xxhash.xxh64(bytes(raw[:56]) + bytes(raw[64 : 64 + header_len])).intdigest() != stored:
        sys.exit(f"{src}: header checksum mismatch")
    pos = 64
    (count,) = struct.unpack_from("<I", raw, pos)
    pos += 4
    meta = {}
    for _ in range(count):
        (k,) = struct.unpack_from("<I", raw, pos)
        key = bytes(raw[pos + 4 : pos + 4 + k]).decode()
        pos += 4 + k
        tag = raw[pos]
        (v,) = struct.unpack_from("<Q", raw, pos + 1)
        meta[key] = bytes(raw[pos + 9 : pos + 9 + v])
        pos += 9 + v
    (count,) = struct.unpack_from("<I", raw, pos)
    pos += 4
    arrays = {}
    types = {0: "<f4", 1: "<f2", 3: "<f8", 4: "u1", 5: "<u4"}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", raw, pos)
        name = bytes(raw[pos + 4 : pos + 4 + n]).decode()
        pos += 4 + n
        code, rank = raw[pos], raw[pos + 1]
        shape = struct.unpack_from(f"<{rank}Q", raw, pos + 2)
        pos += 2 + 8 * rank
        off, length, checksum = struct.unpack_from("<QQQ", raw, pos)
        pos += 24
        if xxhash.xxh64(raw[off : off + length]).intdigest() != checksum:
            sys.exit(f"{src}: tensor {name} checksum mismatch")
        arrays[name] = np.frombuffer(raw[off : off + length], dtype=types[code]).reshape(shape)

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            for name in ["W", "b", "V", "c"]:
                f.create_dataset(name, data=arrays[name].astype("<f4", copy=False))
            if "vocab.offsets" in arrays:
                o, blob = arrays["vocab.offsets"], arrays["vocab.bytes"].tobytes()
                tokens = [blob[o[i] : o[i + 1]].decode() for i in range(len(o) - 1)]
                f.create_dataset("vocab", data=tokens, dtype=h5py.string_dtype("utf-8"))
            f.attrs["hidden_activation"] = meta["rnn.hidden_activation"].decode()
            f.attrs["output_activation"] = meta["rnn.output_activation"].decode()

    atomic(dst, write)


if __name__ == "__main__":
    mode, src, dst = sys.argv[1:4]
    (to_rnn if mode == "to-rnn" else to_h5)(src, dst)
