"""PLASLS's parameter groups (the paper's Fig. 9 ablation), on SST-2 small by default.

Rows (``pla_sls`` with ``--pla-groups`` changed, everything else the small protocol: 500
training examples, 5 epochs, batch 32, max length 256, MiniLM-L6 with the checkpoint's pooling,
mean for MiniLM-L6; the paper's Armijo constant c = 0.1, pinned so that a change of the
library's default does not change these rows):

* ``pla_sls_g1``: one group, the whole network (PLASLS's search on a single group);
* ``pla_sls_g4``: embeddings, the encoder in two contiguous halves, the head;
* ``pla_sls_layers``: one group per encoder layer, the embeddings with the first, the head with
  the last (6 groups on MiniLM-L6);
* ``pla_sls_g8``: one group per encoder layer plus the embeddings and the head (8 groups on the
  6-layer MiniLM; the harness caps a number at encoder layers + 2, so on a deeper model this row
  is 8 groups of contiguous layers, not one per layer);
* ``pla_sls_qkv``: the attention's query, key and value projections of all layers, one group
  each, and the rest (4 groups).

The paper (bert-base, 12 layers) compared 1, 4, 7 and 10 groups and the query/key/value split.
Resumable; finished runs are skipped.

Usage (from the repository root, GLUE data in ``$GLUE_DIR``)::

    nice -n 10 .venv/bin/python experiments/pla_groups.py --seeds 0
    nice -n 10 .venv/bin/python experiments/pla_groups.py --seeds 0 \\
        --variants pla_sls_g1 pla_sls_qkv

Results: ``results/pla_groups/`` (``table.md``, ``figures/``, one folder per run).
"""

from __future__ import annotations

from variant_grid import Variant, parse_args, run_variants

C = 0.1  # the paper's Armijo constant
GROUPINGS = {"g1": 1, "g4": 4, "layers": "layers", "g8": 8, "qkv": "qkv"}
VARIANTS = [
    Variant(f"pla_sls_{name}", "pla_sls", {"pla_groups": groups, "optimizer_kwargs": {"c": C}})
    for name, groups in GROUPINGS.items()
]

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], "results/pla_groups", VARIANTS, tasks=("sst2",))
    raise SystemExit(run_variants(args, VARIANTS))
