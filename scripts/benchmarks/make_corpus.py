#!/usr/bin/env python3
"""Writes a synthetic training corpus with an exact vocabulary size, for throughput benchmarks.

Words are w0 ... w{V-2}; with <unk> the vocabulary has V tokens. Every word appears once, then
words are drawn from a Zipf-like distribution, in lines of LINE tokens. Deterministic."""
import argparse
import random

parser = argparse.ArgumentParser()
parser.add_argument("output")
parser.add_argument("--vocab", type=int, default=5000, help="vocabulary size including <unk>")
parser.add_argument("--tokens", type=int, default=65536)
parser.add_argument("--line", type=int, default=256, help="tokens per line")
args = parser.parse_args()

rng = random.Random(1)
words = [f"w{i}" for i in range(args.vocab - 1)]
weights = [1 / (i + 1) for i in range(len(words))]
tokens = words[:]  # every word at least once
rng.shuffle(tokens)
tokens += rng.choices(words, weights=weights, k=args.tokens)
with open(args.output, "w", encoding="utf-8") as out:
    for start in range(0, len(tokens), args.line):
        out.write(" ".join(tokens[start : start + args.line]) + "\n")
