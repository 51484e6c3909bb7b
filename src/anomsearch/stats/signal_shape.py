"""The mjj shape of a dijet resonance: a Gaussian, or a double-sided crystal ball with a radiative
low tail.

A resonance decaying to two jets is not reconstructed at its mass with a Gaussian spread: final-
state radiation outside the jets (and, for quark-gluon final states, the gluon's wider radiation)
gives the mjj spectrum a long low tail, and the natural width and the underlying event a shorter
high one. Pythia 8 resonances of the package's own generator (W' -> X Y, W' -> q q', q* -> q g at
3.5 TeV, anti-kt R = 1 jets) have a core ~2.6% wide peaking ~0.5% below the mass, and 16% of
the events of a q* lie more than 17% low; a Gaussian fitted to them peaks 2-6% low.

:class:`SignalShape` is a *scale family* in ``r = mjj / mass``: the core is a Gaussian of mean
``peak`` and width ``width`` in ``r``, with power-law tails (``alpha``: where the tail starts, in
core widths; ``n``: its power) on either side -- the double-sided crystal ball (DSCB) of the
ATLAS and CMS resonance searches. ``kind="gaussian"`` ignores the tails. Every shape here is
normalised over the bins it is evaluated on, like
:func:`~anomsearch.stats.bumphunt_model.gaussian_signal_template`.

:data:`DIJET_CRYSTAL_BALL` holds tail parameters measured on the package's Pythia productions
(``benchmarks/signal_shape.py`` fits them and measures the mass bias each shape gives);
:func:`fit_signal_shape` fits all parameters to a simulated resonance of known mass, for a
template from one's own generator.

References:
    J. E. Gaiser, SLAC-R-255 (1982) (crystal ball); ATLAS Collaboration, arXiv:1407.3494 (double-
    sided crystal ball); CMS Collaboration, arXiv:1911.03947 (dijet resonance shapes);
    U. Baur, M. Spira, P. M. Zerwas, Phys. Rev. D 42 (1990) 815 (excited quarks).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr

from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = [
    "DIJET_CRYSTAL_BALL",
    "DIJET_SHAPE_ENVELOPE",
    "GAUSSIAN",
    "SIGNAL_SHAPE_KINDS",
    "SignalShape",
    "fit_signal_shape",
    "signal_shape_from_options",
]

log = logging.getLogger(__name__)

#: The shapes a config can name (``stats.signal_shape``).
SIGNAL_SHAPE_KINDS = ("gaussian", "crystal_ball")

_SQRT_2PI = math.sqrt(2.0 * math.pi)

#: Fit limits of the tails' starts, in core widths: below 0.2 the "core" is a cusp between two
#: power laws, a likelihood optimum on some samples that no longer separates core and tails.
_ALPHA_LIMITS = (0.2, 10.0)


class SignalShape(NamedTuple):
    """A resonance's mjj shape in ``r = mjj / mass`` (see the module docstring).

    Attributes:
        kind: ``"gaussian"`` or ``"crystal_ball"`` (double-sided).
        width: core Gaussian width relative to the mass (the detector mjj resolution).
        peak: core mean relative to the mass (1 = the core peaks at the mass).
        alpha_low: start of the low tail, in core widths below the peak (crystal ball only).
        n_low: power of the low tail (> 1).
        alpha_high: start of the high tail, in core widths above the peak.
        n_high: power of the high tail (> 1).

    Examples:
        >>> edges = np.array([3.3, 3.4, 3.5, 3.6, 3.7])
        >>> SignalShape(width=0.1 / 3.5).template(edges, 3.5).round(3).tolist()
        [0.142, 0.358, 0.358, 0.142]
        >>> cb = DIJET_CRYSTAL_BALL._replace(width=0.03)
        >>> t = cb.template(np.linspace(2.8, 4.0, 13), 3.5)
        >>> int(np.argmax(t)), bool(t[:6].sum() > t[7:].sum())  # peak bin, longer low tail
        (6, True)
    """

    kind: str = "gaussian"
    width: float = 0.05
    peak: float = 1.0
    alpha_low: float = 1.0
    n_low: float = 5.0
    alpha_high: float = 1.5
    n_high: float = 5.0

    def validated(self, *, where: str = "signal shape") -> SignalShape:
        """The shape itself after checking its parameters.

        Raises:
            ConfigError: an unknown kind, a width or peak <= 0, an alpha <= 0 or an n <= 1,
                naming ``where``.
        """
        if self.kind not in SIGNAL_SHAPE_KINDS:
            raise ConfigError(
                f"{where}: kind must be one of {SIGNAL_SHAPE_KINDS}, got {self.kind!r}"
            )
        for name in ("width", "peak", "alpha_low", "alpha_high"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{where}: {name} must be a number > 0, got {value!r}")
        for name in ("n_low", "n_high"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 1):
                raise ConfigError(f"{where}: {name} must be a number > 1, got {value!r}")
        return self

    def _tails(self) -> tuple[float, float, float, float]:
        """The ``(alpha_low, n_low, alpha_high, n_high)`` in use (infinite alphas: Gaussian)."""
        if self.kind == "gaussian":
            return math.inf, 2.0, math.inf, 2.0
        return self.alpha_low, self.n_low, self.alpha_high, self.n_high

    def _unnormalised(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """``(integral from -inf to t, density at t, total)`` of the standardised shape (the
        core's peak density is 1; the power-law tails are evaluated in logarithms)."""
        a_lo, n_lo, a_hi, n_hi = self._tails()
        t = np.asarray(t, dtype=float)
        cum = _SQRT_2PI * (ndtr(np.clip(t, -a_lo, a_hi)) - ndtr(-a_lo))
        dens = np.exp(-0.5 * t * t)
        low_total = high_total = 0.0
        if math.isfinite(a_lo):
            # tail density exp(log_scale) (b - t)^-n, integral exp(log_scale) (b - t)^(1-n) / (n-1)
            b = n_lo / a_lo - a_lo
            log_scale = -0.5 * a_lo * a_lo + n_lo * math.log(n_lo / a_lo)
            low_total = math.exp(log_scale + (1.0 - n_lo) * math.log(b + a_lo)) / (n_lo - 1.0)
            below = t < -a_lo
            log_tb = np.log(np.where(below, b - t, b + a_lo))
            tail_cum = np.exp(log_scale + (1.0 - n_lo) * log_tb) / (n_lo - 1.0)
            cum = np.where(below, tail_cum, cum + low_total)
            dens = np.where(below, np.exp(log_scale - n_lo * log_tb), dens)
        if math.isfinite(a_hi):
            b = n_hi / a_hi - a_hi
            log_scale = -0.5 * a_hi * a_hi + n_hi * math.log(n_hi / a_hi)
            high_total = math.exp(log_scale + (1.0 - n_hi) * math.log(b + a_hi)) / (n_hi - 1.0)
            above = t > a_hi
            log_ta = np.log(np.where(above, b + t, b + a_hi))
            tail_cum = np.exp(log_scale + (1.0 - n_hi) * log_ta) / (n_hi - 1.0)
            cum = cum + np.where(above, high_total - tail_cum, 0.0)
            dens = np.where(above, np.exp(log_scale - n_hi * log_ta), dens)
        core_total = _SQRT_2PI * (ndtr(a_hi) - ndtr(-a_lo))
        return cum, dens, float(low_total + core_total + high_total)

    def cdf(self, ratio: np.ndarray) -> np.ndarray:
        """Cumulative probability at ``ratio = mjj / mass`` (over the whole real line)."""
        t = (np.asarray(ratio, dtype=float) - self.peak) / self.width
        if self.kind == "gaussian":
            return ndtr(t)
        cum, _, total = self._unnormalised(t)
        return cum / total

    def pdf(self, ratio: np.ndarray) -> np.ndarray:
        """Probability density in ``ratio = mjj / mass``."""
        t = (np.asarray(ratio, dtype=float) - self.peak) / self.width
        _, dens, total = self._unnormalised(t)
        return dens / (total * self.width)

    def template(self, bin_edges: np.ndarray, mass: float) -> np.ndarray:
        """Fraction of the resonance of ``mass`` in each bin, normalised over the bins.

        Args:
            bin_edges: strictly increasing mjj bin edges (same unit as ``mass``).
            mass: the resonance mass.

        Raises:
            ConfigError: bad edges or mass, or a resonance with (numerically) no probability in
                the bins.
        """
        e = np.asarray(bin_edges, dtype=float)
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise ConfigError("bin_edges must be a finite, strictly increasing 1-d array")
        if not (math.isfinite(mass) and mass > 0):
            raise ConfigError(f"signal mass must be a finite number > 0, got {mass!r}")
        frac = np.diff(self.cdf(e / mass))
        total = float(frac.sum())
        if not total > 1e-12:
            raise ConfigError(
                f"{self.kind} signal (mass {mass}, relative width {self.width}) has no "
                f"probability in [{e[0]}, {e[-1]}]"
            )
        return frac / total

    def template_and_derivative(
        self, bin_edges: np.ndarray, mass: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`template` and its derivative in ``mass`` (analytic: a scale family).

        ``d/dm CDF(e / m) = -pdf(e / m) e / m^2``; the normalisation over the bins is
        differentiated too. A template without probability gives zeros for both.
        """
        e = np.asarray(bin_edges, dtype=float)
        frac = np.diff(self.cdf(e / mass))
        dfrac = np.diff(-self.pdf(e / mass) * e / (mass * mass))
        total = float(frac.sum())
        if not total > 1e-12:
            return np.zeros_like(frac), np.zeros_like(frac)
        return frac / total, dfrac / total - frac * float(dfrac.sum()) / total**2

    def to_dict(self) -> dict[str, float | str]:
        """The shape as the report and the resolved config write it (no tails for a Gaussian)."""
        if self.kind == "gaussian":
            return {"kind": "gaussian", "width": self.width, "peak": self.peak}
        return dict(self._asdict())


#: Gaussian at the mass with the package's default relative width.
GAUSSIAN = SignalShape()

#: Double-sided crystal ball measured on Pythia 8 resonances at 3.5 TeV (W' -> X Y with two- and
#: three-prong daughters, W' -> q q', q* -> q g; anti-kt R = 1 jets, 10k events each), pooled:
#: ``python benchmarks/signal_shape.py``. A detector with a coarser mjj resolution widens the core:
#: ``stats.signal_width`` replaces ``width``.
DIJET_CRYSTAL_BALL = SignalShape(
    kind="crystal_ball",
    width=0.026,
    peak=0.996,
    alpha_low=0.55,
    n_low=3.9,
    alpha_high=0.95,
    n_high=3.6,
)


#: The tails of the package's Pythia resonances at 3.5 TeV that differ most from
#: :data:`DIJET_CRYSTAL_BALL` (``benchmarks/results/signal_shape.json``): a W' -> X Y with two-prong
#: daughters (the shortest low tail: 68% of it in a 0.4 TeV window) and an excited quark q* -> q g
#: (the longest: 47%). The envelope of a resonance whose kind is unknown, e.g. for the systematic
#: error of a signal count extrapolated from the SR (:mod:`anomsearch.answer.total_signal`).
DIJET_SHAPE_ENVELOPE = (
    SignalShape("crystal_ball", 0.025, 0.997, 0.537, 6.61, 0.871, 4.88),
    SignalShape("crystal_ball", 0.027, 0.992, 0.310, 6.24, 0.820, 2.82),
)


def _nll_factory(ratio: np.ndarray, kind: str, lo: float, hi: float):
    """The unbinned negative log-likelihood of ``ratio`` truncated to ``[lo, hi]``."""

    def nll(*params: float) -> float:
        shape = SignalShape(kind, *params)
        try:
            shape.validated()
        except ConfigError:
            return 1e300
        norm = float(shape.cdf(np.array([hi]))[0] - shape.cdf(np.array([lo]))[0])
        dens = shape.pdf(ratio)
        if not norm > 0 or np.any(dens <= 0):
            return 1e300
        return float(-np.sum(np.log(dens)) + ratio.size * math.log(norm))

    return nll


def fit_signal_shape(
    mjj: np.ndarray,
    mass: float,
    *,
    kind: str = "crystal_ball",
    ratio_range: tuple[float, float] = (0.5, 1.3),
) -> SignalShape:
    """Fit a :class:`SignalShape` to simulated resonance events of known ``mass``.

    An unbinned maximum-likelihood fit (iminuit MIGRAD) of ``r = mjj / mass`` inside
    ``ratio_range`` (the shape truncated and renormalised there), starting from
    the histogram's mode with core widths of 0.02, 0.04 and 0.08 (the best valid minimum is
    kept: a narrow core with early tails and a wide one can both be local minima); the tails'
    starts ``alpha`` are kept >= 0.2 core widths.

    Args:
        mjj: dijet masses of signal events (same unit as ``mass``).
        mass: the generated resonance mass.
        kind: ``"crystal_ball"`` (all seven parameters but ``kind``) or ``"gaussian"`` (width and
            peak).
        ratio_range: the ``mjj / mass`` range fitted.

    Returns:
        The fitted shape.

    Raises:
        DataFormatError: fewer than 50 events inside ``ratio_range``.
        ConfigError: a bad ``kind``, ``mass`` or ``ratio_range``.
        FitError: MIGRAD did not converge.

    Examples:
        >>> rng = np.random.default_rng(3)
        >>> mjj = 3.5 * rng.normal(0.99, 0.03, 20000)
        >>> shape = fit_signal_shape(mjj, 3.5, kind="gaussian")
        >>> round(shape.peak, 2), round(shape.width, 2)
        (0.99, 0.03)
    """
    from iminuit import Minuit

    if kind not in SIGNAL_SHAPE_KINDS:
        raise ConfigError(f"kind must be one of {SIGNAL_SHAPE_KINDS}, got {kind!r}")
    if not (math.isfinite(mass) and mass > 0):
        raise ConfigError(f"mass must be a finite number > 0, got {mass!r}")
    lo, hi = (float(v) for v in ratio_range)
    if not (0 <= lo < 1 < hi):
        raise ConfigError(f"ratio_range must enclose 1, got {ratio_range!r}")
    ratio = np.asarray(mjj, dtype=float) / mass
    ratio = ratio[(ratio > lo) & (ratio < hi)]
    if ratio.size < 50:
        raise DataFormatError(f"{ratio.size} events in mjj / mass {ratio_range}: need >= 50")
    counts, edges = np.histogram(ratio, bins=np.arange(lo, hi + 0.005, 0.005))
    mode = float(edges[np.argmax(np.convolve(counts, np.ones(3), mode="same"))] + 0.0025)
    names = list(SignalShape._fields[1:]) if kind == "crystal_ball" else ["width", "peak"]
    nll = _nll_factory(ratio, kind, lo, hi)
    best = None
    for width in (0.02, 0.04, 0.08):  # several starts: the tails and the core trade off
        start = DIJET_CRYSTAL_BALL._replace(kind=kind, width=width, peak=mode)
        minuit = Minuit(nll, *[getattr(start, n) for n in names], name=names)
        minuit.errordef = Minuit.LIKELIHOOD
        minuit.limits["width"] = (1e-4, 1.0)
        minuit.limits["peak"] = (lo, hi)
        for name in names[2:]:
            minuit.limits[name] = _ALPHA_LIMITS if name.startswith("alpha") else (1.01, 200.0)
        minuit.migrad()
        if minuit.valid and (best is None or minuit.fval < best.fval):
            best = minuit
    if best is None:
        raise FitError(f"the {kind} fit to {ratio.size} signal events did not converge")
    minuit = best
    values = dict(zip(names, (float(v) for v in minuit.values), strict=True))
    shape = start._replace(**values)
    log.debug("fitted signal shape at mass %g: %s", mass, shape)
    return shape


def signal_shape_from_options(
    kind: str, width: float, tails: Mapping[str, float] | None = None
) -> SignalShape:
    """The shape a config's ``stats`` section describes.

    Args:
        kind: ``"gaussian"`` (at the mass) or ``"crystal_ball"`` (:data:`DIJET_CRYSTAL_BALL`'s
            tails and peak unless ``tails`` sets them).
        width: the core's relative width (``stats.signal_width``).
        tails: ``peak``, ``alpha_low``, ``n_low``, ``alpha_high``, ``n_high`` of a crystal ball
            (``stats.crystal_ball``); ignored for a Gaussian.

    Raises:
        ConfigError: an unknown kind or tail parameter, or an invalid value.

    Examples:
        >>> signal_shape_from_options("crystal_ball", 0.03, {"n_low": 2.5}).n_low
        2.5
        >>> signal_shape_from_options("gaussian", 0.03).peak
        1.0
    """
    if kind == "gaussian":
        return GAUSSIAN._replace(width=width).validated(where="stats.signal_width")
    if kind != "crystal_ball":
        raise ConfigError(
            f"config field stats.signal_shape: must be one of {SIGNAL_SHAPE_KINDS}, got {kind!r}"
        )
    tails = dict(tails or {})
    unknown = sorted(set(tails) - set(SignalShape._fields[2:]))
    if unknown:
        raise ConfigError(
            f"config field stats.crystal_ball: unknown parameter(s) {unknown}; expected "
            f"{list(SignalShape._fields[2:])}"
        )
    shape = DIJET_CRYSTAL_BALL._replace(width=width, **tails)
    return shape.validated(where="config field stats.crystal_ball")
