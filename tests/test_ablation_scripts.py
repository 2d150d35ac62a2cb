"""experiments/pla_groups.py and pla_batch_size.py (paper Fig. 9 and 8) on a tiny random BERT."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

import numpy as np
import pytest

from tests.tiny_glue import run_experiment_script, write_sst2

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _module(name):
    sys.path.insert(0, str(ROOT / "experiments"))  # the scripts import variant_grid
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


def _summary(out, name):
    return json.loads((out / "SST-2" / name / "seed0" / "summary.json").read_text())


def test_samples_curves_put_examples_on_the_x_axis():
    batch = _module("pla_batch_size")
    summary = {
        "config": {"batch_size": 64},
        "train_examples": 500,
        "epochs": [{"epoch": 1, "dev_accuracy": 0.6}, {"epoch": 2, "dev_accuracy": 0.7}],
        "evaluations": [{"step": 4, "dev_accuracy": 0.55}],
    }
    records = [{"loss": x} for x in (4.0, 2.0, 0.0)]
    c = batch.samples_curves(summary, records)
    assert c["eval_samples"].tolist() == [256.0, 500.0, 1000.0]
    assert c["accuracy"].tolist() == [0.55, 0.6, 0.7]
    assert c["loss_samples"].tolist() == [64.0, 128.0, 192.0]
    # 128 examples = 2 steps of 64: the mean of the last two losses.
    assert c["loss"].tolist() == [4.0, 3.0, 1.0]


def test_variants_name_the_paper_ablation_settings():
    groups = {v.name: v.settings for v in _module("pla_groups").VARIANTS}
    assert list(groups) == [
        "pla_sls_g1",
        "pla_sls_g4",
        "pla_sls_layers",
        "pla_sls_g8",
        "pla_sls_qkv",
    ]
    assert groups["pla_sls_qkv"] == {"pla_groups": "qkv", "optimizer_kwargs": {"c": 0.1}}
    sizes = {v.name: v.settings["batch_size"] for v in _module("pla_batch_size").VARIANTS}
    assert sizes == {"pla_sls_bs8": 8, "pla_sls_bs16": 16, "pla_sls_bs32": 32, "pla_sls_bs64": 64}


@pytest.mark.slow
def test_ablation_scripts_run_record_groups_and_batch_sizes(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_train=64, n_dev=16)
    out = tmp_path / "groups"
    run_experiment_script(
        glue,
        "experiments/pla_groups.py",
        "--out",
        str(out),
        "--variants",
        "pla_sls_layers",
        "pla_sls_qkv",
    )
    layers, qkv = _summary(out, "pla_sls_layers"), _summary(out, "pla_sls_qkv")
    assert layers["config"]["pla_groups"] == "layers" and layers["num_step_sizes"] == 2
    assert qkv["num_step_sizes"] == 4  # query, key, value, the rest
    assert qkv["config"]["optimizer_kwargs"] == {"c": 0.1}
    assert "| pla_sls_qkv |" in (out / "table.md").read_text()

    out = tmp_path / "batch"
    printed = run_experiment_script(
        glue,
        "experiments/pla_batch_size.py",
        "--out",
        str(out),
        "--variants",
        "pla_sls_bs16",
        "pla_sls_bs32",
    )
    bs16, bs32 = _summary(out, "pla_sls_bs16"), _summary(out, "pla_sls_bs32")
    assert (bs16["config"]["batch_size"], bs16["steps"]) == (16, 4)  # 64 examples / 16
    assert (bs32["config"]["batch_size"], bs32["steps"]) == (32, 2)
    assert (out / "figures" / "samples.png").stat().st_size > 0
    assert "samples.png" in printed
    steps = (out / "SST-2" / "pla_sls_bs16" / "seed0" / "steps.jsonl").read_text().splitlines()
    assert np.isfinite([json.loads(x)["loss"] for x in steps]).all()
