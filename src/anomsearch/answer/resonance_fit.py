"""Resonance mass and signal yield from a binned Poisson fit of a bump on a known background.

The model of the expected counts in bin ``i`` is

.. math:: \\nu_i(m, s) = b_i + s\\,G_i(m),

with ``b_i`` the background prediction (e.g. the sideband-fit interpolation into the signal
region, :class:`~anomsearch.background.sideband_fit.BackgroundPrediction`) and ``G_i(m)`` the
resonance of mass ``m`` -- a Gaussian of width ``relative_width * m``, or a crystal ball with a
radiative low tail (:class:`~anomsearch.stats.SignalShape`, scaling with ``m``) -- integrated over
the bins and normalised to one over them, so ``s`` is the number of signal events in the fitted
bins. The fitted ``m`` is the resonance's mass, not where its mjj peaks: a crystal ball peaks at
``peak * m`` with its tail below. The mass is free inside ``mass_range``, ``s >= 0``.

When a background covariance ``C`` is given, the background is profiled: ``b = b0 + V
sqrt(w) theta`` with ``C = V diag(w) V^T`` (eigen-decomposition, negligible eigenvalues dropped)
and one unit-Gaussian-constrained nuisance parameter ``theta_k`` per kept eigen-direction, which
is exactly a multivariate-Gaussian constraint on ``b`` with covariance ``C``.

Fit: the profile likelihood is first evaluated on a grid of masses (so MIGRAD starts in the
global minimum's basin, not in a local one), then MIGRAD and MINOS (``Delta NLL = 0.5``) give the
mass and yield with asymmetric errors; where MINOS fails, the errors come from the profile scan.

Units: whatever the bin edges use (TeV in anomsearch); the mass and its errors are in the same
unit.

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 (bump hunt with anomaly selection);
    G. Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320 (black-box answers: mass,
    yield, daughter masses with uncertainties); F. James, M. Roos, Comput. Phys. Commun. 10
    (1975) 343 (MINUIT, MINOS); G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727
    (profile likelihood).
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
from iminuit import Minuit
from scipy.optimize import brentq

from anomsearch.background.sideband_fit import BackgroundPrediction
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.signal_shape import GAUSSIAN, SignalShape

__all__ = ["ResonanceFit", "fit_resonance_mass"]

log = logging.getLogger(__name__)

_DELTA_NLL_1SIGMA = 0.5
_MIN_NU = 1e-12


class ResonanceFit(NamedTuple):
    """Result of :func:`fit_resonance_mass`.

    Attributes:
        mass: fitted resonance mass (unit of the bin edges).
        mass_error: symmetrised 1-sigma error ``(lower + upper) / 2``.
        mass_errors: ``(lower, upper)`` 1-sigma errors (both positive) from ``Delta NLL = 0.5``.
        n_signal: fitted number of signal events in the fitted bins.
        n_signal_error: symmetrised 1-sigma error (the upper error when ``n_signal`` is at 0).
        n_signal_errors: ``(lower, upper)`` errors (both positive; lower limited by ``s >= 0``).
        profile_masses: the mass grid of the profile scan.
        profile_delta_nll: profile ``NLL(m) - NLL_min`` on that grid (for a plot).
        nll_min: the minimum negative log-likelihood (Poisson deviance / 2 convention, so a
            perfect fit gives 0 without constraint terms).
        mass_at_limit: True when an error interval on the mass reaches ``mass_range`` (the error
            is then only a lower bound, e.g. for a fit compatible with no signal).
        converged: MIGRAD found a valid minimum and the errors are determined.
    """

    mass: float
    mass_error: float
    mass_errors: tuple[float, float]
    n_signal: float
    n_signal_error: float
    n_signal_errors: tuple[float, float]
    profile_masses: np.ndarray
    profile_delta_nll: np.ndarray
    nll_min: float
    mass_at_limit: bool
    converged: bool


class _Model:
    """Negative log-likelihood of ``b0 + L theta + s G(m)`` with unit-Gaussian ``theta``."""

    def __init__(
        self,
        counts: np.ndarray,
        edges: np.ndarray,
        background: np.ndarray,
        shape: SignalShape,
        loadings: np.ndarray,
    ) -> None:
        self.n = counts
        self.edges = edges
        self.b0 = background
        self.shape = shape
        self.rel = shape.width
        self.L = loadings  # (n_bins, n_nuisance)
        # log(n!) - n log n + n pieces: NLL measured from the saturated model (deviance / 2).
        with np.errstate(divide="ignore", invalid="ignore"):
            self.sat = np.where(counts > 0, counts * np.log(counts) - counts, 0.0)

    @property
    def n_nuisance(self) -> int:
        return int(self.L.shape[1])

    def template(self, mass: float) -> np.ndarray:
        """The shape's template at ``mass`` without :meth:`SignalShape.template`'s checks
        (evaluated thousands of times per fit); zeros where it has no probability."""
        frac = np.diff(self.shape.cdf(self.edges / mass))
        total = float(frac.sum())
        if not (math.isfinite(total) and total > 1e-12):
            return np.zeros_like(frac)
        return frac / total

    def background(self, theta: np.ndarray) -> np.ndarray:
        return self.b0 + self.L @ theta if self.n_nuisance else self.b0

    def nll(self, params: np.ndarray) -> float:
        if not np.all(np.isfinite(params)):  # keep SIMPLEX fallbacks away from NaN parameters
            return 1e300
        mass, s = float(params[0]), float(params[1])
        theta = np.asarray(params[2:], dtype=float)
        nu = np.maximum(self.background(theta) + s * self.template(mass), _MIN_NU)
        value = np.sum(nu - self.n * np.log(nu) + self.sat)
        return float(value + 0.5 * np.dot(theta, theta))

    def template_and_derivative(self, mass: float) -> tuple[np.ndarray, np.ndarray]:
        """``G(m)`` and ``dG/dm`` (analytic; the shape scales with the mass)."""
        return self.shape.template_and_derivative(self.edges, mass)

    def grad(self, params: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(params)):
            return np.zeros(len(params))
        mass, s = float(params[0]), float(params[1])
        theta = np.asarray(params[2:], dtype=float)
        g, dg = self.template_and_derivative(mass)
        nu_raw = self.background(theta) + s * g
        w = np.where(nu_raw > _MIN_NU, 1.0 - self.n / np.maximum(nu_raw, _MIN_NU), 1.0)
        return np.r_[s * np.dot(w, dg), np.dot(w, g), self.L.T @ w + theta]

    def profile_all(self, mass: float, s_start: float) -> float:
        """NLL minimised over ``s >= 0`` and the nuisances at fixed mass.

        The problem is convex (Poisson NLL of a linear model plus a quadratic penalty), so a
        damped, projected Newton iteration converges quickly and safely.
        """
        design = np.column_stack([self.template(mass), self.L])
        penalty = np.r_[0.0, np.ones(self.n_nuisance)]

        def value(p: np.ndarray) -> float:
            nu = np.maximum(self.b0 + design @ p, _MIN_NU)
            return float(
                np.sum(nu - self.n * np.log(nu) + self.sat) + 0.5 * np.sum(penalty * p * p)
            )

        p = np.r_[s_start, np.zeros(self.n_nuisance)]
        f = value(p)
        for _ in range(200):
            nu = np.maximum(self.b0 + design @ p, _MIN_NU)
            grad = design.T @ (1.0 - self.n / nu) + penalty * p
            hess = design.T @ (design * (self.n / nu**2)[:, None]) + np.diag(penalty)
            free = np.ones(p.size, dtype=bool)
            if p[0] <= 0.0 and grad[0] >= 0.0:
                free[0] = False
            step = np.zeros_like(p)
            h = hess[np.ix_(free, free)] + 1e-12 * np.eye(int(free.sum()))
            step[free] = np.linalg.solve(h, grad[free])
            t, improved = 1.0, False
            for _ in range(50):
                cand = p - t * step
                cand[0] = max(cand[0], 0.0)
                f_cand = value(cand)
                if f_cand <= f:
                    improved = True
                    break
                t *= 0.5
            if not improved:
                break
            done = f - f_cand < 1e-11
            p, f = cand, f_cand
            if done:
                break
        return f

    def profile_s(self, mass: float) -> tuple[float, float]:
        """Best ``s >= 0`` and the NLL at fixed mass without nuisance parameters (1-d, exact)."""
        g = self.template(mass)
        b = self.b0

        def dnll(s: float) -> float:
            return float(np.sum(g - self.n * g / np.maximum(b + s * g, _MIN_NU)))

        if dnll(0.0) >= 0.0:  # NLL increases from s = 0: the constrained minimum is at the bound
            s_hat = 0.0
        else:
            upper = max(1.0, float(self.n.sum()))
            while dnll(upper) < 0.0:
                upper *= 2.0
            s_hat = float(brentq(dnll, 0.0, upper, xtol=1e-10, rtol=1e-12))
        return s_hat, self.nll(np.r_[mass, s_hat, np.zeros(self.n_nuisance)])


def _check_inputs(
    counts: np.ndarray,
    bin_edges: np.ndarray,
    background: np.ndarray | BackgroundPrediction,
    relative_width: float,
    mass_range: tuple[float, float],
    background_covariance: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, tuple[float, float]]:
    n = np.asarray(counts, dtype=float)
    edges = np.asarray(bin_edges, dtype=float)
    if isinstance(background, BackgroundPrediction):
        b = np.asarray(background.expected, dtype=float)
    else:
        b = np.asarray(background, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
        raise DataFormatError("resonance fit: bin_edges must be a finite 1-d array of >= 2 edges")
    if np.any(np.diff(edges) <= 0):
        raise DataFormatError("resonance fit: bin_edges must be strictly increasing")
    n_bins = edges.size - 1
    if n.shape != (n_bins,) or b.shape != (n_bins,):
        raise DataFormatError(
            f"resonance fit: counts {n.shape} and background {b.shape} must have one entry per "
            f"bin ({n_bins},)"
        )
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise DataFormatError("resonance fit: counts must be finite and non-negative")
    if not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise DataFormatError("resonance fit: background must be finite and positive in every bin")
    if not (math.isfinite(relative_width) and relative_width > 0):
        raise ConfigError(f"resonance_fit.relative_width must be > 0, got {relative_width}")
    low, high = (float(v) for v in mass_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(
            f"resonance_fit.mass_range must be finite with low < high, got {mass_range}"
        )
    if low < edges[0] or high > edges[-1] or low <= 0:
        raise ConfigError(
            f"resonance_fit.mass_range [{low}, {high}] must lie inside the binned range "
            f"[{edges[0]}, {edges[-1]}] (and be positive)"
        )
    cov = None
    if background_covariance is not None:
        cov = np.asarray(background_covariance, dtype=float)
        if cov.shape != (n_bins, n_bins) or not np.all(np.isfinite(cov)):
            raise DataFormatError(
                f"resonance fit: background_covariance must be a finite ({n_bins}, {n_bins}) "
                f"matrix, got shape {cov.shape}"
            )
        if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12 * float(np.abs(cov).max() + 1)):
            raise DataFormatError("resonance fit: background_covariance must be symmetric")
    return n, edges, b, cov, (low, high)


def _loadings(cov: np.ndarray | None, n_bins: int, *, rel_tol: float = 1e-9) -> np.ndarray:
    if cov is None:
        return np.zeros((n_bins, 0))
    w, v = np.linalg.eigh(0.5 * (cov + cov.T))
    if w.size and w.min() < -1e-8 * max(float(w.max()), 1e-300):
        raise DataFormatError("resonance fit: background_covariance is not positive semi-definite")
    keep = w > rel_tol * max(float(w.max()), 0.0)
    return v[:, keep] * np.sqrt(w[keep])


def _profile_scan(model: _Model, masses: np.ndarray) -> np.ndarray:
    """Profile NLL (minimised over ``s`` and nuisances) at each mass."""
    out = np.empty(masses.size)
    for k, mass in enumerate(masses):
        s_hat, value = model.profile_s(float(mass))
        if model.n_nuisance:
            value = min(value, model.profile_all(float(mass), s_hat))
        out[k] = value
    return out


def _minuit(model: _Model, start: np.ndarray, mass_range: tuple[float, float]) -> Minuit:
    names = ["mass", "n_signal", *(f"theta{k}" for k in range(model.n_nuisance))]
    m = Minuit(model.nll, start, grad=model.grad, name=names)
    m.errordef = Minuit.LIKELIHOOD
    m.print_level = 0
    m.strategy = 2
    m.tol = 1e-4
    width = model.rel * float(start[0])
    m.errors = [max(width / 5.0, 1e-6), max(math.sqrt(max(start[1], 1.0)), 1.0)] + [
        0.5
    ] * model.n_nuisance
    m.limits["mass"] = mass_range
    m.limits["n_signal"] = (0.0, 10.0 * float(model.n.sum()) + 10.0)
    return m


def _crossing(x: np.ndarray, y: np.ndarray, x0: float, *, side: int) -> float | None:
    """Distance from ``x0`` to where ``y`` first rises through 0.5 on one side, or None."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if side > 0:
        sel = x >= x0
        xs, ys = x[sel], y[sel]
    else:
        sel = x <= x0
        xs, ys = x[sel][::-1], y[sel][::-1]
    for k in range(1, xs.size):
        if ys[k] >= _DELTA_NLL_1SIGMA > ys[k - 1]:
            t = (_DELTA_NLL_1SIGMA - ys[k - 1]) / (ys[k] - ys[k - 1])
            return abs(xs[k - 1] + t * (xs[k] - xs[k - 1]) - x0)
    return None


