#!/usr/bin/env bash
# The small protocol (500 training examples, 5 epochs, batch 32, max length 256, MiniLM-L6) with
# the pooling the checkpoint was trained with (no --pooling: mean over real tokens for MiniLM-L6)
# and the library's optimizer defaults; results/glue_small keeps the paper-exact [CLS] runs.
# Resumable: runs with a summary.json are skipped. Seed 0 of SST-2, MRPC, QNLI first.
# Usage: nice -n 19 bash experiments/glue_small_checkpoint_pooling.sh [OUT]
#        (default results/glue_small_checkpoint_pooling; GLUE data in $GLUE_DIR)
set -euo pipefail
OUT=${1:-results/glue_small_checkpoint_pooling}
OPTS=(${SLS_GLUE_OPTIMIZERS:-adam sgd_sls adam_sls pla_sls salsa})
run() { sls-glue run "$@" --optimizer "${OPTS[@]}" --out "$OUT" --no-progress; }
run --task sst2 mrpc --seeds 0
run --task qnli --seeds 0 --eval-subset 1000
run --task mnli --seeds 0 --eval-subset 1000
run --task sst2 mrpc --seeds 1 2
run --task qnli mnli --seeds 1 2 --eval-subset 1000
sls-glue plot "$OUT"
