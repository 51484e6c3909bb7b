"""Daughter-jet masses against an mjj-interpolated sideband template, with systematic errors.

The background template of the SR's jet masses is the selected sideband events morphed to the SR
centre (:func:`~anomsearch.answer.sideband_template.interpolated_sideband_template`; re-exported
here with :func:`~anomsearch.answer.sideband_template.sideband_weights`, the weighted sum it
replaced). On the toy with a feature-mjj correlation (CWoLa, 60 datasets of 300-1000
injected) the weighted sum made a 574-585 GeV "daughter" at 3-7 sigma in 51 datasets, at 300
injected (nothing claimed) as often as at 1000, against a true 500 GeV; with the morphed
template (40 datasets per injection) the heavier jet's largest excess passes 3 sigma in 4 and 6
at 300 and 600 injected, and 14 of 40 at 1000 answer 507-576 GeV (what is left of the cut's
sculpting of the jet masses). Where the spectrum does not move, the two templates are the same
up to statistics (on the toy without the correlation, 60 datasets, the 42 daughters answered
with both moved by at most 0.82 of the larger of their two errors). When the run kept a
background-only reference under the cut, the template is also corrected by what the morph
misses on the reference
(:func:`~anomsearch.answer.sideband_template.reference_template_residual`: the cut's sculpting
of the jet masses): on the same 40 datasets at 1000 injected, with a 4M-event reference, the
heavier daughter's pulls go from +2.38 / 1.63 (14 answered) to +0.58 / 0.89 (19); the
selected signal's own heavier-jet peak sits at 517 +- 7 GeV there, the cut's bias on the
signal, which no background template removes.

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
from anomsearch.answer.sideband_template import (
    ReferenceEvents,
    interpolated_sideband_template,
    reference_template_residual,
    sideband_weights,
)
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
    reference: ReferenceEvents | None = None,
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
        reference: a background-only reference's events under the same cut: the template is
            corrected by what the morph misses on the reference
            (:func:`~anomsearch.answer.sideband_template.reference_template_residual`), in the
            nominal fit and every variation. None (or a reference without selected events in
            the SR or the sidebands, logged): no correction.

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
    if reference is not None:
        try:
            options["template_residual"] = reference_template_residual(
                reference,
                signal_region=signal_region,
                sidebands=sidebands,
                bin_edges=np.asarray(bins, dtype=float),
            )
        except DataFormatError as exc:
            log.warning("no daughter template correction: %s", exc)

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
