"""Jets from particles: anti-kT clustering with fastjet and the LHC Olympics per-jet quantities.

The two producers of jet features share this module: the Pythia chain
(:mod:`anomsearch.data.generate.pythia`) and the raw-particle conversion
(:mod:`anomsearch.data.features.raw_to_features`), so the features of a generated event and of
its written raw particles are computed by the same code.

Per jet (:meth:`JetClusterer.jet_features`): ``px, py, pz`` and the mass of the jet's E-scheme
four-vector (0 if ``m^2 <= 0``), and N-subjettiness ``tau1, tau2, tau3`` (:func:`nsubjettiness`,
``beta = 1``) with exclusive-kT axes: the constituents reclustered with kT and
``R = KT_AXES_R`` (1000, fastjet's ``max_allowable_R``, as fastjet-contrib's Nsubjettiness does,
so that every constituent ends in the N exclusive subjets), E-scheme recombination
(``nsub_axes="kt"``) or winner-take-all (``"wta_kt"``, arXiv:1401.2158).

This is the per-event code (one ``PseudoJet`` per particle) of the Pythia chain. For a chunk of
events at once, with the extra per-jet fields (tau_N^beta up to N = 9, EFPs), use
:func:`anomsearch.data.features.batch.compute_jet_features`, which gives the same seven numbers
per jet (to the rounding of the per-jet sums) from fastjet's awkward interface.

References:
    Anti-kT: arXiv:0802.1189. FastJet: arXiv:1111.6097. N-subjettiness: arXiv:1011.2268.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from anomsearch.data.features.nsub import rapidity_azimuth
from anomsearch.exceptions import AnomsearchError, DataFormatError

__all__ = [
    "KT_AXES_R",
    "NSUB_AXES",
    "JetClusterer",
    "import_fastjet",
    "nsubjettiness",
    "particles_to_four_vectors",
]

#: N-subjettiness axis choices: exclusive-kT with E-scheme or winner-take-all recombination.
NSUB_AXES: tuple[str, ...] = ("kt", "wta_kt")
#: Radius of the kT reclustering that defines the exclusive axes (fastjet's max_allowable_R).
KT_AXES_R = 1000.0

_INSTALL_HINT = "pip install 'anomsearch[generate]'"


def import_fastjet(purpose: str = "jet clustering") -> Any:
    """The ``fastjet`` module, or an :class:`~anomsearch.exceptions.AnomsearchError` naming
    ``purpose`` and the ``generate`` extra."""
    try:
        import fastjet
    except ImportError as exc:
        raise AnomsearchError(
            f"{purpose} needs the fastjet package ({exc}); {_INSTALL_HINT}"
        ) from exc
    return fastjet


def particles_to_four_vectors(particles: np.ndarray) -> np.ndarray:
    """Massless four-vectors of ``(pT, eta, phi)`` particles.

    Args:
        particles: ``(..., 3)`` array of ``(pT, eta, phi)``.

    Returns:
        ``(..., 4)`` array of ``(px, py, pz, E) = pT (cos phi, sin phi, sinh eta, cosh eta)``.

    Examples:
        >>> particles_to_four_vectors(np.array([2.0, 0.0, 0.0])).tolist()
        [2.0, 0.0, 0.0, 2.0]
    """
    p = np.asarray(particles, dtype=np.float64)
    pt, eta, phi = p[..., 0], p[..., 1], p[..., 2]
    return np.stack(
        [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=-1
    )


def nsubjettiness(
    constituents: np.ndarray,
    axes: np.ndarray,
    *,
    jet_radius: float = 1.0,
    beta: float = 1.0,
) -> float:
    """N-subjettiness of a jet given its constituents and N axes.

    ``tau_N = sum_i pT_i min_k dR_ik**beta / (sum_i pT_i R**beta)``, with ``dR`` in the
    rapidity-azimuth plane. For the LHC Olympics features the axes are the exclusive-kT subjets.

    Args:
        constituents: ``(n, 4)`` array of ``(px, py, pz, E)`` of the jet constituents (GeV).
        axes: ``(N, 4)`` array of ``(px, py, pz, E)`` of the N axes; ``N = 0`` or no constituents
            give 0.
        jet_radius: the jet radius R of the normalisation.
        beta: the angular exponent (1 in the LHC Olympics features).

    Returns:
        tau_N (dimensionless, >= 0).

    Raises:
        DataFormatError: arrays not of shape ``(n, 4)``.

    References:
        Thaler, Van Tilburg, arXiv:1011.2268.

    Examples:
        >>> def p4(pt, y, phi):
        ...     return [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(y), pt * np.cosh(y)]
        >>> parts = np.array([p4(100, 0.0, 0.0), p4(100, 0.0, 0.4)])
        >>> round(nsubjettiness(parts, np.array([p4(200, 0.0, 0.2)])), 6)
        0.2
        >>> nsubjettiness(parts, parts)
        0.0
    """
    c = np.asarray(constituents, dtype=np.float64)
    a = np.asarray(axes, dtype=np.float64)
    for name, arr in (("constituents", c), ("axes", a)):
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise DataFormatError(f"nsubjettiness: {name} must have shape (n, 4), got {arr.shape}")
    if len(c) == 0 or len(a) == 0:
        return 0.0
    pt = np.hypot(c[:, 0], c[:, 1])
    den = float(pt.sum()) * jet_radius**beta
    if den <= 0:
        return 0.0
    y, phi = rapidity_azimuth(c)
    ya, phia = rapidity_azimuth(a)
    dphi = np.abs(phi[:, None] - phia[None, :])
    dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
    dr = np.sqrt((y[:, None] - ya[None, :]) ** 2 + dphi**2)
    return float(np.sum(pt * dr.min(axis=1) ** beta) / den)


class JetClusterer:
    """The fastjet definitions of the LHC Olympics jets: anti-kT ``R = jet_radius`` jets and the
    exclusive-kT axes of their N-subjettiness.

    Args:
        jet_radius: anti-kT (and N-subjettiness) radius R.
        nsub_axes: ``"kt"`` (E-scheme) or ``"wta_kt"`` (winner-take-all) axis recombination.
        purpose: named in the error when fastjet is missing.

    Raises:
        AnomsearchError: fastjet is not installed.
    """

    def __init__(
        self, jet_radius: float = 1.0, nsub_axes: str = "kt", *, purpose: str = "jet clustering"
    ) -> None:
        self.fastjet = fastjet = import_fastjet(purpose)
        self.jet_radius = float(jet_radius)
        self.jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, self.jet_radius)
        recomb = fastjet.WTA_pt_scheme if nsub_axes == "wta_kt" else fastjet.E_scheme
        self.jet_def_kt = fastjet.JetDefinition(fastjet.kt_algorithm, KT_AXES_R, recomb)

    def cluster(self, p4: np.ndarray, ptmin: float = 0.0) -> tuple[Any, list[Any]]:
        """Anti-kT jets of ``(n, 4)`` four-momenta ``(px, py, pz, E)``.

        Returns:
            The fastjet ``ClusterSequence`` (keep it while the jets are used: their constituents
            live in it) and its inclusive jets above ``ptmin``, sorted by pT.
        """
        fj = self.fastjet
        pjs = [fj.PseudoJet(*row) for row in p4.tolist()]
        sequence = fj.ClusterSequence(pjs, self.jet_def)
        return sequence, fj.sorted_by_pt(sequence.inclusive_jets(ptmin))

    def jet_features(self, jet: Any) -> list[float]:
        """``px, py, pz, m, tau1, tau2, tau3`` of one fastjet jet."""
        consts = list(jet.constituents())
        cmat = np.array([[c.px(), c.py(), c.pz(), c.E()] for c in consts], dtype=np.float64)
        taus: list[float] = []
        if len(consts) > 0:
            cs_kt = self.fastjet.ClusterSequence(consts, self.jet_def_kt)
            for n in (1, 2, 3):
                if len(consts) <= n:
                    taus.append(0.0)
                    continue
                axes = np.array(
                    [[s.px(), s.py(), s.pz(), s.E()] for s in cs_kt.exclusive_jets(n)],
                    dtype=np.float64,
                )
                taus.append(nsubjettiness(cmat, axes, jet_radius=self.jet_radius))
        else:  # pragma: no cover - fastjet jets always have constituents
            taus = [0.0, 0.0, 0.0]
        m = float(jet.m()) if jet.m2() > 0 else 0.0
        return [float(jet.px()), float(jet.py()), float(jet.pz()), m, *taus]
