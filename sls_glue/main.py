"""Command line: ``sls-glue [run] [flags]`` fine-tunes; ``sls-glue plot OUT`` redraws a report.

With no arguments it runs the quick default: SST-2 small (500 examples), ``adam_sls_skip`` (the
recommended line search), one seed, the offline MiniLM-L6, 5 epochs, into ``runs/default``.
The run flags and their defaults come from :class:`sls_glue.config.TrainConfig`
(``sls-glue run --help``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sls_glue import config as glue_config

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sls-glue", description="GLUE fine-tuning with stochastic line-search optimizers."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser(
        "run",
        help="fine-tune (the default command)",
        description="Fine-tunes every (task, seed, optimizer) of the command into OUT; finished "
        "runs are skipped, interrupted ones resume from their last checkpoint.",
    )
    glue_config.add_arguments(run)
    run.add_argument(
        "--out",
        default="runs/default",
        help="experiment folder: OUT/<task>/<optimizer>/seed<k>/, table.md, figures/ "
        "(default: runs/default)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="rerun runs that are finished (and start interrupted ones again)",
    )
    run.add_argument(
        "--compilation-cache",
        default=os.environ.get("SLS_GLUE_COMPILATION_CACHE", "~/.cache/sls_glue/xla"),
        help="persistent XLA compilation cache folder, '' to disable; later runs of the same "
        "optimizer skip compiling (default: $SLS_GLUE_COMPILATION_CACHE or "
        "~/.cache/sls_glue/xla)",
    )
    multi = run.add_argument_group(
        "multi-host",
        "one process per host, each with the same command; process 0 writes the files",
    )
    multi.add_argument(
        "--distributed",
        action="store_true",
        default=os.environ.get("SLS_GLUE_DISTRIBUTED", "") not in ("", "0"),
        help="call jax.distributed.initialize() first (cluster detected on Cloud TPU, SLURM, "
        "Open MPI; or give the three flags below); default: $SLS_GLUE_DISTRIBUTED",
    )
    multi.add_argument(
        "--coordinator-address", default=None, help="host:port of process 0 (default: detected)"
    )
    multi.add_argument("--num-processes", type=int, default=None, help="(default: detected)")
    multi.add_argument("--process-id", type=int, default=None, help="(default: detected)")
    plot = sub.add_parser("plot", help="write table.md and figures of an experiment folder")
    plot.add_argument("out", help="the experiment folder (the --out of sls-glue run)")
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging() -> None:
    """INFO lines of sls_glue only (not jax's backend probing, e.g. of a TPU on a CPU host)."""
    logger = logging.getLogger("sls_glue")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _error(message: object) -> int:
    print(f"sls-glue: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sls-glue`` console script. Returns the exit status.

    0: done; 2: bad input (nothing was written); 128 + signal number: stopped by
    SIGTERM/SIGINT after saving a checkpoint (the same command resumes).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    args = _parser().parse_args(argv)
    _setup_logging()

    from sls_glue.experiment import run_grid, write_report

    if args.command == "plot":
        try:
            table = write_report(args.out)
        except FileNotFoundError as error:
            return _error(error)
        print(f"wrote {table} and {table.parent / 'figures'}")
        return 0

    import jax

    if args.distributed:
        from sls_glue.sharding import initialize_distributed

        initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    if args.compilation_cache:
        # Runs of one optimizer compile the same programs: reuse them across runs and processes.
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(args.compilation_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

    from sls_glue.train import RunInterrupted

    base = glue_config.config_from_args(args)
    try:
        summaries = run_grid(
            base,
            args.out,
            tasks=args.task,
            optimizers=args.optimizer,
            seeds=args.seed,
            overwrite=args.overwrite,
        )
    except (ValueError, FileNotFoundError) as error:
        return _error(error)
    except RunInterrupted as stop:
        print(
            f"sls-glue: stopped by signal {stop.signum} after step {stop.step}; a checkpoint is "
            "saved and the same command resumes from it",
            file=sys.stderr,
        )
        return 128 + stop.signum
    if jax.process_index() != 0:
        return 0
    for s in summaries:
        head = f"{s['task']} {s['optimizer']} seed {s['seed']}"
        if s.get("status", "finished") != "finished":
            print(f"{head}: {s['status']}: {s.get('reason', '')} (not counted; rerun next time)")
            continue
        final = ", ".join(f"{k}={v:.4f}" for k, v in s["final"].items())
        print(
            f"{head}: {final}; "
            f"{s['evaluations_per_step']:.2f} value_fn evaluations/step, "
            f"{s['train_time_s'] / s['steps']:.2f} s/step (mean, compilation included)"
        )
    if summaries or os.path.isdir(args.out):
        try:
            table = write_report(args.out)
        except FileNotFoundError:
            return 0
        print(f"wrote {table} and {table.parent / 'figures'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
