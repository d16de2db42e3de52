#!/usr/bin/env python3
"""PyTorch (CPU) as a test client for RNNKit's PyTorch bridge. Prints JSON on stdout.

make DIR NONLINEARITY [embedding]
    Builds a seeded model (nn.Embedding when asked, nn.RNN with batch_first=True, nn.Linear) as
    modules `embed`, `body.recurrent` and `head`, and writes DIR/state.pt (its state_dict),
    DIR/checkpoint.pt (a training checkpoint with optimizer state), DIR/state.safetensors
    (safetensors.torch) and DIR/strided.pt (the output weights as a transposed view). Prints sizes, an input sequence and torch's outputs for it.
run FILE NONLINEARITY X H O
    Loads FILE with torch.load(weights_only=True) (or safetensors.torch.load_file for
    .safetensors) into nn.RNN(X, H, nonlinearity, batch_first=True) as `rnn` and nn.Linear(H, O)
    as `fc` with load_state_dict(strict=True); prints the keys, an input and the outputs.
variants DIR
    Writes one nn.RNN(3, 4) + nn.Linear(4, 2) state dict (prefixes rnn., fc.) as DIR/protocol4.pt,
    DIR/protocol5.pt, DIR/parameters.pt (nn.Parameter values), DIR/half.pt (float16), and the
    model as DIR/module.pt (torch.save(model)) and DIR/script.pt (torch.jit.save). Prints an
    input and the outputs of the float32 model and of the float16-rounded one.
gadget FILE CANARY eval|system
    Writes a torch.save file whose pickle would create CANARY through builtins.eval or os.system.
"""
import json
import os
import sys

import torch

torch.set_default_device("cpu")


class Net(torch.nn.Module):
    def __init__(self, x, h, o, nonlinearity, vocabulary=None):
        super().__init__()
        if vocabulary:
            self.embed = torch.nn.Embedding(vocabulary, x)
        self.body = torch.nn.Module()
        self.body.recurrent = torch.nn.RNN(x, h, nonlinearity=nonlinearity, batch_first=True)
        self.head = torch.nn.Linear(h, o)

    def forward(self, inputs):
        if hasattr(self, "embed"):
            inputs = self.embed(inputs)
        hidden, _ = self.body.recurrent(inputs)
        return self.head(hidden)


def make(folder, nonlinearity, embedding):
    torch.manual_seed(3)
    x, h, o, vocabulary = 4, 6, 3, 7
    net = Net(x, h, o, nonlinearity, vocabulary if embedding else None)
    # Train one step so the checkpoint holds optimizer state (momentum buffers).
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    if embedding:
        inputs = torch.tensor([[1, 4, 0, 6, 2, 5]])
    else:
        inputs = torch.randn(1, 6, x)
    net(inputs).sum().backward()
    optimizer.step()
    state = net.state_dict()
    torch.save(state, os.path.join(folder, "state.pt"))
    torch.save({"epoch": 1, "loss": torch.tensor(0.5), "model_state_dict": state,
                "optimizer_state_dict": optimizer.state_dict()}, os.path.join(folder, "checkpoint.pt"))
    # The same state dict with the output weights as a transposed (non-contiguous) view.
    strided = dict(state)
    strided["head.weight"] = state["head.weight"].t().contiguous().t()
    assert not strided["head.weight"].is_contiguous()
    torch.save(strided, os.path.join(folder, "strided.pt"))
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(folder, "state.safetensors"))
    with torch.no_grad():
        outputs = net(inputs)[0]
    print(json.dumps({"x": x, "h": h, "o": o, "vocabulary": vocabulary if embedding else None,
                      "inputs": inputs[0].tolist(), "outputs": outputs.tolist(),
                      "keys": sorted(state.keys())}))


def run(path, nonlinearity, x, h, o):
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(path)
    else:
        state = torch.load(path, weights_only=True)
    rnn = torch.nn.RNN(x, h, nonlinearity=nonlinearity, batch_first=True)
    fc = torch.nn.Linear(h, o)
    rnn.load_state_dict({k[len("rnn."):]: v for k, v in state.items() if k.startswith("rnn.")}, strict=True)
    fc.load_state_dict({k[len("fc."):]: v for k, v in state.items() if k.startswith("fc.")}, strict=True)
    torch.manual_seed(5)
    inputs = torch.randn(1, 5, x)
    with torch.no_grad():
        hidden, _ = rnn(inputs)
        outputs = fc(hidden)[0]
    print(json.dumps({"keys": sorted(state.keys()), "inputs": inputs[0].tolist(), "outputs": outputs.tolist()}))


def variants(folder):
    torch.manual_seed(11)
    rnn = torch.nn.RNN(3, 4, batch_first=True)
    fc = torch.nn.Linear(4, 2)
    state = {"rnn." + k: v for k, v in rnn.state_dict().items()}
    state.update({"fc." + k: v for k, v in fc.state_dict().items()})
    torch.save(state, os.path.join(folder, "protocol4.pt"), pickle_protocol=4)
    torch.save(state, os.path.join(folder, "protocol5.pt"), pickle_protocol=5)
    parameters = {"rnn." + k: v for k, v in rnn.named_parameters()}
    parameters.update({"fc." + k: v for k, v in fc.named_parameters()})
    torch.save(parameters, os.path.join(folder, "parameters.pt"))
    torch.save({k: v.half() for k, v in state.items()}, os.path.join(folder, "half.pt"))
    torch.save(rnn, os.path.join(folder, "module.pt"))
    torch.jit.save(torch.jit.script(fc), os.path.join(folder, "script.pt"))
    inputs = torch.randn(1, 5, 3)
    with torch.no_grad():
        outputs = fc(rnn(inputs)[0])[0]
        rnn.load_state_dict({k[4:]: v.half().float() for k, v in state.items() if k.startswith("rnn.")})
        fc.load_state_dict({k[3:]: v.half().float() for k, v in state.items() if k.startswith("fc.")})
        rounded = fc(rnn(inputs)[0])[0]
    print(json.dumps({"inputs": inputs[0].tolist(), "outputs": outputs.tolist(), "half": rounded.tolist()}))


class Gadget:
    def __init__(self, canary, kind):
        self.canary, self.kind = canary, kind

    def __reduce__(self):
        if self.kind == "eval":
            return (eval, (f"open({self.canary!r}, 'w').close()",))
        return (os.system, (f"touch {self.canary}",))


def gadget(path, canary, kind):
    torch.save({"rnn.weight_ih_l0": torch.zeros(2, 2), "payload": Gadget(canary, kind)}, path)
    print(json.dumps({"written": path}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "make":
        make(sys.argv[2], sys.argv[3], len(sys.argv) > 4 and sys.argv[4] == "embedding")
    elif mode == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif mode == "variants":
        variants(sys.argv[2])
    elif mode == "gadget":
        gadget(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown mode {mode}")
