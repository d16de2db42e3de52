#!/usr/bin/env python3
"""The safetensors library as a test client.

read FILE   prints JSON: each tensor's dtype, shape and values (float64), and the metadata.
write FILE  writes a dense Elman model (H 5, X 3, O 2) with numpy and safetensors.numpy.save_file,
            activations in the metadata, and prints its tensors as JSON.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def dump(tensors, metadata):
    return json.dumps({
        "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                        "values": v.astype(np.float64).ravel().tolist()} for k, v in tensors.items()},
        "metadata": metadata or {},
    })


mode, path = sys.argv[1], sys.argv[2]
if mode == "read":
    with safe_open(path, "np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        print(dump(tensors, f.metadata()))
else:
    rng = np.random.default_rng(4)
    h, x, o = 5, 3, 2
    tensors = {
        "W": rng.standard_normal((h, h + x)).astype(np.float32) * 0.5,
        "b": rng.standard_normal(h).astype(np.float32) * 0.1,
        "V": rng.standard_normal((o, h)).astype(np.float32) * 0.5,
        "c": rng.standard_normal(o).astype(np.float32) * 0.1,
    }
    metadata = {"rnn.hidden_activation": "relu", "rnn.output_activation": "sigmoid"}
    save_file(tensors, path, metadata=metadata)
    print(dump(tensors, metadata))
