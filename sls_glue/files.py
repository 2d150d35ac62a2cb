"""Reading text and JSON input files with errors that name the file and the line.

A data or checkpoint file with a byte that is not UTF-8, or a JSON file that does not parse,
raises :class:`ValueError` with the path, the 1-based line and what is wrong there, instead of a
bare ``UnicodeDecodeError`` or ``JSONDecodeError`` that names neither.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_json", "read_text"]


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of ``path``, a leading byte-order mark removed.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a byte sequence that is not UTF-8; the message names the file, the line,
            the byte and its offset.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"{path}: line {line}: byte {raw[exc.start]:#04x} at offset {exc.start} is not "
            f"UTF-8 ({exc.reason}); the file is corrupt or in another encoding"
        ) from None
    return text.removeprefix("\ufeff")


def read_json(path: str | os.PathLike) -> Any:
    """The parsed JSON content of ``path`` (UTF-8).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not UTF-8 (see :func:`read_text`) or not valid JSON; the message names the
            file, the line and column and the JSON error.
    """
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"
        ) from None
