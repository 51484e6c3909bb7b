"""Tests of the BumpHunter scan statistic and its global p-value from pseudo-experiments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, poisson

from anomsearch.background.bumphunter import (
    BumpHunterResult,
    BumpHunterScan,
    bumphunter_global_pvalue,
    bumphunter_statistic,
)
from anomsearch.exceptions import ConfigError, DataFormatError


def _poisson_sf(d: int, b: float) -> float:
    """Hand-computed P(n >= d | b) = 1 - sum_{k < d} e^-b b^k / k!."""
    return 1.0 - sum(math.exp(-b) * b**k / math.factorial(k) for k in range(d))


def _smooth_expectation(n_bins: int = 40) -> np.ndarray:
    return 500.0 * np.exp(-np.arange(n_bins) / 12.0)


def test_hand_computed_local_pvalues() -> None:
    observed = np.array([0.0, 5.0, 1.0, 0.0])
    expected = np.array([1.0, 2.0, 1.0, 1.0])
    scan = bumphunter_statistic(observed, expected, min_width=1, max_width=2)
    assert isinstance(scan, BumpHunterScan)
    np.testing.assert_array_equal(scan.widths, [1, 2])
    # 1-bin windows: deficit (bin 0), excess 5 over 2 (bin 1), equality (bin 2), deficit (bin 3)
    assert scan.local_pvalues[0, 1] == pytest.approx(_poisson_sf(5, 2.0), rel=1e-12)
    assert scan.local_pvalues[0, 0] == 1.0 and scan.local_pvalues[0, 2] == 1.0
    assert scan.local_pvalues[0, 3] == 1.0
    # 2-bin windows [0, 2): 5 vs 3, [1, 3): 6 vs 3, [2, 4): 1 vs 2 (deficit); none from bin 3
    assert scan.local_pvalues[1, 0] == pytest.approx(_poisson_sf(5, 3.0), rel=1e-12)
    assert scan.local_pvalues[1, 1] == pytest.approx(_poisson_sf(6, 3.0), rel=1e-12)
    assert scan.local_pvalues[1, 2] == 1.0
    assert np.isnan(scan.local_pvalues[1, 3])
    # P(n >= 5 | 2) = 0.0527 < P(n >= 6 | 3) = 0.0839
    assert (scan.lo, scan.hi) == (1, 2)
    assert scan.observed_in_window == 5.0 and scan.expected_in_window == 2.0
    assert scan.pvalue == pytest.approx(_poisson_sf(5, 2.0), rel=1e-12)
    assert scan.t == pytest.approx(-math.log(_poisson_sf(5, 2.0)), rel=1e-12)


def test_zero_counts_and_zero_expectation() -> None:
    # d = 0 is never an excess; b = 0 with d > 0 is impossible under the background: p = 0
    scan = bumphunter_statistic(np.array([0.0, 0.0, 3.0]), np.array([0.0, 1.0, 0.0]), max_width=1)
    np.testing.assert_array_equal(scan.local_pvalues[0], [1.0, 1.0, 0.0])
    assert (scan.lo, scan.hi, scan.pvalue, scan.t) == (2, 3, 0.0, math.inf)
    # no excess anywhere: first window of the smallest width, p = 1, t = 0
    flat = bumphunter_statistic(np.zeros(6), np.ones(6))
    assert (flat.lo, flat.hi, flat.pvalue, flat.t) == (0, 1, 1.0, 0.0)
    np.testing.assert_array_equal(flat.widths, [1, 2, 3])  # default: up to half the bins


def test_finds_injected_bump() -> None:
    rng = np.random.default_rng(7)
    expected = _smooth_expectation()
    signal = np.zeros_like(expected)
    signal[20:23] = [40.0, 60.0, 40.0]  # ~ 5 sigma over b ~ 58 in [20, 23)
    observed = rng.poisson(expected + signal).astype(float)
    scan = bumphunter_statistic(observed, expected, max_width=10)
    assert 18 <= scan.lo <= 21 and 22 <= scan.hi <= 25
    assert max(scan.lo, 20) < min(scan.hi, 23)  # overlaps the injected bump
    assert scan.t > 10


def test_global_pvalue_uniform_under_background() -> None:
    rng = np.random.default_rng(11)
    expected = _smooth_expectation(20)
    pvalues = np.array(
        [
            bumphunter_global_pvalue(
                rng.poisson(expected).astype(float), expected, n_pseudo=200, seed=i
            ).global_pvalue
            for i in range(100)
        ]
    )
    for alpha in (0.1, 0.5):
        frac = np.mean(pvalues <= alpha)
        # within 3 binomial standard deviations of alpha (plus the n_pseudo resolution)
        assert abs(frac - alpha) < 3 * math.sqrt(alpha * (1 - alpha) / pvalues.size) + 0.01
    assert 0.4 < pvalues.mean() < 0.6


def test_look_elsewhere_global_larger_than_local() -> None:
    expected = _smooth_expectation()
    observed = np.round(expected).copy()
    observed[25:27] += [25.0, 25.0]  # local ~ 4 sigma, global ~ 2.7 sigma
    res = bumphunter_global_pvalue(observed, expected, n_pseudo=1000, seed=3, max_width=10)
    assert isinstance(res, BumpHunterResult)
    assert res.t_observed == res.scan.t
    assert res.scan.pvalue < 0.01
    assert res.global_pvalue > 3 * res.scan.pvalue
    assert res.global_significance < res.local_significance
    assert res.local_significance == pytest.approx(norm.isf(res.scan.pvalue))
    assert res.global_significance == pytest.approx(norm.isf(res.global_pvalue))
    assert not res.global_significance_is_lower_bound
    p = res.global_pvalue
    assert res.global_pvalue_error == pytest.approx(math.sqrt(p * (1 - p) / 1000))
    assert res.pseudo_t.shape == (1000,)
    assert p == np.mean(res.pseudo_t >= res.t_observed)
    # reproducible with the seed, different with another
    again = bumphunter_global_pvalue(observed, expected, n_pseudo=1000, seed=3, max_width=10)
    np.testing.assert_array_equal(again.pseudo_t, res.pseudo_t)
    other = bumphunter_global_pvalue(observed, expected, n_pseudo=1000, seed=4, max_width=10)
    assert not np.array_equal(other.pseudo_t, res.pseudo_t)


def test_floor_when_no_pseudo_experiment_reaches_observed() -> None:
    expected = _smooth_expectation()
    observed = np.round(expected)
    observed[10] += 200.0
    res = bumphunter_global_pvalue(observed, expected, n_pseudo=100, seed=0)
    assert res.global_pvalue == 0.0 and res.global_pvalue_error == 0.0
    assert res.global_significance_is_lower_bound
    assert res.global_significance == pytest.approx(norm.isf(1 / 101))


def test_expected_uncertainty_broadens_pseudo_distribution() -> None:
    expected = _smooth_expectation()
    observed = np.round(expected)
    nominal = bumphunter_global_pvalue(observed, expected, n_pseudo=400, seed=5)
    smeared = bumphunter_global_pvalue(
        observed, expected, n_pseudo=400, seed=5, expected_uncertainty=0.2 * expected
    )
    assert np.median(smeared.pseudo_t) > np.median(nominal.pseudo_t) + 1.0
    # zero uncertainty (scalar) only changes the random stream, not the distribution's location
    zero = bumphunter_global_pvalue(
        observed, expected, n_pseudo=400, seed=5, expected_uncertainty=0.0
    )
    assert abs(np.median(zero.pseudo_t) - np.median(nominal.pseudo_t)) < 1.0


def test_pseudo_statistic_matches_scan() -> None:
    """The vectorised pseudo-experiment scan agrees with bumphunter_statistic."""
    expected = _smooth_expectation(12)
    res = bumphunter_global_pvalue(np.round(expected), expected, n_pseudo=5, seed=9)
    rng = np.random.default_rng(9)
    pseudo = rng.poisson(np.broadcast_to(expected, (5, 12))).astype(float)
    for row, t in zip(pseudo, res.pseudo_t, strict=True):
        assert bumphunter_statistic(row, expected).t == pytest.approx(t, rel=1e-12)
    # sanity of the Poisson convention against scipy.stats
    assert _poisson_sf(7, 2.5) == pytest.approx(poisson.sf(6, 2.5), rel=1e-12)


@pytest.mark.parametrize(
    ("observed", "expected", "kwargs", "exc", "match"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], {}, DataFormatError, "expected"),
        ([[1.0, 2.0]], [[1.0, 2.0]], {}, DataFormatError, "observed"),
        ([], [], {}, DataFormatError, "observed"),
        ([1.0, -2.0], [1.0, 2.0], {}, DataFormatError, "observed"),
        ([1.0, 2.0], [1.0, -2.0], {}, DataFormatError, "expected"),
        ([1.0, np.nan], [1.0, 2.0], {}, DataFormatError, "observed"),
        ([1.0, 2.0], [np.inf, 2.0], {}, DataFormatError, "expected"),
        ([1.0, 2.0], [1.0, 2.0], {"min_width": 0}, ConfigError, "min_width"),
        ([1.0, 2.0], [1.0, 2.0], {"min_width": 1.5}, ConfigError, "min_width"),
        ([1.0, 2.0], [1.0, 2.0], {"min_width": 2}, ConfigError, "min_width"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"max_width": 4}, ConfigError, "max_width"),
        (
            [1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0],
            {"min_width": 2, "max_width": 1},
            ConfigError,
            "max_width",
        ),
    ],
)
def test_invalid_scan_inputs(
    observed: list[float],
    expected: list[float],
    kwargs: dict[str, int],
    exc: type[Exception],
    match: str,
) -> None:
    with pytest.raises(exc, match=match):
        bumphunter_statistic(np.array(observed), np.array(expected), **kwargs)
    with pytest.raises(exc, match=match):
        bumphunter_global_pvalue(np.array(observed), np.array(expected), seed=0, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_pseudo": 0, "seed": 0}, ConfigError, "n_pseudo"),
        ({"n_pseudo": 10.0, "seed": 0}, ConfigError, "n_pseudo"),
        ({"seed": 1.5}, ConfigError, "seed"),
        ({"seed": 0, "expected_uncertainty": [1.0, 2.0]}, DataFormatError, "expected_uncertainty"),
        ({"seed": 0, "expected_uncertainty": -1.0}, DataFormatError, "expected_uncertainty"),
        (
            {"seed": 0, "expected_uncertainty": [1.0, np.nan, 1.0]},
            DataFormatError,
            "expected_uncertainty",
        ),
    ],
)
def test_invalid_global_options(
    kwargs: dict[str, object], exc: type[Exception], match: str
) -> None:
    with pytest.raises(exc, match=match):
        bumphunter_global_pvalue(np.array([1.0, 2.0, 3.0]), np.ones(3), **kwargs)  # type: ignore[arg-type]
