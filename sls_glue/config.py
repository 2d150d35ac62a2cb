"""The settings of one fine-tuning run, declared once: defaults, meaning, command-line flag.

:class:`TrainConfig` is the only place a default lives. ``sls-glue run`` builds its flags from
the fields' metadata (:func:`add_arguments`), and a stored ``summary.json`` is read back with
:func:`config_from_dict`, so a field added later reads as its default in older output folders.

Field metadata keys:

* ``help``: the meaning, shown by ``sls-glue run --help`` (with the default);
* ``flag``: the command-line flag (``None``: not on the command line);
* ``result``: False for settings that cannot change a run's numbers (progress bar, checkpoint
  cadence, event files); they are left out of the run's identity (:func:`run_identity`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_BUCKETS",
    "TrainConfig",
    "add_arguments",
    "config_from_args",
    "config_from_dict",
    "flag_of",
    "run_identity",
]

from sls_glue.input_pipeline import DEFAULT_BUCKETS


def _field(
    default: Any,
    help: str,
    flag: str | None = None,
    *,
    result: bool = True,
    switch_help: str | None = None,
    **kw: Any,
):
    meta = {"help": help, "flag": flag, "result": result, "switch_help": switch_help}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta, **kw)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One fine-tuning run. Defaults: the paper's small protocol with the offline MiniLM-L6.

    The protocol of Kenneweg et al. 2023, Section IV: [CLS] -> one linear head, mean
    cross-entropy, no dropout, batch 32, max length 256, 5 epochs, dev metrics after every
    epoch. Every field's meaning is its ``help`` metadata (``sls-glue run --help``).
    """

    task: str = _field(
        "sst2",
        "GLUE task: SST-2, MRPC, QNLI, MNLI, RTE, CoLA, STS-B, WNLI or QQP, in any spelling "
        "such as sst2 (the paper used the first four)",
        "--task",
    )
    train_size: int | None = _field(
        500,
        "training examples sampled with the seed (500: the paper's small protocol), or 'full' "
        "for the whole training file",
        "--train-size",
    )
    optimizer: str = _field(
        "adam_sls_skip",
        "optimizer: adam_sls_skip (the recommended line search: ADAMSLS with search skipping, "
        "c = 0.5), the paper's adam (lr 2e-5, warm-up + cosine), sgd_sls, adam_sls, pla_sls, "
        "salsa (their published settings), adam_sls_two_phase (adam_sls_skip for the "
        "first epoch, then Adam with the step size found, cosine decay), or a "
        "name added with sls_glue.train.register_optimizer",
        "--optimizer",
    )
    seed: int = _field(
        0, "seeds the training sample, data order, head initialisation, dropout", "--seeds"
    )
    epochs: int = _field(5, "passes over the training set", "--epochs")
    batch_size: int = _field(
        32,
        "global batch size (over all devices and processes; padded with zero-weight rows to a "
        "multiple of the device count)",
        "--batch-size",
    )
    max_length: int = _field(
        256, "truncation length in tokens (at most the largest bucket)", "--max-length"
    )
    model: str | None = _field(
        None,
        "local Hugging Face BERT folder or hub name (None: $SLS_GLUE_CHECKPOINT if set, else "
        "the offline MiniLM-L6); 'random:tiny' is a random 2-layer BERT for tests",
        "--model",
    )
    data_dir: str | None = _field(
        None,
        "GLUE folder with SST-2/, MRPC/, ... in the layout of GLUE's download script, or 'hub' "
        "(nyu-mll/glue through the datasets library, online); None: $GLUE_DIR if set, else the "
        "SST-2 sample shipped with sls_glue (500 rows of seed 0 and the dev set)",
        "--data-dir",
    )
    buckets: tuple[int, ...] = _field(
        DEFAULT_BUCKETS, "padded sequence lengths (one compilation each at most)", "--buckets"
    )
    eval_subset: int | None = _field(
        None,
        "dev examples (a fixed sample) evaluated before the last epoch (None: the whole dev "
        "set); the last epoch always uses the whole dev set",
        "--eval-subset",
    )
    eval_every: int = _field(
        0,
        "also evaluate every this many training steps (0: only after each epoch), on the "
        "--eval-subset sample",
        "--eval-every",
    )
    dev_split: str = _field("dev", "dev split: dev (MNLI: matched) or dev_mismatched")
    dropout_rate: float = _field(0.0, "dropout rate of the model (the paper: 0)", "--dropout")
    use_pooler: bool = _field(False, "classify from BERT's pooler instead of [CLS]")
    pooling: str | None = _field(
        None,
        "classifier input: 'cls' ([CLS], the paper's) or 'mean' (mean over real tokens); None: "
        "the checkpoint's own (its sentence-transformers 1_Pooling config: mean for the "
        "offline MiniLM-L6; cls for plain BERT checkpoints such as bert-base)",
        "--pooling",
    )
    pla_groups: int | str = _field(
        10,
        "PLASLS parameter groups: a number (at most encoder layers + 2, so 10 is 8 on the "
        "6-layer MiniLM), 'qkv' (query, key, value, the rest) or 'layers' (one group per "
        "encoder layer, the embeddings with the first, the head with the last)",
        "--pla-groups",
    )
    adam_learning_rate: float = _field(
        2e-5, "the Adam baseline's peak learning rate", "--adam-learning-rate"
    )
    adam_warmup_fraction: float = _field(
        0.1,
        "the Adam baseline's linear warm-up, as a share of all steps (then cosine decay to 0)",
        "--adam-warmup-fraction",
    )
    optimizer_kwargs: dict[str, Any] = _field(
        {},
        "JSON keyword arguments for every optimizer of the command, e.g. '{\"c\": 0.5}'",
        "--optimizer-kwargs",
    )
    progress: bool = _field(
        True,
        "show a progress bar",
        "--no-progress",
        result=False,
        switch_help="no progress bar, only log lines (default: a progress bar)",
    )
    checkpoint_every: int = _field(
        200,
        "save a checkpoint every this many steps for resuming (0: only on SIGTERM/SIGINT); "
        "checkpoints are deleted when the run finishes",
        "--checkpoint-every",
        result=False,
    )
    keep_checkpoints: int = _field(
        2, "checkpoints kept per run (the latest ones)", "--keep-checkpoints", result=False
    )
    shard_params: bool = _field(
        False,
        "shard params and optimizer state over the devices (FSDP style: each array's largest "
        "axis that the device count divides) instead of replicating them; the same numbers up "
        "to float rounding, less memory per device",
        "--shard-params",
        result=False,
    )
    save_params: bool = _field(
        False,
        "keep the final params of a finished run in <run>/params (orbax)",
        "--save-params",
        result=False,
    )
    tensorboard: bool = _field(
        True,
        "write TensorBoard event files into each run folder (events/)",
        "--no-tensorboard",
        result=False,
        switch_help="no TensorBoard event files (default: written into <run>/events/)",
    )


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: Fields given per grid cell on the command line (lists: ``--task sst2 mrpc``).
GRID_FIELDS = ("task", "optimizer", "seed")


