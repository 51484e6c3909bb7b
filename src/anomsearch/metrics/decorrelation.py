"""Decorrelation diagnostics: distance correlation and the sculpting of the mjj spectrum by a cut.

A bump hunt fits a smooth function to the background mjj spectrum *after* a cut on an anomaly
score. If the score is correlated with mjj, the cut distorts ("sculpts") the background shape and
the fit can fake or hide a bump. Two complementary measures are provided:

* :func:`distance_correlation`: the squared distance correlation ``dCor^2(x, y)`` of Székely,
  Rizzo and Bakirov, the quantity DisCo penalises during training. It is zero if and only if ``x``
  and ``y`` are independent (in the large-sample limit), and one for ``y = a x + b``.
* :func:`mjj_sculpting`: for cuts keeping fixed background efficiencies, the Jensen-Shannon
  divergence (JSD) between the normalised background mjj histograms before and after the cut, and
  its inverse ``1/JSD``, the figure of merit of the DisCo paper (larger = less sculpting).

:func:`anomsearch.report.sculpting.plot_mjj_sculpting` draws the normalised background mjj shapes
after several cuts.

Conventions used everywhere in anomsearch (this module and
:func:`anomsearch.methods.nn.distance_correlation_loss`): the *squared* distance correlation
``dCor^2 = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y))`` is returned, computed with the biased
("V-statistic") double-centred distance matrices; with event weights the row, column and grand
means of the double centring and the final averages are weighted with the normalised weights, as
in the DisCo paper. The JSD uses base-2 logarithms, so ``0 <= JSD <= 1``.

References:
    G. J. Székely, M. L. Rizzo, N. K. Bakirov, "Measuring and testing dependence by correlation of
    distances", Ann. Statist. 35 (2007) 2769, arXiv:0803.4101 (distance correlation).
    G. Kasieczka, D. Shih, "DisCo Fever: Robust Networks Through Distance Correlation",
    Phys. Rev. Lett. 125 (2020) 122001, arXiv:2001.05310 (weighted dCor^2 as a training penalty;
    1/JSD of the background mass shape at fixed efficiency as the sculpting measure).
    J. Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37 (1991)
    145 (Jensen-Shannon divergence).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "MjjSculpting",
    "distance_correlation",
    "jensen_shannon_divergence",
    "mjj_sculpting",
]

log = logging.getLogger(__name__)

#: Above this many events :func:`distance_correlation` uses a seeded random subsample.
DEFAULT_MAX_EVENTS = 10_000

#: Number of distance-matrix elements held in memory at once (rows x columns of one chunk).
_CHUNK_ELEMENTS = 262_144


# --------------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------------
def _vector(name: str, values: object, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise DataFormatError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DataFormatError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        first = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise DataFormatError(f"{name} has non-finite values (first at index {first})")
    return arr


def _weights(weights: object, n: int) -> np.ndarray:
    """Normalised weights (sum 1); ``None`` means equal weights."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = _vector("weights", weights, n)
    if np.any(w < 0):
        raise DataFormatError("weights must be non-negative")
    total = float(w.sum())
    if total <= 0:
        raise DataFormatError("weights must have a positive sum")
    return w / total


