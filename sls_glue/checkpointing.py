"""Mid-run checkpoints for exact resume, with :class:`orbax.checkpoint.CheckpointManager`.

A checkpoint of step ``s`` (``s`` training steps done) holds two items:

* ``state``: the params and the whole optimizer state (moments, step sizes, search counters,
  PLASLS groups and cycle position), arrays saved as they are (bitwise);
* ``meta``: JSON with the step, the dev evaluations made so far, the value_fn evaluation total
  and the training time. The position in the data order and the dropout keys follow from the
  step (the order of epoch ``e`` is a permutation seeded with ``(seed, e)``, the dropout key of
  step ``s`` is ``fold_in(key(seed), s)``), so nothing else is needed to continue exactly.

Orbax writes each checkpoint into a temporary folder and renames it when complete, so a
checkpoint interrupted by SIGKILL is never read back; the last ``keep`` are kept.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax

__all__ = ["Checkpoints", "restore_params", "save_params"]


def _path_key(path: tuple[Any, ...]) -> str:
    """``a.b.0`` for a jax key path: attribute, dict key or sequence index, joined by dots."""
    names = (getattr(k, "name", getattr(k, "key", getattr(k, "idx", k))) for k in path)
    return ".".join(str(name) for name in names)


def _children(node: Any) -> list[tuple[str, Any]] | None:
    if isinstance(node, dict):
        return [(str(k), v) for k, v in node.items()]
    if isinstance(node, (list, tuple)) and not hasattr(node, "_fields"):
        return [(str(i), v) for i, v in enumerate(node)]
    return None


def _leaves_by_path(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{path: leaf}`` of a nested dict/list tree as orbax stores it (empty nodes have none)."""
    children = _children(tree)
    if children is None:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for name, child in children:
        out.update(_leaves_by_path(child, f"{prefix}.{name}" if prefix else name))
    return out


def _replace_leaves(tree: Any, leaf_for: Any, prefix: str = "") -> Any:
    children = _children(tree)
    if children is None:
        return leaf_for(prefix)
    new = {
        name: _replace_leaves(child, leaf_for, f"{prefix}.{name}" if prefix else name)
        for name, child in children
    }
    return new if isinstance(tree, dict) else [new[str(i)] for i in range(len(tree))]


def save_params(path: str | pathlib.Path, params: Any) -> None:
    """Saves a params pytree into folder ``path`` (orbax ``StandardCheckpointer``)."""
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(pathlib.Path(path).absolute(), params, force=True)


def restore_params(path: str | pathlib.Path, like: Any = None) -> Any:
    """The params saved by :func:`save_params` (as numpy arrays if ``like`` is None)."""
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as checkpointer:
        path = pathlib.Path(path).absolute()
        if like is None:
            return checkpointer.restore(path)
        return checkpointer.restore(path, jax.tree.map(ocp.utils.to_shape_dtype_struct, like))


class Checkpoints:
    """The checkpoints of one run, in ``directory`` (``<run>/checkpoints``).

    Args:
      directory: the folder (created on the first save).
      keep: how many of the latest checkpoints to keep.
      every: save every this many steps (0: only when :meth:`save` is forced).
    """

    def __init__(self, directory: str | pathlib.Path, *, keep: int = 2, every: int = 0):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = pathlib.Path(directory).absolute()
        self.every = int(every)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=int(keep), enable_async_checkpointing=False, create=True
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta")
        )

    def latest_step(self) -> int | None:
        """The step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def due(self, step: int) -> bool:
        """Whether ``every`` steps or more were made since the newest checkpoint (or start)."""
        return self.every > 0 and step - (self._manager.latest_step() or 0) >= self.every

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Saves ``state`` (a pytree of arrays) and ``meta`` (JSON) as the checkpoint of ``step``.

        Every process of a multi-process run calls it (orbax coordinates the writes).
        """
        ocp = self._ocp
        if self._manager.latest_step() == step:
            return
        jax.block_until_ready(state)
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(self, like: Any) -> tuple[int, Any, dict[str, Any]] | None:
        """``(step, state, meta)`` of the newest checkpoint, or None if there is none.

        ``like`` is a state of the same structure (e.g. the freshly initialised one); the
        restored arrays take its shapes, dtypes and shardings.
        """
        ocp = self._ocp
        step = self._manager.latest_step()
        if step is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        try:
            restored = self._restore_step(step, abstract)
        except ValueError as error:
            if "tree structures do not match" not in str(error):
                raise
            # Written by a version whose state had other empty fields (``()`` placeholders of
            # options that are off): match the arrays by their paths instead.
            return step, self._restore_by_path(step, like), dict(self._restore_step(step)["meta"])
        return step, restored["state"], dict(restored["meta"])

    def _restore_step(self, step: int, abstract: Any = None) -> Any:
        ocp = self._ocp
        items = {"meta": ocp.args.JsonRestore()}
        if abstract is not None:
            items["state"] = ocp.args.StandardRestore(abstract)
        return self._manager.restore(step, args=ocp.args.Composite(**items))

    def _restore_by_path(self, step: int, like: Any) -> Any:
        """The state of ``step`` with ``like``'s structure, each array found by its path.

        Raises:
          ValueError: an array of ``like`` is not in the checkpoint, the checkpoint holds one
            ``like`` has not, or shapes or dtypes differ (named by path).
        """
        ocp = self._ocp
        with ocp.StandardCheckpointer() as checkpointer:
            on_disk = checkpointer.metadata(self.directory / str(step) / "state").item_metadata
        stored = _leaves_by_path(on_disk.tree)
        pairs, treedef = jax.tree_util.tree_flatten_with_path(like)
        wanted = {_path_key(path): leaf for path, leaf in pairs}
        problems = [f"{k}: not in the checkpoint" for k in wanted if k not in stored]
        problems += [f"{k}: in the checkpoint only" for k in stored if k not in wanted]
        problems += [
            f"{k}: shape/dtype {tuple(stored[k].shape)}/{stored[k].dtype} in the checkpoint, "
            f"{tuple(leaf.shape)}/{leaf.dtype} here"
            for k, leaf in wanted.items()
            if k in stored
            and (tuple(stored[k].shape) != tuple(leaf.shape) or stored[k].dtype != leaf.dtype)
        ]
        if problems:
            raise ValueError(
                f"the checkpoint of step {step} in {self.directory} does not fit this run's "
                "state: " + "; ".join(problems[:5])
            )
        abstract = _replace_leaves(
            on_disk.tree, lambda k: ocp.utils.to_shape_dtype_struct(wanted[k])
        )
        state = self._restore_step(step, abstract)["state"]
        found = _leaves_by_path(state)
        return jax.tree_util.tree_unflatten(treedef, [found[_path_key(p)] for p, _ in pairs])

    def close(self) -> None:
        self._manager.close()
