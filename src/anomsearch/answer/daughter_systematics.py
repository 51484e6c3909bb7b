"""Daughter-jet masses against an mjj-interpolated sideband template, with systematic errors.

The background template of the SR's jet masses is the selected sideband events
(:func:`~anomsearch.answer.daughter_masses.estimate_daughter_masses`). QCD jet masses grow with
mjj, and the lower sideband holds most events of a falling spectrum, so an unweighted template is
the jet-mass spectrum of a lower mjj than the SR's. :func:`interpolated_sideband_template`
morphs the two sidebands' spectra to the SR centre: each quantile of the template is the two
sidebands' quantiles interpolated linearly in mjj (horizontal interpolation). Adding the two
sidebands' spectra with weights that put their mean mjj at the SR centre
(:func:`sideband_weights`, the template before) gets the mean right but not the shape where
the spectrum moves with mjj: a sharp feature, such as the toy generator's jet-mass edge at
0.6 TeV x (mjj / 3.5 TeV)^0.5, becomes two half steps around the SR's, and the subtraction
leaves a peak below the edge. On the toy with that correlation (CWoLa, 60 datasets of
300-1000 injected) the weighted sum made a 574-585 GeV "daughter" at 3-7 sigma in 51 datasets,
at 300 injected (nothing claimed) as often as at 1000, against a true 500 GeV; with the
morphed template (40 datasets per injection) the heavier jet's largest excess passes 3 sigma in
4 and 6 at 300 and 600 injected, and 14 of 40 at 1000 answer 507-576 GeV (what is left of the
cut's sculpting of the jet masses). Where the spectrum does not move, the two templates are the
same up to statistics (on the toy without the correlation, 60 datasets, the 42 daughters answered
with both moved by at most 0.82 of the larger of their two errors).

Four systematic errors are added in quadrature to each daughter mass's statistical error:

* **template**: the largest shift when the template is one sideband alone (lower or upper);
* **threshold**: the shift when the score cut is tightened to the top half of the selected
  events in each fold, the template morphed from the tightened sidebands (the background under
  the peak changes with the cut; a real daughter does not move). Not for a selection without a
  cut (efficiency 1).
* **jet mass scale**: the answer is the mass of a particle, the fit measures the peak of a
  reconstructed jet mass; ``jet_mass_scale`` (relative) times the mass, after the response
  correction below. Set it for your detector.
* **underlying event**: the shift of the corrected mass when the response's offset moves by its
  uncertainty.

The **jet-mass response** (:class:`JetMassResponse`): particles from the underlying event and
initial-state radiation inside a large-R jet add to its mass squared, out-of-cone radiation
takes a fraction of its mass away, so the reconstructed peak of a daughter of mass ``m`` sits at

    m_peak^2 = s^2 m^2 + delta.

The answer inverts it, ``m = sqrt(m_peak^2 - delta) / s``. :data:`PYTHIA_JET_MASS_RESPONSE` is
the fit of this form to the peaks that the answer's own estimator finds on the package's Pythia
chain (R = 1.0 jets of W'(3.5 TeV) -> X Y, daughters of 100-500 GeV, two- and three-prong;
``benchmarks/jet_mass_response.py``, the estimator's default peak model): ``s = 0.996``,
``delta = 690 +- 120 GeV^2`` (the offset's error is the spread of the light daughters' own
offsets) -- a 100 GeV daughter peaks at 102.4-103.5 GeV, a 500 GeV one at 497.6-499.7. After
the correction every calibration peak is within 0.6% of its particle's mass, and the two
black-box signals (W' at 3.2 and 3.9 TeV, daughters of 150-600 GeV, not in the fit) within
0.2%; :data:`JET_MASS_SCALE_UNCERTAINTY` (1%)
covers that. The toy generator has no response (its jet masses are the particles' smeared
symmetrically): the answer uses :data:`NO_JET_MASS_RESPONSE` there.

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
    "NO_JET_MASS_RESPONSE",
    "PYTHIA_JET_MASS_RESPONSE",
    "DaughterSystematics",
    "JetMassResponse",
    "daughter_masses_with_systematics",
    "interpolated_sideband_template",
    "sideband_weights",
]

log = logging.getLogger(__name__)

#: Relative jet-mass-scale uncertainty of a daughter mass after the response correction (see
#: the module docstring).
JET_MASS_SCALE_UNCERTAINTY = 0.01


class JetMassResponse(NamedTuple):
    """Where the reconstructed jet mass of a daughter of mass ``m`` peaks:
    ``m_peak^2 = scale^2 m^2 + offset`` (units of the masses, e.g. TeV and TeV^2).

    Attributes:
        scale: the relative response of the daughter's own mass (out-of-cone losses: < 1).
        offset: the mass squared added by the underlying event and initial-state radiation.
        offset_error: the uncertainty of ``offset`` (the underlying-event systematic).

    Examples:
        >>> r = JetMassResponse(scale=1.0, offset=0.0009, offset_error=0.0)
        >>> round(r.particle_mass(0.05), 6)  # a 50 GeV peak from a 40 GeV particle
        0.04
        >>> NO_JET_MASS_RESPONSE.particle_mass(0.1)
        0.1
    """

    scale: float
    offset: float
    offset_error: float

    def particle_mass(self, peak: float, *, offset: float | None = None) -> float:
        """The particle mass whose jet-mass peak is ``peak`` (0 where the offset is larger
        than the peak squared); ``offset`` replaces the response's own."""
        delta = self.offset if offset is None else offset
        return math.sqrt(max(peak * peak - delta, 0.0)) / self.scale

    def check(self) -> None:
        """Raise :class:`~anomsearch.exceptions.ConfigError` unless scale > 0 and the offset and
        its error are finite (the error >= 0)."""
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"answer.jet_mass_response: scale must be > 0, got {self.scale}")
        if not (math.isfinite(self.offset) and math.isfinite(self.offset_error)):
            raise ConfigError("answer.jet_mass_response: offset and its error must be finite")
        if self.offset_error < 0:
            raise ConfigError(
                f"answer.jet_mass_response: offset_error must be >= 0, got {self.offset_error}"
            )


