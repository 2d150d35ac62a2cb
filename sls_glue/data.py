"""GLUE data: task specs, TSV readers, tokenization and length-bucketed batching.

The readers expect GLUE's own TSV layout (the files written by the GLUE download
script): one folder per task (``SST-2/``, ``MRPC/``, ...) holding ``train.tsv`` and
``dev.tsv`` (MNLI: ``dev_matched.tsv`` and ``dev_mismatched.tsv``). Files are read with
the :mod:`csv` module using ``quoting=csv.QUOTE_NONE`` (GLUE text contains bare ``"``
characters) and ``encoding="utf-8-sig"`` (MRPC files start with a UTF-8 BOM).

Typical use::

    examples = read_split("sst2", "train")
    examples = sample_small(examples, n=500, seed=0)
    tokenizer = load_tokenizer(path_to_folder_with_tokenizer_json)
    encoded = encode(examples, tokenizer, max_length=128)
    for batch in iterate_batches(encoded, 32, shuffle=True, seed=0, epoch=0):
        ...  # batch["input_ids"]: (32, L) int32, L in the buckets

Label indices follow the Hugging Face ``glue`` dataset (for example MNLI
entailment=0, neutral=1, contradiction=2; QNLI/RTE entailment=0, not_entailment=1).
"""

from __future__ import annotations

import copy
import csv
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tokenizers import Tokenizer

__all__ = [
    "DEFAULT_BUCKETS",
    "TASKS",
    "Batch",
    "EncodedDataset",
    "Example",
    "TaskSpec",
    "default_data_dir",
    "effective_buckets",
    "encode",
    "get_task",
    "iterate_batches",
    "load_tokenizer",
    "num_batches",
    "read_split",
    "sample_small",
    "split_path",
    "task_names",
]

Batch = dict[str, np.ndarray]
"""One batch: ``input_ids``, ``attention_mask``, ``token_type_ids`` (B, L) int32,
``labels`` (B,) int32 or float32, ``weights`` (B,) float32."""

