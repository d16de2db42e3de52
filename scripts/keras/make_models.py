"""Builds Keras 3 models and saves them in every format RNNKit imports.

Usage: KERAS_BACKEND=jax python3 make_models.py OUTDIR

Writes, for each model NAME, NAME.h5 (legacy full model), NAME.weights.h5 and NAME.keras, plus
OUTDIR/expected.json with the inputs and Keras's `predict` outputs of the supported models. The
models are trained for one step so the files also hold optimizer state with the same shapes as
the weights (the importer must find weights by name, not by shape).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import numpy as np  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
VOCAB, EMBED, HIDDEN = 13, 5, 8


def save(model, name, x, y):
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    # Move every weight, biases included, well away from its initial value (biases start at 0).
    for layer in model.layers:
        layer.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in layer.get_weights()])
    model.save(os.path.join(out, name + ".h5"))
    model.save_weights(os.path.join(out, name + ".weights.h5"))
    model.save(os.path.join(out, name + ".keras"))


def token_model(activation="tanh", output="softmax"):
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, EMBED)(inputs)
    x = keras.layers.SimpleRNN(HIDDEN, activation=activation, return_sequences=True)(x)
    outputs = keras.layers.Dense(VOCAB, activation=output)(x)
    return keras.Model(inputs, outputs)


def dense_model(activation="relu", output="linear", features=3, outputs=2):
    return keras.Sequential(
        [
            keras.Input(shape=(None, features)),
            keras.layers.SimpleRNN(HIDDEN, activation=activation, return_sequences=True),
            keras.layers.Dense(outputs, activation=output),
        ]
    )


expected = {}
tokens = rng.integers(0, VOCAB, size=(3, 6))
token_targets = rng.random((3, 6, VOCAB)).astype("float32")
vectors = rng.standard_normal((3, 6, 3)).astype("float32")
vector_targets = rng.random((3, 6, 2)).astype("float32")

for name, model, x, y, kind in [
    ("tokens", token_model(), tokens, token_targets, "tokens"),
    ("tokens_sigmoid", token_model("sigmoid", "sigmoid"), tokens, token_targets, "tokens"),
    ("dense_relu", dense_model(), vectors, vector_targets, "dense"),
    ("dense_tanh", dense_model("tanh", "softmax"), vectors, vector_targets, "dense"),
]:
    save(model, name, x, y)
    predictions = model.predict(x, verbose=0)
    expected[name] = {
        "kind": kind,
        "inputs": x.tolist(),
        "outputs": predictions.astype("float64").tolist(),
        "hidden_activation": model.layers[-2].get_config()["activation"],
        "output_activation": model.layers[-1].get_config()["activation"],
    }

# Architectures RNNKit must refuse with a clear error.
def unsupported(name, layers, features=3):
    model = keras.Sequential([keras.Input(shape=(None, features))] + layers)
    save(model, name, vectors, rng.random((3, 6, 2)).astype("float32"))


unsupported("lstm", [keras.layers.LSTM(4, return_sequences=True), keras.layers.Dense(2)])
unsupported("gru", [keras.layers.GRU(4, return_sequences=True), keras.layers.Dense(2)])
unsupported(
    "stacked",
    [
        keras.layers.SimpleRNN(4, return_sequences=True),
        keras.layers.SimpleRNN(4, return_sequences=True),
        keras.layers.Dense(2),
    ],
)
unsupported(
    "bidirectional",
    [keras.layers.Bidirectional(keras.layers.SimpleRNN(4, return_sequences=True)), keras.layers.Dense(2)],
)
unsupported(
    "extra_layer",
    [keras.layers.SimpleRNN(4, return_sequences=True), keras.layers.Dense(3), keras.layers.Dense(2)],
)

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)

# A legacy file whose string attributes are fixed-length, as older writers store them.
import shutil  # noqa: E402
import zipfile  # noqa: E402

import h5py  # noqa: E402

fixed = os.path.join(out, "tokens_fixed.h5")
shutil.copy(os.path.join(out, "tokens.h5"), fixed)
with h5py.File(fixed, "r+") as f:
    config = f.attrs["model_config"]
    config = config.encode("utf-8") if isinstance(config, str) else config
    del f.attrs["model_config"]
    f.attrs["model_config"] = np.bytes_(config)
    for group in [f["model_weights"]] + [f["model_weights"][k] for k in f["model_weights"]]:
        for key in ["layer_names", "weight_names"]:
            if key in group.attrs:
                names = [n.encode("utf-8") if isinstance(n, str) else n for n in group.attrs[key]]
                del group.attrs[key]
                width = max([len(n) for n in names] + [1])
                group.attrs[key] = np.array(names, dtype=f"S{width}")

# Broken .keras archives: a member missing, and a member whose bytes were damaged.
with zipfile.ZipFile(os.path.join(out, "tokens.keras")) as source:
    members = {name: source.read(name) for name in source.namelist()}
for name, drop in [("missing_weights", "model.weights.h5"), ("missing_config", "config.json")]:
    with zipfile.ZipFile(os.path.join(out, name + ".keras"), "w", zipfile.ZIP_DEFLATED) as target:
        for member, data in members.items():
            if member != drop:
                target.writestr(member, data)
corrupt = os.path.join(out, "corrupt.keras")
with zipfile.ZipFile(corrupt, "w", zipfile.ZIP_STORED) as target:
    for member, data in members.items():
        target.writestr(member, data)
raw = bytearray(open(corrupt, "rb").read())
start = raw.find(b"\x89HDF\r\n\x1a\n")
for offset in range(start + 2000, start + 2064):
    raw[offset] ^= 0xFF
open(corrupt, "wb").write(bytes(raw))
