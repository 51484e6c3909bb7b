r"""BumpHunter: the most significant excess over contiguous bin windows and its global p-value.

Given observed counts ``d_i`` and a background expectation ``b_i`` in ``N`` bins (e.g. an mjj
spectrum and its sideband fit), every window of contiguous bins ``[lo, hi)`` with a width between
``min_width`` and ``max_width`` is tested for an *excess*. With ``D = sum d_i`` and
``B = sum b_i`` over the window, the local p-value is the Poisson probability of at least ``D``
events,

.. math::

    p(D, B) = P(n \ge D \mid B) = \frac{\gamma(D, B)}{\Gamma(D)}
            \quad (D > B), \qquad p = 1 \quad (D \le B),

(the regularised lower incomplete gamma function, :func:`scipy.special.gammainc`); deficits are
not bumps. The test statistic is ``t = -ln(p_min)`` with ``p_min`` the smallest local p-value
over all windows. Its distribution under the background-only hypothesis -- and hence the global
p-value, which accounts for the look-elsewhere effect of scanning many windows -- is obtained
from Poisson pseudo-experiments around ``b``.

References:
    G. Choudalakis, "On hypothesis testing, trials factor, hypertests and the BumpHunter",
    arXiv:1101.0390.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy.special import gammainc
from scipy.stats import norm

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "BumpHunterResult",
    "BumpHunterScan",
    "bumphunter_global_pvalue",
    "bumphunter_statistic",
]

log = logging.getLogger(__name__)

_CHUNK = 512  # pseudo-experiments scanned at once (bounds the memory of the vectorised scan)


class BumpHunterScan(NamedTuple):
    """Result of :func:`bumphunter_statistic`.

    Attributes:
        widths: the scanned window widths (in bins), ascending, shape ``(n_widths,)``.
        local_pvalues: local p-value of the window of width ``widths[k]`` starting at bin ``lo``
            in ``local_pvalues[k, lo]``, shape ``(n_widths, n_bins)``; ``NaN`` where the window
            would run past the last bin (``lo + widths[k] > n_bins``).
        lo: first bin of the most significant window.
        hi: one past its last bin (the window is ``observed[lo:hi]``).
        observed_in_window: observed events in the most significant window.
        expected_in_window: expected events in the most significant window.
        pvalue: its local p-value ``p_min``.
        t: the test statistic ``-ln(p_min)`` (``inf`` if ``p_min == 0``).
    """

    widths: np.ndarray
    local_pvalues: np.ndarray
    lo: int
    hi: int
    observed_in_window: float
    expected_in_window: float
    pvalue: float
    t: float


class BumpHunterResult(NamedTuple):
    """Result of :func:`bumphunter_global_pvalue`.

    Attributes:
        scan: the :class:`BumpHunterScan` of the observed data.
        t_observed: the observed test statistic ``scan.t``.
        global_pvalue: fraction of background-only pseudo-experiments with ``t >= t_observed``.
        global_pvalue_error: its binomial error ``sqrt(p (1 - p) / n_pseudo)``.
        local_significance: ``norm.isf(scan.pvalue)`` (one-sided Gaussian equivalent).
        global_significance: ``norm.isf(global_pvalue)``, with the p-value floored at
            ``1 / (n_pseudo + 1)`` (see ``global_significance_is_lower_bound``).
        global_significance_is_lower_bound: ``True`` if no pseudo-experiment reached
            ``t_observed``; then ``global_pvalue`` is 0, the true p-value is below about
            ``1 / n_pseudo`` and ``global_significance`` is only a lower bound.
        pseudo_t: the test statistic of each pseudo-experiment, shape ``(n_pseudo,)``.
    """

    scan: BumpHunterScan
    t_observed: float
    global_pvalue: float
    global_pvalue_error: float
    local_significance: float
    global_significance: float
    global_significance_is_lower_bound: bool
    pseudo_t: np.ndarray


def _check_spectra(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(observed, dtype=float)
    b = np.asarray(expected, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise DataFormatError(f"observed must be a non-empty 1-d array, got shape {d.shape}")
    if b.shape != d.shape:
        raise DataFormatError(f"expected has shape {b.shape}, expected {d.shape} like observed")
    for name, a in (("observed", d), ("expected", b)):
        if not np.all(np.isfinite(a)):
            raise DataFormatError(f"{name} must be finite")
        if np.any(a < 0):
            raise DataFormatError(f"{name} must be non-negative, got minimum {a.min():.6g}")
    return d, b


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_widths(n_bins: int, min_width: int, max_width: int | None) -> np.ndarray:
    if not _is_int(min_width) or min_width < 1:
        raise ConfigError(f"min_width must be an integer >= 1, got {min_width!r}")
    if max_width is None:
        max_width = max(1, n_bins // 2)
        if min_width > max_width:
            raise ConfigError(
                f"min_width = {min_width} exceeds the default max_width = {max_width} (half of "
                f"the {n_bins} bins); pass max_width explicitly"
            )
    elif not _is_int(max_width) or not min_width <= max_width <= n_bins:
        raise ConfigError(
            f"max_width must be an integer in [min_width, n_bins] = [{min_width}, {n_bins}], got "
            f"{max_width!r}"
        )
    return np.arange(int(min_width), int(max_width) + 1)


def _window_pvalues(d_sum: np.ndarray, b_sum: np.ndarray) -> np.ndarray:
    """Poisson ``P(n >= D | B)`` for an excess ``D > B``, 1 otherwise (elementwise)."""
    excess = d_sum > b_sum
    # gammainc(D, B) with D > B >= 0, D > 0: finite; B == 0 gives exactly 0.
    p = gammainc(np.where(excess, d_sum, 1.0), np.where(excess, b_sum, 0.0))
    return np.where(excess, p, 1.0)


def _min_pvalues(d: np.ndarray, cum_b: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Smallest local p-value over all windows of each row of ``d`` (shape ``(m, n_bins)``)."""
    cum_d = np.concatenate([np.zeros((d.shape[0], 1)), np.cumsum(d, axis=1)], axis=1)
    p_min = np.ones(d.shape[0])
    for w in widths:
        b_sum = np.maximum(cum_b[w:] - cum_b[:-w], 0.0)
        d_sum = cum_d[:, w:] - cum_d[:, :-w]
        p_min = np.minimum(p_min, _window_pvalues(d_sum, b_sum[None, :]).min(axis=1))
    return p_min


