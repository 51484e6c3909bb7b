"""Raw particles -> LHC Olympics jet features (the ``anomsearch data features`` step).

For every event of an LHCO raw file (:mod:`anomsearch.data.io.lhco_raw`):

1. each particle with ``pT > 0`` becomes a massless four-vector
   ``(px, py, pz, E) = pT (cos phi, sin phi, sinh eta, cosh eta)``;
2. the particles are clustered with anti-kT, ``R = jet_radius`` (1.0), with fastjet, keeping
   inclusive jets with ``pT >= jet_ptmin`` (0 by default: every jet), sorted by pT;
3. the two leading jets give the seven quantities of the features file, computed exactly as the
   ``pythia`` generator does (:mod:`anomsearch.data.generate.pythia`, whose per-jet routine is
   reused): ``px, py, pz`` and the mass of the jet's E-scheme four-vector (0 if ``m^2 <= 0``), and
   N-subjettiness ``tau1, tau2, tau3`` with ``beta = 1`` and exclusive-kT axes (constituents
   reclustered with kT, ``R = 1000``, then ``exclusive_jets(N)``), normalised as
   ``tau_N = sum_i pT_i min_k dR_ik / (sum_i pT_i R)``. A jet with ``N`` or fewer constituents has
   ``tau_N = 0``;
4. the table is written in the LHCO features layout
   (:func:`anomsearch.data.io.lhco.write_features_h5`), with the ``label`` column when the raw file
   has one (R&D layout), atomically.

Events with fewer than two jets (too few particles): with ``missing_jets="zeros"`` (default) the
missing jet(s) are written as seven zeros and the event is kept, so that the features file has one
row per raw event in the same order, as the real R&D features file; ``missing_jets="drop"`` drops
such events. Either way their number is logged and returned.

The file is processed in chunks (:func:`anomsearch.data.io.lhco_raw.iter_raw_h5`), so memory stays
at one chunk of particles plus the (small) feature table; a progress bar shows the progress and the
events/s rate is logged.

References:
    LHC Olympics 2020: arXiv:2101.08320. Anti-kT: arXiv:0802.1189. FastJet: arXiv:1111.6097.
    N-subjettiness: arXiv:1011.2268.

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
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from anomsearch.data.events import JET_FIELDS, EventTable
from anomsearch.data.features.jets import NSUB_AXES, JetClusterer, particles_to_four_vectors
from anomsearch.data.io.lhco import write_features_h5
from anomsearch.data.io.lhco_raw import DEFAULT_CHUNK_SIZE, iter_raw_h5, raw_h5_info
from anomsearch.exceptions import ConfigError, DataFormatError
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
    """

    path: Path
    n_read: int
    n_written: int
    n_missing_jets: int
    has_labels: bool
    seconds: float
    events_per_s: float


def _check_options(jet_radius: float, jet_ptmin: float, nsub_axes: str, where: str) -> None:
    if not (
        isinstance(jet_radius, int | float)
        and not isinstance(jet_radius, bool)
        and np.isfinite(jet_radius)
        and jet_radius > 0
    ):
        raise ConfigError(f"{where}.jet_radius must be a positive number, got {jet_radius!r}")
    if not (
        isinstance(jet_ptmin, int | float)
        and not isinstance(jet_ptmin, bool)
        and np.isfinite(jet_ptmin)
        and jet_ptmin >= 0
    ):
        raise ConfigError(f"{where}.jet_ptmin must be a non-negative number, got {jet_ptmin!r}")
    if nsub_axes not in NSUB_AXES:
        raise ConfigError(f"{where}.nsub_axes must be one of {NSUB_AXES}, got {nsub_axes!r}")


class _Clusterer(JetClusterer):
    """The LHC Olympics jets of one event's zero-padded particles, with a pT threshold."""

    def __init__(self, jet_radius: float, jet_ptmin: float, nsub_axes: str) -> None:
        super().__init__(jet_radius, nsub_axes, purpose="raw -> features clustering")
        self.jet_ptmin = float(jet_ptmin)

    def event(self, particles: np.ndarray, out: np.ndarray) -> int:
        """Fill ``out`` (2, 7) with the two leading jets of one event; return the jet count."""
        real = particles[particles[:, 0] > 0]
        if len(real) == 0:
            out[:] = 0.0
            return 0
        _sequence, jets = self.cluster(particles_to_four_vectors(real), self.jet_ptmin)
        out[:] = 0.0
        for i, jet in enumerate(jets[:2]):
            out[i] = self.jet_features(jet)
        return len(jets)


