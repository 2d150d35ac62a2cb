"""A grid of fine-tuning runs (tasks x optimizers x seeds) that can be resumed, and its report.

Layout of an experiment folder::

    <out>/<task>/<optimizer>/seed<k>/steps.jsonl, summary.json   (one run each)
    <out>/table.md                                              (paper Table I/II layout)
    <out>/figures/*.png                                         (see sls_glue.plots)

A run whose ``summary.json`` exists is skipped, so an interrupted protocol continues where it
stopped; each run's files appear only when that run has finished.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sls_glue.train import TrainConfig

__all__ = ["load_runs", "markdown_table", "run_grid", "run_dir", "write_report"]

#: Paper Table I (small, 500 examples) and Table II (full): mean dev accuracy over 5 runs.
PAPER_TABLES = {
    "small": {"adam": 0.6875, "sgd_sls": 0.6927, "adam_sls": 0.7250, "pla_sls": 0.7165},
    "full": {"adam": 0.8745, "sgd_sls": 0.8714, "adam_sls": 0.8830, "pla_sls": 0.8779},
}


def run_dir(out: pathlib.Path, task: str, optimizer: str, seed: int) -> pathlib.Path:
    from sls_glue.data import get_task

    return out / get_task(task).name / optimizer / f"seed{seed}"


def run_grid(
    base: TrainConfig,
    out: str | pathlib.Path,
    *,
    tasks: Sequence[str],
    optimizers: Sequence[str],
    seeds: Sequence[int],
    overwrite: bool = False,
    per_task: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Runs every (task, seed, optimizer) without a summary yet; returns all summaries.

    Order: task, then seed, then optimizer, so that every optimizer gets a result for a seed
    before the next seed starts (a partial protocol still compares optimizers side by side).
    ``per_task`` overrides config fields for one task (e.g. ``{"qnli": {"eval_subset": 1000}}``).
    """
    from sls_glue.train import OPTIMIZERS, train_and_evaluate

    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizer(s) {unknown}; known: {', '.join(sorted(OPTIMIZERS))}")
    from sls_glue.data import get_task, split_path

    out = pathlib.Path(out)
    for task in tasks:  # bad task names or missing data fail before the first run
        spec = get_task(task)
        dev_split = (per_task or {}).get(task, {}).get("dev_split", base.dev_split)
        for split in ("train", dev_split):
            path = split_path(spec, split, base.data_dir)
            if not path.exists():
                raise FileNotFoundError(f"{spec.name} {split} file not found: {path}")
    summaries = []
    for task in tasks:
        overrides = (per_task or {}).get(task, {})
        for seed in seeds:
            for optimizer in optimizers:
                config = dataclasses.replace(
                    base, task=task, optimizer=optimizer, seed=seed, **overrides
                )
                target = run_dir(out, task, optimizer, seed)
                summaries.append(train_and_evaluate(config, target, overwrite=overwrite))
    return summaries


def load_runs(out: str | pathlib.Path) -> list[dict[str, Any]]:
    """Every finished run's summary under ``out`` (runs without summary.json are ignored)."""
    return [
        json.loads(p.read_text()) | {"path": str(p.parent)}
        for p in sorted(pathlib.Path(out).glob("*/*/seed*/summary.json"))
    ]


def _mean_se(values: Iterable[float]) -> tuple[float, float, int]:
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return float(v.mean()), se, int(v.size)


#: Row order of tables and legends: the paper's, then any other optimizer by name.
PAPER_ORDER = ("adam", "sgd_sls", "adam_sls", "pla_sls", "salsa")


def optimizer_order(runs: Sequence[dict[str, Any]]) -> list[str]:
    names = {r["optimizer"] for r in runs}
    return [o for o in PAPER_ORDER if o in names] + sorted(names - set(PAPER_ORDER))


def markdown_table(runs: Sequence[dict[str, Any]], metric: str = "dev_accuracy") -> str:
    """Paper Table I/II layout: rows = optimizers, columns = tasks + average; mean +- SE (n)."""
    tasks = sorted({r["task"] for r in runs})
    optimizers = optimizer_order(runs)
    header = "| optimizer | " + " | ".join(tasks) + " | average |"
    lines = [header, "|" + "---|" * (len(tasks) + 2)]
    for opt in optimizers:
        cells, means = [], []
        for task in tasks:
            vals = [r["final"][metric] for r in runs if r["task"] == task and r["optimizer"] == opt]
            mean, se, n = _mean_se(vals)
            means.append(mean)
            if n == 0:
                cells.append("-")
            elif n == 1:
                cells.append(f"{mean:.4f} (n=1)")
            else:
                cells.append(f"{mean:.4f} ± {se:.4f} (n={n})")
        complete = means and not any(math.isnan(m) for m in means)
        avg = f"{float(np.mean(means)):.4f}" if complete else "-"  # only over all tasks
        lines.append(f"| {opt} | " + " | ".join(cells) + f" | {avg} |")
    return "\n".join(lines) + "\n"


def pooling_line(runs: Sequence[dict[str, Any]]) -> str:
    """``Pooling: mean (12 runs), cls (3 runs).``; runs stored without the field used [CLS]."""
    counts: dict[str, int] = {}
    for r in runs:
        pooling = r.get("pooling") or r["config"].get("pooling") or "cls"
        counts[pooling] = counts.get(pooling, 0) + 1
    items = ", ".join(f"{k} ({n} run{'s' if n > 1 else ''})" for k, n in sorted(counts.items()))
    return f"Classifier input (pooling): {items}.\n\n"


def _steady_step_times(run: dict[str, Any]) -> list[float]:
    """Per-step wall times of a run without the first step at each padded length (compiles)."""
    seen, times = set(), []
    path = pathlib.Path(run["path"]) / "steps.jsonl"
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["seq_len"] in seen:
            times.append(record["time_s"])
        seen.add(record["seq_len"])
    return times


def write_report(out: str | pathlib.Path) -> pathlib.Path:
    """Writes ``table.md`` and the figures for the finished runs under ``out``."""
    from sls_glue.plots import plot_experiment

    out = pathlib.Path(out)
    runs = load_runs(out)
    if not runs:
        raise FileNotFoundError(f"no finished runs (*/*/seed*/summary.json) under {out}")
    text = ["# Dev accuracy after the last epoch\n", pooling_line(runs), markdown_table(runs)]
    skip = ("dev_accuracy", "dev_examples")  # dev_examples: a count in early summaries
    secondary = sorted({k for r in runs for k in r["final"] if k not in skip})
    for metric in secondary:
        subset = [r for r in runs if metric in r["final"]]
        text += [f"\n# {metric}\n", markdown_table(subset, metric)]
    text.append("\n# Cost\n")
    text.append(
        "Median seconds per step leave out each run's first step at every padded length "
        "(they include compilation); timings on a shared machine are noisy.\n\n"
    )
    text.append("| task | optimizer | runs | value_fn evaluations / step | median s / step |\n")
    text.append("|---|---|---|---|---|\n")
    for task in sorted({r["task"] for r in runs}):
        for opt in optimizer_order(runs):
            sel = [r for r in runs if r["task"] == task and r["optimizer"] == opt]
            if sel:
                evals = np.mean([r["evaluations_per_step"] for r in sel])
                times = [t for r in sel for t in _steady_step_times(r)]
                secs = f"{float(np.median(times)):.2f}" if times else "-"  # e.g. 1 step/length
                text.append(f"| {task} | {opt} | {len(sel)} | {evals:.2f} | {secs} |\n")
    table = out / "table.md"
    table.write_text("".join(text))
    plot_experiment(out, runs)
    return table
