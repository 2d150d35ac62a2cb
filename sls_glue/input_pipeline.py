"""The input pipeline: tokenizer, encoding, length buckets and fixed-size batches.

Records come from :mod:`sls_glue.tasks`; this module turns them into padded int32 arrays::

    tokenizer = load_tokenizer(checkpoint_folder)   # tokenizer.json, or vocab.txt + config
    encoded = encode(examples, tokenizer, max_length=128)
    for batch in iterate_batches(encoded, 32, shuffle=True, seed=0, epoch=0):
        ...  # batch["input_ids"]: (32, L) int32, L in the buckets
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sls_glue.files import read_json, read_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tokenizers import Tokenizer

    from sls_glue.tasks import Example

__all__ = [
    "DEFAULT_BUCKETS",
    "Batch",
    "EncodedDataset",
    "effective_buckets",
    "encode",
    "iterate_batches",
    "load_tokenizer",
    "num_batches",
]

Batch = dict[str, np.ndarray]
"""One batch: ``input_ids``, ``attention_mask``, ``token_type_ids`` (B, L) int32,
``labels`` (B,) int32 or float32, ``weights`` (B,) float32."""

DEFAULT_BUCKETS: tuple[int, ...] = (32, 64, 128, 256)


# --------------------------------------------------------------------------------------
# Tokenization
# --------------------------------------------------------------------------------------


def load_tokenizer(path_or_name: str | os.PathLike) -> Tokenizer:
    """Load a ``tokenizers.Tokenizer``.

    Args:
        path_or_name: a folder holding ``tokenizer.json``; a folder holding only
            ``vocab.txt`` (+ ``tokenizer_config.json``), as older BERT checkpoints ship,
            loaded through ``transformers.AutoTokenizer`` (no torch needed) and converted
            to its fast tokenizer; a ``tokenizer.json`` file; or a hub model name
            (``"bert-base-uncased"``) fetched by ``Tokenizer.from_pretrained``. A ``Path``
            (any ``os.PathLike``), an existing path, or a string that starts with ``/``,
            ``.`` or ``~`` is always taken as a local path and never sent to the hub.

    Raises:
        FileNotFoundError: a local path that does not exist, or a folder with neither
            ``tokenizer.json`` nor ``vocab.txt``.
        ValueError: a tokenizer file that is not UTF-8, not valid JSON, or not a tokenizer
            (the message names the file).
        ImportError: a vocab-only folder and ``transformers`` is not installed.
        OSError: the hub download failed (for example offline); chained to the cause.
    """
    from tokenizers import Tokenizer

    path = Path(path_or_name).expanduser()
    text = str(path_or_name)
    if path.exists() or text.startswith(("/", ".", "~")) or isinstance(path_or_name, os.PathLike):
        if path.is_dir():
            if not (path / "tokenizer.json").is_file() and (path / "vocab.txt").is_file():
                return _tokenizer_from_vocab(path)
            path = path / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"tokenizer file not found: {path} (a checkpoint folder needs tokenizer.json, "
                "or vocab.txt and tokenizer_config.json)"
            )
        read_json(path)  # names the file and line of a JSON error; tokenizers does not
        try:
            return Tokenizer.from_file(str(path))
        except Exception as exc:
            raise ValueError(f"{path}: not a tokenizers tokenizer.json ({exc})") from None
    try:
        return Tokenizer.from_pretrained(text)
    except Exception as exc:
        raise OSError(
            f"could not load tokenizer {text!r}: it is not a local file or folder and "
            f"fetching it from the hub failed ({exc}). Pass a folder with tokenizer.json."
        ) from exc


def _tokenizer_from_vocab(folder: Path) -> Tokenizer:
    """The fast tokenizer ``transformers.AutoTokenizer`` builds from ``vocab.txt`` + config."""
    read_text(folder / "vocab.txt")  # a non-UTF-8 vocabulary: name the file and line
    for name in ("tokenizer_config.json", "special_tokens_map.json", "config.json"):
        if (folder / name).is_file():
            read_json(folder / name)
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")  # "PyTorch was not found"
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ImportError(
            f"{folder} has vocab.txt but no tokenizer.json; loading it needs the "
            "'transformers' package (pip install 'transformers>=5')"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ValueError(
            f"{folder}: transformers.AutoTokenizer could not build a tokenizer from vocab.txt "
            f"and tokenizer_config.json ({type(exc).__name__}: {exc})"
        ) from exc
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(
            f"{folder}: {type(tokenizer).__name__} has no fast (tokenizers) backend; "
            "add a tokenizer.json to the folder"
        )
    return copy.deepcopy(backend)


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
