"""The GLUE task catalogue and its readers: where the rows come from and how they become records.

Three sources, one record type (:class:`Example`):

* a local GLUE folder in the layout of GLUE's download script (``download_glue_data.py`` of
  ``nyu-mll/GLUE-baselines``): one folder per task (``SST-2/``, ``MRPC/``, ...) holding
  ``train.tsv`` and ``dev.tsv`` (MNLI: ``dev_matched.tsv`` and ``dev_mismatched.tsv``), given as
  ``data_dir`` or ``$GLUE_DIR``;
* the Hugging Face hub dataset ``nyu-mll/glue`` through the ``datasets`` library, selected with
  ``data_dir="hub"`` (or ``"hub:<dataset>"`` for a copy under another name);
* with neither, the SST-2 sample shipped in the package (``sls_glue/glue_sample/``): the 500
  training rows the small protocol draws for seed 0 and the whole 872-row dev set, so the default
  run works offline on a bare clone. It serves that run only: another task, training-set size or
  seed raises an error that says where to get the data (:func:`read_train_set`).

TSV files are read with the :mod:`csv` module using ``quoting=csv.QUOTE_NONE`` (GLUE text
contains bare ``"`` characters); a leading UTF-8 byte-order mark (MRPC) is dropped. Hub rows are
turned into the same (texts, label) cells as TSV rows and go through the same checks, so every
source yields the same records. Label indices follow the ``nyu-mll/glue`` dataset (for example
MNLI entailment=0, neutral=1, contradiction=2; QNLI/RTE entailment=0, not_entailment=1). The
protocol these readers serve is in ``docs/protocol.md``.

Typical use::

    examples = read_train_set("sst2", data_dir=None, train_size=500, seed=0)
    dev = read_split("sst2", "dev")
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sls_glue.files import read_text

__all__ = [
    "EMBEDDED_DATA_DIR",
    "HUB_DATASET",
    "TASKS",
    "DataSource",
    "Example",
    "TaskSpec",
    "check_task_data",
    "data_source",
    "default_data_dir",
    "examples_from_dataset",
    "get_task",
    "read_split",
    "read_train_set",
    "sample_small",
    "task_names",
]

# --------------------------------------------------------------------------------------
# Task specs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TaskSpec:
    """Static description of one GLUE task.

    Specs are singletons (``TASKS``); they compare and hash by identity, so a spec can
    be a static argument of a jitted function.

    Attributes:
        name: canonical name, also the data folder name (``"SST-2"``, ``"STS-B"``, ...).
        files: split name -> TSV file name inside the task folder. ``"dev"`` is the
            evaluation split (MNLI: dev_matched).
        has_header: whether the TSV files start with a header row (CoLA: no).
        text_columns: one (single sentence) or two (pair) columns holding the text,
            by header name, or by 0-based position for header-less files.
        label_column: column holding the label (header name or position).
        num_columns: expected column count of header-less files (None: taken from the
            header row of each file).
        label_names: class names in label-index order, as in the HF ``glue`` dataset;
            empty for the regression task.
        raw_labels: how each label index is written in the TSV files (same order as
            ``label_names``); empty for the regression task.
        label_range: (min, max) allowed for a regression label; None for classification.
        metrics: metric keys reported by :func:`sls_glue.metrics.compute_metrics`.
        primary_metric: the metric usually quoted for the task.
        hub_config: config name of the task in the HF ``nyu-mll/glue`` dataset.
        hub_text_columns: text column names in the HF dataset.
        hub_splits: split name here -> split name in the HF dataset.
        aliases: extra accepted names (besides the normalised canonical name).
    """

    name: str
    files: Mapping[str, str]
    has_header: bool
    text_columns: tuple[str | int, ...]
    label_column: str | int
    num_columns: int | None
    label_names: tuple[str, ...]
    raw_labels: tuple[str, ...]
    label_range: tuple[float, float] | None
    metrics: tuple[str, ...]
    primary_metric: str
    hub_config: str
    hub_text_columns: tuple[str, ...]
    hub_splits: Mapping[str, str] = field(
        default_factory=lambda: {"train": "train", "dev": "validation"}
    )
    aliases: tuple[str, ...] = ()

    @property
    def is_regression(self) -> bool:
        """True for STS-B (float label in [0, 5])."""
        return self.label_range is not None

    @property
    def num_labels(self) -> int:
        """Number of model outputs: classes, or 1 for regression."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """True if each example is a sentence pair."""
        return len(self.text_columns) == 2

    @property
    def splits(self) -> tuple[str, ...]:
        """Split names accepted by :func:`read_split` (besides the aliases)."""
        return tuple(self.files)


_BINARY = ("0", "1")
_NLI2 = ("entailment", "not_entailment")
_NLI3 = ("entailment", "neutral", "contradiction")

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="SST-2",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("sentence",),
            label_column="label",
            num_columns=None,
            label_names=("negative", "positive"),
            raw_labels=_BINARY,
            label_range=None,
            metrics=("accuracy",),
            primary_metric="accuracy",
            hub_config="sst2",
            hub_text_columns=("sentence",),
            aliases=("sst",),
        ),
        TaskSpec(
            name="MRPC",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("#1 String", "#2 String"),
            label_column="Quality",
            num_columns=None,
            label_names=("not_equivalent", "equivalent"),
            raw_labels=_BINARY,
            label_range=None,
            metrics=("accuracy", "f1"),
            primary_metric="f1",
            hub_config="mrpc",
            hub_text_columns=("sentence1", "sentence2"),
        ),
        TaskSpec(
            name="QNLI",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("question", "sentence"),
            label_column="label",
            num_columns=None,
            label_names=_NLI2,
            raw_labels=_NLI2,
            label_range=None,
            metrics=("accuracy",),
            primary_metric="accuracy",
            hub_config="qnli",
            hub_text_columns=("question", "sentence"),
        ),
        TaskSpec(
            name="MNLI",
            files={
                "train": "train.tsv",
                "dev": "dev_matched.tsv",
                "dev_matched": "dev_matched.tsv",
                "dev_mismatched": "dev_mismatched.tsv",
            },
            has_header=True,
            text_columns=("sentence1", "sentence2"),
            label_column="gold_label",
            num_columns=None,
            label_names=_NLI3,
            raw_labels=_NLI3,
            label_range=None,
            metrics=("accuracy",),
            primary_metric="accuracy",
            hub_config="mnli",
            hub_text_columns=("premise", "hypothesis"),
            hub_splits={
                "train": "train",
                "dev": "validation_matched",
                "dev_matched": "validation_matched",
                "dev_mismatched": "validation_mismatched",
            },
            aliases=("multinli",),
        ),
        TaskSpec(
            name="RTE",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("sentence1", "sentence2"),
            label_column="label",
            num_columns=None,
            label_names=_NLI2,
            raw_labels=_NLI2,
            label_range=None,
            metrics=("accuracy",),
            primary_metric="accuracy",
            hub_config="rte",
            hub_text_columns=("sentence1", "sentence2"),
        ),
        TaskSpec(
            name="CoLA",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=False,
            # source, label, original label (empty), sentence
            text_columns=(3,),
            label_column=1,
            num_columns=4,
            label_names=("unacceptable", "acceptable"),
            raw_labels=_BINARY,
            label_range=None,
            metrics=("accuracy", "matthews"),
            primary_metric="matthews",
            hub_config="cola",
            hub_text_columns=("sentence",),
        ),
        TaskSpec(
            name="STS-B",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("sentence1", "sentence2"),
            label_column="score",
            num_columns=None,
            label_names=(),
            raw_labels=(),
            label_range=(0.0, 5.0),
            metrics=("pearson", "spearman"),
            primary_metric="pearson",
            hub_config="stsb",
            hub_text_columns=("sentence1", "sentence2"),
            aliases=("sts",),
        ),
        TaskSpec(
            name="WNLI",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("sentence1", "sentence2"),
            label_column="label",
            num_columns=None,
            label_names=("not_entailment", "entailment"),
            raw_labels=_BINARY,
            label_range=None,
            metrics=("accuracy",),
            primary_metric="accuracy",
            hub_config="wnli",
            hub_text_columns=("sentence1", "sentence2"),
        ),
        TaskSpec(
            name="QQP",
            files={"train": "train.tsv", "dev": "dev.tsv"},
            has_header=True,
            text_columns=("question1", "question2"),
            label_column="is_duplicate",
            num_columns=None,
            label_names=("not_duplicate", "duplicate"),
            raw_labels=_BINARY,
            label_range=None,
            metrics=("accuracy", "f1"),
            primary_metric="f1",
            hub_config="qqp",
            hub_text_columns=("question1", "question2"),
        ),
    )
}

_SPLIT_ALIASES: dict[str, str] = {
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "validation_matched": "dev_matched",
    "validation_mismatched": "dev_mismatched",
}


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_ALIASES: dict[str, str] = {}
for _spec in TASKS.values():
    for _alias in (_spec.name, _spec.hub_config, *_spec.aliases):
        _ALIASES[_normalise(_alias)] = _spec.name


def task_names() -> tuple[str, ...]:
    """Canonical names of the known tasks, e.g. ``("SST-2", "MRPC", ...)``."""
    return tuple(TASKS)


def get_task(task: str | TaskSpec) -> TaskSpec:
    """Look up a task spec by name, case-insensitively.

    ``"SST-2"``, ``"sst2"``, ``"sst-2"``, ``"SST_2"`` all name the same task; separators
    and case are ignored. A :class:`TaskSpec` is returned unchanged.

    Raises:
        ValueError: unknown task; the message lists the known tasks.
    """
    if isinstance(task, TaskSpec):
        return task
    key = _normalise(str(task))
    if key not in _ALIASES:
        known = ", ".join(TASKS)
        raise ValueError(f"unknown GLUE task {task!r}; known tasks: {known}")
    return TASKS[_ALIASES[key]]


def _resolve_split(spec: TaskSpec, split: str) -> str:
    key = split.lower()
    key = _SPLIT_ALIASES.get(key, key)
    if key not in spec.files:
        raise ValueError(
            f"unknown split {split!r} for task {spec.name}; known splits: " + ", ".join(spec.files)
        )
    return key


# --------------------------------------------------------------------------------------
# Data sources
# --------------------------------------------------------------------------------------

#: The SST-2 sample shipped in the package (provenance and licence in its README.md).
EMBEDDED_DATA_DIR: Path = Path(__file__).resolve().parent / "glue_sample"
#: The draw the embedded training rows are: task, ``train_size`` and ``seed`` of the small protocol.
EMBEDDED_TASK, EMBEDDED_TRAIN_SIZE, EMBEDDED_SEED = "SST-2", 500, 0
#: The hub dataset read for ``data_dir="hub"``.
HUB_DATASET = "nyu-mll/glue"

GET_DATA = (
    "Get the GLUE data with GLUE's download script (download_glue_data.py of "
    "github.com/nyu-mll/GLUE-baselines: python download_glue_data.py --data_dir glue_data "
    "--tasks all) and pass --data-dir glue_data (or set GLUE_DIR), or, online, pass "
    "--data-dir hub to read nyu-mll/glue through the datasets library (see docs/protocol.md)"
)


@dataclass(frozen=True)
class DataSource:
    """Where GLUE rows are read from.

    Attributes:
        kind: ``"folder"`` (a GLUE folder), ``"embedded"`` (the SST-2 sample in the package) or
            ``"hub"`` (a hub dataset read with ``datasets``).
        location: the folder (``Path``) or the hub dataset name (``str``).
    """

    kind: Literal["folder", "embedded", "hub"]
    location: Path | str

    def __str__(self) -> str:
        if self.kind == "hub":
            return f"hub dataset {self.location}"
        if self.kind == "embedded":
            return f"the SST-2 sample shipped with sls_glue ({self.location})"
        return f"GLUE folder {self.location}"


def default_data_dir() -> Path:
    """The GLUE folder used when none is given: ``$GLUE_DIR`` if set, else the embedded sample.

    Raises:
        FileNotFoundError: ``$GLUE_DIR`` is set but is not a folder.
    """
    env = os.environ.get("GLUE_DIR")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"GLUE_DIR is set to {env!r}, which is not a folder")
        return path
    return EMBEDDED_DATA_DIR


def data_source(data_dir: str | os.PathLike | None = None) -> DataSource:
    """Resolve ``data_dir`` to a :class:`DataSource`.

    Args:
        data_dir: a GLUE folder; ``"hub"`` (``nyu-mll/glue``) or ``"hub:<dataset>"`` for the
            hub; None for :func:`default_data_dir` (``$GLUE_DIR``, else the embedded sample).

    Raises:
        FileNotFoundError: the folder does not exist, or ``$GLUE_DIR`` is not a folder.
    """
    if isinstance(data_dir, str) and (data_dir == "hub" or data_dir.startswith("hub:")):
        name = data_dir.partition(":")[2] or HUB_DATASET
        return DataSource("hub", name)
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if not root.is_dir():
        raise FileNotFoundError(
            f"GLUE data folder not found: {root} (expected a folder holding SST-2/, MRPC/, ... "
            "as GLUE's download script writes them; see docs/protocol.md)"
        )
    if root.resolve() == EMBEDDED_DATA_DIR:
        return DataSource("embedded", EMBEDDED_DATA_DIR)
    return DataSource("folder", root)


def _not_in_sample(what: str) -> ValueError:
    return ValueError(
        f"no GLUE data given (--data-dir or $GLUE_DIR), and the SST-2 sample shipped with "
        f"sls_glue holds only the {EMBEDDED_TRAIN_SIZE} training rows that --train-size "
        f"{EMBEDDED_TRAIN_SIZE} --seeds {EMBEDDED_SEED} draws from SST-2 and its dev set, not "
        f"{what}. {GET_DATA}."
    )


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One GLUE example.

    Attributes:
        text_a: first (or only) sentence, verbatim from the source.
        text_b: second sentence of a pair task, None for single-sentence tasks.
        label: class index (int, ``nyu-mll/glue`` order) or STS-B score (float in [0, 5]).
    """

    text_a: str
    text_b: str | None
    label: int | float


