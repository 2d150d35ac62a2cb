"""Cheaper searches for ADAMSLS: search skipping and a cheaper first search (``sls_jax._cheap``).

The small protocol (500 training examples, 5 epochs = 80 steps, batch 32, max length 256,
MiniLM-L6 with the checkpoint's mean pooling). Rows:

* ``adam_sls_paper``: ADAMSLS as in the paper (the baseline; ``first_backtrack_factor=None``);
* ``adam_sls_skip3_fb0.5``: the first search halves the step size per trial
  (``first_backtrack_factor=0.5``), then search skipping ``skip_searches=3`` (up to 3 steps
  without a trial after a search that accepted its first trial; a search whenever the
  minibatch loss is above the last searched step's);
* ``adam_sls_skip3_polyak``: the same skipping with the PoNoS Polyak first trial
  (``polyak=0.1``, memory of the backtracks) instead of the grown stored step size;
* ``adam_sls_c0.5_skip3_fb0.5``: ``adam_sls_skip3_fb0.5`` with the Armijo constant c = 0.5
  (SaLSA's), under which ADAMSLS left the chance plateau on QNLI and MRPC
  (``results/armijo_constant``).

Resumable; seed 0 of every task first.

Usage (from the repository root, GLUE data in ``$GLUE_DIR``)::

    nice -n 10 .venv/bin/python experiments/cheap_search.py --tasks sst2 mrpc --seeds 0

Results: ``results/cheap_search/`` (``table.md``, ``figures/``, one folder per run).
"""

from __future__ import annotations

from variant_grid import Variant, parse_args, run_variants

VARIANTS = [
    Variant(
        "adam_sls_skip3_fb0.5",
        "adam_sls",
        {"optimizer_kwargs": {"first_backtrack_factor": 0.5, "skip_searches": 3}},
    ),
    Variant(
        "adam_sls_skip3_polyak",
        "adam_sls",
        {"optimizer_kwargs": {"polyak": 0.1, "skip_searches": 3}},
    ),
    Variant("adam_sls_paper", "adam_sls", {"optimizer_kwargs": {}}),
    Variant(
        "adam_sls_c0.5_skip3_fb0.5",
        "adam_sls",
        {"optimizer_kwargs": {"c": 0.5, "first_backtrack_factor": 0.5, "skip_searches": 3}},
    ),
]

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], "results/cheap_search", VARIANTS)
    raise SystemExit(run_variants(args, VARIANTS))