def _neg_log(p: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -np.log(p)


def bumphunter_statistic(
    observed: np.ndarray,
    expected: np.ndarray,
    *,
    min_width: int = 1,
    max_width: int | None = None,
) -> BumpHunterScan:
    r"""Scan all windows of contiguous bins for the most significant excess.

    For every width ``w`` in ``[min_width, max_width]`` and every start bin ``lo``, the window
    sums ``D`` and ``B`` come from cumulative sums of ``observed`` and ``expected`` (one
    vectorised pass per width), and the local p-value is ``gammainc(D, B) = P(n >= D | B)`` if
    ``D > B``, else 1 (deficits and exact agreement are not bumps). Edge cases:

    * ``D = 0``: never an excess (``B >= 0``), so ``p = 1``.
    * ``B = 0`` and ``D > 0``: the excess is impossible under the background, ``p = 0`` and
      ``t = inf``. Likewise, ``p`` underflows to 0 (``t = inf``) for extreme excesses
      (``p < ~1e-308``).
    * Non-integer ``observed`` (weighted counts) use the continuous extension ``gammainc(D, B)``.

    The most significant window is the one with the smallest p-value; ties go to the smallest
    width, then to the lowest ``lo`` (so with no excess anywhere it is the first window of width
    ``min_width``, with ``p = 1`` and ``t = 0``).

    Args:
        observed: observed counts per bin, 1-d, finite and non-negative.
        expected: background expectation per bin, same shape, finite and non-negative.
        min_width: smallest window width in bins (>= 1).
        max_width: largest window width in bins, in ``[min_width, n_bins]``; default half the
            number of bins (at least 1).

    Returns:
        The :class:`BumpHunterScan`.

    Raises:
        DataFormatError: ``observed`` / ``expected`` not 1-d, empty, of different shapes,
            negative or non-finite.
        ConfigError: invalid ``min_width`` or ``max_width``.

    References:
        G. Choudalakis, arXiv:1101.0390, sections 3-4 (BumpHunter test statistic).

    Examples:
        >>> scan = bumphunter_statistic(np.array([1.0, 2.0, 9.0, 2.0, 1.0]), np.full(5, 2.0))
        >>> scan.lo, scan.hi, scan.observed_in_window, scan.expected_in_window
        (2, 3, 9.0, 2.0)
        >>> round(scan.pvalue, 6), round(scan.t, 3)
        (0.000237, 8.346)
    """
    d, b = _check_spectra(observed, expected)
    n = d.size
    widths = _check_widths(n, min_width, max_width)
    cum_d = np.concatenate([[0.0], np.cumsum(d)])
    cum_b = np.concatenate([[0.0], np.cumsum(b)])
    pvals = np.full((widths.size, n), np.nan)
    for k, w in enumerate(widths):
        d_sum = cum_d[w:] - cum_d[:-w]
        b_sum = np.maximum(cum_b[w:] - cum_b[:-w], 0.0)
        pvals[k, : n - w + 1] = _window_pvalues(d_sum, b_sum)
    k_best, lo = np.unravel_index(np.nanargmin(pvals), pvals.shape)
    w_best = int(widths[k_best])
    lo = int(lo)
    hi = lo + w_best
    p_min = float(pvals[k_best, lo])
    t = float(_neg_log(p_min))
    log.debug(
        "BumpHunter scan: most significant window [%d, %d) with %.6g observed vs %.6g expected, "
        "p = %.3g, t = %.3f",
        lo,
        hi,
        cum_d[hi] - cum_d[lo],
        cum_b[hi] - cum_b[lo],
        p_min,
        t,
    )
    return BumpHunterScan(
        widths=widths,
        local_pvalues=pvals,
        lo=lo,
        hi=hi,
        observed_in_window=float(d[lo:hi].sum()),
        expected_in_window=float(b[lo:hi].sum()),
        pvalue=p_min,
        t=t,
    )


def bumphunter_global_pvalue(
    observed: np.ndarray,
    expected: np.ndarray,
    *,
    n_pseudo: int = 1000,
    seed: int,
    min_width: int = 1,
    max_width: int | None = None,
    expected_uncertainty: float | np.ndarray | None = None,
) -> BumpHunterResult:
    r"""Global p-value of the BumpHunter statistic from background-only pseudo-experiments.

    Each pseudo-experiment draws ``n_i ~ Poisson(b_i)`` in every bin, where ``b_i`` is
    ``expected`` or -- with ``expected_uncertainty`` ``sigma_i`` -- a smeared expectation
    ``b_i' = max(0, b_i + sigma_i z_i)``, ``z_i ~ N(0, 1)`` independently per bin and
    pseudo-experiment (a Gaussian prior truncated at 0). The pseudo-data are then scanned
    against the *nominal* ``expected`` exactly as the observed data (:func:`bumphunter_statistic`
    with the same widths), giving ``t_j``. The global p-value is the fraction with
    ``t_j >= t_obs``, ``p = k / n_pseudo``, with binomial error ``sqrt(p (1 - p) / n_pseudo)``.

    Significances are one-sided Gaussian equivalents, ``Z = norm.isf(p)`` (``inf`` for
    ``p = 0``, ``-inf`` for ``p = 1``). If no pseudo-experiment reaches ``t_obs`` (``k = 0``),
    ``global_pvalue`` is reported as 0 but the global significance is computed from
    ``1 / (n_pseudo + 1)`` and is only a lower bound (``global_significance_is_lower_bound``);
    more pseudo-experiments are needed to quote it.

    Args:
        observed: observed counts per bin, 1-d, finite and non-negative.
        expected: background expectation per bin, same shape, finite and non-negative.
        n_pseudo: number of pseudo-experiments (>= 1).
        seed: seed of the pseudo-experiments.
        min_width: smallest window width in bins (>= 1).
        max_width: largest window width in bins; default half the number of bins.
        expected_uncertainty: optional absolute Gaussian uncertainty of ``expected``, a scalar
            or one value per bin, finite and non-negative.

    Returns:
        The :class:`BumpHunterResult`.

    Raises:
        DataFormatError: invalid ``observed``, ``expected`` or ``expected_uncertainty`` (shape,
            sign, finiteness).
        ConfigError: invalid ``n_pseudo``, ``seed``, ``min_width`` or ``max_width``.

    References:
        G. Choudalakis, arXiv:1101.0390, section 2 (global p-value, trials factor) and 4.

    Examples:
        >>> res = bumphunter_global_pvalue(np.array([1.0, 2.0, 9.0, 2.0, 1.0]), np.full(5, 2.0),
        ...                                n_pseudo=500, seed=1)
        >>> res.global_pvalue > res.scan.pvalue
        True
    """
    d, b = _check_spectra(observed, expected)
    widths = _check_widths(d.size, min_width, max_width)
    if not _is_int(n_pseudo) or n_pseudo < 1:
        raise ConfigError(f"n_pseudo must be an integer >= 1, got {n_pseudo!r}")
    if not _is_int(seed):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    sigma: np.ndarray | None = None
    if expected_uncertainty is not None:
        s = np.asarray(expected_uncertainty, dtype=float)
        if s.ndim > 1 or (s.ndim == 1 and s.shape != d.shape):
            raise DataFormatError(
                f"expected_uncertainty must be a scalar or have shape {d.shape} like observed, "
                f"got shape {s.shape}"
            )
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise DataFormatError("expected_uncertainty must be finite and non-negative")
        sigma = np.broadcast_to(s, d.shape)
    scan = bumphunter_statistic(d, b, min_width=min_width, max_width=max_width)
    rng = np.random.default_rng(seed)
    cum_b = np.concatenate([[0.0], np.cumsum(b)])
    pseudo_t = np.empty(n_pseudo)
    for start in range(0, n_pseudo, _CHUNK):
        m = min(_CHUNK, n_pseudo - start)
        mean = np.broadcast_to(b, (m, d.size))
        if sigma is not None:
            mean = np.maximum(mean + sigma * rng.standard_normal((m, d.size)), 0.0)
        pseudo = rng.poisson(mean).astype(float)
        pseudo_t[start : start + m] = _neg_log(_min_pvalues(pseudo, cum_b, widths))
    k = int(np.count_nonzero(pseudo_t >= scan.t))
    p_glob = k / n_pseudo
    p_err = math.sqrt(p_glob * (1.0 - p_glob) / n_pseudo)
    lower_bound = k == 0
    z_glob = float(norm.isf(max(p_glob, 1.0 / (n_pseudo + 1))))
    z_loc = float(norm.isf(scan.pvalue))
    log.info(
        "BumpHunter: window [%d, %d), local p = %.3g (Z = %.2f), global p = %.3g +- %.2g "
        "(Z %s %.2f) from %d pseudo-experiments",
        scan.lo,
        scan.hi,
        scan.pvalue,
        z_loc,
        p_glob,
        p_err,
        ">=" if lower_bound else "=",
        z_glob,
        n_pseudo,
    )
    return BumpHunterResult(
        scan=scan,
        t_observed=scan.t,
        global_pvalue=p_glob,
        global_pvalue_error=p_err,
        local_significance=z_loc,
        global_significance=z_glob,
        global_significance_is_lower_bound=lower_bound,
        pseudo_t=pseudo_t,
    )
