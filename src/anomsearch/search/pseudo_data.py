"""Background-only pseudo-datasets made from the data themselves: a global p-value for any data.

The global significance of a scan needs the distribution of its largest local Z on
background-only data. For generated data the generator throws new datasets; for a file (a black
box, real data) there is no generator, so the pseudo-datasets are made from the data:

1. the mjj spectrum of the data in the scanned range is fitted with the dijet function over all
   bins (a binned Poisson likelihood; a resonance of a few hundred events on a smooth spectrum of
   many thousands hardly moves it), and a pseudo-dataset draws ``N ~ Poisson(n_data)`` masses
   from the fitted spectrum;
2. each drawn mass ``m'`` takes its jets from a *donor*: a data event in the same block of width
   ``block_width`` in ``ln mjj`` (the blocks start at a random phase in every pseudo-dataset, and
   donors are drawn without replacement inside a block while they last, so events are rarely
   repeated), with the donor's two momenta scaled by one factor so that the pseudo-event has
   ``mjj = m'``; the jet masses and the substructure (tau's, EFP's) stay the donor's.

What this keeps: the smooth spectrum, the dependence of the features on mjj over scales larger
than a block (within a block the features are taken as independent of mjj: jet masses that
scale like mjj are off by at most half a block, +-12% for the default), and every correlation
among an event's features. Scaling the jet masses with the momenta instead (exact for masses that
scale like mjj) made the pseudo-data sculpt where the data did not: on a toy whose jet masses do
not depend on mjj the pseudo-datasets' largest local Z reached 3-7 (generator: 0.3-2.2).
What it removes: part of a resonance's localisation in mjj. Its events are spread over their
block (several signal-region widths) and keep their share of the donors: about half of its
excess stays in its signal region for the default block (27% with ``exclude`` on its signal
region). Whatever of a signal the pseudo-datasets still hold makes their largest local Z larger,
so the global p-value conservative (larger), never optimistic. ``exclude`` is not used by the
pipeline: near the excluded region donors are reused (19% of the pseudo-events), classifiers
memorise the copies, and on background-only toy data the pseudo-datasets' largest local Z rose
from 1.36 to 1.81 on average (30 datasets; the datasets' own: 1.15).

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
from iminuit import Minuit

from anomsearch.background.dijet import dijet_basis, dijet_bin_integrals, dijet_function
from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = ["DataResampler", "draw_pseudo_data", "fit_data_resampler"]

log = logging.getLogger(__name__)

#: Default block width in ln mjj (+-12.5% around the block centre).
DEFAULT_BLOCK_WIDTH = 0.25
_N_GRID = 4096


class DataResampler(NamedTuple):
    """What :func:`draw_pseudo_data` needs: the data of the range and their fitted spectrum.

    Attributes:
        events: the data events in ``mjj_range``.
        mjj_range: ``(low, high)`` in TeV.
        params: the dijet-function parameters of the fit over all bins.
        n_params: their number.
        block_width: width of the donor blocks in ``ln mjj``.
        fit_chi2: Baker-Cousins chi2 of the fit.
        fit_ndf: its degrees of freedom.
        donors: which of ``events`` may give their jets (all but those in ``exclude``).
    """

    events: EventTable
    mjj_range: tuple[float, float]
    params: np.ndarray
    n_params: int
    block_width: float
    fit_chi2: float
    fit_ndf: int
    donors: np.ndarray


def _fit_whole_spectrum(counts: np.ndarray, edges: np.ndarray, n_params: int) -> Minuit:
    """Binned Poisson fit of the dijet function to every bin (start: log-linear least squares)."""
    centres = 0.5 * (edges[:-1] + edges[1:])
    widths = np.diff(edges)
    basis = dijet_basis(centres, n_params)
    filled = counts > 0
    start = np.linalg.lstsq(basis[filled], np.log(counts[filled] / widths[filled]), rcond=None)[0]

    def nll(p: np.ndarray) -> float:
        mu = np.maximum(dijet_bin_integrals(edges, p), 1e-300)
        return float(np.sum(mu - counts * np.log(mu)))

    m = Minuit(nll, start)
    m.errordef = Minuit.LIKELIHOOD
    m.print_level = 0
    for strategy in (1, 2):
        m.strategy = strategy
        m.migrad(ncall=50_000)
        if m.valid:
            return m
        m.simplex()
    raise FitError(
        f"the {n_params}-parameter dijet fit of the whole mjj spectrum did not converge: {m.fmin}"
    )


def fit_data_resampler(
    events: EventTable,
    *,
    mjj_range: tuple[float, float],
    bin_width: float = 0.05,
    n_params: int = 5,
    block_width: float = DEFAULT_BLOCK_WIDTH,
    exclude: tuple[float, float] | None = None,
) -> DataResampler:
    """Fit the spectrum of the data in ``mjj_range`` for :func:`draw_pseudo_data`.

    Args:
        events: the data (only those in ``mjj_range`` are kept).
        mjj_range: the scanned range (TeV).
        bin_width: bin width of the spectrum fit (TeV).
        n_params: dijet-function parameters (3, 4 or 5).
        block_width: width of the donor blocks in ``ln mjj``; positive.
        exclude: an mjj interval (TeV) whose events give no jets (a study option: see the module
            docstring); its pseudo-events take donors from the rest of their block (or the
            nearest block with donors). The spectrum fit still uses every event.

    Returns:
        The :class:`DataResampler`.

    Raises:
        ConfigError: bad range or block width.
        DataFormatError: too few events in the range.
        FitError: the spectrum fit did not converge.
    """
    low, high = (float(v) for v in mjj_range)
    if not (0 < low < high):
        raise ConfigError(f"pseudo-data: mjj range must satisfy 0 < low < high, got {mjj_range}")
    if not (math.isfinite(block_width) and block_width > 0):
        raise ConfigError(f"pseudo-data: block_width must be > 0, got {block_width}")
    mjj = events.mjj
    inside = events.subset((mjj >= low) & (mjj < high))
    n_bins = max(round((high - low) / bin_width), n_params + 2)
    edges = np.linspace(low, high, n_bins + 1)
    counts, _ = np.histogram(inside.mjj, bins=edges)
    if len(inside) < 10 * n_params:
        raise DataFormatError(
            f"pseudo-data: {len(inside)} events in [{low:g}, {high:g}) TeV, too few to fit"
        )
    m = _fit_whole_spectrum(counts.astype(float), edges, n_params)
    params = np.asarray(m.values)
    mu = dijet_bin_integrals(edges, params)
    nonzero = counts > 0
    chi2 = 2.0 * float(
        np.sum(mu - counts) + np.sum(counts[nonzero] * np.log(counts[nonzero] / mu[nonzero]))
    )
    ndf = n_bins - n_params
    log.info(
        "pseudo-data: %d-parameter fit of the whole spectrum of %d events in [%.2f, %.2f) TeV, "
        "chi2/ndf = %.1f/%d; donor blocks of %.3g in ln mjj",
        n_params,
        len(inside),
        low,
        high,
        chi2,
        ndf,
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
    return DataResampler(
        inside, (low, high), params, n_params, float(block_width), chi2, ndf, donors
    )


def _draw_masses(resampler: DataResampler, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` masses from the fitted spectrum (inverse CDF on a fine grid)."""
    low, high = resampler.mjj_range
    grid = np.linspace(low, high, _N_GRID + 1)
    density = dijet_function(grid, resampler.params)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


