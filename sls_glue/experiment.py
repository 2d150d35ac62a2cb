"""A grid of fine-tuning runs (tasks x optimizers x seeds) that can be resumed, and its report.

Layout of an experiment folder::

    <out>/<task>/<optimizer>/seed<k>/steps.jsonl, summary.json   (one run each)
    <out>/table.md                                              (paper Table I/II layout)
    <out>/figures/*.png                                         (see sls_glue.plots)

A finished run is skipped, an interrupted one continues from its last checkpoint, and a failed
or diverged one is run again (:mod:`sls_glue.run_log`), so the same command resumes a protocol
where it stopped. The report is :mod:`sls_glue.report`.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Sequence
from typing import Any

from sls_glue import tasks as glue_tasks
from sls_glue.config import TrainConfig
from sls_glue.report import PAPER_ORDER, load_runs, markdown_table, write_report

__all__ = [
    "PAPER_ORDER",
    "PAPER_TABLES",
    "load_runs",
    "markdown_table",
    "run_dir",
    "run_grid",
    "write_report",
]

log = logging.getLogger("sls_glue")

#: Paper Table I (small, 500 examples) and Table II (full): mean dev accuracy over 5 runs.
PAPER_TABLES = {
    "small": {"adam": 0.6875, "sgd_sls": 0.6927, "adam_sls": 0.7250, "pla_sls": 0.7165},
    "full": {"adam": 0.8745, "sgd_sls": 0.8714, "adam_sls": 0.8830, "pla_sls": 0.8779},
}


def run_dir(out: pathlib.Path, task: str, optimizer: str, seed: int) -> pathlib.Path:
    return pathlib.Path(out) / glue_tasks.get_task(task).name / optimizer / f"seed{seed}"


def check_grid(
    base: TrainConfig,
    out: str | pathlib.Path,
    *,
    tasks: Sequence[str],
    optimizers: Sequence[str],
    seeds: Sequence[int],
    per_task: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Everything a grid can fail on before its first run: flags, every task's files (parsed),
    the checkpoint's files, every optimizer's keyword arguments.

    Raises:
      ValueError / FileNotFoundError: the first problem found, naming the flag or file.
    """
    from sls_glue.checkpoint import check_checkpoint
    from sls_glue.train import check_config, make_optimizer, read_examples

    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder (it is created if absent)")
    for task in tasks:
        config = dataclasses.replace(base, task=task, **(per_task or {}).get(task, {}))
        for optimizer in optimizers:
            spec = check_config(dataclasses.replace(config, optimizer=optimizer))
        for seed in seeds:
            read_examples(dataclasses.replace(config, seed=seed), spec)
    random_model = base.model == "random:tiny"  # uses only the default checkpoint's tokenizer
    check_checkpoint(None if random_model else base.model, weights=not random_model)
    probe = {"encoder": {"layers": [0, 0]}, "w": 0.0}  # enough for every factory's labels
    for optimizer in optimizers:
        make_optimizer(dataclasses.replace(base, optimizer=optimizer), 1, probe)


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
    """Runs every (task, seed, optimizer) not finished yet; returns the summaries.

    Order: task, then seed, then optimizer, so that every optimizer gets a result for a seed
    before the next seed starts (a partial protocol still compares optimizers side by side).
    ``per_task`` overrides config fields for one task (e.g. ``{"qnli": {"eval_subset": 1000}}``).
    A run that another process is writing is skipped (it is not in the returned list).
    """
    from sls_glue.train import RunInProgress, train_and_evaluate

    check_grid(base, out, tasks=tasks, optimizers=optimizers, seeds=seeds, per_task=per_task)
    summaries = []
    for task in tasks:
        overrides = (per_task or {}).get(task, {})
        for seed in seeds:
            for optimizer in optimizers:
                config = dataclasses.replace(
                    base, task=task, optimizer=optimizer, seed=seed, **overrides
                )
                target = run_dir(pathlib.Path(out), task, optimizer, seed)
                try:
                    summaries.append(train_and_evaluate(config, target, overwrite=overwrite))
                except RunInProgress as busy:
                    log.warning("skipped: %s", busy)
    return summaries
