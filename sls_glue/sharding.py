"""Data parallelism over every device, on one host or many, with :mod:`jax.sharding`.

One :class:`jax.sharding.Mesh` with a single ``data`` axis over ``jax.devices()`` (all
devices of all processes). The global batch is sharded along its rows (``P("data")``);
params and optimizer state are replicated (``P()``), or, with ``shard_params`` (FSDP style,
ZeRO-3), each array is split along its largest axis that the device count divides
(:func:`fsdp_spec`) and XLA gathers the pieces where the step needs them. The jitted train step
computes the global mean loss and its gradient with XLA's collectives, so every line-search
trial evaluates the same global mean on every device and all devices take the same
accept/reject decision.

Multi-host: :func:`initialize_distributed` calls :func:`jax.distributed.initialize`; every
process builds the same global batch (same files, same seeded order) and hands its own rows to
:func:`jax.make_array_from_process_local_data`. Files are written by process 0 only
(:func:`is_writer`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "DataParallel",
    "broadcast_from_writer",
    "fsdp_spec",
    "initialize_distributed",
    "is_writer",
    "pad_rows",
    "sync_processes",
    "writer_decides",
]

log = logging.getLogger("sls_glue")


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins a multi-process run (:func:`jax.distributed.initialize`); call before any jax work.

    With no arguments the cluster is detected from the environment (Cloud TPU pods, SLURM,
    Open MPI, or ``JAX_COORDINATOR_ADDRESS``/``JAX_NUM_PROCESSES``/``JAX_PROCESS_ID``). On
    CPU the cross-process collectives go through gloo.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if coordinator_address is not None:
        kwargs["coordinator_address"] = coordinator_address
    if num_processes is not None:
        kwargs["num_processes"] = num_processes
    if process_id is not None:
        kwargs["process_id"] = process_id
    jax.distributed.initialize(**kwargs)
    log.info(
        "process %d of %d: %d local, %d global devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )


def is_writer() -> bool:
    """True in the process that writes files and logs (process 0)."""
    return jax.process_index() == 0


def broadcast_from_writer(value: Any) -> Any:
    """Process 0's ``value`` (a small numpy-compatible pytree) in every process."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return multihost_utils.broadcast_one_to_all(value)