DEFAULT_BUCKETS: tuple[int, ...] = (32, 64, 128, 256)


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
# Data folder
# --------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """Return the GLUE data folder.

    Order: ``$GLUE_DIR`` if set; else the first existing folder of
    ``./../shared/data/glue`` (relative to the current directory) and
    ``<repo>/../shared/data/glue`` (relative to the repository root, the parent of the
    ``sls_glue`` package folder).

    Raises:
        FileNotFoundError: ``$GLUE_DIR`` is set but is not a folder, or none of the
            candidate folders exists; the message names where it looked.
    """
    env = os.environ.get("GLUE_DIR")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"GLUE_DIR is set to {env!r}, which is not a folder")
        return path
    repo_root = Path(__file__).resolve().parent.parent
    candidates = [
        Path.cwd() / ".." / "shared" / "data" / "glue",
        repo_root / ".." / "shared" / "data" / "glue",
    ]
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    looked = ", ".join(str(c.resolve()) for c in candidates)
    raise FileNotFoundError(
        f"no GLUE data folder found; looked in: {looked}. "
        "Set the GLUE_DIR environment variable to the folder holding SST-2/, MRPC/, ..."
    )


def split_path(task: str | TaskSpec, split: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of the TSV file of ``task``/``split`` (it need not exist).

    Raises:
        ValueError: unknown task or split.
        FileNotFoundError: ``data_dir`` is None and no default folder is found.
    """
    spec = get_task(task)
    key = _resolve_split(spec, split)
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return root / spec.name / spec.files[key]


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One GLUE example.

    Attributes:
        text_a: first (or only) sentence, verbatim from the file.
        text_b: second sentence of a pair task, None for single-sentence tasks.
        label: class index (int, HF ``glue`` order) or STS-B score (float in [0, 5]).
    """

    text_a: str
    text_b: str | None
    label: int | float


def _parse_label(spec: TaskSpec, raw: str) -> int | float | None:
    """Label value of a raw TSV cell, or None if it is not valid for the task."""
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


def read_split(
    task: str | TaskSpec,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    source: Literal["files", "hub"] = "files",
) -> list[Example]:
    """Read one split of a GLUE task.

    Args:
        task: task name (case-insensitive, aliases accepted) or spec.
        split: ``"train"`` or ``"dev"`` (``"validation"`` is an alias); MNLI also
            ``"dev_matched"`` (= ``"dev"``) and ``"dev_mismatched"``.
        data_dir: GLUE folder; None -> :func:`default_data_dir` (files source only).
        source: ``"files"`` reads the GLUE TSV files; ``"hub"`` reads ``nyu-mll/glue``
            through the optional ``datasets`` package (needs network or its cache).

    Returns:
        The examples in file order. Text is kept verbatim (no stripping). Labels are
        ints in HF ``glue`` order, or floats for STS-B.

    Raises:
        ValueError: unknown task or split; a corrupt row (wrong column count, unknown
            label, empty text) or a header lacking a needed column -- the message
            names the file, the 1-based line number and the problem.
        FileNotFoundError: the data folder or the split file does not exist.
        ImportError: ``source="hub"`` and ``datasets`` is not installed.
    """
    spec = get_task(task)
    key = _resolve_split(spec, split)
    if source == "hub":
        return _read_hub(spec, key)
    if source != "files":
        raise ValueError(f"source must be 'files' or 'hub', got {source!r}")

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"GLUE data folder not found: {root}")
    path = root / spec.name / spec.files[key]
    if not path.is_file():
        raise FileNotFoundError(
            f"{spec.name} {key} file not found: {path} (it is absent from this data folder, {root})"
        )
    return _read_tsv(spec, path)


def _read_tsv(spec: TaskSpec, path: Path) -> list[Example]:
    examples: list[Example] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
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
            line = reader.line_num
            if len(row) != ncols:
                raise ValueError(
                    f"{path}: line {line}: expected {ncols} tab-separated columns, found {len(row)}"
                )
            texts = [row[i] for i in text_idx]
            for col, text in zip(spec.text_columns, texts):
                if not text.strip():
                    raise ValueError(f"{path}: line {line}: empty text in column {col!r}")
            label = _parse_label(spec, row[label_idx])
            if label is None:
                allowed = (
                    f"a number in {list(spec.label_range)}"
                    if spec.label_range is not None
                    else f"one of {list(spec.raw_labels)}"
                )
                raise ValueError(
                    f"{path}: line {line}: unknown label {row[label_idx]!r} "
                    f"in column {spec.label_column!r} (expected {allowed})"
                )
            examples.append(Example(texts[0], texts[1] if len(texts) > 1 else None, label))
    return examples


def _read_hub(spec: TaskSpec, split: str) -> list[Example]:  # pragma: no cover - network
    """Read a split of ``nyu-mll/glue`` through ``datasets`` (lazy import)."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(
            "source='hub' needs the 'datasets' package (pip install datasets); "
            "or read the GLUE TSV files with source='files'"
        ) from exc
    if split not in spec.hub_splits:
        raise ValueError(f"split {split!r} of {spec.name} has no counterpart on the hub")
    ds = datasets.load_dataset("nyu-mll/glue", spec.hub_config, split=spec.hub_splits[split])
    cols = spec.hub_text_columns
    out: list[Example] = []
    for i, row in enumerate(ds):
        label = row["label"]
        if spec.is_regression:
            label = float(label)
        elif not 0 <= int(label) < spec.num_labels:
            raise ValueError(f"hub {spec.hub_config}/{split} row {i}: bad label {label!r}")
        else:
            label = int(label)
        out.append(Example(row[cols[0]], row[cols[1]] if len(cols) > 1 else None, label))
    return out


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


# --------------------------------------------------------------------------------------
# Tokenization
# --------------------------------------------------------------------------------------


