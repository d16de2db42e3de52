"""Builds the Keras files of the import cases beyond make_models.py, with Keras 3 and h5py.

Usage: KERAS_BACKEND=jax python3 make_read_cases.py OUTDIR

- time_distributed.{keras,h5,weights.h5}: SimpleRNN → TimeDistributed(Dense), dense input;
- one_hot.{keras,h5}: Input((None, V)) → SimpleRNN → Dense(V, softmax), fed one-hot vectors;
- tf2_weights.h5, tf2_weights_vlen.h5, tf2_dense_weights.h5: tf.keras 2.x `save_weights("m.h5")`
  (and tf2_lstm_weights.h5, tf2_stacked_weights.h5, which RNNKit refuses),
  and tf2_model.h5: tf.keras 2.x `model.save("m.h5")`, written with h5py byte for byte in
  tf.keras's layout (TensorFlow is not installed) from the weights of Keras 3 models;
- f64.{keras,h5,weights.h5}: a float64 model, and f64_plain.h5: the plain layout in f64.

OUTDIR/expected.json holds, per case, the inputs (token ids or vectors), Keras's `predict`
outputs, and for the f64 cases every stored f64 weight.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
# JAX computes in f32 unless told otherwise; the f64 model needs real f64.
os.environ["JAX_ENABLE_X64"] = "1"
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)
expected = {}


def perturb(model):
    """Moves every weight, biases included, away from its initial value."""
    for layer in model.layers:
        layer.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in layer.get_weights()])


def save_all(model, name, kinds=(".keras", ".h5", ".weights.h5")):
    for kind in kinds:
        if kind == ".weights.h5":
            model.save_weights(os.path.join(out, name + kind))
        else:
            model.save(os.path.join(out, name + kind))


# TimeDistributed(Dense) after the SimpleRNN.
td = keras.Sequential(
    [
        keras.Input((None, 3)),
        keras.layers.SimpleRNN(6, return_sequences=True),
        keras.layers.TimeDistributed(keras.layers.Dense(4, activation="softmax")),
    ]
)
perturb(td)
save_all(td, "time_distributed")
vectors = rng.standard_normal((2, 5, 3)).astype("float32")
expected["time_distributed"] = {
    "kind": "dense",
    "inputs": vectors.tolist(),
    "outputs": td.predict(vectors, verbose=0).astype("float64").tolist(),
}

# One-hot input: a dense Input of V features, read with a vocabulary of V tokens.
V = 7
one_hot = keras.Sequential(
    [
        keras.Input((None, V)),
        keras.layers.SimpleRNN(5, activation="tanh", return_sequences=True),
        keras.layers.Dense(V, activation="softmax"),
    ]
)
perturb(one_hot)
save_all(one_hot, "one_hot", kinds=(".keras", ".h5"))
ids = rng.integers(0, V, size=(3, 6))
expected["one_hot"] = {
    "kind": "tokens",
    "vocabulary": V,
    "inputs": ids.tolist(),
    "outputs": one_hot.predict(np.eye(V, dtype="float32")[ids], verbose=0).astype("float64").tolist(),
}

# tf.keras 2.x files, from the weights of Keras 3 models (identical arithmetic).
VOCAB, EMBED, HIDDEN = 11, 4, 6
tokens_model = keras.Sequential(
    [
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(VOCAB, EMBED),
        keras.layers.SimpleRNN(HIDDEN, return_sequences=True),
        keras.layers.Dense(VOCAB, activation="softmax"),
    ]
)
perturb(tokens_model)
token_ids = rng.integers(0, VOCAB, size=(2, 5))
expected["tf2_tokens"] = {
    "kind": "tokens",
    "vocabulary": VOCAB,
    "inputs": token_ids.tolist(),
    "outputs": tokens_model.predict(token_ids, verbose=0).astype("float64").tolist(),
}
emb, (kernel, recurrent, bias), (dense_kernel, dense_bias) = [
    layer.get_weights() for layer in tokens_model.layers
]
emb = emb[0]
TOKEN_LAYERS = [
    ("embedding", [("embedding/embeddings:0", emb)]),
    (
        "simple_rnn",
        [
            ("simple_rnn/simple_rnn_cell/kernel:0", kernel),
            ("simple_rnn/simple_rnn_cell/recurrent_kernel:0", recurrent),
            ("simple_rnn/simple_rnn_cell/bias:0", bias),
        ],
    ),
    ("dense", [("dense/kernel:0", dense_kernel), ("dense/bias:0", dense_bias)]),
]


def fixed(strings):
    """What tf.keras's save_attributes_to_hdf5_group stores: np.asarray of bytes, dtype S<n>."""
    return np.asarray([s.encode("utf8") for s in strings]) if strings else np.asarray([])


