"""Compares the runs two experiment folders have in common (e.g. the same protocol on CPU and GPU).

For every task/optimizer/seed finished in both: the final dev accuracy of each, the value_fn
evaluations per step of each, and the first step whose training loss differs by more than
``--rtol`` (relative), or "-" if the two loss curves agree at every step.

Usage: python experiments/compare_runs.py results/glue_small results/glue_small_gpu [--rtol 1e-3]
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from sls_glue import report


def _runs(folder: pathlib.Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The finished runs' summaries by (task, optimizer, seed)."""
    return {(r["task"], r["optimizer"], int(r["seed"])): r for r in report.load_runs(folder)}


def compare(a: pathlib.Path, b: pathlib.Path, rtol: float) -> list[str]:
    runs_a, runs_b = _runs(a), _runs(b)
    common = sorted(set(runs_a) & set(runs_b))
    rows = [
        f"| task | optimizer | seed | accuracy {a.name} | accuracy {b.name} | evaluations/step "
        f"{a.name} | evaluations/step {b.name} | first step with loss rel. diff > {rtol:g} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    same = 0
    for key in common:
        sa, sb = runs_a[key], runs_b[key]
        la, lb = ([r["loss"] for r in report.step_records(s)] for s in (sa, sb))
        first = next(
            (i for i, (x, y) in enumerate(zip(la, lb)) if abs(x - y) > rtol * max(1.0, abs(x))),
            "-",
        )
        acc_a, acc_b = sa["final"]["dev_accuracy"], sb["final"]["dev_accuracy"]
        same += round(acc_a, 4) == round(acc_b, 4)
        rows.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {acc_a:.4f} | {acc_b:.4f} "
            f"| {sa['evaluations_per_step']:.3f} | {sb['evaluations_per_step']:.3f} | {first} |"
        )
    rows.append("")
    rows.append(f"{len(common)} runs in both; same final accuracy (4 decimals) in {same}.")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=pathlib.Path)
    p.add_argument("b", type=pathlib.Path)
    p.add_argument("--rtol", type=float, default=1e-3)
    args = p.parse_args(argv)
    print("\n".join(compare(args.a, args.b, args.rtol)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
