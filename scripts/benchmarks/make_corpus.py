#!/usr/bin/env python3
"""Writes a synthetic training corpus with an exact vocabulary size, for throughput benchmarks.

Words are w0 ... w{V-2}; with <unk> the vocabulary has V tokens. Every word appears once, then
words are drawn from a Zipf-like distribution, in lines of LINE tokens. Deterministic.

With --markov, each word after the first of a line is drawn from a few successors of the previous
word (3 to 24, chosen Zipf-wise, with decaying weights): text a model can learn to predict, with
peaked, varied next-token distributions (the int8 accuracy benchmark, scripts/bench_int8_accuracy.sh)."""
import argparse
import random

parser = argparse.ArgumentParser()
parser.add_argument("output")
parser.add_argument("--vocab", type=int, default=5000, help="vocabulary size including <unk>")
parser.add_argument("--tokens", type=int, default=65536)
parser.add_argument("--line", type=int, default=256, help="tokens per line")
parser.add_argument("--markov", action="store_true", help="a sparse first-order Markov chain")
args = parser.parse_args()

rng = random.Random(1)
words = [f"w{i}" for i in range(args.vocab - 1)]
weights = [1 / (i + 1) for i in range(len(words))]
tokens = words[:]  # every word at least once
rng.shuffle(tokens)
if args.markov:
    successors = []
    for _ in words:
        n = rng.randint(3, 24)
        successors.append((rng.choices(range(len(words)), weights=weights, k=n),
                           [1 / (j + 1) ** 1.2 for j in range(n)]))
    w = 0
    for i in range(args.tokens):
        if i % args.line == 0:
            w = rng.choices(range(len(words)), weights=weights)[0]
        else:
            w = rng.choices(successors[w][0], weights=successors[w][1])[0]
        tokens.append(words[w])
else:
    tokens += rng.choices(words, weights=weights, k=args.tokens)
with open(args.output, "w", encoding="utf-8") as out:
    for start in range(0, len(tokens), args.line):
        out.write(" ".join(tokens[start : start + args.line]) + "\n")