def _parse_label(spec: TaskSpec, raw: str) -> int | float | None:
    """Label value of a raw cell, or None if it is not valid for the task."""
    if spec.label_range is not None:
        try:
            value = float(raw)
        except ValueError:
            return None
        lo, hi = spec.label_range
        if not (math.isfinite(value) and lo <= value <= hi):
            return None
        return value
    try:
        return spec.raw_labels.index(raw.strip())
    except ValueError:
        return None


#: One source row: where it is (for messages), its text cells, its raw label cell.
_Row = tuple[str, Sequence[str], str]


def _examples(spec: TaskSpec, rows: Iterable[_Row]) -> list[Example]:
    """The records of ``rows``, each checked: non-empty text, a label valid for the task."""
    examples: list[Example] = []
    for where, texts, raw_label in rows:
        for col, text in zip(spec.text_columns, texts):
            if not text.strip():
                raise ValueError(f"{where}: empty text in column {col!r}")
        label = _parse_label(spec, raw_label)
        if label is None:
            allowed = (
                f"a number in {list(spec.label_range)}"
                if spec.label_range is not None
                else f"one of {list(spec.raw_labels)}"
            )
            raise ValueError(
                f"{where}: unknown label {raw_label!r} in column {spec.label_column!r} "
                f"(expected {allowed})"
            )
        examples.append(Example(texts[0], texts[1] if len(texts) > 1 else None, label))
    return examples


