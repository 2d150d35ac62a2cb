"""The pooling a checkpoint was trained with, read from its sentence-transformers files.

A sentence-transformers checkpoint (such as all-MiniLM-L6-v2) lists its modules in
``modules.json``; its ``sentence_transformers.models.Pooling`` module keeps a ``config.json``
(usually ``1_Pooling/config.json``) with one ``pooling_mode_*`` flag set. Plain BERT checkpoints
(``bert-base-uncased``, the paper's model) have neither file and were pre-trained with the
[CLS] token feeding the next-sentence head, so they pool with [CLS].
"""

from __future__ import annotations

import json
import os
import pathlib

__all__ = ["checkpoint_pooling"]

#: sentence-transformers ``pooling_mode_*`` flags and the :data:`sls_glue.model.POOLING` value
#: that computes the same vector. Other modes (max, mean_sqrt_len, weightedmean, lasttoken) have
#: no counterpart in the model.
_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean"}


def _read_json(path: pathlib.Path) -> object:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def checkpoint_pooling(folder: str | os.PathLike) -> str:
    """The pooling of the checkpoint in ``folder``: ``"mean"`` or ``"cls"``.

    The Pooling module named in ``folder/modules.json`` decides (falling back to
    ``folder/1_Pooling/config.json`` when there is no ``modules.json``); a folder with neither
    is a plain BERT checkpoint and gets ``"cls"``.

    Raises:
      ValueError: a pooling config that is not valid JSON, that sets no mode or several, or whose
        mode the model does not implement (the message names the file and the mode; pass the
        pooling explicitly, e.g. ``--pooling cls``, to use such a checkpoint).
    """
    folder = pathlib.Path(folder)
    config_path = folder / "1_Pooling" / "config.json"
    modules_path = folder / "modules.json"
    if modules_path.is_file():
        modules = _read_json(modules_path)
        paths = [
            m.get("path", "")
            for m in (modules if isinstance(modules, list) else [])
            if isinstance(m, dict) and str(m.get("type", "")).endswith("models.Pooling")
        ]
        if not paths:
            return "cls"
        config_path = folder / paths[0] / "config.json"
    if not config_path.is_file():
        return "cls"
    config = _read_json(config_path)
    modes = sorted(k for k, v in (config if isinstance(config, dict) else {}).items() if v is True)
    modes = [k for k in modes if k.startswith("pooling_mode_")]
    if len(modes) != 1 or modes[0] not in _MODES:
        raise ValueError(
            f"{config_path}: pooling modes {modes or 'none'} set; the model implements exactly "
            f"one of {sorted(_MODES)}; pass the pooling explicitly (--pooling cls or mean)"
        )
    return _MODES[modes[0]]
