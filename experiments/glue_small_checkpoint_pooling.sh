#!/usr/bin/env bash
# The small protocol (500 training examples, 5 epochs, batch 32, max length 256, MiniLM-L6) with
# the pooling the checkpoint was trained with (no --pooling: mean over real tokens for MiniLM-L6)
# and the library's optimizer defaults; results/glue_small keeps the paper-exact [CLS] runs.
# Resumable: runs with a summary.json are skipped. The first seed on SST-2, MRPC, QNLI, MNLI in
# that order, then the other seeds.
# Usage: nice -n 19 bash experiments/glue_small_checkpoint_pooling.sh [OUT [SEED ...]]
#        (default results/glue_small_checkpoint_pooling, seeds 0 1 2; GLUE data in $GLUE_DIR)
set -euo pipefail
OUT=${1:-results/glue_small_checkpoint_pooling}
SEEDS=("${@:2}")
[[ ${#SEEDS[@]} -gt 0 ]] || SEEDS=(0 1 2)
for s in "${SEEDS[@]}"; do
  [[ $s =~ ^[0-9]+$ ]] || { echo "$0: seed '$s' is not a non-negative integer" >&2; exit 2; }
done
OPTS=(${SLS_GLUE_OPTIMIZERS:-adam sgd_sls adam_sls pla_sls salsa})
run() { sls-glue run "$@" --optimizer "${OPTS[@]}" --out "$OUT" --no-progress; }
run --task sst2 mrpc --seeds "${SEEDS[0]}"
run --task qnli --seeds "${SEEDS[0]}" --eval-subset 1000
run --task mnli --seeds "${SEEDS[0]}" --eval-subset 1000
if [[ ${#SEEDS[@]} -gt 1 ]]; then
  run --task sst2 mrpc --seeds "${SEEDS[@]:1}"
  run --task qnli mnli --seeds "${SEEDS[@]:1}" --eval-subset 1000
fi
sls-glue plot "$OUT"