def _tsv_rows(spec: TaskSpec, path: Path) -> Iterator[_Row]:
    """The rows of a GLUE TSV file, column count and header checked."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    if spec.has_header:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: line 1: empty file, expected a header row")
        ncols = len(header)
        try:
            text_idx = [header.index(str(c)) for c in spec.text_columns]
            label_idx = header.index(str(spec.label_column))
        except ValueError:
            needed = [*spec.text_columns, spec.label_column]
            raise ValueError(
                f"{path}: line 1: header {header!r} lacks a needed column (needs {needed!r})"
            ) from None
    else:
        assert spec.num_columns is not None
        ncols = spec.num_columns
        text_idx = [int(c) for c in spec.text_columns]
        label_idx = int(spec.label_column)
    for row in reader:
        where = f"{path}: line {reader.line_num}"
        if len(row) != ncols:
            raise ValueError(f"{where}: expected {ncols} tab-separated columns, found {len(row)}")
        yield where, [row[i] for i in text_idx], row[label_idx]


def _dataset_rows(spec: TaskSpec, rows: Iterable[Mapping[str, Any]], name: str) -> Iterator[_Row]:
    """The rows of a hub-layout dataset as TSV-like cells: the label index written as in the TSV."""
    columns = spec.hub_text_columns
    for i, row in enumerate(rows):
        where = f"{name} row {i}"
        missing = [c for c in (*columns, "label") if c not in row]
        if missing:
            raise ValueError(f"{where}: no column {missing[0]!r} (has {sorted(row)})")
        label = row["label"]
        if spec.is_regression:
            raw = repr(float(label))
        elif isinstance(label, (int, np.integer)) and 0 <= int(label) < spec.num_labels:
            raw = spec.raw_labels[int(label)]
        else:  # e.g. -1 in the unlabelled test splits
            raw = str(label)
        yield where, [row[c] for c in columns], raw


def examples_from_dataset(
    task: str | TaskSpec, dataset: Iterable[Mapping[str, Any]], name: str = "dataset"
) -> list[Example]:
    """The records of one split of a task in the ``nyu-mll/glue`` layout.

    Args:
        task: task name or spec.
        dataset: a ``datasets.Dataset`` (or any iterable of row dicts) with the hub text columns
            of the task (``TaskSpec.hub_text_columns``, e.g. ``sentence`` for SST-2, ``premise``
            and ``hypothesis`` for MNLI) and ``label`` (class index; float score for STS-B).
        name: how messages name the dataset.

    Returns:
        The same records :func:`read_split` gives for the TSV file holding these rows.

    Raises:
        ValueError: a missing column, an empty text, or a label outside the task's classes
            (the message names the row).
    """
    spec = get_task(task)
    return _examples(spec, _dataset_rows(spec, dataset, name))


def _read_hub(spec: TaskSpec, split: str, dataset: str) -> list[Example]:
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(
            "data_dir='hub' needs the 'datasets' package (pip install 'datasets>=3'); "
            "or pass a local GLUE folder"
        ) from exc
    if split not in spec.hub_splits:
        raise ValueError(f"split {split!r} of {spec.name} has no counterpart on the hub")
    hub_split = spec.hub_splits[split]
    try:
        rows = datasets.load_dataset(dataset, spec.hub_config, split=hub_split)
    except Exception as exc:  # offline, unknown dataset, ...: name what was asked for
        raise FileNotFoundError(
            f"could not read {dataset} {spec.hub_config}/{hub_split} from the hub (offline, or "
            f"no such dataset?): {type(exc).__name__}: {exc}. Pass a local GLUE folder "
            "instead (--data-dir, see docs/protocol.md)"
        ) from exc
    return examples_from_dataset(spec, rows, f"{dataset} {spec.hub_config}/{hub_split}")


def read_split(
    task: str | TaskSpec, split: str, data_dir: str | os.PathLike | None = None
) -> list[Example]:
    """Read one split of a GLUE task.

    Args:
        task: task name (case-insensitive, aliases accepted) or spec.
        split: ``"train"`` or ``"dev"`` (``"validation"`` is an alias); MNLI also
            ``"dev_matched"`` (= ``"dev"``) and ``"dev_mismatched"``.
        data_dir: see :func:`data_source`: a GLUE folder, ``"hub"``, or None (``$GLUE_DIR``,
            else the embedded SST-2 sample, whose ``train`` split is its 500 drawn rows).

    Returns:
        The examples in source order. Text is kept verbatim (no stripping). Labels are
        ints in ``nyu-mll/glue`` order, or floats for STS-B.

    Raises:
        ValueError: unknown task or split; a byte that is not UTF-8, a corrupt row (wrong
            column count, unknown label, empty text) or a header lacking a needed column --
            the message names the file, the 1-based line number and the problem; a task
            other than SST-2 from the embedded sample.
        FileNotFoundError: the data folder or the split file does not exist; the hub is
            unreachable.
        ImportError: ``data_dir="hub"`` and ``datasets`` is not installed.
    """
    spec = get_task(task)
    key = _resolve_split(spec, split)
    source = data_source(data_dir)
    if source.kind == "hub":
        return _read_hub(spec, key, str(source.location))
    if source.kind == "embedded" and spec.name != EMBEDDED_TASK:
        raise _not_in_sample(spec.name)
    root = Path(source.location)
    path = root / spec.name / spec.files[key]
    if not path.is_file():
        raise FileNotFoundError(
            f"{spec.name} {key} file not found: {path} (it is absent from this data folder, {root})"
        )
    return _examples(spec, _tsv_rows(spec, path))


# --------------------------------------------------------------------------------------
# Training sets of the protocol
# --------------------------------------------------------------------------------------


def sample_small(examples: Sequence[Example], n: int | None = 500, seed: int = 0) -> list[Example]:
    """Seeded random sample without replacement, kept in original (file) order.

    The chosen indices are ``np.random.default_rng(seed).choice(len, n, replace=False)``,
    sorted; the same ``seed`` gives the same sample for every optimizer. If ``n`` is
    None or ``n >= len(examples)``, all examples are returned in original order (a new
    list).

    Raises:
        ValueError: ``n`` is negative.
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}")
    idx = np.random.default_rng(seed).choice(len(examples), size=n, replace=False)
    return [examples[i] for i in np.sort(idx)]


