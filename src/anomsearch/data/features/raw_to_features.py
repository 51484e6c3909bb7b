"""Raw particles -> LHC Olympics jet features (the ``anomsearch data features`` step).

For every event of an LHCO raw file (:mod:`anomsearch.data.io.lhco_raw`):

1. each particle with ``pT > 0`` becomes a massless four-vector
   ``(px, py, pz, E) = pT (cos phi, sin phi, sinh eta, cosh eta)``;
2. the particles are clustered with anti-kT, ``R = jet_radius`` (1.0), with fastjet, keeping
   inclusive jets with ``pT >= jet_ptmin`` (0 by default: every jet), sorted by pT; a whole chunk
   is clustered in one call of fastjet's awkward interface
   (:func:`anomsearch.data.features.batch.compute_jet_features`);
3. the two leading jets give the seven quantities of the features file, defined as the
   ``pythia`` generator computes them (:mod:`anomsearch.data.generate.pythia` and
   :class:`~anomsearch.data.features.jets.JetClusterer`; equal to float rounding): ``px, py, pz``
   and the mass of the jet's E-scheme four-vector (0 if ``m^2 <= 0``), and N-subjettiness
   ``tau1, tau2, tau3`` with ``beta = 1`` and exclusive-kT axes (constituents reclustered with kT,
   ``R = 1000``, then ``exclusive_jets(N)``), normalised as
   ``tau_N = sum_i pT_i min_k dR_ik / (sum_i pT_i R)``. A jet with ``N`` or fewer constituents has
   ``tau_N = 0``; with ``extra_features`` (a feature-set name of
   :mod:`anomsearch.data.features.sets`, e.g. ``"kitchen_sink"``) also ``tau_N^beta`` up to
   ``N = 9`` and energy flow polynomials, as extra columns ``{field}j1``, ``{field}j2``;
4. the table is written in the LHCO features layout
   (:func:`anomsearch.data.io.lhco.write_features_h5`: the 14 standard columns first, the extra
   columns after them), with the ``label`` column when the raw file has one (R&D layout),
   atomically.

Events with fewer than two jets (too few particles): with ``missing_jets="zeros"`` (default) the
missing jet(s) are written as seven zeros and the event is kept, so that the features file has one
row per raw event in the same order, as the real R&D features file; ``missing_jets="drop"`` drops
such events. Either way their number is logged and returned.

The file is processed in chunks (:func:`anomsearch.data.io.lhco_raw.iter_raw_h5`), so memory stays
at one chunk of particles plus the (small) feature table; a progress bar shows the progress and the
events/s rate is logged.

References:
    LHC Olympics 2020: arXiv:2101.08320. Anti-kT: arXiv:0802.1189. FastJet: arXiv:1111.6097.
    N-subjettiness: arXiv:1011.2268. EFPs: arXiv:1712.07124.

Examples:
    >>> import numpy as np
    >>> ev = np.zeros((1, 700, 3))
    >>> ev[0, :2] = [[1000.0, 0.0, 0.1], [1000.0, 0.0, -0.1]]  # one jet of two particles
    >>> ev[0, 2] = [500.0, 0.0, np.pi]  # one single-particle jet
    >>> res = cluster_events(ev)
    >>> res.n_jets.tolist()
    [2]
    >>> j1, j2 = res.jets[0]
    >>> round(float(j1[3]), 4), round(float(2000 * np.sin(0.1)), 4)  # m = 2 pT sin(dphi / 2)
    (199.6668, 199.6668)
    >>> round(float(j1[4]), 6), float(j1[5]), float(j2[3]), float(j2[4])  # tau1 = dphi/2 / R
    (0.1, 0.0, 0.0, 0.0)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.features.batch import (
    DEFAULT_BATCH_EVENTS,
    JetFeatures,
    check_jet_options,
    compute_jet_features,
    resolve_extra_fields,
)
from anomsearch.data.features.jets import import_fastjet
from anomsearch.data.io.lhco import write_features_h5
from anomsearch.data.io.lhco_raw import DEFAULT_CHUNK_SIZE, RawChunk, iter_raw_h5, raw_h5_info
from anomsearch.exceptions import ConfigError
from anomsearch.progress import progress_bar

__all__ = [
    "MISSING_JET_RULES",
    "ClusteredEvents",
    "RawToFeaturesResult",
    "cluster_events",
    "raw_to_features",
]

log = logging.getLogger(__name__)

#: What :func:`raw_to_features` does with events that have fewer than two jets.
MISSING_JET_RULES: tuple[str, ...] = ("zeros", "drop")


class ClusteredEvents(NamedTuple):
    """Jet features of a batch of events (:func:`cluster_events`).

    Attributes:
        jets: ``(n, 2, 7)`` array: the two leading jets' ``px, py, pz, m, tau1, tau2, tau3``
            (GeV), pT ordered; a missing jet is all zeros.
        n_jets: ``(n,)`` number of jets each event had (before keeping two).
    """

    jets: np.ndarray
    n_jets: np.ndarray


class RawToFeaturesResult(NamedTuple):
    """Summary of a :func:`raw_to_features` run.

    Attributes:
        path: the features file written.
        n_read: raw events read.
        n_written: events written (``n_read`` minus the dropped ones).
        n_missing_jets: events with fewer than two jets (zero padded or dropped).
        has_labels: whether a ``label`` column was written.
        seconds: wall time of the conversion.
        events_per_s: raw events processed per second.
        extra_fields: the extra per-jet fields written (two columns each).
    """

    path: Path
    n_read: int
    n_written: int
    n_missing_jets: int
    has_labels: bool
    seconds: float
    events_per_s: float
    extra_fields: tuple[str, ...] = ()


class _Options(NamedTuple):
    """The per-chunk options of :func:`raw_to_features` (picklable, for worker processes)."""

    jet_radius: float
    jet_ptmin: float
    nsub_axes: str
    extra_fields: tuple[str, ...]

    def compute(self, particles: np.ndarray) -> JetFeatures:
        return compute_jet_features(
            particles,
            extra_features=self.extra_fields,
            jet_radius=self.jet_radius,
            jet_ptmin=self.jet_ptmin,
            nsub_axes=self.nsub_axes,
            batch_events=DEFAULT_BATCH_EVENTS,
        )


def _convert_range(
    bounds: tuple[int, int], source: tuple[str, str], options: _Options
) -> tuple[JetFeatures, np.ndarray | None]:
    """Worker of :func:`raw_to_features` with ``n_jobs > 1``: read and cluster one chunk."""
    lo, hi = bounds
    path, key = source
    particles = np.zeros((0, 1, 3))
    labels = None
    for chunk in iter_raw_h5(path, chunk_size=max(hi - lo, 1), start=lo, stop=hi, key=key):
        particles, labels = chunk.particles, chunk.labels
    return options.compute(particles), labels


def cluster_events(
    particles: np.ndarray,
    *,
    jet_radius: float = 1.0,
    jet_ptmin: float = 0.0,
    nsub_axes: str = "kt",
) -> ClusteredEvents:
    """Cluster events given as ``(pT, eta, phi)`` particles into the two leading jets' features.

    See the module docstring for the definitions; for the extra per-jet fields as well, call
    :func:`anomsearch.data.features.batch.compute_jet_features`.

    Args:
        particles: ``(n, k, 3)`` array of ``(pT, eta, phi)``, zero padded (slots with
            ``pT == 0`` are ignored), e.g. a chunk of a raw file.
        jet_radius: anti-kT radius R (also the N-subjettiness normalisation radius).
        jet_ptmin: minimum jet pT (GeV) for a jet to count.
        nsub_axes: ``"kt"`` (exclusive-kT, E-scheme) or ``"wta_kt"`` (winner-take-all) axes.

    Returns:
        :class:`ClusteredEvents` ``(jets (n, 2, 7), n_jets (n,))``.

    Raises:
        ConfigError: a bad option (named as ``cluster_events.<option>``).
        DataFormatError: particles not of shape ``(n, k, 3)`` or with non-finite values.
        AnomsearchError: fastjet is not installed.
    """
    check_jet_options(jet_radius, jet_ptmin, nsub_axes, "cluster_events")
    res = compute_jet_features(
        particles, jet_radius=jet_radius, jet_ptmin=jet_ptmin, nsub_axes=nsub_axes
    )
    return ClusteredEvents(res.jets, res.n_jets)


def _check_run_options(missing_jets: str, n_jobs: int) -> None:
    if missing_jets not in MISSING_JET_RULES:
        raise ConfigError(
            f"raw_to_features.missing_jets must be one of {MISSING_JET_RULES}, got {missing_jets!r}"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"raw_to_features.n_jobs must be an integer >= 1, got {n_jobs!r}")


def _run_chunks(
    chunks: Iterator[RawChunk],
    source: tuple[str, str],
    bounds: tuple[int, int, int],
    options: _Options,
    n_jobs: int,
    bar: Any,
) -> list[tuple[JetFeatures, np.ndarray | None]]:
    """Cluster the raw file's ``chunks`` here, or the same ranges (``bounds`` = start, end,
    chunk size) of ``source`` = (path, key) in ``n_jobs`` worker processes."""
    results: list[tuple[JetFeatures, np.ndarray | None]] = []
    if n_jobs == 1:
        for chunk in chunks:
            results.append((options.compute(chunk.particles), chunk.labels))
            bar.update(len(chunk.particles))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    start, end, chunk_size = bounds
    ranges = [(lo, min(lo + chunk_size, end)) for lo in range(start, end, chunk_size)]
    with ProcessPoolExecutor(
        max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        for res in pool.map(
            _convert_range, ranges, [source] * len(ranges), [options] * len(ranges)
        ):
            results.append(res)
            bar.update(len(res[0].n_jets))
    return results


def _event_table(
    results: list[tuple[JetFeatures, np.ndarray | None]],
    fields: tuple[str, ...],
    has_labels: bool,
    drop_missing: bool,
) -> tuple[EventTable, np.ndarray]:
    """The chunks' features as one table (events with < 2 jets dropped if asked) and n_jets."""
    feats = [r[0] for r in results]
    jets = np.concatenate([f.jets for f in feats]) if feats else np.zeros((0, 2, 7))
    n_jets = np.concatenate([f.n_jets for f in feats]) if feats else np.zeros(0, np.int64)
    extra = np.concatenate([f.extra for f in feats]) if feats else np.zeros((0, 2, len(fields)))
    labels: np.ndarray | None = None
    if has_labels:
        parts = [r[1] for r in results if r[1] is not None]
        labels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)
    if drop_missing:
        keep = n_jets >= 2
        jets, extra = jets[keep], extra[keep]
        labels = None if labels is None else labels[keep]
    return EventTable(jets, label=labels, extra=extra, extra_fields=fields), n_jets


