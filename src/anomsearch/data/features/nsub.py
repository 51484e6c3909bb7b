"""N-subjettiness of many jets at once, from flat constituent arrays.

The constituents of ``J`` jets are held flat (one row per constituent, ``jet_index`` naming its
jet) and the ``N`` axes of every jet in a padded ``(J, N)`` array, so that
``tau_N^beta = sum_i pT_i min_k dR_ik^beta / (sum_i pT_i R^beta)`` of all jets is a few array
operations: the distance of every constituent to its jet's axes, the minimum over the axes, and a
per-jet sum (:func:`numpy.bincount`). The arithmetic per constituent is that of
:func:`anomsearch.data.features.jets.nsubjettiness` (rapidity, wrapped azimuth difference), so the
two agree to the rounding of the per-jet sums.

References:
    J. Thaler, K. Van Tilburg, "Identifying boosted objects with N-subjettiness",
    arXiv:1011.2268.

Examples:
    >>> pt = np.array([100.0, 100.0])
    >>> y, phi = np.zeros(2), np.array([0.0, 0.4])
    >>> axes = AxesBatch(np.zeros((1, 1)), np.full((1, 1), 0.2), np.array([1]))
    >>> tau = nsubjettiness_batch(pt, y, phi, np.zeros(2, dtype=np.int64), axes, betas=(1.0, 2.0))
    >>> tau.round(6).tolist()  # 0.2 / R and 0.2**2 / R**2
    [[0.2, 0.04]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from anomsearch.exceptions import DataFormatError

__all__ = ["AxesBatch", "nsubjettiness_batch", "rapidity_azimuth"]

_FAR = 1.0e6  # rapidity of a padded axis slot: never the nearest axis


class AxesBatch(NamedTuple):
    """The axes of ``J`` jets, padded to ``N`` per jet.

    Attributes:
        y: ``(J, N)`` axis rapidities (padded slots: any value).
        phi: ``(J, N)`` axis azimuths.
        count: ``(J,)`` number of real axes of each jet (the first ``count`` slots).
    """

    y: np.ndarray
    phi: np.ndarray
    count: np.ndarray


def rapidity_azimuth(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rapidity and azimuth of ``(..., 4)`` four-momenta ``(px, py, pz, E)``.

    ``E <= |pz|`` (massless particles along the beam, rounding) is clipped to a large finite
    rapidity, as in :func:`anomsearch.data.features.jets.nsubjettiness`.
    """
    p = np.asarray(p4, dtype=np.float64)
    px, py, pz, e = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    num = np.maximum(e + pz, 1e-12)
    den = np.maximum(e - pz, 1e-12)
    return 0.5 * np.log(num / den), np.arctan2(py, px)


def nsubjettiness_batch(
    pt: np.ndarray,
    y: np.ndarray,
    phi: np.ndarray,
    jet_index: np.ndarray,
    axes: AxesBatch,
    *,
    jet_radius: float = 1.0,
    betas: Sequence[float] = (1.0,),
) -> np.ndarray:
    """``tau_N^beta`` of ``J`` jets with ``N`` axes each, for several ``beta``.

    Args:
        pt: ``(C,)`` transverse momenta of all constituents of all jets (GeV).
        y: ``(C,)`` their rapidities.
        phi: ``(C,)`` their azimuths.
        jet_index: ``(C,)`` the jet (``0..J-1``) of each constituent.
        axes: the axes of every jet (:class:`AxesBatch`); a jet with no axis gets 0.
        jet_radius: the jet radius R of the normalisation.
        betas: the angular exponents.

    Returns:
        ``(J, len(betas))`` array of tau_N^beta (0 for a jet without constituents or axes).

    Raises:
        DataFormatError: inconsistent array shapes.

    References:
        Thaler, Van Tilburg, arXiv:1011.2268.
    """
    n_jets = axes.y.shape[0]
    if not (pt.shape == y.shape == phi.shape == jet_index.shape and pt.ndim == 1):
        raise DataFormatError(
            f"nsubjettiness_batch: pt, y, phi, jet_index must be 1-d of one length, got "
            f"{pt.shape}, {y.shape}, {phi.shape}, {jet_index.shape}"
        )
    if axes.phi.shape != axes.y.shape or axes.count.shape != (n_jets,):
        raise DataFormatError("nsubjettiness_batch: axes.y, axes.phi, axes.count do not match")
    n_axes = axes.y.shape[1]
    real = np.arange(n_axes)[None, :] < axes.count[:, None]
    ay = np.where(real, axes.y, _FAR)[jet_index]
    aphi = np.where(real, axes.phi, 0.0)[jet_index]
    dphi = np.abs(phi[:, None] - aphi)
    dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
    dr = np.sqrt((y[:, None] - ay) ** 2 + dphi**2)
    dr_min = dr.min(axis=1) if n_axes else np.zeros_like(pt)
    pt_sum = np.bincount(jet_index, weights=pt, minlength=n_jets)
    out = np.zeros((n_jets, len(betas)))
    ok = (pt_sum > 0) & (axes.count > 0)
    for b, beta in enumerate(betas):
        num = np.bincount(jet_index, weights=pt * dr_min**beta, minlength=n_jets)
        den = pt_sum * jet_radius**beta
        np.divide(num, den, out=out[:, b], where=ok)
    return out
