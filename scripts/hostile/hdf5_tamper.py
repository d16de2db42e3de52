"""Turns good HDF5 and Keras files into hostile ones, for the tests of RNNKit's HDF5 bridge.

Usage: python3 hdf5_tamper.py COMMAND ARGS...

  canary FILE.h5 RAW SHAPE          an HDF5 file whose /W (SHAPE, e.g. 2x8) holds 31337.0, and a raw
                                    file RAW of the same float32 bytes
  external-storage FILE DATASET RAW DATASET's bytes now live in the raw file RAW
  external-link FILE DATASET TARGET DATASET becomes a link to /W in the HDF5 file TARGET
  soft-link FILE DATASET TARGET     DATASET becomes a soft link to /hop, an external link to TARGET
  virtual FILE DATASET TARGET       DATASET becomes a virtual dataset mapping /W of TARGET
  archive OUT.keras CONFIG WEIGHTS [PAD]
                                    a .keras archive: metadata.json, CONFIG as config.json and
                                    WEIGHTS as model.weights.h5 (followed by PAD zero bytes, which
                                    deflate to almost nothing), the order Keras writes them in
  long-attribute FILE LENGTH        adds a root attribute whose name is LENGTH bytes long
  set-strings FILE OBJECT NAME VALUE...
                                    sets attribute NAME of OBJECT to VALUE (one string) or to the
                                    list of VALUEs, as variable-length UTF-8 strings
  append ARCHIVE NAME FILE           appends FILE as member NAME, even when NAME is already there
  wide-embedding OUT N INNER H O    a gzip-compressed Keras 3 weights file with an Embedding [N,
                                    INNER], a SimpleRNN with kernel [INNER, H] and a Dense [H, O]:
                                    a few KB that fold into an H x (H + N) matrix

Every command edits FILE in place and keeps the dataset's shape and dtype, so only the storage
differs from what RNNKit wrote. DATASET may also name a group, for the link commands.
"""
import json
import sys
import warnings
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
        out, config, weights = args[:3]
        pad = int(args[3]) if len(args) > 3 else 0
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
            z.write(config, "config.json")
            with z.open("model.weights.h5", "w") as member, open(weights, "rb") as source:
                member.write(source.read())
                zeros = bytes(1 << 20)
                while pad > 0:
                    member.write(zeros[: min(pad, len(zeros))])
                    pad -= min(pad, len(zeros))
    elif command == "long-attribute":
        path, length = args[0], int(args[1])
        with h5py.File(path, "r+") as f:
            f.attrs["k" * length] = "long"
    elif command == "set-strings":
        path, target, name, values = args[0], args[1], args[2], args[3:]
        with h5py.File(path, "r+") as f:
            kind = h5py.string_dtype("utf-8")
            f[target].attrs.create(name, values[0] if len(values) == 1 else values, dtype=kind)
    elif command == "append":
        archive, name, source = args
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name" is the point.
            with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as z:
                z.write(source, name)
    elif command == "wide-embedding":
        out, n, inner, h, o = args[0], *(int(a) for a in args[1:])
        rng = np.random.default_rng(1)

        def var(f, group, index, shape):
            values = np.zeros(shape, dtype="<f4")
            values.flat[: min(values.size, 64)] = rng.normal(size=min(values.size, 64))
            f.create_dataset(f"layers/{group}/vars/{index}", data=values, compression="gzip", chunks=True)

        with h5py.File(out, "w") as f:
            var(f, "embedding", 0, (n, inner))
            var(f, "simple_rnn/cell", 0, (inner, h))
            var(f, "simple_rnn/cell", 1, (h, h))
            var(f, "simple_rnn/cell", 2, (h,))
            var(f, "dense", 0, (h, o))
            var(f, "dense", 1, (o,))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
