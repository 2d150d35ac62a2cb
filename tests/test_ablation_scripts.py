"""experiments/pla_groups.py and pla_batch_size.py (paper Fig. 9 and 8) on a tiny random BERT."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.tiny_glue import experiment_module, run_experiment_script, write_sst2


def _summary(out, name):
    return json.loads((out / "SST-2" / name / "seed0" / "summary.json").read_text())


def test_samples_curves_put_examples_on_the_x_axis():
    batch = experiment_module("pla_batch_size")
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
    groups = {v.name: v.settings for v in experiment_module("pla_groups").VARIANTS}
    assert list(groups) == [
        "pla_sls_g1",
        "pla_sls_g4",
        "pla_sls_layers",
        "pla_sls_g8",
        "pla_sls_qkv",
    ]
    assert groups["pla_sls_qkv"] == {"pla_groups": "qkv", "optimizer_kwargs": {"c": 0.1}}
    sizes = {v.name: v.settings["batch_size"] for v in experiment_module("pla_batch_size").VARIANTS}
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


def _write_pla_run(path, step_sizes, searched, **kwargs):
    path.mkdir(parents=True)
    lines = [
        json.dumps({"step": k, "step_sizes": s, "searched_group": g})
        for k, (s, g) in enumerate(zip(step_sizes, searched))
    ]
    (path / "steps.jsonl").write_text("\n".join(lines) + "\n")
    return {"task": "SST-2", "optimizer": "pla_sls", "seed": 0, "config": kwargs, "path": path}


def test_merge_scan_finds_the_smallest_step_size_and_a_dropped_group(tmp_path):
    merge = experiment_module("merge_threshold")
    assert [v.settings["optimizer_kwargs"]["merge_threshold"] for v in merge.VARIANTS] == [
        0.0,
        1e-12,
        1e-8,
    ]
    # 3 groups, searched 0, 1, 2, 0, 1, 2: no merge; smallest 2e-9 at step 4, group 1.
    sizes = [[1e-3, 1e-3, 1e-3], [5e-4, 1e-3, 1e-3], [5e-4, 3e-6, 1e-3]]
    sizes += [[5e-4, 3e-6, 2e-4], [4e-4, 2e-9, 2e-4], [4e-4, 2e-9, 1e-4]]
    kept = merge.scan_run(_write_pla_run(tmp_path / "kept", sizes, [0, 1, 2, 0, 1, 2]))
    assert kept["merged"] is False and kept["merge_threshold"] == 1e-12
    assert (kept["smallest_step_size"], kept["at_step"], kept["group"]) == (2e-9, 4, 1)
    assert [merge.same_as(kept, lam) for lam in merge.THRESHOLDS] == [True, True, False]
    # Group 1 leaves the cycle after step 4 (merged into group 2): 0, 2, 0, 2 afterwards.
    summary = _write_pla_run(
        tmp_path / "merged",
        [*sizes, [4e-4, 1e-4, 1e-4], [4e-4, 1e-4, 1e-4]],
        [0, 1, 2, 0, 1, 2, 0, 2],
        optimizer_kwargs={"merge_threshold": 1e-8},
    )
    merged = merge.scan_run(summary)
    assert merged["merged"] is True and merged["merge_threshold"] == 1e-8
    assert not any(merge.same_as(merged, lam) for lam in merge.THRESHOLDS)
    table = merge.scan_table([kept, merged])
    assert "λ=0: 1/2, λ=1e-12: 1/2, λ=1e-08: 0/2" in table
    assert "| 2e-09 (4, 1) | no | yes | yes | no |" in table


@pytest.mark.slow
def test_merge_threshold_script_runs_a_row_and_scans_it(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_train=64, n_dev=16)
    out = tmp_path / "merge"
    script = "experiments/merge_threshold.py"
    run_experiment_script(
        glue,
        script,
        "run",
        "--out",
        str(out),
        "--tasks",
        "sst2",
        "--variants",
        "pla_sls_merge1e-08",
    )
    summary = _summary(out, "pla_sls_merge1e-08")
    assert summary["config"]["optimizer_kwargs"] == {"c": 0.1, "merge_threshold": 1e-8}
    (row,) = experiment_module("merge_threshold").scan([out])
    assert row["merge_threshold"] == 1e-8 and row["steps"] == summary["steps"]
    steps = (out / "SST-2" / "pla_sls_merge1e-08" / "seed0" / "steps.jsonl").read_text()
    smallest = min(min(json.loads(x)["step_sizes"]) for x in steps.splitlines())
    assert row["smallest_step_size"] == smallest
