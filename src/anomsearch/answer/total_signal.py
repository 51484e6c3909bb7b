"""The number of signal events in the data: the resonance's yield in the spectrum without the cut.

The LHC Olympics answer asks for the signal events *in the data*, not those that pass the anomaly
cut (their efficiency for the signal is unknown without a signal model) nor those in the signal-
region bins (a dijet resonance has a long radiative tail outside them). Without a signal model,
the one spectrum in which every signal event counts is the uncut one. So:

1. the selected spectrum gives the resonance mass (:mod:`anomsearch.answer.resonance_fit`);
2. the *uncut* mjj spectrum over the whole fit range is fitted with the dijet background function
   (all its parameters free) plus the signal shape at that mass
   (:func:`~anomsearch.background.function_choice.spurious_signal`: a signal + background fit
   over all bins, the signal's tails in the sidebands included, so they do not pull the
   background up);
3. the fitted yield, which counts the events in the SR bins, is divided by the shape's fraction
   in them: ``N = S / f_SR``, with the same scaling of the fit's error;
4. the fit and the fraction depend on the resonance's tails, unknown for an unknown signal: the
   largest change of ``N`` when steps 2-3 use another shape of an envelope (by default for a
   crystal ball :data:`~anomsearch.stats.DIJET_SHAPE_ENVELOPE`, the W' and q* tails; a
   Gaussian has none) is a systematic error, added in quadrature.

The error is large where the resonance is small against the inclusive background -- this is the
price of not assuming a signal efficiency, and it covers the truth (the pulls are measured in
``benchmarks/signal_recovery.py``). The yield after the cut stays in ``answer_details.json``.

References:
    G. Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320 (the answer's signal count);
    ATLAS Collaboration, arXiv:1910.08447 and CMS Collaboration, arXiv:1911.03947 (signal +
    background fits of the dijet spectrum).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from anomsearch.background.function_choice import SpuriousSignal, spurious_signal
from anomsearch.background.sideband_fit import validate_fit_binning
from anomsearch.exceptions import ConfigError
from anomsearch.stats.signal_shape import DIJET_SHAPE_ENVELOPE, SignalShape

__all__ = ["TotalSignal", "total_signal_in_spectrum"]

log = logging.getLogger(__name__)


class TotalSignal(NamedTuple):
    """Result of :func:`total_signal_in_spectrum`.

    Attributes:
        n_signal: signal events in the whole spectrum (may be negative: a downward fluctuation).
        n_signal_error: its total error: statistical and shape, in quadrature.
        n_signal_stat_error: the statistical error (HESSE of the fit, scaled like the yield).
        n_signal_shape_error: the shape systematic (largest change over the envelope).
        n_signal_sr: the fitted signal events in the SR bins.
        sr_fraction: the shape's fraction inside the SR bins at ``mass``.
        mass: the resonance mass used (TeV).
        n_params: parameters of the dijet function in the fit.
        chi2: Baker-Cousins chi2 of the signal + background fit over all bins.
        ndf: its degrees of freedom.
    """

    n_signal: float
    n_signal_error: float
    n_signal_stat_error: float
    n_signal_shape_error: float
    n_signal_sr: float
    sr_fraction: float
    mass: float
    n_params: int
    chi2: float
    ndf: int

    def to_dict(self) -> dict[str, float | int]:
        """The result as plain numbers (for ``answer_details.json``)."""
        return {k: (float(v) if isinstance(v, float) else v) for k, v in self._asdict().items()}


def total_signal_in_spectrum(
    counts: np.ndarray,
    bin_edges: np.ndarray,
    *,
    signal_region: tuple[float, float],
    mass: float,
    shape: SignalShape,
    n_params: int,
    shape_envelope: Sequence[SignalShape] | None = None,
) -> TotalSignal:
    """Signal events in a whole mjj spectrum from a signal + background fit at a known mass.

    Args:
        counts: events per bin over the whole fit range (the uncut spectrum).
        bin_edges: its edges (TeV), with edges on the SR boundaries.
        signal_region: the SR (TeV) whose bins the fitted yield first counts.
        mass: the resonance mass (TeV), e.g. from the selected spectrum; clipped into the SR.
        shape: the resonance's shape (its ``width`` relative to the mass).
        n_params: parameters of the dijet function (3, 4 or 5).
        shape_envelope: other shapes the resonance might have (their core width replaced by
            ``shape``'s); None: :data:`~anomsearch.stats.DIJET_SHAPE_ENVELOPE` for a crystal
            ball, none for a Gaussian.

    Returns:
        The :class:`TotalSignal`.

    Raises:
        ConfigError: bad binning, SR or ``n_params``.
        DataFormatError: counts of the wrong shape, or too few non-empty bins.
        FitError: the signal + background fit did not converge.

    Examples:
        >>> from anomsearch.background.dijet import dijet_bin_integrals
        >>> from anomsearch.stats import DIJET_CRYSTAL_BALL
        >>> edges = np.round(np.arange(2.7, 5.101, 0.1), 6)
        >>> bkg = dijet_bin_integrals(edges, [np.log(2e6), 12.0, 6.0])
        >>> cb = DIJET_CRYSTAL_BALL
        >>> counts = bkg + 2000.0 * np.diff(cb.cdf(edges / 3.5))  # 2000 events on the line
        >>> tot = total_signal_in_spectrum(counts, edges, signal_region=(3.3, 3.7), mass=3.5,
        ...                                shape=cb, n_params=3)
        >>> round(tot.n_signal), round(tot.sr_fraction, 2)
        (2000, 0.63)
        >>> round(tot.n_signal_shape_error / tot.n_signal, 2)  # fitted with a q*-like tail instead
        0.53
    """
    if not (math.isfinite(mass) and mass > 0):
        raise ConfigError(f"resonance mass must be a finite number > 0, got {mass!r}")
    # the SR as the bins see it: a config's 3.7 may be the edge 3.6999999999999997, and a mass
    # clipped to the config's value would then lie outside the SR of the fit
    edges, (low, high), in_sr = validate_fit_binning(bin_edges, signal_region)
    fit_mass = min(max(float(mass), low), high)

    def fit_with(candidate: SignalShape) -> tuple[SpuriousSignal, float]:
        fit = spurious_signal(
            np.asarray(counts, dtype=float),
            bin_edges=edges,
            signal_region=(low, high),
            n_params=int(n_params),
            signal_mass=fit_mass,
            signal_width=shape.width * fit_mass,
            signal_shape=candidate,
        )
        return fit, float(np.diff(candidate.cdf(edges / fit_mass))[in_sr].sum())

    fit, sr_fraction = fit_with(shape)
    n_signal = fit.signal / sr_fraction
    if shape_envelope is None:
        shape_envelope = DIJET_SHAPE_ENVELOPE if shape.kind == "crystal_ball" else ()
    shape_error = 0.0
    for other in shape_envelope:  # the same fit with each other shape (its tails, this width)
        other_fit, other_fraction = fit_with(other._replace(width=shape.width))
        shape_error = max(shape_error, abs(other_fit.signal / other_fraction - n_signal))
    stat_error = fit.signal_error / sr_fraction
    result = TotalSignal(
        n_signal=n_signal,
        n_signal_error=math.hypot(stat_error, shape_error),
        n_signal_stat_error=stat_error,
        n_signal_shape_error=shape_error,
        n_signal_sr=float(fit.signal),
        sr_fraction=sr_fraction,
        mass=fit_mass,
        n_params=int(n_params),
        chi2=float(fit.chi2),
        ndf=int(fit.ndf),
    )
    log.info(
        "signal in the uncut spectrum: %.0f +- %.0f (stat) +- %.0f (shape) events (%.0f in the "
        "SR bins, %.0f%% of the shape at %.3g TeV)",
        result.n_signal,
        stat_error,
        shape_error,
        result.n_signal_sr,
        100 * sr_fraction,
        fit_mass,
    )
    return result