def pad_rows(batch: Mapping[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """``batch`` padded with zero rows to ``rows`` rows (``weights`` 0 there, so no effect).

    A padding row has all-zero ids, attention mask, labels and weight, like the padding rows of
    the last partial batch of :func:`sls_glue.input_pipeline.iterate_batches`.
    """
    out = {}
    for key, value in batch.items():
        missing = rows - value.shape[0]
        if missing < 0:
            raise ValueError(f"batch has {value.shape[0]} rows, more than {rows}")
        pad = np.zeros((missing, *value.shape[1:]), value.dtype)
        out[key] = np.concatenate([value, pad]) if missing else value
    return out


def fsdp_spec(shape: tuple[int, ...], num_devices: int) -> PartitionSpec:
    """The FSDP partition of an array of ``shape`` over ``num_devices`` on the ``data`` axis.

    The largest axis that ``num_devices`` divides is split (the first of equal ones); arrays
    with no such axis (scalars, biases of odd width) and every array on one device stay
    replicated, ``P()``. Example: ``(30522, 384)`` on 8 devices gives ``P("data", None)``.
    """
    axes = [i for i, n in enumerate(shape) if n >= num_devices and n % num_devices == 0]
    if num_devices == 1 or not axes:
        return PartitionSpec()
    axis = max(axes, key=lambda i: (shape[i], -i))
    return PartitionSpec(*("data" if i == axis else None for i in range(len(shape))))


class DataParallel:
    """The ``data`` mesh over all devices and the shardings of the train and eval steps.

    Attributes:
      mesh: ``Mesh(jax.devices(), ("data",))``.
      replicated: ``NamedSharding(mesh, P())`` for keys and scalars, and for params and
        optimizer state unless ``shard_params``.
      batch: ``NamedSharding(mesh, P("data"))`` for every array of a batch (rows sharded).
      num_devices: devices in the mesh (all processes).
      shard_params: whether :meth:`shardings` splits params and optimizer state (FSDP).
    """

    def __init__(self, devices: Any = None, shard_params: bool = False):
        devices = np.asarray(jax.devices() if devices is None else devices)
        self.mesh = Mesh(devices, ("data",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch = NamedSharding(self.mesh, PartitionSpec("data"))
        self.num_devices = int(devices.size)
        self.shard_params = shard_params

    def padded_rows(self, rows: int) -> int:
        """``rows`` rounded up to a multiple of the device count."""
        return -(-rows // self.num_devices) * self.num_devices

    def shardings(self, tree: Any) -> Any:
        """A tree of :class:`NamedSharding` like ``tree`` (params or optimizer state).

        Every leaf replicated, or with ``shard_params`` split by :func:`fsdp_spec` (PRNG keys
        and scalars stay replicated).
        """

        def one(x: Any) -> NamedSharding:
            if not self.shard_params or jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return self.replicated
            return NamedSharding(self.mesh, fsdp_spec(tuple(x.shape), self.num_devices))

        return jax.tree.map(one, tree)

    def replicate(self, tree: Any) -> Any:
        """``tree`` with every leaf replicated on the mesh (the same value in every process)."""
        return self.place(tree, jax.tree.map(lambda _: self.replicated, tree))

    def place(self, tree: Any, shardings: Any) -> Any:
        """``tree`` (the same values in every process) on the mesh with ``shardings``."""
        if jax.process_count() == 1:
            return jax.device_put(tree, shardings)

        def one(x: Any, sharding: NamedSharding) -> jax.Array:
            if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
                return jax.random.wrap_key_data(
                    one(jax.random.key_data(x), sharding), impl=jax.random.key_impl(x)
                )
            value = np.asarray(x)  # (device_put's equality check fails on NaN entries)
            return jax.make_array_from_callback(value.shape, sharding, lambda i: value[i])

        return jax.tree.map(one, tree, shardings)

    def shard_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        """The global numpy ``batch`` as arrays sharded by rows over the mesh.

        Rows are first padded with zero-weight rows to a multiple of the device count. In a
        multi-process run each process passes the same global batch and contributes its own
        contiguous block of rows.
        """
        rows = next(iter(batch.values())).shape[0]
        batch = pad_rows(batch, self.padded_rows(rows))
        if jax.process_count() == 1:
            return {k: jax.device_put(v, self.batch) for k, v in batch.items()}
        out = {}
        for key, value in batch.items():
            # The rows this process's devices hold: one contiguous block along the data axis.
            index = self.batch.addressable_devices_indices_map(value.shape).values()
            start = min(i[0].start or 0 for i in index)
            stop = max(value.shape[0] if i[0].stop is None else i[0].stop for i in index)
            out[key] = jax.make_array_from_process_local_data(
                self.batch, value[start:stop], value.shape
            )
        return out


def writer_decides(fn: Callable[[], Any]) -> Any:
    """``fn()`` evaluated by process 0 only, its JSON-able result (or ValueError) everywhere."""
    if jax.process_count() == 1:
        return fn()
    text = ""
    if is_writer():
        try:
            text = json.dumps({"value": fn()})
        except ValueError as error:
            text = json.dumps({"error": str(error)})
    raw = text.encode()
    data = np.zeros(1 << 20, np.uint8)
    data[: len(raw)] = np.frombuffer(raw, np.uint8)
    data = np.asarray(broadcast_from_writer(data))
    out = json.loads(bytes(data[data > 0]).decode())
    if "error" in out:
        raise ValueError(out["error"])
    return out["value"]


def sync_processes(name: str) -> None:
    """A barrier across the processes of a multi-process run (nothing in a single process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
