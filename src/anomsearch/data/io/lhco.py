"""Read and write the LHC Olympics 2020 *features* format and black-box master keys.

The features files (``events_anomalydetection_v2.features.h5``,
``events_LHCO2020_BlackBox1.features.h5``) are pandas HDF5 stores written with
``DataFrame.to_hdf(path, key="df")`` in pandas' default *fixed* layout: one float64 block with the
columns :data:`FEATURE_COLUMNS` (GeV) and, in the R&D set only, a ``label`` column (1.0 signal,
0.0 background). Files written here load with plain ``pandas.read_hdf`` and the real files load
here. Files are read with h5py (:mod:`~anomsearch.data.io.hdf5_frame`), never through pandas'
reader: a data file comes from outside, and pandas unpickles object columns (a pickle can run
code), so a file with a non-numeric column is refused before any value is read. Physically
impossible jets (a negative mass or N-subjettiness) are refused too
(:func:`check_physical_jets`).

Files written here may carry extra per-jet columns computed from the constituents
(:mod:`anomsearch.data.features.sets`: tau_N^beta, EFPs), after the 14 standard columns and before
``label``: ``{field}j1`` for every field, then ``{field}j2`` (file jet order, as ``pxj1 ...``),
e.g. ``tau3_b05j1``. Readers that take the 14 standard columns by name (or the first 14) and the
label by name (or the last column) read such files unchanged; :func:`read_features_h5` puts the
extra columns into :attr:`EventTable.extra <anomsearch.data.events.EventTable>`.

The black-box *master key* is a text file with one integer label per line, in event order: ``0``
for background, ``1`` for signal (black box 3 labels its second signal process ``2``; every
label >= 1 counts as signal).

References:
    G. Kasieczka, B. Nachman, D. Shih et al., "The LHC Olympics 2020", arXiv:2101.08320.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from anomsearch._io import atomic_path, write_text_atomic
from anomsearch.data.events import DERIVED_FEATURES, JET_FIELDS, EventTable
from anomsearch.data.features.sets import file_column
from anomsearch.data.io.hdf5_frame import FrameLayout, frame_keys, inspect_frame, read_frame_columns
from anomsearch.exceptions import DataFormatError

__all__ = [
    "FEATURE_COLUMNS",
    "HDF_KEY",
    "check_physical_jets",
    "extra_columns",
    "read_features_h5",
    "read_master_key",
    "write_features_h5",
    "write_master_key",
]

log = logging.getLogger(__name__)

_FILE_FIELDS = ("px", "py", "pz", "m", "tau1", "tau2", "tau3")
#: The 14 jet columns of the LHCO features files, in file order.
FEATURE_COLUMNS: tuple[str, ...] = tuple(
    f"{field}j{jet}" for jet in (1, 2) for field in _FILE_FIELDS
)
#: The HDF5 key under which the LHCO files store their table.
HDF_KEY = "df"
_FIELD_NAME = re.compile(r"^[A-Za-z](?:\w*[A-Za-z0-9])?$")
assert _FILE_FIELDS == JET_FIELDS
#: How far below zero a jet mass may lie (GeV) and still be taken as a rounding error: the mass
#: of a one-particle (massless) jet is sqrt(E^2 - p^2) of two nearly equal numbers.
MASS_ROUNDING_GEV = 1e-3


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataFormatError(f"{what} file not found: {path}")
    if not path.is_file():
        raise DataFormatError(f"{what} path is not a file: {path}")


def extra_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The extra per-jet fields of a features table: every ``X`` with columns ``Xj1`` and ``Xj2``
    besides the 14 standard ones (in the order of the ``Xj1`` columns); ``X`` must be a name
    (letters, digits, ``_``, not ending in ``_``) that is not a standard jet field or feature.

    Examples:
        >>> extra_columns([*FEATURE_COLUMNS, "tau4_b05j1", "tau4_b05j2", "label"])
        ('tau4_b05',)
    """
    present = set(columns)
    out = []
    for col in columns:
        if col in FEATURE_COLUMNS or not col.endswith("j1"):
            continue
        field = col[:-2]
        if (
            _FIELD_NAME.match(field)
            and field not in JET_FIELDS
            and f"{field}_j1" not in DERIVED_FEATURES
            and file_column(field, 2) in present
        ):
            out.append(field)
    return tuple(out)


