"""A real event-generator chain (the ``pythia`` generator): Pythia 8 -> detector -> fastjet.

The chain, per event:

1. **Pythia 8** (PyPI ``pythia8mc``) generates pp collisions at ``sqrt_s`` (13 TeV):

   * ``process="qcd"``: ``HardQCD:all = on`` with ``PhaseSpace:pTHatMin = pthat_min`` (1100 GeV,
     just below the 1200 GeV trigger, so the trigger, not the generator cut, shapes the sample).
   * ``process="wprime"``: ``NewGaugeBoson:ffbar2Wprime = on`` (SM-like couplings) with
     ``34:m0 = m_wprime``; every W'+ decays to ``X+ Y`` (``34:onMode = off``,
     ``34:addChannel = 1 1.0 100 9000001 9000002``; the W'- decays to the charge conjugate). X and
     Y are new scalars (``9000001:new = Xwp Xwpbar 1 3 0 m_x``, charge +1, and
     ``9000002:new = Ywp void 1 0 0 m_y``, neutral) with narrow widths (0.1% of the mass) so that
     charge is conserved at every vertex. X+ decays to ``u dbar`` or ``c sbar`` (1/2 each), Y to
     ``u ubar``, ``d dbar``, ``s sbar`` (1/3 each): two-prong (X, Y -> q q') jets as in the LHC
     Olympics R&D signal. ``pthat_min`` does not apply (2 -> 1 process).
   * ``process="wprime_3prong"``: the same, but X+ decays to ``u dbar g`` or ``c sbar g``
     (isotropic three-body phase space, a colour-singlet q qbar' g): a three-prong X jet and a
     two-prong Y jet, the "unequal prongs" case.
   * ``process="wprime_3prong_both"``: X+ as in ``wprime_3prong`` and Y to ``u ubar g``,
     ``d dbar g``, ``s sbar g`` (1/3 each, again an isotropic colour-singlet q qbar g): both jets
     three-prong. This is the topology of the LHC Olympics R&D three-prong signal (its
     ``Z_XY_qqq`` sample: X, Y -> q q q, same default masses), here with colour-singlet q qbar g
     decays of the scalars.
   * ``process="wprime_qq"``: the same W' decaying directly to two light quarks, a two-body
     resonance without jet substructure: ``34:onMode = off``, ``34:onIfAny = 1 2 3 4``,
     ``34:offIfAny = 5 6`` (W'+ -> u dbar, c sbar and the Cabibbo-suppressed u sbar, c dbar;
     t and b channels off). ``m_x`` and ``m_y`` are not used. As for ``wprime``, the parton
     luminosity gives the SM-like W' (width ~3.6%) a large off-shell low-mass tail (at 3.5 TeV
     ~25% of the generated W' lie below 2.4 TeV), mostly removed by the trigger.
   * ``process="qstar"``: an excited quark, q g -> q* -> q g (Baur, Spira, Zerwas):
     ``ExcitedFermion:dg2dStar = on``, ``ExcitedFermion:ug2uStar = on`` (d* and u*, and their
     antiparticles), both of mass ``m_wprime`` (``4000001:m0``, ``4000002:m0``), compositeness
     scale ``ExcitedFermion:Lambda = m_wprime`` and the default couplings f = f' = f_s = 1 (width
     ~3.5% of the mass), decays forced to q g (``4000001:onMode = off``,
     ``4000001:onIfMatch = 1 21``, likewise ``4000002`` with ``2 21``). A quark jet and a gluon jet
     without substructure, i.e. QCD-like jet masses and N-subjettiness, and a low-mjj tail mostly
     from final-state radiation out of the jets (at 3.5 TeV a third of the triggered events have
     mjj < 0.9 m, while only ~6% of the q* are produced below 0.9 m). ``m_x`` and ``m_y`` are
     not used; ``m_wprime`` must be at least 100 GeV (Pythia's minimum of Lambda).

   Common settings: ``Beams:eCM = sqrt_s``, ``Print:quiet = on``, ``Next:numberCount = 0``,
   ``Random:setSeed = on``, ``Random:seed = seed`` (Pythia seeds must lie in [0, 900000000]) and the
   variant's tune:

   * ``variant="data"``: the default Monash 2013 tune (``Tune:pp = 14``, NNPDF2.3 QCD+QED LO,
     ``TimeShower:alphaSvalue = 0.1365``).
   * ``variant="simulation"``: the ATLAS A14 central tune (``Tune:pp = 21``, same PDF,
     ``TimeShower:alphaSvalue = 0.127``, different MPI/ISR parameters) plus
     ``TimeShower:alphaSvalue = fsr_alpha_s_simulation`` (0.118 by default), a softer final-state
     shower that changes the jet masses and N-subjettiness: a realistically mis-modelled
     "simulation", playing Herwig's role in the R&D set.

2. **Detector response** (documented, deliberately simple): final-state visible particles
   (neutrinos and invisible particles skipped) with ``|eta| < eta_max`` (2.5). Charged particles
   with ``pT > 0.4 GeV`` are kept with a tracker-like resolution
   ``sigma(pT)/pT = 1% (+) 2e-4 * pT/GeV``; photons with ``E > 1 GeV`` get an electromagnetic
   calorimeter resolution ``sigma(E)/E = 10%/sqrt(E/GeV) (+) 1%``; neutral hadrons with
   ``E > 1 GeV`` get a hadronic one ``sigma(E)/E = 50%/sqrt(E/GeV) (+) 5%`` (``(+)`` = in
   quadrature). A particle's four-momentum is scaled by the smeared/true ratio (direction kept);
   the smearing uses its own numpy generator seeded from ``seed``. The detector objects are then
   made massless (``massless_objects=True``, the default): they are stored as ``(pT, eta, phi)``
   and turned back into ``pT (cos phi, sin phi, sinh eta, cosh eta)``, exactly as the LHC Olympics
   raw files are read (:mod:`anomsearch.data.features.raw_to_features`), so the features computed
   here and those computed from the written raw particles agree to rounding. With massive objects
   (``massless_objects=False``) the ~0.1-1 GeV hadron masses, lost in the raw layout, shift jet
   masses by up to tens of GeV between the two.
3. **Jets**: anti-kT with ``R = jet_radius`` (1.0) with fastjet; the two leading jets by pT are
   kept. Events with fewer than 2 jets or a leading jet below ``trigger_pt`` (1200 GeV) are
   rejected and generation continues until ``n_events`` pass.
4. **Substructure**: jet mass and N-subjettiness tau1..tau3 (beta = 1) computed by
   :func:`nsubjettiness` from the jet constituents with exclusive-kT axes (constituents reclustered
   with kT and ``R = 1000`` -- fastjet's ``max_allowable_R``, as in fastjet-contrib's
   Nsubjettiness -- then ``exclusive_jets(N)``), normalised as
   ``tau_N = sum_i pT_i min_k dR_ik / (sum_i pT_i R)``. Exclusive-kT (E-scheme) axes are not the
   minimising axes, so ``tau1 >= tau2 >= tau3`` is not guaranteed: in very collimated jets
   (tau1 ~ 0.01) the kT subjets can split the hard core and be pulled off it by soft wide-angle
   radiation, giving ``tau2 > tau1`` in ~10% of QCD jets; ``nsub_axes="wta_kt"``
   (winner-take-all recombination) keeps the axes on the hardest particles.
5. **Constituent features** (optional, ``extra_features``): the extra per-jet fields of
   :mod:`anomsearch.data.features.sets` (tau_N^beta for N <= 9 and beta in {0.5, 1, 2}, the 53
   EFPs of degree <= 5). The detector-level four-vectors clustered in step 3 (massless with
   ``massless_objects``) are kept for the accepted events and, once the events are made, go
   through :func:`anomsearch.data.features.batch.compute_jet_features` in one vectorised call
   (fastjet's awkward interface); its seven standard columns are checked against the per-event
   ones of step 4, so the extra columns belong to the same two jets. Nothing random is drawn:
   the events and their standard columns are those of a run without the option. It costs ~7%
   more CPU time with ``"kitchen_sink"`` (``generate_pythia`` reports ``feature_seconds``).

References:
    Pythia 8.3: arXiv:2203.11601. Excited quarks: U. Baur, M. Spira, P. M. Zerwas, Phys. Rev. D
    42 (1990) 815. Anti-kT: arXiv:0802.1189. FastJet: arXiv:1111.6097.
    N-subjettiness: arXiv:1011.2268. A14 tune: ATL-PHYS-PUB-2014-021. Monash tune: arXiv:1404.5630.
    LHC Olympics 2020: arXiv:2101.08320. EFPs: arXiv:1712.07124.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from anomsearch.data.events import JET_FIELDS, EventTable
from anomsearch.data.features.batch import compute_jet_features, resolve_extra_fields
from anomsearch.data.features.jets import (
    NSUB_AXES,
    JetClusterer,
    particles_to_four_vectors,
)
from anomsearch.data.features.sets import FEATURE_SETS, extra_jet_fields
from anomsearch.exceptions import AnomsearchError, ConfigError
from anomsearch.progress import progress_bar

__all__ = [
    "PROCESSES",
    "VARIANTS",
    "PythiaConfig",
    "canonical_extra_features",
    "generate_pythia",
]

log = logging.getLogger(__name__)

#: Processes :func:`generate_pythia` can make (see the module docstring).
PROCESSES: tuple[str, ...] = (
    "qcd",
    "wprime",
    "wprime_3prong",
    "wprime_3prong_both",
    "wprime_qq",
    "qstar",
)
#: Tune variants: ``"data"`` (Monash) and ``"simulation"`` (A14 + softer FSR).
VARIANTS: tuple[str, ...] = ("data", "simulation")

_MAX_SEED = 900_000_000
_ID_X = 9000001
_ID_Y = 9000002
_ID_DSTAR = 4000001
_ID_USTAR = 4000002
_MIN_LAMBDA = 100.0  # GeV: the minimum of ExcitedFermion:Lambda
_INSTALL_HINT = "pip install 'anomsearch[generate]'"


@dataclass(frozen=True)
class PythiaConfig:
    """Settings of the Pythia generator chain (GeV throughout).

    Attributes:
        process: ``"qcd"`` (hard QCD dijets), ``"wprime"`` (W' -> X Y, X/Y -> q q'),
            ``"wprime_3prong"`` (X -> q q' g, Y -> q q), ``"wprime_3prong_both"`` (X -> q q' g and
            Y -> q q g), ``"wprime_qq"`` (W' -> q q', no X/Y) or ``"qstar"`` (excited quark
            q* -> q g, no X/Y); see the module docstring.
        variant: ``"data"`` (Monash tune) or ``"simulation"`` (A14 tune with a softer FSR).
        sqrt_s: centre-of-mass energy.
        pthat_min: ``PhaseSpace:pTHatMin`` of the QCD 2 -> 2 processes.
        m_wprime: mass of the signal resonance: the W' or, for ``"qstar"``, the excited quarks
            u* and d* (the compositeness scale Lambda is set equal to it).
        m_x: mass of the heavier daughter X (charge +1); used only by the processes in
            :attr:`DAUGHTER_PROCESSES`.
        m_y: mass of the lighter daughter Y (neutral); used only by :attr:`DAUGHTER_PROCESSES`.
        jet_radius: anti-kT (and N-subjettiness) radius R.
        eta_max: detector acceptance in pseudorapidity of the particles.
        trigger_pt: the leading jet must have pT above this.
        fsr_alpha_s_simulation: ``TimeShower:alphaSvalue`` of the ``"simulation"`` variant.
        nsub_axes: N-subjettiness axes: ``"kt"`` (exclusive-kT subjets, E-scheme recombination)
            or ``"wta_kt"`` (exclusive-kT with winner-take-all pT recombination, arXiv:1401.2158,
            whose axes follow the hardest particles).
        max_tries_factor: give up after ``max_tries_factor * n_events + 1000`` tried events.
        massless_objects: make the detector objects massless, as they are in the raw
            ``(pT, eta, phi)`` layout (see the module docstring).

    Raises:
        ConfigError: an unknown process/variant or an unphysical value (the message names it).

    Examples:
        >>> cfg = PythiaConfig(process="wprime")
        >>> cfg.m_wprime, cfg.m_x, cfg.m_y, cfg.trigger_pt
        (3500.0, 500.0, 100.0, 1200.0)
        >>> PythiaConfig(process="ttbar")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: PythiaConfig.process must be one of ... got 'ttbar'
    """

    #: The processes with the daughters X and Y (the others ignore ``m_x`` and ``m_y``).
    DAUGHTER_PROCESSES: ClassVar[tuple[str, ...]] = (
        "wprime",
        "wprime_3prong",
        "wprime_3prong_both",
    )

    process: str = "qcd"
    variant: str = "data"
    sqrt_s: float = 13000.0
    pthat_min: float = 1100.0
    m_wprime: float = 3500.0
    m_x: float = 500.0
    m_y: float = 100.0
    jet_radius: float = 1.0
    eta_max: float = 2.5
    trigger_pt: float = 1200.0
    fsr_alpha_s_simulation: float = 0.118
    nsub_axes: str = "kt"
    max_tries_factor: int = 200
    massless_objects: bool = True

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise ConfigError(
                f"PythiaConfig.process must be one of {PROCESSES}, got {self.process!r}"
            )
        if self.variant not in VARIANTS:
            raise ConfigError(
                f"PythiaConfig.variant must be one of {VARIANTS}, got {self.variant!r}"
            )
        for name in (
            "sqrt_s",
            "m_wprime",
            "m_x",
            "m_y",
            "jet_radius",
            "eta_max",
            "fsr_alpha_s_simulation",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise ConfigError(f"PythiaConfig.{name} must be a positive number, got {value!r}")
        for name in ("pthat_min", "trigger_pt"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ConfigError(
                    f"PythiaConfig.{name} must be a non-negative number, got {value!r}"
                )
        if self.nsub_axes not in NSUB_AXES:
            raise ConfigError(
                f"PythiaConfig.nsub_axes must be one of {NSUB_AXES}, got {self.nsub_axes!r}"
            )
        if self.has_daughters and self.m_x + self.m_y >= self.m_wprime:
            raise ConfigError(
                f"PythiaConfig.m_x + m_y ({self.m_x + self.m_y} GeV) must be below "
                f"m_wprime ({self.m_wprime} GeV)"
            )
        if self.m_wprime >= self.sqrt_s:
            raise ConfigError(
                f"PythiaConfig.m_wprime ({self.m_wprime} GeV) must be below sqrt_s ({self.sqrt_s})"
            )
        if self.process == "qstar" and self.m_wprime < _MIN_LAMBDA:
            raise ConfigError(
                f"PythiaConfig.m_wprime ({self.m_wprime} GeV) must be at least {_MIN_LAMBDA:g} GeV "
                "for qstar (ExcitedFermion:Lambda = the q* mass has this minimum in Pythia)"
            )
        if self.fsr_alpha_s_simulation >= 0.5:
            raise ConfigError(
                "PythiaConfig.fsr_alpha_s_simulation must be below 0.5, "
                f"got {self.fsr_alpha_s_simulation}"
            )
        if not isinstance(self.massless_objects, bool):
            raise ConfigError(
                f"PythiaConfig.massless_objects must be True or False, "
                f"got {self.massless_objects!r}"
            )
        if not (isinstance(self.max_tries_factor, int) and self.max_tries_factor >= 1):
            raise ConfigError(
                f"PythiaConfig.max_tries_factor must be an integer >= 1, "
                f"got {self.max_tries_factor!r}"
            )

    @property
    def has_daughters(self) -> bool:
        """Whether the process has the daughters X and Y (uses ``m_x`` and ``m_y``)."""
        return self.process in self.DAUGHTER_PROCESSES

    def pythia_settings(self, seed: int) -> list[str]:
        """The exact Pythia ``readString`` settings for this configuration and ``seed``.

        Examples:
            >>> s = PythiaConfig(variant="simulation").pythia_settings(seed=1)
            >>> "Tune:pp = 21" in s, "HardQCD:all = on" in s, "Random:seed = 1" in s
            (True, True, True)
            >>> qstar = PythiaConfig(process="qstar", m_wprime=3000).pythia_settings(seed=1)
            >>> "ExcitedFermion:Lambda = 3000" in qstar, "4000002:onIfMatch = 2 21" in qstar
            (True, True)

        References:
            Pythia 8.3: arXiv:2203.11601 (settings: the Pythia 8.3 online manual). Excited quarks:
            U. Baur, M. Spira, P. M. Zerwas, Phys. Rev. D 42 (1990) 815.
        """
        settings = [
            f"Beams:eCM = {self.sqrt_s:.6g}",
            "Print:quiet = on",
            "Next:numberCount = 0",
            "Random:setSeed = on",
            f"Random:seed = {int(seed)}",
        ]
        if self.variant == "data":
            settings.append("Tune:pp = 14")
        else:
            settings += ["Tune:pp = 21", f"TimeShower:alphaSvalue = {self.fsr_alpha_s_simulation}"]
        m = f"{self.m_wprime:.6g}"
        if self.process == "qcd":
            settings += ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {self.pthat_min:.6g}"]
        elif self.process == "qstar":
            settings += [
                # q g -> q* (u* and d*, and their antiparticles), Lambda = m(q*), f = f' = f_s = 1.
                "ExcitedFermion:dg2dStar = on",
                "ExcitedFermion:ug2uStar = on",
                f"ExcitedFermion:Lambda = {m}",
                f"{_ID_DSTAR}:m0 = {m}",
                f"{_ID_USTAR}:m0 = {m}",
                # q* -> q g only (no q gamma, q Z, q' W).
                f"{_ID_DSTAR}:onMode = off",
                f"{_ID_DSTAR}:onIfMatch = 1 21",
                f"{_ID_USTAR}:onMode = off",
                f"{_ID_USTAR}:onIfMatch = 2 21",
            ]
        elif self.process == "wprime_qq":
            settings += [
                "NewGaugeBoson:ffbar2Wprime = on",
                f"34:m0 = {m}",
                # W' -> q qbar' with light quarks only (u dbar, c sbar and the Cabibbo-suppressed
                # u sbar, c dbar): no t (three-prong) or b.
                "34:onMode = off",
                "34:onIfAny = 1 2 3 4",
                "34:offIfAny = 5 6",
            ]
        else:
            three_prong_x = self.process in ("wprime_3prong", "wprime_3prong_both")
            three_prong_y = self.process == "wprime_3prong_both"
            gluon_x = " 21" if three_prong_x else ""
            gluon_y = " 21" if three_prong_y else ""
            wx, wy = 1e-3 * self.m_x, 1e-3 * self.m_y
            settings += [
                "NewGaugeBoson:ffbar2Wprime = on",
                f"34:m0 = {m}",
                # X+ (charge +1) and Y (neutral): new narrow scalars decaying to light quarks
                # (plus a gluon for a three-prong daughter: a colour-singlet q qbar' g).
                f"{_ID_X}:new = Xwp Xwpbar 1 3 0 {self.m_x:.6g} {wx:.6g} "
                f"{self.m_x - 10 * wx:.6g} {self.m_x + 10 * wx:.6g} 0.",
                f"{_ID_X}:isResonance = on",
                f"{_ID_X}:oneChannel = 1 0.5 100 2 -1{gluon_x}",
                f"{_ID_X}:addChannel = 1 0.5 100 4 -3{gluon_x}",
                f"{_ID_Y}:new = Ywp void 1 0 0 {self.m_y:.6g} {wy:.6g} "
                f"{self.m_y - 10 * wy:.6g} {self.m_y + 10 * wy:.6g} 0.",
                f"{_ID_Y}:isResonance = on",
                f"{_ID_Y}:oneChannel = 1 0.3333333 100 2 -2{gluon_y}",
                f"{_ID_Y}:addChannel = 1 0.3333333 100 1 -1{gluon_y}",
                f"{_ID_Y}:addChannel = 1 0.3333334 100 3 -3{gluon_y}",
                "34:onMode = off",
                f"34:addChannel = 1 1.0 100 {_ID_X} {_ID_Y}",
            ]
        return settings


def _import_generators() -> tuple[Any, Any]:
    try:
        import fastjet
        import pythia8mc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AnomsearchError(
            f"the pythia generator needs pythia8mc and fastjet ({exc}); {_INSTALL_HINT}"
        ) from exc
    return pythia8mc, fastjet


def _smear(
    p4: np.ndarray, charged: np.ndarray, photon: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Apply the detector response of the module docstring; returns the kept, smeared momenta."""
    pt = np.hypot(p4[:, 0], p4[:, 1])
    e = p4[:, 3]
    keep = np.where(charged, pt > 0.4, e > 1.0)
    p4, pt, e, charged, photon = p4[keep], pt[keep], e[keep], charged[keep], photon[keep]
    e_safe = np.maximum(e, 1e-9)
    rel = np.where(
        charged,
        np.hypot(0.01, 2e-4 * pt),
        np.where(
            photon, np.hypot(0.10 / np.sqrt(e_safe), 0.01), np.hypot(0.5 / np.sqrt(e_safe), 0.05)
        ),
    )
    scale = 1.0 + rel * rng.standard_normal(len(p4))
    ok = scale > 0
    return p4[ok] * scale[ok, None]


