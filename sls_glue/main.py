"""Command line: ``sls-glue [run] [flags]`` fine-tunes; ``sls-glue plot OUT`` redraws a report.

With no arguments it runs the quick default: SST-2 small (500 examples), ``adam_sls``, one seed,
the offline MiniLM-L6, 5 epochs, into ``runs/default``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _pla_groups(text: str) -> int | str:
    """``--pla-groups``: a positive number of groups, or ``qkv``."""
    if text == "qkv":
        return text
    try:
        groups = int(text)
    except ValueError:
        groups = 0
    if groups < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'qkv', got {text!r}")
    return groups


def _train_size(text: str) -> int | None:
    if text.lower() in ("full", "all", "none"):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("train size must be a positive number or 'full'")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sls-glue", description="GLUE fine-tuning with stochastic line-search optimizers."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="fine-tune (the default command)")
    run.add_argument("--task", nargs="+", default=["sst2"], help="GLUE task(s) (default sst2)")
    run.add_argument(
        "--optimizer",
        nargs="+",
        default=["adam_sls"],
        help="adam, sgd_sls, adam_sls, pla_sls, salsa (default adam_sls)",
    )
    run.add_argument("--seeds", nargs="+", type=int, default=[0])
    run.add_argument(
        "--train-size", type=_train_size, default=500, help="examples sampled, or 'full' (500)"
    )
    run.add_argument("--epochs", type=int, default=5)
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--max-length", type=int, default=256)
    run.add_argument("--model", default=None, help="checkpoint folder or hub name (MiniLM-L6)")
    run.add_argument("--data-dir", default=None, help="GLUE folder ($GLUE_DIR, ../shared/...)")
    run.add_argument("--out", default="runs/default", help="experiment folder (runs/default)")
    run.add_argument(
        "--eval-subset",
        type=int,
        default=None,
        help="dev examples evaluated before the last epoch (default: the full dev set)",
    )
    run.add_argument(
        "--pla-groups", type=_pla_groups, default=10, help="PLASLS groups: a number or 'qkv'"
    )
    run.add_argument(
        "--optimizer-kwargs",
        type=json.loads,
        default={},
        help="JSON keyword arguments for the optimizer, e.g. '{\"c\": 0.5}'",
    )
    run.add_argument("--dropout", type=float, default=0.0)
    run.add_argument(
        "--pooling",
        choices=("cls", "mean"),
        default=None,
        help="classifier input: [CLS] or the mean over real tokens "
        "(default: the checkpoint's; mean for MiniLM-L6, cls for plain BERT)",
    )
    run.add_argument(
        "--adam-lr",
        type=float,
        default=2e-5,
        help="peak learning rate of the adam baseline (warm-up + cosine; default 2e-5)",
    )
    run.add_argument(
        "--compilation-cache",
        default=os.environ.get("SLS_GLUE_COMPILATION_CACHE", "~/.cache/sls_glue/xla"),
        help="persistent XLA compilation cache folder, '' to disable "
        "($SLS_GLUE_COMPILATION_CACHE, default ~/.cache/sls_glue/xla)",
    )
    run.add_argument("--overwrite", action="store_true", help="rerun runs that have results")
    run.add_argument("--no-progress", action="store_true")
    plot = sub.add_parser("plot", help="write table.md and figures of an experiment folder")
    plot.add_argument("out")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sls-glue`` console script. Returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    args = _parser().parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from sls_glue.experiment import run_grid, write_report

    if args.command == "plot":
        try:
            table = write_report(args.out)
        except FileNotFoundError as error:
            print(f"sls-glue: error: {error}", file=sys.stderr)
            return 2
        print(f"wrote {table} and {table.parent / 'figures'}")
        return 0

    if args.compilation_cache:
        import jax

        # Runs of one optimizer compile the same programs: reuse them across runs and processes.
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(args.compilation_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

    from sls_glue.train import TrainConfig

    base = TrainConfig(
        train_size=args.train_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_length=args.max_length,
        model=args.model,
        data_dir=args.data_dir,
        eval_subset=args.eval_subset,
        pla_groups=args.pla_groups,
        optimizer_kwargs=args.optimizer_kwargs,
        dropout_rate=args.dropout,
        pooling=args.pooling,
        adam_learning_rate=args.adam_lr,
        progress=not args.no_progress,
    )
    try:
        summaries = run_grid(
            base,
            args.out,
            tasks=args.task,
            optimizers=args.optimizer,
            seeds=args.seeds,
            overwrite=args.overwrite,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"sls-glue: error: {error}", file=sys.stderr)
        return 2
    for s in summaries:
        final = ", ".join(f"{k}={v:.4f}" for k, v in s["final"].items())
        print(
            f"{s['task']} {s['optimizer']} seed {s['seed']}: {final}; "
            f"{s['evaluations_per_step']:.2f} value_fn evaluations/step, "
            f"{s['train_time_s'] / s['steps']:.2f} s/step (mean, compilation included)"
        )
    table = write_report(args.out)
    print(f"wrote {table} and {table.parent / 'figures'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