def load_tokenizer(path_or_name: str | os.PathLike) -> Tokenizer:
    """Load a ``tokenizers.Tokenizer``.

    Args:
        path_or_name: a folder holding ``tokenizer.json``, a ``tokenizer.json`` file, or
            a hub model name (``"bert-base-uncased"``) fetched by
            ``Tokenizer.from_pretrained``. A ``Path`` (any ``os.PathLike``), an
            existing path, or a string that starts with ``/``, ``.`` or ``~`` is always
            taken as a local path and never sent to the hub.

    Raises:
        FileNotFoundError: a local path that does not exist, or a folder without
            ``tokenizer.json``.
        OSError: the hub download failed (for example offline); chained to the cause.
    """
    from tokenizers import Tokenizer

    path = Path(path_or_name).expanduser()
    text = str(path_or_name)
    if path.exists() or text.startswith(("/", ".", "~")) or isinstance(path_or_name, os.PathLike):
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        return Tokenizer.from_file(str(path))
    try:
        return Tokenizer.from_pretrained(text)
    except Exception as exc:
        raise OSError(
            f"could not load tokenizer {text!r}: it is not a local file or folder and "
            f"fetching it from the hub failed ({exc}). Pass a folder with tokenizer.json."
        ) from exc


@dataclass(frozen=True, eq=False)
class EncodedDataset:
    """Tokenized examples, padded to the longest example.

    Attributes:
        input_ids: (n, T) int32 token ids, ``pad_id`` after each row's length; T is the
            longest encoded length (<= ``max_length``).
        token_type_ids: (n, T) int32, 0 for [CLS] a [SEP], 1 for b [SEP], 0 in padding.
        lengths: (n,) int32 number of real tokens of each row (special tokens included).
        labels: (n,) int32 class indices, or float32 scores for regression.
        max_length: truncation length used by :func:`encode`.
        pad_id: id used for padding (the tokenizer's ``[PAD]``, else 0).
    """

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    max_length: int
    pad_id: int = 0

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def is_regression(self) -> bool:
        return bool(np.issubdtype(self.labels.dtype, np.floating))


def encode(
    examples: Sequence[Example], tokenizer: Tokenizer, max_length: int = 256
) -> EncodedDataset:
    """Tokenize examples as BERT inputs.

    Single sentences become ``[CLS] a [SEP]``, pairs ``[CLS] a [SEP] b [SEP]`` with
    token types 0 for the first part and 1 for ``b [SEP]`` -- as produced by the
    tokenizer's own post-processor. Sequences longer than ``max_length`` are truncated
    by the tokenizer (``enable_truncation(max_length)``, longest-first for pairs, special
    tokens counted). A copy of ``tokenizer`` is configured (truncation on, padding off);
    the caller's tokenizer is not modified. Uses ``encode_batch``.

    Returns:
        :class:`EncodedDataset`; labels are float32 if any label is a float (STS-B),
        else int32.

    Raises:
        ValueError: ``max_length < 4``, or a mix of single sentences and pairs.
    """
    if max_length < 4:
        raise ValueError(f"max_length must be >= 4, got {max_length}")
    n_pairs = sum(ex.text_b is not None for ex in examples)
    if 0 < n_pairs < len(examples):
        raise ValueError("examples mix single sentences and sentence pairs")

    tok = copy.deepcopy(tokenizer)
    tok.no_padding()
    tok.enable_truncation(max_length, strategy="longest_first")
    if n_pairs:
        inputs: list = [(ex.text_a, ex.text_b) for ex in examples]
    else:
        inputs = [ex.text_a for ex in examples]
    encodings = tok.encode_batch(inputs, add_special_tokens=True) if inputs else []

    pad = tok.token_to_id("[PAD]")
    pad_id = 0 if pad is None else int(pad)
    n = len(encodings)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int32, count=n)
    width = int(lengths.max()) if n else 0
    input_ids = np.full((n, width), pad_id, dtype=np.int32)
    token_type_ids = np.zeros((n, width), dtype=np.int32)
    for i, e in enumerate(encodings):
        input_ids[i, : lengths[i]] = e.ids
        token_type_ids[i, : lengths[i]] = e.type_ids

    is_float = any(isinstance(ex.label, float) for ex in examples)
    labels = np.asarray([ex.label for ex in examples], dtype=np.float32 if is_float else np.int32)
    return EncodedDataset(
        input_ids=input_ids,
        token_type_ids=token_type_ids,
        lengths=lengths,
        labels=labels,
        max_length=int(max_length),
        pad_id=pad_id,
    )


