"""Background-only pseudo-datasets made from the data themselves: a global p-value for any data.

The global significance of a scan needs the distribution of its largest local Z on
background-only data. For generated data the generator throws new datasets; for a file (a black
box, real data) there is no generator, so the pseudo-datasets are made from the data:

1. the mjj spectrum of the data in the scanned range is fitted with the dijet function over all
   bins (a binned Poisson likelihood; a resonance of a few hundred events on a smooth spectrum of
   many thousands hardly moves it), with the fewest parameters that describe it (3 to 5, the
   nested F-test of :func:`~anomsearch.background.function_choice.choose_dijet_function`), and a
   pseudo-dataset draws ``N ~ Poisson(n_data)`` masses from the fitted spectrum. A function
   more flexible than the spectrum needs follows the data's own fluctuations, and every
   pseudo-dataset inherits them on top of its own: on the toy (60k events, 30 datasets x 20
   spectra) a 5-parameter fit passed 0.6-0.7 of each window's sideband-fit pull on to its
   pseudo-datasets, whose pulls then had a spread of 1.15-1.27 instead of 1 (1.00-1.04 with the
   order chosen; it is 3 there);
2. each drawn mass ``m'`` takes its jets from a *donor* data event near it in mjj, with the
   donor's two momenta scaled by one factor so that the pseudo-event has ``mjj = m'`` and each
   jet's mass scaled by ``(m' / m_donor) ** gamma_j``; the substructure (tau's, EFP's) stays the
   donor's. Two ways to pick donors (``donor_scheme``):

   * ``"smooth"`` (default): toys and data get independent uniform offsets of width
     ``block_width`` in ``ln mjj`` and are matched by rank, so a donor lies within
     ``+-block_width`` (for the default: half of them within +-5%, 90% within +-15%), centred
     over all pairs, with no edges, and each data event gives its jets about once;
   * ``"blocks"``: a data event of the same block of width ``block_width`` in ``ln mjj`` (random
     block phase per pseudo-dataset, donors drawn without replacement while the block's data
     last). Within a block the features are independent of mjj, so they jump at every block
     edge.

The exponents ``gamma_j`` are measured on the data: the slope of the logarithm of each jet's
median mass against ``ln mjj`` over the whole range (a resonance of a few hundred events hardly
moves a median): 0.2 on the package's Pythia QCD, ~1 on a toy whose masses scale like mjj, ~0
on the toy without correlation (where scaling every mass like mjj made the pseudo-data sculpt:
largest local Z 3-7 against the generator's 0.3-2.2).

What the pseudo-data keep: the smooth spectrum, the dependence of the features on mjj over
scales larger than a block or the kernel, the jet masses' power-law growth, and every
correlation among an event's features. What they remove: part of a resonance's localisation in
mjj (its events give their jets to pseudo-events up to a block or the kernel away: on 200k toy
events with 1500 injected W', two thirds of the signal region's signal-like events stayed in it,
0.67 for the kernel and 0.66 for blocks, 5 pseudo-datasets each). Whatever of a signal they
still hold makes their largest local Z larger, so the global p-value conservative.

Calibration on Pythia QCD without signal (``benchmarks/pythia_global_calibration.py``: 20
disjoint subsets of 50k events, the blind search of ``analyses/blackbox/`` -- CWoLa hunting with
boosted trees, 7 windows x 3 efficiencies --, 4 smooth pseudo-datasets each): the
pseudo-datasets' largest local Z (median 2.17, 80 of them) follows the subsets' own (2.09; KS p
0.95), each subset's p-value against the pooled pseudo-datasets is uniform (KS p 0.85; mean
0.54 against the subsets' exchangeable ranks' 0.525); Sidak's p-value was below
those ranks in all 20 (mean 0.38). With blocks a 300k-event box (its own 3.76) got
pseudo-datasets with 9-16 -- the classifier finds the block edges --, a global p-value of 1
whatever the data: hence ``smooth`` is the default. On the toy (200 background-only datasets
of 60k events per setting, 9 pseudo-datasets each) it is calibrated: largest local Z 1.26
against the datasets' own 1.23 without feature-mjj correlation, 1.29 against 1.21 with jet
masses scaling like mjj; the datasets' randomised ranks among their pseudo-datasets uniform
(KS p 0.18 and 0.43; ``benchmarks/results/global_calibration_smooth_*.json``).
``exclude`` (a study option, not used by the
pipeline) keeps an mjj interval's events from giving jets; near it donors repeat and
classifiers memorise the copies (block scheme: the largest local Z of background-only toy
datasets' pseudo-data rose from 1.36 to 1.81 on average, 30 datasets; their own 1.15).

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1902.02634 (pseudo-experiments of the whole hunt);
    A. Hallin et al., arXiv:2109.00546 (CATHODE: features conditional on mjj learnt from the
    data, the other way to make such pseudo-data).
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np

from anomsearch.background.dijet import DIJET_N_PARAMS, dijet_function
from anomsearch.background.function_choice import (
    FunctionChoice,
    choose_dijet_function,
    nested_fit_test,
)
from anomsearch.background.sideband_fit import SidebandFit
from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = ["DataResampler", "draw_pseudo_data", "fit_data_resampler", "jet_mass_exponents"]

log = logging.getLogger(__name__)

#: How a pseudo-event finds its donor (see the module docstring).
DONOR_SCHEMES = ("blocks", "smooth")
#: Default width of the donor blocks (+-12.5%) or of the smooth kernel (donors within +-25%,
#: half of them within +-5%) in ln mjj.
DEFAULT_BLOCK_WIDTH = 0.25
_N_GRID = 4096
#: Goodness of fit below which the spectrum's function gives way to a higher order.
MIN_SPECTRUM_FIT_P = 0.01


class DataResampler(NamedTuple):
    """What :func:`draw_pseudo_data` needs: the data of the range and their fitted spectrum.

    Attributes:
        events: the data events in ``mjj_range``.
        mjj_range: ``(low, high)`` in TeV.
        params: the dijet-function parameters of the fit over all bins.
        n_params: their number.
        block_width: width of the donor kernel in ``ln mjj`` (see the module docstring).
        fit_chi2: Baker-Cousins chi2 of the fit.
        fit_ndf: its degrees of freedom.
        donors: which of ``events`` may give their jets (all but those in ``exclude``).
        jet_mass_exponents: ``(gamma_1, gamma_2)``, each jet's mass scales like ``mjj**gamma``
            from donor to pseudo-event.
        donor_scheme: ``"blocks"`` or ``"smooth"`` (see the module docstring).
    """

    events: EventTable
    mjj_range: tuple[float, float]
    params: np.ndarray
    n_params: int
    block_width: float
    fit_chi2: float
    fit_ndf: int
    donors: np.ndarray
    jet_mass_exponents: tuple[float, float] = (0.0, 0.0)
    donor_scheme: str = "smooth"


def fit_data_resampler(
    events: EventTable,
    *,
    mjj_range: tuple[float, float],
    bin_width: float = 0.05,
    n_params: int | None = None,
    block_width: float = DEFAULT_BLOCK_WIDTH,
    exclude: tuple[float, float] | None = None,
    donor_scheme: str = "smooth",
) -> DataResampler:
    """Fit the spectrum of the data in ``mjj_range`` for :func:`draw_pseudo_data`.

    Args:
        events: the data (only those in ``mjj_range`` are kept).
        mjj_range: the scanned range (TeV).
        bin_width: bin width of the spectrum fit (TeV).
        n_params: dijet-function parameters (3, 4 or 5); None (default): the fewest that
            describe the spectrum, by the nested F-test of
            :func:`~anomsearch.background.function_choice.choose_dijet_function`.
        block_width: width of the donor blocks or kernel in ``ln mjj``; positive.
        donor_scheme: ``"smooth"`` (default) or ``"blocks"`` (see the module docstring).
        exclude: an mjj interval (TeV) whose events give no jets (a study option: see the module
            docstring); its pseudo-events take donors from the events around it. The spectrum
            fit still uses every event.

    Returns:
        The :class:`DataResampler`.

    Raises:
        ConfigError: bad range, block width or donor scheme.
        DataFormatError: too few events in the range.
        FitError: the spectrum fit did not converge.
    """
    low, high = (float(v) for v in mjj_range)
    if not (0 < low < high):
        raise ConfigError(f"pseudo-data: mjj range must satisfy 0 < low < high, got {mjj_range}")
    if not (math.isfinite(block_width) and block_width > 0):
        raise ConfigError(f"pseudo-data: block_width must be > 0, got {block_width}")
    if donor_scheme not in DONOR_SCHEMES:
        raise ConfigError(
            f"pseudo-data: donor scheme must be one of {DONOR_SCHEMES}, got {donor_scheme!r}"
        )
    mjj = events.mjj
    inside = events.subset((mjj >= low) & (mjj < high))
    n_bins = max(round((high - low) / bin_width), max(DIJET_N_PARAMS) + 2)
    edges = np.linspace(low, high, n_bins + 1)
    counts, _ = np.histogram(inside.mjj, bins=edges)
    if len(inside) < 10 * max(DIJET_N_PARAMS):
        raise DataFormatError(
            f"pseudo-data: {len(inside)} events in [{low:g}, {high:g}) TeV, too few to fit"
        )
    orders = DIJET_N_PARAMS if n_params is None else (int(n_params),)
    try:
        choice = choose_dijet_function(
            counts.astype(float), bin_edges=edges, signal_region=None, orders=orders
        )
    except FitError as exc:
        raise FitError(f"pseudo-data: the fit of the whole mjj spectrum failed: {exc}") from exc
    fit = _described_spectrum(choice)
    n_params = fit.n_params
    params, chi2, ndf = np.asarray(fit.params), float(fit.chi2), int(fit.ndf)
    log.info(
        "pseudo-data: %d-parameter fit of the whole spectrum of %d events in [%.2f, %.2f) TeV, "
        "chi2/ndf = %.1f/%d; donors: %s, %.3g wide in ln mjj",
        n_params,
        len(inside),
        low,
        high,
        chi2,
        ndf,
        donor_scheme,
        block_width,
    )
    donors = np.ones(len(inside), dtype=bool)
    if exclude is not None:
        donors = (inside.mjj < float(exclude[0])) | (inside.mjj >= float(exclude[1]))
        log.info(
            "pseudo-data: the %d events in [%.3f, %.3f) TeV give no jets",
            int(np.sum(~donors)),
            *exclude,
        )
    gammas = jet_mass_exponents(inside)
    log.info("pseudo-data: jet masses scale like mjj^%.2f and mjj^%.2f", *gammas)
    return DataResampler(
        inside,
        (low, high),
        params,
        n_params,
        float(block_width),
        chi2,
        ndf,
        donors,
        gammas,
        donor_scheme,
    )


def _described_spectrum(choice: FunctionChoice) -> SidebandFit:
    """The F-test's order, unless its fit does not describe the spectrum (goodness of fit
    p < :data:`MIN_SPECTRUM_FIT_P`) and a higher order improves it significantly: then the
    lowest such order. The consecutive F-test stops at the first step that does not help (on a
    50k-event Pythia slice 3 -> 4 did not, 3 -> 5 did: chi2 50.8 / 21 against 28.4 / 19)."""
    fit = choice.fit
    if fit.p_value >= MIN_SPECTRUM_FIT_P:
        return fit
    for n in sorted(choice.fits):
        if n > fit.n_params and nested_fit_test(fit, choice.fits[n]).p_value_f < choice.alpha:
            log.info(
                "pseudo-data: the %d-parameter fit does not describe the spectrum (chi2/ndf = "
                "%.1f/%d): %d parameters instead",
                fit.n_params,
                fit.chi2,
                fit.ndf,
                n,
            )
            return choice.fits[n]
    return fit


def jet_mass_exponents(events: EventTable, *, n_bins: int = 12) -> tuple[float, float]:
    """Each jet's ``d ln(median mass) / d ln mjj``, a least-squares line through the medians of
    ``n_bins`` mjj quantile bins (jets with zero mass are left out).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> mjj = rng.uniform(2.7, 5.0, 20_000)
        >>> jets = np.ones((mjj.size, 2, 7))  # px, py, pz, m, tau1, tau2, tau3
        >>> jets[:, :, 1:3] = 0.0
        >>> jets[:, 0, 0], jets[:, 1, 0] = 0.5 * mjj, -0.5 * mjj
        >>> jets[:, 0, 3] = 0.1 * (mjj / 3.5) * rng.lognormal(0, 0.3, mjj.size)
        >>> jets[:, 1, 3] = 0.3 * rng.lognormal(0, 0.3, mjj.size)
        >>> [round(g, 1) for g in jet_mass_exponents(EventTable(jets))]
        [1.0, 0.0]
    """
    log_mjj = np.log(events.mjj)
    edges = np.quantile(log_mjj, np.linspace(0.0, 1.0, n_bins + 1))
    which = np.clip(np.searchsorted(edges, log_mjj, side="right") - 1, 0, n_bins - 1)
    exponents = []
    for j in (0, 1):
        mass = events.jets[:, j, 3]
        x, y = [], []
        for b in range(n_bins):
            sel = (which == b) & (mass > 0)
            if sel.sum() >= 20:
                x.append(float(np.median(log_mjj[sel])))
                y.append(math.log(float(np.median(mass[sel]))))
        exponents.append(float(np.polyfit(x, y, 1)[0]) if len(x) >= 3 else 0.0)
    return exponents[0], exponents[1]


def _draw_masses(resampler: DataResampler, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` masses from the fitted spectrum (inverse CDF on a fine grid)."""
    low, high = resampler.mjj_range
    grid = np.linspace(low, high, _N_GRID + 1)
    density = dijet_function(grid, resampler.params)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


