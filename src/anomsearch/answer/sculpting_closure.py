"""How the score cut's sculpting moves the fitted resonance mass, measured on background alone.

A score that has learnt mjj -- CWoLa hunting does when the background's features depend on mjj --
leaves a selected background with a bump and a dip that no smooth dijet function follows. The
mass profile (:mod:`anomsearch.answer.mass_profile`) fits signal + dijet background over the
whole selected spectrum, so a sculpted bump next to the resonance pulls the fitted mass towards
itself (on the package's toy with an mjj-dependent jet mass, 600 signal events on 1M: mass
pulls -1.2 on average, ``benchmarks/sculpted_mass_bias.py``).

The spurious-signal test (:mod:`anomsearch.search.spurious`) already holds the selected spectrum
the cut makes of an independent background-only sample (``report.json``
``background.spurious_template``). A closure test on it measures the shift:

1. the template, scaled to the data's selected background (its events minus the fitted signal),
   plus the signal the data's profile found -- its shape at the fitted mass, with the fitted
   yield -- is profiled like the data;
2. the mass it gives minus the injected mass is the shift the sculpted background and the fit
   together make (``shift``); the answer's mass is the profiled mass minus it. The shift depends
   on where the signal sits, so it is measured once more with the signal injected at the
   corrected mass (a fixed-point step: the mass whose injection comes back at the data's);
3. the shift's error is its spread over Poisson replicas of the template (weighted events
   through their effective counts ``n^2 / sum w^2``): the template is a sample as large as the
   data's background, and its fluctuations move the shift as much as the sculpting may. The
   spread is half the 16-84% interval of the replicas' shifts, not their standard deviation: a
   replica's profile now and then jumps to another minimum (the sculpted bump itself), and a
   few such jumps would set a standard deviation alone. The error is added to the mass's in
   quadrature.

Without sculpting the shift is zero within its error and the mass stays unbiased with a larger
error; a larger reference sample (``data.n_reference_background``) makes that error smaller.

References:
    ATLAS Collaboration, arXiv:1407.6583 (spurious signal from a background-only template);
    A. Hallin et al., arXiv:2109.00546 (CATHODE: CWoLa's sculpting with correlated features);
    G. Kasieczka et al., arXiv:2101.08320 (the LHC Olympics answer's mass).
"""

from __future__ import annotations

import hashlib
import logging
from typing import NamedTuple

import numpy as np

from anomsearch.answer.mass_profile import profile_resonance_mass, signal_window
from anomsearch.exceptions import DataFormatError, FitError
from anomsearch.stats.signal_shape import SignalShape

__all__ = ["SculptingClosure", "measure_sculpting_shift"]

log = logging.getLogger(__name__)

#: Poisson replicas of the template whose spread is the shift's error.
DEFAULT_REPLICAS = 16
#: The fewest replicas whose spread is taken as an error.
MIN_REPLICAS = 4


class SculptingClosure(NamedTuple):
    """Result of :func:`measure_sculpting_shift` (masses in the unit of the bin edges).

    Attributes:
        shift: the mass profiled on template + injected signal minus the injected mass (no
            larger than keeps the corrected mass, ``mass - shift``, inside the scanned range).
        shift_error: the shift's spread over Poisson replicas of the template (half the
            16-84% interval).
        injected_mass: the mass of the injected signal (the data's profiled mass corrected by
            the shift measured at it).
        injected_signal: the injected signal events over the binned range.
        scale: data's selected background events per template event.
        n_replicas: replicas whose profile converged.
    """

    shift: float
    shift_error: float
    injected_mass: float
    injected_signal: float
    scale: float
    n_replicas: int

    def to_dict(self) -> dict[str, float | int]:
        """The JSON-ready record (``answer_details.json``)."""
        return {k: (int(v) if k == "n_replicas" else float(v)) for k, v in self._asdict().items()}


