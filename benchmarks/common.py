"""Shared helpers of the benchmark scripts (not part of the sls_jax API).

Heavy imports (jax, flax, sls_glue) happen inside functions, so a script can set the CPU
affinity and ``XLA_FLAGS`` from its command line before jax starts.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

#: Optimizers of the step-cost benchmark, in table order.
OPTIMIZER_NAMES = ("adam", "sgd_sls", "adam_sls", "pla_sls", "salsa", "optax_bt", "adam_sls_skip")
#: Optimizers of the GLUE small protocol (experiments/glue_small.sh).
PROTOCOL_OPTIMIZERS = ("adam", "sgd_sls", "adam_sls", "pla_sls", "salsa")


# --------------------------------------------------------------------------- process / machine


_AFFINITY = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def set_threads(threads: int | None) -> int:
    """Restricts this process to the first ``threads`` CPUs it was started with (all if None).

    Must run before jax starts its thread pools: XLA's CPU client sizes its pool from the
    affinity mask (torch: also call ``torch.set_num_threads``). Returns the number of CPUs.
    """
    if not _AFFINITY:
        return os.cpu_count() or 1
    cpus = _AFFINITY[:threads] if threads else _AFFINITY
    os.sched_setaffinity(0, cpus)
    return len(cpus)


def _read(path: str) -> str | None:
    try:
        return pathlib.Path(path).read_text()
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    m = re.search(r"model name\s*:\s*(.+)", text)
    return m.group(1).strip() if m else platform.processor() or "unknown"


def loadavg() -> list[float] | None:
    text = _read("/proc/loadavg")
    return [float(x) for x in text.split()[:3]] if text else None


def _busy_jiffies() -> int | None:
    text = _read("/proc/stat")
    if not text:
        return None
    fields = [int(x) for x in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def _pid_seconds(pid: int) -> float:
    """CPU seconds (user + system) of another live process, 0 if unreadable."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """Share of the machine's CPU time used by *other* processes between start() and stop().

    ``(busy jiffies of the whole machine - CPU time of this process, its waited children and
    the ``exclude`` processes (e.g. a worker it drives)) / (wall time * CPUs)``; 0 on an idle
    machine, 1 when other processes kept every core busy. Linux only (None elsewhere).
    """

    def __init__(self, exclude: Sequence[int] = ()) -> None:
        self.exclude = list(exclude)
        self.start()

    def start(self) -> None:
        self._t = time.perf_counter()
        self._busy = _busy_jiffies()
        self._own = self._own_seconds()

    def _own_seconds(self) -> float:
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return own + sum(_pid_seconds(p) for p in self.exclude)

    def stop(self) -> float | None:
        busy = _busy_jiffies()
        if busy is None or self._busy is None:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        wall = time.perf_counter() - self._t
        foreign = (busy - self._busy) / hz - (self._own_seconds() - self._own)
        return round(max(0.0, foreign / (wall * (os.cpu_count() or 1))), 3)


def machine_info() -> dict[str, Any]:
    """Host, load and software versions (jax/flax/optax if importable in this process)."""
    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_1_5_15": loadavg(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }
    mem = _read("/proc/meminfo")
    if mem:
        m = re.search(r"MemTotal:\s+(\d+)", mem)
        info["mem_total_gib"] = round(int(m.group(1)) / 2**20, 1) if m else None
    versions: dict[str, str] = {}
    for mod in ("jax", "jaxlib", "optax", "flax", "numpy", "sls_jax", "torch", "transformers"):
        if mod in sys.modules or mod in ("numpy",):
            try:
                versions[mod] = __import__(mod).__version__
            except Exception:  # noqa: BLE001 - best effort
                pass
    if "salsa" in sys.modules:
        import importlib.metadata

        versions["salsa-optimizer"] = importlib.metadata.version("salsa-optimizer")
    info["versions"] = versions
    if "jax" in sys.modules:
        import jax

        dev = jax.devices()[0]
        info["device"] = {
            "platform": dev.platform,
            "kind": dev.device_kind,
            "count": len(jax.devices()),
        }
    return info


# --------------------------------------------------------------------------- pausing a process


class Pauser:
    """SIGSTOPs other processes (e.g. a background protocol) while timing, and always resumes them.

    ``checkpoint()`` between measurement blocks resumes them for ``rest_s`` seconds once they
    have been paused for ``max_pause_s``, so no paused period exceeds it by more than one block.
    They are resumed on exit, on SIGTERM/SIGINT/SIGHUP and on exceptions.
    """

    def __init__(self, pids: Sequence[int], max_pause_s: float = 480.0, rest_s: float = 45.0):
        self.pids = [int(p) for p in pids]
        self.max_pause_s = max_pause_s
        self.rest_s = rest_s
        self.paused_since: float | None = None
        self.periods: list[float] = []
        if self.pids:
            atexit.register(self.resume)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                previous = signal.getsignal(sig)

                def handler(signum, frame, previous=previous):
                    self.resume()
                    if callable(previous):
                        previous(signum, frame)
                    else:
                        raise SystemExit(128 + signum)

                signal.signal(sig, handler)

    def _signal(self, sig: int) -> None:
        for pid in self.pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def pause(self) -> None:
        if self.pids and self.paused_since is None:
            self._signal(signal.SIGSTOP)
            self.paused_since = time.monotonic()

    def resume(self) -> None:
        if self.pids and self.paused_since is not None:
            self._signal(signal.SIGCONT)
            self.periods.append(round(time.monotonic() - self.paused_since, 1))
            self.paused_since = None

    def checkpoint(self) -> None:
        if (
            self.paused_since is not None
            and time.monotonic() - self.paused_since > self.max_pause_s
        ):
            self.resume()
            time.sleep(self.rest_s)
            self.pause()

    def __enter__(self) -> Pauser:
        self.pause()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.resume()


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int | None:
    text = _read("/proc/self/status")
    m = re.search(rf"{field}:\s+(\d+)", text or "")
    return int(m.group(1)) if m else None


def rss_mib() -> float | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else round(kib / 1024, 1)


def peak_rss_mib() -> float | None:
    """Peak RSS (VmHWM) since the process started or since :func:`reset_peak_rss`."""
    kib = _status_kib("VmHWM")
    return None if kib is None else round(kib / 1024, 1)


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux ``/proc/self/clear_refs``); False if unsupported."""
    try:
        pathlib.Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def tree_bytes(tree: Any) -> int:
    import jax
    import numpy as np

    return int(
        sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
    )


