"""Writes seed inputs for the zip and pickle fuzzers into a corpus folder.

Usage: python3 scripts/fuzz_seeds.py zip|pickle FOLDER
"""
import io
import os
import random
import sys
import zipfile


def zip_seeds(folder):
    random.seed(7)
    words = "alpha beta gamma delta epsilon zeta eta theta".split()
    text = " ".join(random.choice(words) for _ in range(300)).encode()
    noise = bytes(random.getrandbits(8) for _ in range(200))
    for name, method in [("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
            archive.writestr("archive/text", text)
            archive.writestr("archive/noise", noise)
            archive.writestr("archive/empty", b"")
        with open(os.path.join(folder, f"seed-{name}.zip"), "wb") as f:
            f.write(buffer.getvalue())


def pickle_seeds(folder):
    """The data.pkl of torch.save files whose tensors are views of 64-element storages "0" to "7",
    the storages FuzzPickle's harness provides."""
    import zipfile

    import torch

    torch.manual_seed(0)
    bases = [torch.randn(64) for _ in range(8)]

    def view(k, *shape):
        n = 1
        for s in shape:
            n *= s
        return bases[k][:n].view(*shape)

    state = {
        "emb.weight": view(0, 5, 3),
        "rnn.weight_ih_l0": view(1, 4, 3),
        "rnn.weight_hh_l0": view(2, 4, 4),
        "rnn.bias_ih_l0": view(3, 4),
        "rnn.bias_hh_l0": view(4, 4),
        "fc.weight": view(5, 2, 4),
        "fc.bias": view(6, 2),
    }
    checkpoint = {
        "epoch": 3,
        "loss": 0.25,
        "model_state_dict": state,
        "optimizer_state_dict": {"state": {0: {"momentum_buffer": view(7, 4, 3)}},
                                 "param_groups": [{"lr": 0.1, "params": [0, 1], "nesterov": False}]},
    }
    transposed = dict(state)
    transposed["fc.weight"] = view(5, 4, 2).t()
    for name, value, protocol in [("state", state, 2), ("checkpoint", checkpoint, 2),
                                  ("transposed", transposed, 2), ("protocol4", state, 4)]:
        path = os.path.join(folder, f"seed-{name}.pt")
        torch.save(value, path, pickle_protocol=protocol)
        with zipfile.ZipFile(path) as archive:
            pickle_name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            storages = [n for n in archive.namelist() if "/data/" in n]
            assert all(archive.getinfo(n).file_size == 256 for n in storages), storages
            data = archive.read(pickle_name)
        os.remove(path)
        with open(os.path.join(folder, f"seed-{name}.pkl"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    kind, folder = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    {"zip": zip_seeds, "pickle": pickle_seeds}[kind](folder)
