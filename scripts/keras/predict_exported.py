"""Loads models RNNKit exported into Keras and prints Keras's predictions as JSON.

Usage: KERAS_BACKEND=jax python3 predict_exported.py JOBS.json

JOBS.json is a list of jobs, each an object with:
  kind: "h5" (keras.models.load_model, not compiled), "keras" (keras.models.load_model as users
        call it, compiling from the archive's compile_config) or "weights" (build the model, then
        load_weights)
  file: the exported file
  inputs: equal-length sequences of token ids, or of feature vectors
  tokens: the vocabulary size for token models (Embedding(tokens, hidden)); absent for dense models
  features, hidden, outputs, activation, output_activation: the architecture for "weights" jobs
Prints a list with one prediction array per job.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import numpy as np  # noqa: E402

with open(sys.argv[1]) as f:
    jobs = json.load(f)

results = []
for job in jobs:
    tokens = job.get("tokens")
    inputs = np.array(job["inputs"], dtype="int32" if tokens else "float32")
    if job["kind"] == "h5":
        model = keras.models.load_model(job["file"], compile=False)
    elif job["kind"] == "keras":
        model = keras.models.load_model(job["file"])
    else:
        if tokens:
            layers = [keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(tokens, job["hidden"])]
        else:
            layers = [keras.Input(shape=(None, job["features"]))]
        layers += [
            keras.layers.SimpleRNN(job["hidden"], activation=job["activation"], return_sequences=True),
            keras.layers.Dense(job["outputs"], activation=job["output_activation"]),
        ]
        model = keras.Sequential(layers)
        model.load_weights(job["file"])
    results.append(model.predict(inputs, verbose=0).astype("float64").tolist())
print(json.dumps(results))
