"""Jitted GLUE fine-tuning of a BERT classifier with line-search optimizers or Adam.

The shape of the flax examples: :func:`train_step` and :func:`eval_step` are the jitted
computations, :func:`train_epoch` runs the steps of one epoch, :func:`evaluate` computes dev
metrics, and :func:`train_and_evaluate` runs one (task, optimizer, seed) into a folder. The
settings are :class:`sls_glue.config.TrainConfig`; the files a run writes are described in
:mod:`sls_glue.run_log`.

Every step runs on all devices (:class:`sls_glue.sharding.DataParallel`): the global batch is
sharded over a ``data`` mesh axis, params and optimizer state are replicated (or split over
the devices with ``--shard-params``). A run saves
checkpoints (:mod:`sls_glue.checkpointing`) every ``checkpoint_every`` steps and on
SIGTERM/SIGINT, and the same call after an interruption continues from the newest one, so its
final params and ``steps.jsonl`` (but for the wall times) equal an uninterrupted run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import pathlib
import platform
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import sls_jax
from sls_glue import input_pipeline, run_log, tasks
from sls_glue.checkpoint import load_pretrained
from sls_glue.config import TrainConfig, flag_of, run_identity
from sls_glue.groups import bert_param_labels, qkv_param_labels
from sls_glue.metrics import compute_metrics
from sls_glue.sharding import (
    DataParallel,
    broadcast_from_writer,
    is_writer,
    sync_processes,
    writer_decides,
)
from sls_jax._labels import path_to_str

log = logging.getLogger("sls_glue")

__all__ = [
    "OPTIMIZERS",
    "RunInProgress",
    "RunInterrupted",
    "TrainConfig",
    "build_model",
    "check_config",
    "eval_step",
    "evaluate",
    "make_loss_fn",
    "make_optimizer",
    "make_train_step",
    "per_layer_param_labels",
    "read_examples",
    "register_optimizer",
    "resolve_pooling",
    "step_dropout_key",
    "train_and_evaluate",
    "train_epoch",
    "train_step",
]

#: A run whose loss has been non-finite for this many steps in a row stops as ``diverged``.
DIVERGED_AFTER = 10


class RunInProgress(RuntimeError):
    """Another process holds the run's lock (it is writing the same run)."""


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM/SIGINT arrived; a checkpoint was saved and the same call resumes from it."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"signal {signum} at step {step}")
        self.signum, self.step = signum, step


# --------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------

OptimizerFactory = Callable[[TrainConfig, int, Any], optax.GradientTransformation]


def _adam_schedule(config: TrainConfig, total_steps: int) -> optax.Schedule:
    warmup = int(round(config.adam_warmup_fraction * total_steps))
    return optax.warmup_cosine_decay_schedule(
        0.0, config.adam_learning_rate, warmup, max(total_steps, warmup + 1), 0.0
    )


def per_layer_param_labels(num_layers: int) -> Any:
    """Label function for one PLASLS group per encoder layer (``--pla-groups layers``).

    Labels are ints ``0 .. num_layers - 1``: the encoder layer's index; the embeddings share
    group 0 with the first layer, the classifier head (and pooler) group ``num_layers - 1``
    with the last. The paper's group-count ablation (Kenneweg et al. 2023, Fig. 9) compares
    such splits; :func:`sls_glue.groups.bert_param_labels` gives the embeddings and the head
    groups of their own.

    Raises:
      ValueError (when the returned function is called): a parameter in an encoder layer at or
        beyond ``num_layers``.
    """

    def label(path: tuple[Any, ...], _: Any) -> int:
        name = path_to_str(path)
        if name.startswith(("classifier", "pooler")):
            return num_layers - 1
        parts = name.split("/")
        if len(parts) > 2 and parts[0] == "encoder" and parts[1] == "layers":
            layer = int(parts[2])
            if layer >= num_layers:
                raise ValueError(
                    f"parameter '{name}' is in encoder layer {layer}, beyond {num_layers}"
                )
            return layer
        return 0  # embeddings

    return lambda params: jax.tree_util.tree_map_with_path(label, params)


