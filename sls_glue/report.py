"""``table.md`` and figures of an experiment folder, from its saved runs only.

Rows of the tables are optimizers; when runs of one optimizer in the folder were made with
different settings (another ``--epochs``, other ``--optimizer-kwargs``, ...), each setting gets
its own row, labelled with the settings that differ, so a cell never averages runs made with
other settings. Failed and diverged runs (:mod:`sls_glue.run_log`) are listed apart and never
averaged.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sls_glue import run_log
from sls_glue.config import config_from_dict, flag_of, run_identity

__all__ = [
    "PAPER_ORDER",
    "load_runs",
    "load_summaries",
    "markdown_table",
    "step_records",
    "write_report",
]

#: Row order of tables and legends: the paper's, then any other optimizer by name.
PAPER_ORDER = ("adam", "sgd_sls", "adam_sls", "pla_sls", "salsa")

#: Settings that may differ between the runs of one table row: the grid's own axes, and the
#: evaluations before the last epoch (the last epoch is always scored on the whole dev set).
_ROW_FREE = ("task", "seed", "optimizer", "eval_subset", "eval_every")


def load_summaries(out: str | pathlib.Path) -> list[dict[str, Any]]:
    """Every run's summary under ``out`` (any status), with ``path``, ``status``, ``label``."""
    runs = []
    for p in sorted(pathlib.Path(out).glob("*/*/seed*/summary.json")):
        summary = json.loads(p.read_text())
        summary["path"] = str(p.parent)
        summary["status"] = run_log.summary_status(summary)
        runs.append(summary)
    _label_rows(runs)
    return sorted(runs, key=lambda r: (_row_key(r), r["task"], r["seed"]))


def load_runs(out: str | pathlib.Path, must_exist: bool = False) -> list[dict[str, Any]]:
    """The finished runs under ``out`` (failed, diverged and unfinished ones left out).

    Raises:
      FileNotFoundError: ``must_exist`` and ``out`` is not a folder (otherwise: no runs).
    """
    if must_exist and not pathlib.Path(out).is_dir():
        raise FileNotFoundError(f"experiment folder {out} does not exist")
    return [r for r in load_summaries(out) if r["status"] == run_log.FINISHED]


