"""experiments/compare_runs.py: runs matched by task/optimizer/seed, first diverging step."""

from __future__ import annotations

import json

from tests.tiny_glue import experiment_module

compare_runs = experiment_module("compare_runs")


def _write_run(root, task, opt, seed, accuracy, losses, evals):
    run = root / task / opt / f"seed{seed}"
    run.mkdir(parents=True)
    summary = {
        "task": task,
        "optimizer": opt,
        "seed": seed,
        "final": {"dev_accuracy": accuracy},
        "evaluations_per_step": evals,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "steps.jsonl").write_text("".join(json.dumps({"loss": x}) + "\n" for x in losses))


def test_compare_matches_runs_and_finds_first_divergence(tmp_path):
    a, b = tmp_path / "cpu", tmp_path / "gpu"
    _write_run(a, "SST-2", "adam_sls", 0, 0.75, [0.7, 0.5, 0.3], 1.5)
    _write_run(b, "SST-2", "adam_sls", 0, 0.75, [0.7, 0.5004, 0.2], 1.25)
    _write_run(a, "MRPC", "salsa", 0, 0.69, [0.6, 0.4], 1.0)
    _write_run(b, "MRPC", "salsa", 0, 0.68, [0.6, 0.4], 1.0)
    _write_run(a, "MRPC", "adam", 1, 0.68, [0.6], 0.0)  # only in one folder: not compared
    _write_run(a, "MRPC", "sgd_sls", 0, 0.5, [0.6, float("nan")], 1.0)
    _write_run(b, "MRPC", "sgd_sls", 0, 0.5, [0.6, float("nan")], 1.0)
    for root in (a, b):  # diverged in both: not compared
        path = root / "MRPC" / "sgd_sls" / "seed0" / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "status": "diverged"}))
    rows = compare_runs.compare(a, b, rtol=1e-3)
    body = [r for r in rows if r.startswith("| SST-2") or r.startswith("| MRPC")]
    assert body == [
        "| MRPC | salsa | 0 | 0.6900 | 0.6800 | 1.000 | 1.000 | - |",
        "| SST-2 | adam_sls | 0 | 0.7500 | 0.7500 | 1.500 | 1.250 | 2 |",
    ]
    assert rows[-1] == "2 runs in both; same final accuracy (4 decimals) in 1."
