"""A mismodelled "simulation" of the toy background, as Herwig is to Pythia in the LHCO R&D set.

Simulation-assisted methods (SALAD, SA-CWoLa) need a background *simulation* that resembles the
background in data but is not identical to it. In the LHC Olympics R&D set the "data" background
is Pythia and the simulation Herwig; their jet masses and substructure differ by O(5-10%) and the
difference depends (mildly) on the dijet mass. :func:`generate_toy_simulation` draws background
events from the toy generator (:mod:`anomsearch.data.generate.toy`) with its parameters shifted by a
:class:`SimulationMismodelling`:

* the QCD jet-mass distribution is scaled by ``jet_mass_scale`` (median and truncation range, so
  the shape is exactly rescaled);
* the mean tau21 is shifted by ``tau21_shift``;
* the slope of the mean tau21 in mjj gets an extra ``tau21_mjj_slope`` (the mjj-dependent part of
  the mismodelling, the one SALAD's mjj-parametrised reweighting has to interpolate);
* the dijet spectrum's ``p2`` exponent is shifted by ``dijet_p2_shift`` (a slightly different mjj
  spectrum).

References:
    A. Andreassen, B. Nachman, D. Shih, "Simulation Assisted Likelihood-free Anomaly Detection",
    Phys. Rev. D 101 (2020) 095004, arXiv:2001.05001.
    K. Benkendorfer, L. Le Pottier, B. Nachman, "Simulation-Assisted Decorrelation for Resonant
    Anomaly Detection", Phys. Rev. D 104 (2021) 035003, arXiv:2009.02205.
    LHC Olympics 2020 R&D data set (Pythia "data", Herwig "simulation"): arXiv:2101.08320.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from anomsearch.data.events import EventTable
from anomsearch.data.generate.toy import ToyConfig, generate_toy_background
from anomsearch.exceptions import ConfigError

__all__ = ["SimulationMismodelling", "generate_toy_simulation", "simulation_config"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationMismodelling:
    """How the toy "simulation" background differs from the toy "data" background.

    The defaults are of the size of the Herwig-vs-Pythia differences in the LHCO R&D set: a few
    per cent in jet mass and substructure, with a mild mjj dependence.

    Attributes:
        jet_mass_scale: factor multiplying the QCD jet masses (default 1.07: +7%).
        tau21_shift: added to the mean QCD tau21 (default +0.03, about +4% of 0.68).
        tau21_mjj_slope: added to the slope of the mean tau21 in mjj, per TeV (default 0.02: the
            tau21 mismodelling grows by 0.02 per TeV above ``mjj_ref``).
        dijet_p2_shift: added to the dijet function's ``p2`` exponent (default 0.2: a slightly
            steeper mjj spectrum).

    Raises:
        ConfigError: a non-finite value or ``jet_mass_scale <= 0``; the message names the field
            as ``simulation.<field>``.

    Examples:
        >>> SimulationMismodelling().jet_mass_scale
        1.07
        >>> SimulationMismodelling(jet_mass_scale=0.0)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: simulation.jet_mass_scale must be > 0, got 0.0
    """

    jet_mass_scale: float = 1.07
    tau21_shift: float = 0.03
    tau21_mjj_slope: float = 0.02
    dijet_p2_shift: float = 0.2

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"simulation.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"simulation.{f.name} must be finite, got {value!r}")
        if self.jet_mass_scale <= 0:
            raise ConfigError(f"simulation.jet_mass_scale must be > 0, got {self.jet_mass_scale}")

    @classmethod
    def none(cls) -> SimulationMismodelling:
        """No mismodelling: the simulation is drawn from the same distribution as the data."""
        return cls(jet_mass_scale=1.0, tau21_shift=0.0, tau21_mjj_slope=0.0, dijet_p2_shift=0.0)


def simulation_config(
    config: ToyConfig | None = None, mismodelling: SimulationMismodelling | None = None
) -> ToyConfig:
    """The :class:`ToyConfig` of the simulation: ``config`` with the ``mismodelling`` applied.

    Args:
        config: the "data" generator settings (default :class:`ToyConfig`).
        mismodelling: the differences (default :class:`SimulationMismodelling`).

    Returns:
        The modified configuration.

    Raises:
        ConfigError: the shifted parameters are invalid for the toy generator (e.g. a mean tau21
            outside ``(0, 1)``).

    Examples:
        >>> cfg = simulation_config(ToyConfig(), SimulationMismodelling(tau21_shift=0.05))
        >>> round(cfg.tau21_bkg_mean, 2), round(cfg.mass_median, 4)
        (0.73, 0.0856)
    """
    cfg = config or ToyConfig()
    mis = mismodelling or SimulationMismodelling()
    s = float(mis.jet_mass_scale)
    return dataclasses.replace(
        cfg,
        mass_median=cfg.mass_median * s,
        mass_min=cfg.mass_min * s,
        mass_max=cfg.mass_max * s,
        tau21_bkg_mean=cfg.tau21_bkg_mean + mis.tau21_shift,
        tau21_mjj_slope=cfg.tau21_mjj_slope + mis.tau21_mjj_slope,
        dijet_p2=cfg.dijet_p2 + mis.dijet_p2_shift,
    )


def generate_toy_simulation(
    n: int,
    *,
    seed: int,
    config: ToyConfig | None = None,
    mismodelling: SimulationMismodelling | None = None,
) -> EventTable:
    """Generate ``n`` background-only "simulation" events (label 0).

    Use a seed different from the one of the "data" (with the same seed and no mismodelling the
    events would be the data's background events, or strongly correlated with them).

    Args:
        n: number of events.
        seed: seed of the generator.
        config: the "data" generator settings the mismodelling is applied to.
        mismodelling: the differences from the data (default :class:`SimulationMismodelling`).

    Returns:
        An :class:`EventTable` with ``label`` all 0.

    Raises:
        ConfigError: negative ``n`` or invalid shifted parameters.

    Examples:
        >>> sim = generate_toy_simulation(2000, seed=5)
        >>> len(sim), int(sim.label.sum())
        (2000, 0)
    """
    cfg = simulation_config(config, mismodelling)
    events = generate_toy_background(n, seed=seed, config=cfg)
    log.info("generated %d toy simulation events", n)
    return events
