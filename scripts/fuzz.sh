#!/usr/bin/env bash
# Builds the libFuzzer target for the .rnn reader and runs it, seeded with the golden files.
# Usage: scripts/fuzz.sh [SECONDS] (default 600). Crashes land in Fuzz/artifacts/; add each one,
# once fixed, to Fuzz/regressions/, which the unit tests replay.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
bash scripts/bootstrap.sh
mkdir -p Fuzz/corpus Fuzz/artifacts
cp -n Fixtures/*.rnn Fuzz/corpus/ 2>/dev/null || true
cp -n Fuzz/regressions/* Fuzz/corpus/ 2>/dev/null || true
(cd Fuzz && swift build -c release --sanitize fuzzer --product FuzzReader)
bin="$(cd Fuzz && swift build -c release --sanitize fuzzer --show-bin-path)/FuzzReader"
SWIFT_BACKTRACE=enable=no "$bin" Fuzz/corpus -max_total_time="$seconds" -max_len=8192 \
  -artifact_prefix=Fuzz/artifacts/ -print_final_stats=1
