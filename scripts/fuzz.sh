#!/usr/bin/env bash
# Builds a libFuzzer target and runs it.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET]   (default 600 s, FuzzReader)
#   FuzzReader       the .rnn reader (unverified, verified at open, verified on first use),
#                    seeded with Fixtures/*.rnn, an int8 conversion of the cuisine model and
#                    Fuzz/seeds/*.rnn (a small format 1.1 file with its block-checksum table)
#   FuzzSafetensors  the safetensors reader, seeded with the cuisine model exported as safetensors
#   FuzzZip          the zip reader and writer, seeded with small archives from Python's zipfile
#   FuzzNpy          the .npy header parser and decoders, seeded with arrays from numpy.save
#   FuzzNpz          the .npz reader, one hostile entry in a valid archive, seeded likewise
#   FuzzONNX         the ONNX reader (protobuf decoder and graph matcher), seeded with the token
#                    and dense fixtures exported as ONNX, with their own f and with silu (a Scan),
#                    and with real tf2onnx output for Keras SimpleRNN models (a Loop)
#   FuzzPickle       the PyTorch unpickler and state-dict mapping, seeded with torch.save pickles
#   FuzzKerasConfig  the Keras config reader (JSON and layer walker), seeded with Fuzz/regressions/keras-config
#   FuzzVocabulary   readVocabularyFile, seeded with Fuzz/regressions/vocabulary
# Crashes land in Fuzz/artifacts/; add each one, once fixed, to Fuzz/regressions/ (the .rnn reader)
# or its keras-config/ and vocabulary/ folders, which the unit tests replay.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
target=${2:-FuzzReader}
bash scripts/bootstrap.sh
corpus="Fuzz/corpus/$target"
mkdir -p "$corpus" Fuzz/artifacts
(cd Fuzz && swift build -c release --sanitize fuzzer --product "$target")
bin="$(cd Fuzz && swift build -c release --sanitize fuzzer --show-bin-path)/$target"
if [ "$target" = FuzzReader ]; then
  cp -n Fixtures/*.rnn "$corpus"/ 2>/dev/null || true
  # An int8 V with its row scales (the fixtures are all float).
  swift build -c release --product rnnkit -q
  "$(swift build -c release --show-bin-path)/rnnkit" convert Fixtures/cuisine.rnn "$corpus/cuisine-int8.rnn" \
    --dtype int8 --force >/dev/null
  cp -n Fuzz/seeds/*.rnn "$corpus"/
  find Fuzz/regressions -maxdepth 1 -type f ! -name '*.md' -exec cp -n {} "$corpus"/ \;
elif [ "$target" = FuzzZip ]; then
  python3 scripts/fuzz_seeds.py zip "$corpus"
elif [ "$target" = FuzzNpy ]; then
  python3 scripts/interop/numpy_client.py seeds "$corpus"
elif [ "$target" = FuzzNpz ]; then
  python3 scripts/interop/numpy_client.py npz-seeds "$corpus"
elif [ "$target" = FuzzONNX ]; then
  swift build -c release --product rnnkit -q
  rnnkit="$(swift build -c release --show-bin-path)/rnnkit"
  "$rnnkit" convert Fixtures/token-f32.rnn "$corpus/token.onnx" --force
  "$rnnkit" convert Fixtures/dense-f32.rnn "$corpus/dense.onnx" --force
  # silu is written as a Scan, so these seed the Scan matcher.
  "$rnnkit" convert Fixtures/token-f32.rnn "$corpus/token-silu.onnx" --hidden-activation silu --force
  "$rnnkit" convert Fixtures/dense-f32.rnn "$corpus/dense-silu.onnx" --hidden-activation silu --force
  # tf2onnx writes a Keras SimpleRNN as a Loop, so these seed the Loop matcher.
  cp -n Fixtures/tf2onnx-*.onnx "$corpus"/
  cp -n Fuzz/regressions-onnx/* "$corpus"/ 2>/dev/null || true
elif [ "$target" = FuzzPickle ]; then
  python3 scripts/fuzz_seeds.py pickle "$corpus"
elif [ "$target" = FuzzKerasConfig ]; then
  cp -n Fuzz/regressions/keras-config/* "$corpus"/
elif [ "$target" = FuzzVocabulary ]; then
  cp -n Fuzz/regressions/vocabulary/* "$corpus"/
else
  swift build -c release --product rnnkit -q
  "$(swift build -c release --show-bin-path)/rnnkit" convert Fixtures/cuisine.rnn "$corpus/cuisine.safetensors" --force
fi
SWIFT_BACKTRACE=enable=no "$bin" "$corpus" -max_total_time="$seconds" -max_len=200000 \
  -artifact_prefix=Fuzz/artifacts/ -print_final_stats=1
