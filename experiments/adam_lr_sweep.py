"""Tuned-Adam baseline: peak learning rate in {1e-5, 2e-5 (the paper's), 5e-5, 1e-4, 2e-4, 5e-4}.

Adam (b1 0.9, b2 0.999, eps 1e-8) with linear warm-up over the first 10% of the steps, then
cosine decay to 0, on the small protocol (500 training examples, 5 epochs, batch 32, max length
256, MiniLM-L6) with the checkpoint's pooling (mean for MiniLM-L6). The rows are named by the
peak learning rate (``adam_lr0.0001`` is ``adam`` with ``adam_learning_rate=1e-4``). Resumable;
seed 0 of every task first.

Usage (from the repository root, GLUE data in ``$GLUE_DIR``)::

    nice -n 19 .venv/bin/python experiments/adam_lr_sweep.py
    nice -n 19 .venv/bin/python experiments/adam_lr_sweep.py --tasks sst2 mrpc --seeds 0 \\
        --variants adam_lr0.0001 adam_lr0.0002 adam_lr0.00005    # a subset, in this order

Results: ``results/adam_lr_sweep/`` (``table.md``, ``figures/``, one folder per run).
"""

from __future__ import annotations

import numpy as np
from variant_grid import Variant, parse_args, run_variants

LEARNING_RATES = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4)


def variant_name(lr: float) -> str:
    """The row name of peak learning rate ``lr`` (``1e-4`` -> ``adam_lr0.0001``).

    Plain decimals, so that the table's alphabetical rows are in the order of the learning rate.
    """
    return f"adam_lr{np.format_float_positional(lr)}"


VARIANTS = [Variant(variant_name(lr), "adam", {"adam_learning_rate": lr}) for lr in LEARNING_RATES]

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], "results/adam_lr_sweep", VARIANTS)
    raise SystemExit(run_variants(args, VARIANTS))
