"""Writes plain-layout HDF5 files with h5py in every variant RNNKit's importer must accept.

Usage: python3 make_plain.py OUTDIR

Variants: f16, f32 big-endian, f64, chunked + gzip + shuffle, fixed-length vocabulary strings and
fixed-length attributes, and a dense model. OUTDIR/expected.json holds, for each file, the stored
values (as float64, exact for every float type) and the vocabulary.
"""
import json
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
H, X = 6, 9
tokens = ["<unk>", "the", "cat", "sat", "on", "mat", "naïve", "日本", "."]
expected = {}


def write(name, dtype=np.float32, vocab="vlen", chunked=False, dense=False, fixed_attrs=False):
    o = 2 if dense else X
    tensors = {
        "W": rng.standard_normal((H, H + X)),
        "b": rng.standard_normal(H),
        "V": rng.standard_normal((o, H)),
        "c": rng.standard_normal(o),
    }
    path = os.path.join(out, name + ".h5")
    with h5py.File(path, "w") as f:
        stored = {}
        for key, values in tensors.items():
            data = values.astype(dtype)
            if chunked:
                f.create_dataset(key, data=data, chunks=True, compression="gzip", compression_opts=6, shuffle=True)
            else:
                f.create_dataset(key, data=data)
            stored[key] = {"shape": list(data.shape), "values": data.astype(np.float64).ravel().tolist()}
        if not dense:
            if vocab == "vlen":
                f.create_dataset("vocab", data=tokens, dtype=h5py.string_dtype("utf-8"))
            else:
                encoded = [t.encode("utf-8") for t in tokens]
                width = max(len(t) for t in encoded)
                f.create_dataset("vocab", data=np.array(encoded, dtype=f"S{width}"))
        attrs = {"hidden_activation": "tanh", "output_activation": "linear" if dense else "softmax"}
        for key, value in attrs.items():
            f.attrs[key] = np.bytes_(value) if fixed_attrs else value
        f.attrs["trained_by"] = "h5py"
        f.attrs["epochs"] = np.int64(3)
    expected[name] = {"tensors": stored, "vocab": None if dense else tokens}


write("f16", np.float16)
write("f32be", np.dtype(">f4"))
write("f64", np.float64)
write("gzip", chunked=True)
write("fixedvocab", vocab="fixed", fixed_attrs=True)
write("dense", dense=True)
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