def measure_sculpting_shift(
    template: np.ndarray,
    template_sumw2: np.ndarray,
    *,
    observed: np.ndarray,
    bin_edges: np.ndarray,
    mass: float,
    n_signal_window: float,
    shape: SignalShape,
    n_params: int,
    mass_range: tuple[float, float],
    n_replicas: int = DEFAULT_REPLICAS,
) -> SculptingClosure:
    """The shift of the profiled mass that the template's sculpting makes (module docstring).

    Args:
        template: the background-only selected spectrum (weighted events per bin of
            ``bin_edges``, before scaling).
        template_sumw2: its sum of squared weights per bin.
        observed: the data's selected spectrum in the same bins.
        bin_edges: the bins' edges.
        mass: the data's profiled mass (the signal is injected there, then at the corrected
            mass).
        n_signal_window: the data profile's fitted signal in its signal window
            (:attr:`~anomsearch.answer.mass_profile.MassProfile.n_signal_sr`).
        shape: the resonance's shape (as the data's profile used it).
        n_params: parameters of the dijet function.
        mass_range: the profile's scanned masses.
        n_replicas: Poisson replicas of the template for the shift's error (at least 4).

    Returns:
        The :class:`SculptingClosure`; the replicas are seeded by the template's content, so the
        same results give the same answer.

    Raises:
        DataFormatError: template, variance and spectrum differ in size, the template is
            empty, or fewer than four replicas are asked for.
        FitError: the profile of template + signal finds no mass with a positive signal, or
            fewer than four replicas converge.

    Examples:
        >>> from anomsearch.background.dijet import dijet_bin_integrals
        >>> from anomsearch.stats import GAUSSIAN
        >>> edges = np.round(np.arange(2.7, 5.101, 0.1), 6)
        >>> shape = GAUSSIAN._replace(width=0.05)
        >>> smooth = dijet_bin_integrals(edges, [np.log(3e3), 10.0, 5.0])
        >>> closure = measure_sculpting_shift(
        ...     smooth, smooth, observed=smooth, bin_edges=edges, mass=3.5, n_signal_window=300.0,
        ...     shape=shape, n_params=3, mass_range=(3.1, 3.9), n_replicas=4)
        >>> abs(closure.shift) < 0.01  # a smooth template makes no shift
        True
    """
    edges = np.asarray(bin_edges, dtype=float)
    counts = np.asarray(template, dtype=float)
    sumw2 = np.asarray(template_sumw2, dtype=float)
    data = np.asarray(observed, dtype=float)
    if not (counts.shape == sumw2.shape == data.shape == (edges.size - 1,)):
        raise DataFormatError(
            f"template ({counts.size} bins), its sumw2 ({sumw2.size}) and the selected spectrum "
            f"({data.size}) must each have one value per bin of the {edges.size - 1} bins"
        )
    if not counts.sum() > 0:
        raise DataFormatError("the background-only template is empty")
    if n_replicas < MIN_REPLICAS:
        raise DataFormatError(
            f"the sculpting closure needs at least {MIN_REPLICAS} replicas, got {n_replicas}"
        )
    low, high = (float(v) for v in mass_range)

    def injection(at: float) -> tuple[np.ndarray, float]:
        """The injected signal at mass ``at`` and the template's scale to the rest of the data."""
        signal = _injected_signal(edges, at, n_signal_window, shape)
        return signal, max(float(data.sum() - signal.sum()), 0.0) / float(counts.sum())

    def shift_on(background: np.ndarray, at: float, signal: np.ndarray, scale: float) -> float:
        profile = profile_resonance_mass(
            background * scale + signal,
            edges,
            mass_range=mass_range,
            shape=shape,
            n_params=n_params,
        )
        return profile.mass - at

    injected = float(np.clip(mass - shift_on(counts, mass, *injection(mass)), low, high))
    signal, scale = injection(injected)
    # the corrected mass stays among the scanned masses: beyond them nothing was measured
    shift = mass - float(np.clip(mass - shift_on(counts, injected, signal, scale), low, high))
    replica_shifts = []
    for replica in _replicas(counts, sumw2, n_replicas):
        try:
            replica_shifts.append(shift_on(replica, injected, signal, scale))
        except FitError as exc:
            log.debug("sculpting closure: a replica's profile failed: %s", exc)
    if len(replica_shifts) < MIN_REPLICAS:
        raise FitError(f"sculpting closure: {len(replica_shifts)} of {n_replicas} replicas fitted")
    q16, q84 = np.percentile(replica_shifts, [16.0, 84.0])
    closure = SculptingClosure(
        shift=float(shift),
        shift_error=0.5 * float(q84 - q16),
        injected_mass=injected,
        injected_signal=float(signal.sum()),
        scale=scale,
        n_replicas=len(replica_shifts),
    )
    log.info(
        "sculpting closure: %.0f signal events at %.4g on the background-only template (x%.3g) "
        "come back %+.4g +- %.4g away",
        closure.injected_signal,
        injected,
        closure.scale,
        closure.shift,
        closure.shift_error,
    )
    return closure


def _injected_signal(
    edges: np.ndarray, mass: float, n_signal_window: float, shape: SignalShape
) -> np.ndarray:
    """The signal per bin whose part in the profile's window at ``mass`` is
    ``n_signal_window`` (none for a negative yield)."""
    fractions = shape.template(edges, mass)
    low, high = signal_window(edges, mass, 2.0 * shape.width * mass)
    window = (edges[:-1] >= low - 1e-9) & (edges[1:] <= high + 1e-9)
    in_window = float(fractions[window].sum())
    return max(float(n_signal_window), 0.0) / max(in_window, 1e-12) * fractions


def _replicas(counts: np.ndarray, sumw2: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` Poisson replicas of a weighted histogram: effective counts ``c^2 / w2`` drawn, then
    weighted back by ``w2 / c``; seeded by the histogram's content."""
    positive = (counts > 0) & (sumw2 > 0)
    effective = np.where(positive, counts**2 / np.where(positive, sumw2, 1.0), 0.0)
    weight = np.where(positive, sumw2 / np.where(positive, counts, 1.0), 0.0)
    digest = hashlib.sha256(np.round(counts, 9).tobytes() + np.round(sumw2, 9).tobytes())
    rng = np.random.default_rng(int.from_bytes(digest.digest()[:8], "little"))
    return [rng.poisson(effective) * weight for _ in range(n)]
