"""Tests of the decorrelation diagnostics: distance correlation, JSD and mjj sculpting."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anomsearch.metrics.decorrelation as deco
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.metrics.decorrelation import (
    MjjSculpting,
    distance_correlation,
    jensen_shannon_divergence,
    mjj_sculpting,
)


def _textbook_dcor2(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    """Full-matrix weighted dCor^2, written directly from the definition (independent check)."""
    n = x.size
    p = np.full(n, 1.0 / n) if w is None else w / w.sum()

    def centred(v: np.ndarray) -> np.ndarray:
        d = np.abs(v[:, None] - v[None, :])
        row = (d * p[None, :]).sum(axis=1)
        col = (d * p[:, None]).sum(axis=0)
        return d - row[:, None] - col[None, :] + (p[:, None] * p[None, :] * d).sum()

    a, b = centred(x), centred(y)
    pp = p[:, None] * p[None, :]
    return float((pp * a * b).sum() / np.sqrt((pp * a * a).sum() * (pp * b * b).sum()))


def _gaussian_dcor2(rho: float) -> float:
    """Population dCor^2 of a bivariate normal with correlation ``rho`` (Székely et al. 2007)."""
    r = abs(rho)
    num = r * math.asin(r) + math.sqrt(1 - r**2) - r * math.asin(r / 2) - math.sqrt(4 - r**2) + 1
    return num / (1 + math.pi / 3 - math.sqrt(3))


# ---------------------------------------------------------------------- distance correlation
def test_matches_the_full_matrix_definition_with_and_without_weights() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = x**2 + rng.normal(size=300)
    w = rng.uniform(0.1, 3.0, 300)
    assert distance_correlation(x, y) == pytest.approx(_textbook_dcor2(x, y), rel=1e-10)
    assert distance_correlation(x, y, weights=w) == pytest.approx(
        _textbook_dcor2(x, y, w), rel=1e-10
    )
    assert distance_correlation(x, y, weights=w) != pytest.approx(distance_correlation(x, y))


def test_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2, 257))
    y += 0.3 * x
    full = distance_correlation(x, y)
    monkeypatch.setattr(deco, "_CHUNK_ELEMENTS", 1000)  # 3 rows per chunk, ragged last chunk
    assert distance_correlation(x, y) == pytest.approx(full, rel=1e-12)


def test_integer_weights_equal_duplicated_events() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 80))
    y = np.sin(2 * x) + 0.5 * y
    counts = rng.integers(1, 4, 80)
    dup = distance_correlation(np.repeat(x, counts), np.repeat(y, counts))
    assert distance_correlation(x, y, weights=counts) == pytest.approx(dup, rel=1e-10)
    # the normalisation of the weights does not matter
    assert distance_correlation(x, y, weights=7.5 * counts) == pytest.approx(dup, rel=1e-10)


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_bivariate_normal_matches_the_population_value(rho: float) -> None:
    rng = np.random.default_rng(4)
    n = 4000
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)
    expected = _gaussian_dcor2(rho)
    assert distance_correlation(x, y) == pytest.approx(expected, abs=0.02)


def test_linear_relation_gives_one_and_affine_invariance() -> None:
    rng = np.random.default_rng(5)
    x = rng.exponential(size=500)
    y = rng.normal(size=500) + x
    assert distance_correlation(x, -4.0 * x + 2.0) == pytest.approx(1.0, abs=1e-12)
    base = distance_correlation(x, y)
    assert distance_correlation(3.0 * x - 7.0, y) == pytest.approx(base, rel=1e-10)
    assert distance_correlation(x, -0.5 * y + 100.0) == pytest.approx(base, rel=1e-10)
    assert distance_correlation(y, x) == pytest.approx(base, rel=1e-12)
    assert 0.0 < base < 1.0


def test_independent_samples_fall_like_one_over_n() -> None:
    rng = np.random.default_rng(6)

    def mean_dcor(n: int) -> float:
        return float(np.mean([distance_correlation(*rng.normal(size=(2, n))) for _ in range(6)]))

    small, large = mean_dcor(200), mean_dcor(2000)
    assert large < 0.01
    assert large < small / 4  # expectation ~ 1/N: a factor 10 in N gives ~ a factor 10


def test_constant_variable_gives_zero() -> None:
    x = np.linspace(0, 1, 50)
    assert distance_correlation(x, np.full(50, 3.0)) == 0.0
    assert distance_correlation(np.zeros(50), x) == 0.0


def test_large_samples_use_a_seeded_subsample() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=3000)
    y = x + rng.normal(size=3000)
    a = distance_correlation(x, y, max_events=500, seed=1)
    b = distance_correlation(x, y, max_events=500, seed=1)
    c = distance_correlation(x, y, max_events=500, seed=2)
    assert a == b
    assert a != c
    assert a == pytest.approx(distance_correlation(x, y), abs=0.05)


def test_distance_correlation_rejects_bad_input() -> None:
    x = np.arange(5.0)
    with pytest.raises(DataFormatError, match=r"y must have shape \(5,\)"):
        distance_correlation(x, np.arange(4.0))
    with pytest.raises(DataFormatError, match="x must be a 1-D array"):
        distance_correlation(np.ones((5, 2)), x)
    with pytest.raises(DataFormatError, match="non-finite"):
        distance_correlation(np.array([0.0, np.nan, 1.0]), np.arange(3.0))
    with pytest.raises(DataFormatError, match="non-negative"):
        distance_correlation(x, x, weights=np.array([1.0, -1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(DataFormatError, match="positive sum"):
        distance_correlation(x, x, weights=np.zeros(5))
    with pytest.raises(DataFormatError, match="at least 2 events"):
        distance_correlation(np.array([1.0]), np.array([1.0]))
    with pytest.raises(ConfigError, match="max_events"):
        distance_correlation(x, x, max_events=1)


# ---------------------------------------------------------------------------------- JSD
def test_jensen_shannon_divergence_known_values() -> None:
    assert jensen_shannon_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert jensen_shannon_divergence(np.array([2.0, 2.0]), np.array([5.0, 5.0])) == 0.0
    # P = (1/2, 1/2), Q = (1, 0): M = (3/4, 1/4)
    expected = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) + 0.5 * (
        math.log2(1 / 0.75)
    )
    assert jensen_shannon_divergence(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(
        expected
    )
    with pytest.raises(DataFormatError, match="positive sum"):
        jensen_shannon_divergence(np.zeros(2), np.ones(2))


# ---------------------------------------------------------------------------- sculpting
def _uniform_cut_jsd(eff: float) -> float:
    """JSD of a uniform shape and the same shape restricted to its top fraction ``eff``."""
    m_top = 0.5 * (1.0 + 1.0 / eff)
    kl_p = (1 - eff) * math.log2(1 / 0.5) + eff * math.log2(1 / m_top)
    kl_q = math.log2((1 / eff) / m_top)
    return 0.5 * (kl_p + kl_q)


@pytest.mark.parametrize("eff", [0.5, 0.1])
def test_score_equal_to_mjj_gives_the_analytic_jsd(eff: float) -> None:
    mjj = np.linspace(3.0, 4.0, 10_000)
    res = mjj_sculpting(mjj, mjj, background_efficiencies=[eff], bins=10)
    assert isinstance(res, MjjSculpting)
    assert res.jsd[0] == pytest.approx(_uniform_cut_jsd(eff), abs=2e-3)
    assert res.inverse_jsd[0] == pytest.approx(1.0 / res.jsd[0])
    assert res.achieved[0] == pytest.approx(eff, abs=1e-3)
    assert res.n_pass[0] == pytest.approx(eff * 10_000, abs=2)
    assert res.thresholds[0] == pytest.approx(4.0 - eff, abs=1e-3)


def test_independent_score_does_not_sculpt_and_correlated_score_does() -> None:
    rng = np.random.default_rng(8)
    n = 40_000
    mjj = 3.0 + rng.exponential(0.5, n)
    flat = mjj_sculpting(mjj, rng.random(n), background_efficiencies=(0.5, 0.1), bins=30)
    sculpting = mjj_sculpting(
        mjj, mjj + rng.normal(0.0, 0.3, n), background_efficiencies=(0.5, 0.1), bins=30
    )
    # statistical floor: about n_bins / (2 ln 2 n_pass) ~ 0.005 for 4000 passing events
    assert np.all(flat.jsd < 0.01)
    assert np.all(sculpting.jsd > 0.05)
    assert np.all(sculpting.jsd > 10 * flat.jsd)
    assert sculpting.jsd[1] > sculpting.jsd[0]  # a tighter cut sculpts more
    assert np.all(flat.inverse_jsd > 100)
    np.testing.assert_allclose(flat.achieved, [0.5, 0.1], atol=1e-3)
    assert flat.bin_edges.shape == (31,)


def test_sculpting_weights_equal_duplicated_events() -> None:
    rng = np.random.default_rng(9)
    mjj = rng.uniform(3, 4, 500)
    score = mjj + rng.normal(0, 0.2, 500)
    counts = rng.integers(1, 3, 500)
    edges = np.linspace(3, 4, 11)
    weighted = mjj_sculpting(mjj, score, background_efficiencies=[0.3], bins=edges, weights=counts)
    dup = mjj_sculpting(
        np.repeat(mjj, counts), np.repeat(score, counts), background_efficiencies=[0.3], bins=edges
    )
    assert weighted.thresholds[0] == dup.thresholds[0]
    assert weighted.jsd[0] == pytest.approx(dup.jsd[0], rel=1e-12)
    assert weighted.achieved[0] == pytest.approx(dup.achieved[0], rel=1e-12)


def test_sculpting_rejects_bad_options() -> None:
    mjj = np.linspace(3, 4, 100)
    for effs in ([0.0], [1.0], [1.5], []):
        with pytest.raises(ConfigError, match="background_efficiencies"):
            mjj_sculpting(mjj, mjj, background_efficiencies=effs)
    with pytest.raises(ConfigError, match="bins"):
        mjj_sculpting(mjj, mjj, bins=0)
    with pytest.raises(ConfigError, match="bins"):
        mjj_sculpting(mjj, mjj, bins=[3.0, 3.0, 4.0])
    with pytest.raises(DataFormatError, match="scores"):
        mjj_sculpting(mjj, mjj[:50])
