"""The line searches' step sizes beside the tuned Adam's learning rate over training (paper Fig. 7).

ADAMSLS and PLASLS step along Adam's direction ``m_hat / (sqrt(v_hat) + eps)`` (Kenneweg et al.
2023, Eq. 5-7), so their step size is on the same scale as Adam's learning rate: a step size of
1e-4 moves the weights as far as Adam at lr 1e-4 would (SaLSA steps along
``g / (sqrt(v_hat) + eps)``, the same scale; SGDSLS's step size is not comparable). For every
finished run of the given folders, per step, the figure shows the step size (PLASLS: the mean
over its parameter groups, with the range from the smallest to the largest group shaded; Adam:
its learning rate from ``steps.jsonl``'s ``step_sizes``, warm-up and cosine decay included) on a
log scale, one panel per task; the table gives the mean over each epoch.

Usage (from the repository root)::

    .venv/bin/python experiments/step_size_trajectories.py results/adam_lr_sweep \\
        results/armijo_constant results/glue_small_checkpoint_pooling \\
        --out results/step_size_trajectories --seed 0

Writes ``<out>/table.md`` and ``<out>/figures/step_sizes.png``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from time_to_accuracy import load_folder  # noqa: E402

__all__ = ["epoch_means", "group_mean_step_sizes", "load_runs", "main"]


def load_runs(folders: Sequence[pathlib.Path], seed: int | None = None) -> list[dict[str, Any]]:
    """Finished runs of the folders, in folder order (:func:`time_to_accuracy.load_folder`:
    each summary with ``records`` from ``steps.jsonl``, ``path`` and ``folder``).

    Raises:
      FileNotFoundError: a folder does not exist.
    """
    return [run for folder in folders for run in load_folder(folder, seed)]


def group_mean_step_sizes(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """float64 ``(steps, 3)``: per step the mean, smallest and largest step size over groups.

    ``step_sizes`` of a record is the step size of each parameter group after the step (one
    entry for ADAMSLS, SGDSLS and SaLSA; the learning rate for Adam).
    """
    out = np.empty((len(records), 3), dtype=np.float64)
    for k, r in enumerate(records):
        sizes = np.asarray(r["step_sizes"], dtype=np.float64)
        out[k] = sizes.mean(), sizes.min(), sizes.max()
    return out


def epoch_means(records: Sequence[dict[str, Any]]) -> list[float]:
    """The mean over groups and over the steps of each epoch (``epoch`` of the records), in
    epoch order."""
    by_epoch: dict[int, list[float]] = {}
    for r in records:
        by_epoch.setdefault(int(r["epoch"]), []).append(float(np.mean(r["step_sizes"])))
    return [float(np.mean(by_epoch[e])) for e in sorted(by_epoch)]


def _label(run: dict[str, Any], mixed_pooling: bool) -> str:
    label = run["optimizer"]
    if run.get("num_step_sizes", 1) > 1:
        label += f" ({run['num_step_sizes']} groups, mean)"
    if mixed_pooling:
        label += f" [{run.get('pooling') or 'cls'}]"
    return label


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=pathlib.Path, nargs="+")
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--seed", type=int, default=None, help="only this seed (default: all)")
    parser.add_argument("--no-figure", action="store_true")
    args = parser.parse_args(argv)

    runs = load_runs(args.folders, args.seed)
    if not runs:
        raise ValueError(f"no finished runs in {[str(f) for f in args.folders]}")
    mixed = len({r.get("pooling") or "cls" for r in runs}) > 1
    for r in runs:
        r["label"] = _label(r, mixed)
    tasks = sorted({r["task"] for r in runs})
    epochs = max(len(epoch_means(r["records"])) for r in runs)
    lines = [
        "# Mean step size (Adam: learning rate) over each epoch",
        "",
        "| task | run | seed | " + " | ".join(f"epoch {e + 1}" for e in range(epochs)) + " |",
        "|---" * (epochs + 3) + "|",
    ]
    for task in tasks:
        for r in sorted((r for r in runs if r["task"] == task), key=lambda r: r["label"]):
            means = epoch_means(r["records"])
            cells = [f"{m:.2e}" for m in means] + ["-"] * (epochs - len(means))
            lines.append(f"| {task} | {r['label']} | {r['seed']} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    print(text)
    if not args.no_figure:
        _plot(runs, tasks, args.out / "figures" / "step_sizes.png")
    return 0


def _plot(runs: Sequence[dict[str, Any]], tasks: Sequence[str], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for r in sorted((r for r in runs if r["task"] == task), key=lambda r: r["label"]):
            sizes = group_mean_step_sizes(r["records"])
            steps = np.arange(1, len(sizes) + 1)
            is_adam = r["config"].get("optimizer", r["optimizer"]).startswith("adam_lr") or (
                r["optimizer"] == "adam"
            )
            (line,) = ax.plot(steps, sizes[:, 0], "--" if is_adam else "-", label=r["label"])
            if sizes.shape[0] and np.any(sizes[:, 1] != sizes[:, 2]):
                ax.fill_between(steps, sizes[:, 1], sizes[:, 2], color=line.get_color(), alpha=0.15)
        ax.set_yscale("log")
        ax.set_ylim(bottom=3e-6)  # Adam's cosine decay ends at 0; below this is its last steps
        ax.set_xlabel("training step")
        ax.set_ylabel("step size (Adam: learning rate)")
        ax.set_title(task)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
