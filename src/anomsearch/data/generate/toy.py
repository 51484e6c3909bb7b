"""A fast, seeded, parametric LHC Olympics-like dijet generator (the ``toy`` generator).

Background ("QCD") events:

* mjj is drawn exactly from the standard dijet function
  ``f(x) = (1-x)^p1 / x^(p2 + p3 ln x)``, ``x = mjj/sqrt(s)``, on ``[mjj_min, mjj_max]``;
* the two jets are back to back in the dijet rest frame; the polar angle is drawn uniformly in
  ``cos(theta*)`` inside the range where both jets pass the trigger ``pT > pt_min`` (events whose
  momentum cannot pass it are redrawn), so the trigger is fully efficient and the mjj spectrum is
  the dijet function; the dijet system gets a random longitudinal boost and azimuth;
* jet masses are log-normal, optionally scaling with mjj (``mass_mjj_power``) and shifted by a
  fraction of mjj (``mass_mjj_shift``, the "+0.1 mjj" scenario of arXiv:2109.00546);
* tau21 (tau32) follow Beta distributions whose mean can drift with mjj (``tau21_mjj_slope``).

Signal events are a W'-like resonance (Gaussian mjj with relative resolution
``resonance_resolution``) decaying to two jets with masses of the daughters X and Y (Gaussian
jet-mass response) and two-prong substructure (low tau21); a fraction ``signal_tail_fraction`` of
signal jets is badly reconstructed and looks like QCD. The defaults make the best possible
(likelihood-ratio) classifier reach a maximum SIC of about 27 on (mj1, delta_mj, tau21_j1,
tau21_j2), the same order as the supervised classifiers on the LHCO R&D features (17.65 in
arXiv:2109.00546), so the toy is neither trivial nor hopeless. With both mjj dependences at 0 (the
default) the background jet features are independent of mjj, the case where CWoLa hunting is
unbiased.

References:
    LHC Olympics 2020 R&D data set: arXiv:2101.08320. Dijet function: CMS, arXiv:1911.03947.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import special

from anomsearch.data.events import JET_FIELDS, EventTable
from anomsearch.exceptions import ConfigError

__all__ = [
    "ToyConfig",
    "generate_toy",
    "generate_toy_background",
    "generate_toy_signal",
]

log = logging.getLogger(__name__)

_GEV_PER_TEV = 1000.0


@dataclass(frozen=True)
class ToyConfig:
    """Parameters of the toy generator. Masses and momenta in TeV.

    Attributes:
        sqrt_s: centre-of-mass energy.
        mjj_min: lowest generated mjj.
        mjj_max: highest generated mjj.
        dijet_p1: exponent of ``(1-x)`` in the dijet function.
        dijet_p2: exponent of ``1/x``.
        dijet_p3: coefficient of ``ln x`` in the exponent of ``1/x``.
        pt_min: trigger threshold on the jets' transverse momentum.
        boost_sigma: standard deviation of the dijet system's rapidity.
        mass_median: median QCD jet mass at mjj = ``mjj_ref``.
        mass_log_sigma: width of the log-normal QCD jet mass.
        mass_min: lower truncation of the QCD jet mass (before the mjj scaling and shift).
        mass_max: upper truncation of the QCD jet mass (before the mjj scaling and shift).
        mass_mjj_power: QCD jet masses scale as ``(mjj/mjj_ref)**mass_mjj_power``.
        mass_mjj_shift: every jet mass is shifted by ``mass_mjj_shift * mjj`` (signal too).
        mjj_ref: reference mjj of the mjj dependences.
        tau21_bkg_mean: mean QCD tau21 at ``mjj_ref``.
        tau21_mjj_slope: change of the mean tau21 (QCD and signal) per TeV of ``mjj - mjj_ref``.
        tau32_mean: mean tau32 (QCD and two-prong signal).
        tau_concentration: concentration ``a+b`` of the Beta distributions (larger = narrower).
        tau1_median: median tau1.
        resonance_mass: W'-like resonance mass.
        resonance_resolution: relative mjj resolution of the resonance.
        mass_x: mass of the daughter X.
        mass_y: mass of the daughter Y.
        jet_mass_resolution: relative jet-mass resolution of signal jets.
        tau21_sig_mean: mean tau21 of the two-prong signal jets.
        signal_tail_fraction: probability that a signal jet is badly reconstructed (decay products
            not contained in the jet, pile-up, ...): its mass and tau21 are then drawn like a QCD
            jet's.
    """

    sqrt_s: float = 13.0
    mjj_min: float = 2.6
    mjj_max: float = 8.0
    dijet_p1: float = 10.0
    dijet_p2: float = 4.0
    dijet_p3: float = 0.0
    pt_min: float = 1.2
    boost_sigma: float = 0.5
    mass_median: float = 0.08
    mass_log_sigma: float = 0.9
    mass_min: float = 0.005
    mass_max: float = 0.6
    mass_mjj_power: float = 0.0
    mass_mjj_shift: float = 0.0
    mjj_ref: float = 3.5
    tau21_bkg_mean: float = 0.68
    tau21_mjj_slope: float = 0.0
    tau32_mean: float = 0.78
    tau_concentration: float = 10.0
    tau1_median: float = 0.3
    resonance_mass: float = 3.5
    resonance_resolution: float = 0.045
    mass_x: float = 0.5
    mass_y: float = 0.1
    jet_mass_resolution: float = 0.12
    tau21_sig_mean: float = 0.42
    signal_tail_fraction: float = 0.4

    def __post_init__(self) -> None:
        if not 0 < self.mjj_min < self.mjj_max < self.sqrt_s:
            raise ConfigError(
                "toy: need 0 < mjj_min < mjj_max < sqrt_s, got "
                f"mjj_min={self.mjj_min}, mjj_max={self.mjj_max}, sqrt_s={self.sqrt_s}"
            )
        if not 0 < self.mass_min < self.mass_median < self.mass_max:
            raise ConfigError(
                f"toy: need 0 < mass_min < mass_median < mass_max, got {self.mass_min}, "
                f"{self.mass_median}, {self.mass_max}"
            )
        if self.mjj_min <= 2 * self.pt_min:
            raise ConfigError(
                f"toy: mjj_min={self.mjj_min} TeV cannot pass the trigger pt_min={self.pt_min} TeV "
                f"(need mjj_min > 2*pt_min)"
            )
        if not 0 <= self.signal_tail_fraction <= 1:
            raise ConfigError(
                f"toy: signal_tail_fraction must lie in [0, 1], got {self.signal_tail_fraction}"
            )
        for name in ("tau21_bkg_mean", "tau32_mean", "tau21_sig_mean"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"toy: {name} must lie in (0, 1), got {getattr(self, name)}")
        for name in (
            "mass_median",
            "mass_log_sigma",
            "tau_concentration",
            "tau1_median",
            "resonance_mass",
            "resonance_resolution",
            "mass_x",
            "mass_y",
            "jet_mass_resolution",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"toy: {name} must be > 0, got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, options: dict[str, Any], *, field_prefix: str = "toy") -> ToyConfig:
        """Build from a mapping, raising :class:`ConfigError` naming unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"{field_prefix}: unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**{k: float(v) for k, v in options.items()})

    def to_dict(self) -> dict[str, float]:
        """All parameters as a plain dict."""
        return asdict(self)


