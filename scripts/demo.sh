#!/usr/bin/env bash
# Installs what is missing, builds rnnkit and shows it on a golden model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
swift build -c release --product rnnkit -q
rnnkit() { "$(swift build -c release --show-bin-path)/rnnkit" "$@"; }
set -x
rnnkit inspect Fixtures/token-f32.rnn --stats
rnnkit validate Fixtures/token-f16.rnn
