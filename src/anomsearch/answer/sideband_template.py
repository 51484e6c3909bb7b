"""The daughters' background template: the sidebands' jet masses at the SR's mjj, and its closure
correction measured on a background-only reference.

QCD jet masses grow with mjj, and the lower sideband holds most events of a falling spectrum, so
the selected sideband events alone are the jet-mass spectrum of a lower mjj than the SR's.
:func:`interpolated_sideband_template` morphs the two sidebands' spectra to the SR centre: each
quantile of the template is the two sidebands' quantiles interpolated linearly in mjj
(horizontal interpolation). Adding the two sidebands' spectra with weights that put their mean
mjj at the SR centre (:func:`sideband_weights`, the template before) gets the mean right but not
the shape where the spectrum moves with mjj: a sharp feature, such as the toy generator's
jet-mass edge at 0.6 TeV x (mjj / 3.5 TeV)^0.5, becomes two half steps around the SR's, and the
subtraction leaves a peak below the edge.

The morph is exact only where the jet-mass spectrum moves linearly with mjj and the score cut
selects the same jets at every mjj. A score that has learnt the jet masses' mjj dependence
(CWoLa with features correlated with mjj) selects different jets in the SR than in the
sidebands, and the selected SR background then differs from any interpolation of the sidebands.
:func:`reference_template_residual` measures that difference on a background-only reference
(the run's spurious-signal sample, scored by the data's fold models and weighted by the
fraction of fold cuts each event passes, as in :mod:`anomsearch.search.spurious`): the
reference's selected SR spectrum minus its own morphed template, per unit of background. The
answer adds it, scaled to the SR's predicted background, to the data's template, and its
statistical variance to the subtracted spectrum's. Only the *difference* of two spectra of the
same reference enters, so a reference that mismodels the jet masses themselves (a shifted mass
scale) changes the correction at second order only.

References:
    A. L. Read, "Linear interpolation of histograms", Nucl. Instrum. Meth. A 425 (1999) 357;
    M. Baak, S. Gadatsch, R. Harrington, W. Verkerke, arXiv:1410.7388 (moment morphing);
    ATLAS Collaboration, arXiv:1407.6583 (a background-only sample through the analysis's
    selection); A. Hallin et al., arXiv:2109.00546 (CWoLa's sculpting with correlated features).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from anomsearch.exceptions import DataFormatError

__all__ = [
    "ReferenceEvents",
    "interpolated_sideband_template",
    "reference_template_residual",
    "sideband_weights",
]

log = logging.getLogger(__name__)


class ReferenceEvents(NamedTuple):
    """A background-only reference's events under the data's score cut.

    Attributes:
        mjj: dijet masses (TeV).
        jet_masses: ``(n, n_jets)`` jet masses (TeV), the columns as the data's.
        weights: each event's weight under the cut (the fraction of the fold models whose cut
            it passes; 1 without a cut).
    """

    mjj: np.ndarray
    jet_masses: np.ndarray
    weights: np.ndarray

    def check(self, what: str = "reference") -> None:
        """Raise :class:`~anomsearch.exceptions.DataFormatError` (naming ``what``) unless the
        arrays agree in length and the weights are finite and >= 0."""
        n = np.shape(self.mjj)[0] if np.ndim(self.mjj) else -1
        jets = np.asarray(self.jet_masses)
        weights = np.asarray(self.weights, dtype=float)
        if np.ndim(self.mjj) != 1 or jets.ndim != 2 or jets.shape[0] != n or weights.shape != (n,):
            raise DataFormatError(f"{what}: mjj, jet masses and weights must have the same length")
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)):
            raise DataFormatError(f"{what}: weights must be finite and >= 0")


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


def _upper_share(
    mjj_sb: np.ndarray,
    low: np.ndarray,
    signal_region: tuple[float, float],
    weights: np.ndarray | None = None,
) -> float:
    """The upper sideband's share ``f`` that puts the two sidebands' (weighted) mean mjj at the
    SR centre (both sidebands non-empty)."""
    w = np.ones(mjj_sb.size) if weights is None else weights
    m_lo = float(np.average(mjj_sb[low], weights=w[low]))
    m_hi = float(np.average(mjj_sb[~low], weights=w[~low]))
    centre = 0.5 * (signal_region[0] + signal_region[1])
    return min(max((centre - m_lo) / (m_hi - m_lo), 0.0), 1.0)


def _effective_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``."""
    return float(weights.sum()) ** 2 / float(np.sum(weights * weights))


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles ``q`` of each column of ``values`` under ``weights`` (each event's quantile is
    the mid-point of its share of the cumulative weight; linear in between)."""
    out = np.empty((q.size, values.shape[1]))
    for j in range(values.shape[1]):
        order = np.argsort(values[:, j], kind="stable")
        w = weights[order]
        mid = (np.cumsum(w) - 0.5 * w) / w.sum()
        out[:, j] = np.interp(q, mid, values[order, j])
    return out


def interpolated_sideband_template(
    mjj_sb: np.ndarray,
    jets_sb: np.ndarray,
    signal_region: tuple[float, float],
    *,
    weights: np.ndarray | None = None,
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
        weights: a weight >= 0 per event (a reference's fraction of fold cuts passed): the
            sidebands' means, quantiles and effective sizes ``(sum w)^2 / sum w^2`` are
            weighted; None: unit weights.

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
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        keep = weights > 0
        mjj_sb, jets_sb, weights = mjj_sb[keep], jets_sb[keep], weights[keep]
    low = mjj_sb < signal_region[0]
    if not low.any() or low.all():
        if weights is None:
            return jets_sb.copy()
        n_points = max(round(_effective_size(weights)), 1)
        q = (np.arange(n_points) + 0.5) / n_points
        return _weighted_quantiles(jets_sb, weights, q)
    f_high = _upper_share(mjj_sb, low, signal_region, weights)
    if weights is None:
        n_low, n_high = float(low.sum()), float((~low).sum())
    else:
        n_low, n_high = _effective_size(weights[low]), _effective_size(weights[~low])
    n_eff = 1.0 / ((1.0 - f_high) ** 2 / n_low + f_high**2 / n_high)
    n_points = max(round(n_eff), 1)
    q = (np.arange(n_points) + 0.5) / n_points
    if weights is None:
        low_q = np.quantile(jets_sb[low], q, axis=0)
        high_q = np.quantile(jets_sb[~low], q, axis=0)
    else:
        low_q = _weighted_quantiles(jets_sb[low], weights[low], q)
        high_q = _weighted_quantiles(jets_sb[~low], weights[~low], q)
    return (1.0 - f_high) * low_q + f_high * high_q


def reference_template_residual(
    reference: ReferenceEvents,
    *,
    signal_region: tuple[float, float],
    sidebands: tuple[float, float],
    bin_edges: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """What the morphed sideband template misses of the selected SR background, per unit of
    background, measured on a background-only reference.

    ``r_b = h_SR(b) / W_SR - h_morph(b) / N_morph`` per jet-mass bin ``b`` and jet column: the
    reference's selected SR jet-mass histogram (weighted, normalised by its total weight
    ``W_SR``) minus its own morphed sideband template's
    (:func:`interpolated_sideband_template` with the reference's weights, ``N_morph`` points);
    its variance ``sum w^2 (b) / W_SR^2 + h_morph(b) / N_morph^2``. Scaled by the SR's
    predicted background, ``r`` is the correction to add to the data's morphed template.

    Args:
        reference: the reference's events under the cut.
        signal_region: the SR.
        sidebands: ``(low, high)`` outer edges of the sidebands.
        bin_edges: jet-mass bin edges.

    Returns:
        ``(residual, variance)``, each ``(n_bins, n_jets)``.

    Raises:
        DataFormatError: the reference has no weighted events in the SR or in the sidebands.

    Examples:
        >>> rng = np.random.default_rng(1)
        >>> mjj = rng.uniform(2.9, 4.1, 20000)
        >>> jets = rng.normal(0.3 * mjj, 0.05)[:, None]  # the jet mass moves with mjj
        >>> ref = ReferenceEvents(mjj, jets, np.ones(mjj.size))
        >>> r, v = reference_template_residual(
        ...     ref, signal_region=(3.3, 3.7), sidebands=(2.9, 4.1),
        ...     bin_edges=np.linspace(0.8, 1.4, 13))
        >>> bool(np.all(np.abs(r) <= 3 * np.sqrt(v)))  # linear in mjj: the morph closes
        True
    """
    reference.check()
    mjj = np.asarray(reference.mjj, dtype=float)
    jets = np.asarray(reference.jet_masses, dtype=float)
    weights = np.asarray(reference.weights, dtype=float)
    in_sr = (mjj >= signal_region[0]) & (mjj < signal_region[1]) & (weights > 0)
    in_sb = (mjj >= sidebands[0]) & (mjj < sidebands[1]) & ~in_sr & (weights > 0)
    if not in_sr.any() or not in_sb.any():
        raise DataFormatError(
            "daughter template correction: the reference has no selected events in the "
            f"{'SR' if not in_sr.any() else 'sidebands'}"
        )
    template = interpolated_sideband_template(
        mjj[in_sb], jets[in_sb], signal_region, weights=weights[in_sb]
    )
    w_sr = weights[in_sr]
    total_sr = float(w_sr.sum())
    n_morph = float(template.shape[0])
    residual = np.empty((bin_edges.size - 1, jets.shape[1]))
    variance = np.empty_like(residual)
    for j in range(jets.shape[1]):
        h_sr, _ = np.histogram(jets[in_sr, j], bins=bin_edges, weights=w_sr)
        w2_sr, _ = np.histogram(jets[in_sr, j], bins=bin_edges, weights=w_sr * w_sr)
        h_morph, _ = np.histogram(template[:, j], bins=bin_edges)
        residual[:, j] = h_sr / total_sr - h_morph / n_morph
        variance[:, j] = w2_sr / total_sr**2 + h_morph / n_morph**2
    log.info(
        "daughter template correction from the reference: %.0f weighted SR events, %d morphed "
        "sideband points",
        total_sr,
        template.shape[0],
    )
    return residual, variance