# ---------------------------------------------------------------------------------- sampling pieces
def _sample_dijet_mjj(n: int, cfg: ToyConfig, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF sampling of the dijet function on a fine grid (relative grid error < 1e-6)."""
    grid = np.linspace(cfg.mjj_min, cfg.mjj_max, 200_001)
    x = grid / cfg.sqrt_s
    log_f = cfg.dijet_p1 * np.log1p(-x) - (cfg.dijet_p2 + cfg.dijet_p3 * np.log(x)) * np.log(x)
    f = np.exp(log_f - log_f.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


def _beta(mean: np.ndarray | float, concentration: float, n: int, rng: np.random.Generator):
    mean = np.clip(np.broadcast_to(mean, (n,)), 0.02, 0.98)
    return rng.beta(mean * concentration, (1.0 - mean) * concentration)


def _substructure(
    tau21_mean: np.ndarray | float, cfg: ToyConfig, n: int, rng: np.random.Generator
) -> np.ndarray:
    """tau1, tau2, tau3 of ``n`` jets, shape (n, 3)."""
    tau1 = np.clip(cfg.tau1_median * np.exp(0.4 * rng.standard_normal(n)), 1e-3, 1.0)
    tau21 = _beta(tau21_mean, cfg.tau_concentration, n, rng)
    tau32 = _beta(cfg.tau32_mean, cfg.tau_concentration, n, rng)
    tau2 = tau1 * tau21
    return np.column_stack([tau1, tau2, tau2 * tau32])


def _two_body_jets(
    mjj: np.ndarray, masses: np.ndarray, cfg: ToyConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Four-momenta of two jets of given masses with dijet mass ``mjj``.

    Returns:
        (p, ok): ``p`` of shape (n, 2, 3) with px, py, pz in TeV; ``ok`` marks events whose jets can
        pass the trigger (the others must be redrawn).
    """
    n = mjj.shape[0]
    m1, m2 = masses[:, 0], masses[:, 1]
    arg = (mjj**2 - (m1 + m2) ** 2) * (mjj**2 - (m1 - m2) ** 2)
    ok = (mjj > m1 + m2) & (arg > 0)
    pstar = np.sqrt(np.clip(arg, 0.0, None)) / (2.0 * mjj)
    ok &= pstar > cfg.pt_min
    cos_max = np.sqrt(np.clip(1.0 - (cfg.pt_min / np.where(ok, pstar, 1.0)) ** 2, 0.0, 1.0))
    cos_t = cos_max * rng.uniform(-1.0, 1.0, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    pt = pstar * sin_t
    pz_star = pstar * cos_t
    e1 = np.sqrt(pstar**2 + m1**2)
    e2 = np.sqrt(pstar**2 + m2**2)
    y_boost = cfg.boost_sigma * rng.standard_normal(n)
    ch, sh = np.cosh(y_boost), np.sinh(y_boost)
    pz1 = ch * pz_star + sh * e1
    pz2 = -ch * pz_star + sh * e2
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    p = np.stack([np.column_stack([px, py, pz1]), np.column_stack([-px, -py, pz2])], axis=1)
    return p, ok


def _assemble(p: np.ndarray, masses: np.ndarray, taus: np.ndarray, rng: np.random.Generator):
    """Build the (n, 2, 7) jets array in GeV with the jets in random file order."""
    n = p.shape[0]
    jets = np.empty((n, 2, len(JET_FIELDS)))
    jets[:, :, 0:3] = p * _GEV_PER_TEV
    jets[:, :, 3] = masses * _GEV_PER_TEV
    jets[:, :, 4:7] = taus
    swap = rng.random(n) < 0.5
    jets[swap] = jets[swap][:, ::-1]
    return jets


def _qcd_masses(mjj: np.ndarray, cfg: ToyConfig, rng: np.random.Generator) -> np.ndarray:
    """QCD-like jet masses of two jets per event, shape (n, 2): a log-normal truncated to
    ``[mass_min, mass_max]`` by inverse-CDF sampling (no clipping: a pile-up of clipped values at an
    mjj-dependent edge would be a feature a classifier could use to find the signal region)."""
    z_lo, z_hi = (
        np.log(m / cfg.mass_median) / cfg.mass_log_sigma for m in (cfg.mass_min, cfg.mass_max)
    )
    z = special.ndtri(rng.uniform(special.ndtr(z_lo), special.ndtr(z_hi), size=(mjj.size, 2)))
    scale = (mjj / cfg.mjj_ref) ** cfg.mass_mjj_power
    return cfg.mass_median * np.exp(cfg.mass_log_sigma * z) * scale[:, None]


def _qcd_tau21_means(mjj: np.ndarray, cfg: ToyConfig) -> np.ndarray:
    """Mean tau21 of QCD-like jets, shape (n, 2)."""
    tau21 = cfg.tau21_bkg_mean + cfg.tau21_mjj_slope * (mjj - cfg.mjj_ref)
    return np.repeat(tau21[:, None], 2, axis=1)


def _generate(
    n: int,
    cfg: ToyConfig,
    rng: np.random.Generator,
    draw: Any,
) -> np.ndarray:
    """Draw events with ``draw(m, rng) -> (mjj, masses, tau21_means)`` until ``n`` pass the
    trigger."""
    chunks: list[np.ndarray] = [np.empty((0, 2, len(JET_FIELDS)))]
    remaining = n
    while remaining > 0:
        m = max(int(remaining * 1.05) + 16, 64)
        mjj, masses, tau21_means = draw(m, rng)
        masses = masses + cfg.mass_mjj_shift * mjj[:, None]
        p, ok = _two_body_jets(mjj, masses, cfg, rng)
        taus = np.stack([_substructure(tau21_means[:, j], cfg, m, rng) for j in range(2)], axis=1)
        jets = _assemble(p[ok], masses[ok], taus[ok], rng)
        chunks.append(jets[:remaining])
        remaining -= chunks[-1].shape[0]
    return np.concatenate(chunks)


def generate_toy_background(n: int, *, seed: int, config: ToyConfig | None = None) -> EventTable:
    """Generate ``n`` QCD-like background events (label 0).

    Examples:
        >>> ev = generate_toy_background(1000, seed=1)
        >>> len(ev), bool(ev.mjj.min() >= 2.6), int(ev.label.sum())
        (1000, True, 0)
    """
    cfg = config or ToyConfig()
    _check_count(n, "n_background")

    def draw(m: int, rng: np.random.Generator):
        mjj = _sample_dijet_mjj(m, cfg, rng)
        return mjj, _qcd_masses(mjj, cfg, rng), _qcd_tau21_means(mjj, cfg)

    jets = _generate(n, cfg, np.random.default_rng(seed), draw)
    return EventTable(jets, np.zeros(n, dtype=np.int8))


def generate_toy_signal(n: int, *, seed: int, config: ToyConfig | None = None) -> EventTable:
    """Generate ``n`` W'-like resonance events X Y -> (qq)(qq) (label 1).

    Examples:
        >>> ev = generate_toy_signal(2000, seed=2)
        >>> abs(float(np.median(ev.mjj)) - 3.5) < 0.05
        True
    """
    cfg = config or ToyConfig()
    _check_count(n, "n_signal")

    def draw(m: int, rng: np.random.Generator):
        mjj = cfg.resonance_mass * (1.0 + cfg.resonance_resolution * rng.standard_normal(m))
        mjj = np.clip(mjj, cfg.mjj_min, cfg.mjj_max)
        true = np.array([cfg.mass_x, cfg.mass_y])
        masses = true * (1.0 + cfg.jet_mass_resolution * rng.standard_normal((m, 2)))
        masses = np.clip(masses, 0.005, None)
        tau21 = cfg.tau21_sig_mean + cfg.tau21_mjj_slope * (mjj - cfg.mjj_ref)
        tau21 = np.repeat(tau21[:, None], 2, axis=1)
        tail = rng.random((m, 2)) < cfg.signal_tail_fraction
        masses = np.where(tail, _qcd_masses(mjj, cfg, rng), masses)
        tau21 = np.where(tail, _qcd_tau21_means(mjj, cfg), tau21)
        return mjj, masses, tau21

    jets = _generate(n, cfg, np.random.default_rng(seed), draw)
    return EventTable(jets, np.ones(n, dtype=np.int8))


def generate_toy(
    n_background: int, n_signal: int, *, seed: int, config: ToyConfig | None = None
) -> EventTable:
    """Generate a labelled, shuffled mixture of background and signal events.

    Args:
        n_background: number of QCD-like events.
        n_signal: number of resonance events.
        seed: master seed; background, signal and shuffle use independent streams.
        config: generator parameters (default :class:`ToyConfig`).

    Examples:
        >>> ev = generate_toy(500, 20, seed=3)
        >>> len(ev), int(ev.label.sum())
        (520, 20)
    """
    seeds = np.random.SeedSequence(seed).spawn(3)
    bkg_seed, sig_seed, shuffle_seed = (int(s.generate_state(1)[0]) for s in seeds)
    parts = [generate_toy_background(n_background, seed=bkg_seed, config=config)]
    if n_signal > 0:
        parts.append(generate_toy_signal(n_signal, seed=sig_seed, config=config))
    events = EventTable.concatenate(parts)
    order = np.random.default_rng(shuffle_seed).permutation(len(events))
    log.info("generated toy data: %d background + %d signal events", n_background, n_signal)
    return events.subset(order)


def _check_count(n: int, name: str) -> None:
    if int(n) != n or n < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {n!r}")
