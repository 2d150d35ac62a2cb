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
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
            ),
        )
        return step, restored["state"], dict(restored["meta"])

    def close(self) -> None:
        self._manager.close()
