"""The Armijo constant c of ADAMSLS and PLASLS: c in {0.1 (the paper's), 0.3, 0.5 (SaLSA's)}.

The small protocol (500 training examples, 5 epochs, batch 32, max length 256, MiniLM-L6) with
the checkpoint's pooling (mean for MiniLM-L6); only ``c`` changes between the rows
(``adam_sls_c0.5`` is ``adam_sls`` with ``optimizer_kwargs={"c": 0.5}``). Resumable; seed 0 of
every task first.

Usage (from the repository root, GLUE data in ``$GLUE_DIR``)::

    nice -n 19 .venv/bin/python experiments/armijo_constant.py
    nice -n 19 .venv/bin/python experiments/armijo_constant.py --tasks qnli --seeds 0 \\
        --variants adam_sls_c0.1 adam_sls_c0.5 pla_sls_c0.5      # a subset, in this order

Results: ``results/armijo_constant/`` (``table.md``, ``figures/``, one folder per run).
"""

from __future__ import annotations

from variant_grid import Variant, parse_args, run_variants

VARIANTS = [
    Variant(f"{opt}_c{c}", opt, {"optimizer_kwargs": {"c": c}})
    for opt in ("adam_sls", "pla_sls")
    for c in (0.1, 0.3, 0.5)
]

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], "results/armijo_constant", VARIANTS)
    raise SystemExit(run_variants(args, VARIANTS))
