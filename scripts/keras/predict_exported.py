"""Loads a model RNNKit exported and prints Keras's predictions as JSON.

Usage: KERAS_BACKEND=jax python3 predict_exported.py (h5|weights) FILE INPUTS.json
       [--tokens VOCAB | --features X] --hidden H --outputs O --activation F --output-activation G

`h5` loads a legacy full-model file with keras.models.load_model; `weights` builds
[Embedding(VOCAB, H)] -> SimpleRNN(H, return_sequences=True) -> Dense(O) and calls load_weights.
INPUTS.json holds a list of equal-length sequences (token ids or vectors).
"""
import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import numpy as np  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("kind", choices=["h5", "weights"])
p.add_argument("file")
p.add_argument("inputs")
p.add_argument("--tokens", type=int)
p.add_argument("--features", type=int)
p.add_argument("--hidden", type=int, required=True)
p.add_argument("--outputs", type=int, required=True)
p.add_argument("--activation", default="tanh")
p.add_argument("--output-activation", default="softmax")
a = p.parse_args()

with open(a.inputs) as f:
    inputs = np.array(json.load(f), dtype="int32" if a.tokens else "float32")

if a.kind == "h5":
    model = keras.models.load_model(a.file, compile=False)
else:
    if a.tokens:
        layers = [keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(a.tokens, a.hidden)]
    else:
        layers = [keras.Input(shape=(None, a.features))]
    layers += [
        keras.layers.SimpleRNN(a.hidden, activation=a.activation, return_sequences=True),
        keras.layers.Dense(a.outputs, activation=a.output_activation),
    ]
    model = keras.Sequential(layers)
    model.load_weights(a.file)

print(json.dumps(model.predict(inputs, verbose=0).astype("float64").tolist()))
