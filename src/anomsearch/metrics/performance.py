"""Classifier figures of merit: ROC curve, AUC, rejection, significance improvement, bootstrap.

The SIC of a cut is ``eps_S / sqrt(eps_B)`` (``tpr / sqrt(fpr)``): the factor by which the cut
multiplies the naive significance ``S / sqrt(B)``. Its maximum over cuts is the headline number of
the LHC Olympics anomaly-detection benchmarks. Implemented with numpy only; tied scores are one
threshold (the ROC curve goes diagonally across a tie, so a tie counts half, as in the Mann-Whitney
statistic).

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (significance
    improvement of a cut on the CWoLa classifier).
    A. Hallin et al., arXiv:2109.00546 (rejection ``1/eps_B`` and SIC versus ``eps_S`` as the
    figures of merit of the LHCO R&D benchmark).
    B. Efron, "Bootstrap Methods: Another Look at the Jackknife", Ann. Statist. 7 (1979) 1
    (bootstrap resampling).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_MIN_BACKGROUND",
    "BootstrapResult",
    "MaxSic",
    "RocCurve",
    "SicCurve",
    "auc",
    "bootstrap",
    "max_sic",
    "rejection_at_efficiency",
    "roc_curve",
    "sic_curve",
]

log = logging.getLogger(__name__)

#: Default minimum number of (unweighted) background events passing a cut in :func:`max_sic`.
DEFAULT_MIN_BACKGROUND = 20


class RocCurve(NamedTuple):
    """ROC curve; point ``i`` selects the events with ``score >= thresholds[i]``.

    Attributes:
        fpr: background efficiency, increasing from 0 to 1.
        tpr: signal efficiency, increasing from 0 to 1.
        thresholds: decreasing distinct scores, starting with ``+inf`` (nothing selected).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


class SicCurve(NamedTuple):
    """SIC curve over the ROC points with ``fpr > 0``.

    Attributes:
        fpr: background efficiency (> 0).
        tpr: signal efficiency.
        sic: ``tpr / sqrt(fpr)``.
        thresholds: the score cut of each point.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    sic: np.ndarray
    thresholds: np.ndarray


class MaxSic(NamedTuple):
    """Best cut of a SIC curve.

    Attributes:
        sic: maximum of ``tpr / sqrt(fpr)`` over the allowed cuts.
        tpr: signal efficiency at the maximum.
        fpr: background efficiency at the maximum.
        threshold: score cut (``score >= threshold``) at the maximum.
    """

    sic: float
    tpr: float
    fpr: float
    threshold: float


class BootstrapResult(NamedTuple):
    """A metric with its bootstrap uncertainty (see :func:`bootstrap`).

    Attributes:
        value: the metric on the full sample.
        error: standard deviation (``ddof=1``) of the bootstrap samples; ``nan`` if a sample is
            not finite.
        samples: the metric on each resampled sample, float64 ``(n_bootstrap,)``.
    """

    value: float
    error: float
    samples: np.ndarray


def _prepare(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    lab = np.asarray(labels)
    if s.ndim != 1:
        raise DataFormatError(f"scores must be one-dimensional, got shape {s.shape}")
    if lab.shape != s.shape:
        raise DataFormatError(f"labels must have shape {s.shape}, got {lab.shape}")
    if not np.all(np.isfinite(s)):
        raise DataFormatError("scores contain non-finite values")
    if not np.all(np.isin(lab, (0, 1))):
        raise DataFormatError("labels must contain only 0 (background) and 1 (signal)")
    lab = lab.astype(bool)
    if weights is None:
        w = np.ones_like(s)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != s.shape:
            raise DataFormatError(f"weights must have shape {s.shape}, got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise DataFormatError("weights must be finite and non-negative")
    if not (w[lab].sum() > 0 and w[~lab].sum() > 0):
        raise DataFormatError("need signal (label 1) and background (label 0) with non-zero weight")
    return s, lab, w


def roc_curve(
    scores: np.ndarray, labels: np.ndarray, *, weights: np.ndarray | None = None
) -> RocCurve:
    """ROC curve of ``scores`` (higher = more signal-like) for 0/1 ``labels``.

    Every distinct score is a threshold; tied events enter together. All points are kept (no
    thinning), plus the origin at threshold ``+inf``.

    Args:
        scores: one score per event.
        labels: 1 signal, 0 background.
        weights: optional non-negative event weights.

    Returns:
        :class:`RocCurve` ``(fpr, tpr, thresholds)``.

    Raises:
        DataFormatError: mismatched shapes, non-finite scores, labels other than 0/1, or a class
            missing.

    Examples:
        >>> fpr, tpr, thr = roc_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        >>> fpr.tolist(), tpr.tolist(), thr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
        >>> roc_curve(np.array([1.0, 1.0, 0.0]), np.array([1, 0, 0])).fpr.tolist()
        [0.0, 0.5, 1.0]
    """
    s, lab, w = _prepare(scores, labels, weights)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    tp = np.cumsum(np.where(lab, w, 0.0)[order])
    fp = np.cumsum(np.where(lab, 0.0, w)[order])
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    tp = np.r_[0.0, tp[last]]
    fp = np.r_[0.0, fp[last]]
    return RocCurve(fpr=fp / fp[-1], tpr=tp / tp[-1], thresholds=np.r_[np.inf, s_sorted[last]])


def auc(scores: np.ndarray, labels: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve (probability that a signal event outscores a background event).

    Ties count one half.

    Examples:
        >>> auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        0.75
        >>> auc(np.array([1.0, 1.0]), np.array([0, 1]))
        0.5
    """
    fpr, tpr, _ = roc_curve(scores, labels, weights=weights)
    return float(np.trapezoid(tpr, fpr))


