#!/usr/bin/env bash
# The JAX side of the benchmarks and the GLUE small protocol on one GPU, as one prepared script.
#
# Prerequisites (the machine may have no network, so prepare the environment beforehand):
#   * this project tree; a Python with jax (CUDA build), optax, chex, flax, safetensors, tokenizers,
#     scikit-learn, scipy, matplotlib, tqdm (the project's .venv with a CUDA jax, or the machine's);
#   * the checkpoint and GLUE data: on a connected machine the defaults; offline, pack them here with
#       .venv/bin/python benchmarks/gpu_pack.py          (writes .gpu/, about 60 MB)
#     copy .gpu/ along, and set SLS_GLUE_CHECKPOINT=.gpu/checkpoint GLUE_DIR=.gpu/glue.
#
# Usage: bash benchmarks/gpu_suite.sh         (writes under $OUT, else .gpu/out)
#   SUITE_PYTHON=python3      interpreter (default .venv/bin/python)
#   SUITE_PROTOCOL=full       the whole small protocol: SST-2 and MRPC with seeds 0 1 2, QNLI and
#                             MNLI with seed 0 (dev subset of 1000 before the last epoch), 5
#                             optimizers, one process per optimizer and task group in parallel
#   SUITE_PROTOCOL=reduced    (default) SST-2, seed 0, 2 epochs, adam / adam_sls / salsa
#   SUITE_PROTOCOL=none       timing only
#   SUITE_QUICK=1             smoke mode: every command small (tiny random model where possible)
#   SUITE_TIMING=0            skip steps 3 and 4;  SUITE_SMOKE=0  skip step 0
#   SUITE_GLUE_XLA_FLAGS      XLA_FLAGS of the protocol processes (default: cuBLAS for the
#                             float32 matmuls, no autotuning; dropped if this XLA rejects them).
#                             Triton's float32 GEMM autotuning took over 2 minutes per module
#                             with ten processes compiling at once on an H200.
#
# Steps (each cut by `timeout`; what finished is kept). Measured on one H200, 2026-11-30, with
# SUITE_PROTOCOL=full (benchmarks/results/gpu/suite_h200.log, suite_protocol_h200.log):
#   0. smoke test: one epoch of a tiny random BERT with adam_sls; the suite stops if it fails
#      (<= 120 s; 40 s on the H200)
#   1. device and versions (1-4 s)
#   2. GLUE small protocol, float32 matmuls (JAX_DEFAULT_MATMUL_PRECISION=highest), <= 240 s per
#      process (SUITE_GLUE_TIMEOUT); full protocol on the H200: 40 runs in 165 s with the default
#      SUITE_GLUE_XLA_FLAGS, none finished within 240 s without them
#   3. step_cost.py: 7 optimizers (adam_sls_skip among them) + forward, length 64, blocks of 4
#      steps (block means for search skipping), no RSS (<= 150 s): on the H200 only length 64
#      fitted with 6 optimizers (XLA compiles 6-15 s per optimizer and length)
#   4. vs_pytorch.py --jax-only: adam, adam_sls, salsa, length 64 (<= 60 s; 54 s on the H200)
# Whole suite on the H200: 490 s (protocol step cut at 240 s); the timeouts bound it near 10 min.
# Outputs under $OUT: device.txt, step_cost.json, vs_pytorch_jax.json, glue_small.tar.gz (runs,
# table.md, figures), logs.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${SUITE_PYTHON:-.venv/bin/python}
OUT=${OUT:-.gpu/out}
PROTOCOL=${SUITE_PROTOCOL:-reduced}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT" "$WORK/logs"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
QUICK=()
STEP=(--no-memory --protocol-steps 0 --first-steps 10 --lengths 64 --block 4)
if [ -n "${SUITE_QUICK:-}" ]; then
  QUICK=(--quick)
  STEP=(--no-memory --protocol-steps 0 --first-steps 0)
fi
START=$(date +%s)
status=0
elapsed() { echo "[$(($(date +%s) - START)) s]"; }

echo "== 0. smoke test $(elapsed)"
if [ "${SUITE_SMOKE:-1}" != 0 ]; then
  if ! timeout 120 "$PY" -m sls_glue run --task sst2 --model random:tiny --train-size 64 \
    --epochs 1 --max-length 64 --optimizer adam_sls --out "$WORK/smoke" \
    --compilation-cache "" --no-progress >"$WORK/logs/smoke.log" 2>&1; then
    tail -n 40 "$WORK/logs/smoke.log"
    echo "smoke test failed: stopping before the long steps"
    exit 3
  fi
  tail -n 3 "$WORK/logs/smoke.log"
else
  echo "skipped"
fi