#: The response of the package's Pythia chain (TeV, TeV^2), from
#: ``benchmarks/jet_mass_response.py`` (see the module docstring).
PYTHIA_JET_MASS_RESPONSE = JetMassResponse(scale=0.996, offset=6.9e-4, offset_error=1.2e-4)

#: No response (the toy generator).
NO_JET_MASS_RESPONSE = JetMassResponse(scale=1.0, offset=0.0, offset_error=0.0)


class DaughterSystematics(NamedTuple):
    """The errors of one daughter mass (unit of the inputs).

    Attributes:
        name: the jet-mass feature.
        statistical: the fit's error.
        template: largest shift with a one-sideband template (NaN: not evaluated).
        threshold: shift with the tighter cut (NaN: not evaluated).
        jet_mass_scale: the relative jet-mass-scale uncertainty times the mass.
        underlying_event: largest shift when the response's offset moves by its error.
        total: the five in quadrature (NaNs left out).
        peak: the fitted jet-mass peak before the response correction.
    """

    name: str
    statistical: float
    template: float
    threshold: float
    jet_mass_scale: float
    underlying_event: float
    total: float
    peak: float


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
    f_high = _upper_share(mjj_sb, low, signal_region)
    n = mjj_sb.size
    return np.where(low, (1.0 - f_high) * n / low.sum(), f_high * n / (~low).sum())


def _upper_share(mjj_sb: np.ndarray, low: np.ndarray, signal_region: tuple[float, float]) -> float:
    """The upper sideband's share ``f`` that puts the two sidebands' mean mjj at the SR centre
    (both sidebands non-empty)."""
    m_lo, m_hi = float(mjj_sb[low].mean()), float(mjj_sb[~low].mean())
    centre = 0.5 * (signal_region[0] + signal_region[1])
    return min(max((centre - m_lo) / (m_hi - m_lo), 0.0), 1.0)


