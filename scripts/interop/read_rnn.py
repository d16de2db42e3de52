#!/usr/bin/env python3
"""An independent .rnn reader, written from docs/FORMAT.md alone (numpy + xxhash).

Usage: read_rnn.py FILE [--format-1.0]

Prints JSON: version, metadata, and per tensor its dtype, shape and values (as float64 for float
dtypes). Format 1.1 block checksums are checked (and the table is not listed), unless
--format-1.0 asks it to read as a 1.0 reader does. Exits 1 with a one-line error on any violation. The test suite runs it on the golden files
to prove the spec is complete enough for a third party to implement.
"""
import json
import struct
import sys

import numpy as np
import xxhash

MAGIC = b"\x89RNN\r\n\x1a\n"
DTYPES = {0: "<f4", 1: "<f2", 3: "<f8", 4: "u1", 5: "<u4", 6: "<i4", 7: "<i8", 8: "i1"}


def fail(path, message):
    print(f"{path}: {message}", file=sys.stderr)
    sys.exit(1)


def align64(n):
    return (n + 63) & ~63


def read(path, as_1_0=False):
    data = open(path, "rb").read()
    if data[:8] != MAGIC:
        fail(path, "bad magic")
    major, minor, bom, header_len, data_off, data_len = struct.unpack_from("<HHIQQQ", data, 8)
    if major != 1:
        fail(path, f"major version {major}")
    if bom != 0x0A0B0C0D:
        fail(path, "byte order")
    if data_off != align64(64 + header_len) or data_off + data_len != len(data):
        fail(path, "sizes")
    (stored,) = struct.unpack_from("<Q", data, 56)
    if xxhash.xxh64(data[:56] + data[64 : 64 + header_len]).intdigest() != stored:
        fail(path, "header checksum")
    pos = 64
    (count,) = struct.unpack_from("<I", data, pos)
    pos += 4
    metadata = {}
    for _ in range(count):
        (klen,) = struct.unpack_from("<I", data, pos)
        key = data[pos + 4 : pos + 4 + klen].decode("utf-8")
        pos += 4 + klen
        tag = data[pos]
        (vlen,) = struct.unpack_from("<Q", data, pos + 1)
        raw = data[pos + 9 : pos + 9 + vlen]
        pos += 9 + vlen
        if tag == 1:
            value = raw.decode("utf-8")
        elif tag == 2:
            (value,) = struct.unpack("<q", raw)
        elif tag == 3:
            (value,) = struct.unpack("<d", raw)
        elif tag == 4:
            value = bool(raw[0])
        elif tag == 5:
            (n,) = struct.unpack_from("<I", raw, 0)
            value, p = [], 4
            for _ in range(n):
                (slen,) = struct.unpack_from("<I", raw, p)
                value.append(raw[p + 4 : p + 4 + slen].decode("utf-8"))
                p += 4 + slen
        else:
            value = {"opaque_type": tag, "bytes": len(raw)}
        metadata[key] = value
    (count,) = struct.unpack_from("<I", data, pos)
    pos += 4
    tensors = {}
    cursor = data_off
    for _ in range(count):
        (nlen,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4 : pos + 4 + nlen].decode("utf-8")
        pos += 4 + nlen
        dtype, rank = data[pos], data[pos + 1]
        pos += 2
        shape = list(struct.unpack_from(f"<{rank}Q", data, pos))
        pos += 8 * rank
        offset, length, checksum = struct.unpack_from("<QQQ", data, pos)
        pos += 24
        if offset != align64(cursor):
            fail(path, f"tensor {name} layout")
        body = data[offset : offset + length]
        if xxhash.xxh64(body).intdigest() != checksum:
            fail(path, f"tensor {name} checksum")
        cursor = offset + length
        if dtype == 2:  # bf16: the top half of a float32
            values = (np.frombuffer(body, "<u2").astype(np.uint32) << 16).view("<f4")
        elif dtype in DTYPES:
            values = np.frombuffer(body, DTYPES[dtype])
        else:
            values = None
        entry = {"dtype": dtype, "shape": shape, "offset": offset, "length": length}
        if values is not None:
            entry["values"] = values.astype(np.float64).reshape(shape).tolist()
        tensors[name] = entry
    if pos != 64 + header_len or cursor != len(data):
        fail(path, "header or data section has unused bytes")
    # Format 1.1 (section 4a): the last tensor holds the XXH64 of every 4096-byte block of the
    # tensors before it. It is not one of the model's tensors; in a 1.0 file it is ignored.
    # With --format-1.0 it reads as a 1.0 reader would: the table is one more unknown tensor.
    last = list(tensors)[-1] if tensors else None
    table = None if as_1_0 else tensors.pop("format.block_checksums", None)
    if table is not None and minor >= 1:
        if last != "format.block_checksums":
            fail(path, "block checksums are not the last tensor")
        stored = np.frombuffer(data[table["offset"] : table["offset"] + table["length"]], "<u8")
        blocks = []
        for t in tensors.values():
            for start in range(0, t["length"], 4096):
                body = data[t["offset"] + start : t["offset"] + min(start + 4096, t["length"])]
                blocks.append(xxhash.xxh64(body).intdigest())
        if table["dtype"] != 4 or table["shape"] != [8 * len(blocks)] or stored.tolist() != blocks:
            fail(path, "block checksums")
    for t in tensors.values():
        del t["offset"], t["length"]
    vocab = None
    if "vocab.offsets" in tensors:
        offs = [int(v) for v in tensors["vocab.offsets"]["values"]]
        blob = bytes(int(v) for v in tensors["vocab.bytes"]["values"])
        vocab = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(len(offs) - 1)]
    return {"version": f"{major}.{minor}", "metadata": metadata, "tensors": tensors, "vocabulary": vocab}


if __name__ == "__main__":
    print(json.dumps(read(sys.argv[1], as_1_0="--format-1.0" in sys.argv[2:])))