# --------------------------------------------------------------------------------------------------
# distance correlation
# --------------------------------------------------------------------------------------------------
def _distance_moments(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Weighted ``dCov^2(x, y)``, ``dCov^2(x, x)``, ``dCov^2(y, y)`` in one chunked pass.

    Because a double-centred matrix has zero weighted row and column means,
    ``sum_ij p_i p_j A_ij B_ij = S_ab - 2 sum_i p_i a_i. b_i. + a.. b..`` with
    ``S_ab = sum_ij p_i p_j a_ij b_ij``: only the raw distances, their row means and three
    weighted sums are needed, so each distance block is built once.
    """
    n = x.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // n)
    a_row = np.empty(n)
    b_row = np.empty(n)
    s_ab = s_aa = s_bb = 0.0
    for start in range(0, n, chunk):
        stop = start + chunk
        a = np.abs(x[start:stop, None] - x[None, :])
        b = np.abs(y[start:stop, None] - y[None, :])
        pr = p[start:stop]
        a_row[start:stop] = a @ p
        b_row[start:stop] = b @ p
        s_ab += float(pr @ ((a * b) @ p))
        a *= a
        b *= b
        s_aa += float(pr @ (a @ p))
        s_bb += float(pr @ (b @ p))
    a_all = float(p @ a_row)
    b_all = float(p @ b_row)
    dcov_xy = s_ab - 2.0 * float(p @ (a_row * b_row)) + a_all * b_all
    dcov_xx = s_aa - 2.0 * float(p @ (a_row * a_row)) + a_all * a_all
    dcov_yy = s_bb - 2.0 * float(p @ (b_row * b_row)) + b_all * b_all
    return dcov_xy, dcov_xx, dcov_yy


def distance_correlation(
    x: np.ndarray,
    y: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
    seed: int = 0,
) -> float:
    """Squared (weighted) distance correlation ``dCor^2(x, y)`` of two 1-D samples.

    With normalised weights ``p_i`` (``sum p_i = 1``; equal weights by default), distances
    ``a_ij = |x_i - x_j|`` are double-centred with weighted means,
    ``A_ij = a_ij - a_i. - a_.j + a_..`` where ``a_i. = sum_j p_j a_ij`` and
    ``a_.. = sum_i p_i a_i.`` (likewise ``B`` from ``y``); then
    ``dCov^2(x, y) = sum_ij p_i p_j A_ij B_ij`` and
    ``dCor^2 = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y))``.

    The estimate lies in ``[0, 1]``; it is exactly 1 for ``y = a x + b`` (``a != 0``), invariant
    under affine maps of either variable, and for independent samples it is positive with an
    expectation falling like ``1/N``. A constant ``x`` or ``y`` gives 0. The cost is ``O(N^2)``
    time and ``O(N)`` memory (the distance matrices are processed in row chunks).

    Args:
        x: first variable, shape ``(n,)``, e.g. an anomaly score.
        y: second variable, shape ``(n,)``, e.g. mjj.
        weights: optional non-negative event weights, shape ``(n,)`` (normalised internally).
        max_events: above this many events a seeded random subsample of ``max_events`` events
            (without replacement, weights carried along) is used, to bound the run time.
        seed: seed of that subsample.

    Returns:
        ``dCor^2(x, y)`` as a float in ``[0, 1]``.

    Raises:
        DataFormatError: inputs that are not finite 1-D arrays of one length with at least 2
            events, or negative / all-zero weights.
        ConfigError: ``max_events`` is not an integer >= 2.

    References:
        Székely, Rizzo, Bakirov, Ann. Statist. 35 (2007) 2769; Kasieczka, Shih, arXiv:2001.05310.

    Examples:
        >>> x = np.array([0.0, 1.0, 2.0, 3.0])
        >>> round(distance_correlation(x, 3.0 * x - 1.0), 12)
        1.0
        >>> distance_correlation(x, np.ones(4))
        0.0
    """
    if isinstance(max_events, bool) or not isinstance(max_events, numbers.Integral):
        raise ConfigError(f"max_events must be an integer >= 2, got {max_events!r}")
    if max_events < 2:
        raise ConfigError(f"max_events must be an integer >= 2, got {max_events!r}")
    xv = _vector("x", x)
    n = xv.shape[0]
    yv = _vector("y", y, n)
    if n < 2:
        raise DataFormatError(f"distance correlation needs at least 2 events, got {n}")
    w = None if weights is None else _vector("weights", weights, n)
    if n > max_events:
        keep = np.sort(np.random.default_rng(seed).choice(n, size=int(max_events), replace=False))
        log.info("distance_correlation: using a seeded subsample of %d of %d events", max_events, n)
        xv, yv = xv[keep], yv[keep]
        w = None if w is None else w[keep]
        n = int(max_events)
    p = _weights(w, n)
    sxy, sxx, syy = _distance_moments(xv, yv, p)
    denom = np.sqrt(max(sxx, 0.0) * max(syy, 0.0))
    scale = max(abs(sxx), abs(syy), 1e-300)
    if denom <= 1e-14 * scale:  # a constant variable: no dependence to measure
        return 0.0
    return float(np.clip(sxy / denom, 0.0, 1.0))


# --------------------------------------------------------------------------------------------------
# sculpting of the mjj spectrum
# --------------------------------------------------------------------------------------------------
def jensen_shannon_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base-2 logarithms, in ``[0, 1]``) of two histograms.

    Both histograms are normalised to unit sum first; empty bins contribute nothing.

    Args:
        p: non-negative bin contents with a positive sum.
        q: non-negative bin contents with a positive sum, same shape as ``p``.

    Returns:
        ``JSD = (KL(P || M) + KL(Q || M)) / 2`` with ``M = (P + Q) / 2``.

    Raises:
        DataFormatError: mismatched shapes, negative or non-finite entries, or a zero sum.

    Examples:
        >>> jensen_shannon_divergence(np.array([1.0, 0.0]), np.array([0.0, 2.0]))
        1.0
        >>> jensen_shannon_divergence(np.array([1.0, 3.0]), np.array([2.0, 6.0]))
        0.0
    """
    pv = _vector("p", p)
    qv = _vector("q", q, pv.shape[0])
    for name, h in (("p", pv), ("q", qv)):
        if np.any(h < 0) or h.sum() <= 0:
            raise DataFormatError(f"histogram {name} must be non-negative with a positive sum")
    pv = pv / pv.sum()
    qv = qv / qv.sum()
    m = 0.5 * (pv + qv)

    def _kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return float(np.clip(0.5 * (_kl(pv) + _kl(qv)), 0.0, 1.0))