def write_tf2_weights(group, layers, variable_length=False):
    """tf.keras 2.x hdf5_format.save_weights_to_hdf5_group."""
    names = [name for name, _ in layers]
    if variable_length:
        group.attrs["layer_names"] = names
    else:
        group.attrs["layer_names"] = fixed(names)
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.15.0"
    for name, weights in sorted(layers, key=lambda layer: layer[0]):
        g = group.create_group(name)
        weight_names = [weight_name for weight_name, _ in weights]
        if variable_length:
            g.attrs["weight_names"] = weight_names
        else:
            g.attrs["weight_names"] = fixed(weight_names)
        for weight_name, value in weights:
            dataset = g.create_dataset(weight_name, value.shape, dtype=value.dtype)
            dataset[()] = value


with h5py.File(os.path.join(out, "tf2_weights.h5"), "w") as f:
    write_tf2_weights(f, TOKEN_LAYERS)
with h5py.File(os.path.join(out, "tf2_weights_vlen.h5"), "w") as f:
    write_tf2_weights(f, TOKEN_LAYERS, variable_length=True)

# A functional tf.keras 2.x model: an input layer without weights listed first.
dense_model = keras.Sequential(
    [
        keras.Input((None, 3)),
        keras.layers.SimpleRNN(HIDDEN, activation="relu", return_sequences=True),
        keras.layers.Dense(2, activation="linear"),
    ]
)
perturb(dense_model)
(d_kernel, d_recurrent, d_bias), (d_dense_kernel, d_dense_bias) = [
    layer.get_weights() for layer in dense_model.layers
]
with h5py.File(os.path.join(out, "tf2_dense_weights.h5"), "w") as f:
    write_tf2_weights(
        f,
        [
            ("input_1", []),
            (
                "simple_rnn_1",
                [
                    ("simple_rnn_1/simple_rnn_cell/kernel:0", d_kernel),
                    ("simple_rnn_1/simple_rnn_cell/recurrent_kernel:0", d_recurrent),
                    ("simple_rnn_1/simple_rnn_cell/bias:0", d_bias),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", d_dense_kernel), ("dense_1/bias:0", d_dense_bias)]),
        ],
    )
expected["tf2_dense"] = {
    "kind": "dense",
    "inputs": vectors.tolist(),
    "outputs": dense_model.predict(vectors, verbose=0).astype("float64").tolist(),
}

# tf.keras 2.x weights RNNKit must refuse: an LSTM (recurrent kernel [H, 4H]) and two SimpleRNNs.
lstm_cell = "lstm/lstm_cell/"
with h5py.File(os.path.join(out, "tf2_lstm_weights.h5"), "w") as f:
    write_tf2_weights(
        f,
        [
            (
                "lstm",
                [
                    (lstm_cell + "kernel:0", np.zeros((3, 16), "float32")),
                    (lstm_cell + "recurrent_kernel:0", np.zeros((4, 16), "float32")),
                    (lstm_cell + "bias:0", np.zeros(16, "float32")),
                ],
            ),
            ("dense", [("dense/kernel:0", np.zeros((4, 2), "float32")), ("dense/bias:0", np.zeros(2, "float32"))]),
        ],
    )
with h5py.File(os.path.join(out, "tf2_stacked_weights.h5"), "w") as f:
    write_tf2_weights(
        f,
        [
            (
                "simple_rnn",
                [
                    ("simple_rnn/simple_rnn_cell/kernel:0", d_kernel),
                    ("simple_rnn/simple_rnn_cell/recurrent_kernel:0", d_recurrent),
                ],
            ),
            (
                "simple_rnn_1",
                [
                    ("simple_rnn_1/simple_rnn_cell/kernel:0", d_recurrent),
                    ("simple_rnn_1/simple_rnn_cell/recurrent_kernel:0", d_recurrent),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", d_dense_kernel), ("dense_1/bias:0", d_dense_bias)]),
        ],
    )

# A hostile list: one layer named twice in layer_names (each name would be read again).
with h5py.File(os.path.join(out, "tf2_repeated_layer_weights.h5"), "w") as f:
    write_tf2_weights(
        f,
        [
            (
                "simple_rnn_1",
                [
                    ("simple_rnn_1/simple_rnn_cell/kernel:0", d_kernel),
                    ("simple_rnn_1/simple_rnn_cell/recurrent_kernel:0", d_recurrent),
                    ("simple_rnn_1/simple_rnn_cell/bias:0", d_bias),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", d_dense_kernel), ("dense_1/bias:0", d_dense_bias)]),
        ],
    )
    f.attrs["layer_names"] = fixed(["simple_rnn_1", "simple_rnn_1", "dense_1"])

# tf.keras 2.x model.save("m.h5"): model_config and training_config as bytes, the weights under
# /model_weights, optimizer slots of the same shapes under /optimizer_weights.
tf2_config = {
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {
                "class_name": "InputLayer",
                "config": {"batch_input_shape": [None, None], "dtype": "int32", "sparse": False,
                           "ragged": False, "name": "embedding_input"},
            },
            {
                "class_name": "Embedding",
                "config": {"name": "embedding", "trainable": True, "batch_input_shape": [None, None],
                           "dtype": "float32", "input_dim": VOCAB, "output_dim": EMBED,
                           "mask_zero": False, "input_length": None},
            },
            {
                "class_name": "SimpleRNN",
                "config": {"name": "simple_rnn", "trainable": True, "dtype": "float32",
                           "return_sequences": True, "return_state": False, "go_backwards": False,
                           "stateful": False, "unroll": False, "time_major": False, "units": HIDDEN,
                           "activation": "tanh", "use_bias": True, "dropout": 0.0,
                           "recurrent_dropout": 0.0},
            },
            {
                "class_name": "Dense",
                "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": VOCAB,
                           "activation": "softmax", "use_bias": True},
            },
        ],
    },
    "keras_version": "2.15.0",
    "backend": "tensorflow",
}
with h5py.File(os.path.join(out, "tf2_model.h5"), "w") as f:
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.15.0"
    f.attrs["model_config"] = json.dumps(tf2_config).encode("utf8")
    f.attrs["training_config"] = json.dumps({"loss": "mse"}).encode("utf8")
    write_tf2_weights(f.create_group("model_weights"), TOKEN_LAYERS)
    slots = f.create_group("optimizer_weights")
    slots.attrs["weight_names"] = fixed(["Adam/iter:0", "Adam/simple_rnn/simple_rnn_cell/kernel/m:0"])
    slots.create_dataset("Adam/iter:0", data=np.int64(1))
    slots.create_dataset("Adam/simple_rnn/simple_rnn_cell/kernel/m:0", data=np.zeros_like(kernel))

# float64 end to end. With floatx float64 the SimpleRNN's initial state is f64 too (JAX's scan
# refuses a state that changes dtype).
keras.config.set_floatx("float64")
f64 = keras.Sequential(
    [
        keras.Input((None, 3), dtype="float64"),
        keras.layers.SimpleRNN(5, return_sequences=True, dtype="float64"),
        keras.layers.Dense(2, activation="softmax", dtype="float64"),
    ]
)
for layer in f64.layers:
    # Values with more than f32's 24 bits of mantissa, so narrowing would show.
    layer.set_weights([w + rng.normal(0, 0.3, w.shape) / 3 for w in layer.get_weights()])
save_all(f64, "f64")
(f_kernel, f_recurrent, f_bias), (f_dense_kernel, f_dense_bias) = [layer.get_weights() for layer in f64.layers]
assert f_kernel.dtype == np.float64


def reference_f64(x):
    h = np.zeros((x.shape[0], f_recurrent.shape[0]))
    outputs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ f_kernel + h @ f_recurrent + f_bias)
        z = h @ f_dense_kernel + f_dense_bias
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        outputs.append(e / e.sum(axis=-1, keepdims=True))
    return np.stack(outputs, axis=1)


expected["f64"] = {
    "kind": "dense",
    "inputs": vectors.tolist(),
    # Keras 3.15's SimpleRNN on JAX cannot run in f64 (its scan state turns f32), so the
    # reference is SimpleRNN's and Dense's arithmetic in numpy, in f64.
    "outputs": reference_f64(vectors.astype("float64")).tolist(),
    # RNNKit's W = [recurrent_kernelᵀ | kernelᵀ], V = dense kernelᵀ; as bit patterns (exact in JSON).
    "W_bits": np.concatenate([f_recurrent.T, f_kernel.T], axis=1).ravel().view("uint64").tolist(),
    "b_bits": f_bias.view("uint64").tolist(),
    "V_bits": np.ascontiguousarray(f_dense_kernel.T).ravel().view("uint64").tolist(),
    "c_bits": f_dense_bias.view("uint64").tolist(),
}

keras.config.set_floatx("float32")

# The plain layout in f64, with values f32 cannot hold.
H, X, O = 4, 5, 3
with h5py.File(os.path.join(out, "f64_plain.h5"), "w") as f:
    f["W"] = rng.standard_normal((H, H + X)) / 3
    f["b"] = rng.standard_normal(H) / 3
    f["V"] = rng.standard_normal((O, H)) / 3
    f["c"] = rng.standard_normal(O) / 3
    f.attrs["hidden_activation"] = "tanh"
    f.attrs["output_activation"] = "softmax"

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
