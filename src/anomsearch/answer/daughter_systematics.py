"""Daughter-jet masses against an mjj-interpolated sideband template, with systematic errors.

The background template of the SR's jet masses is the selected sideband events
(:func:`~anomsearch.answer.daughter_masses.estimate_daughter_masses`). QCD jet masses grow with
mjj, and the lower sideband holds most events of a falling spectrum, so an unweighted template is
the jet-mass spectrum of a lower mjj than the SR's. :func:`sideband_weights` weighs the two
sidebands so the template's mean mjj is the SR centre (a linear interpolation between them).

Three systematic errors are added in quadrature to each daughter mass's statistical error:

* **template**: the largest shift when the template is one sideband alone (lower or upper);
* **threshold**: the shift when the score cut is tightened to the top half of the selected
  events in each fold (the background under the peak changes with the cut; a real daughter does
  not move). Not for a selection without a cut (efficiency 1).
* **jet mass scale**: the answer is the mass of a particle, the fit measures the peak of a
  reconstructed jet mass; ``jet_mass_scale`` (relative) times the mass. The default,
  :data:`JET_MASS_SCALE_UNCERTAINTY` = 2.5%, is the largest peak/truth deviation measured on the
  package's Pythia chain for daughters of 100-500 GeV (two- and three-prong: lighter daughters'
  peaks +1.6..+2.5%, from the underlying event in R = 1 jets; heavier -0.7..+0.6%;
  ``benchmarks/jet_mass_response.py``). Set it for your detector.

Both shifts carry some statistical fluctuation of the smaller samples, so the total is on the
conservative side.

References:
    G. Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320 (daughter masses in the
    answer); J. H. Collins, K. Howe, B. Nachman, arXiv:1902.02634 (jet masses of the selected
    events).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from anomsearch.answer.daughter_masses import DaughterMass, estimate_daughter_masses
from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = [
    "JET_MASS_SCALE_UNCERTAINTY",
    "DaughterSystematics",
    "daughter_masses_with_systematics",
    "sideband_weights",
]

log = logging.getLogger(__name__)

#: Relative jet-mass-scale uncertainty of a daughter mass (see the module docstring).
JET_MASS_SCALE_UNCERTAINTY = 0.025


class DaughterSystematics(NamedTuple):
    """The errors of one daughter mass (unit of the inputs).

    Attributes:
        name: the jet-mass feature.
        statistical: the fit's error.
        template: largest shift with a one-sideband template (NaN: not evaluated).
        threshold: shift with the tighter cut (NaN: not evaluated).
        jet_mass_scale: the relative jet-mass-scale uncertainty times the mass.
        total: the four in quadrature (NaNs left out).
    """

    name: str
    statistical: float
    template: float
    threshold: float
    jet_mass_scale: float
    total: float


def sideband_weights(mjj_sb: np.ndarray, signal_region: tuple[float, float]) -> np.ndarray:
    """Weights of the sideband events that put the template's mean mjj at the SR centre.

    The upper sideband's share is ``f = (c - m_lo) / (m_hi - m_lo)`` (``c`` the SR centre,
    ``m_lo`` and ``m_hi`` the sidebands' mean mjj), the lower's ``1 - f``; the weights keep the
    total at the number of events. One empty sideband: all weights 1.

    Examples:
        >>> mjj = np.array([3.0, 3.0, 3.0, 4.0])
        >>> sideband_weights(mjj, (3.3, 3.7)).tolist()
        [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    mjj_sb = np.asarray(mjj_sb, dtype=float)
    low = mjj_sb < signal_region[0]
    if not low.any() or low.all():
        return np.ones(mjj_sb.size)
    m_lo, m_hi = float(mjj_sb[low].mean()), float(mjj_sb[~low].mean())
    centre = 0.5 * (signal_region[0] + signal_region[1])
    f_high = min(max((centre - m_lo) / (m_hi - m_lo), 0.0), 1.0)
    n = mjj_sb.size
    return np.where(low, (1.0 - f_high) * n / low.sum(), f_high * n / (~low).sum())


def _tighter_cut(scores: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """The selected events above their fold's median score."""
    keep = np.zeros(scores.size, dtype=bool)
    for fold in np.unique(folds):
        in_fold = folds == fold
        keep[in_fold] = scores[in_fold] >= np.median(scores[in_fold])
    return keep


def daughter_masses_with_systematics(
    mjj: np.ndarray,
    jets: np.ndarray,
    *,
    signal_region: tuple[float, float],
    sidebands: tuple[float, float],
    n_background_sr: float,
    n_background_sr_error: float,
    bins: np.ndarray,
    scores: np.ndarray | None = None,
    folds: np.ndarray | None = None,
    jet_mass_scale: float = JET_MASS_SCALE_UNCERTAINTY,
) -> tuple[list[DaughterMass], list[DaughterSystematics]]:
    """Daughter masses of the selected events against the interpolated template, with errors.

    Args:
        mjj: dijet masses of the selected events (all mjj).
        jets: ``(n, 2)`` their jet masses.
        signal_region: the SR.
        sidebands: ``(low, high)`` outer edges of the sidebands.
        n_background_sr: background predicted in the SR after the selection.
        n_background_sr_error: its error.
        bins: jet-mass bin edges.
        scores: the selected events' scores, for the threshold systematic (None: not evaluated).
        folds: their folds (per-fold medians).
        jet_mass_scale: relative jet-mass-scale uncertainty (0: none).

    Returns:
        ``(daughters, systematics)``: the estimates with ``error`` the total, and the breakdown.

    Raises:
        DataFormatError: as :func:`estimate_daughter_masses` for the nominal estimate (a
            variation that cannot be fitted is skipped).
        ConfigError: bad bins or counts, as there, or a negative ``jet_mass_scale``.
    """
    if not (math.isfinite(jet_mass_scale) and jet_mass_scale >= 0):
        raise ConfigError(f"answer.jet_mass_scale must be >= 0, got {jet_mass_scale}")
    mjj = np.asarray(mjj, dtype=float)
    in_sr = (mjj >= signal_region[0]) & (mjj < signal_region[1])
    in_sb = (mjj >= sidebands[0]) & (mjj < sidebands[1]) & ~in_sr
    options: dict[str, Any] = {"n_background_sr_error": n_background_sr_error, "bins": bins}

    def estimate(sr: np.ndarray, sb: np.ndarray, n_bkg: float, weights: np.ndarray | None):
        return estimate_daughter_masses(
            jets[sr], jets[sb], n_background_sr=n_bkg, sb_weights=weights, **options
        )

    nominal = estimate(in_sr, in_sb, n_background_sr, sideband_weights(mjj[in_sb], signal_region))
    below = mjj[in_sb] < signal_region[0]
    variations: dict[str, list[Callable[[], list[DaughterMass]]]] = {
        "template": [
            lambda: estimate(in_sr, in_sb, n_background_sr, below.astype(float)),
            lambda: estimate(in_sr, in_sb, n_background_sr, (~below).astype(float)),
        ],
        "threshold": [],
    }
    if scores is not None and folds is not None:
        tight = _tighter_cut(np.asarray(scores, dtype=float), np.asarray(folds))
        kept_sb = float(tight[in_sb].sum()) / max(int(in_sb.sum()), 1)
        variations["threshold"].append(
            lambda: estimate(in_sr & tight, in_sb & tight, n_background_sr * kept_sb, None)
        )
    shifts = {kind: [math.nan] * len(nominal) for kind in variations}
    for kind, runs in variations.items():
        for run in runs:
            try:
                varied = run()
            except (DataFormatError, FitError) as exc:
                log.debug("daughter-mass %s variation skipped: %s", kind, exc)
                continue
            for j, (a, b) in enumerate(zip(nominal, varied, strict=True)):
                shift = abs(b.value - a.value)
                shifts[kind][j] = (
                    shift if math.isnan(shifts[kind][j]) else max(shifts[kind][j], shift)
                )
    out, breakdown = [], []
    for j, d in enumerate(nominal):
        scale = jet_mass_scale * abs(d.value)
        parts = [d.error, shifts["template"][j], shifts["threshold"][j], scale]
        total = math.sqrt(sum(p * p for p in parts if math.isfinite(p)))
        breakdown.append(DaughterSystematics(d.name, d.error, *parts[1:], total))
        out.append(d._replace(error=total))
    return out, breakdown