def _pla_labels(config: TrainConfig, params: Any) -> Any:
    if config.pla_groups == "qkv":
        return qkv_param_labels
    layers = len(params["encoder"]["layers"])
    if config.pla_groups == "layers":
        return per_layer_param_labels(layers)
    groups = min(int(config.pla_groups), layers + 2)  # MiniLM-L6: 10 -> 8 groups
    return bert_param_labels(layers, groups)


def _two_phase(config: TrainConfig, total_steps: int) -> optax.GradientTransformationExtraArgs:
    """The paper's future work (Section VII): line search first, then Adam with its step size.

    ``adam_sls_skip`` for the first epoch's steps (``search_steps``, overridable through
    ``--optimizer-kwargs``), then no more trials: Adam with the last step size found, decayed
    to 0 by a cosine over the remaining steps.
    """
    kwargs = dict(config.optimizer_kwargs)
    n = int(kwargs.pop("search_steps", -(-total_steps // config.epochs)))
    decay = optax.cosine_decay_schedule(1.0, max(total_steps - n, 1))
    return sls_jax.adam_sls_skip(search_steps=n, step_size_decay=decay, **kwargs)


#: Optimizer factories ``(config, total_steps, params) -> transformation``. Hyperparameters not
#: in the config are the libraries' defaults (optax.adam; sls_jax, the paper's values). Line
#: searches get ``value``/``value_fn`` from the train step; other transformations ignore them.
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": lambda cfg, total, params: optax.adam(
        _adam_schedule(cfg, total), **cfg.optimizer_kwargs
    ),
    "sgd_sls": lambda cfg, total, params: sls_jax.sgd_sls(**cfg.optimizer_kwargs),
    # The paper's search: one reduction factor from the first step on (sls_jax.adam_sls's
    # default; --optimizer-kwargs '{"first_backtrack_factor": 0.5}' selects the cheaper start).
    "adam_sls": lambda cfg, total, params: sls_jax.adam_sls(
        **{"first_backtrack_factor": None, **cfg.optimizer_kwargs}
    ),
    "adam_sls_skip": lambda cfg, total, params: sls_jax.adam_sls_skip(**cfg.optimizer_kwargs),
    "adam_sls_two_phase": lambda cfg, total, params: _two_phase(cfg, total),
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


def _check_optimizer_name(name: str) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(sorted(OPTIMIZERS))}")


def make_optimizer(
    config: TrainConfig, total_steps: int, params: Any
) -> optax.GradientTransformationExtraArgs:
    """The optimizer of ``config``, wrapped to accept the line-search keyword arguments.

    Raises:
      ValueError: unknown optimizer name (the message lists the known ones), or
        ``config.optimizer_kwargs`` that its factory does not accept.
    """
    _check_optimizer_name(config.optimizer)
    try:
        optimizer = OPTIMIZERS[config.optimizer](config, total_steps, params)
    except (TypeError, ValueError) as error:  # e.g. a keyword the factory does not take
        raise ValueError(
            f"optimizer {config.optimizer!r} rejects --optimizer-kwargs "
            f"{config.optimizer_kwargs}: {error}"
        ) from error
    return optax.with_extra_args_support(optimizer)


# --------------------------------------------------------------------------------------------
# Model, loss, jitted steps
# --------------------------------------------------------------------------------------------


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
    """``config.pooling``, or the checkpoint's own when it is ``None`` (see ``TrainConfig``).

    Raises:
      ValueError: a pooling other than ``"cls"``/``"mean"`` (named by ``--pooling``), or a
        checkpoint pooling config that the model does not implement.
    """
    from sls_glue.model import POOLING

    if config.pooling is not None:
        if config.pooling not in POOLING:
            raise ValueError(
                f"--pooling must be one of {', '.join(POOLING)}, got {config.pooling!r}"
            )
        return config.pooling
    if config.model == "random:tiny":
        return "cls"
    from sls_glue.checkpoint import resolve_checkpoint
    from sls_glue.pooling import checkpoint_pooling

    return checkpoint_pooling(resolve_checkpoint(config.model))


def make_loss_fn(graphdef: nnx.GraphDef, rest: Any, regression: bool) -> Callable[..., jax.Array]:
    """``loss_fn(params, *, batch, dropout_key) -> scalar float32``, weighted by the batch.

    Mean cross-entropy over the real rows of the batch (squared error for regression tasks);
    padding rows (weight 0) do not count. The line search evaluates this same function, with the
    same ``batch`` and ``dropout_key``, at every trial point. On a mesh the sums run over the
    global batch, so every trial sees the global mean.
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


def train_step(params, opt_state, batch, dropout_key, *, optimizer, loss_fn):
    """One step: gradient at ``params``, then the optimizer's update (its line search).

    The gradient pass and every line-search trial evaluate ``loss_fn`` on the same ``batch``
    and the same ``dropout_key``. Returns ``(params, opt_state, loss at the old params)``.
    """
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


def make_train_step(
    optimizer: optax.GradientTransformationExtraArgs,
    loss_fn: Callable[..., jax.Array],
    traces: dict[str, int] | None = None,
    parallel: DataParallel | None = None,
    shardings: tuple[Any, Any] | None = None,
) -> Callable[..., tuple[Any, Any, jax.Array]]:
    """The jitted :func:`train_step` ``(params, opt_state, batch, dropout_key) -> (...)``.

    With ``parallel``, the step has explicit shardings: batch rows over the ``data`` axis,
    params and optimizer state as ``shardings`` (trees of ``NamedSharding`` from
    :meth:`DataParallel.shardings`; default replicated), keys and the loss replicated.
    ``traces["train"]`` (if given) counts compilations.
    """

    def step(params, opt_state, batch, dropout_key):
        if traces is not None:
            traces["train"] = traces.get("train", 0) + 1  # runs only while tracing
        return train_step(
            params, opt_state, batch, dropout_key, optimizer=optimizer, loss_fn=loss_fn
        )

    if parallel is None:
        return jax.jit(step)
    repl = parallel.replicated
    params_sh, state_sh = shardings if shardings is not None else (repl, repl)
    return jax.jit(
        step,
        in_shardings=(params_sh, state_sh, parallel.batch, repl),
        out_shardings=(params_sh, state_sh, repl),
    )


def eval_step(params, batch, *, graphdef, rest, regression: bool) -> jax.Array:
    """Predictions for ``batch``: (B,) class indices (int32), or (B, 1) scores (regression)."""
    model = nnx.merge(graphdef, params, rest)
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    return out if regression else jnp.argmax(out, axis=-1)


def _make_eval_step(graphdef, rest, regression, traces, parallel: DataParallel, params_sh):
    def step(params, batch):
        traces["eval"] += 1
        return eval_step(params, batch, graphdef=graphdef, rest=rest, regression=regression)

    repl = parallel.replicated
    return jax.jit(step, in_shardings=(params_sh, parallel.batch), out_shardings=repl)


def step_dropout_key(seed: int, step: int) -> jax.Array:
    """The dropout key of training step ``step``: one per step, shared by all its evaluations."""
    return jax.random.fold_in(jax.random.key(seed + 1_000_003), step)


def evaluate(
    eval_fn: Callable[..., jax.Array],
    params: Any,
    dataset: input_pipeline.EncodedDataset,
    task: str,
    batch_size: int,
    buckets: Sequence[int],
    parallel: DataParallel,
) -> dict[str, float]:
    """The GLUE metrics of ``params`` on ``dataset`` (padding rows left out)."""
    outputs, labels = [], []
    for batch in input_pipeline.iterate_batches(
        dataset, batch_size, buckets=buckets, shuffle=False
    ):
        out = np.asarray(eval_fn(params, parallel.shard_batch(batch)))
        keep = batch["weights"] > 0
        outputs.append(out[: keep.shape[0]][keep])
        labels.append(batch["labels"][keep])
    return compute_metrics(task, np.concatenate(outputs), np.concatenate(labels))


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    """Everything one run needs, built by :func:`_prepare` before any file is written."""

    config: TrainConfig
    spec: tasks.TaskSpec
    train_set: input_pipeline.EncodedDataset
    dev_set: input_pipeline.EncodedDataset
    dev_subset: input_pipeline.EncodedDataset
    checkpoint: pathlib.Path
    parallel: DataParallel
    params: Any
    opt_state: Any
    train_fn: Callable[..., Any]
    eval_fn: Callable[..., Any]
    steps_per_epoch: int
    total_steps: int
    fingerprints: dict[str, str]
    traces: dict[str, int]
    # progress of the run (restored from a checkpoint when resuming)
    step: int = 0
    epochs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    evaluations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    total_evals: int = 0
    train_time: float = 0.0
    nonfinite_streak: int = 0
    stop_signal: int | None = None
    seen_lengths: set[int] = dataclasses.field(default_factory=set)
    log: Any = None
    events: Any = None
    progress: Any = None

    @property
    def eval_batch_size(self) -> int:
        return self.parallel.padded_rows(max(self.config.batch_size, 64))

    def state(self) -> dict[str, Any]:
        return {"params": self.params, "opt_state": self.opt_state}

    def meta(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epochs": self.epochs,
            "evaluations": self.evaluations,
            "total_evals": self.total_evals,
            "train_time": self.train_time,
            "nonfinite_streak": self.nonfinite_streak,
            "identity": _identity(self),
        }


def check_config(config: TrainConfig) -> tasks.TaskSpec:
    """Checks the settings alone (no file read); returns the task spec."""
    for name in ("epochs", "batch_size", "max_length", "keep_checkpoints"):
        if int(getattr(config, name)) < 1:
            raise ValueError(f"{flag_of(name)} must be at least 1, got {getattr(config, name)}")
    for name in ("eval_every", "checkpoint_every"):
        if int(getattr(config, name)) < 0:
            raise ValueError(f"{flag_of(name)} must be 0 or more, got {getattr(config, name)}")
    if config.eval_subset is not None and config.eval_subset < 1:
        raise ValueError(f"--eval-subset must be at least 1, got {config.eval_subset}")
    if not config.buckets or min(config.buckets) < 1:
        raise ValueError(f"--buckets must be positive lengths, got {config.buckets}")
    if config.max_length > max(config.buckets):
        raise ValueError(
            f"--max-length {config.max_length} is above the largest length bucket "
            f"{max(config.buckets)} (--buckets {' '.join(map(str, config.buckets))}); lower "
            f"--max-length or add a bucket of at least {config.max_length} with --buckets"
        )
    spec = tasks.get_task(config.task)
    _check_optimizer_name(config.optimizer)
    return spec


def _split_location(spec: tasks.TaskSpec, split: str, data_dir: str | None) -> str:
    """Where a split is read from, for messages: its file, or the hub dataset or sample."""
    source = tasks.data_source(data_dir)
    if source.kind == "folder":
        return str(pathlib.Path(source.location) / spec.name / spec.files.get(split, split))
    return f"the {split} split of {spec.name} in {source}"


def read_examples(config: TrainConfig, spec: tasks.TaskSpec):
    """The run's training sample and dev examples, checked for size.

    Raises:
      ValueError: an empty training or dev split, ``--batch-size`` above the training sample,
        or a training sample the embedded SST-2 sample does not hold (see
        :func:`sls_glue.tasks.read_train_set`).
    """
    train = tasks.read_train_set(
        spec, config.data_dir, train_size=config.train_size, seed=config.seed
    )
    dev = tasks.read_split(spec, config.dev_split, config.data_dir)
    if not train:
        raise ValueError(
            f"{_split_location(spec, 'train', config.data_dir)} holds no training examples"
        )
    if not dev:
        raise ValueError(f"{_split_location(spec, config.dev_split, config.data_dir)} is empty")
    if config.batch_size > len(train):
        raise ValueError(
            f"--batch-size {config.batch_size} is larger than the training set of {spec.name} "
            f"({len(train)} examples from {_split_location(spec, 'train', config.data_dir)}); "
            "lower --batch-size"
        )
    return train, dev


def _fingerprint(arrays: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def _dev_sample(config: TrainConfig, dev_set: input_pipeline.EncodedDataset):
    if config.eval_subset is None or config.eval_subset >= len(dev_set):
        return dev_set
    idx = np.sort(
        np.random.default_rng(config.seed).permutation(len(dev_set))[: config.eval_subset]
    )
    return dataclasses.replace(
        dev_set,
        input_ids=dev_set.input_ids[idx],
        token_type_ids=dev_set.token_type_ids[idx],
        lengths=dev_set.lengths[idx],
        labels=dev_set.labels[idx],
    )


def _prepare(config: TrainConfig, spec: tasks.TaskSpec) -> _Run:
    """Reads, encodes, builds the model, optimizer and jitted steps (no file is written)."""
    train_examples, dev_examples = read_examples(config, spec)
    model, checkpoint = build_model(config, spec.num_labels)
    tokenizer = input_pipeline.load_tokenizer(checkpoint)
    train_set = input_pipeline.encode(train_examples, tokenizer, config.max_length)
    dev_set = input_pipeline.encode(dev_examples, tokenizer, config.max_length)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    steps_per_epoch = input_pipeline.num_batches(len(train_set), config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = make_optimizer(config, total_steps, params)
    fingerprints = {
        "data": _fingerprint(
            [train_set.input_ids, train_set.token_type_ids, train_set.labels]
            + [dev_set.input_ids, dev_set.token_type_ids, dev_set.labels]
        ),
        "model": _fingerprint([np.asarray(x) for x in jax.tree.leaves(params)]),
    }
    parallel = DataParallel(shard_params=config.shard_params)
    params_sh = parallel.shardings(params)
    params = parallel.place(params, params_sh)
    opt_state = optimizer.init(params)
    state_sh = parallel.shardings(opt_state)
    opt_state = parallel.place(opt_state, state_sh)
    rest = parallel.replicate(rest)
    traces = {"train": 0, "eval": 0}
    loss_fn = make_loss_fn(graphdef, rest, spec.is_regression)
    return _Run(
        config=config,
        spec=spec,
        train_set=train_set,
        dev_set=dev_set,
        dev_subset=_dev_sample(config, dev_set),
        checkpoint=checkpoint,
        parallel=parallel,
        params=params,
        opt_state=opt_state,
        train_fn=make_train_step(optimizer, loss_fn, traces, parallel, (params_sh, state_sh)),
        eval_fn=_make_eval_step(graphdef, rest, spec.is_regression, traces, parallel, params_sh),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        fingerprints=fingerprints,
        traces=traces,
    )


def _identity(run: _Run) -> dict[str, Any]:
    return {"config": run_identity(run.config), "fingerprints": run.fingerprints}


def _opt_field(state: Any, key: str) -> Any:
    try:
        return optax.tree.get(state, key)
    except (KeyError, ValueError):
        return None


def _record(run: _Run, epoch: int, loss: float, seq_len: int, elapsed: float) -> dict[str, Any]:
    """The ``steps.jsonl`` record of the step just taken."""
    step_sizes = _opt_field(run.opt_state, "step_sizes")
    info = _opt_field(run.opt_state, "info")
    record: dict[str, Any] = {
        "step": run.step,
        "epoch": epoch,
        "loss": loss,
        "seq_len": seq_len,
        "time_s": elapsed,
    }
    if step_sizes is not None:
        record["step_sizes"] = np.asarray(step_sizes).tolist()
    else:  # the Adam baseline: its learning rate
        record["step_sizes"] = [float(_adam_schedule(run.config, run.total_steps)(run.step))]
    if info is not None:
        record.update(
            num_evaluations=int(info.num_evaluations),
            num_backtracks=int(info.num_backtracks),
            status=int(info.status),
            searched_group=int(info.searched_group),
        )
    return record


def _epoch_batches(run: _Run, epoch: int) -> Iterator[dict[str, np.ndarray]]:
    """The batches of ``epoch`` not yet trained on (a resumed run skips the first ones)."""
    done = run.step - epoch * run.steps_per_epoch
    batches = input_pipeline.iterate_batches(
        run.train_set,
        run.config.batch_size,
        buckets=run.config.buckets,
        shuffle=True,
        seed=run.config.seed,
        epoch=epoch,
    )
    for i, batch in enumerate(batches):
        if i >= done:
            yield batch


def _progress_note(run: _Run, note: str | None) -> None:
    if run.progress is not None:
        run.progress.set_description_str(
            f"{run.spec.name} {run.config.optimizer} seed {run.config.seed}"
            + (f" ({note})" if note else "")
        )


def _one_step(run: _Run, epoch: int, batch: dict[str, np.ndarray]) -> dict[str, Any]:
    seq_len = int(batch["input_ids"].shape[1])
    if seq_len not in run.seen_lengths:
        _progress_note(run, f"compiling the step for length {seq_len}")
    t0 = time.perf_counter()
    run.params, run.opt_state, value = run.train_fn(
        run.params,
        run.opt_state,
        run.parallel.shard_batch(batch),
        run.parallel.replicate(step_dropout_key(run.config.seed, run.step)),
    )
    loss = float(value)
    elapsed = time.perf_counter() - t0
    if seq_len not in run.seen_lengths:
        run.seen_lengths.add(seq_len)
        _progress_note(run, None)
        log.info(
            "compiled train step #%d for batch shape %s (%.1f s incl. the step)",
            run.traces["train"],
            batch["input_ids"].shape,
            elapsed,
        )
    run.train_time += elapsed
    record = _record(run, epoch, loss, seq_len, elapsed)
    run.total_evals += record.get("num_evaluations", 0)
    run.nonfinite_streak = 0 if math.isfinite(loss) else run.nonfinite_streak + 1
    return record


def _log_step(run: _Run, record: dict[str, Any]) -> None:
    run.log.write(record)
    scalars = {"train/loss": record["loss"], "train/time_s": record["time_s"]}
    for g, size in enumerate(record["step_sizes"]):
        scalars[f"step_size/group_{g}"] = size
    for key in ("num_evaluations", "num_backtracks"):
        if key in record:
            scalars[f"search/{key}"] = record[key]
    run.events.scalars(record["step"] + 1, scalars)
    if run.progress is not None:
        run.progress.update(1)
        run.progress.set_postfix(
            loss=f"{record['loss']:.4f}", step_size=f"{record['step_sizes'][0]:.3g}"
        )


def _evaluate_now(run: _Run, dataset: input_pipeline.EncodedDataset) -> dict[str, float]:
    _progress_note(run, f"evaluating {len(dataset)} dev examples")
    metrics = evaluate(
        run.eval_fn,
        run.params,
        dataset,
        run.spec.name,
        run.eval_batch_size,
        run.config.buckets,
        run.parallel,
    )
    _progress_note(run, None)
    run.events.scalars(run.step, {f"dev/{k}": v for k, v in metrics.items()})
    return metrics


def _diverged(run: _Run) -> bool:
    return run.nonfinite_streak >= DIVERGED_AFTER


def _should_stop(run: _Run) -> bool:
    """Whether a signal arrived (in any process of a multi-process run)."""
    flag = run.stop_signal or 0
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        flag = int(np.max(multihost_utils.process_allgather(np.int32(flag))))
        run.stop_signal = flag or None
    return bool(flag)


def train_epoch(run: _Run, epoch: int, checkpoints: Any) -> list[float]:
    """Trains the rest of ``epoch``; returns its losses (the resumed ones included).

    After each step: evaluation every ``eval_every`` steps, a checkpoint when due, and on a
    signal a checkpoint and :class:`RunInterrupted`. Stops early once the run diverged.
    """
    config = run.config
    for batch in _epoch_batches(run, epoch):
        record = _one_step(run, epoch, batch)
        run.step += 1
        _log_step(run, record)
        if _diverged(run):
            break
        end_of_epoch = run.step % run.steps_per_epoch == 0
        if config.eval_every and run.step % config.eval_every == 0 and not end_of_epoch:
            metrics = _evaluate_now(run, run.dev_subset)
            run.evaluations.append(
                {
                    "step": run.step,
                    "eval_examples": len(run.dev_subset),
                    **{f"dev_{k}": v for k, v in metrics.items()},
                }
            )
        stop = _should_stop(run)
        if not end_of_epoch and (stop or checkpoints.due(run.step)):
            _save(run, checkpoints)
        if stop:
            raise RunInterrupted(run.stop_signal, run.step)
    return [r["loss"] for r in run.log.records if r["epoch"] == epoch]


def _save(run: _Run, checkpoints: Any) -> None:
    run.log.sync()
    checkpoints.save(run.step, run.state(), run.meta())
    log.info("checkpoint of step %d in %s", run.step, checkpoints.directory)


def _versions(parallel: DataParallel) -> dict[str, Any]:
    import flax

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "flax": flax.__version__,
        "sls_jax": sls_jax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "platform": jax.default_backend(),
        "num_devices": parallel.num_devices,
        "num_processes": jax.process_count(),
    }


def _restore(run: _Run, checkpoints: Any) -> None:
    restored = checkpoints.restore(run.state())
    if restored is None:
        return
    step, state, meta = restored
    if meta.get("identity") != _identity(run):
        raise ValueError(
            f"{checkpoints.directory} holds an unfinished run with other settings, data or "
            "model; use another --out folder, or --overwrite to start it again"
        )
    run.params, run.opt_state = state["params"], state["opt_state"]
    run.step = int(meta["step"])
    run.epochs = list(meta["epochs"])
    run.evaluations = list(meta["evaluations"])
    run.total_evals = int(meta["total_evals"])
    run.train_time = float(meta["train_time"])
    run.nonfinite_streak = int(meta["nonfinite_streak"])
    log.info("resuming %s from the checkpoint of step %d", checkpoints.directory.parent, step)


def _summary(run: _Run, status: str, reason: str, wall: float) -> dict[str, Any]:
    final = run.epochs[-1] if run.epochs and status == run_log.FINISHED else {}
    step_sizes = run.log.records[-1]["step_sizes"] if run.log.records else []
    summary = {
        "config": dataclasses.asdict(run.config),
        "status": status,
        "task": run.spec.name,
        "optimizer": run.config.optimizer,
        "seed": run.config.seed,
        "checkpoint": str(run.checkpoint),
        "pooling": run.config.pooling,
        "data_source": str(tasks.data_source(run.config.data_dir)),
        "fingerprints": run.fingerprints,
        "train_examples": len(run.train_set),
        "dev_examples": len(run.dev_set),
        "steps": run.step,
        "steps_per_epoch": run.steps_per_epoch,
        "epochs": run.epochs,
        "evaluations": run.evaluations,
        "final": {k: v for k, v in final.items() if k.startswith("dev_") and k != "dev_examples"},
        "num_step_sizes": len(step_sizes),
        "value_fn_evaluations": run.total_evals,
        "evaluations_per_step": run.total_evals / max(run.step, 1),
        "compilations": dict(run.traces),
        "train_time_s": run.train_time,
        "wall_time_s": wall,
        "versions": _versions(run.parallel),
    }
    if reason:
        summary["reason"] = reason
    return summary


def _train(run: _Run, checkpoints: Any) -> tuple[str, str]:
    """The epochs of the run; returns ``(status, reason)``."""
    config = run.config
    for epoch in range(run.step // run.steps_per_epoch, config.epochs):
        losses = train_epoch(run, epoch, checkpoints)
        if _diverged(run):
            return run_log.DIVERGED, (
                f"the training loss was non-finite for {DIVERGED_AFTER} steps in a row "
                f"(from step {run.step - DIVERGED_AFTER})"
            )
        last = epoch == config.epochs - 1
        metrics = _evaluate_now(run, run.dev_set if last else run.dev_subset)
        run.epochs.append(
            {
                "epoch": epoch + 1,
                "train_loss_mean": float(np.mean(losses)) if losses else math.nan,
                "eval_examples": len(run.dev_set if last else run.dev_subset),
                **{f"dev_{k}": v for k, v in metrics.items()},
            }
        )
        if run.progress is not None:
            run.progress.write(
                f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            )
        stop = _should_stop(run)
        if not last and (stop or checkpoints.due(run.step)):
            _save(run, checkpoints)  # an epoch's evaluation is never redone
        if stop:
            raise RunInterrupted(run.stop_signal, run.step)
    if run.step == 0:
        return run_log.FAILED, "no training step was made"
    if not math.isfinite(run.log.records[-1]["loss"]):
        return run_log.DIVERGED, "the training loss of the last step is not finite"
    return run_log.FINISHED, ""


class _Signals:
    """SIGTERM/SIGINT set ``run.stop_signal``; a second SIGINT interrupts at once."""

    def __init__(self, run: _Run):
        self.run, self.saved = run, {}

    def _handler(self, signum, frame):
        if self.run.stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("signal %d: saving a checkpoint after this step, then stopping", signum)
        self.run.stop_signal = signum

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.saved[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def train_and_evaluate(
    config: TrainConfig, workdir: str | os.PathLike, *, overwrite: bool = False
) -> dict[str, Any]:
    """Fine-tunes one model; writes ``steps.jsonl``, ``summary.json`` and events into ``workdir``.

    Resumes from the newest checkpoint in ``workdir/checkpoints`` if there is one. Files are
    written by process 0 only; every process of a multi-process run calls this.

    Returns:
      The summary (also in ``workdir/summary.json``), whose ``status`` is ``finished``,
      ``failed`` or ``diverged``. A finished run with the same settings already there is
      skipped (its stored summary is returned) unless ``overwrite``.

    Raises:
      ValueError / FileNotFoundError: bad settings (named by their flags), unknown task or
        optimizer, missing or corrupt data, a batch larger than the training set, a finished run
        with other settings in ``workdir`` -- all before anything is written.
      RunInProgress: another process is writing this run.
      RunInterrupted: SIGTERM/SIGINT; a checkpoint was saved first.
    """
    workdir = pathlib.Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"run folder {workdir} is a file; give --out a folder")
    config = dataclasses.replace(config, pooling=resolve_pooling(config))
    spec = check_config(config)
    stored = writer_decides(lambda: run_log.finished_run(config, workdir, overwrite))
    if stored is not None:
        if "fingerprints" in stored:  # same data and model? (older summaries: not recorded)
            run_log.check_fingerprints(stored, _prepare(config, spec).fingerprints, workdir)
        log.info("skipped: %s is already finished (--overwrite reruns it)", workdir)
        return stored
    run = _prepare(config, spec)
    _check_processes_agree(run)

    writer = is_writer()
    workdir.mkdir(parents=True, exist_ok=True)
    lock = run_log.RunLock(workdir, enabled=writer)
    if not broadcast_from_writer(np.int32(lock.acquire())):
        raise RunInProgress(f"{workdir} is being written by another process ({lock.path})")
    try:
        return _run_locked(run, workdir, overwrite, writer)
    finally:
        lock.release()


def _check_processes_agree(run: _Run) -> None:
    """Every process of a multi-process run must have read the same data and model."""
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    first = writer_decides(lambda: run.fingerprints)
    agree = multihost_utils.process_allgather(np.int32(first == run.fingerprints))
    if not np.all(agree):
        raise ValueError(
            "the processes read different data or models (fingerprints differ from process "
            f"0's in processes {np.flatnonzero(np.asarray(agree) == 0).tolist()}); every host "
            "needs the same --data-dir files and --model"
        )


def _run_locked(run: _Run, workdir: pathlib.Path, overwrite: bool, writer: bool):
    from sls_glue.checkpointing import Checkpoints

    config = run.config
    stored = run_log.read_summary(workdir / "summary.json")
    if writer and (overwrite or stored is not None):
        # a new attempt: results of the stopped or failed one go
        for name in ("summary.json", "steps.jsonl", "events", "checkpoints", "params"):
            path = workdir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    sync_processes("sls_glue_clean")
    checkpoints = Checkpoints(
        workdir / "checkpoints", keep=config.keep_checkpoints, every=config.checkpoint_every
    )
    _restore(run, checkpoints)
    run.log = run_log.StepLog(workdir / "steps.jsonl", run.step, enabled=writer)
    run.events = run_log.EventWriter(
        workdir / "events", run.step + 1, enabled=writer and config.tensorboard
    )
    if config.progress and writer:
        from tqdm.auto import tqdm

        run.progress = tqdm(total=run.total_steps, initial=run.step)
        _progress_note(run, None)
    start = time.perf_counter()
    try:
        with _Signals(run):
            status, reason = _train(run, checkpoints)
    finally:
        run.log.close()
        run.events.close()
        checkpoints.close()
        if run.progress is not None:
            run.progress.close()
    summary = _summary(run, status, reason, time.perf_counter() - start)
    sync_processes("sls_glue_done")
    if config.save_params and status == run_log.FINISHED:
        from sls_glue.checkpointing import save_params

        save_params(workdir / "params", run.params)
    if writer:
        run_log.write_atomic(workdir / "summary.json", _dumps(summary))
        shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
    if status != run_log.FINISHED:
        log.warning("%s %s: %s", workdir, status, reason)
    return summary


def _dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=1)
