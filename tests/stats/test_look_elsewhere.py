"""Tests of the look-elsewhere tools: toys vs Sidak, Gross-Vitells vs brute force, batching."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import ndtr, ndtri

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.look_elsewhere import (
    GlobalSignificance,
    count_upcrossings,
    derive_toy_seeds,
    fit_effective_trials,
    global_significance_from_toys,
    run_pseudo_experiments,
    trials_factor_approximation,
)


def _max_of_independent_windows(toy_seed: int, *, n_windows: int) -> float:
    """One background-only 'scan' of n independent windows: the largest of n N(0, 1) local Z."""
    return float(np.random.default_rng(toy_seed).standard_normal(n_windows).max())


def _gaussian_process_scans(
    rng: np.random.Generator, n_scans: int, *, n_points: int = 200, length: float = 3.0
) -> np.ndarray:
    """Stationary unit-variance Gaussian process (white noise smoothed by a Gaussian kernel of
    ``length`` points): local Z of overlapping, correlated windows along a mass scan."""
    half = int(4 * length)
    x = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (x / length) ** 2)
    kernel /= np.sqrt(np.sum(kernel**2))
    noise = rng.standard_normal((n_scans, n_points + 2 * half))
    return sliding_window_view(noise, 2 * half + 1, axis=1) @ kernel


def test_independent_windows_toys_match_sidak() -> None:
    """For N independent Gaussian windows P(max Z >= z) = 1 - (1 - p_local)^N exactly."""
    n_windows, n_toys, z_obs = 20, 4000, 2.5
    toys = run_pseudo_experiments(
        functools.partial(_max_of_independent_windows, n_windows=n_windows),
        n_toys=n_toys,
        seed=2024,
        progress=False,
    )
    g = global_significance_from_toys(z_obs, toys)
    assert isinstance(g, GlobalSignificance)
    exact = 1.0 - (1.0 - ndtr(-z_obs)) ** n_windows
    assert g.n_toys == n_toys and g.n_exceeding == int(np.count_nonzero(toys >= z_obs))
    assert g.global_p_error == pytest.approx(math.sqrt(g.global_p * (1 - g.global_p) / n_toys))
    assert abs(g.global_p - exact) < 3.5 * math.sqrt(exact * (1 - exact) / n_toys)
    assert g.local_p == pytest.approx(ndtr(-z_obs))
    assert g.trials_factor == pytest.approx(g.global_p / g.local_p)
    assert g.global_z == pytest.approx(-float(ndtri(g.global_p)))
    sidak = trials_factor_approximation(z_obs, n_windows_effective=n_windows)
    assert sidak.method == "sidak" and sidak.global_p == pytest.approx(exact, rel=1e-12)
    # the same N from a scan range and a window width; Bonferroni to first order
    ranged = trials_factor_approximation(z_obs, scan_range=(2.5, 4.5), resolution=0.1)
    assert ranged.n_windows_effective == pytest.approx(20.0)
    assert ranged.global_p == pytest.approx(exact, rel=1e-9)
    tiny = trials_factor_approximation(6.0, n_windows_effective=50)
    assert tiny.trials_factor == pytest.approx(50.0, rel=1e-6)


def test_effective_trials_of_independent_windows_and_the_extrapolated_global_p() -> None:
    """Maxima of N independent windows, floored at 0 like the scan's local Z's: the fit recovers
    N within its error, and its global p-value at an excess beyond every toy is Sidak's with
    that N -- where the toys' own p-value is only the floor 1 / (n_toys + 1)."""
    rng = np.random.default_rng(11)
    for n_windows in (2, 20):  # with 2 windows a quarter of the maxima are floored at 0
        toys = np.maximum(rng.standard_normal((400, n_windows)).max(axis=1), 0.0)
        fit = fit_effective_trials(toys, local_z=4.5)
        assert fit.n_toys == 400 and fit.n_positive == int(np.sum(toys > 0))
        assert fit.n_trials_error == pytest.approx(fit.n_trials / math.sqrt(fit.n_positive))
        assert abs(fit.n_trials - n_windows) < 3 * fit.n_trials_error
        sidak = trials_factor_approximation(4.5, n_windows_effective=fit.n_trials)
        assert fit.global_p == pytest.approx(sidak.global_p, rel=1e-9)
        assert fit.global_z == pytest.approx(sidak.global_z, rel=1e-9)
        assert global_significance_from_toys(4.5, toys).global_p == pytest.approx(1 / 401)
    # correlated windows (200 points of a smooth Gaussian process) act like fewer trials
    scans = _gaussian_process_scans(np.random.default_rng(8), 300)
    correlated = fit_effective_trials(np.maximum(scans.max(axis=1), 0.0))
    assert 5 < correlated.n_trials < 100
    assert math.isnan(correlated.global_p) and math.isnan(correlated.local_z)
    for bad in ([], [1.0, -0.5], [0.0, 0.0], [[1.0, 2.0]], [1.0, math.nan]):
        with pytest.raises(DataFormatError, match="fit_effective_trials"):
            fit_effective_trials(bad)
    with pytest.raises(ConfigError, match="local_z"):
        fit_effective_trials([1.0, 2.0], local_z=math.inf)


