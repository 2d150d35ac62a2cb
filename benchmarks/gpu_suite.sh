#!/usr/bin/env bash
# The JAX side of the benchmarks on a GPU machine, in under 8 minutes, as one prepared script.
#
# Prerequisites (the machine may have no network, so prepare the environment beforehand):
#   * this project tree with its .venv (scripts/setup.sh), copied to the machine;
#   * jax with CUDA in that .venv, same version as the CPU jax, installed by the user, e.g.
#       .venv/bin/python -m pip install "jax[cuda12]==$(.venv/bin/python -c 'import jax; print(jax.__version__)')"
#     (or jax[cuda13]; check with: .venv/bin/python -c "import jax; print(jax.devices())");
#   * optional: the GLUE data ($GLUE_DIR or ../shared/data/glue). Without it the timing runs
#     use synthetic token ids (same cost) and the reduced GLUE protocol is skipped.
#
# Usage: bash benchmarks/gpu_suite.sh         (writes under $OUT, else benchmarks/results/gpu)
#        SUITE_PYTHON=python bash benchmarks/gpu_suite.sh   (another interpreter)
#        SUITE_QUICK=1 bash benchmarks/gpu_suite.sh         (smoke mode: every command --quick)
#
# Steps and time limits (each step is cut by `timeout`; its JSON holds what finished):
#   1. device check                                                       (~10 s)
#   2. step_cost.py: 6 optimizers + forward, lengths 64 and 128, no RSS  (<= 240 s)
#   3. vs_pytorch.py --jax-only: adam, adam_sls, salsa, length 64         (<= 75 s)
#   4. GLUE small protocol, reduced: SST-2, 500 examples, 2 epochs,
#      adam / adam_sls / salsa, dev subset of 256 before the last epoch   (<= 150 s)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${SUITE_PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
QUICK=()
STEP=(--no-memory --protocol-steps 0 --first-steps 10)
if [ -n "${SUITE_QUICK:-}" ]; then
  QUICK=(--quick)
  STEP=(--no-memory --protocol-steps 0 --first-steps 0)
fi
START=$(date +%s)
status=0

echo "== 1. device"
"$PY" - <<'EOF' | tee "$OUT/device.txt"
import jax
print("jax", jax.__version__, "backend", jax.default_backend(), jax.devices())
if jax.default_backend() != "gpu":
    print("WARNING: no GPU backend; install jax with CUDA (see the header of this script)")
EOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv >> "$OUT/device.txt"

echo "== 2. step cost"
timeout 240 "$PY" benchmarks/step_cost.py "${QUICK[@]}" "${STEP[@]}" \
  --out "$OUT/step_cost.json" || { echo "step_cost: exit $?"; status=1; }

echo "== 3. vs PyTorch (JAX side only)"
timeout 75 "$PY" benchmarks/vs_pytorch.py "${QUICK[@]}" --jax-only \
  --out "$OUT/vs_pytorch_jax.json" || { echo "vs_pytorch: exit $?"; status=1; }

echo "== 4. GLUE small protocol, reduced"
if "$PY" -c "from sls_glue.data import default_data_dir as d; d()" 2>/dev/null; then
  if [ -n "${SUITE_QUICK:-}" ]; then
    GLUE=(--train-size 64 --epochs 1 --model random:tiny --max-length 64)
  else
    GLUE=(--train-size 500 --epochs 2 --eval-subset 256)
  fi
  timeout 150 "$PY" -m sls_glue run --task sst2 --seeds 0 --optimizer adam adam_sls salsa \
    "${GLUE[@]}" --out "$OUT/glue_small_reduced" --compilation-cache "" --no-progress \
    || { echo "glue: exit $?"; status=1; }
  "$PY" -m sls_glue plot "$OUT/glue_small_reduced" >/dev/null 2>&1 || true
else
  echo "no GLUE data folder: skipped" | tee "$OUT/glue_small_reduced.skipped"
fi

echo "== done in $(( $(date +%s) - START )) s; results under $OUT"
ls -la "$OUT"
exit $status