# --------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`iterate_batches` yields for ``n`` examples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)


def effective_buckets(buckets: Sequence[int], max_length: int) -> tuple[int, ...]:
    """Sequence lengths a batch may have: the buckets below ``max_length``, then
    ``max_length`` itself (buckets beyond ``max_length`` are dropped).

    Raises:
        ValueError: empty or non-positive buckets, or the largest bucket is smaller
            than ``max_length`` (some examples would fit in no bucket).
    """
    if not buckets or min(buckets) < 1:
        raise ValueError(f"buckets must be positive lengths, got {tuple(buckets)}")
    if max(buckets) < max_length:
        raise ValueError(
            f"largest bucket {max(buckets)} is smaller than max_length {max_length}; "
            "add a bucket >= max_length"
        )
    return tuple(sorted({int(b) for b in buckets if b < max_length} | {int(max_length)}))


def iterate_batches(
    encoded: EncodedDataset,
    batch_size: int,
    *,
    buckets: Sequence[int] = DEFAULT_BUCKETS,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Yield fixed-size, length-bucketed batches for one epoch.

    Order: a permutation from ``np.random.default_rng([seed, epoch])`` if ``shuffle``,
    else file order; consecutive ``batch_size`` chunks of it form the batches. Each
    batch is padded to ``L``, the smallest of :func:`effective_buckets` that holds its
    longest row, so a jitted step sees at most ``len(effective_buckets(...))`` shapes.
    The final partial batch is padded to ``batch_size`` rows (or dropped if
    ``drop_last``).

    Yields:
        dict with ``input_ids``, ``attention_mask``, ``token_type_ids``:
        (batch_size, L) int32; ``labels``: (batch_size,) int32 or float32;
        ``weights``: (batch_size,) float32, 1 for real rows and 0 for padding rows.
        Padding rows are all ``pad_id`` / 0 with an all-zero attention mask and label 0,
        so a model must mask with a finite large negative bias (not -inf), and losses
        and metrics must use ``weights``.

    Raises:
        ValueError: ``batch_size < 1``, or bad buckets (see :func:`effective_buckets`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sizes = np.asarray(effective_buckets(buckets, encoded.max_length))
    n = len(encoded)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    for b in range(num_batches(n, batch_size, drop_last)):
        idx = order[b * batch_size : (b + 1) * batch_size]
        k = idx.shape[0]
        longest = int(encoded.lengths[idx].max())
        L = int(sizes[np.searchsorted(sizes, longest)])
        width = min(L, encoded.input_ids.shape[1])

        input_ids = np.full((batch_size, L), encoded.pad_id, dtype=np.int32)
        token_type_ids = np.zeros((batch_size, L), dtype=np.int32)
        input_ids[:k, :width] = encoded.input_ids[idx, :width]
        token_type_ids[:k, :width] = encoded.token_type_ids[idx, :width]
        attention_mask = np.zeros((batch_size, L), dtype=np.int32)
        attention_mask[:k] = np.arange(L)[None, :] < encoded.lengths[idx][:, None]
        labels = np.zeros((batch_size,), dtype=encoded.labels.dtype)
        labels[:k] = encoded.labels[idx]
        weights = np.zeros((batch_size,), dtype=np.float32)
        weights[:k] = 1.0
        yield {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "labels": labels,
            "weights": weights,
        }