def flag_of(name: str) -> str:
    """The command-line spelling of field ``name`` (``--batch-size``), or ``name=`` if none."""
    flag = _FIELDS[name].metadata["flag"]
    return flag if flag else f"{name}="


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


#: Fields whose value in runs stored before the field existed is not today's default.
_LEGACY_DEFAULTS: dict[str, Any] = {"pooling": "cls"}  # every older run classified from [CLS]


def config_from_dict(stored: Mapping[str, Any]) -> TrainConfig:
    """The config a stored ``summary.json["config"]`` describes.

    A field missing from ``stored`` (an output folder written before the field existed) reads
    as its default, except ``pooling``, which reads as ``"cls"`` (every run before that field
    classified from [CLS]); keys that are no field any more are ignored. Lists become tuples
    where the field is a tuple.
    """
    kwargs = dict(_LEGACY_DEFAULTS)
    for name, value in stored.items():
        if name not in _FIELDS:
            continue
        if name == "buckets" and value is not None:
            value = tuple(value)
        kwargs[name] = value
    return TrainConfig(**kwargs)


def run_identity(config: TrainConfig) -> dict[str, Any]:
    """The settings that can change a run's numbers, as JSON stores them.

    Leaves out the fields whose metadata says ``result=False`` (progress bar, checkpoint
    cadence, event files). Two runs with equal identities (and equal data and model
    fingerprints, see :func:`sls_glue.train.train_and_evaluate`) compute the same numbers.
    """
    return {
        name: _jsonable(getattr(config, name))
        for name, f in _FIELDS.items()
        if f.metadata["result"]
    }


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _positive_int(flag: str, allow_zero: bool = False):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < (0 if allow_zero else 1):
            least = "0 or more" if allow_zero else "a positive whole number"
            raise argparse.ArgumentTypeError(f"{flag} must be {least}, got {text!r}")
        return value

    return parse