def raw_to_features(
    raw_path: str | os.PathLike[str],
    features_path: str | os.PathLike[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    jet_radius: float = 1.0,
    jet_ptmin: float = 0.0,
    nsub_axes: str = "kt",
    missing_jets: str = "zeros",
    extra_features: str | Sequence[str] | None = None,
    start: int = 0,
    stop: int | None = None,
    key: str | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> RawToFeaturesResult:
    """Convert an LHCO raw-particle file into an LHCO features file.

    Args:
        raw_path: the raw ``.h5`` file (R&D layout with labels, or black-box layout without).
        features_path: the features ``.h5`` file to write (replaced atomically).
        chunk_size: raw events read per chunk.
        jet_radius: anti-kT radius R (1.0 in the LHCO files).
        jet_ptmin: minimum jet pT (GeV) for a jet to count (0: every jet).
        nsub_axes: N-subjettiness axes, ``"kt"`` (default, E-scheme) or ``"wta_kt"``.
        missing_jets: ``"zeros"`` (keep events with < 2 jets, missing jets all zero) or
            ``"drop"`` (drop them).
        extra_features: extra per-jet columns: None (the 14 standard columns only), a
            feature-set name (``"subjettiness"``, ``"efp"``, ``"kitchen_sink"``: the fields that
            set needs, :func:`anomsearch.data.features.sets.extra_jet_fields`) or field names.
        start: first raw event to convert.
        stop: one past the last raw event to convert (default: the end of the file).
        key: HDF5 key of the raw table (default ``"df"``).
        progress: show a progress bar (:mod:`anomsearch.progress`).
        n_jobs: worker processes; with ``n_jobs > 1`` each worker reads and clusters whole
            chunks (``spawn`` start method, so a calling script needs the usual
            ``if __name__ == "__main__":`` guard); results are collected in file order.

    Returns:
        :class:`RawToFeaturesResult`.

    Raises:
        ConfigError: a bad option (named as ``raw_to_features.<option>``).
        DataFormatError: a missing or malformed raw file (see
            :func:`anomsearch.data.io.lhco_raw.iter_raw_h5`).
        AnomsearchError: fastjet is not installed.
    """
    check_jet_options(jet_radius, jet_ptmin, nsub_axes, "raw_to_features")
    _check_run_options(missing_jets, n_jobs)
    fields = resolve_extra_fields(extra_features, option="raw_to_features.extra_features")
    options = _Options(float(jet_radius), float(jet_ptmin), nsub_axes, fields)
    import_fastjet("raw -> features clustering")  # fail before reading when it is missing
    raw_path = Path(raw_path)
    chunks = iter_raw_h5(raw_path, chunk_size=chunk_size, start=start, stop=stop, key=key)
    info = raw_h5_info(raw_path, key=key)
    end = info.n_events if stop is None else min(stop, info.n_events)
    with ExitStack() as stack:
        bar = stack.enter_context(
            progress_bar(
                max(end - start, 0), description="raw -> features", unit="ev", enabled=progress
            )
        )
        t0 = time.perf_counter()
        results = _run_chunks(
            chunks, (str(raw_path), info.key), (start, end, chunk_size), options, n_jobs, bar
        )
        seconds = time.perf_counter() - t0
    events, n_jets = _event_table(results, fields, info.has_labels, missing_jets == "drop")
    n_missing = int((n_jets < 2).sum())
    if n_missing:
        log.warning(
            "%s: %d of %d event(s) have fewer than two jets (%s)",
            raw_path,
            n_missing,
            len(n_jets),
            "missing jets written as zeros" if missing_jets == "zeros" else "dropped",
        )
    write_features_h5(events, features_path, include_label=events.label is not None)
    rate = len(n_jets) / seconds if seconds > 0 else float("nan")
    log.info(
        "raw -> features: %d events from %s in %.1f s (%.1f ev/s), %d written to %s "
        "(%d extra column(s))",
        len(n_jets),
        raw_path,
        seconds,
        rate,
        len(events),
        features_path,
        2 * len(fields),
    )
    return RawToFeaturesResult(
        Path(features_path),
        len(n_jets),
        len(events),
        n_missing,
        events.label is not None,
        seconds,
        rate,
        fields,
    )