def _block_donors(
    log_toy: np.ndarray,
    log_data: np.ndarray,
    width: float,
    rng: np.random.Generator,
    *,
    start: float,
) -> np.ndarray:
    """A donor data index for every toy event, from its own block of ``width`` in ``ln mjj``
    (blocks from ``start`` minus a random phase; the nearest non-empty block if its own holds no
    data), without replacement while the block's data last."""
    origin = start - rng.uniform(0.0, width)
    block_of_toy = np.floor((log_toy - origin) / width).astype(np.int64)
    block_of_data = np.floor((log_data - origin) / width).astype(np.int64)
    donors = np.empty(block_of_toy.size, dtype=np.int64)
    data_blocks = np.unique(block_of_data)
    for b in np.unique(block_of_toy):
        toys = np.flatnonzero(block_of_toy == b)
        source = b if b in data_blocks else data_blocks[np.argmin(np.abs(data_blocks - b))]
        pool = np.flatnonzero(block_of_data == source)
        n_rounds = -(-toys.size // pool.size)
        picks = np.concatenate([rng.permutation(pool) for _ in range(n_rounds)])
        donors[toys] = picks[: toys.size]
    return donors


def _smooth_donors(
    log_toy: np.ndarray, log_data: np.ndarray, width: float, rng: np.random.Generator
) -> np.ndarray:
    """A donor data index for every toy event: toys and data get independent uniform offsets
    in ``(-width/2, width/2)`` on ``ln mjj`` and are matched by rank (a permutation of the data
    when there are as many toys; a few donors are used twice when there are more). A toy's
    donor thus sits within ``+-width`` of it in ``ln mjj``, with no fixed block edges."""
    key_toy = log_toy + rng.uniform(-0.5 * width, 0.5 * width, log_toy.size)
    key_data = log_data + rng.uniform(-0.5 * width, 0.5 * width, log_data.size)
    rank_of_toy = np.empty(log_toy.size, dtype=np.int64)
    rank_of_toy[np.argsort(key_toy, kind="stable")] = np.arange(log_toy.size)
    data_by_rank = np.argsort(key_data, kind="stable")
    scaled = (rank_of_toy * log_data.size) // max(log_toy.size, 1)
    return data_by_rank[np.minimum(scaled, log_data.size - 1)]


def draw_pseudo_data(resampler: DataResampler, *, seed: int) -> EventTable:
    """One background-only pseudo-dataset (see the module docstring).

    Args:
        resampler: from :func:`fit_data_resampler`.
        seed: the pseudo-dataset's seed.

    Returns:
        The pseudo-events (no labels, no weights), in ``resampler.mjj_range``.
    """
    rng = np.random.default_rng(seed)
    data = resampler.events
    n = int(rng.poisson(len(data)))
    masses = _draw_masses(resampler, n, rng)
    allowed = np.flatnonzero(resampler.donors)
    log_toy, log_data, width = np.log(masses), np.log(data.mjj[allowed]), resampler.block_width
    if resampler.donor_scheme == "smooth":
        picks = _smooth_donors(log_toy, log_data, width, rng)
    else:
        start = math.log(resampler.mjj_range[0])
        picks = _block_donors(log_toy, log_data, width, rng, start=start)
    donors = allowed[picks]
    jets = data.jets[donors].copy()
    ratio = masses / data.mjj[donors]
    for j, gamma in enumerate(resampler.jet_mass_exponents):
        jets[:, j, 3] *= ratio**gamma
    jets = _boost_to_mass(jets, masses)
    return EventTable(jets, None, None, data.extra[donors], data.extra_fields)


def _boost_to_mass(jets: np.ndarray, masses: np.ndarray, n_iterations: int = 8) -> np.ndarray:
    """The jets with both momenta scaled by one factor per event so that mjj equals ``masses``;
    the jet masses and substructure stay as given (fixed-point iteration, converged to
    ~1e-10 relative within a few steps since the jet masses are small against the momenta)."""
    out = jets.copy()
    scale = np.ones(len(jets))
    for _ in range(n_iterations):
        out[:, :, :3] = jets[:, :, :3] * scale[:, None, None]
        scale *= masses / EventTable(out).mjj
    out[:, :, :3] = jets[:, :, :3] * scale[:, None, None]
    return out