def _donors(
    block_of_toy: np.ndarray, block_of_data: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A donor data index for every toy event, from its own block (the nearest non-empty one if
    its block holds no data), without replacement while the block's data last."""
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
    phase = rng.uniform(0.0, resampler.block_width)
    origin = math.log(resampler.mjj_range[0]) - phase
    block_of_toy = np.floor((np.log(masses) - origin) / resampler.block_width).astype(np.int64)
    block_of_data = np.floor((np.log(data.mjj) - origin) / resampler.block_width).astype(np.int64)
    allowed = np.flatnonzero(resampler.donors)
    donors = allowed[_donors(block_of_toy, block_of_data[allowed], rng)]
    jets = _boost_to_mass(data.jets[donors], masses)
    return EventTable(jets, None, None, data.extra[donors], data.extra_fields)


def _boost_to_mass(jets: np.ndarray, masses: np.ndarray, n_iterations: int = 8) -> np.ndarray:
    """The jets with both momenta scaled by one factor per event so that mjj equals ``masses``;
    the jet masses and substructure stay the donor's (fixed-point iteration, converged to
    ~1e-10 relative within a few steps since the jet masses are small against the momenta)."""
    out = jets.copy()
    scale = np.ones(len(jets))
    for _ in range(n_iterations):
        out[:, :, :3] = jets[:, :, :3] * scale[:, None, None]
        scale *= masses / EventTable(out).mjj
    out[:, :, :3] = jets[:, :, :3] * scale[:, None, None]
    return out
