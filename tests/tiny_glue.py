"""Tiny generated GLUE folders for harness tests (no GLUE download needed).

:func:`write_sst2` writes ``<root>/SST-2/train.tsv`` and ``dev.tsv`` in GLUE's own layout
(header ``sentence<TAB>label``): short sentences of common English words whose label is 1 when
a positive word occurs in them, so a model can learn them. Rows come from
``np.random.default_rng(seed)``, so every call with the same arguments writes the same bytes.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np

__all__ = [
    "TINY",
    "experiment_module",
    "run_experiment_script",
    "tiny_cli",
    "tiny_config",
    "write_sst2",
]

_POSITIVE = ["good", "great", "fine", "lovely", "warm", "funny"]
_NEGATIVE = ["bad", "dull", "poor", "boring", "cold", "weak"]
_FILLER = ["the", "film", "was", "a", "story", "and", "with", "very", "plot", "actors", "it"]

#: Settings of a tiny run: random 2-layer BERT, short sequences, one epoch.
TINY = dict(model="random:tiny", train_size=None, epochs=1, batch_size=8, max_length=32)


def _rows(rng: np.random.Generator, n: int) -> list[str]:
    rows = []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(_FILLER, size=int(rng.integers(3, 12))))
        words.insert(int(rng.integers(len(words) + 1)), rng.choice([_NEGATIVE, _POSITIVE][label]))
        rows.append(f"{' '.join(words)}\t{label}\n")
    return rows


def write_sst2(
    root: str | pathlib.Path, n_train: int = 32, n_dev: int = 16, seed: int = 0
) -> pathlib.Path:
    """Writes a tiny SST-2 folder under ``root``; returns ``root`` (the ``--data-dir``)."""
    root = pathlib.Path(root)
    folder = root / "SST-2"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "".join(_rows(rng, n_train)))
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "".join(_rows(rng, n_dev)))
    return root


def tiny_config(glue_dir: str | pathlib.Path, **settings: Any):
    """A :class:`sls_glue.config.TrainConfig` of a :data:`TINY` run on ``glue_dir``'s SST-2."""
    from sls_glue.config import TrainConfig

    return TrainConfig(
        **{"task": "sst2", "data_dir": str(glue_dir), "progress": False, **TINY, **settings}
    )


def tiny_cli(glue_dir: str | pathlib.Path, out: str | pathlib.Path, *extra: str) -> list[str]:
    """``sls-glue run`` arguments of a :data:`TINY` run into ``out``, then ``extra``."""
    args = ["--task", "sst2", "--train-size", "full", "--max-length", "32", "--batch-size", "8"]
    args += ["--epochs", "1", "--model", "random:tiny", "--data-dir", str(glue_dir)]
    return [*args, "--out", str(out), "--no-progress", "--compilation-cache", "", *extra]


EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"


def experiment_module(name: str) -> Any:
    """Imports ``experiments/<name>.py`` as a module, with ``experiments/`` on ``sys.path`` while
    it loads (the scripts import their siblings, e.g. ``variant_grid``, as when run as scripts).

    Raises ``FileNotFoundError`` when there is no such script."""
    path = EXPERIMENTS / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no experiment script {path}")
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXPERIMENTS))
    return module


def run_experiment_script(glue: str | pathlib.Path, *args: str) -> str:
    """Runs ``python *args`` (an experiment script and its flags) from the repository root on a
    tiny random BERT (64 examples of ``glue``, 1 epoch, seed 0); asserts exit 0, returns stdout."""
    tiny = ["--model", "random:tiny", "--train-size", "64", "--epochs", "1", "--seeds", "0"]
    tiny += ["--data-dir", str(glue), "--compilation-cache", ""]
    done = subprocess.run(
        [sys.executable, *args, *tiny],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
