"""A resumable grid of optimizer variants (one optimizer with different settings) in one folder.

Every variant is registered as its own optimizer name (for example ``adam_sls_c0.5``), so the
runs sit side by side in ``<out>/<task>/<variant>/seed<k>/`` and in one ``table.md``, while each
summary still records the settings themselves (``optimizer_kwargs``, ``adam_learning_rate``).
Runs go seed by seed (seed 0 of every task first), task by task in the given order, variant by
variant; finished runs are skipped, so a stopped script continues where it stopped when run again
with the same arguments. The report (``sls-glue plot``) is rewritten at the end.

Used by the experiment scripts of this folder; see their docstrings for the commands.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

#: Tasks in the order the experiments run them (the paper's four; the first three are cheapest).
TASKS = ("sst2", "mrpc", "qnli", "mnli")
#: Evaluations before the last epoch use 1000 dev examples on the large dev sets, as the
#: committed small protocol does (the last epoch always uses the whole dev set).
PER_TASK = {"qnli": {"eval_subset": 1000}, "mnli": {"eval_subset": 1000}}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of an experiment: ``base`` optimizer with config fields ``settings`` changed."""

    name: str
    base: str
    settings: dict[str, Any]


def parse_args(
    description: str,
    default_out: str,
    variants: Sequence[Variant],
    tasks: Sequence[str] = TASKS,
    argv: Sequence[str] | None = None,
) -> Any:
    """The command line of a variant script; ``tasks`` is the default of ``--tasks``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=default_out, help=f"experiment folder ({default_out})")
    parser.add_argument(
        "--tasks", nargs="+", default=list(tasks), help=f"subset, in run order ({' '.join(tasks)})"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[v.name for v in variants],
        choices=[v.name for v in variants],
        help="subset, in run order (default: all)",
    )
    parser.add_argument("--data-dir", default=None, help="GLUE folder (default $GLUE_DIR)")
    parser.add_argument("--model", default=None, help="checkpoint (default: the MiniLM-L6)")
    parser.add_argument("--train-size", type=int, default=500, help="examples sampled (500)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--compilation-cache",
        default=os.environ.get("SLS_GLUE_COMPILATION_CACHE", "~/.cache/sls_glue/xla"),
        help="persistent XLA compilation cache folder, '' to disable",
    )
    return parser.parse_args(argv)


def run_variants(args: Any, variants: Sequence[Variant], **base_fields: Any) -> int:
    """Runs the selected variants (see the module docstring), then writes the report."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.compilation_cache:
        import jax

        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(args.compilation_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

    from sls_glue.experiment import run_grid
    from sls_glue.main import main
    from sls_glue.train import OPTIMIZERS, TrainConfig, register_optimizer

    chosen = [v for name in args.variants for v in variants if v.name == name]
    for v in chosen:
        register_optimizer(v.name, OPTIMIZERS[v.base])
    base = TrainConfig(
        data_dir=args.data_dir,
        model=args.model,
        train_size=args.train_size,
        epochs=args.epochs,
        progress=False,
        **base_fields,
    )
    for seed in args.seeds:
        for task in args.tasks:
            for v in chosen:
                config = dataclasses.replace(base, **v.settings)
                (summary,) = run_grid(
                    config,
                    args.out,
                    tasks=[task],
                    optimizers=[v.name],
                    seeds=[seed],
                    per_task=PER_TASK,
                )
                final = ", ".join(f"{k}={x:.4f}" for k, x in summary["final"].items())
                print(
                    f"{summary['task']} {v.name} seed {seed}: {final}; "
                    f"{summary['evaluations_per_step']:.2f} evaluations/step",
                    flush=True,
                )
    return main(["plot", args.out])