def _read_extra(
    layout: FrameLayout,
    fields: Sequence[str] | None,
    start: int | None,
    stop: int | None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``(n, 2, k)`` extra per-jet columns of a table and their fields."""
    names = [str(c) for c in layout.columns]
    found = extra_columns(names)
    wanted = found if fields is None else tuple(fields)
    missing = [file_column(f, j) for f in wanted for j in (1, 2) if file_column(f, j) not in names]
    if missing:
        raise DataFormatError(
            f"{layout.path}: missing extra column(s) {', '.join(missing)} (extra fields in the "
            f"file: {', '.join(found) or 'none'})"
        )
    cols = [file_column(f, j) for j in (1, 2) for f in wanted]
    values = read_frame_columns(layout, cols, start=start, stop=stop)
    _check_finite(values, cols, layout.path)
    return values.reshape(len(values), 2, len(wanted)), wanted


def check_physical_jets(jets: np.ndarray, *, source: str) -> None:
    """Refuse physically impossible jets: a negative jet mass (beyond
    :data:`MASS_ROUNDING_GEV` of rounding) or a negative N-subjettiness.

    Args:
        jets: ``(n_events, 2, 7)`` jets in file order (``px, py, pz, m, tau1, tau2, tau3``, GeV).
        source: the file or sample, for the message.

    Raises:
        DataFormatError: naming the file column (``mj1`` ...), the number of bad values and the
            first one.

    Examples:
        >>> jets = np.ones((3, 2, 7))
        >>> jets[1:, 0, 3] = -50.0
        >>> check_physical_jets(jets, source="bb.h5")
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.DataFormatError: bb.h5: column 'mj1' (jet mass) is negative in 2 event(s), first in row 1 (-50 GeV); jet masses and N-subjettiness values cannot be negative
    """  # noqa: E501
    jets = np.asarray(jets)
    limits = {3: -MASS_ROUNDING_GEV, 4: 0.0, 5: 0.0, 6: 0.0}
    for jet in (0, 1):
        for field, limit in limits.items():
            bad = np.flatnonzero(jets[:, jet, field] < limit)
            if bad.size:
                name = FEATURE_COLUMNS[jet * len(JET_FIELDS) + field]
                what = "jet mass" if field == 3 else "N-subjettiness"
                raise DataFormatError(
                    f"{source}: column {name!r} ({what}) is negative in {bad.size} event(s), "
                    f"first in row {bad[0]} ({jets[bad[0], jet, field]:g}"
                    f"{' GeV' if field == 3 else ''}); jet masses and N-subjettiness values "
                    "cannot be negative"
                )


def _features_layout(path: Path, key: str | None) -> FrameLayout:
    """The layout of the features table (the only key, or ``key``), read without any value."""
    keys = frame_keys(path)
    if key is None:
        if len(keys) != 1:
            raise DataFormatError(f"{path}: expected one table, found keys {keys}; pass key=...")
        key = keys[0]
    elif "/" + key.lstrip("/") not in keys:
        raise DataFormatError(f"{path}: no key {key!r} (keys: {keys})")
    return inspect_frame(path, key)


def _check_finite(values: np.ndarray, columns: Sequence[str], path: Path) -> None:
    bad_rows, bad_cols = np.nonzero(~np.isfinite(values))
    if bad_rows.size:
        raise DataFormatError(
            f"{path}: column {columns[bad_cols[0]]!r} has a non-finite value "
            f"(NaN/inf) in row {bad_rows[0]} ({bad_rows.size} bad value(s) in all)"
        )


def read_features_h5(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    start: int | None = None,
    stop: int | None = None,
    master_key: str | os.PathLike[str] | None = None,
    extra_fields: Sequence[str] | None = None,
) -> EventTable:
    """Read an LHC Olympics features file into an :class:`EventTable`.

    Args:
        path: the ``.h5`` features file.
        key: HDF5 key; default: the only key in the file (``"df"`` in the LHCO files).
        start: first row to read (only the rows asked for are read from disk).
        stop: one past the last row to read.
        master_key: optional black-box master-key file whose labels are attached to the events.
        extra_fields: the extra per-jet fields to read (columns ``{field}j1``, ``{field}j2``);
            None: every one in the file (:func:`extra_columns`); ``()``: none.

    Returns:
        The events; ``label`` is set from the ``label`` column or the master key when present,
        ``extra`` / ``extra_fields`` from the extra columns.

    Raises:
        DataFormatError: missing file, missing columns, non-numeric columns (refused before any
            value is read: they are stored as pickles), non-finite values, a negative jet mass or
            N-subjettiness, bad labels, or a master key whose length differs from the number of
            events. The message names the file and column.
    """
    path = Path(path)
    _require_file(path, "features")
    layout = _features_layout(path, key)
    missing = [c for c in FEATURE_COLUMNS if c not in layout.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    values = read_frame_columns(layout, FEATURE_COLUMNS, start=start, stop=stop)
    _check_finite(values, FEATURE_COLUMNS, path)
    check_physical_jets(values.reshape(-1, 2, len(JET_FIELDS)), source=str(path))
    extra, fields = _read_extra(layout, extra_fields, start, stop)
    label = None
    if "label" in layout.columns:
        label = read_frame_columns(layout, ["label"], start=start, stop=stop)[:, 0]
        if not np.all(np.isin(label, (0, 1))):
            raise DataFormatError(f"{path}: column 'label' must contain only 0 and 1")
    if master_key is not None:
        key_labels = read_master_key(master_key)
        if start is not None or stop is not None:
            key_labels = key_labels[start:stop]
        if key_labels.shape[0] != values.shape[0]:
            raise DataFormatError(
                f"{master_key}: {key_labels.shape[0]} labels for {values.shape[0]} events in {path}"
            )
        label = key_labels
    jets = values.reshape(-1, 2, len(JET_FIELDS))
    log.debug("read %d events, %d extra field(s) from %s", jets.shape[0], len(fields), path)
    return EventTable(jets, label, extra=extra, extra_fields=fields)


def write_features_h5(
    events: EventTable,
    path: str | os.PathLike[str],
    *,
    include_label: bool = True,
) -> Path:
    """Write events in the LHC Olympics features layout, atomically.

    The 14 standard columns, then the extra per-jet fields (``{field}j1`` for every field, then
    ``{field}j2``), then ``label``.

    Args:
        events: the events to write.
        path: destination ``.h5`` file (replaced if it exists).
        include_label: write the ``label`` column when the events carry labels (R&D layout); set
            False for a black-box file (write the labels with :func:`write_master_key`).

    Returns:
        The path written.
    """
    n = len(events)
    fields = events.extra_fields
    data = np.concatenate(
        [events.jets.reshape(n, -1), events.extra[:, 0, :], events.extra[:, 1, :]], axis=1
    )
    columns = [*FEATURE_COLUMNS, *(file_column(f, j) for j in (1, 2) for f in fields)]
    frame = pd.DataFrame(data, columns=columns)
    if include_label and events.label is not None:
        frame["label"] = events.label.astype(np.float64)
    with atomic_path(path) as tmp:
        frame.to_hdf(tmp, key=HDF_KEY, mode="w")
    log.info("wrote %d events (%d extra column(s)) to %s", n, 2 * len(fields), path)
    return Path(path)


def read_master_key(path: str | os.PathLike[str], *, binary: bool = True) -> np.ndarray:
    """Read a black-box master key: one integer label per line (blank lines ignored).

    ``0`` is background and ``k >= 1`` a signal process: black box 3 labels its second signal
    ``2``. With ``binary=True`` (default) every signal class becomes ``1``, as
    :class:`~anomsearch.data.events.EventTable` labels are 0/1.

    Args:
        path: the master-key file.
        binary: map every signal class to ``1``.

    Returns:
        int8 labels, one per event.

    Raises:
        DataFormatError: missing file or a line that is not a non-negative integer (the line
            number is named).
    """
    path = Path(path)
    _require_file(path, "master key")
    try:
        text_lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a text file of labels ({exc.reason})") from None
    labels: list[int] = []
    for lineno, raw in enumerate(text_lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            value = int(float(text))
        except ValueError:
            raise DataFormatError(
                f"{path}:{lineno}: expected a label 0 (background) or 1, 2, ... (signal), "
                f"got {text!r}"
            ) from None
        if value < 0 or value > 127 or float(text) != value:
            raise DataFormatError(
                f"{path}:{lineno}: expected a label 0 (background) or 1, 2, ... (signal), "
                f"got {text!r}"
            )
        labels.append(value)
    out = np.asarray(labels, dtype=np.int8)
    return np.minimum(out, 1) if binary else out


def write_master_key(labels: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a black-box master key (one 0/1 label per line), atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.all(np.isin(labels, (0, 1))):
        raise DataFormatError("master-key labels must be a 1-d array of 0 and 1")
    return write_text_atomic(path, "".join(f"{int(v)}\n" for v in labels))
