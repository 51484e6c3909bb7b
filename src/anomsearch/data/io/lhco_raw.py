"""Read and write the LHC Olympics 2020 *raw-particle* format.

The raw files (R&D ``events_anomalydetection.h5``, black-box ``events_LHCO2020_BlackBox1.h5``) are
pandas HDF5 stores written with ``DataFrame.to_hdf(path, key="df", mode="w")`` (pandas' *fixed*
layout), one row per event. Each row holds :data:`MAX_PARTICLES` (700) particles as
``(pT, eta, phi)`` triplets (GeV), flattened as ``p0_pt, p0_eta, p0_phi, p1_pt, ...`` and zero
padded, i.e. 2100 float columns; the R&D file has a 2101st column, the truth label (1.0 signal,
0.0 background). Black-box files have 2100 columns and ship their labels in a separate master-key
file (:func:`anomsearch.data.io.lhco.read_master_key`). The column names are the integers
``0 .. 2100``: pandas stores an integer column index as int64 and reads it back as integers; files
written with string names ``"0" .. "2100"`` are accepted too (a last column named ``"label"`` is
also accepted).

Particles are the final-state hadrons, photons and leptons (pT > 0); a slot with ``pT == 0`` is
padding. Events are kept in file order (in the R&D file signal is interleaved with background).

Reading: :func:`iter_raw_h5` yields chunks of events, reading only the requested rows (a row slice
of the fixed-layout frame's HDF5 array, read with h5py by :mod:`~anomsearch.data.io.hdf5_frame`,
which never unpickles: a non-numeric column is refused before any value is read), so the multi-GB
real files never need to fit in memory. Every chunk is validated: a
:class:`~anomsearch.exceptions.DataFormatError` names the file and the problem (missing key, wrong
column count, non-numeric column, non-finite value, negative pT, label not 0/1).

Writing: :func:`write_raw_h5` writes the exact real layout (float64, integer column names),
atomically. Particles are packed to the front of each event in their given order; an event with
more than 700 particles is an error unless ``truncate=True``, which keeps the 700 hardest (highest
pT, ties by position) in their original order.

References:
    G. Kasieczka, B. Nachman, D. Shih et al., "The LHC Olympics 2020", arXiv:2101.08320.

Examples:
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> parts = np.zeros((2, 3, 3))
    >>> parts[:, 0] = [[1500.0, 0.1, 0.2], [900.0, -0.5, 3.0]]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "raw.h5"
    >>> _ = write_raw_h5(parts, path, labels=np.array([1, 0]))
    >>> info = raw_h5_info(path)
    >>> info.n_events, info.has_labels
    (2, True)
    >>> chunk = next(iter_raw_h5(path))
    >>> chunk.particles.shape, chunk.particles[1, 0].tolist(), chunk.labels.tolist()
    ((2, 700, 3), [900.0, -0.5, 3.0], [1, 0])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from anomsearch._io import atomic_path
from anomsearch.data.io.hdf5_frame import frame_keys, inspect_frame, read_frame_columns
from anomsearch.data.io.lhco import HDF_KEY  # the raw files use the same key as features files
from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_PARTICLES",
    "N_PARTICLE_COLUMNS",
    "RawChunk",
    "RawFileInfo",
    "iter_raw_h5",
    "pack_particles",
    "particles_to_raw_array",
    "raw_h5_info",
    "read_raw_h5",
    "write_raw_h5",
]

log = logging.getLogger(__name__)

#: Particles per event in the LHCO raw files.
MAX_PARTICLES = 700
#: Particle columns (700 x (pT, eta, phi)); the R&D file has one more, the label.
N_PARTICLE_COLUMNS = 3 * MAX_PARTICLES
#: Default events per chunk: 10k events x 2101 float64 columns is ~170 MB per chunk (100k events
#: would be ~1.7 GB, plus pandas' copies).
DEFAULT_CHUNK_SIZE = 10_000


class RawFileInfo(NamedTuple):
    """Layout of a raw file, read without loading the events.

    Attributes:
        n_events: number of rows (events).
        has_labels: True for the 2101-column R&D layout (last column = label).
        key: the HDF5 key holding the table.
    """

    n_events: int
    has_labels: bool
    key: str


class RawChunk(NamedTuple):
    """One chunk of events from :func:`iter_raw_h5`.

    Attributes:
        particles: ``(m, 700, 3)`` float64 array of ``(pT, eta, phi)``, zero padded.
        labels: ``(m,)`` int8 truth labels (R&D layout) or None (black-box layout).
        start: index in the file of the chunk's first event.
    """

    particles: np.ndarray
    labels: np.ndarray | None
    start: int


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataFormatError(f"raw file not found: {path}")
    if not path.is_file():
        raise DataFormatError(f"raw path is not a file: {path}")


def _resolve_key(path: Path, key: str | None) -> str:
    keys = frame_keys(path)
    if key is None:
        if "/" + HDF_KEY in keys:
            return HDF_KEY
        if len(keys) != 1:
            raise DataFormatError(f"{path}: no key {HDF_KEY!r} and keys {keys}; pass key=...")
        return keys[0].lstrip("/")
    if "/" + key.lstrip("/") not in keys:
        raise DataFormatError(f"{path}: no key {key!r} (keys: {keys})")
    return key.lstrip("/")


def _check_columns(columns: Sequence[Any], path: Path, key: str) -> bool:
    """Validate the column names/count; return whether the layout has a label column."""
    n = len(columns)
    if n not in (N_PARTICLE_COLUMNS, N_PARTICLE_COLUMNS + 1):
        raise DataFormatError(
            f"{path}: key {key!r} has {n} columns; an LHCO raw file has {N_PARTICLE_COLUMNS} "
            f"(700 particles x (pT, eta, phi)) or {N_PARTICLE_COLUMNS + 1} (plus the label)"
        )
    for i, name in enumerate(columns):
        if i == N_PARTICLE_COLUMNS and name == "label":
            continue
        ok = name == str(i) if isinstance(name, str) else _is_int(name) and int(name) == i
        if not ok:
            raise DataFormatError(
                f"{path}: column {i} is named {name!r}; LHCO raw columns are named 0..{n - 1} "
                "(integers or their strings)"
            )
    return n == N_PARTICLE_COLUMNS + 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def raw_h5_info(path: str | os.PathLike[str], *, key: str | None = None) -> RawFileInfo:
    """Number of events and layout of a raw file, without reading the events.

    Args:
        path: the raw ``.h5`` file.
        key: HDF5 key; default ``"df"`` (or the only key in the file).

    Returns:
        The :class:`RawFileInfo`.

    Raises:
        DataFormatError: missing/unreadable file, missing key, or wrong columns.
    """
    path = Path(path)
    _require_file(path)
    key = _resolve_key(path, key)
    layout = inspect_frame(path, key)
    has_labels = _check_columns(layout.columns, path, key)
    n = layout.n_rows
    return RawFileInfo(n, has_labels, key)


def _validate_chunk(values: np.ndarray, path: Path, offset: int) -> None:
    bad_rows, bad_cols = np.nonzero(~np.isfinite(values))
    if bad_rows.size:
        raise DataFormatError(
            f"{path}: non-finite value (NaN/inf) in event {offset + bad_rows[0]}, column "
            f"{bad_cols[0]} ({bad_rows.size} bad value(s) in events {offset}.."
            f"{offset + len(values) - 1})"
        )
    pt = values[:, 0:N_PARTICLE_COLUMNS:3]
    bad_rows, bad_parts = np.nonzero(pt < 0)
    if bad_rows.size:
        raise DataFormatError(
            f"{path}: negative pT {pt[bad_rows[0], bad_parts[0]]} in event "
            f"{offset + bad_rows[0]}, particle {bad_parts[0]} (column {3 * bad_parts[0]})"
        )
    if values.shape[1] > N_PARTICLE_COLUMNS:
        lab = values[:, N_PARTICLE_COLUMNS]
        bad = np.nonzero((lab != 0) & (lab != 1))[0]
        if bad.size:
            raise DataFormatError(
                f"{path}: label column {N_PARTICLE_COLUMNS} must be 0 or 1, got {lab[bad[0]]} "
                f"in event {offset + bad[0]}"
            )


def iter_raw_h5(
    path: str | os.PathLike[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    start: int = 0,
    stop: int | None = None,
    key: str | None = None,
) -> Iterator[RawChunk]:
    """Iterate over a raw file in chunks of events, reading only one chunk at a time.

    Args:
        path: the raw ``.h5`` file (R&D or black-box layout).
        chunk_size: events per chunk (the last chunk may be shorter).
        start: first event to read.
        stop: one past the last event to read (default: the end of the file; clipped to it).
        key: HDF5 key; default ``"df"`` (or the only key in the file).

    Returns:
        An iterator of :class:`RawChunk` ``(particles (m, 700, 3), labels or None, start)``, in
        file order. The file's layout is checked when this is called; the events of each chunk
        when it is read.

    Raises:
        ConfigError: ``chunk_size < 1`` or a negative ``start``/``stop``.
        DataFormatError: missing/unreadable file, missing key, wrong column count or names, a
            non-finite value, a negative pT or a label other than 0/1 (the message names the file
            and the event).
    """
    if not _is_int(chunk_size) or chunk_size < 1:
        raise ConfigError(f"iter_raw_h5.chunk_size must be a positive integer, got {chunk_size!r}")
    if not _is_int(start) or start < 0:
        raise ConfigError(f"iter_raw_h5.start must be a non-negative integer, got {start!r}")
    if stop is not None and (not _is_int(stop) or stop < 0):
        raise ConfigError(f"iter_raw_h5.stop must be a non-negative integer, got {stop!r}")
    path = Path(path)
    info = raw_h5_info(path, key=key)  # checked eagerly, before the first chunk is asked for
    end = info.n_events if stop is None else min(int(stop), info.n_events)
    return _iter_chunks(path, info, int(start), end, int(chunk_size))


def _iter_chunks(
    path: Path, info: RawFileInfo, start: int, end: int, chunk_size: int
) -> Iterator[RawChunk]:
    layout = inspect_frame(path, info.key)
    columns = layout.columns[: N_PARTICLE_COLUMNS + info.has_labels]
    for lo in range(start, end, chunk_size):
        hi = min(lo + chunk_size, end)
        values = read_frame_columns(layout, columns, start=lo, stop=hi)
        if values.shape != (hi - lo, N_PARTICLE_COLUMNS + info.has_labels):
            raise DataFormatError(f"{path}: read shape {values.shape} for events {lo}..{hi - 1}")
        _validate_chunk(values, path, lo)
        particles = np.ascontiguousarray(values[:, :N_PARTICLE_COLUMNS]).reshape(
            hi - lo, MAX_PARTICLES, 3
        )
        labels = values[:, N_PARTICLE_COLUMNS].astype(np.int8) if info.has_labels else None
        yield RawChunk(particles, labels, lo)


def read_raw_h5(
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    stop: int | None = None,
    key: str | None = None,
) -> RawChunk:
    """Read (a row range of) a raw file in one piece; see :func:`iter_raw_h5` for the checks.

    Only for small files or ranges: the full R&D file is ~18 GB as float64.
    """
    info = raw_h5_info(path, key=key)
    end = info.n_events if stop is None else min(int(stop), info.n_events)
    chunks = list(iter_raw_h5(path, chunk_size=max(end - start, 1), start=start, stop=end, key=key))
    if not chunks:
        empty = np.zeros((0, MAX_PARTICLES, 3))
        return RawChunk(empty, np.zeros(0, np.int8) if info.has_labels else None, start)
    return chunks[0]


def pack_particles(
    particles: np.ndarray,
    *,
    max_particles: int = MAX_PARTICLES,
    truncate: bool = False,
) -> np.ndarray:
    """Pack events to exactly ``max_particles`` slots: real particles first, zero padded.

    A slot is a particle when its pT is > 0. Particles keep their relative order. An event with
    more than ``max_particles`` particles keeps its ``max_particles`` hardest (highest pT; ties
    broken by position) when ``truncate`` is True.

    Args:
        particles: ``(n, k, 3)`` array of ``(pT, eta, phi)`` (any ``k``).
        max_particles: slots per event in the output.
        truncate: allow dropping the softest particles of over-full events.

    Returns:
        ``(n, max_particles, 3)`` float64 array; padding slots are exactly zero.

    Raises:
        DataFormatError: bad shape, non-finite values, negative pT, or an over-full event without
            ``truncate``.

    Examples:
        >>> import numpy as np
        >>> ev = np.array([[[0, 0, 0], [5, 1, 1], [9, 2, 2], [7, 3, 3]]], dtype=float)
        >>> pack_particles(ev, max_particles=2, truncate=True)[0].tolist()
        [[9.0, 2.0, 2.0], [7.0, 3.0, 3.0]]
    """
    arr = np.asarray(particles, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataFormatError(
            f"particles must have shape (n_events, n_particles, 3) = (pT, eta, phi), "
            f"got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise DataFormatError("particles contain a non-finite value (NaN/inf)")
    pt = arr[:, :, 0]
    if np.any(pt < 0):
        ev, part = np.argwhere(pt < 0)[0]
        raise DataFormatError(f"particles: negative pT {pt[ev, part]} in event {ev}, slot {part}")
    n, k, _ = arr.shape
    real = pt > 0
    count = real.sum(axis=1)
    over = count > max_particles
    if np.any(over):
        if not truncate:
            ev = int(np.argmax(over))
            raise DataFormatError(
                f"particles: event {ev} has {int(count[ev])} particles (pT > 0), more than the "
                f"{max_particles} slots of the raw format; pass truncate=True to keep the hardest"
            )
        # Rank particles by descending pT (stable: earlier slot wins ties); keep the top ones.
        order = np.argsort(-pt[over], axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(k)[None, :].repeat(order.shape[0], 0), axis=1)
        real[over] &= rank < max_particles
        log.info(
            "truncated %d event(s) to the %d hardest particles", int(over.sum()), max_particles
        )
    # Stable sort that moves kept particles to the front in their original order.
    slots = np.argsort(~real, axis=1, kind="stable")[:, :max_particles]
    out = np.take_along_axis(arr, slots[:, :, None], axis=1)
    kept = np.take_along_axis(real, slots, axis=1)
    out[~kept] = 0.0
    if out.shape[1] < max_particles:
        out = np.concatenate([out, np.zeros((n, max_particles - out.shape[1], 3))], axis=1)
    return out


def particles_to_raw_array(
    events: Sequence[np.ndarray],
    *,
    truncate: bool = False,
) -> np.ndarray:
    """Stack per-event particle arrays of different lengths into the ``(n, 700, 3)`` raw layout.

    Args:
        events: one ``(k_i, 3)`` array of ``(pT, eta, phi)`` per event.
        truncate: see :func:`pack_particles`.

    Returns:
        ``(n, 700, 3)`` float64 array, zero padded.

    Raises:
        DataFormatError: an event not of shape ``(k, 3)``, or as :func:`pack_particles`.

    Examples:
        >>> import numpy as np
        >>> raw = particles_to_raw_array([np.array([[10.0, 0.0, 1.0]]), np.zeros((0, 3))])
        >>> raw.shape, raw[0, 0].tolist(), float(raw[1].sum())
        ((2, 700, 3), [10.0, 0.0, 1.0], 0.0)
    """
    width = max((len(e) for e in events), default=0)
    out = np.zeros((len(events), max(width, 1), 3))
    for i, ev in enumerate(events):
        e = np.asarray(ev, dtype=np.float64)
        if e.ndim != 2 or e.shape[1] != 3:
            raise DataFormatError(
                f"particles_to_raw_array: event {i} must have shape (k, 3), got {e.shape}"
            )
        out[i, : len(e)] = e
    return pack_particles(out, truncate=truncate)


def write_raw_h5(
    particles: np.ndarray,
    path: str | os.PathLike[str],
    *,
    labels: np.ndarray | None = None,
    truncate: bool = False,
    complevel: int = 0,
) -> Path:
    """Write events in the LHC Olympics raw layout, atomically.

    The file has key ``"df"`` and a float64 frame with integer column names ``0 .. 2099`` (plus
    ``2100``, the label, when ``labels`` is given), exactly as the real files; it reads back with
    plain ``pandas.read_hdf``.

    Args:
        particles: ``(n, k, 3)`` array of ``(pT, eta, phi)`` in GeV, zero padded; packed to 700
            slots by :func:`pack_particles`.
        path: destination ``.h5`` file (replaced if it exists).
        labels: optional ``(n,)`` 0/1 truth labels (R&D layout); None gives the black-box layout.
        truncate: keep the 700 hardest particles of over-full events instead of failing.
        complevel: zlib compression level 0-9 (0: none, as pandas' default).

    Returns:
        The path written.

    Raises:
        DataFormatError: bad particles (see :func:`pack_particles`) or labels of the wrong length
            or not 0/1.
        ConfigError: ``complevel`` outside 0-9.
    """
    if not _is_int(complevel) or not 0 <= complevel <= 9:
        raise ConfigError(f"write_raw_h5.complevel must be an integer 0-9, got {complevel!r}")
    packed = pack_particles(particles, truncate=truncate)
    n = packed.shape[0]
    data = packed.reshape(n, N_PARTICLE_COLUMNS)
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != (n,):
            raise DataFormatError(f"labels must have shape ({n},), got {lab.shape}")
        if not np.all(np.isin(lab, (0, 1))):
            raise DataFormatError("labels must contain only 0 and 1")
        data = np.concatenate([data, lab.astype(np.float64)[:, None]], axis=1)
    frame = pd.DataFrame(data)  # integer column names 0..2099 (2100), as in the real files
    extra: dict[str, Any] = {"complevel": complevel, "complib": "zlib"} if complevel else {}
    with atomic_path(path) as tmp:
        frame.to_hdf(tmp, key=HDF_KEY, mode="w", **extra)
    log.info("wrote %d raw events (labels: %s) to %s", n, labels is not None, path)
    return Path(path)
