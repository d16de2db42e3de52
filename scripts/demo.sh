#!/usr/bin/env bash
# The RNNKit demo, end to end: train the cuisine model on the shipped corpus, inspect it, convert it
# to HDF5 and back with verification, ask it the seed's question, and let it write a continuation.
# Every step is printed as a plain `rnnkit` command you can copy.
#
# Usage: scripts/demo.sh [OUTPUT_FOLDER]    (default: a new temporary folder)
# On a fresh Debian machine run it as root: it first installs the system libraries it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh # installs only what is missing (as root on a fresh machine)

echo "==> building rnnkit in release mode (the first build takes a few minutes)"
swift build -c release --product rnnkit -q
bin="$(swift build -c release --show-bin-path)"
export PATH="$bin:$PATH"

out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-demo.XXXXXX")}"
mkdir -p "$out"
echo "==> writing to $out"
o="$(printf %q "$out")" # the folder as the shell reads it, so the printed commands stay copyable

start=$SECONDS
# Prints a command as a user would type it, then runs it.
say() {
  echo
  echo "\$ $1"
  eval "$1"
}

say "rnnkit train Fixtures/corpus/cuisine.txt --output $o/cuisine.rnn --force --lowercase --hidden 64 --epochs 120 --learning-rate 0.1 --clip 1 --seed 0 --name cuisine"
trained=$SECONDS
say "rnnkit inspect $o/cuisine.rnn"
say "rnnkit convert $o/cuisine.rnn $o/cuisine.h5 --to hdf5 --force --verify"
say "rnnkit convert $o/cuisine.h5 $o/cuisine-roundtrip.rnn --to rnn --force --verify"
say "rnnkit predict $o/cuisine.rnn 'My favourite dish is sushi. So, my favourite cuisine is' --top 5"
say "rnnkit generate $o/cuisine.rnn 'My favourite dish is pizza.' --max-tokens 20 --seed 1"

echo
echo "==> demo finished in $((SECONDS - start)) s (training $((trained - start)) s); files in $out"
