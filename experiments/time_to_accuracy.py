"""Steps and seconds each optimizer needs to reach the best tuned-Adam dev accuracy, per task.

The paper's title claims *faster convergence*; this measures it the way a user would: the target
of a task is the best final dev accuracy (after the last epoch) of the tuned-Adam sweep (the runs
in ``--reference``, one per peak learning rate), and for every run of the given folders (the
reference runs included) the table gives the first evaluation at which the run's dev accuracy is
at or above the target, as

* steps: training steps done at that evaluation;
* seconds: training seconds up to that step (the sum of ``steps.jsonl``'s ``time_s``; the first
  step at each padded length, which includes compiling the step, counts as the median of the
  run's other steps at that length; evaluation time is left out, it is the same for every
  optimizer);
* cost: the same in Adam steps, machine-independent: each step counts 1 (its gradient, like an
  Adam step) plus ``--forward-cost`` for each of the line search's extra forward passes
  (``num_evaluations`` of the step records; none for Adam). The default 0.25 is the ratio of a
  forward pass to an Adam step on MiniLM-L6, batch 32, length 64, measured interleaved on a
  quiet CPU (``benchmarks/README.md``, step cost: forward 0.250, and adam_sls at one
  evaluation 1.242 against this model's 1.25); at length 128 it is 0.315.

A second pair of columns uses the target less one binomial standard error of the target
accuracy on the dev set, ``sqrt(p (1 - p) / n_dev)``: the dev set's own sampling noise, so that
"reached within the noise of the dev set" can be read off too. "not reached" means no evaluation
of the run got there. The resolution is the evaluation cadence: after every epoch (16 steps in
the small protocol) plus any ``--eval-every`` evaluations the run made; the step given is the
first evaluation at or above the target, so an upper bound on the step where the run crossed it.
Evaluations before the last epoch of QNLI and MNLI use 1000 dev examples (``eval_subset``), the
last one the whole dev set.

Seconds are wall times on the machine that ran each run; on a shared machine they carry the
contention of the moment (see the table's median seconds per step), so compare them with care;
steps and cost do not depend on the machine.

Usage (from the repository root)::

    .venv/bin/python experiments/time_to_accuracy.py --reference results/adam_lr_sweep \\
        --runs results/armijo_constant results/glue_small_checkpoint_pooling \\
        --out results/time_to_accuracy --seed 0

Writes ``<out>/table.md`` and ``<out>/figures/time_to_accuracy.png`` (per task: dev accuracy
against steps, seconds and cost, the target as a horizontal line).
"""

from __future__ import annotations

import argparse
import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from sls_glue import report

__all__ = [
    "cumulative_cost",
    "cumulative_seconds",
    "eval_points",
    "first_reach",
    "load_folder",
    "main",
    "targets",
    "time_to_target_rows",
]


def load_folder(folder: pathlib.Path, seed: int | None = None) -> list[dict[str, Any]]:
    """The finished runs of an experiment folder (``<folder>/<task>/<optimizer>/seed<k>/``).

    Each summary gets ``path`` (the run folder), ``records`` (the ``steps.jsonl`` records) and
    ``folder`` (the experiment folder's name). Runs whose summary has a ``status`` other than
    ``finished`` are left out; ``seed`` keeps only that seed.

    Raises:
      FileNotFoundError: ``folder`` does not exist.
    """
    runs = [
        r for r in report.load_runs(folder, must_exist=True) if seed is None or r["seed"] == seed
    ]
    for run in runs:
        run["records"] = report.step_records(run)
        run["folder"] = folder.name
    return sorted(runs, key=lambda r: r["path"])


def eval_points(summary: dict[str, Any], metric: str = "dev_accuracy") -> list[tuple[int, float]]:
    """``(steps done, metric)`` of every evaluation of a run, in step order.

    From ``summary["evaluations"]`` (the ``--eval-every`` ones, each with its ``step``) and
    ``summary["epochs"]`` (epoch ``e`` ends after ``e * steps_per_epoch`` steps). Evaluations
    without ``metric`` are skipped.
    """
    points = [
        (int(e["step"]), float(e[metric])) for e in summary.get("evaluations", []) if metric in e
    ]
    per_epoch = int(summary["steps_per_epoch"])
    points += [
        (int(e["epoch"]) * per_epoch, float(e[metric])) for e in summary["epochs"] if metric in e
    ]
    return sorted(points)