def _grid_size(n_grid: int | None, relative_width: float, mass_range: tuple[float, float]) -> int:
    """The checked ``n_grid``, or its default: quarter-width spacing at the low mass, 21 to 401."""
    if n_grid is None:
        step = 0.25 * relative_width * mass_range[0]
        return int(min(401, max(21, math.ceil((mass_range[1] - mass_range[0]) / step) + 1)))
    if not (isinstance(n_grid, int) and n_grid >= 3):
        raise ConfigError(f"resonance_fit.n_grid must be an integer >= 3, got {n_grid!r}")
    return n_grid


class _BestFit(NamedTuple):
    """The minimum found by :func:`_migrad_fit`."""

    minuit: Minuit
    mass: float
    n_signal: float
    nll_min: float
    valid: bool


def _migrad_fit(
    model: _Model, grid: np.ndarray, scan: np.ndarray, mass_range: tuple[float, float]
) -> _BestFit:
    """MIGRAD (+ HESSE) from the best grid point of the profile scan ``scan``."""
    best = int(np.argmin(scan))
    s0, _ = model.profile_s(float(grid[best]))
    m = _minuit(model, np.r_[grid[best], s0, np.zeros(model.n_nuisance)], mass_range)
    m.migrad(ncall=20_000)
    valid = bool(m.valid)
    if valid:
        m.hesse()
    mass, s_hat = float(m.values["mass"]), float(m.values["n_signal"])
    nll_min = float(m.fval)
    if model.n_nuisance == 0:  # polish s at the fitted mass (exact 1-d; MIGRAD is loose at s = 0)
        s_exact, nll_exact = model.profile_s(mass)
        if nll_exact <= nll_min:
            s_hat, nll_min = s_exact, nll_exact
    if scan[best] < nll_min - 1e-6:  # MIGRAD should never end above the grid point it started at
        log.warning("resonance fit: MIGRAD ended above its start; keeping the grid minimum")
        mass, s_hat, nll_min, valid = float(grid[best]), s0, float(scan[best]), False
    return _BestFit(m, mass, s_hat, nll_min, valid)


