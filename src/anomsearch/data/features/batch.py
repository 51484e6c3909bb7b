"""Jet features of many events at once: fastjet's awkward interface and array arithmetic.

:func:`compute_jet_features` is the one call that turns a chunk of events' particles into every
jet column: the seven per jet of the LHC Olympics features files and, on request, the extra
per-jet fields of :mod:`anomsearch.data.features.sets` (tau_N^beta, EFPs). For each chunk:

1. the particles become one jagged awkward array of four-vectors (:func:`particles_to_awkward`),
   clustered in one call, ``fastjet.ClusterSequence(array, anti-kT R)`` (the loop over events
   runs in C++); ``inclusive_jets(jet_ptmin)`` and ``constituent_index`` give the jets and their
   constituents; the two leading jets (pT order) are kept;
2. ``px, py, pz`` are the jet's E-scheme four-vector and ``m = sqrt((E + pz)(E - pz) - pT^2)``
   (0 if not positive), fastjet's ``PseudoJet::m()``;
3. the constituents of all kept jets form a second jagged array (one "event" per jet), reclustered
   with kT, ``R = 1000`` (E-scheme or WTA recombination, ``nsub_axes``) in one call; its
   ``exclusive_jets_up_to(N)`` are the N-subjettiness axes; ``tau_N^beta`` follows from flat
   arrays (:func:`~anomsearch.data.features.nsub.nsubjettiness_batch`), 0 for a jet with ``N`` or
   fewer constituents; EFPs from zero-padded batches
   (:func:`~anomsearch.data.features.efp.jet_efps`).

The results equal those of the per-event code (:class:`anomsearch.data.features.jets.JetClusterer`)
to the rounding of the per-jet sums (the jets and axes are the same fastjet objects).

References:
    Anti-kT: arXiv:0802.1189. FastJet: arXiv:1111.6097. N-subjettiness: arXiv:1011.2268.
    EFPs: arXiv:1712.07124.

Examples:
    >>> ev = np.zeros((1, 4, 3))
    >>> ev[0, :3] = [[1000.0, 0.0, 0.1], [1000.0, 0.0, -0.1], [500.0, 0.0, np.pi]]
    >>> res = compute_jet_features(ev, extra_features="subjettiness")
    >>> res.jets.shape, res.extra.shape, res.n_jets.tolist()
    ((1, 2, 7), (1, 2, 27), [2])
    >>> round(float(res.jets[0, 0, 4]), 6), res.extra_fields[:3]  # tau1 = (dphi / 2) / R
    (0.1, ('tau1_b05', 'tau1_b1', 'tau1_b2'))
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from anomsearch.data.features.efp import EFP_MAX_DEGREE, efp_graphs, jet_efps
from anomsearch.data.features.jets import (
    KT_AXES_R,
    NSUB_AXES,
    import_fastjet,
    particles_to_four_vectors,
)
from anomsearch.data.features.nsub import AxesBatch, nsubjettiness_batch, rapidity_azimuth
from anomsearch.data.features.sets import (
    EFP_FIELDS,
    EXTRA_JET_FIELDS,
    NSUB_BETAS,
    NSUB_FIELDS,
    NSUB_MAX_N,
    extra_jet_fields,
    nsub_field,
)
from anomsearch.exceptions import AnomsearchError, ConfigError, DataFormatError

__all__ = [
    "DEFAULT_BATCH_EVENTS",
    "JetFeatures",
    "check_jet_options",
    "compute_jet_features",
    "particles_to_awkward",
    "resolve_extra_fields",
]

log = logging.getLogger(__name__)

#: Events clustered per fastjet call by :func:`compute_jet_features`.
DEFAULT_BATCH_EVENTS = 2000
_N_STANDARD = 7


class JetFeatures(NamedTuple):
    """Jet features of a chunk of events (:func:`compute_jet_features`).

    Attributes:
        jets: ``(n, 2, 7)``: the two leading jets' ``px, py, pz, m, tau1, tau2, tau3`` (GeV),
            pT ordered (the LHCO file order); a missing jet is all zeros.
        n_jets: ``(n,)`` number of jets each event had (before keeping two).
        extra: ``(n, 2, len(extra_fields))`` extra per-jet fields, same jet order; zeros for a
            missing jet.
        extra_fields: the names of the extra fields (:data:`~.sets.EXTRA_JET_FIELDS` order).
    """

    jets: np.ndarray
    n_jets: np.ndarray
    extra: np.ndarray
    extra_fields: tuple[str, ...]


def _import_awkward() -> Any:
    try:
        import awkward
    except ImportError as exc:  # pragma: no cover - awkward comes with fastjet
        raise AnomsearchError(
            f"vectorised jet features need the awkward package ({exc}); "
            "pip install 'anomsearch[generate]'"
        ) from exc
    return awkward


def _jagged(ak: Any, p4: np.ndarray, counts: np.ndarray) -> Any:
    """Jagged awkward array of ``Momentum4D`` records from flat ``(C, 4)`` and per-list counts."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    fields = [ak.contents.NumpyArray(np.ascontiguousarray(p4[:, i])) for i in range(4)]
    record = ak.contents.RecordArray(
        fields, ["px", "py", "pz", "E"], parameters={"__record__": "Momentum4D"}
    )
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), record))


