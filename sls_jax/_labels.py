"""Parameter groups: which step size each leaf of a parameter tree uses.

PLASLS (Kenneweg et al. 2023, Section III-C) keeps one step size per *parameter group*. Groups are
given the way ``optax.multi_transform`` takes them: a pytree of labels with the structure of the
params (or a prefix of it), or a function of the params that returns such a tree. This module turns
either form into a static tuple of integer group ids, one per leaf, in ``jax.tree.leaves`` order.

Unlike ``jax.tree.map`` over two trees, labels are matched to parameters *by path*, so a plain
``dict`` of labels works for ``FrozenDict`` params (and the reverse), and a mismatch raises an
error naming the first parameter path without a label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import jax

__all__ = ["GroupSpec", "label_by_path", "resolve_groups"]

LabelTree = Any
ParamLabels = LabelTree | Callable[[Any], LabelTree] | None


class GroupSpec(NamedTuple):
    """Static description of the parameter groups of one parameter tree.

    Attributes:
      leaf_groups: group id (``0 .. num_groups - 1``) of every leaf, in ``jax.tree.leaves`` order.
      names: the label of each group id, e.g. ``("b", "w")``.
    """

    leaf_groups: tuple[int, ...]
    names: tuple[Hashable, ...]

    @property
    def num_groups(self) -> int:
        return len(self.names)


def path_to_str(path: tuple[Any, ...]) -> str:
    """'a/b/0/kernel' for a key path (DictKey, GetAttrKey, SequenceKey, FlattenedIndexKey).

    A trailing ``.value`` attribute (how a flax ``nnx.Variable`` holds its array) is left out,
    so ``nnx.State`` paths read like plain dict paths: ``encoder/layers/0/attention/query/kernel``.
    """
    if path and getattr(path[-1], "name", None) == "value":
        path = path[:-1]
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def _is_label(node: Any) -> bool:
    leaves = jax.tree.leaves(node)
    return len(leaves) == 1 and leaves[0] is node


def _child(node: Any, key: Any) -> Any:
    """The child of a label-tree node under one key of a parameter path; KeyError if absent."""
    if hasattr(key, "key"):  # DictKey: dict, FrozenDict, nnx.State, ...
        if isinstance(node, Mapping) or hasattr(node, "__getitem__"):
            try:
                return node[key.key]
            except (KeyError, IndexError, TypeError):
                pass
        raise KeyError(key.key)
    if hasattr(key, "idx"):  # SequenceKey
        try:
            return node[key.idx]
        except (IndexError, KeyError, TypeError):
            raise KeyError(key.idx) from None
    if hasattr(key, "name"):  # GetAttrKey (dataclasses, NamedTuples, flax nnx Variables)
        if key.name == "value" and hasattr(node, "get_value"):
            return node.get_value()
        try:
            return getattr(node, key.name)
        except AttributeError:
            raise KeyError(key.name) from None
    raise KeyError(str(key))


def _label_of(labels: LabelTree, path: tuple[Any, ...]) -> Hashable:
    node = labels
    for depth, key in enumerate(path):
        if _is_label(node):
            return node
        try:
            node = _child(node, key)
        except KeyError:
            where = path_to_str(path[: depth + 1])
            raise ValueError(
                f"param_labels has no entry for parameter '{path_to_str(path)}' "
                f"(nothing at '{where}'); every parameter leaf needs a label."
            ) from None
    if node is None or not _is_label(node):
        raise ValueError(
            f"param_labels gives no single label for parameter '{path_to_str(path)}' "
            f"(found {type(node).__name__}); every parameter leaf needs one label."
        )
    return node


def resolve_groups(
    param_labels: ParamLabels,
    params: Any,
    group_order: Sequence[Hashable] | None = None,
) -> GroupSpec:
    """Resolves labels for ``params`` into one integer group id per leaf.

    Args:
      param_labels: ``None`` (one group holding every leaf), a pytree of hashable labels matching
        ``params`` or a prefix of it (matched by path, so container types may differ), or a
        function ``params -> label tree``.
      params: the parameter pytree.
      group_order: optional sequence of all labels, fixing the group ids (and so the PLASLS cycle
        order). Labels listed here but used by no leaf are allowed and make empty groups.
        Without it, groups are the sorted distinct labels (first-appearance order if the labels
        cannot be sorted).

    Returns:
      A :class:`GroupSpec`.

    Raises:
      ValueError: a leaf has no label (the message names its path), a label is not in
        ``group_order``, or ``group_order`` repeats a label.
    """
    leaves_with_path = jax.tree_util.tree_flatten_with_path(params)[0]
    if not leaves_with_path:
        raise ValueError("params has no leaves; there is nothing to optimize.")
    if param_labels is None:
        return GroupSpec((0,) * len(leaves_with_path), ("all",))
    labels = param_labels(params) if callable(param_labels) else param_labels
    leaf_labels = [_label_of(labels, path) for path, _ in leaves_with_path]
    if group_order is None:
        distinct = list(dict.fromkeys(leaf_labels))
        try:
            names = tuple(sorted(distinct))
        except TypeError:
            names = tuple(distinct)
    else:
        names = tuple(group_order)
        if len(set(names)) != len(names):
            raise ValueError(f"group_order repeats a label: {names}")
        for (path, _), label in zip(leaves_with_path, leaf_labels):
            if label not in names:
                raise ValueError(
                    f"label {label!r} of parameter '{path_to_str(path)}' is not in "
                    f"group_order {names}."
                )
    index = {name: i for i, name in enumerate(names)}
    return GroupSpec(tuple(index[label] for label in leaf_labels), names)


def label_by_path(
    rules: Mapping[str, Hashable] | Sequence[tuple[str, Hashable]],
    *,
    default: Hashable | None = None,
) -> Callable[[Any], LabelTree]:
    """Builds a label function from regular expressions on parameter paths.

    A leaf's path is its keys joined by ``/``, e.g. ``encoder/layers/3/attention/query/kernel``.
    The first rule whose pattern matches (``re.search``) gives the label.

    Args:
      rules: ``{pattern: label}`` or a sequence of ``(pattern, label)`` pairs, tried in order.
      default: label of leaves no rule matches; ``None`` makes such a leaf an error.

    Returns:
      A function ``params -> label tree`` to pass as ``param_labels``.

    Raises:
      ValueError (when the returned function is called): a leaf matches no rule and there is no
        default; the message names the path.

    Example:
      >>> import jax.numpy as jnp
      >>> labels = label_by_path({r"/b$": "bias"}, default="weight")
      >>> labels({"layer": {"w": jnp.ones(2), "b": jnp.ones(2)}})
      {'layer': {'b': 'bias', 'w': 'weight'}}
    """
    items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    compiled = [(re.compile(pattern), label) for pattern, label in items]

    def label_of(path: tuple[Any, ...], _: Any) -> Hashable:
        name = path_to_str(path)
        for pattern, label in compiled:
            if pattern.search(name):
                return label
        if default is None:
            raise ValueError(f"no label rule matches parameter '{name}' and there is no default.")
        return default

    return lambda params: jax.tree_util.tree_map_with_path(label_of, params)