def interpolated_sideband_template(
    mjj_sb: np.ndarray, jets_sb: np.ndarray, signal_region: tuple[float, float]
) -> np.ndarray:
    """The sidebands' jet masses morphed to the SR centre: the template's quantiles are those of
    the two sidebands interpolated linearly in mjj (horizontal, not vertical, interpolation).

    The upper sideband's share is ``f`` of :func:`sideband_weights`, and each jet column's
    template quantile function is ``(1 - f) Q_low(q) + f Q_high(q)``. Where the jet-mass
    spectrum moves with mjj -- QCD jet masses grow with the jet pT, and a sharp feature such as
    a kinematic edge moves with it -- adding the two sidebands' spectra (:func:`sideband_weights`)
    leaves two half-height copies of the feature, one on each side of the SR's; subtracted
    from the SR, they make a peak-dip pair that looks like a daughter. Morphing moves the
    feature to the SR centre instead. Where the spectrum does not move, both are the same.

    The template holds ``N_eff = 1 / ((1 - f)^2 / n_low + f^2 / n_high)`` equally spaced
    quantiles (the effective size of the weighted mixture, so its Poisson variance is the
    mixture's) as unit-weight events; one empty sideband: the other's events themselves.

    Args:
        mjj_sb: dijet masses of the selected sideband events.
        jets_sb: ``(n, n_jets)`` their jet masses.
        signal_region: the SR.

    Returns:
        ``(N_eff, n_jets)`` template jet masses (each column sorted: only the columns' spectra
        are meaningful, not the pairing of their values).

    References:
        A. L. Read, "Linear interpolation of histograms", Nucl. Instrum. Meth. A 425 (1999) 357;
        M. Baak, S. Gadatsch, R. Harrington, W. Verkerke, arXiv:1410.7388 (moment morphing).

    Examples:
        >>> mjj = np.array([3.0, 3.0, 4.0, 4.0])
        >>> jets = np.array([[0.50], [0.52], [0.60], [0.62]])
        >>> interpolated_sideband_template(mjj, jets, (3.3, 3.7)).ravel().round(4).tolist()
        [0.5525, 0.5575, 0.5625, 0.5675]
    """
    mjj_sb = np.asarray(mjj_sb, dtype=float)
    jets_sb = np.asarray(jets_sb, dtype=float)
    low = mjj_sb < signal_region[0]
    if not low.any() or low.all():
        return jets_sb.copy()
    n_low, n_high = int(low.sum()), int((~low).sum())
    f_high = _upper_share(mjj_sb, low, signal_region)
    n_eff = 1.0 / ((1.0 - f_high) ** 2 / n_low + f_high**2 / n_high)
    n_points = max(round(n_eff), 1)
    q = (np.arange(n_points) + 0.5) / n_points
    low_q, high_q = np.quantile(jets_sb[low], q, axis=0), np.quantile(jets_sb[~low], q, axis=0)
    return (1.0 - f_high) * low_q + f_high * high_q


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
    response: JetMassResponse = PYTHIA_JET_MASS_RESPONSE,
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
        response: the jet-mass response the peaks are corrected for
            (:data:`NO_JET_MASS_RESPONSE`: none).

    Returns:
        ``(daughters, systematics)``: the particle masses (``value``) with ``error`` the total,
        and the breakdown (with the uncorrected ``peak``).

    Raises:
        DataFormatError: as :func:`estimate_daughter_masses` for the nominal estimate (a
            variation that cannot be fitted is skipped).
        ConfigError: bad bins or counts, as there, or a negative ``jet_mass_scale``.
    """
    if not (math.isfinite(jet_mass_scale) and jet_mass_scale >= 0):
        raise ConfigError(f"answer.jet_mass_scale must be >= 0, got {jet_mass_scale}")
    response.check()
    mjj = np.asarray(mjj, dtype=float)
    in_sr = (mjj >= signal_region[0]) & (mjj < signal_region[1])
    in_sb = (mjj >= sidebands[0]) & (mjj < sidebands[1]) & ~in_sr
    options: dict[str, Any] = {"n_background_sr_error": n_background_sr_error, "bins": bins}

    def estimate(sr: np.ndarray, template: np.ndarray, n_bkg: float) -> list[DaughterMass]:
        return estimate_daughter_masses(jets[sr], template, n_background_sr=n_bkg, **options)

    def morphed(sb: np.ndarray) -> np.ndarray:
        return interpolated_sideband_template(mjj[sb], jets[sb], signal_region)

    nominal = estimate(in_sr, morphed(in_sb), n_background_sr)
    # the variations refit the nominal peaks (not the most significant excess of their own)
    options["near"] = [(d.value, d.width) for d in nominal]
    below = in_sb & (mjj < signal_region[0])
    variations: dict[str, list[Callable[[], list[DaughterMass]]]] = {
        "template": [
            lambda: estimate(in_sr, jets[below], n_background_sr),
            lambda: estimate(in_sr, jets[in_sb & ~below], n_background_sr),
        ],
        "threshold": [],
    }
    if scores is not None and folds is not None:
        tight = _tighter_cut(np.asarray(scores, dtype=float), np.asarray(folds))
        kept_sb = float(tight[in_sb].sum()) / max(int(in_sb.sum()), 1)
        variations["threshold"].append(
            lambda: estimate(in_sr & tight, morphed(in_sb & tight), n_background_sr * kept_sb)
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
    return _corrected(nominal, shifts, jet_mass_scale, response)


def _corrected(
    nominal: list[DaughterMass],
    shifts: dict[str, list[float]],
    jet_mass_scale: float,
    response: JetMassResponse,
) -> tuple[list[DaughterMass], list[DaughterSystematics]]:
    """The peaks corrected for the jet-mass response, their errors propagated (the peak's
    errors scaled by the correction's slope ``dm/dm_peak``) and the scale and underlying-event
    errors added."""
    out, breakdown = [], []
    for j, d in enumerate(nominal):
        mass = response.particle_mass(d.value)
        slope = d.value / (response.scale**2 * mass) if mass > 0 else 1.0 / response.scale
        varied = [
            response.particle_mass(d.value, offset=response.offset + sign * response.offset_error)
            for sign in (-1.0, 1.0)
        ]
        parts = [
            d.error * slope,
            shifts["template"][j] * slope,
            shifts["threshold"][j] * slope,
            jet_mass_scale * mass,
            max(abs(v - mass) for v in varied),
        ]
        total = math.sqrt(sum(p * p for p in parts if math.isfinite(p)))
        breakdown.append(DaughterSystematics(d.name, *parts, total, d.value))
        out.append(d._replace(value=mass, error=total))
    return out, breakdown