def particles_to_awkward(particles: np.ndarray) -> Any:
    """Zero-padded ``(pT, eta, phi)`` particles as a jagged awkward array of four-vectors.

    Args:
        particles: ``(n, k, 3)`` array, e.g. a chunk of an LHCO raw file; slots with
            ``pT <= 0`` are dropped, the others keep their order.

    Returns:
        ``n`` lists of massless ``Momentum4D`` records ``(px, py, pz, E)``, the input of
        ``fastjet.ClusterSequence`` and of :func:`compute_jet_features`.

    Raises:
        DataFormatError: not of shape ``(n, k, 3)`` or non-finite values.
    """
    return _to_awkward(_import_awkward(), _check_particles(particles))


def _to_awkward(ak: Any, arr: np.ndarray) -> Any:
    real = arr[:, :, 0] > 0
    return _jagged(ak, particles_to_four_vectors(arr[real]), real.sum(axis=1))


def _check_particles(particles: np.ndarray) -> np.ndarray:
    arr = np.asarray(particles, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataFormatError(
            f"particles must have shape (n_events, n_particles, 3) = (pT, eta, phi), "
            f"got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise DataFormatError("particles contain a non-finite value (NaN/inf)")
    return arr


def _flat_p4(ak: Any, array: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``(C, 4)`` four-momenta and per-list counts of a jagged record array."""
    try:
        flat = ak.flatten(array, axis=1)
        p4 = np.stack([np.asarray(flat[f], dtype=np.float64) for f in ("px", "py", "pz", "E")], 1)
        counts = np.asarray(ak.num(array, axis=1), dtype=np.int64)
    except Exception as exc:  # awkward raises several types for a missing field or axis
        raise DataFormatError(
            "an awkward particle array must be a list per event of records with fields "
            f"px, py, pz, E ({type(exc).__name__}: {exc})"
        ) from exc
    if not np.all(np.isfinite(p4)):
        raise DataFormatError("particles contain a non-finite value (NaN/inf)")
    return p4, counts


class _Leading(NamedTuple):
    """The two leading jets of a chunk and the flat constituents of the kept jets."""

    jet_p4: np.ndarray  # (n_events, 2, 4), zeros for a missing jet
    n_jets: np.ndarray  # (n_events,)
    kept: np.ndarray  # (J, 2) event and slot (0, 1) of each kept jet
    const_p4: np.ndarray  # (C, 4) constituents of the kept jets, jet after jet
    const_counts: np.ndarray  # (J,)


def _leading_jets(fastjet: Any, ak: Any, events: Any, jet_def: Any, ptmin: float) -> _Leading:
    """Cluster a chunk in one call and keep the two leading (pT) jets of every event."""
    p4, counts = _flat_p4(ak, events)
    n_events = len(counts)
    starts = np.cumsum(counts) - counts
    sequence = fastjet.ClusterSequence(events, jet_def)
    jets = sequence.inclusive_jets(ptmin)
    index = sequence.constituent_index(ptmin)
    n_jets = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
    jflat, _ = _flat_p4(ak, jets)
    jet_start = np.cumsum(n_jets) - n_jets
    # rank of each jet by pT within its event (fastjet's sorted_by_pt: decreasing pt^2)
    event_of_jet = np.repeat(np.arange(n_events), n_jets)
    order = np.lexsort((-(jflat[:, 0] ** 2 + jflat[:, 1] ** 2), event_of_jet))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(jet_start, n_jets)
    kept_jets = np.flatnonzero(rank < 2)
    kept_jets = kept_jets[np.lexsort((rank[kept_jets], event_of_jet[kept_jets]))]
    kept = np.stack([event_of_jet[kept_jets], rank[kept_jets]], axis=1)
    jet_p4 = np.zeros((n_events, 2, 4))
    jet_p4[kept[:, 0], kept[:, 1]] = jflat[kept_jets]
    local = ak.flatten(index, axis=1)  # per jet: constituent indices within its event
    const_counts = np.asarray(ak.num(local, axis=1), dtype=np.int64)[kept_jets]
    picked = ak.flatten(local[kept_jets], axis=None)
    global_index = np.asarray(picked, dtype=np.int64) + np.repeat(starts[kept[:, 0]], const_counts)
    return _Leading(jet_p4, n_jets, kept, p4[global_index], const_counts)


def _mass(p4: np.ndarray) -> np.ndarray:
    """fastjet's ``PseudoJet::m()`` with negative ``m^2`` set to 0."""
    px, py, pz, e = (p4[..., i] for i in range(4))
    m2 = (e + pz) * (e - pz) - (px * px + py * py)
    return np.sqrt(np.where(m2 > 0, m2, 0.0))


def _exclusive_axes(fastjet: Any, ak: Any, constituents: Any, jet_def: Any, n_max: int) -> list:
    """``exclusive_jets_up_to(N)`` of the kT reclustering, ``N = 1..n_max``, as :class:`AxesBatch`.

    The awkward interface warns that exclusive jets of non-kT algorithms need care even for kT
    (a comparison of a JetDefinition with an algorithm); the warning is silenced and
    ``warnings.formatwarning``, which it replaces, restored."""
    n_lists = len(constituents)
    sequence = fastjet.ClusterSequence(constituents, jet_def)
    out = []
    saved_format = warnings.formatwarning
    try:
        for n in range(1, n_max + 1):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="dcut and exclusive jets")
                axes = sequence.exclusive_jets_up_to(n)
            p4, count = _flat_p4(ak, axes)
            y, phi = rapidity_azimuth(p4)
            slot = np.arange(len(p4)) - np.repeat(np.cumsum(count) - count, count)
            pad_y, pad_phi = np.zeros((n_lists, n)), np.zeros((n_lists, n))
            row = np.repeat(np.arange(n_lists), count)
            pad_y[row, slot], pad_phi[row, slot] = y, phi
            out.append(AxesBatch(pad_y, pad_phi, count))
    finally:
        warnings.formatwarning = saved_format
    return out


def resolve_extra_fields(
    extra_features: str | Sequence[str] | None, *, option: str = "extra_features"
) -> tuple[str, ...]:
    """The extra per-jet fields asked for, in :data:`~.sets.EXTRA_JET_FIELDS` order.

    Args:
        extra_features: None (none), a feature-set name (:data:`~.sets.FEATURE_SETS`: the fields
            that set needs), or a sequence of field names (:data:`~.sets.EXTRA_JET_FIELDS`).
        option: the option named in errors.

    Raises:
        ConfigError: an unknown set or field name.
    """
    if extra_features is None or isinstance(extra_features, str):
        return extra_jet_fields(extra_features, option=option)
    wanted = list(extra_features)
    unknown = [f for f in wanted if f not in EXTRA_JET_FIELDS]
    if unknown:
        raise ConfigError(
            f"{option}: unknown extra jet field(s) {', '.join(map(repr, unknown))}; fields are "
            f"tau{{N}}_b{{05,1,2}} (N = 1..{NSUB_MAX_N}) and efp{{d}}_{{k}} (see "
            "anomsearch.data.features.sets)"
        )
    return tuple(f for f in EXTRA_JET_FIELDS if f in wanted)


def check_jet_options(jet_radius: float, jet_ptmin: float, nsub_axes: str, where: str) -> None:
    """Validate the clustering options; :class:`ConfigError` names ``<where>.<option>``."""
    for name, value, ok in (
        ("jet_radius", jet_radius, lambda v: v > 0),
        ("jet_ptmin", jet_ptmin, lambda v: v >= 0),
    ):
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and np.isfinite(value)
            and ok(value)
        ):
            kind = "a positive" if name == "jet_radius" else "a non-negative"
            raise ConfigError(f"{where}.{name} must be {kind} number, got {value!r}")
    if nsub_axes not in NSUB_AXES:
        raise ConfigError(f"{where}.nsub_axes must be one of {NSUB_AXES}, got {nsub_axes!r}")


class _Plan(NamedTuple):
    """What to compute for a chunk: the clustering definitions and the wanted fields."""

    fastjet: Any
    ak: Any
    jet_def: Any
    kt_def: Any
    jet_radius: float
    jet_ptmin: float
    fields: tuple[str, ...]


def _fill_nsub(plan: _Plan, lead: _Leading, jets: np.ndarray, extra: np.ndarray) -> None:
    """tau1..tau3 (beta = 1) into ``jets`` and the wanted tau_N^beta into ``extra``."""
    wanted = [f for f in plan.fields if f in NSUB_FIELDS]
    n_max = max([3, *(int(f[3 : f.index("_")]) for f in wanted)])
    constituents = _jagged(plan.ak, lead.const_p4, lead.const_counts)
    axes = _exclusive_axes(plan.fastjet, plan.ak, constituents, plan.kt_def, n_max)
    cp4 = lead.const_p4
    pt = np.hypot(cp4[:, 0], cp4[:, 1])
    y, phi = rapidity_azimuth(cp4)
    jet_index = np.repeat(np.arange(len(lead.const_counts)), lead.const_counts)
    ev, slot = lead.kept[:, 0], lead.kept[:, 1]
    for n in range(1, n_max + 1):
        betas = [b for b in NSUB_BETAS if (n <= 3 and b == 1.0) or nsub_field(n, b) in wanted]
        tau = nsubjettiness_batch(
            pt, y, phi, jet_index, axes[n - 1], jet_radius=plan.jet_radius, betas=betas
        )
        tau[lead.const_counts <= n] = 0.0  # N or fewer constituents: tau_N = 0
        for b, beta in enumerate(betas):
            if n <= 3 and beta == 1.0:
                jets[ev, slot, 3 + n] = tau[:, b]
            if nsub_field(n, beta) in wanted:
                extra[ev, slot, plan.fields.index(nsub_field(n, beta))] = tau[:, b]


def _fill_efp(plan: _Plan, lead: _Leading, extra: np.ndarray) -> None:
    """The wanted EFPs into ``extra``."""
    graphs = [g for g in efp_graphs(EFP_MAX_DEGREE) if g.name in plan.fields]
    if not graphs:
        return
    cp4 = lead.const_p4
    y, phi = rapidity_azimuth(cp4)
    offsets = np.concatenate([[0], np.cumsum(lead.const_counts)])
    values = jet_efps(np.hypot(cp4[:, 0], cp4[:, 1]), y, phi, offsets, graphs)
    columns = np.array([plan.fields.index(g.name) for g in graphs])
    extra[lead.kept[:, :1], lead.kept[:, 1:], columns[None, :]] = values


def _chunk(plan: _Plan, events: Any) -> JetFeatures:
    """:func:`compute_jet_features` of one chunk (an awkward array of events)."""
    lead = _leading_jets(plan.fastjet, plan.ak, events, plan.jet_def, plan.jet_ptmin)
    n_events = len(lead.n_jets)
    jets = np.zeros((n_events, 2, _N_STANDARD))
    jets[:, :, :3] = lead.jet_p4[:, :, :3]
    jets[:, :, 3] = _mass(lead.jet_p4)
    extra = np.zeros((n_events, 2, len(plan.fields)))
    if len(lead.kept):
        _fill_nsub(plan, lead, jets, extra)
        if any(f in EFP_FIELDS for f in plan.fields):
            _fill_efp(plan, lead, extra)
    return JetFeatures(jets, lead.n_jets, extra, plan.fields)


def compute_jet_features(
    particles: np.ndarray | Any,
    *,
    extra_features: str | Sequence[str] | None = None,
    jet_radius: float = 1.0,
    jet_ptmin: float = 0.0,
    nsub_axes: str = "kt",
    batch_events: int = DEFAULT_BATCH_EVENTS,
) -> JetFeatures:
    """Every jet column of a chunk of events, clustered with fastjet's awkward interface.

    See the module docstring for the definitions.

    Args:
        particles: ``(n, k, 3)`` zero-padded ``(pT, eta, phi)`` (a raw-file chunk; slots with
            ``pT <= 0`` ignored), or a jagged awkward array of records with fields
            ``px, py, pz, E`` (e.g. massive particles of a generator).
        extra_features: extra per-jet fields: None, a feature-set name (``"subjettiness"``,
            ``"efp"``, ``"kitchen_sink"``; ``"standard"`` needs none) or field names.
        jet_radius: anti-kT radius R (also the N-subjettiness normalisation radius).
        jet_ptmin: minimum jet pT (GeV) for a jet to count.
        nsub_axes: ``"kt"`` (exclusive-kT, E-scheme) or ``"wta_kt"`` (winner-take-all) axes.
        batch_events: events clustered per fastjet call (bounds the memory).

    Returns:
        :class:`JetFeatures` ``(jets (n, 2, 7), n_jets (n,), extra (n, 2, k), extra_fields)``.

    Raises:
        ConfigError: a bad option (named as ``compute_jet_features.<option>``).
        DataFormatError: particles of the wrong shape, non-finite, or without four-vector fields.
        AnomsearchError: fastjet is not installed.
    """
    where = "compute_jet_features"
    check_jet_options(jet_radius, jet_ptmin, nsub_axes, where)
    fields = resolve_extra_fields(extra_features, option=f"{where}.extra_features")
    if isinstance(batch_events, bool) or not isinstance(batch_events, int) or batch_events < 1:
        raise ConfigError(f"{where}.batch_events must be an integer >= 1, got {batch_events!r}")
    fastjet = import_fastjet("vectorised jet features")
    ak = _import_awkward()
    recomb = fastjet.WTA_pt_scheme if nsub_axes == "wta_kt" else fastjet.E_scheme
    plan = _Plan(
        fastjet,
        ak,
        fastjet.JetDefinition(fastjet.antikt_algorithm, float(jet_radius)),
        fastjet.JetDefinition(fastjet.kt_algorithm, KT_AXES_R, recomb),
        float(jet_radius),
        float(jet_ptmin),
        fields,
    )
    is_array = isinstance(particles, np.ndarray) or not isinstance(particles, ak.Array)
    arr = _check_particles(particles) if is_array else None
    n = len(arr) if arr is not None else len(particles)
    parts: list[JetFeatures] = []
    for lo in range(0, n, batch_events):
        hi = min(lo + batch_events, n)
        events = _to_awkward(ak, arr[lo:hi]) if arr is not None else particles[lo:hi]
        parts.append(_chunk(plan, events))
    if not parts:
        return JetFeatures(
            np.zeros((0, 2, _N_STANDARD)),
            np.zeros(0, np.int64),
            np.zeros((0, 2, len(fields))),
            fields,
        )
    return JetFeatures(
        np.concatenate([p.jets for p in parts]),
        np.concatenate([p.n_jets for p in parts]),
        np.concatenate([p.extra for p in parts]),
        fields,
    )