def sic_curve(
    scores: np.ndarray, labels: np.ndarray, *, weights: np.ndarray | None = None
) -> SicCurve:
    """SIC ``tpr / sqrt(fpr)`` at every ROC point with ``fpr > 0``.

    Examples:
        >>> c = sic_curve(np.array([4.0, 3.0, 2.0, 1.0]), np.array([1, 0, 1, 0]))
        >>> c.fpr.tolist(), c.tpr.tolist(), np.round(c.sic, 4).tolist()
        ([0.5, 0.5, 1.0], [0.5, 1.0, 1.0], [0.7071, 1.4142, 1.0])
    """
    fpr, tpr, thr = roc_curve(scores, labels, weights=weights)
    keep = fpr > 0
    fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
    return SicCurve(fpr=fpr, tpr=tpr, sic=tpr / np.sqrt(fpr), thresholds=thr)


def max_sic(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    min_fpr: float | None = None,
    min_background: int = DEFAULT_MIN_BACKGROUND,
) -> MaxSic:
    """Maximum SIC over cuts that keep a statistically meaningful background efficiency.

    At very tight cuts ``fpr`` is estimated from a handful of background events and
    ``tpr / sqrt(fpr)`` is dominated by their Poisson fluctuation (with one surviving background
    event the SIC of a small sample can be made arbitrarily large). Only cuts with
    ``fpr >= min_fpr`` are considered. By default ``min_fpr = min_background / n_background`` with
    ``min_background = 20``: at least 20 background events (unweighted count) pass, so ``fpr`` is
    known to about ``1/sqrt(20) ~ 22%`` and the SIC to about 11%. Pass ``min_fpr`` explicitly to
    reproduce a published floor (a fixed ``fpr`` cut).

    Args:
        scores: one score per event.
        labels: 1 signal, 0 background.
        weights: optional non-negative event weights.
        min_fpr: smallest allowed background efficiency; overrides ``min_background``.
        min_background: minimum number of background events passing the cut when ``min_fpr`` is
            not given (the floor is capped at ``fpr = 1``).

    Returns:
        :class:`MaxSic` ``(sic, tpr, fpr, threshold)``.

    Raises:
        ConfigError: ``min_fpr`` outside ``(0, 1]`` or ``min_background < 1``.
        DataFormatError: invalid inputs (see :func:`roc_curve`).

    Examples:
        >>> s, y = np.array([4.0, 3.0, 2.0, 1.0]), np.array([1, 0, 1, 0])
        >>> best = max_sic(s, y, min_fpr=0.5)
        >>> round(best.sic, 4), best.tpr, best.fpr, best.threshold
        (1.4142, 1.0, 0.5, 2.0)
        >>> max_sic(s, y, min_fpr=0.75).sic
        1.0
    """
    s, lab, w = _prepare(scores, labels, weights)
    if min_fpr is None:
        if int(min_background) < 1:
            raise ConfigError(f"min_background must be >= 1, got {min_background}")
        n_bkg = int((~lab).sum())
        min_fpr = min(1.0, int(min_background) / n_bkg)
    elif not 0.0 < float(min_fpr) <= 1.0:
        raise ConfigError(f"min_fpr must be in (0, 1], got {min_fpr}")
    curve = sic_curve(s, lab.astype(np.int8), weights=w)
    # tolerance: fpr is a ratio of sums; a cut with exactly min_fpr must not be lost to rounding
    ok = curve.fpr >= float(min_fpr) * (1.0 - 1e-12)
    i = int(np.argmax(np.where(ok, curve.sic, -np.inf)))
    return MaxSic(
        sic=float(curve.sic[i]),
        tpr=float(curve.tpr[i]),
        fpr=float(curve.fpr[i]),
        threshold=float(curve.thresholds[i]),
    )


