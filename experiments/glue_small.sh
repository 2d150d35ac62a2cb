#!/usr/bin/env bash
# The paper's small protocol (500 training examples, 5 epochs, batch 32, max length 256) with the
# offline MiniLM-L6 and the paper's [CLS] pooling (--pooling cls; MiniLM's own is mean, see
# glue_small_checkpoint_pooling.sh). Resumable: runs with a summary.json are skipped. Seed 0 of
# every task first, so a partial protocol already compares all optimizers on every task.
# Usage: bash experiments/glue_small.sh [OUT]   (default results/glue_small)
set -euo pipefail
OUT=${1:-results/glue_small}
OPTS=(adam sgd_sls adam_sls pla_sls salsa)
sls-glue run --task sst2 mrpc --seeds 0 --optimizer "${OPTS[@]}" --out "$OUT" --pooling cls --no-progress
sls-glue run --task qnli mnli --seeds 0 --eval-subset 1000 --optimizer "${OPTS[@]}" --out "$OUT" --pooling cls --no-progress
sls-glue run --task sst2 mrpc --seeds 1 2 --optimizer "${OPTS[@]}" --out "$OUT" --pooling cls --no-progress
sls-glue plot "$OUT"
