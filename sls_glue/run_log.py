"""What a run leaves on disk, written so that it never claims more than happened.

A run folder ``<out>/<task>/<optimizer>/seed<k>/`` holds:

* ``steps.jsonl``: one JSON record per training step, appended and flushed as the run goes
  (:class:`StepLog`); a resumed run first cuts it back to its checkpoint's step;
* ``summary.json``: written once, atomically, when the run ends, with ``status``
  ``finished``, ``failed`` (e.g. no training step could be made) or ``diverged`` (the loss
  became non-finite and stayed so). Only ``finished`` runs are skipped by the next command and
  counted in tables; the others are rerun. A summary without ``status`` (written before it
  existed) is a finished run;
* ``checkpoints/`` while the run is unfinished (:mod:`sls_glue.checkpointing`);
* ``events/``: TensorBoard event files (:class:`EventWriter`);
* ``.lock``: held while a process writes the run (:class:`RunLock`), so a second process
  with the same command skips it instead of writing the same files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
from typing import Any

from sls_glue.config import TrainConfig, config_from_dict, flag_of, run_identity

log = logging.getLogger("sls_glue")

__all__ = [
    "DIVERGED",
    "FAILED",
    "FINISHED",
    "EventWriter",
    "RunLock",
    "StepLog",
    "check_fingerprints",
    "finished_run",
    "read_summary",
    "summary_status",
    "write_atomic",
]

FINISHED, FAILED, DIVERGED = "finished", "failed", "diverged"


def write_atomic(path: pathlib.Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_summary(path: pathlib.Path) -> dict[str, Any] | None:
    """The stored ``summary.json`` at ``path``, or None if there is none."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def summary_status(summary: dict[str, Any]) -> str:
    """``finished``, ``failed`` or ``diverged`` (older summaries have no status: finished)."""
    return summary.get("status", FINISHED)


def finished_run(config: TrainConfig, workdir: pathlib.Path, overwrite: bool):
    """The summary of a finished run in ``workdir`` with the same settings (to skip), or None.

    None when there is no summary, ``overwrite`` is set, or the stored run failed or diverged
    (it is run again). Settings missing from a stored summary read as their defaults.

    Raises:
      ValueError: a finished run with other settings is there; the message names the flags.
    """
    stored = read_summary(workdir / "summary.json")
    if stored is None or overwrite:
        return None
    status = summary_status(stored)
    if status != FINISHED:
        log.info("rerunning %s: it ended %s (%s)", workdir, status, stored.get("reason", ""))
        return None
    have = run_identity(config_from_dict(stored["config"]))
    want = run_identity(config)
    changed = [k for k in want if have[k] != want[k]]
    if changed:
        diff = "; ".join(f"{flag_of(k)} {have[k]!r} there, {want[k]!r} now" for k in changed)
        raise ValueError(
            f"{workdir / 'summary.json'} holds a finished run with other settings ({diff}); "
            "use another --out folder, or --overwrite to rerun it"
        )
    return stored


def check_fingerprints(
    stored: dict[str, Any], fingerprints: dict[str, str], workdir: pathlib.Path
) -> None:
    """Raises ValueError when the stored run was made on other data or another model."""
    for key, value in stored.get("fingerprints", {}).items():
        if fingerprints.get(key) != value:
            raise ValueError(
                f"{workdir / 'summary.json'} holds a finished run on other {key} (fingerprint "
                f"{value}, now {fingerprints.get(key)}); use another --out folder, or "
                "--overwrite to rerun it"
            )


class StepLog:
    """``steps.jsonl``, appended one flushed line per step.

    Args:
      path: the file.
      start_step: steps already done (a resumed run); the file is cut back to its first
        ``start_step`` lines, which must exist. 0 starts a new file.
      enabled: False in processes other than the writer: records are kept (and read back
        when resuming), nothing is written.

    Raises:
      ValueError: the file has fewer than ``start_step`` complete lines.
    """

    def __init__(self, path: pathlib.Path, start_step: int = 0, *, enabled: bool = True):
        self.path = path
        self._file = None
        self.records: list[dict[str, Any]] = []
        if start_step:
            lines = path.read_text().split("\n") if path.exists() else [""]
            complete = lines[:-1][:start_step]  # lines ended by a newline
            if len(complete) < start_step:
                raise ValueError(
                    f"{path} has {len(complete)} complete records, the checkpoint is at step "
                    f"{start_step}; rerun with --overwrite"
                )
            self.records = [json.loads(line) for line in complete]
            if enabled:
                with open(path, "w") as f:
                    f.write("".join(line + "\n" for line in complete))
        if enabled:
            self._file = open(path, "a" if start_step else "w")

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def sync(self) -> None:
        """Forces the lines written so far to disk (before a checkpoint refers to them)."""
        if self._file is not None:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RunLock:
    """An exclusive lock on a run folder (``<run>/.lock``), through :mod:`filelock`.

    :meth:`acquire` returns False at once when another process holds it.
    """

    def __init__(self, workdir: pathlib.Path, *, enabled: bool = True):
        self.path = workdir / ".lock"
        self._lock = None
        if enabled:
            import filelock

            self._lock = filelock.FileLock(str(self.path))

    def acquire(self) -> bool:
        if self._lock is None:
            return True
        import filelock

        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        return True

    def release(self) -> None:
        if self._lock is not None and self._lock.is_locked:
            self._lock.release()


class EventWriter:
    """TensorBoard event files through ``tensorboardX`` (``tensorboard --logdir <out>``).

    Args:
      logdir: the folder (``<run>/events``).
      purge_step: a resumed run's first step; TensorBoard drops events at or after it from
        the interrupted attempt.
      enabled: False writes nothing (other processes, or ``--no-tensorboard``).
    """

    def __init__(self, logdir: pathlib.Path, purge_step: int = 0, *, enabled: bool = True):
        self._writer = None
        if enabled:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(logdir), purge_step=purge_step or None)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        for tag, value in values.items():
            if value is not None and math.isfinite(float(value)):
                self._writer.add_scalar(tag, float(value), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
