"""experiments/armijo_constant.py, adam_lr_sweep.py, trajectory_table.py on a tiny random BERT."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from tests.tiny_glue import experiment_module, run_experiment_script, write_sst2

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_experiment_module_imports_a_script_with_its_siblings_and_restores_sys_path():
    before = list(sys.path)
    # main_table imports its sibling adam_lr_sweep, which resolves only from experiments/.
    table = experiment_module("main_table")
    assert table.variant_name.__module__ == "adam_lr_sweep"
    assert sys.path == before
    with pytest.raises(FileNotFoundError, match="no_such_script.py"):
        experiment_module("no_such_script")
    assert sys.path == before


@pytest.mark.slow
def test_variant_scripts_record_the_setting_and_resume(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_train=64, n_dev=16)
    out = tmp_path / "c"
    args = ["experiments/armijo_constant.py", "--out", str(out), "--tasks", "sst2"]
    printed = run_experiment_script(glue, *args, "--variants", "adam_sls_c0.5", "adam_sls_c0.1")
    # The order asked for is the order run.
    assert printed.index("adam_sls_c0.5 seed 0") < printed.index("adam_sls_c0.1 seed 0")
    for name, c in (("adam_sls_c0.5", 0.5), ("adam_sls_c0.1", 0.1)):
        summary = json.loads((out / "SST-2" / name / "seed0" / "summary.json").read_text())
        assert summary["config"]["optimizer_kwargs"] == {"c": c}
        assert summary["pooling"] == "cls"  # random:tiny has no sentence-transformers files
    stamp = (out / "SST-2" / "adam_sls_c0.5" / "seed0" / "summary.json").stat().st_mtime_ns
    run_experiment_script(glue, *args, "--variants", "adam_sls_c0.5")  # finished: skipped
    assert (out / "SST-2" / "adam_sls_c0.5" / "seed0" / "summary.json").stat().st_mtime_ns == stamp
    table = (out / "table.md").read_text()
    assert "| adam_sls_c0.1 |" in table and "| adam_sls_c0.5 |" in table

    sweep = tmp_path / "lr"
    run_experiment_script(
        glue,
        "experiments/adam_lr_sweep.py",
        "--out",
        str(sweep),
        "--tasks",
        "sst2",
        "--variants",
        "adam_lr0.0001",
    )
    summary = json.loads((sweep / "SST-2" / "adam_lr0.0001" / "seed0" / "summary.json").read_text())
    assert summary["config"]["adam_learning_rate"] == 1e-4

    listing = subprocess.run(
        [sys.executable, "experiments/trajectory_table.py", str(out), "--steps", "0", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert listing[0].startswith("| task | optimizer | seed | step 0: step size / loss |")
    steps = [
        json.loads(x)
        for x in (out / "SST-2" / "adam_sls_c0.1" / "seed0" / "steps.jsonl")
        .read_text()
        .splitlines()
    ]
    row = next(x for x in listing if "| adam_sls_c0.1 |" in x)
    assert (
        f"{steps[1]['step_sizes'][0]:.2e} / {(steps[0]['loss'] + steps[1]['loss']) / 2:.3f}" in row
    )
