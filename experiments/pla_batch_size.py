"""PLASLS at batch sizes 8, 16, 32 (the protocol's) and 64 (the paper's Fig. 8 ablation), SST-2.

The small protocol otherwise (500 training examples, 5 epochs, max length 256, MiniLM-L6 with
the checkpoint's pooling, mean for MiniLM-L6, the paper's c = 0.1 pinned, ``--pla-groups`` 10,
8 on MiniLM-L6); ``pla_sls_bs8`` is ``pla_sls`` with ``batch_size=8``. Each row sees the same
examples per epoch, in batches of its size, so it takes 500 / batch steps per epoch (rounded up);
the figure puts the training examples processed (steps x batch size; dev evaluations after each
epoch at epoch x 500) on the x-axis, as the paper does. Resumable; finished runs are skipped; the
figure is redrawn from the saved runs at the end of every call.

Usage (from the repository root, GLUE data in ``$GLUE_DIR``)::

    nice -n 10 .venv/bin/python experiments/pla_batch_size.py --seeds 0
    nice -n 10 .venv/bin/python experiments/pla_batch_size.py --seeds 0 --variants pla_sls_bs64

Results: ``results/pla_batch_size/`` (``table.md``, ``figures/``, ``figures/samples.png``: dev
accuracy and training loss against examples processed).
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
from variant_grid import Variant, parse_args, run_variants

from sls_glue import report

C = 0.1  # the paper's Armijo constant
BATCH_SIZES = (8, 16, 32, 64)
VARIANTS = [
    Variant(f"pla_sls_bs{b}", "pla_sls", {"batch_size": b, "optimizer_kwargs": {"c": C}})
    for b in BATCH_SIZES
]
#: Training loss in the figure: the mean over the steps that cover this many examples.
LOSS_WINDOW = 128


def samples_curves(summary: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Dev accuracy and windowed training loss against training examples processed.

    Returns ``{"eval_samples", "accuracy", "loss_samples", "loss"}`` (float64 arrays):
    evaluations at ``step * batch_size`` (the ``--eval-every`` ones) and after epoch ``e`` at
    ``e * train_examples``; the loss after step k at ``(k + 1) * batch_size``, averaged over the
    last ``max(1, LOSS_WINDOW // batch_size)`` steps.
    """
    batch = int(summary["config"]["batch_size"])
    n = int(summary["train_examples"])
    points = [(e["step"] * batch, e["dev_accuracy"]) for e in summary.get("evaluations", [])]
    points += [(e["epoch"] * n, e["dev_accuracy"]) for e in summary["epochs"]]
    points = sorted(p for p in points if p[1] is not None)
    losses = np.array([r["loss"] for r in records], dtype=np.float64)
    window = max(1, LOSS_WINDOW // batch)
    smoothed = np.array([losses[max(0, k - window + 1) : k + 1].mean() for k in range(len(losses))])
    return {
        "eval_samples": np.array([p[0] for p in points], dtype=np.float64),
        "accuracy": np.array([p[1] for p in points], dtype=np.float64),
        "loss_samples": np.arange(1, len(losses) + 1, dtype=np.float64) * batch,
        "loss": smoothed,
    }


def plot_samples(out: pathlib.Path) -> pathlib.Path | None:
    """``<out>/figures/samples.png`` from the finished runs of ``out`` (None if there are none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(run, report.step_records(run)) for run in report.load_runs(out)]
    if not runs:
        return None
    tasks = sorted({s["task"] for s, _ in runs})
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.8 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        chosen = [(s, r) for s, r in runs if s["task"] == task]
        for summary, records in sorted(chosen, key=lambda x: x[0]["config"]["batch_size"]):
            c = samples_curves(summary, records)
            label = f"batch {summary['config']['batch_size']} (seed {summary['seed']})"
            row[0].plot(c["eval_samples"], c["accuracy"], marker="o", ms=3, label=label)
            row[1].plot(c["loss_samples"], c["loss"], lw=1)
        row[0].set_ylabel(f"{task} dev accuracy")
        row[1].set_ylabel(f"training loss (mean over {LOSS_WINDOW} examples)")
        for ax in row:
            ax.set_xlabel("training examples processed")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    target = out / "figures" / "samples.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], "results/pla_batch_size", VARIANTS, tasks=("sst2",))
    rc = run_variants(args, VARIANTS)
    print(f"wrote {plot_samples(pathlib.Path(args.out))}")
    raise SystemExit(rc)
