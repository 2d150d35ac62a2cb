"""experiments/step_size_trajectories.py on hand-written step logs."""

from __future__ import annotations

import json

import pytest

from tests.tiny_glue import experiment_module

sst = experiment_module("step_size_trajectories")


def _write_run(root, task, opt, step_sizes, epochs, seed=0):
    run = root / task / opt / f"seed{seed}"
    run.mkdir(parents=True)
    summary = {
        "config": {"optimizer": opt},
        "task": task,
        "optimizer": opt,
        "seed": seed,
        "pooling": "mean",
        "num_step_sizes": len(step_sizes[0]),
    }
    (run / "summary.json").write_text(json.dumps(summary))
    records = [
        {"step": k, "epoch": e, "step_sizes": s} for k, (s, e) in enumerate(zip(step_sizes, epochs))
    ]
    (run / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


PLA = [[1e-4, 3e-4], [2e-4, 2e-4], [1e-5, 3e-5]]


def test_group_mean_and_epoch_means():
    records = [{"epoch": e, "step_sizes": s} for s, e in zip(PLA, [0, 0, 1])]
    sizes = sst.group_mean_step_sizes(records)
    assert sizes[:, 0] == pytest.approx([2e-4, 2e-4, 2e-5])
    assert sizes[:, 1] == pytest.approx([1e-4, 2e-4, 1e-5])
    assert sizes[:, 2] == pytest.approx([3e-4, 2e-4, 3e-5])
    assert sst.epoch_means(records) == pytest.approx([2e-4, 2e-5])


def test_main_writes_the_epoch_table_and_figure(tmp_path):
    a = tmp_path / "a"
    _write_run(a, "SST-2", "pla_sls", PLA, [0, 0, 1])
    _write_run(a, "SST-2", "adam_lr0.0001", [[0.0], [1e-4], [5e-5]], [0, 0, 1])
    _write_run(a, "SST-2", "adam_lr0.0001", [[0.0], [1e-4], [5e-5]], [0, 0, 1], seed=1)
    assert sst.main([str(a), "--out", str(tmp_path / "out"), "--seed", "0"]) == 0
    table = (tmp_path / "out" / "table.md").read_text().splitlines()
    assert "| SST-2 | pla_sls (2 groups, mean) | 0 | 2.00e-04 | 2.00e-05 |" in table
    assert "| SST-2 | adam_lr0.0001 | 0 | 5.00e-05 | 5.00e-05 |" in table
    assert not any("| 1 |" in line for line in table)  # seed 1 filtered out
    assert (tmp_path / "out" / "figures" / "step_sizes.png").stat().st_size > 0


def test_missing_or_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sst.main([str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no finished runs"):
        sst.main([str(tmp_path / "empty"), "--out", str(tmp_path)])
