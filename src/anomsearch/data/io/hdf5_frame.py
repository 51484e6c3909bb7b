"""Read pandas' *fixed*-layout HDF5 frames with h5py: numbers only, nothing is ever unpickled.

pandas reads HDF5 through PyTables, and both unpickle what a file tells them to: an object column
of a fixed-layout frame is a list of pickles, and PyTables unpickles string attributes that look
like pickles as soon as a node's attributes are opened. A pickle can run any code, and the LHC
Olympics black boxes -- like any data file -- come from outside. So the LHCO readers
(:mod:`~anomsearch.data.io.lhco`, :mod:`~anomsearch.data.io.lhco_raw`) read their files here,
with h5py, which never unpickles: only the column names (fixed-length strings or integers), the
shape and dtype of every block, and then the numeric blocks themselves are read.

The layout (``DataFrame.to_hdf(path, key=KEY)``, pandas' default *fixed* format, as the LHCO
files): a group ``/KEY`` with attribute ``pandas_type = "frame"`` holding ``axis0`` (the column
names), ``axis1`` (the index, ignored) and, per block of one dtype, ``block<i>_items`` (its column
names) and ``block<i>_values`` (rows x columns, ``transposed`` attribute set). A frame with a
non-numeric column (object, string, categorical: stored as pickles) is refused before any value
is read, with an error naming the columns, and so is pandas' *table* layout, whose metadata are
pickles.

Examples:
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.h5"
    >>> pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6]}).to_hdf(path, key="df")
    >>> layout = inspect_frame(path, "df")
    >>> layout.columns, layout.n_rows
    (('a', 'b'), 3)
    >>> read_frame_columns(layout, ["b", "a"], start=1).tolist()
    [[5.0, 2.0], [6.0, 3.0]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from anomsearch.exceptions import DataFormatError

__all__ = ["FrameBlock", "FrameLayout", "frame_keys", "inspect_frame", "read_frame_columns"]

#: dtype kinds of the numeric blocks that are read (bool, signed / unsigned integer, float).
NUMERIC_KINDS = "biuf"


class FrameBlock(NamedTuple):
    """One block of a fixed-layout frame: columns of one dtype.

    Attributes:
        dataset: the block's dataset name in the frame's group (``block<i>_values``).
        positions: the positions of its columns among the frame's columns.
        transposed: True when the dataset is stored rows x columns (pandas' way).
    """

    dataset: str
    positions: tuple[int, ...]
    transposed: bool


class FrameLayout(NamedTuple):
    """What a fixed-layout frame holds, read without reading any value.

    Attributes:
        path: the HDF5 file.
        key: the frame's key (group name, without the leading ``/``).
        columns: the column names (str or int), in frame order.
        n_rows: the number of rows.
        blocks: the numeric blocks.
    """

    path: Path
    key: str
    columns: tuple[Any, ...]
    n_rows: int
    blocks: tuple[FrameBlock, ...]


def _h5py() -> Any:
    import h5py

    return h5py


def _unreadable(path: Path, exc: BaseException) -> DataFormatError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataFormatError(f"{path}: not a readable pandas HDF5 file ({first})")


def _text(value: Any) -> str | None:
    """A string attribute as str (None for anything else: arrays, numbers, missing)."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return None


def frame_keys(path: str | os.PathLike[str]) -> list[str]:
    """The keys of the pandas objects in an HDF5 file (as ``HDFStore.keys()``: ``['/df']``).

    Raises:
        DataFormatError: the file is not a readable HDF5 file.
    """
    path = Path(path)
    h5py = _h5py()
    keys: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and "pandas_type" in obj.attrs:
            keys.append("/" + name)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise _unreadable(path, exc) from exc
    return sorted(k for k in keys if not any(k.startswith(p + "/") for p in keys if p != k))


def _labels(dataset: Any, path: Path, what: str) -> tuple[Any, ...]:
    """Column names stored as fixed-length strings or integers (never as pickled objects)."""
    dtype = dataset.dtype
    if dtype.kind == "S":
        return tuple(bytes(v).decode("utf-8") for v in dataset[()])
    if dtype.kind in "iu":
        return tuple(int(v) for v in dataset[()])
    if dtype.kind == "f":
        return tuple(float(v) for v in dataset[()])
    raise DataFormatError(
        f"{path}: the {what} are stored as Python objects (pickles), which anomsearch never "
        "reads: write the frame with string or integer column names"
    )


def _is_numeric(dataset: Any) -> bool:
    h5py = _h5py()
    dtype = dataset.dtype
    return (
        dtype.kind in NUMERIC_KINDS
        and h5py.check_vlen_dtype(dtype) is None
        and _text(dataset.attrs.get("CLASS")) != "VLARRAY"
    )


def _frame_group(f: Any, path: Path, key: str) -> Any:
    h5py = _h5py()
    group = f.get(key)
    if not isinstance(group, h5py.Group) or "pandas_type" not in group.attrs:
        raise DataFormatError(f"{path}: no key {key!r}")
    kind = _text(group.attrs["pandas_type"])
    if kind == "frame_table":
        raise DataFormatError(
            f"{path}: key {key!r} is in pandas' table layout, whose metadata pandas stores as "
            "pickles (a pickle can run code); anomsearch reads the fixed layout of the LHCO "
            "files: DataFrame.to_hdf(path, key=..., format='fixed')"
        )
    if kind != "frame":
        what = kind or "non-pandas object"
        raise DataFormatError(f"{path}: key {key!r} holds a {what}, not a table")
    if _text(group.attrs.get("axis0_variety", b"regular")) != "regular":
        raise DataFormatError(f"{path}: key {key!r} has multi-level column names")
    return group


def _blocks(group: Any, path: Path, columns: tuple[Any, ...]) -> tuple[list[FrameBlock], int]:
    position = {name: i for i, name in enumerate(columns)}
    blocks: list[FrameBlock] = []
    objects: list[str] = []
    n_rows = 0
    nblocks = int(np.asarray(group.attrs.get("nblocks", 0)))
    for i in range(nblocks):
        items = _labels(group[f"block{i}_items"], path, "column names")
        values = group[f"block{i}_values"]
        if not _is_numeric(values):
            objects.extend(str(c) for c in items)
            continue
        transposed = bool(np.asarray(values.attrs.get("transposed", False)))
        rows = values.shape[0] if transposed else values.shape[-1]
        if "shape" in values.attrs:  # pandas writes an empty block as a dummy and its shape
            rows = 0
        n_rows = max(n_rows, int(rows))
        try:
            positions = tuple(position[c] for c in items)
        except KeyError as exc:
            raise DataFormatError(f"{path}: block {i} names an unknown column {exc}") from None
        blocks.append(FrameBlock(f"block{i}_values", positions, transposed))
    if objects:
        shown = ", ".join(repr(c) for c in objects[:5]) + (" ..." if len(objects) > 5 else "")
        raise DataFormatError(
            f"{path}: column(s) {shown} hold Python objects (stored as pickles), not numbers; "
            "anomsearch reads only numeric columns and never unpickles a data file (a pickle can "
            "run code)"
        )
    return blocks, n_rows


def inspect_frame(path: str | os.PathLike[str], key: str) -> FrameLayout:
    """The columns, rows and numeric blocks of the fixed-layout frame ``key``, without reading
    any value.

    Args:
        path: the HDF5 file.
        key: the frame's key (``"df"`` or ``"/df"``).

    Returns:
        The :class:`FrameLayout`.

    Raises:
        DataFormatError: unreadable file, no such key, the table layout, a non-frame object,
            column names or columns stored as Python objects (the message names them).
    """
    path = Path(path)
    key = key.strip("/")
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            group = _frame_group(f, path, key)
            columns = _labels(group["axis0"], path, "column names")
            blocks, n_rows = _blocks(group, path, columns)
    except DataFormatError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise _unreadable(path, exc) from exc
    return FrameLayout(path, key, columns, n_rows, tuple(blocks))


def read_frame_columns(
    layout: FrameLayout,
    columns: Sequence[Any],
    *,
    start: int | None = None,
    stop: int | None = None,
) -> np.ndarray:
    """Rows ``start:stop`` of ``columns`` as a float64 array ``(rows, len(columns))``.

    Only the rows asked for are read from disk (a row slice of each block involved).

    Raises:
        DataFormatError: a column is not in the frame, or the file cannot be read.
    """
    where = {name: i for i, name in enumerate(layout.columns)}
    missing = [c for c in columns if c not in where]
    if missing:
        raise DataFormatError(f"{layout.path}: missing column(s) {', '.join(map(str, missing))}")
    lo, hi, _ = slice(start, stop).indices(layout.n_rows)
    out = np.empty((max(hi - lo, 0), len(columns)), dtype=np.float64)
    if out.size == 0:
        return out
    owner = {
        pos: (b, j) for b, blk in enumerate(layout.blocks) for j, pos in enumerate(blk.positions)
    }
    wanted: dict[int, list[tuple[int, int]]] = {}
    for k, name in enumerate(columns):
        b, j = owner[where[name]]
        wanted.setdefault(b, []).append((k, j))
    h5py = _h5py()
    try:
        with h5py.File(layout.path, "r") as f:
            group = f[layout.key]
            for b, pairs in wanted.items():
                block = layout.blocks[b]
                data = group[block.dataset]
                values = data[lo:hi] if block.transposed else np.asarray(data[:, lo:hi]).T
                targets, sources = zip(*pairs, strict=True)
                out[:, list(targets)] = np.asarray(values)[:, list(sources)]
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise _unreadable(layout.path, exc) from exc
    return out
