"""Resonance mass from a profile of signal + background fits over the whole selected spectrum.

The fit of :mod:`anomsearch.answer.resonance_fit` sees only the SR bins, on a background that the
sideband fit made -- with the resonance's tails in the sidebands absorbed into it -- and its mass
interval stops at the SR edges. Here the mass is scanned over a range wider than the SR, and at
each mass the whole spectrum of the fit range is fitted with the dijet function (all parameters
free) plus the signal shape at that mass
(:func:`~anomsearch.background.function_choice.spurious_signal`); the fit's chi2 (Baker-Cousins,
so ``Delta chi2 = 2 Delta NLL``) as a function of the mass is the profile likelihood of the mass.
Its minimum among the masses with a positive signal (refined by a parabola through the three grid
masses around it) is the mass, and ``Delta chi2 = 1`` gives its 68% interval, which may extend
beyond the SR.

References:
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727 (profile likelihood); ATLAS
    Collaboration, arXiv:1910.08447 (signal + background fits of the dijet spectrum); LHC
    Olympics 2020, arXiv:2101.08320 (the answer's mass).
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np

from anomsearch.answer.resonance_fit import _crossing as nll_crossing
from anomsearch.background.function_choice import spurious_signal
from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.stats.signal_shape import SignalShape

__all__ = ["MassProfile", "mass_scan_range", "profile_resonance_mass", "signal_window"]

log = logging.getLogger(__name__)


class MassProfile(NamedTuple):
    """Result of :func:`profile_resonance_mass` (masses in the unit of the bin edges).

    Attributes:
        mass: the best mass.
        mass_errors: ``(down, up)`` distances to ``Delta chi2 = 1`` (to the scanned range's end
            where the profile does not reach 1 inside it; to both ends where the minimum is at
            one of them).
        mass_at_limit: an interval reaches the end of the scanned range, or the minimum does.
        n_signal_sr: the fitted signal in the fit's SR bins at the best mass.
        masses: the scanned masses (those whose fit converged).
        delta_chi2: the profile, ``chi2 - min chi2``.
        n_failed: scanned masses whose fit did not converge (left out of the profile).
    """

    mass: float
    mass_errors: tuple[float, float]
    mass_at_limit: bool
    n_signal_sr: float
    masses: np.ndarray
    delta_chi2: np.ndarray
    n_failed: int = 0

    @property
    def mass_error(self) -> float:
        """The symmetrised error."""
        return 0.5 * (self.mass_errors[0] + self.mass_errors[1])


def mass_scan_range(
    signal_region: tuple[float, float], bin_edges: np.ndarray
) -> tuple[float, float]:
    """The masses the answer's profile scans: from half an SR width below the SR to half an SR
    width above it, inside the spectrum's inner bin edges (a fit needs a bin on either side).

    Args:
        signal_region: the SR ``(low, high)``.
        bin_edges: the selected spectrum's bin edges (same unit).

    Returns:
        ``(low, high)`` of the scanned masses.

    Examples:
        >>> edges = np.arange(2700.0, 5501.0, 100.0)  # GeV
        >>> mass_scan_range((3300.0, 3700.0), edges)
        (3100.0, 3900.0)
        >>> mass_scan_range((2800.0, 3200.0), edges)  # not below the second edge
        (2800.0, 3400.0)
    """
    low, high = (float(v) for v in signal_region)
    edges = np.asarray(bin_edges, dtype=float)
    half = 0.5 * (high - low)
    return max(low - half, float(edges[1])), min(high + half, float(edges[-2]))


def signal_window(bin_edges: np.ndarray, mass: float, half: float) -> tuple[float, float]:
    """The bin-aligned window ``[mass - half, mass + half]`` (out to the enclosing bin edges)
    where a signal + background fit places its signal, leaving a bin of the spectrum on either
    side.

    Examples:
        >>> edges = np.arange(2700.0, 5501.0, 100.0)  # GeV
        >>> signal_window(edges, 3500.0, 350.0)
        (3100.0, 3900.0)
        >>> signal_window(edges, 2750.0, 350.0)  # from the second edge, not the first
        (2800.0, 3100.0)
    """
    edges = np.asarray(bin_edges, dtype=float)
    lo = int(np.clip(np.searchsorted(edges, mass - half, side="right") - 1, 1, edges.size - 3))
    hi = int(np.clip(np.searchsorted(edges, mass + half, side="left"), lo + 1, edges.size - 2))
    return float(edges[lo]), float(edges[hi])


def _chi2_at(counts, edges, mass, shape, n_params) -> tuple[float, float] | None:
    """``(chi2, signal in the window)`` of the signal + background fit at ``mass``."""
    window = signal_window(edges, mass, 2.0 * shape.width * mass)
    if not window[0] <= mass <= window[1]:
        return None
    try:
        fit = spurious_signal(
            counts,
            bin_edges=edges,
            signal_region=window,
            n_params=n_params,
            signal_mass=mass,
            signal_width=shape.width * mass,
            signal_shape=shape,
        )
    except (FitError, DataFormatError, ConfigError) as exc:
        log.debug("mass profile: no fit at %.4g: %s", mass, exc)
        return None
    return float(fit.chi2), float(fit.signal)


def _scan(counts, edges, masses, shape, n_params) -> dict[float, tuple[float, float]]:
    """``{mass: (chi2, signal)}`` of the converged fits at ``masses``."""
    fits = {float(m): _chi2_at(counts, edges, float(m), shape, n_params) for m in masses}
    return {m: f for m, f in fits.items() if f is not None}


def _best(fits: dict[float, tuple[float, float]]) -> tuple[float, tuple[float, float]]:
    """The mass with the smallest chi2 among those with a positive signal."""
    positive = [(m, f) for m, f in fits.items() if f[1] > 0]
    if not positive:
        raise FitError("mass profile: no mass in the range gives a positive signal")
    return min(positive, key=lambda mf: mf[1][0])


def profile_resonance_mass(
    counts: np.ndarray,
    bin_edges: np.ndarray,
    *,
    mass_range: tuple[float, float],
    shape: SignalShape,
    n_params: int,
    n_grid: int | None = None,
) -> MassProfile:
    """The resonance mass from the profile of signal + background fits (module docstring).

    Args:
        counts: selected events per bin over the whole fit range.
        bin_edges: the bins' edges.
        mass_range: ``(low, high)`` scanned masses, inside the binned range.
        shape: the resonance's shape (its ``width`` relative to the mass).
        n_params: parameters of the dijet function.
        n_grid: masses scanned; default: a quarter of the signal width apart (21 to 121).

    Returns:
        The :class:`MassProfile`.

    Raises:
        ConfigError: a bad mass range.
        FitError: no mass with a positive fitted signal.

    Examples:
        >>> from anomsearch.background.dijet import dijet_bin_integrals
        >>> from anomsearch.stats import GAUSSIAN
        >>> edges = np.round(np.arange(2.7, 5.101, 0.1), 6)
        >>> shape = GAUSSIAN._replace(width=0.04)
        >>> counts = dijet_bin_integrals(edges, [np.log(3e3), 10.0, 5.0]) + 3000.0 * np.diff(
        ...     shape.cdf(edges / 3.62))
        >>> prof = profile_resonance_mass(counts, edges, mass_range=(3.1, 4.1), shape=shape,
        ...                               n_params=3)
        >>> round(prof.mass, 2), prof.mass_at_limit
        (3.62, False)
    """
    edges = np.asarray(bin_edges, dtype=float)
    n = np.asarray(counts, dtype=float)
    low, high = (float(v) for v in mass_range)
    if not (edges[0] < low < high < edges[-1]):
        raise ConfigError(
            f"mass_range [{low}, {high}] must lie inside the binned range [{edges[0]}, {edges[-1]}]"
        )
    if n_grid is None:
        step = 0.25 * shape.width * low
        n_grid = int(min(121, max(21, math.ceil((high - low) / step) + 1)))
    grid = np.linspace(low, high, n_grid)
    fits = _scan(n, edges, grid, shape, n_params)
    n_failed = grid.size - len(fits)
    # a fine scan, 16 steps over +-2 grid steps around the minimum: a sharp profile would
    # otherwise cross Delta chi2 = 1 between two grid masses, where interpolating a convex curve
    # linearly puts the crossing too close (an interval too short)
    step = float(grid[1] - grid[0])
    centre = _best(fits)[0]
    fine = np.linspace(max(low, centre - 2 * step), min(high, centre + 2 * step), 17)
    fine_fits = _scan(n, edges, fine, shape, n_params)
    n_failed += fine.size - len(fine_fits)
    fits = dict(sorted({**fits, **fine_fits}.items()))
    masses = np.array(list(fits))
    chi2 = np.array([f[0] for f in fits.values()])
    best_mass, (best_chi2, best_signal) = _best(fits)
    best = int(np.flatnonzero(masses == best_mass)[0])
    if 0 < best < masses.size - 1:  # the parabola through the three masses around the minimum
        x, y = masses[best - 1 : best + 2], chi2[best - 1 : best + 2]
        a2, a1, _ = np.polyfit(x - x[1], y, 2)
        if a2 > 0 and abs(a1 / (2 * a2)) < x[2] - x[1]:
            best_mass = float(x[1] - a1 / (2 * a2))
    delta = chi2 - best_chi2
    # Delta NLL = Delta chi2 / 2 rising through 0.5 on either side of the best grid mass
    down = nll_crossing(masses, 0.5 * delta, float(masses[best]), side=-1)
    up = nll_crossing(masses, 0.5 * delta, float(masses[best]), side=+1)
    if best in (0, masses.size - 1):
        # no minimum inside the range: the profile still falls at its end, the mass lies there
        # or beyond, and the crossing on the inner side bounds nothing but that side -- the
        # errors reach across the range (a one-sided interval's half once made a mass at the
        # edge of the range look measured to +-22 GeV)
        down = up = None
    at_limit = down is None or up is None
    shift = best_mass - float(masses[best])  # from the grid point to the refined minimum
    errors = (
        max(down + shift, 0.0) if down is not None else best_mass - float(masses[0]),
        max(up - shift, 0.0) if up is not None else float(masses[-1]) - best_mass,
    )
    log.info(
        "mass profile over [%.3g, %.3g]: m = %.4g -%.2g +%.2g%s",
        low,
        high,
        best_mass,
        *errors,
        " (interval at the range limit)" if at_limit else "",
    )
    return MassProfile(float(best_mass), errors, at_limit, best_signal, masses, delta, n_failed)
