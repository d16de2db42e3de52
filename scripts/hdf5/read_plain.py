"""Reads a plain-layout HDF5 file with h5py and prints its content as JSON.

Usage: python3 read_plain.py FILE
"""
import json
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    result = {"tensors": {}, "attrs": {}, "dtypes": {}}
    for key in ["W", "b", "V", "c"]:
        data = f[key][()]
        result["tensors"][key] = {"shape": list(data.shape), "values": data.astype(np.float64).ravel().tolist()}
        result["dtypes"][key] = str(f[key].dtype)
    if "vocab" in f:
        result["vocab"] = [v.decode("utf-8") if isinstance(v, bytes) else v for v in f["vocab"][()]]
    for key, value in f.attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, np.ndarray):
            value = [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.tolist()]
        elif isinstance(value, np.generic):
            value = value.item()
        result["attrs"][key] = value
print(json.dumps(result))
