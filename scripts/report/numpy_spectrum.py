#!/usr/bin/env python3
"""numpy's view of W_h in an .rnn file: its singular values (LAPACK SVD) and spectral radius
(max |eigenvalue|), as JSON, for the tests to hold RNNKit's portable Swift versions against.

Reads the file with the independent reader in scripts/interop/read_rnn.py.
Usage: numpy_spectrum.py MODEL.rnn
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from read_rnn import read  # noqa: E402


def main():
    model = read(sys.argv[1])
    w = np.asarray(model["tensors"]["W"]["values"], dtype=np.float64)
    h = len(model["tensors"]["b"]["values"])
    w_h = w[:, :h]
    print(
        json.dumps(
            {
                "singular_values": np.linalg.svd(w_h, compute_uv=False).tolist(),
                "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(w_h)))),
            }
        )
    )


if __name__ == "__main__":
    main()
