"""Step size and training loss along every run of an experiment folder, as a markdown table.

For each finished run: at a few steps, the step size of the first parameter group (Adam: its
learning rate) and the training loss averaged over the 5 steps ending there; the number of steps
whose search backtracked at least once; the final dev accuracy. It shows when a line search sits
on the chance plateau (loss near ln 2 on binary tasks, ln 3 on MNLI) and with what step size it
leaves it.

Usage: python experiments/trajectory_table.py results/armijo_constant [--steps 0 5 10 20 40 79]
"""

from __future__ import annotations

import argparse
import json
import pathlib


def rows(folder: pathlib.Path, steps: list[int]) -> list[str]:
    head = " | ".join(f"step {k}: step size / loss" for k in steps)
    out = [
        f"| task | optimizer | seed | {head} | steps with a backtrack | dev accuracy |",
        "|---" * (len(steps) + 5) + "|",
    ]
    for summary_path in sorted(folder.glob("*/*/seed*/summary.json")):
        summary = json.loads(summary_path.read_text())
        with open(summary_path.parent / "steps.jsonl") as f:
            records = [json.loads(line) for line in f]
        cells = []
        for k in steps:
            if k >= len(records):
                cells.append("-")
                continue
            window = [r["loss"] for r in records[max(0, k - 4) : k + 1]]
            cells.append(f"{records[k]['step_sizes'][0]:.2e} / {sum(window) / len(window):.3f}")
        backtracked = sum(1 for r in records if r.get("num_backtracks", 0) > 0)
        out.append(
            f"| {summary['task']} | {summary['optimizer']} | {summary['seed']} | "
            + " | ".join(cells)
            + f" | {backtracked} | {summary['final'].get('dev_accuracy', float('nan')):.4f} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path)
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 5, 10, 20, 40, 79])
    args = parser.parse_args()
    print("\n".join(rows(args.folder, args.steps)))


if __name__ == "__main__":
    main()
