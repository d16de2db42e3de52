#!/usr/bin/env bash
# Regenerates the cuisine model fixtures from the committed corpus:
#   Fixtures/cuisine.rnn  trained by `rnnkit train` (the same options give the same bytes)
#   Fixtures/cuisine.h5   its HDF5 export, by `rnnkit convert`
# Usage: scripts/make_cuisine_model.sh   (from anywhere; builds rnnkit in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --product rnnkit >&2
rnnkit="$(swift build -c release --show-bin-path)/rnnkit"

# No --created: the fixture carries no date, so regenerating it changes no bytes.
"$rnnkit" train Fixtures/corpus/cuisine.txt --output Fixtures/cuisine.rnn --force \
  --lowercase --hidden 64 --epochs 120 --learning-rate 0.1 --clip 1 --bptt-length 32 --seed 0 --name cuisine
"$rnnkit" convert Fixtures/cuisine.rnn Fixtures/cuisine.h5 --to hdf5 --force --verify
