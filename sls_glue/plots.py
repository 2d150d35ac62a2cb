"""Figures of an experiment folder (paper Fig. 1/7, 3/5, 4/6), from saved runs only.

* ``loss_<task>.png``: training loss per step, mean over seeds with a standard-error band
  (smoothed with a running mean over one epoch's steps / 4).
* ``accuracy_<task>.png``: dev accuracy after each epoch, mean +- standard error.
* ``step_sizes_<task>_<optimizer>.png``: step size of every parameter group per step (seed 0 or
  the first seed found), log scale.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from sls_glue.report import step_records

__all__ = ["plot_experiment"]


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or x.size < width:
        return x
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width - 1, x[0]), x])
    return np.convolve(padded, kernel, mode="valid")


def _label(run: dict[str, Any]) -> str:
    return run.get("label", run["optimizer"])


def _file_part(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("_")


def plot_experiment(out: str | pathlib.Path, runs: Sequence[dict[str, Any]]) -> list[pathlib.Path]:
    """Writes the figures of ``runs`` into ``out/figures``; returns their paths.

    Curves are one per row label (``run["label"]``, else the optimizer), in the order the
    labels first appear in ``runs`` (:func:`sls_glue.report.load_runs` sorts them).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir = pathlib.Path(out) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task in sorted({r["task"] for r in runs}):
        task_runs = [r for r in runs if r["task"] == task]
        optimizers = list(dict.fromkeys(_label(r) for r in task_runs))

        fig, ax = plt.subplots(figsize=(6, 4))
        for opt in optimizers:
            sel = [r for r in task_runs if _label(r) == opt]
            width = max(1, sel[0]["steps_per_epoch"] // 4)
            curves = [_smooth(np.array([s["loss"] for s in step_records(r)]), width) for r in sel]
            n = min(len(c) for c in curves)
            stack = np.stack([c[:n] for c in curves])
            mean = stack.mean(0)
            se = stack.std(0, ddof=1) / np.sqrt(len(sel)) if len(sel) > 1 else np.zeros(n)
            x = np.arange(n)
            ax.plot(x, mean, label=f"{opt} (n={len(sel)})")
            ax.fill_between(x, mean - se, mean + se, alpha=0.25)
        ax.set(xlabel="step", ylabel="training loss (running mean)", title=f"{task}: training loss")
        ax.legend()
        fig.tight_layout()
        path = fig_dir / f"loss_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        fig, ax = plt.subplots(figsize=(6, 4))
        for opt in optimizers:
            sel = [r for r in task_runs if _label(r) == opt]
            n_epochs = min(len(r["epochs"]) for r in sel)
            acc = np.array([[e["dev_accuracy"] for e in r["epochs"][:n_epochs]] for r in sel])
            mean = acc.mean(0)
            se = acc.std(0, ddof=1) / np.sqrt(len(sel)) if len(sel) > 1 else np.zeros(n_epochs)
            epochs = np.arange(1, n_epochs + 1)
            ax.errorbar(epochs, mean, yerr=se, marker="o", capsize=3, label=f"{opt} (n={len(sel)})")
        ax.set(xlabel="epoch", ylabel="dev accuracy", title=f"{task}: dev accuracy")
        ax.set_xticks(np.arange(1, n_epochs + 1))
        ax.legend()
        fig.tight_layout()
        path = fig_dir / f"accuracy_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        for opt in optimizers:
            sel = sorted((r for r in task_runs if _label(r) == opt), key=lambda r: r["seed"])
            steps = step_records(sel[0])
            sizes = np.array([s["step_sizes"] for s in steps])
            fig, ax = plt.subplots(figsize=(6, 4))
            for g in range(sizes.shape[1]):
                ax.plot(sizes[:, g], label=f"group {g}" if sizes.shape[1] > 1 else "step size")
            ax.set_yscale("log")
            ax.set(
                xlabel="step",
                ylabel="step size" if sel[0]["optimizer"] != "adam" else "learning rate",
                title=f"{task}: {opt} step sizes (seed {sel[0]['seed']})",
            )
            if sizes.shape[1] <= 12:
                ax.legend(fontsize=7, ncol=2)
            fig.tight_layout()
            path = fig_dir / f"step_sizes_{task}_{_file_part(opt)}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written