# --------------------------------------------------------------------------- statistics


def median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def summary(xs: Sequence[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    s = sorted(xs)
    q = lambda f: s[min(len(s) - 1, int(f * (len(s) - 1) + 0.5))]  # noqa: E731
    return {
        "n": len(s),
        "median": s[len(s) // 2] if len(s) % 2 else median(s),
        "p25": q(0.25),
        "p75": q(0.75),
        "min": s[0],
        "max": s[-1],
    }


def end_torch_run(pauser, torch_side, tmp: pathlib.Path, ok: bool) -> None:
    """Ends a run with a torch worker: resumes paused processes, stops the worker, and removes
    the work folder ``tmp`` after a success (kept after a failure: the exported batches and the
    worker's log)."""
    pauser.resume()
    if torch_side:
        torch_side.close()
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: Any) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(obj, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(x: Any) -> Any:
    try:
        import numpy as np

        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:
        pass
    return str(x)


def log(*args: Any) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- model and data


def load_model(
    layers: int | None = None, seed: int = 0, num_labels: int = 2, *, tiny: bool = False
):
    """The offline MiniLM-L6 classifier (``load_pretrained(None, 2)``), optionally truncated.

    Returns ``(graphdef, params, rest, checkpoint_folder, config)``. ``layers`` keeps the first
    encoder layers only (smoke runs). ``tiny``: a random ``BertConfig.tiny()`` classifier
    instead (CI smoke runs; no checkpoint, folder ``None``).
    """
    from flax import nnx

    from sls_glue.checkpoint import load_pretrained

    if tiny:
        from sls_glue.model import BertConfig, BertForSequenceClassification

        config = BertConfig.tiny()
        model = BertForSequenceClassification(config, num_labels, rngs=nnx.Rngs(seed))
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return graphdef, params, rest, None, config
    model, config, folder = load_pretrained(None, num_labels, seed=seed)
    if layers is not None and layers < len(model.encoder.layers):
        model.encoder.layers = nnx.List(list(model.encoder.layers)[:layers])
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return graphdef, params, rest, folder, config


def make_batches(
    checkpoint: pathlib.Path,
    length: int,
    batch_size: int = 32,
    count: int = 8,
    seed: int = 0,
    source: str = "auto",
) -> tuple[list[dict[str, Any]], str]:
    """``count`` numpy batches of ``batch_size`` rows padded to exactly ``length`` tokens.

    ``source``: ``"sst2"`` (the SST-2 small sample of ``seed``, shuffled as in epoch 0),
    ``"synthetic"`` (random token ids, full attention) or ``"auto"`` (SST-2 if the GLUE folder
    is found). The compute cost does not depend on the content; padding keys are masked.
    """
    import numpy as np

    from sls_glue import input_pipeline as glue_data
    from sls_glue import tasks

    if source in ("auto", "sst2"):
        try:
            examples = tasks.read_train_set("sst2", train_size=500, seed=seed)
        except (FileNotFoundError, ValueError):  # no GLUE folder, and seed != 0
            if source == "sst2":
                raise
        else:
            tokenizer = glue_data.load_tokenizer(checkpoint)
            encoded = glue_data.encode(examples, tokenizer, length)
            batches = []
            epoch = 0
            while len(batches) < count:
                for b in glue_data.iterate_batches(
                    encoded, batch_size, buckets=(length,), shuffle=True, seed=seed, epoch=epoch
                ):
                    batches.append(b)
                epoch += 1
            return batches[:count], "sst2"
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        ids = rng.integers(1000, 30000, size=(batch_size, length), dtype=np.int32)
        ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
        batches.append(
            {
                "input_ids": ids,
                "attention_mask": np.ones((batch_size, length), np.int32),
                "token_type_ids": np.zeros((batch_size, length), np.int32),
                "labels": rng.integers(0, 2, size=(batch_size,), dtype=np.int32),
                "weights": np.ones((batch_size,), np.float32),
            }
        )
    return batches, "synthetic"


def protocol_batches(seed: int = 0, task: str = "sst2", epochs: int = 5):
    """The batches of the GLUE small protocol in training order, and the dev batches.

    Same sample, encoding, buckets and order as ``sls_glue.train.train_and_evaluate`` with
    ``TrainConfig(task=task, seed=seed)``.
    """
    from sls_glue import input_pipeline as glue_data
    from sls_glue import tasks
    from sls_glue.checkpoint import resolve_checkpoint
    from sls_glue.train import TrainConfig

    cfg = TrainConfig(task=task, seed=seed)
    train = tasks.read_train_set(task, train_size=cfg.train_size, seed=seed)
    dev = tasks.read_split(task, "dev")
    tokenizer = glue_data.load_tokenizer(resolve_checkpoint(None))
    train_set = glue_data.encode(train, tokenizer, cfg.max_length)
    dev_set = glue_data.encode(dev, tokenizer, cfg.max_length)
    train_batches = [
        b
        for epoch in range(epochs)
        for b in glue_data.iterate_batches(
            train_set, cfg.batch_size, buckets=cfg.buckets, shuffle=True, seed=seed, epoch=epoch
        )
    ]
    dev_batches = list(
        glue_data.iterate_batches(
            dev_set, max(cfg.batch_size, 64), buckets=cfg.buckets, shuffle=False
        )
    )
    return train_batches, dev_batches


# --------------------------------------------------------------------------- optimizers


def _optax_bt(cfg, total_steps, params):
    """``optax.adam`` (learning rate 1: the direction) + optax's Armijo backtracking search.

    Settings mirror ``adam_sls()``: first trial 0.1 (``max_learning_rate``), c = 0.1
    (``slope_rtol``), backtracking 0.9, growth ``2 ** (1 / 500)``, at most 100 backtracks. One
    value_fn evaluation per step when the first trial is accepted (``store_grad=False``).
    """
    import optax

    reference_growth = 2.0 ** (1.0 / 500)  # sls_jax's default growth_factor

    return optax.chain(
        optax.adam(1.0),
        optax.scale_by_backtracking_linesearch(
            max_backtracking_steps=100,
            slope_rtol=0.1,
            decrease_factor=0.9,
            increase_factor=reference_growth,
            max_learning_rate=0.1,
        ),
    )


def _adam_sls_fb05(cfg, total_steps, params):
    import sls_jax

    return sls_jax.adam_sls(first_backtrack_factor=0.5, **cfg.optimizer_kwargs)


def register_extra_optimizers() -> None:
    """Adds ``optax_bt`` and ``adam_sls_fb05`` to ``sls_glue.train.OPTIMIZERS``."""
    from sls_glue.train import OPTIMIZERS, register_optimizer

    if "optax_bt" not in OPTIMIZERS:
        register_optimizer("optax_bt", _optax_bt)
    if "adam_sls_fb05" not in OPTIMIZERS:
        register_optimizer("adam_sls_fb05", _adam_sls_fb05)


def build_optimizer(name: str, params: Any, total_steps: int = 80):
    """The optimizer ``name`` exactly as the GLUE harness builds it (``make_optimizer``).

    ``adam``: the harness's Adam (2e-5, warm-up + cosine); ``pla_sls``: the harness's groups
    (min(10, layers + 2)); ``adam_sls_skip``: :func:`sls_jax.adam_sls_skip`; ``optax_bt`` and
    ``adam_sls_fb05``: see :func:`register_extra_optimizers`.
    """
    from sls_glue.train import TrainConfig, make_optimizer

    register_extra_optimizers()
    return make_optimizer(TrainConfig(optimizer=name, progress=False), total_steps, params)


def num_evaluations(state: Any) -> int:
    """value_fn evaluations of the last update (sls_jax info, or optax's linesearch info)."""
    import optax

    for key in ("num_evaluations", "num_linesearch_steps"):
        value = optax.tree.get(state, key)
        if value is not None:
            return int(value)
    return 0


def num_groups(state: Any) -> int:
    import optax

    value = optax.tree.get(state, "step_sizes")
    return 0 if value is None else int(value.shape[0])


class CompileMonitor:
    """Sums jax's compile-time events (``jax.monitoring``): tracing, lowering, XLA compile."""

    EVENTS = {
        "/jax/core/compile/jaxpr_trace_duration": "trace_s",
        "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
        "/jax/core/compile/backend_compile_duration": "compile_s",
    }

    def __init__(self) -> None:
        self.total = {v: 0.0 for v in self.EVENTS.values()}
        self.count = {v: 0 for v in self.EVENTS.values()}
        self._registered = False

    def register(self) -> None:
        if not self._registered:
            import jax

            jax.monitoring.register_event_duration_secs_listener(self._listen)
            self._registered = True

    def _listen(self, event: str, duration: float, **kwargs: Any) -> None:
        key = self.EVENTS.get(event)
        if key is not None:
            self.total[key] += duration
            self.count[key] += 1

    def snapshot(self) -> tuple[dict[str, float], dict[str, int]]:
        self.register()
        return dict(self.total), dict(self.count)

    def since(self, snap: tuple[dict[str, float], dict[str, int]]) -> dict[str, Any]:
        total, count = snap
        out: dict[str, Any] = {k: round(self.total[k] - total[k], 3) for k in self.total}
        out["backend_compiles"] = self.count["compile_s"] - count["compile_s"]
        return out


COMPILE_MONITOR = CompileMonitor()


class StepRunner:
    """One optimizer's jitted train step (``sls_glue.train.make_train_step``), state and timings.

    ``traces["train"]`` counts traces of the step function (one per input shape expected).
    """

    def __init__(self, name: str, params: Any, loss_fn: Callable[..., Any], total_steps: int = 80):
        import jax

        from sls_glue.train import make_train_step

        self.name = name
        self.optimizer = build_optimizer(name, params, total_steps)
        self.traces: dict[str, int] = {"train": 0}
        self.step = make_train_step(self.optimizer, loss_fn, self.traces)
        self.params = params
        self.state = self.optimizer.init(params)
        self.key = jax.random.key(0)

    def first_call(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The first step for this batch shape: wall time, jax's trace/lower/compile times."""
        before = COMPILE_MONITOR.snapshot()
        dt, evals, loss = self.run(batch)
        spent = COMPILE_MONITOR.since(before)
        return {"first_call_s": round(dt, 3), "evaluations": evals, "loss": loss, **spent}

    def run(self, batch: dict[str, Any]) -> tuple[float, int, float]:
        """One step; returns (seconds, value_fn evaluations, loss). Blocks until ready."""
        import jax

        t0 = time.perf_counter()
        params, state, loss = self.step(self.params, self.state, batch, self.key)
        jax.block_until_ready((params, state, loss))
        dt = time.perf_counter() - t0
        self.params, self.state = params, state
        return dt, num_evaluations(state), float(loss)


def device_batch(batch: dict[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    return {k: jnp.asarray(v) for k, v in batch.items()}
