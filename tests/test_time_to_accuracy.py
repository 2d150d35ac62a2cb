"""experiments/time_to_accuracy.py on hand-written step logs and summaries."""

from __future__ import annotations

import json
import math

import pytest

from tests.tiny_glue import experiment_module

tta = experiment_module("time_to_accuracy")


def _write_run(root, opt, *, epochs, evaluations=(), records, status=None, pooling="mean"):
    """A run of SST-2 seed 0 with 2 steps per epoch and 100 dev examples."""
    run = root / "SST-2" / opt / "seed0"
    run.mkdir(parents=True)
    summary = {
        "config": {"pooling": pooling},
        "task": "SST-2",
        "optimizer": opt,
        "seed": 0,
        "pooling": pooling,
        "dev_examples": 100,
        "steps_per_epoch": 2,
        "epochs": [{"epoch": k + 1, "dev_accuracy": a} for k, a in enumerate(epochs)],
        "evaluations": [{"step": s, "dev_accuracy": a} for s, a in evaluations],
        "final": {"dev_accuracy": epochs[-1]},
    }
    if status:
        summary["status"] = status
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _records(seq_lens, times, evals=None):
    out = []
    for k, (n, t) in enumerate(zip(seq_lens, times)):
        r = {"step": k, "seq_len": n, "time_s": t, "loss": 0.5}
        if evals is not None:
            r["num_evaluations"] = evals[k]
        out.append(r)
    return out


ADAM = _records([32, 32, 32, 32], [5.0, 1.0, 1.0, 1.0])
# First step at length 32 costs 10 s (compiling): it counts as the median of the other length-32
# steps (1 and 3 s), 2 s; length 64 has no other step: the median of all other steps, 2 s.
SEARCH = _records([32, 32, 64, 32], [10.0, 1.0, 9.0, 3.0], evals=[3, 1, 2, 1])


@pytest.fixture
def folders(tmp_path):
    ref, other = tmp_path / "adam_lr_sweep", tmp_path / "armijo"
    _write_run(ref, "adam_lr0.0001", epochs=[0.70, 0.80], records=ADAM)
    _write_run(ref, "adam_lr0.0002", epochs=[0.76, 0.75], records=ADAM)
    _write_run(ref, "adam_lr0.0005", epochs=[0.9, 0.95], records=ADAM, status="diverged")
    _write_run(
        other,
        "adam_sls",
        epochs=[0.78, 0.81],
        evaluations=[(1, 0.77), (3, 0.79)],
        records=SEARCH,
    )
    _write_run(other, "salsa", epochs=[0.60, 0.70], records=SEARCH)
    return ref, other


def test_cumulative_seconds_replace_compiling_steps_by_medians():
    assert tta.cumulative_seconds(SEARCH).tolist() == [2.0, 3.0, 5.0, 8.0]
    assert tta.cumulative_seconds(_records([32], [7.0])).tolist() == [7.0]


def test_cumulative_cost_counts_forwards_at_their_share_of_an_adam_step():
    assert tta.cumulative_cost(SEARCH, 0.25).tolist() == [1.75, 3.0, 4.5, 5.75]
    assert tta.cumulative_cost(SEARCH, 0.0).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert tta.cumulative_cost(ADAM, 0.25).tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="forward_cost must be >= 0"):
        tta.cumulative_cost(SEARCH, -1.0)


def test_eval_points_merge_epoch_and_step_evaluations(folders):
    _, other = folders
    (run,) = [r for r in tta.load_folder(other) if r["optimizer"] == "adam_sls"]
    assert tta.eval_points(run) == [(1, 0.77), (2, 0.78), (3, 0.79), (4, 0.81)]
    assert tta.first_reach(tta.eval_points(run), 0.79) == 3
    assert tta.first_reach(tta.eval_points(run), 0.82) is None


def test_target_is_the_best_finished_reference_run(folders):
    ref, _ = folders
    (target,) = tta.targets(tta.load_folder(ref)).values()  # the diverged 0.95 is left out
    assert target["run"] == "adam_lr0.0001"
    assert target["value"] == 0.80
    assert target["se"] == pytest.approx(math.sqrt(0.8 * 0.2 / 100))  # 0.04


def test_rows_give_steps_seconds_and_cost_to_target(folders):
    ref, other = folders
    runs = tta.load_folder(ref) + tta.load_folder(other)
    tta._label_runs(runs)
    target = tta.targets(tta.load_folder(ref))["SST-2"]
    rows = {r["label"]: r for r in tta.time_to_target_rows(runs, target)}
    search = rows["adam_sls"]
    # 0.80 first reached at step 4 (0.81); 0.76 (target - SE) at step 1 (0.77).
    assert (search["steps"], search["seconds"], search["cost"]) == (4, 8.0, 5.75)
    assert (search["steps_se"], search["seconds_se"], search["cost_se"]) == (1, 2.0, 1.75)
    assert search["best"] == 0.81
    adam = rows["adam_lr0.0001"]
    # Adam's compiling first step (5 s) counts as 1 s: 4 s after 4 steps.
    assert (adam["steps"], adam["seconds"], adam["cost"]) == (4, 4.0, 4.0)
    assert adam["steps_se"] == 4  # 0.70 after epoch 1 is below 0.76
    assert rows["adam_lr0.0002"]["steps"] is None and rows["adam_lr0.0002"]["steps_se"] == 2
    assert rows["salsa"]["steps"] is None and rows["salsa"]["steps_se"] is None


def test_main_writes_table_and_figure(folders, tmp_path):
    ref, other = folders
    out = tmp_path / "out"
    assert tta.main(["--reference", str(ref), "--runs", str(other), "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "## SST-2: target 0.8000 (adam_lr0.0001, final); target - SE 0.7600" in table
    assert "| adam_sls | 0.8100 | 0.8100 | 4 | 8 | 5.8 | 1 | 2 | 1.8 | 2.00 |" in table
    assert "| salsa | 0.7000 | 0.7000 | not reached | - | - | not reached | - | - |" in table
    assert (out / "figures" / "time_to_accuracy.png").stat().st_size > 0


def test_mixed_pooling_and_missing_folder_are_errors(folders, tmp_path):
    ref, other = folders
    _write_run(tmp_path / "cls", "adam_sls", epochs=[0.5, 0.6], records=SEARCH, pooling="cls")
    with pytest.raises(ValueError, match="different pooling"):
        tta.main(["--reference", str(ref), "--runs", str(tmp_path / "cls"), "--out", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tta.main(["--reference", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