def step_records(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``steps.jsonl`` records of a run from :func:`load_summaries` (by its ``path``)."""
    path = pathlib.Path(run["path"]) / "steps.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _variant(run: dict[str, Any]) -> dict[str, Any]:
    identity = run_identity(config_from_dict(run.get("config", {})))
    return {k: v for k, v in identity.items() if k not in _ROW_FREE}


def _label_rows(runs: list[dict[str, Any]]) -> None:
    """Sets ``run["label"]``: the optimizer, plus the settings its runs here differ in."""
    for optimizer in {r["optimizer"] for r in runs}:
        sel = [r for r in runs if r["optimizer"] == optimizer]
        variants = [_variant(r) for r in sel]
        differ = [k for k in variants[0] if len({json.dumps(v[k]) for v in variants}) > 1]
        for run, variant in zip(sel, variants):
            parts = [f"{flag_of(k)} {json.dumps(variant[k])}" for k in differ]
            run["label"] = f"{optimizer} ({', '.join(parts)})" if parts else optimizer


def _row_key(run: dict[str, Any]) -> tuple[int, str, str]:
    opt = run["optimizer"]
    rank = PAPER_ORDER.index(opt) if opt in PAPER_ORDER else len(PAPER_ORDER)
    return rank, opt, run.get("label", opt)


def row_labels(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The table rows of ``runs`` in order (paper order of optimizers, then by name)."""
    return list(dict.fromkeys(r.get("label", r["optimizer"]) for r in sorted(runs, key=_row_key)))


def mean_se(values: Iterable[float]) -> tuple[float, float, int]:
    """``(mean, standard error of the mean, n)`` of ``values`` (float64).

    The standard error uses the sample standard deviation (ddof 1); it is NaN for fewer than two
    values, and the mean is NaN as well for none.
    """
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return float(v.mean()), se, int(v.size)


def markdown_table(
    runs: Sequence[dict[str, Any]],
    metric: str = "dev_accuracy",
    not_counted: Sequence[dict[str, Any]] = (),
) -> str:
    """Paper Table I/II layout: rows = optimizers, columns = tasks + average; mean +- SE (n).

    ``runs`` are finished runs; ``not_counted`` (failed or diverged runs) only add a note to
    their cell, e.g. ``(n=2; 1 diverged)``.
    """
    for r in [*runs, *not_counted]:
        r.setdefault("label", r["optimizer"])
    tasks = sorted({r["task"] for r in [*runs, *not_counted]})
    header = "| optimizer | " + " | ".join(tasks) + " | average |"
    lines = [header, "|" + "---|" * (len(tasks) + 2)]
    for label in row_labels([*runs, *not_counted]):
        cells, means = [], []
        for task in tasks:
            vals = [r["final"][metric] for r in runs if r["task"] == task and r["label"] == label]
            bad = [r["status"] for r in not_counted if r["task"] == task and r["label"] == label]
            note = "".join(f"; {bad.count(s)} {s}" for s in sorted(set(bad)))
            mean, se, n = mean_se(vals)
            means.append(mean)
            if n == 0:
                cells.append(f"- ({note[2:]})" if note else "-")
            elif n == 1:
                cells.append(f"{mean:.4f} (n=1{note})")
            else:
                cells.append(f"{mean:.4f} ± {se:.4f} (n={n}{note})")
        complete = means and not any(math.isnan(m) for m in means)
        avg = f"{float(np.mean(means)):.4f}" if complete else "-"  # only over all tasks
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {avg} |")
    return "\n".join(lines) + "\n"


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


def pooling_line(runs: Sequence[dict[str, Any]]) -> str:
    """``Classifier input (pooling): cls (3 runs), mean (12 runs).``; older runs used [CLS]."""
    counts: dict[str, int] = {}
    for r in runs:
        pooling = r.get("pooling") or r["config"].get("pooling") or "cls"
        counts[pooling] = counts.get(pooling, 0) + 1
    items = ", ".join(f"{k} ({n} run{'s' if n > 1 else ''})" for k, n in sorted(counts.items()))
    return f"Classifier input (pooling): {items}.\n\n"


def write_report(out: str | pathlib.Path) -> pathlib.Path:
    """Writes ``table.md`` and the figures (:mod:`sls_glue.plots`) for the runs under ``out``.

    Raises:
      FileNotFoundError: no run under ``out`` has a summary.
    """
    from sls_glue.plots import plot_experiment

    out = pathlib.Path(out)
    summaries = load_summaries(out)
    runs = [r for r in summaries if r["status"] == run_log.FINISHED]
    bad = [r for r in summaries if r["status"] != run_log.FINISHED]
    if not summaries:
        raise FileNotFoundError(f"no finished runs (*/*/seed*/summary.json) under {out}")
    text = [
        "# Dev accuracy after the last epoch\n",
        pooling_line(summaries),
        markdown_table(runs, not_counted=bad),
    ]
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
        for label in row_labels(runs):
            sel = [r for r in runs if r["task"] == task and r["label"] == label]
            if sel:
                evals = np.mean([r["evaluations_per_step"] for r in sel])
                times = [t for r in sel for t in _steady_step_times(r)]
                secs = f"{float(np.median(times)):.2f}" if times else "-"  # e.g. 1 step/length
                text.append(f"| {task} | {label} | {len(sel)} | {evals:.2f} | {secs} |\n")
    if bad:
        text.append("\n# Runs not counted\n\n| task | optimizer | seed | status | reason |\n")
        text.append("|---|---|---|---|---|\n")
        for r in bad:
            reason = r.get("reason", "")
            text.append(
                f"| {r['task']} | {r['label']} | {r['seed']} | {r['status']} | {reason} |\n"
            )
    table = out / "table.md"
    table.write_text("".join(text))
    if runs:
        plot_experiment(out, runs)
    return table