def _train_size(text: str) -> int | None:
    if text.lower() in ("full", "all", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--train-size must be a positive number or 'full', got {text!r}"
        )
    return value


def _pla_groups(text: str) -> int | str:
    """``--pla-groups``: a positive number of groups, ``qkv`` or ``layers``."""
    if text in ("qkv", "layers"):
        return text
    try:
        groups = int(text)
    except ValueError:
        groups = 0
    if groups < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'qkv' (or 'layers'), got {text!r}"
        )
    return groups


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(
            f"--optimizer-kwargs is not valid JSON ({error.msg} at character {error.pos}): "
            f"{text!r}; expected an object such as '{{\"c\": 0.5}}'"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"--optimizer-kwargs must be a JSON object such as '{{\"c\": 0.5}}', got {text!r}"
        )
    return value


def _optional_str(text: str) -> str | None:
    return text or None


_PARSERS: dict[str, dict[str, Any]] = {
    "task": {"nargs": "+"},
    "optimizer": {"nargs": "+"},
    "seed": {"nargs": "+", "type": int},
    "train_size": {"type": _train_size},
    "epochs": {"type": _positive_int("--epochs")},
    "batch_size": {"type": _positive_int("--batch-size")},
    "max_length": {"type": _positive_int("--max-length")},
    "model": {"type": _optional_str},
    "data_dir": {"type": _optional_str},
    "buckets": {"nargs": "+", "type": _positive_int("--buckets")},
    "eval_subset": {"type": _positive_int("--eval-subset")},
    "eval_every": {"type": _positive_int("--eval-every", allow_zero=True)},
    "dropout_rate": {"type": float},
    "pooling": {"choices": ("cls", "mean")},
    "pla_groups": {"type": _pla_groups},
    "adam_learning_rate": {"type": float},
    "adam_warmup_fraction": {"type": float},
    "optimizer_kwargs": {"type": _json_object},
    "checkpoint_every": {"type": _positive_int("--checkpoint-every", allow_zero=True)},
    "keep_checkpoints": {"type": _positive_int("--keep-checkpoints")},
}


_METAVARS = {
    "train_size": "N|full",
    "optimizer_kwargs": "JSON",
    "model": "PATH|NAME",
    "data_dir": "PATH",
    "pla_groups": "N|qkv|layers",
    "buckets": "LENGTH",
    "dropout_rate": "RATE",
}


def _show(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per :class:`TrainConfig` field that has one, default and help from it.

    Grid fields (``--task``, ``--optimizer``, ``--seeds``) take lists; their default is the
    field's default as a one-element list. Boolean fields that default to True get a
    ``--no-...`` switch.
    """
    defaults = TrainConfig()
    for name, f in _FIELDS.items():
        flag = f.metadata["flag"]
        if flag is None:
            continue
        default = getattr(defaults, name)
        text = f.metadata["help"]
        if isinstance(default, bool):
            parser.add_argument(
                flag,
                dest=name,
                action="store_false" if default else "store_true",
                help=f.metadata["switch_help"] or text,
            )
            continue
        shown = "" if default is None else f" (default: {_show(default)})"
        kwargs = dict(_PARSERS.get(name, {}))
        if kwargs.get("nargs") == "+" and name in GRID_FIELDS:
            default = [default]
        parser.add_argument(
            flag,
            dest=name,
            default=default,
            metavar=_METAVARS.get(name, name.upper()),
            help=text + shown,
            **kwargs,
        )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The base config of a command (grid fields keep their defaults; the grid sets them)."""
    kwargs = {}
    for name, f in _FIELDS.items():
        if f.metadata["flag"] is None or name in GRID_FIELDS:
            continue
        value = getattr(args, name)
        kwargs[name] = tuple(value) if name == "buckets" else value
    return TrainConfig(**kwargs)
