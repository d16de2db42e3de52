#!/usr/bin/env python3
"""numpy as a test client for RNNKit's .npz format (docs/NUMPY.md).

read FILE                   numpy.load(FILE, allow_pickle=False); prints JSON: every array's dtype,
                            shape and values (floats as float64 in hexadecimal, float.hex();
                            strings as strings), and the metadata entry parsed as JSON. Exit
                            status 3 when numpy refuses the file.
write FILE MODE [OPTIONS]   writes a model with numpy alone and prints its arrays as JSON.
    MODE savez | savez_compressed
    --tokens                a one-hot token model (X = vocabulary size) with a <U vocabulary and
                            metadata; otherwise a dense model with W, b, V and c only
    --dtype float32|float64|float16
    --big-endian            store W, b, V and c big-endian ('>f4', ...)
    --fortran               store W and V in Fortran (column-major) order
    --vocab-bytes           store the vocabulary as vocab_offsets (<i8) and vocab_bytes (|u1)
save-object FILE            np.savez of W as an object array (pickled), which RNNKit must refuse.
save-npy FILE DESCR SHAPE   np.save of np.arange(prod(SHAPE)) as DESCR in SHAPE ("2,3"); prints nothing.
seeds DIR                   writes .npy files of every kind RNNKit reads, as a fuzzing corpus.
npz-seeds DIR               the same, each after every FuzzNpz selector byte, plus vocabularies and
                            metadata.
"""
import json
import sys

import numpy as np


def dump_array(value):
    if value.dtype.kind == "U":
        return {"dtype": value.dtype.str, "shape": list(value.shape), "values": value.ravel().tolist()}
    # Hexadecimal floats, so the values reach the test exactly (JSON decimals may not).
    return {"dtype": value.dtype.str, "shape": list(value.shape),
            "values": [float(v).hex() for v in value.astype(np.float64).ravel()]}


def read(path):
    out = {"arrays": {}, "metadata": None}
    with np.load(path, allow_pickle=False) as archive:
        for name in archive.files:
            value = archive[name]
            out["arrays"][name] = dump_array(value)
            if name == "metadata":
                out["metadata"] = json.loads(str(value))
    print(json.dumps(out))


def write(path, mode, options):
    rng = np.random.default_rng(7)
    dtype = np.dtype(next((options[i + 1] for i, o in enumerate(options) if o == "--dtype"), "float32"))
    if "--big-endian" in options:
        dtype = dtype.newbyteorder(">")
    tokens = "--tokens" in options
    vocabulary = ["<unk>", "the", "café", "sushi", "🍣", "is", "good"]
    h = 4
    x = len(vocabulary) if tokens else 3
    o = len(vocabulary) if tokens else 2
    arrays = {
        "W": (rng.standard_normal((h, h + x)) * 0.5).astype(dtype),
        "b": (rng.standard_normal(h) * 0.1).astype(dtype),
        "V": (rng.standard_normal((o, h)) * 0.5).astype(dtype),
        "c": (rng.standard_normal(o) * 0.1).astype(dtype),
    }
    if "--fortran" in options:
        arrays["W"] = np.asfortranarray(arrays["W"])
        arrays["V"] = np.asfortranarray(arrays["V"])
    if tokens:
        if "--vocab-bytes" in options:
            encoded = [t.encode("utf-8") for t in vocabulary]
            arrays["vocab_offsets"] = np.cumsum([0] + [len(e) for e in encoded]).astype("<i8")
            arrays["vocab_bytes"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        else:
            arrays["vocab"] = np.array(vocabulary)
        arrays["metadata"] = np.array(json.dumps({
            "rnn.hidden_activation": "tanh", "rnn.output_activation": "softmax",
            "tokenizer.level": "word", "tokenizer.lowercase": True, "tokenizer.split_punctuation": True,
            "tokenizer.unknown_token": "<unk>", "general.name": "from numpy"}))
    getattr(np, mode)(path, **arrays)
    print(json.dumps({name: dump_array(value) for name, value in arrays.items()}))


def save_npy(path, descr, shape):
    dims = tuple(int(d) for d in shape.split(",") if d)
    np.save(path, np.arange(int(np.prod(dims))).astype(np.dtype(descr)).reshape(dims), allow_pickle=False)


def seeds(folder):
    import os
    os.makedirs(folder, exist_ok=True)
    values = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    n = 0
    for descr in ["<f4", ">f4", "<f8", ">f8", "<f2", ">f2", "<i8", ">i4", "|u1", "<u4", "<i2"]:
        for order in ["C", "F"]:
            np.save(os.path.join(folder, f"seed{n}.npy"), np.array(values, dtype=descr, order=order))
            n += 1
    for array in [np.array(["a", "café", "🍣"]), np.array("json {}"), np.array(["x"], dtype=">U3"),
                  np.zeros((2, 0, 3), np.float32), np.float32(1.5), np.zeros((1,) * 8, "<f4")]:
        np.save(os.path.join(folder, f"seed{n}.npy"), array)
        n += 1
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(folder, f"seed{n}.npy"), "wb") as f:
            np.lib.format.write_array(f, values.astype("<f4"), version=version)
        n += 1


def npz_seeds(folder):
    import os
    import tempfile
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        seeds(scratch)
        arrays = [open(os.path.join(scratch, name), "rb").read() for name in sorted(os.listdir(scratch))]
    def npy(array):
        import io
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()
    arrays += [npy(np.array(["x", "y", "z"])), npy(np.array(["x", "y", "z"], dtype=">U1")),
               npy(np.array(json.dumps({"rnn.hidden_activation": "relu", "tokenizer.level": "char",
                                        "x.list": ["a"], "x.n": 3, "x.f": 0.5}))),
               npy(np.array([0, 1, 2, 3], dtype="<i8")), npy(np.array([0, 1, 2, 3], dtype=">u4"))]
    for n, array in enumerate(arrays):
        for selector in range(4):
            with open(os.path.join(folder, f"seed{n}-{selector}"), "wb") as f:
                f.write(bytes([selector]) + array)


command = sys.argv[1]
if command == "read":
    try:
        read(sys.argv[2])
    except Exception as error:  # numpy refused the file: say so apart from any other failure
        print(f"numpy refused: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(3)
elif command == "write":
    write(sys.argv[2], sys.argv[3], sys.argv[4:])
elif command == "save-object":
    np.savez(sys.argv[2], W=np.array([{"a": 1}, None], dtype=object), b=np.zeros(2, np.float32))
elif command == "save-npy":
    save_npy(sys.argv[2], sys.argv[3], sys.argv[4])
elif command == "seeds":
    seeds(sys.argv[2])
elif command == "npz-seeds":
    npz_seeds(sys.argv[2])
else:
    sys.exit(f"unknown command {command}")
