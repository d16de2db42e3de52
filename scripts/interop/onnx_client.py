#!/usr/bin/env python3
"""onnx, onnxruntime and PyTorch as test clients for RNNKit's ONNX format.

run MODEL REQUEST   checks MODEL with onnx.checker (full_check) and runs it with onnxruntime on
                    the batch in the REQUEST JSON file ({"tokens": [[id]]} or
                    {"inputs": [[[x]]]}, optionally "initial_hidden": [[h]]); prints JSON with
                    "hidden", "output", "final_hidden", "metadata" and "opset".
torch MODEL KIND NONLINEARITY HEAD
                    builds a seeded nn.RNN with nn.Embedding (KIND token), one-hot input (onehot) or
                    dense input (dense), and nn.Linear with softmax, sigmoid or no head activation
                    (HEAD softmax|sigmoid|none); exports it with torch.onnx.export (the TorchScript
                    exporter) and prints JSON with the inputs and torch's own "hidden" and "output".
refused MODEL KIND  exports a graph outside the family (KIND bidirectional, stacked or lstm).
external MODEL      writes a copy of MODEL with its initializers in external data next to it.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def run(path, request_path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    with open(request_path) as f:
        request = json.load(f)
    feeds = {}
    if "tokens" in request:
        feeds["tokens"] = np.array(request["tokens"], dtype=np.int64)
    else:
        feeds["inputs"] = np.array(request["inputs"], dtype=np.float32)
    if "initial_hidden" in request:
        feeds["initial_hidden"] = np.array(request["initial_hidden"], dtype=np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(None, feeds)))
    print(json.dumps({
        "hidden": results["hidden"].tolist(),
        "output": results["output"].tolist(),
        "final_hidden": results["final_hidden"].tolist(),
        "metadata": {p.key: p.value for p in model.metadata_props},
        "opset": [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0],
    }))


def torch_export(path, kind, nonlinearity, head):
    import torch

    torch.manual_seed(7)
    vocabulary, embedding, hidden, outputs = 9, 5, 6, 4

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if kind == "token":
                self.embedding = torch.nn.Embedding(vocabulary, embedding)
            size = {"token": embedding, "onehot": vocabulary, "dense": 3}[kind]
            self.rnn = torch.nn.RNN(size, hidden, nonlinearity=nonlinearity, batch_first=True)
            self.linear = torch.nn.Linear(hidden, outputs)

        def forward(self, x):
            if kind == "token":
                x = self.embedding(x)
            elif kind == "onehot":
                x = torch.nn.functional.one_hot(x, vocabulary).float()
            states, _ = self.rnn(x)
            logits = self.linear(states)
            if head == "softmax":
                return torch.softmax(logits, -1), states
            if head == "sigmoid":
                return torch.sigmoid(logits), states
            return logits, states

    model = Model().eval()
    if kind == "dense":
        example = torch.randn(2, 5, 3)
    else:
        example = torch.randint(0, vocabulary, (2, 5))
    name = "inputs" if kind == "dense" else "tokens"
    torch.onnx.export(
        model, (example,), path, input_names=[name], output_names=["output", "hidden"],
        dynamic_axes={name: {0: "batch", 1: "time"}}, opset_version=17, dynamo=False)
    with torch.no_grad():
        output, states = model(example)
    print(json.dumps({
        name: example.tolist(), "output": output.tolist(), "hidden": states.tolist(),
    }))


def refused(path, kind):
    import torch

    torch.manual_seed(7)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if kind == "lstm":
                self.rnn = torch.nn.LSTM(3, 4, batch_first=True)
            else:
                self.rnn = torch.nn.RNN(3, 4, batch_first=True, bidirectional=kind == "bidirectional",
                                        num_layers=2 if kind == "stacked" else 1)
            self.linear = torch.nn.Linear(8 if kind == "bidirectional" else 4, 2)

        def forward(self, x):
            states, _ = self.rnn(x)
            return self.linear(states)

    torch.onnx.export(Model().eval(), (torch.randn(2, 5, 3),), path, input_names=["inputs"],
                      output_names=["output"], opset_version=17, dynamo=False)
    print(json.dumps({"ok": True}))


def external(source, path):
    model = onnx.load(source)
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    print(json.dumps({"ok": True}))


mode = sys.argv[1]
if mode == "run":
    run(sys.argv[2], sys.argv[3])
elif mode == "torch":
    torch_export(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
elif mode == "refused":
    refused(sys.argv[2], sys.argv[3])
elif mode == "external":
    external(sys.argv[2], sys.argv[3])
else:
    sys.exit(f"unknown mode {mode}")