def _cluster_chunk(
    clusterer: _Clusterer, particles: np.ndarray, bar: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    m = len(particles)
    jets = np.zeros((m, 2, len(JET_FIELDS)))
    n_jets = np.zeros(m, dtype=np.int64)
    for i in range(m):
        n_jets[i] = clusterer.event(particles[i], jets[i])
        if bar is not None and (i + 1) % 100 == 0:
            bar.update(100)
    if bar is not None:
        bar.update(m % 100)
    return jets, n_jets


def _convert_range(
    bounds: tuple[int, int], options: tuple[str, str, float, float, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Worker of :func:`raw_to_features` with ``n_jobs > 1``: read and cluster one chunk."""
    lo, hi = bounds
    path, key, jet_radius, jet_ptmin, nsub_axes = options
    clusterer = _Clusterer(jet_radius, jet_ptmin, nsub_axes)
    particles = np.zeros((0, 1, 3))
    labels = None
    for chunk in iter_raw_h5(path, chunk_size=max(hi - lo, 1), start=lo, stop=hi, key=key):
        particles, labels = chunk.particles, chunk.labels
    jets, n_jets = _cluster_chunk(clusterer, particles)
    return jets, n_jets, labels


def cluster_events(
    particles: np.ndarray,
    *,
    jet_radius: float = 1.0,
    jet_ptmin: float = 0.0,
    nsub_axes: str = "kt",
) -> ClusteredEvents:
    """Cluster events given as ``(pT, eta, phi)`` particles into the two leading jets' features.

    See the module docstring for the definitions.

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
    _check_options(jet_radius, jet_ptmin, nsub_axes, "cluster_events")
    arr = np.asarray(particles, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataFormatError(
            f"particles must have shape (n_events, n_particles, 3) = (pT, eta, phi), "
            f"got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise DataFormatError("particles contain a non-finite value (NaN/inf)")
    jets, n_jets = _cluster_chunk(_Clusterer(jet_radius, jet_ptmin, nsub_axes), arr)
    return ClusteredEvents(jets, n_jets)


def raw_to_features(
    raw_path: str | os.PathLike[str],
    features_path: str | os.PathLike[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    jet_radius: float = 1.0,
    jet_ptmin: float = 0.0,
    nsub_axes: str = "kt",
    missing_jets: str = "zeros",
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
    _check_options(jet_radius, jet_ptmin, nsub_axes, "raw_to_features")
    if missing_jets not in MISSING_JET_RULES:
        raise ConfigError(
            f"raw_to_features.missing_jets must be one of {MISSING_JET_RULES}, got {missing_jets!r}"
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"raw_to_features.n_jobs must be an integer >= 1, got {n_jobs!r}")
    raw_path = Path(raw_path)
    clusterer = _Clusterer(jet_radius, jet_ptmin, nsub_axes)
    info = raw_h5_info(raw_path, key=key)
    chunks = iter_raw_h5(raw_path, chunk_size=chunk_size, start=start, stop=stop, key=key)
    end = info.n_events if stop is None else min(stop, info.n_events)
    total = max(end - start, 0)

    stack = ExitStack()
    bar = stack.enter_context(
        progress_bar(total, description="raw -> features", unit="ev", enabled=progress)
    )
    jet_parts: list[np.ndarray] = []
    njet_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    t0 = time.perf_counter()
    try:
        if n_jobs == 1:
            for chunk in chunks:
                jets, n_jets = _cluster_chunk(clusterer, chunk.particles, bar)
                jet_parts.append(jets)
                njet_parts.append(n_jets)
                if chunk.labels is not None:
                    label_parts.append(chunk.labels)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ranges = [(lo, min(lo + chunk_size, end)) for lo in range(start, end, chunk_size)]
            options = (str(raw_path), info.key, jet_radius, jet_ptmin, nsub_axes)
            with ProcessPoolExecutor(
                max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn")
            ) as pool:
                for jets, n_jets, chunk_labels in pool.map(
                    _convert_range, ranges, [options] * len(ranges)
                ):
                    jet_parts.append(jets)
                    njet_parts.append(n_jets)
                    if chunk_labels is not None:
                        label_parts.append(chunk_labels)
                    bar.update(len(jets))
    finally:
        stack.close()
    seconds = time.perf_counter() - t0

    all_jets = np.concatenate(jet_parts) if jet_parts else np.zeros((0, 2, len(JET_FIELDS)))
    all_njets = np.concatenate(njet_parts) if njet_parts else np.zeros(0, dtype=np.int64)
    labels: np.ndarray | None = None
    if info.has_labels:
        labels = np.concatenate(label_parts) if label_parts else np.zeros(0, dtype=np.int8)
    missing = all_njets < 2
    n_missing = int(missing.sum())
    if n_missing:
        log.warning(
            "%s: %d of %d event(s) have fewer than two jets (%s)",
            raw_path,
            n_missing,
            len(all_njets),
            "missing jets written as zeros" if missing_jets == "zeros" else "dropped",
        )
    if missing_jets == "drop":
        all_jets = all_jets[~missing]
        if labels is not None:
            labels = labels[~missing]
    events = EventTable(all_jets, label=labels)
    write_features_h5(events, features_path, include_label=labels is not None)
    rate = len(all_njets) / seconds if seconds > 0 else float("nan")
    log.info(
        "raw -> features: %d events from %s in %.1f s (%.1f ev/s), %d written to %s",
        len(all_njets),
        raw_path,
        seconds,
        rate,
        len(events),
        features_path,
    )
    return RawToFeaturesResult(
        Path(features_path),
        len(all_njets),
        len(events),
        n_missing,
        labels is not None,
        seconds,
        rate,
    )