class MjjSculpting(NamedTuple):
    """Result of :func:`mjj_sculpting`, one entry per requested background efficiency.

    Attributes:
        efficiencies: requested background efficiencies, shape ``(k,)``.
        thresholds: score thresholds; an event passes if ``score >= threshold``.
        achieved: (weighted) fraction of the events that pass each cut (differs from the request
            only through ties and the discreteness of the sample).
        n_pass: number of events passing each cut.
        jsd: Jensen-Shannon divergence (base 2) between the normalised mjj histograms of all
            events and of the passing events.
        inverse_jsd: ``1 / jsd`` (``inf`` where ``jsd == 0``), the DisCo paper's figure of merit.
        bin_edges: the mjj bin edges of the histograms, shape ``(n_bins + 1,)``.
    """

    efficiencies: np.ndarray
    thresholds: np.ndarray
    achieved: np.ndarray
    n_pass: np.ndarray
    jsd: np.ndarray
    inverse_jsd: np.ndarray
    bin_edges: np.ndarray


def _efficiencies(values: Sequence[float] | float, *, allow_one: bool) -> np.ndarray:
    effs = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if effs.ndim != 1 or effs.size == 0:
        raise ConfigError("background_efficiencies must be a non-empty list of numbers")
    hi_ok = (effs <= 1.0) if allow_one else (effs < 1.0)
    if not np.all(np.isfinite(effs) & (effs > 0.0) & hi_ok):
        bound = "(0, 1]" if allow_one else "(0, 1)"
        raise ConfigError(f"background_efficiencies must lie in {bound}, got {effs.tolist()}")
    return effs


