"""Parameter groups of a BERT classifier for PLASLS (Kenneweg et al. 2023, Section III-C).

The paper splits bert-base (12 encoder layers) into 10 groups: group 0 = embeddings, groups 1..8 =
encoder layers {0,1}, {2}, {3,4}, {5}, {6,7}, {8}, {9,10}, {11}, group 9 = the task head. Its
ablation also tried 1, 4 and 7 groups and a split by query/key/value. :func:`bert_layer_groups`
builds that kind of split for any number of encoder layers and groups; the label functions take
the parameter tree of :class:`sls_glue.model.BertForSequenceClassification` (paths documented in
``sls_glue/model.py``) and return integer labels usable as ``sls_jax.pla_sls(param_labels=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from sls_jax._labels import path_to_str

__all__ = ["bert_layer_groups", "bert_param_labels", "qkv_param_labels"]


def bert_layer_groups(num_layers: int, num_groups: int) -> list[list[int]]:
    """Encoder layers of each encoder group, for ``num_groups`` groups in all.

    ``num_groups = 1``: everything in one group (returned as one group holding all layers).
    ``num_groups = 2``: embeddings and encoder together, the head alone.
    ``num_groups >= 3``: embeddings, ``num_groups - 2`` contiguous encoder chunks, the head.
    Layers are spread as evenly as possible; the larger chunks alternate with the smaller ones,
    which reproduces the paper's split for 12 layers and 10 groups:
    ``[[0, 1], [2], [3, 4], [5], [6, 7], [8], [9, 10], [11]]``.

    Raises:
      ValueError: ``num_groups < 1`` or more encoder groups than layers.
    """
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}")
    if num_groups <= 2:
        return [list(range(num_layers))]
    chunks = num_groups - 2
    if chunks > num_layers:
        raise ValueError(
            f"{num_groups} groups need {chunks} encoder groups but the model has only "
            f"{num_layers} encoder layers (at most {num_layers + 2} groups)."
        )
    base, extra = divmod(num_layers, chunks)
    sizes = [base + (1 if (i * extra) % chunks < extra else 0) for i in range(chunks)]
    groups, start = [], 0
    for size in sizes:
        groups.append(list(range(start, start + size)))
        start += size
    return groups


def _layer_index(path: str) -> int | None:
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "encoder" and parts[1] == "layers":
        return int(parts[2])
    return None


def bert_param_labels(num_layers: int, num_groups: int = 10) -> Callable[[Any], Any]:
    """Label function for the paper's layer-wise split (see :func:`bert_layer_groups`).

    Labels are ints ``0 .. num_groups - 1``: 0 = embeddings, then the encoder chunks, last =
    classifier head (and pooler, when present). With ``num_groups = 1`` every leaf has label 0;
    with 2, the head has label 1.

    Returns:
      ``params -> label tree`` for ``sls_jax.pla_sls``.
    """
    chunks = bert_layer_groups(num_layers, num_groups)
    head = num_groups - 1
    layer_label = {}
    if num_groups >= 3:
        for g, layers in enumerate(chunks, start=1):
            for layer in layers:
                layer_label[layer] = g

    def label(path: tuple[Any, ...], _: Any) -> int:
        name = path_to_str(path)
        if num_groups == 1:
            return 0
        if name.startswith(("classifier", "pooler")):
            return head
        if num_groups == 2:
            return 0
        layer = _layer_index(name)
        if layer is not None:
            if layer not in layer_label:
                raise ValueError(
                    f"parameter '{name}' is in encoder layer {layer}, beyond {num_layers}"
                )
            return layer_label[layer]
        return 0  # embeddings

    return lambda params: jax.tree_util.tree_map_with_path(label, params)


def qkv_param_labels(params: Any) -> Any:
    """The paper's query/key/value ablation split.

    Labels: ``"query"``, ``"key"``, ``"value"`` (attention projections) and ``"other"``.
    """

    def label(path: tuple[Any, ...], _: Any) -> str:
        parts = path_to_str(path).split("/")
        for kind in ("query", "key", "value"):
            if kind in parts:
                return kind
        return "other"

    return jax.tree_util.tree_map_with_path(label, params)
