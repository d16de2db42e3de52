#!/usr/bin/env bash
# Accuracy cost of int8 (and bf16) V (docs/PERFORMANCE.md, "int8 V"), against the f32 model, on
#   - the cuisine model (Fixtures/cuisine.rnn) over its corpus (Fixtures/corpus/cuisine.txt);
#   - a larger synthetic one: a sparse Markov-chain corpus of 200,000 tokens over 5,000 words
#     (scripts/benchmarks/make_corpus.py --markov) and a model trained on it for one epoch
#     (H 128, O 5,001), scored on its first LINES lines (default 2,000, about 32,000 tokens);
#   - the LARGE benchmark model (seeded random weights, V 50,000 × 1,024: near-uniform outputs) over
#     its seeded token sequences (default 2 of 512 tokens).
#
#   scripts/bench_int8_accuracy.sh [--sequences N] [--lines N]
#
# For each: the largest |Δp| over every next-token probability of every step, the mean of each
# step's largest |Δp|, the largest change of a target's log-probability, top-1 agreement, and the
# perplexity of both. Two variants: "i8" is what the runtime computes (int8 V, and h quantized per
# step); "i8 weights, f32 h" widens the int8 V to f32, which isolates the weights' share.
set -euo pipefail
cd "$(dirname "$0")/.."
SEQUENCES=2
LINES=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --sequences) SEQUENCES=$2; shift 2 ;;
    --lines) LINES=$2; shift 2 ;;
    *) echo "usage: $0 [--sequences N] [--lines N]" >&2; exit 2 ;;
  esac
done
bash scripts/bootstrap.sh
(cd Benchmarks && swift build -c release >/dev/null && swift build -c release --product rnnkit >/dev/null)
BENCH=Benchmarks/.build/release/rnnkit-bench
mkdir -p bench-out
[ -f bench-out/large-tokens.i32 ] || "$BENCH" prepare --size large --dir bench-out >/dev/null
if [ ! -f bench-out/markov.rnn ]; then
  python3 scripts/benchmarks/make_corpus.py bench-out/markov.txt --vocab 5000 --tokens 200000 --line 16 --markov
  Benchmarks/.build/release/rnnkit train bench-out/markov.txt -o bench-out/markov.rnn --hidden 128 --epochs 1 \
    --seed 1 >/dev/null
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
{
  "$BENCH" accuracy --model Fixtures/cuisine.rnn --text Fixtures/corpus/cuisine.txt
  "$BENCH" accuracy --model bench-out/markov.rnn --text bench-out/markov.txt --lines "$LINES"
  "$BENCH" accuracy --size large --dir bench-out --sequences "$SEQUENCES"
} > bench-out/accuracy.jsonl
python3 - bench-out/accuracy.jsonl <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'model':16} {'variant':18} {'steps':>6} {'max|dp|':>9} {'mean step max|dp|':>17} "
      f"{'max|dlogp|':>10} {'top-1':>7} {'ppl f32':>10} {'ppl variant':>11} {'change':>8}")
for r in rows:
    print(f"{r['model']:16} {r['variant']:18} {r['steps']:>6} {r['max_abs_dp']:>9.2e} "
          f"{r['mean_step_max_abs_dp']:>17.2e} {r['max_abs_dlogp_target']:>10.2e} "
          f"{100 * r['top1_agreement']:>6.2f}% {r['ppl_f32']:>10.4f} {r['ppl_variant']:>11.4f} "
          f"{r['ppl_change_percent']:>+7.3f}%")
PY
