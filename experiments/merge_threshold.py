"""PLASLS's merging threshold (the paper's Fig. 2 ablation: lambda in {0, 1e-12, 1e-8}).

Algorithm 1 merges, after a step, the active group with the smallest step size into the group
with the second smallest when that step size is below lambda (and more than 2 groups are
active). Two parts:

``scan`` (no training): reads the finished PLASLS runs (optimizer names starting ``pla_sls``)
under the given result folders and reports, per run, the smallest step size of any group at
any step, the step where it occurred and whether every group was still searched in the last
cycle (a merge removes a group from the cycle). A run in which no merge happened and whose
smallest step size is >= lambda is, step for step, the run that threshold lambda gives: the
first merge needs a step size below lambda, and until then the two runs take the same steps.
Writes ``<out>/scan.md``, ``<out>/scan.json`` and ``<out>/figures/smallest_step_size.png``.

``run``: the three rows on the small protocol (500 training examples, batch 32, max length
256, MiniLM-L6 with the checkpoint's pooling; c = 0.1 pinned, the paper's), MNLI by default;
``--epochs 1`` gives the paper's one epoch (of the 500-example sample). ``pla_sls_merge1e-12``
is the harness's ``pla_sls`` (its default lambda). Resumable; finished runs are skipped.

Usage (from the repository root, GLUE data in ``$GLUE_DIR`` for ``run``)::

    .venv/bin/python experiments/merge_threshold.py scan results/glue_small_checkpoint_pooling \\
        results/glue_small results/glue_small_gpu results/pla_groups results/armijo_constant
    nice -n 10 .venv/bin/python experiments/merge_threshold.py run --seeds 0

Results: ``results/merge_threshold/``.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from variant_grid import Variant, parse_args, run_variants

import sls_jax
from sls_glue.report import load_runs, step_records

C = 0.1  # the paper's Armijo constant
THRESHOLDS = (0.0, 1e-12, 1e-8)
#: sls_jax.pla_sls's own default lambda, for runs whose kwargs do not set it.
DEFAULT_THRESHOLD = inspect.signature(sls_jax.pla_sls).parameters["merge_threshold"].default
VARIANTS = [
    Variant(
        f"pla_sls_merge{lam:g}",
        "pla_sls",
        {"optimizer_kwargs": {"c": C, "merge_threshold": lam}},
    )
    for lam in THRESHOLDS
]


def scan_run(summary: dict[str, Any]) -> dict[str, Any]:
    """One row of the scan: the run's smallest step size and whether a merge happened.

    ``merged`` is True when some group was searched in the cycle before the last one but not in
    the last full cycle (groups are searched in cyclic order; a merged group leaves the cycle);
    False for runs of at most 2 groups (never merged); ``None`` when the run had fewer than two
    cycles to judge from.
    """
    records = step_records(summary)  # summary["path"]: the run folder
    sizes = np.array([r["step_sizes"] for r in records], dtype=float)  # (steps, groups)
    step, group = np.unravel_index(int(np.argmin(sizes)), sizes.shape)
    searched = [r["searched_group"] for r in records if r["searched_group"] >= 0]
    num_groups = sizes.shape[1]
    if num_groups <= 2:
        merged = False  # Algorithm 1 merges only while more than 2 groups are active
    elif len(searched) < 2 * num_groups:
        merged = None
    else:
        merged = set(searched[-num_groups:]) != set(range(num_groups))
    kwargs = summary["config"].get("optimizer_kwargs") or {}
    return {
        "task": summary["task"],
        "optimizer": summary["optimizer"],
        "seed": summary["seed"],
        "path": str(summary["path"]),
        "steps": len(records),
        "groups": num_groups,
        "merge_threshold": float(kwargs.get("merge_threshold", DEFAULT_THRESHOLD)),
        "smallest_step_size": float(sizes[step, group]),
        "at_step": int(step),
        "group": int(group),
        "merged": merged,
    }


def scan(folders: Sequence[str | pathlib.Path]) -> list[dict[str, Any]]:
    """Rows of :func:`scan_run` for every finished ``pla_sls*`` run under ``folders``."""
    runs = [r for folder in folders for r in load_runs(folder)]
    return [scan_run(r) for r in runs if r["optimizer"].startswith("pla_sls")]


def same_as(row: dict[str, Any], lam: float) -> bool:
    """Whether threshold ``lam`` would have taken this run's steps: no merge, smallest >= lam."""
    return row["merged"] is False and row["smallest_step_size"] >= lam


