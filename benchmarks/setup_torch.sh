#!/usr/bin/env bash
# Builds the PyTorch environment of benchmarks/vs_pytorch.py and benchmarks/forward_gap.py:
# torch 2.13.0, transformers < 5, salsa-optimizer 0.1.0 (the authors' AdamSLS and SaLSA),
# numpy and safetensors, in its own venv (never in the project's .venv, which holds jax).
# Usage: bash benchmarks/setup_torch.sh [VENV]          (default .venv-torch)
#        TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash benchmarks/setup_torch.sh
# Then:  export SLS_TORCH_PYTHON=$PWD/.venv-torch/bin/python   (or pass --torch-python)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-torch}
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
INDEX=()
[ -n "${TORCH_INDEX_URL:-}" ] && INDEX=(--index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple)
"$VENV/bin/python" -m pip install -q "${INDEX[@]}" torch==2.13.0
"$VENV/bin/python" -m pip install -q salsa-optimizer==0.1.0 "transformers<5" tokenizers safetensors numpy
"$VENV/bin/python" -c "import torch, transformers, salsa; print('torch', torch.__version__, 'transformers', transformers.__version__)"
echo "export SLS_TORCH_PYTHON=$PWD/$VENV/bin/python"
