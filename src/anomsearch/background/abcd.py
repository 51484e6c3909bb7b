r"""ABCD background estimate on two (approximately) independent observables.

Two observables ``x`` and ``y`` (e.g. an anomaly score and a second, decorrelated score, or a
score and an mjj window) are cut at ``x_cut`` and ``y_cut``. Regions, with "signal-like" meaning
at or above the cut:

====== ===================== =====================
region ``x``                  ``y``
====== ===================== =====================
A      ``x >= x_cut``         ``y >= y_cut``  (signal region: the one predicted)
B      ``x >= x_cut``         ``y <  y_cut``
C      ``x <  x_cut``         ``y >= y_cut``
D      ``x <  x_cut``         ``y <  y_cut``
====== ===================== =====================

If ``x`` and ``y`` are independent for the background, ``N_A / N_B = N_C / N_D``, so
``N_A^pred = N_B N_C / N_D``. Residual correlation is measured as the *closure* in a validation
region where no signal is expected (e.g. an mjj sideband) and taken as a relative systematic.

References:
    ABCD method: e.g. CDF Collaboration, Phys. Rev. D 44 (1991) 29; ATLAS Collaboration,
    arXiv:1811.07370; G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, arXiv:2007.14400
    (Double DisCo: automated ABCD with decorrelated classifiers); S. Choi, H. Oh,
    arXiv:2008.04958 (signal contamination in ABCD).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = [
    "ABCDClosure",
    "ABCDCounts",
    "ABCDEstimate",
    "abcd_closure",
    "abcd_counts",
    "abcd_estimate",
    "as_abcd_counts",
]

log = logging.getLogger(__name__)

_REGIONS = ("A", "B", "C", "D")


class ABCDCounts(NamedTuple):
    """(Weighted) event counts in the four ABCD regions, from :func:`abcd_counts`.

    Attributes:
        a: events (sum of weights) with ``x >= x_cut`` and ``y >= y_cut``.
        b: ``x >= x_cut`` and ``y < y_cut``.
        c: ``x < x_cut`` and ``y >= y_cut``.
        d: ``x < x_cut`` and ``y < y_cut``.
        var_a: Poisson variance of ``a`` (sum of squared weights; ``a`` when unweighted).
        var_b: likewise for ``b``.
        var_c: likewise for ``c``.
        var_d: likewise for ``d``.
    """

    a: float
    b: float
    c: float
    d: float
    var_a: float
    var_b: float
    var_c: float
    var_d: float


class ABCDEstimate(NamedTuple):
    """Result of :func:`abcd_estimate`.

    Attributes:
        predicted: predicted background in region A.
        predicted_error: its statistical uncertainty.
        observed: observed (weighted) events in A.
        excess: ``observed - predicted``.
        significance: simple significance of the excess (see :func:`abcd_estimate`).
        signal: estimated total signal yield -- with ``signal_fractions`` the ``S`` solved for
            (summed over the four regions), else the excess in A.
        signal_error: its statistical uncertainty.
        background: predicted background in ``(A, B, C, D)`` (in B, C, D the observed counts minus
            the fitted signal; equal to the observed counts without a correction).
        corrected: whether the signal-contamination correction was applied.
    """

    predicted: float
    predicted_error: float
    observed: float
    excess: float
    significance: float
    signal: float
    signal_error: float
    background: tuple[float, float, float, float]
    corrected: bool


class ABCDClosure(NamedTuple):
    """Result of :func:`abcd_closure`.

    Attributes:
        ratio: observed / predicted in region A of the validation region.
        ratio_error: statistical uncertainty of ``ratio``.
        non_closure: ``max(|1 - ratio|, ratio_error)``, a relative systematic on the prediction.
        pull: ``(ratio - 1) / ratio_error``; ``|pull| >~ 2-3`` flags significant non-closure.
        counts: the validation-region :class:`ABCDCounts`.
        estimate: the uncorrected :class:`ABCDEstimate` in the validation region.
    """

    ratio: float
    ratio_error: float
    non_closure: float
    pull: float
    counts: ABCDCounts
    estimate: ABCDEstimate


def _as_1d(name: str, v: np.ndarray, n: int | None = None) -> np.ndarray:
    a = np.asarray(v)
    if a.ndim != 1:
        raise DataFormatError(f"{name} must be a 1-d array, got shape {a.shape}")
    if n is not None and a.shape != (n,):
        raise DataFormatError(f"{name} has shape {a.shape}, expected ({n},) like x")
    return a


def abcd_counts(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_cut: float,
    y_cut: float,
    weights: np.ndarray | None = None,
) -> ABCDCounts:
    """Count (weighted) events in the ABCD regions.

    Args:
        x: first observable, one value per event.
        y: second observable, same shape as ``x``.
        x_cut: events with ``x >= x_cut`` are signal-like in ``x``.
        y_cut: events with ``y >= y_cut`` are signal-like in ``y``.
        weights: optional non-negative per-event weights, same shape as ``x``.

    Returns:
        The :class:`ABCDCounts` (``A = x >= x_cut & y >= y_cut``, ``B = x >= x_cut & y < y_cut``,
        ``C = x < x_cut & y >= y_cut``, ``D`` the rest).

    Raises:
        DataFormatError: ``x``, ``y`` or ``weights`` not 1-d, of different shapes, non-finite, or
            negative weights.
        ConfigError: non-finite cuts.

    Examples:
        >>> abcd_counts(np.array([0.1, 0.9, 0.8, 0.2]), np.array([0.9, 0.9, 0.1, 0.1]),
        ...             x_cut=0.5, y_cut=0.5)[:4]
        (1.0, 1.0, 1.0, 1.0)
    """
    xa = _as_1d("x", x).astype(float)
    ya = _as_1d("y", y, xa.size).astype(float)
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise DataFormatError("x and y must be finite")
    if not (math.isfinite(x_cut) and math.isfinite(y_cut)):
        raise ConfigError(f"x_cut and y_cut must be finite, got {x_cut=}, {y_cut=}")
    if weights is None:
        w = np.ones_like(xa)
    else:
        w = _as_1d("weights", weights, xa.size).astype(float)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise DataFormatError("weights must be finite and non-negative")
    hx = xa >= x_cut
    hy = ya >= y_cut
    masks = (hx & hy, hx & ~hy, ~hx & hy, ~hx & ~hy)
    sums = [float(w[m].sum()) for m in masks]
    sumw2 = [float((w[m] ** 2).sum()) for m in masks]
    return ABCDCounts(*sums, *sumw2)


def as_abcd_counts(counts: ABCDCounts | Sequence[float]) -> ABCDCounts:
    """``counts`` as checked :class:`ABCDCounts`: four plain numbers ``(N_A, N_B, N_C, N_D)``
    are unweighted counts (variance = count).

    Raises:
        DataFormatError: not four finite, non-negative counts (and variances).
    """
    if isinstance(counts, ABCDCounts):
        c = counts
    else:
        arr = np.asarray(counts, dtype=float)
        if arr.shape != (4,):
            raise DataFormatError(
                f"counts must be an ABCDCounts or 4 numbers (N_A, N_B, N_C, N_D), got shape "
                f"{arr.shape}"
            )
        c = ABCDCounts(*arr.tolist(), *arr.tolist())  # unweighted: variance = count
    vals = np.asarray(c, dtype=float)
    for i, region in enumerate(_REGIONS):
        if not (np.isfinite(vals[i]) and vals[i] >= 0):
            raise DataFormatError(f"region {region} count must be finite and >= 0, got {vals[i]}")
        if not (np.isfinite(vals[4 + i]) and vals[4 + i] >= 0):
            raise DataFormatError(
                f"region {region} variance must be finite and >= 0, got {vals[4 + i]}"
            )
    if c.d <= 0:
        raise DataFormatError(
            "region D (x < x_cut, y < y_cut) is empty: the ABCD prediction N_B N_C / N_D is "
            "undefined"
        )
    return c


def _simple_significance(excess: float, variance: float) -> float:
    if variance > 0:
        return excess / math.sqrt(variance)
    return 0.0 if excess == 0 else math.copysign(math.inf, excess)


def _solve_contamination(c: ABCDCounts, f: np.ndarray) -> tuple[float, np.ndarray]:
    """Signal yield ``S`` with ``(N_A - f_A S)(N_D - f_D S) = (N_B - f_B S)(N_C - f_C S)``.

    Returns ``S`` and the backgrounds ``N - f S``; picks, among the real roots that leave every
    background non-negative (D positive), the one of smallest ``|S|``.
    """
    n = np.array([c.a, c.b, c.c, c.d])
    fa, fb, fc, fd = f
    qa = fa * fd - fb * fc
    qb = -(n[0] * fd + n[3] * fa - n[1] * fc - n[2] * fb)
    qc = n[0] * n[3] - n[1] * n[2]
    scale = max(abs(qa), abs(qb), abs(qc), 1e-300)
    if abs(qa) <= 1e-14 * scale:
        roots = [] if qb == 0 else [-qc / qb]
    else:
        disc = qb * qb - 4.0 * qa * qc
        if disc < 0:
            roots = []
        else:
            # numerically stable pair of roots
            q = -0.5 * (qb + math.copysign(math.sqrt(disc), qb))
            roots = [q / qa] + ([qc / q] if q != 0 else [])
    ok = []
    for s in roots:
        bkg = n - f * s
        tol = 1e-9 * max(1.0, float(n.max()))
        if np.all(bkg >= -tol) and bkg[3] > 0:
            ok.append((abs(s), s, np.clip(bkg, 0.0, None)))
    if not ok:
        raise FitError(
            f"no signal yield makes the ABCD relation hold with non-negative backgrounds for "
            f"counts (A, B, C, D) = {tuple(n.tolist())} and signal_fractions {tuple(f.tolist())}"
        )
    _, s, bkg = min(ok, key=lambda t: t[0])
    return float(s), bkg


def abcd_estimate(
    counts: ABCDCounts | Sequence[float],
    *,
    signal_fractions: Sequence[float] | None = None,
) -> ABCDEstimate:
    r"""Predict the background in region A from B, C and D, optionally correcting for signal.

    Without ``signal_fractions``: ``P = N_B N_C / N_D``, with the first-order propagated
    statistical variance of independent Poisson (or weighted, ``var = sum w^2``) counts

    .. math::

        \sigma_P^2 = (N_C / N_D)^2 \sigma_B^2 + (N_B / N_D)^2 \sigma_C^2
                     + (N_B N_C / N_D^2)^2 \sigma_D^2

    (``sigma_P / P = sqrt(1/N_B + 1/N_C + 1/N_D)`` unweighted). The excess is ``N_A - P`` and its
    simple significance ``Z = (N_A - P) / sqrt(P + sigma_P^2)`` (Poisson variance of ``N_A``
    expected under the background-only hypothesis, plus the prediction's variance); ``signal``
    is the excess with ``signal_error = sqrt(sigma_A^2 + sigma_P^2)``.

    With ``signal_fractions = (f_A, f_B, f_C, f_D)`` -- the expected fractions of the signal in
    each region -- the counts are modelled as ``N_i = b_i + f_i S`` with ``b_A b_D = b_B b_C``.
    Four equations for four unknowns give the quadratic

    .. math::

        (f_A f_D - f_B f_C) S^2 - (N_A f_D + N_D f_A - N_B f_C - N_C f_B) S
        + (N_A N_D - N_B N_C) = 0,

    solved in closed form; among the real roots leaving all ``b_i >= 0`` (``b_D > 0``) the one
    of smallest ``|S|`` is taken (the other root is unphysically large when the contamination is
    small). Then ``P = b_A = N_A - f_A S``. Errors follow from the implicit-function theorem on
    ``g(S, N) = b_A b_D - b_B b_C = 0``: ``dS/dN = (b_D, -b_C, -b_B, b_A) / (f_A b_D + f_D b_A
    - f_B b_C - f_C b_B)``, ``db_A/dN_j = delta_{Aj} - f_A dS/dN_j``, combined with the count
    variances. Note that ``N_A`` now enters the prediction. ``signal = S`` (all four regions),
    ``excess = f_A S``, and ``significance = S / signal_error``.

    Args:
        counts: an :class:`ABCDCounts` or four counts ``(N_A, N_B, N_C, N_D)`` (then treated as
            unweighted Poisson counts).
        signal_fractions: expected signal fractions ``(f_A, f_B, f_C, f_D)``, each in
            ``[0, 1]``, summing to at most 1, with ``f_A > 0``.

    Returns:
        The :class:`ABCDEstimate`.

    Raises:
        DataFormatError: negative or non-finite counts (naming the region), an empty region D,
            or ``counts`` / ``signal_fractions`` not of length 4.
        ConfigError: invalid ``signal_fractions`` values.
        FitError: no physical solution of the contamination-corrected equations.

    References:
        arXiv:2007.14400 (ABCD with decorrelated classifiers); arXiv:2008.04958 (signal
        contamination).

    Examples:
        >>> est = abcd_estimate((130.0, 200.0, 300.0, 600.0))
        >>> est.predicted, round(est.predicted_error, 3), est.excess
        (100.0, 10.0, 30.0)
    """
    c = as_abcd_counts(counts)
    var = np.array([c.var_a, c.var_b, c.var_c, c.var_d])
    if signal_fractions is None:
        pred = c.b * c.c / c.d
        var_p = (
            (c.c / c.d) ** 2 * c.var_b
            + (c.b / c.d) ** 2 * c.var_c
            + (c.b * c.c / c.d**2) ** 2 * c.var_d
        )
        excess = c.a - pred
        signal_error = math.sqrt(c.var_a + var_p)
        result = ABCDEstimate(
            predicted=float(pred),
            predicted_error=math.sqrt(var_p),
            observed=float(c.a),
            excess=float(excess),
            significance=_simple_significance(excess, pred + var_p),
            signal=float(excess),
            signal_error=signal_error,
            background=(float(pred), float(c.b), float(c.c), float(c.d)),
            corrected=False,
        )
    else:
        f = np.asarray(signal_fractions, dtype=float)
        if f.shape != (4,):
            raise DataFormatError(
                f"signal_fractions must have 4 entries (f_A, f_B, f_C, f_D), got shape {f.shape}"
            )
        if not np.all(np.isfinite(f)) or np.any(f < 0) or np.any(f > 1):
            raise ConfigError(f"signal_fractions must lie in [0, 1], got {f.tolist()}")
        if f.sum() > 1 + 1e-9:
            raise ConfigError(f"signal_fractions must sum to at most 1, got {f.sum():.6g}")
        if f[0] <= 0:
            raise ConfigError("signal_fractions: the fraction in region A (f_A) must be > 0")
        s, bkg = _solve_contamination(c, f)
        ba, bb, bc, bd = bkg
        denom = f[0] * bd + f[3] * ba - f[1] * bc - f[2] * bb
        if denom == 0:
            raise FitError(
                "the contamination-corrected ABCD solution is degenerate (dg/dS = 0): the signal "
                "yield is not determined by these counts and signal_fractions"
            )
        ds = np.array([bd, -bc, -bb, ba]) / denom
        dba = np.array([1.0, 0.0, 0.0, 0.0]) - f[0] * ds
        var_s = float(ds**2 @ var)
        var_p = float(dba**2 @ var)
        signal_error = math.sqrt(var_s)
        result = ABCDEstimate(
            predicted=float(ba),
            predicted_error=math.sqrt(var_p),
            observed=float(c.a),
            excess=float(c.a - ba),
            significance=_simple_significance(s, var_s),
            signal=s,
            signal_error=signal_error,
            background=(float(ba), float(bb), float(bc), float(bd)),
            corrected=True,
        )
    log.info(
        "ABCD: observed %.6g in A, predicted %.6g +- %.3g (%s), excess %.3g, Z = %.2f",
        result.observed,
        result.predicted,
        result.predicted_error,
        "signal-corrected" if result.corrected else "uncorrected",
        result.excess,
        result.significance,
    )
    return result


def abcd_closure(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_cut: float,
    y_cut: float,
    validation_mask: np.ndarray,
    weights: np.ndarray | None = None,
) -> ABCDClosure:
    r"""Closure of the ABCD prediction in a validation region (no signal expected there).

    With ``r = N_A / P`` in the events selected by ``validation_mask``, the statistical error is

    .. math::

        \sigma_r = \sqrt{\sigma_A^2 + r^2 \sigma_P^2} / P,

    and the relative systematic on the signal-region prediction is
    ``non_closure = max(|1 - r|, sigma_r)`` -- the observed non-closure, but never less than the
    precision with which closure could be tested.

    Args:
        x: first observable, one value per event.
        y: second observable, same shape.
        x_cut: cut on ``x`` (as in :func:`abcd_counts`).
        y_cut: cut on ``y``.
        validation_mask: boolean array, same shape as ``x``, selecting the validation region
            (e.g. an mjj sideband).
        weights: optional non-negative per-event weights.

    Returns:
        The :class:`ABCDClosure`.

    Raises:
        DataFormatError: malformed inputs (naming the argument), an empty region D in the
            validation region, or no predicted events in its region A (``N_B N_C = 0``).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> x, y, m = rng.uniform(size=(3, 40_000))
        >>> cl = abcd_closure(x, y, x_cut=0.8, y_cut=0.8, validation_mask=m < 0.5)
        >>> bool(abs(cl.pull) < 3), bool(cl.non_closure >= cl.ratio_error)
        (True, True)
    """
    xa = _as_1d("x", x)
    mask = _as_1d("validation_mask", validation_mask, xa.size)
    if mask.dtype != bool:
        raise DataFormatError(f"validation_mask must be a boolean array, got dtype {mask.dtype}")
    ya = _as_1d("y", y, xa.size)
    w = None if weights is None else _as_1d("weights", weights, xa.size)[mask]
    counts = abcd_counts(xa[mask], ya[mask], x_cut=x_cut, y_cut=y_cut, weights=w)
    est = abcd_estimate(counts)
    if est.predicted <= 0:
        raise DataFormatError(
            "validation region: predicted A count N_B N_C / N_D is 0 (region B or C empty); "
            "closure cannot be measured"
        )
    ratio = counts.a / est.predicted
    ratio_error = math.sqrt(counts.var_a + ratio**2 * est.predicted_error**2) / est.predicted
    non_closure = max(abs(1.0 - ratio), ratio_error)
    pull = _simple_significance(ratio - 1.0, ratio_error**2)
    log.info(
        "ABCD closure in the validation region: observed/predicted = %.4f +- %.4f "
        "(non-closure %.4f)",
        ratio,
        ratio_error,
        non_closure,
    )
    return ABCDClosure(
        ratio=float(ratio),
        ratio_error=float(ratio_error),
        non_closure=float(non_closure),
        pull=float(pull),
        counts=counts,
        estimate=est,
    )