def rejection_at_efficiency(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    signal_efficiency: float,
    weights: np.ndarray | None = None,
) -> float:
    """Background rejection ``1 / fpr`` at a given signal efficiency (``tpr``).

    The ROC curve is read as the path through its points (:func:`roc_curve`) with straight
    segments between them: a segment between two thresholds is the cut that keeps the looser
    threshold's extra events with a probability (a randomised cut), and a tie is crossed
    diagonally. ``fpr`` at ``tpr = signal_efficiency`` is the smallest background efficiency on
    that path, linearly interpolated on the segment that first reaches the target efficiency.
    Where no background passes at that efficiency the rejection is ``inf``.

    Args:
        scores: one score per event (higher = signal-like).
        labels: 1 signal, 0 background.
        signal_efficiency: target signal efficiency in ``(0, 1]``.
        weights: optional non-negative event weights.

    Returns:
        ``1 / fpr`` (``>= 1``, or ``inf``).

    Raises:
        ConfigError: ``signal_efficiency`` outside ``(0, 1]``.
        DataFormatError: invalid inputs (see :func:`roc_curve`).

    Examples:
        >>> s, y = np.array([0.9, 0.7, 0.6, 0.3, 0.2]), np.array([1, 0, 1, 0, 0])
        >>> rejection_at_efficiency(s, y, signal_efficiency=1.0)
        3.0
        >>> rejection_at_efficiency(s, y, signal_efficiency=0.5)
        inf
        >>> s, y = np.array([2.0, 1.0, 1.0, 1.0, 0.0]), np.array([1, 1, 0, 0, 0])
        >>> rejection_at_efficiency(s, y, signal_efficiency=0.75)  # halfway across the tie
        3.0
    """
    eff = float(signal_efficiency)
    if not 0.0 < eff <= 1.0:
        raise ConfigError(f"signal_efficiency must be in (0, 1], got {signal_efficiency!r}")
    fpr, tpr, _ = roc_curve(scores, labels, weights=weights)
    # first point reaching the target (a tolerance so that tpr = 1 is found despite rounding)
    i = min(int(np.searchsorted(tpr, eff * (1.0 - 1e-12), side="left")), tpr.size - 1)
    if i == 0 or tpr[i] <= eff:
        f = float(fpr[i])
    else:
        t0, t1, f0, f1 = tpr[i - 1], tpr[i], fpr[i - 1], fpr[i]
        f = float(f0 + (f1 - f0) * (eff - t0) / (t1 - t0))
    return math.inf if f <= 0.0 else 1.0 / f


def bootstrap(
    metric: Callable[[np.ndarray, np.ndarray], float],
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    n_bootstrap: int = 100,
    seed: int,
) -> BootstrapResult:
    """Bootstrap uncertainty of a metric of ``(scores, labels)``.

    The events are resampled with replacement ``n_bootstrap`` times, separately within the
    signal and within the background (so each resample keeps the numbers of signal and
    background events, and every resample has both classes), and ``metric`` is evaluated on each
    resample. The error is the standard deviation of these values; it estimates the statistical
    uncertainty of the metric due to the finite evaluation sample and shrinks as
    ``1 / sqrt(n_events)``.

    Args:
        metric: ``metric(scores, labels) -> float``, e.g. :func:`auc`, or
            ``lambda s, y: max_sic(s, y).sic``.
        scores: one score per event.
        labels: 1 signal, 0 background.
        n_bootstrap: number of resamples, at least 2.
        seed: seed of the resampling.

    Returns:
        :class:`BootstrapResult` ``(value, error, samples)``.

    Raises:
        ConfigError: ``n_bootstrap < 2``, or ``metric`` does not return a number.
        DataFormatError: invalid inputs (see :func:`roc_curve`).

    Examples:
        >>> s, y = np.array([0.9, 0.7, 0.6, 0.3, 0.2, 0.1]), np.array([1, 0, 1, 0, 1, 0])
        >>> res = bootstrap(auc, s, y, n_bootstrap=50, seed=1)
        >>> round(res.value, 4), res.samples.shape, bool(res.error > 0)
        (0.6667, (50,), True)
    """
    if isinstance(n_bootstrap, bool) or int(n_bootstrap) != n_bootstrap or n_bootstrap < 2:
        raise ConfigError(f"n_bootstrap must be an integer >= 2, got {n_bootstrap!r}")
    s, lab, _ = _prepare(scores, labels, None)
    y = lab.astype(np.int8)

    def evaluate(sc: np.ndarray, yy: np.ndarray) -> float:
        value = metric(sc, yy)
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"bootstrap: metric must return a number, got {type(value).__name__} (wrap it, "
                "e.g. lambda s, y: max_sic(s, y).sic)"
            ) from exc

    value = evaluate(s, y)
    rng = np.random.default_rng(seed)
    sig, bkg = np.flatnonzero(lab), np.flatnonzero(~lab)
    samples = np.empty(int(n_bootstrap), dtype=np.float64)
    for b in range(samples.size):
        idx = np.concatenate(
            [sig[rng.integers(0, sig.size, sig.size)], bkg[rng.integers(0, bkg.size, bkg.size)]]
        )
        samples[b] = evaluate(s[idx], y[idx])
    if np.all(np.isfinite(samples)):
        error = float(np.std(samples, ddof=1))
    else:
        log.warning(
            "bootstrap: %d of %d resamples gave a non-finite metric; error set to nan",
            int(np.count_nonzero(~np.isfinite(samples))),
            samples.size,
        )
        error = math.nan
    return BootstrapResult(value=value, error=error, samples=samples)
