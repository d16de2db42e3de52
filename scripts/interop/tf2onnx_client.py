"""Keras SimpleRNN models converted by tf2onnx, for ONNXInteropTests (tf2onnx cases).

Usage:
  .venv-tf2onnx/bin/python tf2onnx_client.py make FOLDER   # TensorFlow + tf2onnx (their own venv)
  python3 tf2onnx_client.py run FOLDER                     # onnxruntime (the main environment)
  .venv-tf2onnx/bin/python tf2onnx_client.py fixtures      # remakes Fixtures/tf2onnx-*

`make` builds every case in one process (importing TensorFlow takes seconds), sets seeded random
weights, converts each model with tf2onnx.convert.from_keras, runs Keras' predict on seeded inputs
and writes FOLDER/cases.json. `run` adds onnxruntime's outputs for the same inputs to it.
"""
import json
import os
import sys

OPSETS = {"token_tanh_last": 15, "dense_relu_last": 14, "dense_tanh_sequence": 17,
          "token_relu_timedistributed": 15, "dense_sigmoid_nobias": 15, "dense_linear_sequence": 16,
          "token_tanh_fixed_length": 15, "dense_relu_fixed_batch": 15}
REFUSED = ["stacked", "gru"]
BATCH, STEPS, TOKENS = 3, 6, 9


def build(name):
    import tensorflow as tf

    L = tf.keras.layers
    token = name.startswith("token")
    # Fixed shapes: tf2onnx folds the step count into a constant, and with a fixed batch too it
    # fuses each product and its addend into a Gemm.
    steps = STEPS if "fixed" in name else None
    batch = BATCH if "fixed_batch" in name else None
    layers = [L.Input((steps,), dtype="int32")] if token else [L.Input((steps, 3), batch_size=batch)]
    if token:
        layers.append(L.Embedding(TOKENS, 5))
    if name == "token_tanh_last":
        layers += [L.SimpleRNN(6), L.Dense(TOKENS, activation="softmax")]
    elif name == "dense_relu_last":
        layers += [L.SimpleRNN(6, activation="relu"), L.Dense(4)]
    elif name == "dense_tanh_sequence":
        layers += [L.SimpleRNN(6, return_sequences=True), L.Dense(4, activation="sigmoid")]
    elif name == "token_relu_timedistributed":
        layers += [L.SimpleRNN(6, activation="relu", return_sequences=True),
                   L.TimeDistributed(L.Dense(TOKENS, activation="softmax"))]
    elif name == "dense_sigmoid_nobias":
        layers += [L.SimpleRNN(5, activation="sigmoid", use_bias=False), L.Dense(4, activation="softmax")]
    elif name == "dense_linear_sequence":
        layers += [L.SimpleRNN(5, activation="linear", return_sequences=True), L.Dense(4, activation="softmax")]
    elif name == "token_tanh_fixed_length":
        layers += [L.SimpleRNN(6), L.Dense(TOKENS, activation="softmax")]
    elif name == "dense_relu_fixed_batch":
        layers += [L.SimpleRNN(6, activation="relu", return_sequences=True), L.Dense(4)]
    elif name == "stacked":
        layers += [L.SimpleRNN(4, return_sequences=True), L.SimpleRNN(4), L.Dense(2)]
    elif name == "gru":
        layers += [L.GRU(4), L.Dense(2)]
    return tf.keras.Sequential(layers), token


def keras3():
    import tensorflow as tf

    version = getattr(tf.keras, "version", None)  # Keras 2's tf.keras has none
    return version is not None and version().startswith("3")


def make(folder):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    import tf2onnx

    tf.get_logger().setLevel("ERROR")
    cases = []
    for index, name in enumerate(list(OPSETS) + REFUSED):
        model, token = build(name)
        rng = np.random.default_rng(index)
        model.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
        if token:
            inputs = rng.integers(0, TOKENS, size=(BATCH, STEPS)).astype(np.int32)
        else:
            inputs = rng.uniform(-1, 1, size=(BATCH, STEPS, 3)).astype(np.float32)
        spec = (tf.TensorSpec(model.inputs[0].shape, model.inputs[0].dtype, name="x"),)
        path = os.path.join(folder, name + ".onnx")
        if keras3():
            # tf2onnx's from_keras does not take Keras 3 models; their call as a tf.function converts.
            function = tf.function(lambda x, model=model: model(x))
            proto, _ = tf2onnx.convert.from_function(function, input_signature=spec,
                                                     opset=OPSETS.get(name, 15), output_path=path)
        else:
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSETS.get(name, 15),
                                                  output_path=path)
        cases.append({
            "name": name, "path": path, "tokens": token, "refused": name in REFUSED,
            "opset": next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
            "producer": f"{proto.producer_name} {proto.producer_version}",
            "ops": sorted({n.op_type for n in proto.graph.node}),
            "inputs": inputs.tolist(), "keras": model.predict(inputs, verbose=0).astype(float).tolist(),
            "versions": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__},
        })
    with open(os.path.join(folder, "cases.json"), "w") as f:
        json.dump(cases, f)


# The cases kept in Fixtures/ (for ONNXLoopTests and the FuzzONNX seeds), with their inputs and
# Keras' outputs in Fixtures/tf2onnx-simplernn.json.
# Run with TensorFlow 2.21 (Keras 3, tf2onnx 1.17.0; not the project's venv), `fixtures` keeps the
# Keras 3 form instead: trip count M and an And of two conditions.
FIXTURES = {"dense_relu_last": "tf2onnx-dense-relu.onnx",
            "token_relu_timedistributed": "tf2onnx-tokens-timedistributed.onnx",
            "dense_relu_fixed_batch": "tf2onnx-dense-fixed-batch.onnx"}
FIXTURES_KERAS3 = {"dense_tanh_sequence": "tf2onnx-keras3-dense-sequence.onnx"}


def fixtures():
    import shutil
    import tempfile

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Fixtures")
    with tempfile.TemporaryDirectory() as folder:
        make(folder)
        with open(os.path.join(folder, "cases.json")) as f:
            cases = {case["name"]: case for case in json.load(f)}
        path = os.path.join(root, "tf2onnx-simplernn.json")
        kept = {}
        if os.path.exists(path):
            with open(path) as f:
                kept = json.load(f)
        for name, file in (FIXTURES_KERAS3 if keras3() else FIXTURES).items():
            shutil.copyfile(cases[name]["path"], os.path.join(root, file))
            kept[file] = {key: cases[name][key] for key in ("inputs", "keras", "opset", "producer", "versions")}
        with open(path, "w") as f:
            json.dump(kept, f)
            f.write("\n")


def run(folder):
    import numpy as np
    import onnxruntime as ort

    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    for case in cases:
        session = ort.InferenceSession(case["path"], providers=["CPUExecutionProvider"])
        dtype = np.int32 if case["tokens"] else np.float32
        feed = {session.get_inputs()[0].name: np.asarray(case["inputs"], dtype=dtype)}
        case["onnxruntime"] = session.run(None, feed)[0].astype(float).tolist()
    with open(os.path.join(folder, "cases.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    {"make": make, "run": run, "fixtures": fixtures}[sys.argv[1]](*sys.argv[2:])
