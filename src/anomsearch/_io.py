"""Atomic file output: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from anomsearch.exceptions import DataFormatError

__all__ = [
    "atomic_path",
    "finite_or_none",
    "jsonable",
    "make_shareable_dir",
    "write_json_atomic",
    "write_text_atomic",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Args:
        path: final destination. Its parent directory is created if needed.

    Yields:
        A temporary file path in the same directory (same filesystem, so the rename is atomic).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results are meant to be shared
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_shareable_dir(path: str | os.PathLike[str]) -> None:
    """Give a directory made by :func:`tempfile.mkdtemp` (mode 0700) the usual permissions."""
    os.chmod(path, 0o777 & ~_umask())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    return write_text_atomic(
        path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    )


def finite_or_none(value: float) -> float | None:
    """``value`` as a float, or None (JSON ``null``) when it is NaN or infinite: the JSON files
    are written with ``allow_nan=False``.

    Examples:
        >>> finite_or_none(1), finite_or_none(float("-inf"))
        (1.0, None)
    """
    return float(value) if math.isfinite(value) else None


def jsonable(value: Any, *, what: str = "JSON output") -> Any:
    """``value`` as finite floats, ints, strings, bools, None, lists and dicts only (NaN / inf
    become None, arrays and NumPy scalars plain Python), for files written with
    ``allow_nan=False``.

    Raises:
        DataFormatError: a value of another type (the message starts with ``what``).

    Examples:
        >>> jsonable({"a": (1.5, float("nan")), "b": [True, None]})
        {'a': [1.5, None], 'b': [True, None]}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, what=what) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, what=what) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist(), what=what)
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise DataFormatError(f"{what}: cannot write a {type(value).__name__} as JSON")