def test_gross_vitells_agrees_with_brute_force_on_correlated_windows() -> None:
    """Upcrossings of Z_ref = 1 in 100 scans of a correlated Gaussian process extrapolated to
    Z = 3 (and 3.5) agree with 20000 brute-force scans within 20%."""
    rng = np.random.default_rng(7)
    brute = _gaussian_process_scans(rng, 20000).max(axis=1)
    few = _gaussian_process_scans(np.random.default_rng(8), 100)
    for z in (3.0, 3.5):
        p_brute = global_significance_from_toys(z, brute).global_p
        gv = trials_factor_approximation(z, toy_scans=few, reference_z=1.0)
        assert gv.method == "gross-vitells"
        assert gv.global_p == pytest.approx(p_brute, rel=0.2)
        # the same from the mean upcrossing count
        n_up = float(np.mean(count_upcrossings(few, 1.0)))
        assert gv.upcrossings_at_reference == pytest.approx(n_up)
        again = trials_factor_approximation(z, upcrossings_at_reference=n_up, reference_z=1.0)
        assert again.global_p == pytest.approx(gv.global_p)
        assert gv.global_p == pytest.approx(ndtr(-z) + n_up * math.exp(-(z * z - 1.0) / 2))
    # correlated windows: far fewer trials than the 200 points (Sidak with N = 200 overestimates)
    naive = trials_factor_approximation(3.0, n_windows_effective=200)
    assert naive.global_p > 1.5 * global_significance_from_toys(3.0, brute).global_p


def test_count_upcrossings() -> None:
    z = np.array([[0.0, 1.0, 0.5, 2.0, 2.0, 0.0, 1.5], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    assert count_upcrossings(z, 1.0).tolist() == [3, 0]
    assert count_upcrossings(z[0], 1.9).tolist() == [1]
    with pytest.raises(DataFormatError):
        count_upcrossings([[1.0]], 0.5)
    with pytest.raises(DataFormatError):
        count_upcrossings([[1.0, np.nan]], 0.5)


def test_batching_and_splitting_are_exact() -> None:
    make_toy = functools.partial(_max_of_independent_windows, n_windows=5)
    ref = run_pseudo_experiments(make_toy, n_toys=40, seed=99, progress=False)
    for batch in (1, 3, 40, 1000):
        got = run_pseudo_experiments(make_toy, n_toys=40, seed=99, progress=False, batch_size=batch)
        np.testing.assert_array_equal(got, ref)
    parts = [
        run_pseudo_experiments(make_toy, n_toys=n, seed=99, first_toy=lo, progress=False)
        for lo, n in ((0, 13), (13, 1), (14, 26))
    ]
    np.testing.assert_array_equal(np.concatenate(parts), ref)
    other = run_pseudo_experiments(make_toy, n_toys=40, seed=100, progress=False)
    assert not np.array_equal(other, ref)
    seeds = derive_toy_seeds(99, 40)
    assert len(set(seeds)) == 40 and all(0 <= s < 2**63 for s in seeds)
    np.testing.assert_array_equal(ref, [make_toy(s) for s in seeds])


def test_process_pool_gives_identical_results() -> None:
    """With worker processes the toys (here: their seed, via ``float``) come back in toy order."""
    serial = run_pseudo_experiments(float, n_toys=24, seed=5, progress=False)
    pooled = run_pseudo_experiments(
        float, n_toys=24, seed=5, n_jobs=2, batch_size=5, progress=False
    )
    np.testing.assert_array_equal(pooled, serial)
    np.testing.assert_array_equal(serial, [float(s) for s in derive_toy_seeds(5, 24)])
    with pytest.raises(ConfigError, match="picklable"):
        run_pseudo_experiments(lambda s: 0.0, n_toys=2, seed=1, n_jobs=2, progress=False)


def test_floor_and_bad_inputs(caplog: pytest.LogCaptureFixture) -> None:
    g = global_significance_from_toys(5.0, np.zeros(99))
    assert g.n_exceeding == 0 and g.global_p == pytest.approx(0.01)
    assert "lower bound" in caplog.text
    assert global_significance_from_toys(-1.0, np.zeros(10)).global_z == 0.0
    with pytest.raises(DataFormatError, match="toy_max_local_z"):
        global_significance_from_toys(2.0, [1.0, np.nan])
    with pytest.raises(DataFormatError, match="toy_max_local_z"):
        global_significance_from_toys(2.0, [])
    with pytest.raises(ConfigError, match="local_z_observed"):
        global_significance_from_toys(math.inf, [1.0])
    with pytest.raises(ConfigError, match="exactly one method"):
        trials_factor_approximation(3.0)
    with pytest.raises(ConfigError, match="exactly one method"):
        trials_factor_approximation(3.0, n_windows_effective=10, upcrossings_at_reference=2.0)
    with pytest.raises(ConfigError, match="resolution"):
        trials_factor_approximation(3.0, scan_range=2.0)
    with pytest.raises(ConfigError, match="n_windows"):
        trials_factor_approximation(3.0, n_windows_effective=0.5)
    with pytest.raises(ConfigError, match=r"run_pseudo_experiments\.n_toys"):
        run_pseudo_experiments(float, n_toys=0, seed=1, progress=False)
    with pytest.raises(ConfigError, match=r"run_pseudo_experiments\.seed"):
        run_pseudo_experiments(float, n_toys=2, seed=-1, progress=False)
