#!/usr/bin/env python3
"""Trains the Elman model that `rnnkit train` trains, the same way, in PyTorch, and reports tokens/s.

Model: h_t = tanh(W_h h_{t-1} + W_x[:, x_t] + b), y_t = softmax(V h_t + c). W_x is an embedding
(its columns), fed to nn.RNN through a frozen identity input matrix, so the function and the trained
parameters match rnnkit's exactly. Training: each line is a sequence starting from h = 0, truncated
BPTT windows of --bptt-length predictions carrying the detached hidden state, the summed
cross-entropy of each window, gradient-norm clipping, plain SGD, batch size 1.

Best configuration tried (30 November 2026, PyTorch 2.15, tokens per CPU second): dropping
gradients (set_to_none=True) beat zeroing them in place by ~10%; a sparse embedding gradient (with
the clipping norm taken by hand) was no faster, so the embedding stays dense."""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("corpus")
parser.add_argument("--hidden", type=int, default=128)
parser.add_argument("--bptt-length", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=0.05)
parser.add_argument("--clip", type=float, default=5.0)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--warmup-windows", type=int, default=20)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
lines = [line.split() for line in open(args.corpus, encoding="utf-8")]
lines = [line for line in lines if len(line) >= 2]
vocabulary = {token: i for i, token in enumerate(["<unk>"] + sorted({t for line in lines for t in line}))}
V, H = len(vocabulary), args.hidden


class Elman(nn.Module):
    def __init__(self):
        super().__init__()
        self.input = nn.Embedding(V, H)
        self.rnn = nn.RNN(H, H, nonlinearity="tanh", batch_first=True)
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(torch.eye(H))
            self.rnn.bias_ih_l0.zero_()
        self.rnn.weight_ih_l0.requires_grad_(False)
        self.rnn.bias_ih_l0.requires_grad_(False)
        self.output = nn.Linear(H, V)

    def forward(self, x, h):
        states, h = self.rnn(self.input(x), h)
        return self.output(states), h


model = Elman()
parameters = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.SGD(parameters, lr=args.learning_rate)
sequences = [torch.tensor([vocabulary[t] for t in line]) for line in lines]

windows = 0
tokens = 0
total_loss = 0.0
start = None
for sequence in sequences:
    h = torch.zeros(1, 1, H)
    for position in range(0, len(sequence) - 1, args.bptt_length):
        end = min(position + args.bptt_length, len(sequence) - 1)
        x = sequence[position:end].unsqueeze(0)
        y = sequence[position + 1 : end + 1]
        logits, h = model(x, h)
        loss = F.cross_entropy(logits[0], y, reduction="sum")
        optimizer.zero_grad(set_to_none=True)  # PyTorch's default, and faster than zeroing
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, args.clip)
        optimizer.step()
        h = h.detach()
        windows += 1
        if windows == args.warmup_windows:
            start = time.perf_counter()
            start_cpu = time.process_time()
        elif start is not None:
            tokens += end - position
            total_loss += loss.item()
elapsed = time.perf_counter() - start
cpu = time.process_time() - start_cpu
print(
    f"pytorch {torch.__version__}, {args.threads} thread(s): {tokens / elapsed:.0f} tokens/s "
    f"({tokens / cpu:.0f} per CPU second) over {tokens} tokens; H {H}, vocabulary {V}, BPTT {args.bptt_length}, "
    f"mean loss {total_loss / tokens:.4f}"
)