def _check_sample_request(
    spec: TaskSpec, source: DataSource, train_size: int | None, seed: int
) -> None:
    """Raise if the embedded sample cannot give the requested training set."""
    if source.kind != "embedded":
        return
    if spec.name != EMBEDDED_TASK:
        raise _not_in_sample(spec.name)
    if train_size != EMBEDDED_TRAIN_SIZE:
        size = "the full training set" if train_size is None else f"{train_size} rows"
        raise _not_in_sample(f"{size} (--train-size {train_size or 'full'})")
    if seed != EMBEDDED_SEED:
        raise _not_in_sample(f"the draw of seed {seed}")


def read_train_set(
    task: str | TaskSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    train_size: int | None = 500,
    seed: int = 0,
) -> list[Example]:
    """The training examples of one run: ``train_size`` rows drawn with ``seed``, or all.

    From a GLUE folder or the hub this is ``sample_small(read_split(task, "train"), train_size,
    seed)`` (``train_size=None``: the whole split). The embedded sample *is* that draw for SST-2,
    ``train_size=500``, ``seed=0`` (the same rows in the same order as from the full file), and
    gives nothing else.

    Raises:
        ValueError: the embedded sample is asked for another task, size or seed (the message
            says where to get the data), or see :func:`read_split`.
        FileNotFoundError: see :func:`read_split`.
    """
    spec = get_task(task)
    source = data_source(data_dir)
    _check_sample_request(spec, source, train_size, seed)
    examples = read_split(spec, "train", data_dir)
    return examples if train_size is None else sample_small(examples, train_size, seed)


def check_task_data(
    task: str | TaskSpec,
    data_dir: str | os.PathLike | None = None,
    *,
    dev_split: str = "dev",
    train_size: int | None = 500,
    seeds: Sequence[int] = (0,),
) -> dict[str, int]:
    """Parse every file a task's runs read, before any run starts.

    Reads (and so checks every row of) the training and the ``dev_split`` split, and checks
    that the source can give the training set of every seed.

    Returns:
        ``{"train": rows in each run's training set, "dev": dev rows}``.

    Raises:
        ValueError, FileNotFoundError, ImportError: as :func:`read_split` and
            :func:`read_train_set`.
    """
    spec = get_task(task)
    source = data_source(data_dir)
    for seed in seeds:
        _check_sample_request(spec, source, train_size, seed)
    train = read_split(spec, "train", data_dir)
    dev = read_split(spec, dev_split, data_dir)
    n_train = len(train) if train_size is None else min(train_size, len(train))
    return {"train": n_train, "dev": len(dev)}