def scan_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown: one line per run, then the count of runs each threshold would leave unchanged."""
    lams = " | ".join(f"same run at λ={lam:g}" for lam in THRESHOLDS)
    lines = [
        f"| run | steps | groups | λ used | smallest step size (step, group) | merged | {lams} |",
        "|" + "---|" * (6 + len(THRESHOLDS)),
    ]
    for r in rows:
        marks = " | ".join("yes" if same_as(r, lam) else "no" for lam in THRESHOLDS)
        lines.append(
            f"| {r['path']} | {r['steps']} | {r['groups']} | {r['merge_threshold']:g} | "
            f"{r['smallest_step_size']:.3g} ({r['at_step']}, {r['group']}) | "
            f"{'-' if r['merged'] is None else 'yes' if r['merged'] else 'no'} | {marks} |"
        )
    counts = ", ".join(
        f"λ={lam:g}: {sum(same_as(r, lam) for r in rows)}/{len(rows)}" for lam in THRESHOLDS
    )
    smallest = min((r["smallest_step_size"] for r in rows), default=float("nan"))
    lines += [
        "",
        f"Runs a threshold leaves unchanged: {counts}. Smallest step size: {smallest:.3g}.",
    ]
    return "\n".join(lines) + "\n"


def scan_figure(rows: Sequence[dict[str, Any]], path: pathlib.Path) -> None:
    """Each run's smallest step size (log scale) beside the thresholds 1e-12 and 1e-8."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, task in enumerate(tasks):
        values = [r["smallest_step_size"] for r in rows if r["task"] == task]
        ax.scatter(np.full(len(values), i), values, s=16, alpha=0.7)
    for lam in THRESHOLDS[1:]:
        ax.axhline(lam, linestyle="--", color="gray", linewidth=1)
        ax.text(len(tasks) - 0.5, lam, f"λ = {lam:g}", va="bottom", ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_xlim(-0.5, len(tasks) - 0.5)
    ax.set_ylabel("smallest step size in the run")
    ax.set_title("PLASLS: smallest step size of any group, per run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main_scan(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="scan finished PLASLS runs for merges")
    parser.add_argument(
        "folders", nargs="+", help="experiment folders (<task>/<optimizer>/seed<k>)"
    )
    parser.add_argument("--out", default="results/merge_threshold")
    args = parser.parse_args(argv)
    missing = [f for f in args.folders if not pathlib.Path(f).is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    rows = scan(args.folders)
    if not rows:
        parser.error(f"no finished pla_sls run under {', '.join(args.folders)}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scan.json").write_text(json.dumps(rows, indent=1) + "\n")
    table = scan_table(rows)
    (out / "scan.md").write_text(table)
    scan_figure(rows, out / "figures" / "smallest_step_size.png")
    print(table.splitlines()[-1])
    print(f"wrote {out / 'scan.md'}, {out / 'scan.json'}, {out / 'figures/smallest_step_size.png'}")
    return 0


if __name__ == "__main__":
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "scan":
        raise SystemExit(main_scan(rest))
    if command != "run":
        raise SystemExit("usage: merge_threshold.py {scan FOLDER... | run [--seeds ...]}")
    sys.argv = [sys.argv[0], *rest]
    args = parse_args(__doc__.splitlines()[0], "results/merge_threshold", VARIANTS, ("mnli",))
    raise SystemExit(run_variants(args, VARIANTS))
