"""The README's main table: the small protocol with the checkpoint's pooling, against a tuned Adam.

Gathers finished runs from the committed experiment folders under ``--results`` (all of them
the small protocol: 500 training examples sampled with the seed, 5 epochs, batch 32, max length
256, MiniLM-L6 with its mean pooling) into one table of dev accuracy after the last epoch, mean
+- standard error over seeds (``n`` per cell):

* the paper's five optimizers with the paper's settings (``glue_small_checkpoint_pooling``);
* ADAMSLS and PLASLS at the Armijo constant c = 0.5 (``armijo_constant``);
* ``adam_sls_skip``, the library's recommended line search (``cheap_search``, row
  ``adam_sls_c0.5_skip3_fb0.5``: the same settings);
* **tuned Adam**: per task, the peak learning rate of the sweep (``adam_lr_sweep``, plus the
  protocol's own ``adam`` run at lr 2e-5) with the highest final dev accuracy on the selection
  seed (``--select-seed``, 0), reported over every seed run at that rate. The selection seed's
  figure is the best of the sweep, so it is biased upwards; the other seeds are not.

A second table gives, per line search and task, the mean difference to tuned Adam over the seeds
both have (paired by seed: the same 500 training examples), +- its standard error; a third the
value_fn evaluations per step. The "average" column is the mean of the four task means, only
when a row has all four tasks.

Usage (from the repository root)::

    .venv/bin/python experiments/main_table.py --results results --out results/main_table.md
    .venv/bin/python experiments/main_table.py --plan        # the runs that complete 3 seeds
    GLUE_DIR=path/to/glue nice -n 10 .venv/bin/python experiments/main_table.py --complete

``--plan`` prints, in the order ``--complete`` runs them, the commands of the experiment scripts
that bring every cell to the seeds of ``--seeds`` (0 1 2): first cells without their selection
seed, then by row (the protocol, tuned Adam, ``adam_sls_skip``, then the c = 0.5 rows). The
scripts are resumable, so ``--complete`` can be stopped (SIGTERM) and started again; it writes
the table after the last command. Tuned Adam's missing seeds are run at the rate selected on the
selection seed; a task without a selection-seed sweep is left to ``adam_lr_sweep.py``.

Raises ``FileNotFoundError`` naming a missing experiment folder before writing anything.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from adam_lr_sweep import variant_name  # the sweep's row names (this folder is on sys.path)

from sls_glue import report

__all__ = ["ROWS", "TASKS", "gather", "main", "plan", "render", "tuned_adam"]

TASKS = ("SST-2", "MRPC", "QNLI", "MNLI")

#: ``(row label, experiment folder, optimizer name in its summaries)``.
ROWS = (
    ("adam, lr 2e-5 (the paper's)", "glue_small_checkpoint_pooling", "adam"),
    ("sgd_sls (the paper's)", "glue_small_checkpoint_pooling", "sgd_sls"),
    ("adam_sls, c = 0.1 (the paper's)", "glue_small_checkpoint_pooling", "adam_sls"),
    ("pla_sls, c = 0.1 (the paper's)", "glue_small_checkpoint_pooling", "pla_sls"),
    ("salsa (its defaults)", "glue_small_checkpoint_pooling", "salsa"),
    ("adam_sls, c = 0.5", "armijo_constant", "adam_sls_c0.5"),
    ("pla_sls, c = 0.5", "armijo_constant", "pla_sls_c0.5"),
    ("adam_sls_skip (recommended)", "cheap_search", "adam_sls_c0.5_skip3_fb0.5"),
)
TUNED = "adam, tuned lr (best of the sweep on the selection seed)"
#: Where the tuned-Adam candidates come from: the sweep, and the protocol's lr-2e-5 run.
SWEEP = "adam_lr_sweep"
PROTOCOL_ADAM = ("glue_small_checkpoint_pooling", "adam", 2e-5)
#: The resumable script behind each folder; ``--variants`` takes the summaries' optimizer name.
SCRIPTS = {
    "glue_small_checkpoint_pooling": "experiments/glue_small_checkpoint_pooling.sh",
    "armijo_constant": "experiments/armijo_constant.py",
    "cheap_search": "experiments/cheap_search.py",
    SWEEP: "experiments/adam_lr_sweep.py",
}
#: The order in which :func:`plan` completes the rows.
PLAN_ORDER = (
    *(label for label, folder, _ in ROWS if folder == PROTOCOL_ADAM[0]),
    TUNED,
    "adam_sls_skip (recommended)",
    "adam_sls, c = 0.5",
    "pla_sls, c = 0.5",
)
CLI_TASKS = {"SST-2": "sst2", "MRPC": "mrpc", "QNLI": "qnli", "MNLI": "mnli"}


def _by_task_seed(runs: Sequence[dict[str, Any]], optimizer: str) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in runs:
        if r["optimizer"] == optimizer:
            out.setdefault(r["task"], {})[int(r["seed"])] = r
    return out


def tuned_adam(
    results: pathlib.Path,
    select_seed: int = 0,
    loaded: dict[str, list[dict[str, Any]]] | None = None,
) -> tuple[dict[str, dict[int, dict]], dict[str, float]]:
    """Per task, the sweep's runs at the peak learning rate that is best on ``select_seed``.

    Returns ``(runs[task][seed], learning_rate[task])``; a task without a run on ``select_seed``
    is left out. Ties go to the smaller learning rate. ``loaded`` maps folder names to runs
    already read (:func:`gather` passes its own), so no folder is read twice.
    """
    loaded = {} if loaded is None else loaded
    for name in (SWEEP, PROTOCOL_ADAM[0]):
        if name not in loaded:
            loaded[name] = report.load_runs(results / name, must_exist=True)
    candidates: dict[float, dict[str, dict[int, dict]]] = {}
    for r in loaded[SWEEP]:
        lr = float(r["config"]["adam_learning_rate"])
        candidates.setdefault(lr, {}).setdefault(r["task"], {})[int(r["seed"])] = r
    folder, optimizer, lr = PROTOCOL_ADAM
    for task, seeds in _by_task_seed(loaded[folder], optimizer).items():
        for seed, r in seeds.items():  # the sweep's own lr-2e-5 run, where it has one, wins
            candidates.setdefault(lr, {}).setdefault(task, {}).setdefault(seed, r)
    runs, rates = {}, {}
    for task in TASKS:
        best = None
        for lr in sorted(candidates):
            r = candidates[lr].get(task, {}).get(select_seed)
            if r is not None and (best is None or r["final"]["dev_accuracy"] > best[1]):
                best = (lr, r["final"]["dev_accuracy"])
        if best is not None:
            rates[task] = best[0]
            runs[task] = candidates[best[0]][task]
    return runs, rates


def gather(results: pathlib.Path, select_seed: int = 0) -> dict[str, Any]:
    """``{"rows": {label: {task: {seed: summary}}}, "rates": {task: lr}}`` for :func:`render`."""
    loaded: dict[str, list[dict[str, Any]]] = {}
    rows = {}
    for label, folder, optimizer in ROWS:
        if folder not in loaded:
            loaded[folder] = report.load_runs(results / folder, must_exist=True)
        rows[label] = _by_task_seed(loaded[folder], optimizer)
    rows[TUNED], rates = tuned_adam(results, select_seed, loaded)
    return {"rows": rows, "rates": rates}


def plan(
    data: dict[str, Any], seeds: Sequence[int] = (0, 1, 2), select_seed: int = 0
) -> list[list[str]]:
    """The commands (argument lists, from the repository root) that complete ``seeds`` per cell.

    Per row and task, a command for ``select_seed`` where it is lacking, all of them first, and
    one for the other lacking seeds, in :data:`PLAN_ORDER`; the protocol's rows share one
    command (its script runs the whole protocol at ``seeds``, resumably). Tuned Adam without a
    selection-seed sweep run is left out.
    """
    rows, rates = data["rows"], data["rates"]
    variants = {label: (folder, optimizer) for label, folder, optimizer in ROWS}
    variants[TUNED] = (SWEEP, None)
    jobs = []
    for rank, label in enumerate(PLAN_ORDER):
        folder, optimizer = variants[label]
        for task in TASKS:
            if label == TUNED:
                if task not in rates:
                    continue
                optimizer = variant_name(rates[task])
            lacking = [s for s in seeds if s not in rows[label].get(task, {})]
            if select_seed in lacking:  # the selection seed first, on its own
                jobs.append((False, rank, folder, task, optimizer, [select_seed]))
            rest = [s for s in lacking if s != select_seed]
            if rest:
                jobs.append((True, rank, folder, task, optimizer, rest))
    commands: list[list[str]] = []
    for _, _, folder, task, optimizer, lacking in sorted(jobs, key=lambda j: j[:2]):
        script = SCRIPTS[folder]
        if script.endswith(".sh"):  # the whole protocol at ``seeds``, the selection seed first
            ordered = sorted(seeds, key=lambda s: s != select_seed)
            command = ["bash", script, f"results/{folder}", *map(str, ordered)]
        else:
            command = [sys.executable, script, "--tasks", CLI_TASKS[task], "--seeds"]
            command += [str(s) for s in lacking] + ["--variants", optimizer]
        if command not in commands:
            commands.append(command)
    return commands


def _cell(values: Sequence[float], sign: str = "") -> str:
    """``mean ± se (n=k)``; ``sign="+"`` prints the sign of the mean (for differences)."""
    mean, se, n = report.mean_se(values)
    if n == 0:
        return "-"
    m = f"{mean:{sign}.4f}"
    return f"{m} (n=1)" if n == 1 else f"{m} ± {se:.4f} (n={n})"


def _lr(lr: float) -> str:
    mantissa, exponent = f"{lr:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _row(label: str, per_task: dict[str, dict[int, dict]], value, cell, average: str) -> str:
    """One markdown row: ``cell(values, task)`` per task, where ``values = value(task, seeds)``,
    and the mean of the per-task means in format ``average`` when no task is missing."""
    cells, means = [], []
    for task in TASKS:
        values = value(task, per_task.get(task, {}))
        means.append(float(np.mean(values)) if values else math.nan)
        cells.append(cell(values, task))
    avg = "-" if any(math.isnan(m) for m in means) else format(float(np.mean(means)), average)
    return f"| {label} | " + " | ".join(cells) + f" | {avg} |"


def _accuracies(task: str, seeds: dict[int, dict]) -> list[float]:
    return [r["final"]["dev_accuracy"] for _, r in sorted(seeds.items())]


def render(data: dict[str, Any], select_seed: int = 0) -> str:
    """The three markdown tables (accuracy, difference to tuned Adam, evaluations per step)."""
    rows, rates = data["rows"], data["rates"]
    tuned = rows[TUNED]
    head = "| optimizer | " + " | ".join(TASKS) + " | average |\n|" + "---|" * (len(TASKS) + 2)

    def accuracy_cell(label):
        def cell(values, task):
            lr = f", lr {_lr(rates[task])}" if label == TUNED and task in rates else ""
            return _cell(values) + lr

        return cell

    def differences(task, seeds):
        common = sorted(set(seeds) & set(tuned.get(task, {})))
        return [
            seeds[s]["final"]["dev_accuracy"] - tuned[task][s]["final"]["dev_accuracy"]
            for s in common
        ]

    def evaluations(task, seeds):
        return [r["evaluations_per_step"] for r in seeds.values()]

    searches = {k: v for k, v in rows.items() if not k.startswith("adam,")}
    out = ["# Dev accuracy after the last epoch (mean ± standard error over seeds)", "", head]
    out += [_row(k, v, _accuracies, accuracy_cell(k), ".4f") for k, v in rows.items()]
    out += [
        "",
        f"Tuned Adam: per task the peak learning rate (warm-up + cosine) with the best final dev "
        f"accuracy on seed {select_seed} among the sweep's, reported over every seed run at that "
        f"rate; its seed-{select_seed} figure is the best of the sweep (biased upwards).",
        "",
        "# Difference to tuned Adam, paired by seed (mean ± standard error over the common seeds)",
        "",
        head,
    ]
    out += [
        _row(k, v, differences, lambda d, _: _cell(d, sign="+"), "+.4f")
        for k, v in searches.items()
    ]
    out += ["", "# value_fn evaluations per step (mean over the row's runs)", "", head]
    out += [
        _row(k, v, evaluations, lambda e, _: f"{np.mean(e):.2f}" if e else "-", ".2f")
        for k, v in searches.items()
    ]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> pathlib.Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=pathlib.Path, default=pathlib.Path("results"))
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/main_table.md"))
    parser.add_argument("--select-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--plan", action="store_true", help="print the runs --complete makes")
    action.add_argument("--complete", action="store_true", help="make them, then the table")
    args = parser.parse_args(argv)
    if args.plan or args.complete:
        commands = plan(gather(args.results, args.select_seed), args.seeds, args.select_seed)
        env = dict(os.environ)  # sls-glue, for the protocol's script, beside python
        env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env["PATH"]])
        for command in commands:
            print(" ".join(command), flush=True)
            if args.complete:
                done = subprocess.run(command, env=env)
                if done.returncode:
                    raise SystemExit(f"stopped: {' '.join(command)} exited {done.returncode}")
        if args.plan:
            return args.out
    text = render(gather(args.results, args.select_seed), args.select_seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text, end="")
    return args.out


if __name__ == "__main__":
    main()