def _make_pythia(cfg: PythiaConfig, seed: int) -> Any:
    """An initialised ``pythia8mc.Pythia`` for ``cfg`` and ``seed`` (shared with the benchmark)."""
    pythia8mc, _ = _import_generators()
    settings = cfg.pythia_settings(seed)
    pythia = pythia8mc.Pythia("", False)
    for s in settings:
        if not pythia.readString(s):
            raise AnomsearchError(f"Pythia rejected the setting {s!r}")
    if not pythia.init():
        raise AnomsearchError(f"Pythia failed to initialise with settings {settings}")
    return pythia


class _SpeciesTable:
    """Per-PDG-id ``(charged, visible, photon)`` flags, looked up once per id in ParticleData.

    Every call into the Python bindings costs microseconds and an event record has ~2000
    entries, so reading it dominates the chain's overhead over Pythia itself
    (``benchmarks/pythia_rate.py``); particle ids repeat, so a small cache turns three calls per
    particle into a numpy lookup.
    """

    def __init__(self, particle_data: Any) -> None:
        self._pd = particle_data
        self._cache: dict[int, tuple[bool, bool]] = {}

    def flags(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(charged, visible)`` boolean arrays for an array of PDG ids."""
        uniq, inverse = np.unique(ids, return_inverse=True)
        charged = np.empty(len(uniq), dtype=bool)
        visible = np.empty(len(uniq), dtype=bool)
        for k, pid in enumerate(uniq.tolist()):
            flags = self._cache.get(pid)
            if flags is None:
                flags = (self._pd.chargeType(pid) != 0, bool(self._pd.isVisible(pid)))
                self._cache[pid] = flags
            charged[k], visible[k] = flags
        return charged[inverse], visible[inverse]


def _final_state(
    event: Any, species: _SpeciesTable, eta_max: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visible final-state particles with ``|eta| < eta_max``: ``(p4 (n, 4), charged, photon)``."""
    # event.particles() converts the whole record in one call: ~25% faster than iterating event.
    rows = [(q.id(), q.px(), q.py(), q.pz(), q.e()) for q in event.particles() if q.isFinal()]
    if not rows:
        return np.zeros((0, 4)), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    arr = np.array(rows, dtype=np.float64)
    ids = arr[:, 0].astype(np.int64)
    p4 = arr[:, 1:]
    charged, visible = species.flags(ids)
    pt = np.hypot(p4[:, 0], p4[:, 1])
    # |eta| < eta_max  <=>  |pz| < pT sinh(eta_max); pT = 0 (along the beam) fails it.
    keep = visible & (np.abs(p4[:, 2]) < pt * np.sinh(eta_max))
    return p4[keep], charged[keep], ids[keep] == 22


def _to_pt_eta_phi(p4: np.ndarray) -> np.ndarray:
    """``(pT, eta, phi)`` of ``(n, 4)`` four-momenta (the raw-file particle layout)."""
    pt = np.hypot(p4[:, 0], p4[:, 1])
    return np.stack([pt, np.arcsinh(p4[:, 2] / pt), np.arctan2(p4[:, 1], p4[:, 0])], axis=1)


def _checked_pythia_args(
    config: PythiaConfig | None, n_events: int, seed: int
) -> tuple[PythiaConfig, int, int]:
    """``(config, n_events, seed)`` of :func:`generate_pythia`, checked (default config)."""
    cfg = PythiaConfig() if config is None else config
    if not isinstance(cfg, PythiaConfig):
        raise ConfigError(f"config must be a PythiaConfig, got {type(cfg).__name__}")
    if isinstance(n_events, bool) or not isinstance(n_events, int | np.integer) or n_events < 0:
        raise ConfigError(f"n_events must be a non-negative integer, got {n_events!r}")
    if (
        isinstance(seed, bool)
        or not isinstance(seed, int | np.integer)
        or not 0 <= seed <= _MAX_SEED
    ):
        raise ConfigError(f"seed must be an integer in [0, {_MAX_SEED}], got {seed!r}")
    return cfg, int(n_events), int(seed)


def _next_triggered(
    pythia: Any,
    species: _SpeciesTable,
    clusterer: JetClusterer,
    rng: np.random.Generator,
    cfg: PythiaConfig,
) -> tuple[Any, list[Any], np.ndarray, np.ndarray | None] | None:
    """One try: ``(sequence, jets, p4, pT-eta-phi or None)`` of a triggered event, else None."""
    if not pythia.next():
        return None
    p4, charged, photon = _final_state(pythia.event, species, cfg.eta_max)
    if len(p4) < 2:
        return None
    p4 = _smear(p4, charged, photon, rng)
    ptetaphi = None
    if cfg.massless_objects:
        ptetaphi = _to_pt_eta_phi(p4)
        p4 = particles_to_four_vectors(ptetaphi)
    sequence, jets = clusterer.cluster(p4)
    if len(jets) < 2 or jets[0].pt() < cfg.trigger_pt:
        return None
    return sequence, jets, p4, ptetaphi


def _raw_particles(p4: np.ndarray, ptetaphi: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """An event's ``(pT, eta, phi)`` particles, the hardest 700 if more; and whether truncated."""
    from anomsearch.data.io.lhco_raw import MAX_PARTICLES, pack_particles

    if ptetaphi is None:
        ptetaphi = _to_pt_eta_phi(p4)
    if len(ptetaphi) > MAX_PARTICLES:
        return pack_particles(ptetaphi[None], truncate=True)[0], True
    return ptetaphi, False


def _run_stats(
    pythia: Any,
    cfg: PythiaConfig,
    settings: list[str],
    n_accepted: int,
    n_tried: int,
    seconds: float,
) -> dict[str, Any]:
    """The ``stats`` dict of :func:`generate_pythia` (without the particles)."""
    sigma_pb = float(pythia.infoPython().sigmaGen()) * 1e9  # mb -> pb
    efficiency = n_accepted / n_tried if n_tried else 0.0
    return {
        "n_tried": n_tried,
        "n_accepted": n_accepted,
        "efficiency": efficiency,
        "sigma_gen_pb": sigma_pb,
        "sigma_accepted_pb": sigma_pb * efficiency,
        "seconds": seconds,
        "events_per_s": n_accepted / seconds if seconds > 0 else float("nan"),
        "settings": settings,
        "config": cfg,
    }


def canonical_extra_features(
    extra_features: str | Sequence[str] | None, *, option: str = "extra_features"
) -> str | tuple[str, ...] | None:
    """The extra per-jet fields asked for, spelled one way (what names a stream or a cache file).

    Args:
        extra_features: None, a feature-set name
            (:data:`~anomsearch.data.features.sets.FEATURE_SETS`) or extra field names
            (:data:`~anomsearch.data.features.sets.EXTRA_JET_FIELDS`).
        option: the option named in errors.

    Returns:
        None when no extra field is asked for (None, ``"standard"``, an empty list); else the
        name of the feature set whose extra fields they are exactly; else the field names in
        :data:`~anomsearch.data.features.sets.EXTRA_JET_FIELDS` order. So ``"kitchen_sink"`` and
        the list of its 80 fields are one and the same.

    Raises:
        ConfigError: an unknown set or field (names ``option``).

    Examples:
        >>> canonical_extra_features("standard") is None
        True
        >>> canonical_extra_features(["tau2_b05", "tau1_b05"])
        ('tau1_b05', 'tau2_b05')
        >>> from anomsearch.data.features.sets import NSUB_FIELDS
        >>> canonical_extra_features(list(NSUB_FIELDS))
        'subjettiness'
    """
    fields = resolve_extra_fields(extra_features, option=option)
    if not fields:
        return None
    for name in FEATURE_SETS:
        if extra_jet_fields(name) == fields:
            return name
    return fields


class _Generated(NamedTuple):
    """What the event loop of :func:`generate_pythia` collects."""

    rows: list[list[list[float]]]  # per event: the two jets' 7 standard columns
    p4s: list[np.ndarray]  # per event the clustered four-vectors (only with extra features)
    particles: np.ndarray  # (n, 700, 3) raw particles, or (0, 700, 3)
    n_truncated: int
    n_tried: int


def _event_loop(
    pythia: Any,
    cfg: PythiaConfig,
    n_events: int,
    seed: int,
    bar: Any,
    *,
    keep_p4: bool,
    keep_raw: bool,
) -> _Generated:
    """Try events until ``n_events`` pass the trigger; the standard jet columns of each."""
    from anomsearch.data.io.lhco_raw import MAX_PARTICLES

    species = _SpeciesTable(pythia.particleData)
    rng = np.random.default_rng([seed, 0x5EED])
    clusterer = JetClusterer(cfg.jet_radius, cfg.nsub_axes, purpose="the pythia generator")
    max_tries = cfg.max_tries_factor * n_events + 1000
    rows: list[list[list[float]]] = []
    p4s: list[np.ndarray] = []
    particles = np.zeros((n_events if keep_raw else 0, MAX_PARTICLES, 3))
    n_truncated = n_tried = 0
    while len(rows) < n_events:
        if n_tried >= max_tries:
            raise AnomsearchError(
                f"only {len(rows)} of {n_events} events passed the trigger in {n_tried} "
                f"tries; check PythiaConfig.trigger_pt/pthat_min"
            )
        n_tried += 1
        accepted = _next_triggered(pythia, species, clusterer, rng, cfg)
        if accepted is None:
            continue
        _sequence, jets, p4, ptetaphi = accepted  # the sequence keeps the jets' constituents
        if keep_raw:
            ptetaphi, truncated = _raw_particles(p4, ptetaphi)
            n_truncated += truncated
            particles[len(rows), : len(ptetaphi)] = ptetaphi
        if keep_p4:
            p4s.append(p4)
        rows.append([clusterer.jet_features(j) for j in jets[:2]])
        bar.update(1)
    return _Generated(rows, p4s, particles, n_truncated, n_tried)


def _constituent_features(
    p4s: list[np.ndarray], jets: np.ndarray, cfg: PythiaConfig, fields: tuple[str, ...]
) -> np.ndarray:
    """The extra per-jet ``fields`` of the accepted events, ``(n, 2, len(fields))``.

    The detector-level four-vectors the chain clustered (massless with
    ``cfg.massless_objects``) go, as one jagged awkward array, through
    :func:`~anomsearch.data.features.batch.compute_jet_features` in one call. Its standard
    columns must equal the chain's per-event ones (the same particles, jets and axes): they are
    compared, so the extra columns can only belong to the chain's two leading jets.

    Raises:
        AnomsearchError: the vectorised jets differ from the chain's (a bug, never the data).

    References:
        N-subjettiness: arXiv:1011.2268. EFPs: arXiv:1712.07124. FastJet: arXiv:1111.6097.
    """
    import awkward as ak

    if not p4s:
        return np.zeros((0, 2, len(fields)))
    flat = np.concatenate(p4s)
    record = ak.zip(
        {name: flat[:, i] for i, name in enumerate(("px", "py", "pz", "E"))},
        with_name="Momentum4D",
    )
    events = ak.unflatten(record, np.array([len(p) for p in p4s], dtype=np.int64))
    result = compute_jet_features(
        events, extra_features=fields, jet_radius=cfg.jet_radius, nsub_axes=cfg.nsub_axes
    )
    if not np.allclose(result.jets, jets, rtol=1e-7, atol=1e-7):
        worst = float(np.max(np.abs(result.jets - jets)))
        raise AnomsearchError(
            "the vectorised jet features differ from the Pythia chain's own (largest difference "
            f"{worst:.3g}); the extra feature columns would not belong to its jets"
        )
    return result.extra


def generate_pythia(
    n_events: int,
    *,
    config: PythiaConfig | None = None,
    seed: int,
    progress: bool = False,
    return_particles: bool = False,
    extra_features: str | Sequence[str] | None = None,
) -> tuple[EventTable, dict[str, Any]]:
    """Generate ``n_events`` triggered dijet events with the Pythia 8 -> detector -> fastjet chain.

    See the module docstring for the exact settings, the detector response, and the jet and
    substructure definitions.

    Args:
        n_events: number of accepted (triggered, >= 2 jets) events to return.
        config: the chain's settings (default :class:`PythiaConfig` ``()``, QCD "data").
        seed: Pythia's ``Random:seed`` (in ``[0, 900000000]``); it also seeds the detector
            smearing. The same seed and config give identical tables.
        progress: show a progress bar (:mod:`anomsearch.progress`).
        return_particles: also return the detector-level particles of every accepted event (the
            particles the jets were clustered from) as ``stats["particles"]``, a
            ``(n_events, 700, 3)`` float64 array of ``(pT, eta, phi)`` in the LHC Olympics raw
            layout (:mod:`anomsearch.data.io.lhco_raw`: event-record order, zero padded). An event
            with more than 700 particles keeps its 700 hardest (counted in
            ``stats["n_truncated"]``). Memory: 16.8 kB per event, so generate large samples in
            chunks (:func:`anomsearch.data.generate.pythia_chunks.generate_pythia_chunks`).
        extra_features: extra per-jet fields computed from the constituents (tau_N^beta, EFPs;
            :mod:`anomsearch.data.features.sets`): None (default: the 7 standard columns only), a
            feature-set name (``"subjettiness"``, ``"efp"``, ``"kitchen_sink"``) or field names.
            The four-vectors the chain clustered (every particle of the event, not only the
            700 of the raw layout) are kept for the accepted events and their fields computed in
            one vectorised call at the end
            (:func:`~anomsearch.data.features.batch.compute_jet_features`, whose standard columns
            are checked against the chain's); the events, their standard columns and the random
            sequence do not change. Memory: ~30 kB per event until then.

    Returns:
        ``(events, stats)``: the :class:`EventTable` (jets in pT order, label 0 for ``"qcd"`` and
        1 for the signal processes; the extra fields in ``extra`` / ``extra_fields``) and a dict
        with ``n_tried``, ``n_accepted``, ``efficiency``, ``sigma_gen_pb`` (Pythia's generated
        cross section before the trigger, in pb), ``sigma_accepted_pb`` (times the trigger
        efficiency), ``seconds`` (the whole chain, extra features included), ``events_per_s``
        (accepted events per second), ``feature_seconds`` (the extra features' share),
        ``settings`` (the Pythia strings) and ``config``; plus ``particles`` and ``n_truncated``
        with ``return_particles=True``.

    Raises:
        ConfigError: bad ``n_events``, ``seed`` or ``extra_features``.
        AnomsearchError: pythia8mc/fastjet missing, Pythia failed to initialise, or too few events
            passed the trigger within ``config.max_tries_factor * n_events + 1000`` tries.

    References:
        Pythia 8.3: arXiv:2203.11601. Anti-kT: arXiv:0802.1189. N-subjettiness: arXiv:1011.2268.
        EFPs: arXiv:1712.07124.
    """
    cfg, n_events, seed = _checked_pythia_args(config, n_events, seed)
    fields = resolve_extra_fields(extra_features, option="generate_pythia.extra_features")
    _import_generators()
    settings = cfg.pythia_settings(seed)
    pythia = _make_pythia(cfg, seed)
    t0 = time.perf_counter()
    with progress_bar(
        n_events, description=f"pythia {cfg.process}", unit="ev", enabled=progress
    ) as bar:
        gen = _event_loop(
            pythia, cfg, n_events, seed, bar, keep_p4=bool(fields), keep_raw=return_particles
        )
    jets_arr = np.array(gen.rows, dtype=np.float64).reshape(len(gen.rows), 2, len(JET_FIELDS))
    extra, feature_seconds = None, 0.0
    if fields:
        t_features = time.perf_counter()
        extra = _constituent_features(gen.p4s, jets_arr, cfg, fields)
        feature_seconds = time.perf_counter() - t_features
    seconds = time.perf_counter() - t0
    label = np.full(len(gen.rows), 0 if cfg.process == "qcd" else 1, dtype=np.int8)
    stats = _run_stats(pythia, cfg, settings, len(gen.rows), gen.n_tried, seconds)
    stats["feature_seconds"] = feature_seconds
    if return_particles:
        _add_particles(stats, gen)
    log.info(
        "pythia %s/%s: %d accepted of %d tried (%.1f ev/s%s), sigma_gen = %.4g pb",
        cfg.process,
        cfg.variant,
        len(gen.rows),
        gen.n_tried,
        stats["events_per_s"],
        f", {len(fields)} extra field(s) in {feature_seconds:.1f} s" if fields else "",
        stats["sigma_gen_pb"],
    )
    events = EventTable(jets_arr, label=label, extra=extra, extra_fields=fields)
    return events, stats


def _add_particles(stats: dict[str, Any], gen: _Generated) -> None:
    """``stats["particles"]`` and ``stats["n_truncated"]`` of ``return_particles=True``."""
    from anomsearch.data.io.lhco_raw import MAX_PARTICLES

    stats["particles"] = gen.particles
    stats["n_truncated"] = gen.n_truncated
    if gen.n_truncated:
        log.info(
            "%d event(s) had more than %d particles: kept the hardest",
            gen.n_truncated,
            MAX_PARTICLES,
        )
