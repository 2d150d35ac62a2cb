#!/usr/bin/env bash
# Builds a separate PyTorch environment (.venv-torch: torch 2.13.0 CPU, the authors' PyPI package
# salsa-optimizer 0.1.0) and regenerates the reference trajectories of the agreement test from it.
# Usage: bash scripts/torch_reference.sh OUT.json
# Then: SLS_JAX_TORCH_TRAJECTORIES=OUT.json .venv/bin/python -m pytest tests/test_torch_agreement.py
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/torch_reference.sh OUT.json}
[ -x .venv-torch/bin/python ] || python3 -m venv .venv-torch
.venv-torch/bin/python -m pip install -q --upgrade pip
.venv-torch/bin/python -m pip install -q torch==2.13.0 salsa-optimizer==0.1.0 numpy
.venv-torch/bin/python tests/reference/make_torch_trajectories.py --out "$OUT"