echo "== 1. device $(elapsed)"
"$PY" - <<'EOF' | tee "$OUT/device.txt"
import importlib.metadata as md
import jax
print("jax", jax.__version__, "backend", jax.default_backend(), jax.devices())
for name in ("jaxlib", "optax", "chex", "flax", "numpy", "tokenizers", "safetensors"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "missing")
if jax.default_backend() != "gpu":
    print("WARNING: no GPU backend; install jax with CUDA")
EOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv >>"$OUT/device.txt"

echo "== 2. GLUE small protocol ($PROTOCOL) $(elapsed)"
GLUE_OUT="$WORK/glue_small"
GLUE_XLA_FLAGS=${SUITE_GLUE_XLA_FLAGS---xla_gpu_enable_triton_gemm=false --xla_gpu_autotune_level=0}
if ! XLA_FLAGS="$GLUE_XLA_FLAGS" "$PY" -c "import jax; jax.numpy.ones(2).block_until_ready()" \
  >/dev/null 2>&1; then
  echo "XLA rejects '$GLUE_XLA_FLAGS': protocol with default flags"
  GLUE_XLA_FLAGS=""
fi
echo "protocol XLA_FLAGS='$GLUE_XLA_FLAGS'" | tee -a "$OUT/device.txt"
run_glue() {  # log name, then sls-glue run arguments
  local name=$1
  shift
  XLA_FLAGS="$GLUE_XLA_FLAGS" JAX_DEFAULT_MATMUL_PRECISION=highest \
    XLA_PYTHON_CLIENT_MEM_FRACTION=0.08 \
    timeout "${SUITE_GLUE_TIMEOUT:-240}" "$PY" -m sls_glue run "$@" --pooling cls --out "$GLUE_OUT" --no-progress \
    --compilation-cache "$WORK/xla_$name" >"$WORK/logs/glue_$name.log" 2>&1 \
    || echo "glue $name: exit $?"
}
if ! "$PY" -c "from sls_glue import tasks; assert tasks.data_source().kind == 'folder'" 2>/dev/null; then
  echo "no GLUE data folder: skipped" | tee "$OUT/glue_small.skipped"
elif [ "$PROTOCOL" = full ]; then
  SMALL=()
  [ -n "${SUITE_QUICK:-}" ] && SMALL=(--model random:tiny --train-size 64 --epochs 1)
  for opt in adam sgd_sls adam_sls pla_sls salsa; do
    run_glue "${opt}_sst2_mrpc" --task sst2 mrpc --seeds 0 1 2 --optimizer "$opt" "${SMALL[@]}" &
    run_glue "${opt}_qnli_mnli" --task qnli mnli --seeds 0 --eval-subset 1000 \
      --optimizer "$opt" "${SMALL[@]}" &
  done
  wait
elif [ "$PROTOCOL" = reduced ]; then
  if [ -n "${SUITE_QUICK:-}" ]; then
    GLUE=(--train-size 64 --epochs 1 --model random:tiny --max-length 64)
  else
    GLUE=(--train-size 500 --epochs 2 --eval-subset 256)
  fi
  run_glue reduced --task sst2 --seeds 0 --optimizer adam adam_sls salsa "${GLUE[@]}"
fi
if [ -d "$GLUE_OUT" ]; then
  "$PY" -m sls_glue plot "$GLUE_OUT" >"$WORK/logs/plot.log" 2>&1 || echo "plot failed"
  cat "$GLUE_OUT/table.md" 2>/dev/null
  find "$GLUE_OUT" -name summary.json | wc -l | xargs echo "finished runs:"
  tar -czf "$OUT/glue_small.tar.gz" -C "$WORK" glue_small
fi

if [ "${SUITE_TIMING:-1}" = 0 ]; then
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs
  echo "== done $(elapsed) (no timing); results under $OUT"
  exit $status
fi

echo "== 3. step cost $(elapsed)"
timeout 150 "$PY" benchmarks/step_cost.py "${QUICK[@]}" "${STEP[@]}" \
  --out "$OUT/step_cost.json" >"$WORK/logs/step_cost.log" 2>&1 \
  || { echo "step_cost: exit $?"; status=1; }
tail -n 25 "$WORK/logs/step_cost.log"

echo "== 4. vs PyTorch (JAX side only) $(elapsed)"
timeout 60 "$PY" benchmarks/vs_pytorch.py "${QUICK[@]}" --jax-only \
  --out "$OUT/vs_pytorch_jax.json" >"$WORK/logs/vs_pytorch.log" 2>&1 \
  || { echo "vs_pytorch: exit $?"; status=1; }
tail -n 12 "$WORK/logs/vs_pytorch.log"

tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs
echo "== done $(elapsed); results under $OUT"
ls -la "$OUT"
exit $status
