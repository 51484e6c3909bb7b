"""Daughter-jet masses of a resonance from the sideband-subtracted jet-mass spectra.

For the background, the jet masses are (to a good approximation) independent of mjj, so the
jet-mass distribution of the *selected* sideband events, normalised to the background predicted in
the signal region by the bump hunt, is the background expectation of the jet-mass distribution of
the selected SR events. The difference, per jet-mass bin,

.. math:: d_i = n^{SR}_i - r\\, n^{SB}_i, \\qquad r = N_B^{SR} / N^{SB},

is the signal's jet-mass spectrum (plus fluctuations). Its peak is located by least-squares fits
using the full covariance of ``d``: the Poisson variances of both terms, ``n^{SR}_i + r^2
n^{SB}_i`` on the diagonal (floored at ``1 + r^2`` so empty bins keep a finite weight), plus the
fully correlated uncertainty of the normalisation ``(sigma_{N_B} / N^{SB})^2 n^{SB}_i n^{SB}_j``.
A Gaussian over every bin (with zero background: the background has been subtracted), started
at the most significant three-bin excess with a width of two bins, finds the peak; the daughter
mass and its error then come from a fit within three of its widths of the peak (at least
:data:`MIN_WINDOW_BINS` bins):

* ``peak_shape="gaussexp"`` (the default): a Gaussian core with exponential tails on both sides
  (:func:`gaussexp_cdf`), whose mean is the mode. A jet-mass peak is skewed: the underlying
  event and initial-state radiation inside a large-R jet add mass, most visibly to light
  daughters. On the package's Pythia W' -> X(500) Y(100) the lighter jet's mass rises sharply at
  ~97 GeV and falls slowly above 110 GeV: a Gaussian fit puts that peak at 108.5 GeV with a
  scatter over samples of 100-1000 events two to four times its error, the exponential tails
  put it at 103.1 GeV with errors that match the scatter. The fit starts at the first fit's
  mean and at the window's largest excess and keeps the better minimum (a skewed peak can hold
  two), and takes the mode's error from MINOS (the tails often end at a limit, where HESSE
  underestimates it). Its width is half the central 68% interval of the fitted shape.
* ``peak_shape="gaussian"``: a Gaussian plus a linear pedestal (``pedestal=False``: the
  Gaussian over all bins alone), the estimator before the tails. The pedestal absorbs a broad
  component under the peak (badly reconstructed signal jets, the other daughter's jet when the
  mass ordering swaps: on the toy generator, whose signal jets are 40% QCD-like, Y came out at
  91 instead of 100 GeV without it).
* ``peak_shape="auto"``: both, keeping the one with the lower chi2 (five parameters each).
  Not the default: the two models put a skewed peak at different places (the Pythia light
  daughter's at 103.1 and 108.6 GeV), the jet-mass response the answer inverts is calibrated
  with one of them, and at ~100 signal events the chi2 difference is noise ("auto" took the
  pedestal in 10 of 17 of the package's Pythia boxes with 300 injected events).

The events of the peak (``n_excess``, the evidence the black-box answer tests) are the
Gaussian's of the Gaussian + pedestal fit whichever model gives the mass (their error at least
the amplitude's with the peak's mean and width fixed, which a fit ending at the width's lower
limit can undercut by orders of magnitude): the tails model counts
a broad excess around a narrow fluctuation as the peak's. With the tails' amplitude, 6 of the
20 jet-mass fits in the package's nine q* boxes and its null box (no daughters) passed the
answer's daughter tests (excesses of 3.1-4.3 sigma), the claimed q* box among them; with the
pedestal's (1.0-3.0 sigma there) none did, at the cost of 3 of 116 true daughters in the
package's 60 Pythia W' boxes.

With a few hundred signal events under the peak, the tails of a skewed peak are hardly
constrained and its fitted mode moves towards the mean: on the package's Pythia W' the light
daughter's peak is +1.6 +- 0.3 GeV (0.5 of its error) higher on samples of 100 signal events
than on 20k, at most 0.4 GeV from 200 on (``python benchmarks/jet_mass_response.py
--subsample-sizes 100 200 400 1000``), and +2.4 +- 0.9 GeV in the Pythia boxes with 300 injected
events behind their subtracted background. A stated bias, not corrected: it depends on the
peak's skewness.

Units: those of the inputs (TeV in anomsearch).

References:
    G. Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320 (black-box answers with
    daughter masses); J. H. Collins, K. Howe, B. Nachman, arXiv:1902.02634 (CWoLa hunting: jet
    masses of the selected events in the signal region reveal the daughters).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from iminuit import Minuit
from scipy.special import ndtr

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "PEAK_SHAPES",
    "DaughterMass",
    "daughter_mass_bins",
    "estimate_daughter_masses",
    "gaussexp_cdf",
    "subtracted_spectrum",
]

log = logging.getLogger(__name__)


def daughter_mass_bins(jet_masses: np.ndarray, bin_width: float) -> np.ndarray:
    """The answer's jet-mass histogram edges: ``bin_width`` bins from 0 over every jet mass,
    at least 10 bins.

    Args:
        jet_masses: the jet masses (any shape; unit of ``bin_width``).
        bin_width: the bin width, > 0 (the answer's ``daughter_bin_width``).

    Returns:
        The increasing edges, ``n + 1`` values from 0 to ``n * bin_width``.

    Raises:
        ConfigError: a bin width that is not a positive finite number.

    Examples:
        >>> daughter_mass_bins(np.array([0.1, 0.537]), 0.05)[-3:].round(2).tolist()
        [0.45, 0.5, 0.55]
        >>> len(daughter_mass_bins(np.array([0.02]), 0.01))
        11
    """
    width = float(bin_width) if isinstance(bin_width, int | float | np.floating) else math.nan
    if not (math.isfinite(width) and width > 0) or isinstance(bin_width, bool):
        raise ConfigError(f"daughter mass bin width must be a positive number, got {bin_width!r}")
    masses = np.asarray(jet_masses, dtype=np.float64)
    top = float(masses.max()) if masses.size else 1.0
    n_bins = max(10, math.ceil(top / width))  # the last bin holds its right edge
    return np.linspace(0.0, n_bins * width, n_bins + 1)


class DaughterMass(NamedTuple):
    """One daughter-jet mass estimate, from :func:`estimate_daughter_masses`.

    Attributes:
        name: the jet-mass feature (e.g. ``"mj1"``, the lighter jet).
        value: fitted peak position of the excess (unit of the inputs).
        error: its 1-sigma error (HESSE of the Gaussian fit).
        width: the peak's width: the fitted Gaussian's sigma, or half the central 68% interval
            of a Gaussian core with exponential tails.
        n_excess: the events of the peak above a linear residual: the Gaussian's of the
            Gaussian + linear pedestal fit in the window (with ``pedestal=True``, whichever
            model gives the mass; see the module docstring), else of the fit that gave it.
        n_excess_error: its error.
        bin_edges: the jet-mass bin edges used.
        excess: background-subtracted counts per bin.
        excess_error: their 1-sigma errors (square root of the covariance diagonal).
        converged: the fit found a valid minimum with an accurate covariance.
        peak_shape: the model that gave the mass: ``"gaussexp"`` (a Gaussian core with
            exponential tails), ``"gaussian+pedestal"`` (the window fit with a linear pedestal)
            or ``"gaussian"`` (the first fit over all bins, kept when no window fit was made or
            valid).
    """

    name: str
    value: float
    error: float
    width: float
    n_excess: float
    n_excess_error: float
    bin_edges: np.ndarray
    excess: np.ndarray
    excess_error: np.ndarray
    converged: bool
    peak_shape: str = "gaussian"


def _columns(values: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise DataFormatError(f"{what} must be a (n_events, n_jets) array of jet masses")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{what} contains non-finite jet masses")
    return arr


def subtracted_spectrum(
    mj_sr: np.ndarray,
    mj_sb: np.ndarray,
    *,
    n_background_sr: float,
    bin_edges: np.ndarray,
    n_background_sr_error: float = 0.0,
    sb_weights: np.ndarray | None = None,
    residual: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Background-subtracted jet-mass histogram of one jet and its covariance.

    Args:
        mj_sr: jet masses of the selected SR events.
        mj_sb: jet masses of the selected sideband events (the background template).
        n_background_sr: predicted background events in the SR after the selection.
        bin_edges: jet-mass bin edges.
        n_background_sr_error: uncertainty of ``n_background_sr``.
        sb_weights: a weight per sideband event (e.g. interpolating the two sidebands to the SR's
            mjj); the template's Poisson variance is then the sum of squared weights per bin.
        residual: ``(shift, variance)`` per bin, per unit of background: what the template
            misses of the SR's background shape (measured on a reference,
            :func:`~anomsearch.answer.sideband_template.reference_template_residual`); the
            background becomes ``n_background_sr`` times (template share + shift), and
            ``n_background_sr^2`` times its variance is added to the covariance's diagonal.

    Returns:
        ``(excess, covariance)``.

    Examples:
        >>> d, cov = subtracted_spectrum(np.array([0.1, 0.1, 0.3]), np.array([0.1, 0.3, 0.3, 0.3]),
        ...                              n_background_sr=2.0, bin_edges=np.array([0.0, 0.2, 0.4]))
        >>> d.tolist(), np.diag(cov).tolist()
        ([1.5, -0.5], [2.25, 1.75])
    """
    mj_sb = np.asarray(mj_sb, dtype=float)
    weights = np.ones(mj_sb.size) if sb_weights is None else np.asarray(sb_weights, dtype=float)
    if weights.shape != mj_sb.shape or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise DataFormatError(
            "daughter masses: sb_weights must be one finite weight >= 0 per sideband event"
        )
    n_sb_total = float(weights.sum())
    if mj_sb.size == 0 or n_sb_total <= 0:
        raise DataFormatError("daughter masses: no selected sideband events (mj_selected_sb)")
    n_sr, _ = np.histogram(mj_sr, bins=bin_edges)
    n_sb, _ = np.histogram(mj_sb, bins=bin_edges, weights=weights)
    w2_sb, _ = np.histogram(mj_sb, bins=bin_edges, weights=weights * weights)
    r = float(n_background_sr) / n_sb_total
    excess = n_sr - r * n_sb
    var = np.maximum(n_sr + r * r * w2_sb, 1.0 + r * r * float(np.max(weights)) ** 2)
    background_shape = n_sb / n_sb_total
    if residual is not None:
        shift, shift_var = (np.asarray(a, dtype=float) for a in residual)
        if shift.shape != n_sr.shape or shift_var.shape != n_sr.shape:
            raise DataFormatError(
                f"daughter masses: the template residual has {shift.shape} bins, the jet-mass "
                f"histogram {n_sr.shape}"
            )
        excess = excess - float(n_background_sr) * shift
        var = var + float(n_background_sr) ** 2 * shift_var
        background_shape = background_shape + shift
    bkg_error = float(n_background_sr_error)
    cov = np.diag(var) + bkg_error**2 * np.outer(background_shape, background_shape)
    return excess.astype(float), cov


def _gauss_in_bins(edges: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    return np.diff(ndtr((edges - mean) / sigma))


def gaussexp_cdf(
    x: np.ndarray, mean: float, sigma: float, k_low: float, k_high: float
) -> np.ndarray:
    """Cumulative distribution of a Gaussian core with exponential tails on both sides.

    The density is ``exp(-t^2/2)`` for ``-k_low <= t <= k_high`` (``t = (x - mean) / sigma``) and
    continues with the exponential of the same value and slope beyond (``exp(k^2/2 - k|t|)``), so
    ``mean`` is the mode. A jet-mass peak is skewed: particles from the underlying event and
    initial-state radiation inside a large-R jet add mass (a high tail, largest for light
    daughters), out-of-cone radiation removes it (a low tail); a Gaussian fitted to such a peak
    lands in the tail, this shape keeps the mode.

    Args:
        x: where to evaluate.
        mean: the mode.
        sigma: the core's width (> 0).
        k_low, k_high: where the tails start, in core widths (> 0; large: a Gaussian).

    Returns:
        The normalised cumulative distribution at ``x``.

    References:
        S. Das, "A simple alternative to the Crystal Ball function", arXiv:1603.08591.

    Examples:
        >>> float(gaussexp_cdf(np.array([0.0]), 0.0, 1.0, 5.0, 5.0)[0])  # doctest: +ELLIPSIS
        0.5...
        >>> cdf = gaussexp_cdf(np.array([-50.0, 1.0, 50.0]), 0.0, 1.0, 2.0, 0.5)
        >>> round(float(cdf[0]), 6), round(float(cdf[2]), 6), bool(cdf[1] < 0.5)
        (0.0, 1.0, False)
    """
    t = (np.asarray(x, dtype=float) - mean) / sigma
    root = math.sqrt(2.0 * math.pi)
    low_tail = math.exp(-0.5 * k_low * k_low) / k_low
    core = root * float(ndtr(k_high) - ndtr(-k_low))
    high_tail = math.exp(-0.5 * k_high * k_high) / k_high
    below = np.exp(0.5 * k_low * k_low + k_low * np.minimum(t, -k_low)) / k_low
    inside = low_tail + root * (ndtr(np.clip(t, -k_low, k_high)) - ndtr(-k_low))
    above = (
        low_tail
        + core
        + (
            math.exp(-0.5 * k_high * k_high)
            - np.exp(0.5 * k_high * k_high - k_high * np.maximum(t, k_high))
        )
        / k_high
    )
    out = np.where(t < -k_low, below, np.where(t <= k_high, inside, above))
    return out / (low_tail + core + high_tail)


def _peak_start(excess: np.ndarray, cov: np.ndarray) -> int:
    """Bin at the centre of the most significant 3-bin excess."""
    kernel = np.ones(3)
    summed = np.convolve(excess, kernel, mode="same")
    var = np.convolve(np.diag(cov), kernel, mode="same")
    return int(np.argmax(summed / np.sqrt(var)))


def _minuit_fit(
    chi2: Any, start: dict[str, float], limits: dict[str, tuple[float | None, float | None]]
) -> tuple[Minuit, bool]:
    m = Minuit(chi2, **start)
    m.errordef = Minuit.LEAST_SQUARES
    m.print_level = 0
    m.strategy = 2
    for key, lim in limits.items():
        m.limits[key] = lim
    m.migrad(ncall=20_000)
    m.hesse()
    fmin = m.fmin
    ok = bool(m.valid and fmin is not None and fmin.has_accurate_covar and fmin.has_posdef_covar)
    return m, ok


def _window_edges(edges: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The bin edges of the contiguous bins selected by ``window``."""
    index = np.flatnonzero(window)
    return edges[np.r_[index, index[-1] + 1]]


def _fit_window(
    edges: np.ndarray,
    excess: np.ndarray,
    cov: np.ndarray,
    window: np.ndarray,
    first: Minuit,
    min_width: float,
    *,
    shape: str,
) -> tuple[Minuit, bool]:
    """Stage 2 of :func:`_fit_peak` in a window around the first fit's peak: a Gaussian core
    with exponential tails (``shape="gaussexp"``) or a Gaussian plus a linear pedestal
    (``"gaussian"``)."""
    e_w = _window_edges(edges, window)
    d_w = excess[window]
    inv_w = np.linalg.inv(cov[np.ix_(window, window)])
    c_w = 0.5 * (e_w[1:] + e_w[:-1]) - float(first.values["mean"])
    bin_widths = np.diff(e_w)
    start = {k: float(first.values[k]) for k in ("amplitude", "mean", "sigma")}
    limits: dict[str, tuple[float | None, float | None]] = {
        "amplitude": (0.0, None),
        "mean": (float(e_w[0]), float(e_w[-1])),
        "sigma": (min_width, float(e_w[-1] - e_w[0])),
    }

    def chi2(model: np.ndarray) -> float:
        resid = d_w - model
        return float(resid @ inv_w @ resid)

    if shape == "gaussexp":

        def chi2_tails(
            amplitude: float, mean: float, sigma: float, k_low: float, k_high: float
        ) -> float:
            return chi2(amplitude * np.diff(gaussexp_cdf(e_w, mean, sigma, k_low, k_high)))

        start.update(k_low=TAIL_LIMITS[1] / 2, k_high=TAIL_LIMITS[1] / 2)
        limits.update(k_low=TAIL_LIMITS, k_high=TAIL_LIMITS)
        # a skewed peak can hold two minima (the mode, and a broad core in the tail): start
        # at the first fit's mean and at the window's largest excess, keep the better fit
        densest = float(0.5 * (e_w[1:] + e_w[:-1])[np.argmax(d_w / bin_widths)])
        fits = [_minuit_fit(chi2_tails, start, limits)]
        if abs(densest - start["mean"]) > 0.5 * float(np.median(bin_widths)):
            fits.append(_minuit_fit(chi2_tails, {**start, "mean": densest}, limits))
        converged = [f for f in fits if f[1]] or fits
        m, ok = min(converged, key=lambda f: f[0].fval)
        if ok:
            # the mode is correlated with the tails, which often end at a limit: HESSE then
            # treats them as fixed and underestimates its error, MINOS profiles them
            with contextlib.suppress(RuntimeError):
                m.minos("mean")
        return m, ok

    def chi2_pedestal(amplitude: float, mean: float, sigma: float, p0: float, p1: float) -> float:
        return chi2(amplitude * _gauss_in_bins(e_w, mean, sigma) + (p0 + p1 * c_w) * bin_widths)

    start.update(p0=0.0, p1=0.0)
    return _minuit_fit(chi2_pedestal, start, limits)


#: Fewest bins of the window of the second fit (it is widened to hold them).
MIN_WINDOW_BINS = 9

#: The peak models of :func:`estimate_daughter_masses`.
PEAK_SHAPES = ("auto", "gaussexp", "gaussian")

#: Limits of the tail starts ``k_low``, ``k_high`` of :func:`gaussexp_cdf` in the peak fit
#: (core widths; at 5 a tail holds < 1e-6 of the peak: a Gaussian).
TAIL_LIMITS = (0.3, 5.0)


def _fit_peak(
    name: str,
    edges: np.ndarray,
    excess: np.ndarray,
    cov: np.ndarray,
    min_width: float,
    *,
    pedestal: bool,
    window_widths: float,
    shape: str = "gaussexp",
    near: tuple[float, float] | None = None,
) -> DaughterMass:
    centers = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    sigma_max = float(edges[-1] - edges[0])
    if near is None:
        k = _peak_start(excess, cov)
        mean_limits = (float(edges[0]), float(edges[-1]))
    else:  # the same peak as a nominal fit: start there, stay within two of its widths
        k = int(np.clip(np.searchsorted(edges, near[0]) - 1, 0, centers.size - 1))
        reach = 2.0 * max(near[1], float(widths[k]))
        mean_limits = (
            max(float(edges[0]), near[0] - reach),
            min(float(edges[-1]), near[0] + reach),
        )

    # Stage 1: a Gaussian over all bins (the subtracted background is zero on average).
    inv = np.linalg.inv(cov)

    def chi2(amplitude: float, mean: float, sigma: float) -> float:
        resid = excess - amplitude * _gauss_in_bins(edges, mean, sigma)
        return float(resid @ inv @ resid)

    a0 = max(float(excess[max(k - 2, 0) : k + 3].sum()), 1.0)
    start_mean = float(centers[k]) if near is None else float(near[0])
    m, ok = _minuit_fit(
        chi2,
        {"amplitude": a0, "mean": start_mean, "sigma": max(2.0 * widths[k], min_width)},
        {"amplitude": (0.0, None), "mean": mean_limits, "sigma": (min_width, sigma_max)},
    )
    mean, sigma = float(m.values["mean"]), float(m.values["sigma"])
    # Stage 2 in a window around the peak (module docstring), of at least MIN_WINDOW_BINS bins:
    # a peak about one bin wide is still refitted
    half_width = max(window_widths * sigma, 0.5 * MIN_WINDOW_BINS * float(np.median(widths)))
    window = np.abs(centers - mean) <= half_width
    shapes = {
        "auto": ("gaussexp", "gaussian"),
        "gaussexp": ("gaussexp",),
        "gaussian": ("gaussian",) if pedestal else (),
    }[shape]
    evidence = None
    if shapes and ok and window.sum() >= 7:
        # the peak's events above a linear residual are the Gaussian + pedestal fit's (module
        # docstring: the evidence), whichever model gives the mass
        wanted = dict.fromkeys((*shapes, "gaussian") if pedestal else shapes)
        fits = {s: _fit_window(edges, excess, cov, window, m, min_width, shape=s) for s in wanted}
        # "auto": the two models have five parameters each; the better chi2 describes the peak
        valid = [fits[s] for s in shapes if fits[s][1]]
        if valid:
            m = min(valid, key=lambda f: f[0].fval)[0]
        else:
            log.warning("daughter mass %s: the fit around the peak failed (%s)", name, shape)
        if pedestal and fits["gaussian"][1]:
            evidence = fits["gaussian"][0]
    if not ok:
        log.warning("daughter mass %s: the Gaussian fit of the excess did not converge", name)
    n_excess_error = (
        float(m.errors["amplitude"])
        if evidence is None
        else float(
            max(evidence.errors["amplitude"], _linear_amplitude_error(edges, cov, window, evidence))
        )
    )
    evidence = m if evidence is None else evidence
    return DaughterMass(
        name=name,
        value=float(m.values["mean"]),
        error=_mean_error(m),
        width=_peak_width(m),
        n_excess=float(evidence.values["amplitude"]),
        n_excess_error=n_excess_error,
        bin_edges=edges,
        excess=excess,
        excess_error=np.sqrt(np.diag(cov)),
        converged=ok,
        peak_shape=_model_name(m),
    )


def _linear_amplitude_error(
    edges: np.ndarray, cov: np.ndarray, window: np.ndarray, fit: Minuit
) -> float:
    """The Gaussian + pedestal fit's amplitude error with its mean and width fixed at the fit's:
    the model is linear in the amplitude and the pedestal, so that error is exact, and the fit's
    own (the mean and width free too) can only be larger. A fit that ends with its width at the
    lower limit can return a HESSE error far below it (0.7 events for a 222-event amplitude on
    bins of +-60 events, a "300 sigma" peak), which this bounds."""
    e_w = _window_edges(edges, window)
    bin_widths = np.diff(e_w)
    centred = 0.5 * (e_w[1:] + e_w[:-1]) - float(fit.values["mean"])
    design = np.column_stack(
        [
            _gauss_in_bins(e_w, float(fit.values["mean"]), float(fit.values["sigma"])),
            bin_widths,
            centred * bin_widths,
        ]
    )
    fisher = design.T @ np.linalg.inv(cov[np.ix_(window, window)]) @ design
    try:
        return float(math.sqrt(max(np.linalg.inv(fisher)[0, 0], 0.0)))
    except np.linalg.LinAlgError:
        return math.inf


def _model_name(m: Minuit) -> str:
    """Which peak model a fit is (its parameters tell)."""
    if "k_low" in m.parameters:
        return "gaussexp"
    return "gaussian+pedestal" if len(m.parameters) > 3 else "gaussian"


def _peak_width(m: Minuit) -> float:
    """The peak's width: the Gaussian's sigma, or for a core with exponential tails half its
    central 68% interval (a narrow core on broad tails is a broad excess, not a particle)."""
    sigma = float(m.values["sigma"])
    if "k_low" not in m.parameters:
        return sigma
    mean, k_low, k_high = (float(m.values[k]) for k in ("mean", "k_low", "k_high"))
    grid = np.linspace(mean - sigma * (6 + 12 / k_low), mean + sigma * (6 + 12 / k_high), 4001)
    cdf = gaussexp_cdf(grid, mean, sigma, k_low, k_high)
    low, high = np.interp([ndtr(-1.0), ndtr(1.0)], cdf, grid)
    return 0.5 * float(high - low)


def _mean_error(m: Minuit) -> float:
    """The peak's error: the mean of the MINOS interval's halves where MINOS found one, else
    HESSE's."""
    if "mean" in m.merrors and m.merrors["mean"].is_valid:
        interval = m.merrors["mean"]
        return 0.5 * (abs(float(interval.lower)) + float(interval.upper))
    return float(m.errors["mean"])


def _bin_edges(
    bins: np.ndarray | int,
    mass_range: tuple[float, float] | None,
    sr: np.ndarray,
    sb: np.ndarray,
) -> np.ndarray:
    """The checked jet-mass bin edges: ``bins`` itself, or ``bins`` equal bins over the range."""
    if np.ndim(bins) == 0:
        n_bins = int(bins)  # type: ignore[arg-type]
        if n_bins < 5 or n_bins != bins:
            raise ConfigError(f"daughter_masses.bins must be an integer >= 5, got {bins!r}")
        if mass_range is None:
            both = np.concatenate([sr.ravel(), sb.ravel()])
            mass_range = (float(both.min()), float(both.max()))
        low, high = (float(v) for v in mass_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"daughter_masses.mass_range must have low < high, got {mass_range}")
        return np.linspace(low, high, n_bins + 1)
    edges = np.asarray(bins, dtype=float)
    if (
        edges.ndim != 1
        or edges.size < 6
        or not np.all(np.isfinite(edges))
        or np.any(np.diff(edges) <= 0)
    ):
        raise ConfigError(
            "daughter_masses.bins: edges must be finite, strictly increasing, >= 5 bins"
        )
    return edges


def estimate_daughter_masses(
    mj_selected_sr: np.ndarray,
    mj_selected_sb: np.ndarray,
    *,
    n_background_sr: float,
    bins: np.ndarray | int,
    mass_range: tuple[float, float] | None = None,
    n_background_sr_error: float = 0.0,
    names: Sequence[str] = ("mj1", "mj2"),
    min_width: float | None = None,
    pedestal: bool = True,
    window_widths: float = 3.0,
    sb_weights: np.ndarray | None = None,
    peak_shape: str = "gaussexp",
    near: Sequence[tuple[float, float]] | None = None,
    template_residual: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[DaughterMass]:
    """Estimate the daughter-jet masses from the selected SR and sideband events.

    Args:
        mj_selected_sr: ``(n_sr, n_jets)`` jet masses (columns e.g. mj1 = lighter, mj2 = heavier)
            of the events passing the anomaly selection in the signal region.
        mj_selected_sb: ``(n_sb, n_jets)`` the same for the selected sideband events.
        n_background_sr: background events predicted in the SR after the selection (the sum of
            the sideband-fit prediction over the SR bins).
        bins: jet-mass bin edges, or a number of equal bins over ``mass_range``.
        mass_range: ``(low, high)`` jet-mass range when ``bins`` is a number (default: the range
            of the SR and sideband masses together).
        n_background_sr_error: uncertainty of ``n_background_sr`` (fully correlated over bins).
        names: one name per jet column.
        min_width: smallest Gaussian width allowed (default: half the smallest bin width).
        pedestal: fit a Gaussian plus a linear pedestal within ``window_widths`` fitted widths
            of the peak (at least MIN_WINDOW_BINS bins): the mass with
            ``peak_shape="gaussian"``, the peak's events (``n_excess``) with every shape. False:
            ``"gaussian"`` is the Gaussian over all bins, and ``n_excess`` the mass model's.
        window_widths: half-width of the window of the second fit in units of the first fit's
            Gaussian width.
        sb_weights: a weight per sideband event for the template (:func:`subtracted_spectrum`).
        peak_shape: ``"gaussexp"`` (a Gaussian core with exponential tails, the mass is its
            mode), ``"gaussian"`` (with a linear pedestal) or ``"auto"`` (the better chi2 of
            the two; see the module docstring for why it is not the default).
        near: per jet column, ``(mass, width)`` of a nominal fit: the fit starts there and its
            peak stays within two widths (at least two bins) of it, so a variation of the
            inputs (another template, a tighter cut) measures the shift of the same peak
            instead of finding another one. None: the most significant excess.
        template_residual: ``(shift, variance)``, each ``(n_bins, n_jets)`` on the edges
            ``bins``: the template's correction per unit of background
            (:func:`subtracted_spectrum`'s ``residual``, per jet column). None: none.

    Returns:
        One :class:`DaughterMass` per jet column, in column order.

    Raises:
        DataFormatError: inconsistent shapes, non-finite masses, no sideband events.
        ConfigError: bad ``bins``, ``mass_range``, ``n_background_sr``, ``names``.

    References:
        arXiv:2101.08320, arXiv:1902.02634.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> sb = rng.uniform(0.0, 1.0, size=(4000, 1))
        >>> sr = np.vstack([rng.uniform(0.0, 1.0, size=(1000, 1)),
        ...                 rng.normal(0.5, 0.03, size=(300, 1))])
        >>> (est,) = estimate_daughter_masses(sr, sb, n_background_sr=1000.0,
        ...                                   bins=np.linspace(0.0, 1.0, 41), names=["mj"])
        >>> abs(est.value - 0.5) < 3 * est.error < 0.03
        True
    """
    sr = _columns(mj_selected_sr, "mj_selected_sr")
    sb = _columns(mj_selected_sb, "mj_selected_sb")
    if sr.shape[1] != sb.shape[1]:
        raise DataFormatError(
            f"mj_selected_sr has {sr.shape[1]} jet columns but mj_selected_sb {sb.shape[1]}"
        )
    if len(names) != sr.shape[1]:
        raise ConfigError(f"daughter_masses.names: need {sr.shape[1]} names, got {list(names)}")
    if near is not None and len(near) != sr.shape[1]:
        raise ConfigError(f"daughter_masses.near: need {sr.shape[1]} (mass, width) pairs")
    if not (math.isfinite(n_background_sr) and n_background_sr >= 0):
        raise ConfigError(f"daughter_masses.n_background_sr must be >= 0, got {n_background_sr}")
    if not (math.isfinite(n_background_sr_error) and n_background_sr_error >= 0):
        raise ConfigError(
            f"daughter_masses.n_background_sr_error must be >= 0, got {n_background_sr_error}"
        )
    if sb.shape[0] == 0:
        raise DataFormatError("daughter masses: no selected sideband events (mj_selected_sb)")
    edges = _bin_edges(bins, mass_range, sr, sb)
    if template_residual is not None and any(
        np.shape(a) != (edges.size - 1, sr.shape[1]) for a in template_residual
    ):
        raise DataFormatError(
            f"daughter masses: the template residual must be ({edges.size - 1} bins, "
            f"{sr.shape[1]} jets), got {[np.shape(a) for a in template_residual]}"
        )
    if not (math.isfinite(window_widths) and window_widths > 0):
        raise ConfigError(f"daughter_masses.window_widths must be > 0, got {window_widths}")
    if peak_shape not in PEAK_SHAPES:
        raise ConfigError(
            f"daughter_masses.peak_shape must be one of {list(PEAK_SHAPES)}, got {peak_shape!r}"
        )
    width_floor = 0.5 * float(np.diff(edges).min()) if min_width is None else float(min_width)
    if not (math.isfinite(width_floor) and width_floor > 0):
        raise ConfigError(f"daughter_masses.min_width must be > 0, got {min_width}")

    results = []
    for j, name in enumerate(names):
        excess, cov = subtracted_spectrum(
            sr[:, j],
            sb[:, j],
            n_background_sr=n_background_sr,
            bin_edges=edges,
            n_background_sr_error=n_background_sr_error,
            sb_weights=sb_weights,
            residual=None
            if template_residual is None
            else (template_residual[0][:, j], template_residual[1][:, j]),
        )
        est = _fit_peak(
            str(name),
            edges,
            excess,
            cov,
            width_floor,
            pedestal=pedestal,
            window_widths=window_widths,
            shape=peak_shape,
            near=None if near is None else near[j],
        )
        log.info(
            "daughter mass %s: %.4g +- %.2g (width %.3g, %.0f +- %.0f excess events)",
            name,
            est.value,
            est.error,
            est.width,
            est.n_excess,
            est.n_excess_error,
        )
        results.append(est)
    return results