def cumulative_seconds(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Training seconds after each step, float64 ``(len(records),)``: ``out[k]`` after step k.

    The first step at each padded length (``seq_len``) includes compiling the step; it counts as
    the median ``time_s`` of the other steps at that length, or of all other steps when that
    length has no other step (kept as measured when the run has a single step).
    """
    times = np.array([float(r["time_s"]) for r in records], dtype=np.float64)
    lengths = [r["seq_len"] for r in records]
    first = {}
    for k, n in enumerate(lengths):
        first.setdefault(n, k)
    compiles = set(first.values())
    steady = [k for k in range(len(records)) if k not in compiles]
    for n, k in first.items():
        same = [times[j] for j in steady if lengths[j] == n]
        pool = same or [times[j] for j in steady]
        if pool:
            times[k] = float(np.median(pool))
    return np.cumsum(times)


def cumulative_cost(records: Sequence[dict[str, Any]], forward_cost: float = 0.25) -> np.ndarray:
    """Cost in Adam steps after each step, float64 ``(len(records),)``: per step 1 (the
    gradient) plus ``forward_cost`` times its extra forward passes (``num_evaluations``, 0 when
    absent, as for Adam).

    Raises:
      ValueError: ``forward_cost`` is negative.
    """
    if forward_cost < 0:
        raise ValueError(f"forward_cost must be >= 0, got {forward_cost}")
    per_step = [1 + forward_cost * int(r.get("num_evaluations", 0)) for r in records]
    return np.cumsum(np.array(per_step, dtype=np.float64))


def first_reach(points: Sequence[tuple[int, float]], target: float) -> int | None:
    """Steps done at the first evaluation whose value is at or above ``target``, or None."""
    for step, value in points:
        if value >= target - 1e-12:
            return step
    return None


def targets(
    reference: Sequence[dict[str, Any]], metric: str = "dev_accuracy"
) -> dict[str, dict[str, Any]]:
    """Per task: the best final ``metric`` of the reference runs.

    Returns ``{task: {"value", "run" (optimizer name), "dev_examples", "se"}}`` with ``se`` the
    binomial standard error ``sqrt(p (1 - p) / dev_examples)`` of the best value ``p``.

    Raises:
      ValueError: no reference run has ``metric`` in its final evaluation.
    """
    best: dict[str, dict[str, Any]] = {}
    for run in reference:
        value = run["final"].get(metric)
        if value is None:
            continue
        if run["task"] not in best or value > best[run["task"]]["value"]:
            n = int(run["dev_examples"])
            best[run["task"]] = {
                "value": float(value),
                "run": run["optimizer"],
                "dev_examples": n,
                "se": math.sqrt(value * (1 - value) / n),
            }
    if not best:
        raise ValueError(f"no reference run has a final {metric}")
    return best


def _median_step_seconds(records: Sequence[dict[str, Any]]) -> float:
    seen, steady = set(), []
    for r in records:
        if r["seq_len"] in seen:
            steady.append(float(r["time_s"]))
        seen.add(r["seq_len"])
    return float(np.median(steady)) if steady else math.nan


def _at(cumulative: np.ndarray, steps: int | None) -> float | None:
    return None if steps is None else float(cumulative[steps - 1]) if steps > 0 else 0.0


def time_to_target_rows(
    runs: Sequence[dict[str, Any]],
    target: dict[str, Any],
    metric: str = "dev_accuracy",
    forward_cost: float = 0.25,
) -> list[dict[str, Any]]:
    """For each run of one task: steps, seconds and cost to ``target`` and to target - se.

    Each row: ``label``, ``final``, ``best`` (over all its evaluations), ``steps``/``seconds``/
    ``cost`` (None when not reached) and the same with suffix ``_se`` for the lowered target,
    and ``median_step_s``.
    """
    rows = []
    for run in runs:
        points = eval_points(run, metric)
        seconds = cumulative_seconds(run["records"])
        cost = cumulative_cost(run["records"], forward_cost)
        row: dict[str, Any] = {
            "label": run["label"],
            "final": run["final"].get(metric, math.nan),
            "best": max((v for _, v in points), default=math.nan),
            "median_step_s": _median_step_seconds(run["records"]),
        }
        for suffix, level in (("", target["value"]), ("_se", target["value"] - target["se"])):
            steps = first_reach(points, level)
            row["steps" + suffix] = steps
            row["seconds" + suffix] = _at(seconds, steps)
            row["cost" + suffix] = _at(cost, steps)
        rows.append(row)
    return rows


def _label_runs(runs: list[dict[str, Any]]) -> None:
    """``label``: the optimizer name, prefixed by the folder when two folders share a name."""
    folders: dict[tuple[str, str], set[str]] = {}
    for r in runs:
        folders.setdefault((r["task"], r["optimizer"]), set()).add(r["folder"])
    for r in runs:
        shared = len(folders[(r["task"], r["optimizer"])]) > 1
        r["label"] = f"{r['folder']}/{r['optimizer']}" if shared else r["optimizer"]


def _cell(steps: Any, seconds: Any, cost: Any) -> str:
    if steps is None:
        return "not reached | - | -"
    return f"{steps} | {seconds:.0f} | {cost:.1f}"


def markdown(
    rows_by_task: dict[str, list[dict[str, Any]]],
    target_by_task: dict[str, dict[str, Any]],
    metric: str,
    forward_cost: float = 0.25,
) -> str:
    lines = [
        f"# Steps and seconds to the best tuned-Adam {metric}",
        "",
        f"Cost in Adam steps: 1 per step plus {forward_cost} per extra forward pass of the line "
        "search. Seconds: this machine's training time, compiling steps counted at the run's "
        "median (noisy on a shared machine; see the median seconds per step).",
        "",
    ]
    for task, rows in rows_by_task.items():
        t = target_by_task[task]
        lines += [
            f"## {task}: target {t['value']:.4f} ({t['run']}, final); "
            f"target - SE {t['value'] - t['se']:.4f} (SE {t['se']:.4f} on "
            f"{t['dev_examples']} dev examples)",
            "",
            "| run | final | best | steps to target | seconds | cost (Adam steps) | "
            "steps to target - SE | seconds | cost (Adam steps) | median s / step |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(rows, key=lambda r: r["label"]):
            lines.append(
                f"| {r['label']} | {r['final']:.4f} | {r['best']:.4f} | "
                f"{_cell(r['steps'], r['seconds'], r['cost'])} | "
                f"{_cell(r['steps_se'], r['seconds_se'], r['cost_se'])} | "
                f"{r['median_step_s']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(
    runs_by_task: dict[str, list[dict[str, Any]]],
    target_by_task: dict[str, dict[str, Any]],
    path: pathlib.Path,
    metric: str,
    forward_cost: float = 0.25,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(runs_by_task)
    fig, axes = plt.subplots(len(tasks), 3, figsize=(16, 3.6 * len(tasks)), squeeze=False)
    for i, task in enumerate(tasks):
        t = target_by_task[task]
        for run in sorted(runs_by_task[task], key=lambda r: r["label"]):
            points = eval_points(run, metric)
            steps = np.array([0] + [s for s, _ in points])
            values = [math.nan] + [v for _, v in points]
            seconds = np.concatenate([[0.0], cumulative_seconds(run["records"])])
            cost = np.concatenate([[0.0], cumulative_cost(run["records"], forward_cost)])
            style = "--" if run["optimizer"].startswith("adam_lr") else "-"
            axes[i, 0].plot(steps[1:], values[1:], style, marker="o", ms=3, label=run["label"])
            axes[i, 1].plot(seconds[steps][1:], values[1:], style, marker="o", ms=3)
            axes[i, 2].plot(cost[steps][1:], values[1:], style, marker="o", ms=3)
        xlabels = (
            "training steps",
            "training seconds (this machine, shared)",
            f"cost in Adam steps (forward pass = {forward_cost})",
        )
        for ax, xlabel in zip(axes[i], xlabels):
            ax.axhline(t["value"], color="k", lw=0.8)
            ax.axhline(t["value"] - t["se"], color="k", lw=0.8, ls=":")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{task} {metric}")
            ax.grid(alpha=0.3)
        axes[i, 0].legend(fontsize=7)
        axes[i, 0].set_title(f"{task}: line = best tuned Adam ({t['run']}), dotted = - 1 SE")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=pathlib.Path, required=True, help="tuned-Adam sweep")
    parser.add_argument("--runs", type=pathlib.Path, nargs="*", default=[], help="more folders")
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--seed", type=int, default=None, help="only this seed (default: all)")
    parser.add_argument("--metric", default="dev_accuracy")
    parser.add_argument(
        "--forward-cost",
        type=float,
        default=0.25,
        help="a forward pass in Adam steps (0.25: MiniLM-L6, batch 32, length 64)",
    )
    parser.add_argument("--no-figure", action="store_true")
    args = parser.parse_args(argv)

    reference = load_folder(args.reference, args.seed)
    target_by_task = targets(reference, args.metric)
    runs = reference + [r for f in args.runs for r in load_folder(f, args.seed)]
    _label_runs(runs)
    poolings = {r.get("pooling", r["config"].get("pooling")) or "cls" for r in runs}
    if len(poolings) > 1:
        raise ValueError(
            f"the runs use different pooling ({sorted(poolings)}); compare like with like"
        )
    runs_by_task: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r["task"] in target_by_task:
            runs_by_task.setdefault(r["task"], []).append(r)
    rows_by_task = {
        task: time_to_target_rows(task_runs, target_by_task[task], args.metric, args.forward_cost)
        for task, task_runs in sorted(runs_by_task.items())
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows_by_task, target_by_task, args.metric, args.forward_cost)
    (args.out / "table.md").write_text(text)
    print(text)
    if not args.no_figure:
        plot(
            {t: runs_by_task[t] for t in rows_by_task},
            target_by_task,
            args.out / "figures" / "time_to_accuracy.png",
            args.metric,
            args.forward_cost,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