def _bin_edges(bins: int | Sequence[float], mjj: np.ndarray) -> np.ndarray:
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        if int(bins) < 1:
            raise ConfigError(f"bins must be a positive integer or increasing edges, got {bins}")
        lo, hi = float(mjj.min()), float(mjj.max())
        if hi <= lo:
            hi = lo + 1.0
        return np.linspace(lo, hi, int(bins) + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ConfigError(f"bins must be a positive integer or increasing edges, got {bins!r}")
    return edges


def _thresholds(
    scores: np.ndarray, w: np.ndarray, effs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Score thresholds keeping the highest-scoring (weighted) fraction ``effs`` of the events."""
    order = np.argsort(-scores, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    thresholds = np.empty(effs.size)
    masks = []
    for i, eff in enumerate(effs):
        last = min(int(np.searchsorted(cum, eff * (1.0 - 1e-12))), scores.size - 1)
        thresholds[i] = scores[order[last]]
        masks.append(scores >= thresholds[i])
    return thresholds, np.array(masks, dtype=bool).reshape(effs.size, scores.size)


def mjj_sculpting(
    mjj: np.ndarray,
    scores: np.ndarray,
    *,
    background_efficiencies: Sequence[float] = (0.5, 0.1, 0.01),
    bins: int | Sequence[float] = 50,
    weights: np.ndarray | None = None,
) -> MjjSculpting:
    """How much cuts on ``scores`` distort the (background) mjj spectrum.

    For each efficiency ``eps`` the threshold keeping the highest-scoring fraction ``eps`` of the
    (weighted) events is found, and the Jensen-Shannon divergence between the normalised mjj
    histogram of all events and that of the passing events is computed. Pass *background* events
    (e.g. a background-only sample, or the sidebands) to measure sculpting. A score independent of
    mjj gives a JSD that is zero up to the statistical fluctuations of the histograms (of order
    ``n_bins / n_pass``).

    Args:
        mjj: dijet invariant mass per event, shape ``(n,)`` (any unit).
        scores: anomaly score per event, shape ``(n,)`` (higher = more signal-like).
        background_efficiencies: fractions of the events kept by the cuts, each in ``(0, 1)``.
        bins: number of equal-width bins over the mjj range of the events, or explicit edges.
        weights: optional non-negative event weights, shape ``(n,)``.

    Returns:
        :class:`MjjSculpting` with the thresholds, JSD and 1/JSD per efficiency.

    Raises:
        DataFormatError: malformed ``mjj``/``scores``/``weights`` or fewer than 2 events.
        ConfigError: invalid ``background_efficiencies`` or ``bins``.

    References:
        Kasieczka, Shih, arXiv:2001.05310 (1/JSD at fixed background efficiency).

    Examples:
        >>> mjj = np.linspace(3.0, 4.0, 1000)
        >>> res = mjj_sculpting(mjj, mjj, background_efficiencies=[0.5], bins=10)
        >>> float(res.thresholds[0]) > 3.49, round(float(res.jsd[0]), 3)
        (True, 0.311)
    """
    mjj_v = _vector("mjj", mjj)
    n = mjj_v.shape[0]
    score_v = _vector("scores", scores, n)
    if n < 2:
        raise DataFormatError(f"mjj_sculpting needs at least 2 events, got {n}")
    effs = _efficiencies(background_efficiencies, allow_one=False)
    edges = _bin_edges(bins, mjj_v)
    w = _weights(weights, n) * n
    thresholds, masks = _thresholds(score_v, w, effs)
    before, _ = np.histogram(mjj_v, bins=edges, weights=w)
    if before.sum() <= 0:
        raise DataFormatError("mjj_sculpting: no (weighted) events inside the mjj bins")
    jsd = np.empty(effs.size)
    for i, mask in enumerate(masks):
        after, _ = np.histogram(mjj_v[mask], bins=edges, weights=w[mask])
        jsd[i] = jensen_shannon_divergence(before, after) if after.sum() > 0 else 1.0
    with np.errstate(divide="ignore"):
        inverse = np.where(jsd > 0, 1.0 / np.where(jsd > 0, jsd, 1.0), np.inf)
    achieved = np.array([w[m].sum() for m in masks]) / w.sum()
    return MjjSculpting(
        efficiencies=effs,
        thresholds=thresholds,
        achieved=achieved,
        n_pass=masks.sum(axis=1),
        jsd=jsd,
        inverse_jsd=inverse,
        bin_edges=edges,
    )
