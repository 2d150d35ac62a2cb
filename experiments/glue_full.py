"""The paper's full-size protocol (Section IV, Table II), resumable, and its table.

Whole training sets, 5 epochs, batch 32, max length 256, dev metrics after every epoch on the
whole dev set, for SST-2, MRPC, QNLI and MNLI with the five optimizers. Every run checkpoints
(``--checkpoint-every``, default 200 steps, and on SIGTERM/SIGINT), so the same command, run
again after an interruption, skips finished runs and continues the others where they stopped.
After the runs it writes ``<out>/table.md`` (``sls-glue plot``) and ``<out>/table_paper.md``:
dev accuracy in the layout of the paper's Table II, with the size of every training set used,
since a GLUE folder may hold only part of a training file.

Usage (any other ``sls-glue run`` flag is passed on, e.g. ``--data-dir``, ``--model``,
``--distributed``; later flags override the protocol's)::

    python experiments/glue_full.py [--out results/glue_full] [--seeds 0 1 2 3 4]
    python experiments/glue_full.py --table-only --out results/glue_full
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
from collections.abc import Sequence

import numpy as np

from sls_glue.experiment import PAPER_TABLES, load_runs
from sls_glue.main import main as sls_glue_main

TASKS = ("sst2", "mrpc", "qnli", "mnli")
OPTIMIZERS = ("adam", "sgd_sls", "adam_sls", "pla_sls", "salsa")
PROTOCOL = ["--train-size", "full", "--epochs", "5", "--batch-size", "32", "--max-length", "256"]
#: Training examples of the complete GLUE training files.
GLUE_TRAIN_SIZES = {"SST-2": 67_349, "MRPC": 3_668, "QNLI": 104_743, "MNLI": 392_702}


def paper_table(out: str | pathlib.Path) -> str:
    """Table II layout: optimizers x (SST-2, MRPC, QNLI, MNLI, average), mean dev accuracy.

    Cells give the mean over seeds (``± standard error`` from 2 seeds on, ``n`` seeds); the
    average is over the four tasks and only shown when all four have a run for that optimizer
    (the paper's Table II average is over the four; a partial mean would not compare). A note
    below the table gives the training examples each task used against the complete GLUE file.
    """
    runs = load_runs(out)
    tasks = [t for t in ("SST-2", "MRPC", "QNLI", "MNLI") if any(r["task"] == t for r in runs)]
    labels = list(dict.fromkeys(r["label"] for r in runs))
    head = "| optimizer | " + " | ".join(tasks) + " | average of 4 tasks | paper Table II average |"
    lines = [head, "|" + "---|" * (len(tasks) + 3)]
    for label in labels:
        cells, means = [], []
        for task in tasks:
            acc = [
                r["final"]["dev_accuracy"] for r in runs if (r["label"], r["task"]) == (label, task)
            ]
            if not acc:
                cells.append("-")
                means.append(math.nan)
                continue
            mean = float(np.mean(acc))
            means.append(mean)
            se = f" ± {np.std(acc, ddof=1) / math.sqrt(len(acc)):.4f}" if len(acc) > 1 else ""
            cells.append(f"{mean:.4f}{se} (n={len(acc)})")
        complete = len(means) == 4 and not np.isnan(means).any()
        average = f"{np.mean(means):.4f}" if complete else "-"
        paper = PAPER_TABLES["full"].get(label)
        paper = f"{paper:.4f}" if paper is not None else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {average} | {paper} |")
    notes = []
    for task in tasks:
        used = sorted({r["train_examples"] for r in runs if r["task"] == task})
        full = GLUE_TRAIN_SIZES[task]
        sizes = ", ".join(f"{n:,}" for n in used)
        part = "the whole training file" if used == [full] else f"a subset of the {full:,} of GLUE"
        notes.append(f"{task}: {sizes} training examples ({part})")
    text = "# Dev accuracy after 5 epochs on the whole training set (paper Table II layout)\n\n"
    text += "\n".join(lines) + "\n\nTraining sets: " + "; ".join(notes) + ".\n"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/glue_full")
    parser.add_argument("--task", nargs="+", default=list(TASKS))
    parser.add_argument("--optimizer", nargs="+", default=list(OPTIMIZERS))
    parser.add_argument("--seeds", nargs="+", default=["0"])
    parser.add_argument("--table-only", action="store_true", help="only write table_paper.md")
    args, rest = parser.parse_known_args(argv)
    if not args.table_only:
        command = ["run", "--task", *args.task, "--optimizer", *args.optimizer]
        command += ["--seeds", *args.seeds, *PROTOCOL, "--out", args.out, *rest]
        status = sls_glue_main(command)
        if status:
            return status
        import jax

        if jax.process_index() != 0:  # process 0 writes the files
            return 0
    table = pathlib.Path(args.out) / "table_paper.md"
    table.write_text(paper_table(args.out))
    print(f"wrote {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
