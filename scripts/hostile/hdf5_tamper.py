"""Turns good HDF5 and Keras files into hostile ones, for the tests of RNNKit's HDF5 bridge.

Usage: python3 hdf5_tamper.py COMMAND ARGS...

  canary FILE.h5 RAW SHAPE          an HDF5 file whose /W (SHAPE, e.g. 2x8) holds 31337.0, and a raw
                                    file RAW of the same float32 bytes
  external-storage FILE DATASET RAW DATASET's bytes now live in the raw file RAW
  external-link FILE DATASET TARGET DATASET becomes a link to /W in the HDF5 file TARGET
  soft-link FILE DATASET TARGET     DATASET becomes a soft link to /hop, an external link to TARGET
  virtual FILE DATASET TARGET       DATASET becomes a virtual dataset mapping /W of TARGET
  archive OUT.keras CONFIG WEIGHTS  a .keras archive: metadata.json, CONFIG as config.json and
                                    WEIGHTS as model.weights.h5, the order Keras writes them in

Every command edits FILE in place and keeps the dataset's shape and dtype, so only the storage
differs from what RNNKit wrote. DATASET may also name a group, for the link commands.
"""
import json
import sys
import zipfile

import h5py
import numpy as np

CANARY = 31337.0


def replace(path, name, make):
    with h5py.File(path, "r+") as f:
        old = f[name]
        shape, dtype = getattr(old, "shape", None), getattr(old, "dtype", None)
        del f[name]
        make(f, name, shape, dtype)


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "canary":
        path, raw, shape = args[0], args[1], tuple(int(d) for d in args[2].split("x"))
        values = np.full(shape, CANARY, dtype="<f4")
        with h5py.File(path, "w") as f:
            f.create_dataset("W", data=values)
        with open(raw, "wb") as out:
            out.write(values.tobytes() * 4)
    elif command == "external-storage":
        path, name, raw = args

        def make(f, name, shape, dtype):
            size = int(np.prod(shape)) * dtype.itemsize
            f.create_dataset(name, shape=shape, dtype=dtype, external=[(raw, 0, size)])

        replace(path, name, make)
    elif command == "external-link":
        path, name, target = args
        replace(path, name, lambda f, n, s, d: f.__setitem__(n, h5py.ExternalLink(target, "/W")))
    elif command == "soft-link":
        path, name, target = args

        def make(f, name, shape, dtype):
            f["hop"] = h5py.ExternalLink(target, "/W")
            f[name] = h5py.SoftLink("/hop")

        replace(path, name, make)
    elif command == "virtual":
        path, name, target = args

        def make(f, name, shape, dtype):
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[...] = h5py.VirtualSource(target, "W", shape=shape)
            f.create_virtual_dataset(name, layout)

        replace(path, name, make)
    elif command == "archive":
        out, config, weights = args
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
            z.write(config, "config.json")
            z.write(weights, "model.weights.h5")
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
