"""The toy generator: shapes, reproducibility, the physics it promises, speed-independent checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from anomsearch.data import ToyConfig, generate_toy, generate_toy_background, generate_toy_signal
from anomsearch.exceptions import ConfigError


def test_reproducible_and_seed_dependent():
    a = generate_toy(2000, 50, seed=11)
    b = generate_toy(2000, 50, seed=11)
    c = generate_toy(2000, 50, seed=12)
    np.testing.assert_array_equal(a.jets, b.jets)
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.jets, c.jets)
    assert int(a.label.sum()) == 50


def test_mjj_follows_the_dijet_function():
    cfg = ToyConfig()
    ev = generate_toy_background(200_000, seed=3, config=cfg)
    mjj = ev.mjj
    assert mjj.min() >= cfg.mjj_min - 1e-9 and mjj.max() <= cfg.mjj_max + 1e-9

    def cdf(m):
        grid = np.linspace(cfg.mjj_min, cfg.mjj_max, 100_001)
        x = grid / cfg.sqrt_s
        f = (1 - x) ** cfg.dijet_p1 / x**cfg.dijet_p2
        c = np.concatenate([[0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(grid))])
        return np.interp(m, grid, c / c[-1])

    assert stats.kstest(mjj, cdf).pvalue > 1e-3


def test_zero_events():
    assert len(generate_toy_signal(0, seed=1)) == 0
    assert len(generate_toy(10, 0, seed=1)) == 10


def test_trigger_fully_efficient():
    ev = generate_toy(20_000, 2000, seed=4)
    pt = np.hypot(ev.jets[:, :, 0], ev.jets[:, :, 1]).max(axis=1)
    assert pt.min() >= 1200.0 - 1e-6


def test_signal_peaks_where_configured():
    cfg = ToyConfig(resonance_mass=4.0, mass_x=0.3, mass_y=0.15, signal_tail_fraction=0.0)
    sig = generate_toy_signal(5000, seed=6, config=cfg)
    assert np.median(sig.mjj) == pytest.approx(4.0, abs=0.02)
    assert np.std(sig.mjj) == pytest.approx(0.045 * 4.0, rel=0.1)
    assert np.median(sig.feature("mj2")) == pytest.approx(0.3, abs=0.01)
    assert np.median(sig.feature("mj1")) == pytest.approx(0.15, abs=0.01)
    assert np.std(sig.feature("mj2")) == pytest.approx(0.12 * 0.3, rel=0.2)
    bkg = generate_toy_background(5000, seed=7, config=cfg)
    assert np.mean(sig.feature("tau21_j1")) < np.mean(bkg.feature("tau21_j1")) - 0.2


def test_signal_tail_fraction_makes_jets_qcd_like():
    cfg = ToyConfig(signal_tail_fraction=0.4)
    sig = generate_toy_signal(20_000, seed=6, config=cfg)
    jets = sig.jets[:, :, 3].ravel() / 1000  # both jets' masses, TeV
    near_x = np.abs(jets - 0.5) < 0.15
    # half the jets are X; 60% of them are reconstructed well (inside), the QCD-like rest rarely is
    assert near_x.mean() == pytest.approx(0.5 * 0.6, abs=0.03)


@pytest.mark.parametrize("name", ["mj1", "mj2", "delta_mj", "tau21_j1", "tau21_j2", "tau32_j1"])
def test_default_background_features_do_not_depend_on_mjj(name):
    # a classifier trained signal region vs sidebands must find nothing in background-only data:
    # the distributions in the SR and in each sideband (and near the trigger threshold) agree
    ev = generate_toy_background(400_000, seed=21)
    mjj, x = ev.mjj, ev.feature(name)
    sr = (mjj >= 3.3) & (mjj < 3.7)
    for other in [(2.6, 2.9), (2.9, 3.3), (3.7, 4.1), (4.1, 8.0)]:
        mask = (mjj >= other[0]) & (mjj < other[1])
        assert stats.ks_2samp(x[sr], x[mask]).pvalue > 1e-3, other


def test_mjj_dependence_is_configurable():
    flat = generate_toy_background(100_000, seed=8)
    shifted = generate_toy_background(100_000, seed=8, config=ToyConfig(mass_mjj_shift=0.1))
    rho_flat = stats.spearmanr(flat.mjj, flat.feature("mj1")).statistic
    rho_shift = stats.spearmanr(shifted.mjj, shifted.feature("mj1")).statistic
    assert abs(rho_flat) < 0.02
    assert rho_shift > 0.3
    tilted = generate_toy_background(100_000, seed=8, config=ToyConfig(tau21_mjj_slope=0.05))
    assert stats.spearmanr(tilted.mjj, tilted.feature("tau21_j1")).statistic > 0.05


def test_lhco_like_signal_region_numbers():
    ev = generate_toy(1_000_000, 1000, seed=1)
    sr = (ev.mjj >= 3.3) & (ev.mjj < 3.7)
    n_b = int(np.sum(sr & (ev.label == 0)))
    n_s = int(np.sum(sr & (ev.label == 1)))
    assert 110_000 < n_b < 130_000  # LHCO R&D: ~121k
    assert 0.005 < n_s / n_b < 0.008  # LHCO R&D: 0.636%


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mjj_min": 2.0}, "cannot pass the trigger"),
        ({"mjj_max": 20.0}, "mjj_max"),
        ({"tau21_sig_mean": 1.5}, "tau21_sig_mean"),
        ({"mass_x": -1.0}, "mass_x"),
    ],
)
def test_bad_parameters(options, match):
    with pytest.raises(ConfigError, match=match):
        ToyConfig(**options)


def test_from_dict_names_unknown_options():
    with pytest.raises(ConfigError, match=r"data\.toy: unknown option.*bogus"):
        ToyConfig.from_dict({"bogus": 1}, field_prefix="data.toy")
