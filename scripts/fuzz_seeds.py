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
    import torch

    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 4, batch_first=True)
    fc = torch.nn.Linear(4, 2)
    state = {"rnn." + k: v for k, v in rnn.state_dict().items()}
    state.update({"fc." + k: v for k, v in fc.state_dict().items()})
    torch.save(state, os.path.join(folder, "seed-state.pt"))
    optimizer = torch.optim.SGD(list(rnn.parameters()) + list(fc.parameters()), lr=0.1, momentum=0.9)
    torch.save(
        {"epoch": 3, "model_state_dict": state, "optimizer_state_dict": optimizer.state_dict()},
        os.path.join(folder, "seed-checkpoint.pt"),
    )


if __name__ == "__main__":
    kind, folder = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    {"zip": zip_seeds, "pickle": pickle_seeds}[kind](folder)
