#!/usr/bin/env bash
# Accuracy cost of int8 V (docs/PERFORMANCE.md, "int8 V"): int8 V against the f32 model, on
#   - the cuisine model (Fixtures/cuisine.rnn) over its corpus (Fixtures/corpus/cuisine.txt), and
#   - the LARGE benchmark model (seeded, V 50,000 × 1,024) over its seeded token sequences.
#
#   scripts/bench_int8_accuracy.sh [--sequences N]   (LARGE sequences of 512 tokens; default 4)
#
# For each: the largest |Δp| over every next-token probability of every step, the mean of each
# step's largest |Δp|, the largest change of a target's log-probability, top-1 agreement, and the
# perplexity of both. Two variants: "i8" is what the runtime computes (int8 V, and h quantized per
# step); "i8 weights, f32 h" widens the int8 V to f32, which isolates the weights' share.
set -euo pipefail
cd "$(dirname "$0")/.."
SEQUENCES=4
while [ $# -gt 0 ]; do
  case "$1" in
    --sequences) SEQUENCES=$2; shift 2 ;;
    *) echo "usage: $0 [--sequences N]" >&2; exit 2 ;;
  esac
done
bash scripts/bootstrap.sh
(cd Benchmarks && swift build -c release >/dev/null)
BENCH=Benchmarks/.build/release/rnnkit-bench
mkdir -p bench-out
[ -f bench-out/large-tokens.i32 ] || "$BENCH" prepare --size large --dir bench-out >/dev/null
{
  "$BENCH" accuracy --model Fixtures/cuisine.rnn --text Fixtures/corpus/cuisine.txt
  "$BENCH" accuracy --size large --dir bench-out --sequences "$SEQUENCES"
} | python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
print(f"{\"model\":22} {\"variant\":18} {\"steps\":>6} {\"max|dp|\":>9} {\"mean step max|dp|\":>17} "
      f"{\"max|dlogp|\":>10} {\"top-1\":>7} {\"ppl f32\":>10} {\"ppl int8\":>10} {\"change\":>8}")
for r in rows:
    print(f"{r[\"model\"]:22} {r[\"variant\"]:18} {r[\"steps\"]:>6} {r[\"max_abs_dp\"]:>9.2e} "
          f"{r[\"mean_step_max_abs_dp\"]:>17.2e} {r[\"max_abs_dlogp_target\"]:>10.2e} "
          f"{100 * r[\"top1_agreement\"]:>6.2f}% {r[\"ppl_f32\"]:>10.4f} {r[\"ppl_variant\"]:>10.4f} "
          f"{r[\"ppl_change_percent\"]:>+7.3f}%")
'
