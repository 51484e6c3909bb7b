"""The toy background "simulation": reproducible, background only, and measurably mismodelled."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from anomsearch.data.generate.toy import ToyConfig, generate_toy_background
from anomsearch.data.generate.toy_simulation import (
    SimulationMismodelling,
    generate_toy_simulation,
    simulation_config,
)
from anomsearch.exceptions import ConfigError

N = 40_000


@pytest.fixture(scope="module")
def data_and_sim():
    return generate_toy_background(N, seed=1), generate_toy_simulation(N, seed=2)


def _z(a: np.ndarray, b: np.ndarray) -> float:
    """Significance of the difference of two sample means."""
    return float((b.mean() - a.mean()) / np.sqrt(a.var() / a.size + b.var() / b.size))


def test_reproducible_seed_dependent_and_background_only():
    a = generate_toy_simulation(3000, seed=9)
    b = generate_toy_simulation(3000, seed=9)
    c = generate_toy_simulation(3000, seed=10)
    np.testing.assert_array_equal(a.jets, b.jets)
    assert not np.array_equal(a.jets, c.jets)
    assert a.label is not None and a.label.shape == (3000,) and not a.label.any()


def test_simulation_differs_from_data_by_the_mismodelling(data_and_sim):
    data, sim = data_and_sim
    mis = SimulationMismodelling()
    # jet masses scaled by +7%: the mean lighter-jet mass too (exact for a pure scaling at
    # fixed mjj; the slightly different mjj spectrum does not change the masses)
    ratio = sim.feature("mj1").mean() / data.feature("mj1").mean()
    assert ratio == pytest.approx(mis.jet_mass_scale, abs=0.015)
    assert _z(data.feature("mj1"), sim.feature("mj1")) > 8
    # tau21 shifted by +0.03 at mjj_ref plus 0.02/TeV * (<mjj> - 3.5) ~ -0.009
    for f in ("tau21_j1", "tau21_j2"):
        shift = sim.feature(f).mean() - data.feature(f).mean()
        expected = mis.tau21_shift + mis.tau21_mjj_slope * (sim.mjj.mean() - 3.5)
        assert shift == pytest.approx(expected, abs=0.004)
        assert _z(data.feature(f), sim.feature(f)) > 10
    # steeper mjj spectrum: lower mean mjj
    assert _z(data.mjj, sim.mjj) < -2


def test_mismodelling_depends_on_mjj(data_and_sim):
    """The tau21 difference grows with mjj by the configured slope."""
    data, sim = data_and_sim
    lo, hi = (2.6, 3.0), (3.4, 8.0)

    def diff(rng):
        d = data.feature("tau21_j1")[(data.mjj >= rng[0]) & (data.mjj < rng[1])]
        s = sim.feature("tau21_j1")[(sim.mjj >= rng[0]) & (sim.mjj < rng[1])]
        return s.mean() - d.mean()

    in_hi = sim.mjj[(sim.mjj >= hi[0])].mean() - sim.mjj[sim.mjj < lo[1]].mean()
    assert diff(hi) - diff(lo) == pytest.approx(0.02 * in_hi, abs=0.008)
    assert diff(hi) > diff(lo)


def test_no_mismodelling_reproduces_the_data_distribution():
    data = generate_toy_background(20_000, seed=3)
    sim = generate_toy_simulation(20_000, seed=4, mismodelling=SimulationMismodelling.none())
    for f in ("mjj", "mj1", "delta_mj", "tau21_j1"):
        assert stats.ks_2samp(data.feature(f), sim.feature(f)).pvalue > 1e-3


def test_simulation_config_applies_the_shifts():
    base = ToyConfig(tau21_mjj_slope=0.1)
    mis = SimulationMismodelling(
        jet_mass_scale=1.1, tau21_shift=-0.02, tau21_mjj_slope=0.05, dijet_p2_shift=0.3
    )
    cfg = simulation_config(base, mis)
    assert cfg.mass_median == pytest.approx(base.mass_median * 1.1)
    assert (cfg.mass_min, cfg.mass_max) == pytest.approx((base.mass_min * 1.1, base.mass_max * 1.1))
    assert cfg.tau21_bkg_mean == pytest.approx(base.tau21_bkg_mean - 0.02)
    assert cfg.tau21_mjj_slope == pytest.approx(0.15)
    assert cfg.dijet_p2 == pytest.approx(base.dijet_p2 + 0.3)
    assert cfg.tau21_sig_mean == base.tau21_sig_mean  # signal untouched


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"jet_mass_scale": -1.0}, "simulation.jet_mass_scale"),
        ({"tau21_shift": float("nan")}, "simulation.tau21_shift"),
        ({"dijet_p2_shift": "big"}, "simulation.dijet_p2_shift"),
    ],
)
def test_invalid_mismodelling(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SimulationMismodelling(**kwargs)


def test_shift_out_of_the_generator_range_is_a_config_error():
    with pytest.raises(ConfigError, match="tau21_bkg_mean"):
        generate_toy_simulation(10, seed=1, mismodelling=SimulationMismodelling(tau21_shift=0.5))