def _minos_errors(m: Minuit) -> tuple[float | None, float | None, float, float]:
    """MINOS ``(mass_lo, mass_hi, s_lo, s_hi)``; None / NaN where MINOS did not determine one."""
    mass_lo = mass_hi = None
    s_lo, s_hi = math.nan, math.nan
    for name in ("mass", "n_signal"):
        try:
            m.minos(name)
        except RuntimeError as exc:  # MINOS refuses when the minimum is invalid
            log.debug("MINOS on %s failed: %s", name, exc)
            continue
        me = m.merrors[name]
        if name == "mass":
            if me.lower_valid and not me.at_lower_limit:
                mass_lo = abs(float(me.lower))
            if me.upper_valid and not me.at_upper_limit:
                mass_hi = abs(float(me.upper))
        else:
            s_lo = abs(float(me.lower)) if me.lower_valid else math.nan
            s_hi = abs(float(me.upper)) if me.upper_valid else math.nan
    return mass_lo, mass_hi, s_lo, s_hi


def fit_resonance_mass(
    counts: np.ndarray,
    bin_edges: np.ndarray,
    background: np.ndarray | BackgroundPrediction,
    *,
    relative_width: float,
    mass_range: tuple[float, float],
    background_covariance: np.ndarray | None = None,
    n_grid: int | None = None,
    signal_shape: SignalShape | None = None,
) -> ResonanceFit:
    """Fit the resonance mass and the signal yield on top of a background prediction.

    Args:
        counts: observed events per bin (e.g. the selected events in the SR bins).
        bin_edges: the ``len(counts) + 1`` bin edges (TeV in anomsearch).
        background: expected background per bin, or a
            :class:`~anomsearch.background.sideband_fit.BackgroundPrediction` (its ``expected``;
            pass its ``covariance`` as ``background_covariance`` to profile it).
        relative_width: Gaussian width of the resonance relative to its mass (the detector mjj
            resolution, ``stats.signal_width`` in a config).
        mass_range: ``(low, high)`` allowed masses, inside the binned range.
        background_covariance: covariance of the background prediction; when given the
            background is profiled with a multivariate-Gaussian constraint, otherwise fixed.
        n_grid: number of masses in the start grid and in the profile scan; default: spacing
            of a quarter of the resonance width at the low end of ``mass_range`` (at least 21,
            at most 401 points).
        signal_shape: the resonance's shape (:class:`~anomsearch.stats.SignalShape`, e.g. a
            crystal ball with a radiative low tail), its width replaced by ``relative_width``;
            None: a Gaussian.

    Returns:
        The :class:`ResonanceFit`.

    Raises:
        DataFormatError: inconsistent shapes, negative counts, non-positive background, or an
            invalid covariance.
        ConfigError: bad ``relative_width``, ``mass_range`` or ``n_grid``.

    References:
        arXiv:2101.08320 (LHC Olympics 2020); arXiv:1007.1727 (profile likelihood).

    Examples:
        >>> edges = np.linspace(3.0, 4.0, 21)
        >>> from anomsearch.stats import DIJET_CRYSTAL_BALL, gaussian_signal_template
        >>> bkg = np.full(20, 100.0)
        >>> asimov = bkg + 400.0 * gaussian_signal_template(edges, mass=3.5, width=0.035)
        >>> fit = fit_resonance_mass(asimov, edges, bkg, relative_width=0.01,
        ...                          mass_range=(3.1, 3.9))
        >>> round(fit.mass, 4), round(fit.n_signal, 1), fit.converged
        (3.5, 400.0, True)

        A resonance with a radiative tail, fitted with its own shape:

        >>> cb = DIJET_CRYSTAL_BALL._replace(width=0.03)
        >>> tail = bkg + 400.0 * cb.template(edges, 3.5)
        >>> fit = fit_resonance_mass(tail, edges, bkg, relative_width=0.03,
        ...                          mass_range=(3.1, 3.9), signal_shape=cb)
        >>> round(fit.mass, 4), round(fit.n_signal, 1)
        (3.5, 400.0)
    """
    n, edges, b, cov, mrange = _check_inputs(
        counts, bin_edges, background, relative_width, mass_range, background_covariance
    )
    n_grid = _grid_size(n_grid, relative_width, mrange)
    shape = (signal_shape or GAUSSIAN)._replace(width=float(relative_width))
    model = _Model(n, edges, b, shape.validated(where="resonance fit"), _loadings(cov, n.size))

    grid = np.linspace(mrange[0], mrange[1], n_grid)
    scan = _profile_scan(model, grid)
    m, mass, s_hat, nll_min, valid = _migrad_fit(model, grid, scan, mrange)

    # Profile for the plot and as a fallback for the mass errors: the grid plus a fine local scan.
    local_half = 4.0 * relative_width * mass
    fine = np.linspace(max(mrange[0], mass - local_half), min(mrange[1], mass + local_half), 25)
    masses, first = np.unique(np.r_[grid, fine, mass], return_index=True)
    profile = np.r_[scan, _profile_scan(model, fine), nll_min][first]
    delta = np.maximum(profile - nll_min, 0.0)

    mass_lo, mass_hi, s_lo, s_hi = _minos_errors(m) if valid else (None, None, math.nan, math.nan)
    at_limit = False
    if mass_lo is None:
        mass_lo = _crossing(masses, delta, mass, side=-1)
    if mass_hi is None:
        mass_hi = _crossing(masses, delta, mass, side=+1)
    if mass_lo is None:
        mass_lo, at_limit = mass - mrange[0], True
    if mass_hi is None:
        mass_hi, at_limit = mrange[1] - mass, True
    if not math.isfinite(s_hi):  # MINOS failed or the minimum is invalid: MIGRAD/HESSE error
        s_hi = float(m.errors["n_signal"])
    if not math.isfinite(s_lo):
        s_lo = min(s_hat, s_hi) if math.isfinite(s_hi) else math.nan
    s_lo = min(s_lo, s_hat)  # s >= 0
    s_err = s_hi if s_hat <= 0.0 else 0.5 * (s_lo + s_hi)
    converged = valid and math.isfinite(s_err)
    log.info(
        "resonance fit: m = %.4g -%.2g +%.2g, n_signal = %.1f +- %.1f%s",
        mass,
        mass_lo,
        mass_hi,
        s_hat,
        s_err,
        " (mass interval at the range limit)" if at_limit else "",
    )
    return ResonanceFit(
        mass=mass,
        mass_error=0.5 * (mass_lo + mass_hi),
        mass_errors=(float(mass_lo), float(mass_hi)),
        n_signal=s_hat,
        n_signal_error=float(s_err),
        n_signal_errors=(float(s_lo), float(s_hi)),
        profile_masses=masses,
        profile_delta_nll=delta,
        nll_min=nll_min,
        mass_at_limit=at_limit,
        converged=converged,
    )
