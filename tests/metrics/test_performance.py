"""Tests of anomsearch.metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.metrics import auc, max_sic, roc_curve, sic_curve


def test_roc_curve_hand_computed() -> None:
    # sorted descending: 0.9(S) 0.7(B) 0.6(S) 0.3(B) 0.2(B)
    scores = np.array([0.3, 0.9, 0.2, 0.6, 0.7])
    labels = np.array([0, 1, 0, 1, 0])
    fpr, tpr, thr = roc_curve(scores, labels)
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.9, 0.7, 0.6, 0.3, 0.2])
    # AUC = P(score_S > score_B): pairs won 3 + 2 of 6
    assert auc(scores, labels) == pytest.approx(5 / 6)


def test_ties_are_one_threshold_and_count_half() -> None:
    scores = np.array([2.0, 1.0, 1.0, 1.0, 0.0])
    labels = np.array([1, 1, 0, 0, 0])
    fpr, tpr, thr = roc_curve(scores, labels)
    np.testing.assert_array_equal(thr, [np.inf, 2.0, 1.0, 0.0])
    np.testing.assert_allclose(fpr, [0, 0, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    # pairs: S(2) beats all 3 B; S(1) ties two B (1/2 each) and beats one -> (3 + 2) / 6
    assert auc(scores, labels) == pytest.approx(5 / 6)
    # constant score: AUC exactly 0.5 whatever the order
    assert auc(np.ones(7), np.array([1, 0, 0, 1, 0, 1, 0])) == pytest.approx(0.5)


def test_auc_matches_pair_counting_on_random_data() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 300).astype(float)  # many ties
    labels = (rng.random(300) < 0.3).astype(int)
    s, b = scores[labels == 1], scores[labels == 0]
    expected = ((s[:, None] > b[None, :]).sum() + 0.5 * (s[:, None] == b[None, :]).sum()) / (
        s.size * b.size
    )
    assert auc(scores, labels) == pytest.approx(expected, rel=1e-12)
    assert auc(-scores, labels) == pytest.approx(1 - expected, rel=1e-12)


def test_weights_equal_to_duplication() -> None:
    scores = np.array([0.9, 0.5, 0.4, 0.1])
    labels = np.array([1, 0, 1, 0])
    weights = np.array([2.0, 1.0, 1.0, 3.0])
    dup = np.repeat(np.arange(4), weights.astype(int))
    a = roc_curve(scores, labels, weights=weights)
    b = roc_curve(scores[dup], labels[dup])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y)
    # weighted: S weights (2 at .9, 1 at .4), B weights (1 at .5, 3 at .1): won 2*4 + 1*3 of 12
    assert auc(scores, labels, weights=weights) == pytest.approx(11 / 12)


def test_sic_curve_and_max_sic() -> None:
    scores = np.array([0.3, 0.9, 0.2, 0.6, 0.7])
    labels = np.array([0, 1, 0, 1, 0])
    curve = sic_curve(scores, labels)
    np.testing.assert_allclose(curve.fpr, [1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curve.sic, [0.5 / np.sqrt(1 / 3), np.sqrt(3), np.sqrt(1.5), 1.0])
    best = max_sic(scores, labels, min_fpr=0.3)
    assert best.sic == pytest.approx(np.sqrt(3))
    assert (best.tpr, best.threshold) == (1.0, 0.6)
    assert best.fpr == pytest.approx(1 / 3)
    # raising the floor above 1/3 excludes that cut
    assert max_sic(scores, labels, min_fpr=0.5).sic == pytest.approx(np.sqrt(1.5))


def test_max_sic_default_floor_is_twenty_background_events() -> None:
    # 1000 background at scores 0..999, 10 signal events above them all
    scores = np.r_[np.arange(1000.0), 1000.0 + np.arange(10.0)]
    labels = np.r_[np.zeros(1000, int), np.ones(10, int)]
    best = max_sic(scores, labels)
    # the best allowed cut keeps all signal and exactly 20 background events
    assert best.fpr == pytest.approx(0.02)
    assert best.sic == pytest.approx(1 / np.sqrt(0.02))
    assert max_sic(scores, labels, min_background=100).fpr == pytest.approx(0.1)
    # too few background events for the floor: only the loosest cut remains
    assert max_sic(np.array([1.0, 0.0]), np.array([1, 0])).fpr == 1.0


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.array([0.1, 0.2]), np.array([1, 1]), "signal"),
        (np.array([0.1, np.nan]), np.array([1, 0]), "non-finite"),
        (np.array([0.1, 0.2]), np.array([1, 2]), "only 0"),
        (np.array([0.1, 0.2]), np.array([1, 0, 0]), "shape"),
    ],
)
def test_bad_inputs(scores: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(DataFormatError, match=match):
        roc_curve(scores, labels)


def test_bad_floor() -> None:
    with pytest.raises(ConfigError, match="min_fpr"):
        max_sic(np.array([1.0, 0.0]), np.array([1, 0]), min_fpr=0.0)


# ------------------------------------------------------------------ rejection at efficiency
def test_rejection_at_efficiency_hand_computed() -> None:
    from anomsearch.metrics import rejection_at_efficiency

    # sorted descending: 0.9(S) 0.7(B) 0.6(S) 0.3(B) 0.2(B); ROC points (fpr, tpr):
    # (0, 0) (0, .5) (1/3, .5) (1/3, 1) (2/3, 1) (1, 1)
    scores = np.array([0.3, 0.9, 0.2, 0.6, 0.7])
    labels = np.array([0, 1, 0, 1, 0])
    # first point reaching tpr = 1 (or 0.75: the vertical segment at fpr = 1/3) has fpr = 1/3
    assert rejection_at_efficiency(scores, labels, signal_efficiency=1.0) == pytest.approx(3.0)
    assert rejection_at_efficiency(scores, labels, signal_efficiency=0.75) == pytest.approx(3.0)
    # tpr <= 0.5 is reached before any background passes
    assert rejection_at_efficiency(scores, labels, signal_efficiency=0.5) == np.inf
    assert rejection_at_efficiency(scores, labels, signal_efficiency=0.2) == np.inf


def test_rejection_interpolates_across_ties_and_weights() -> None:
    from anomsearch.metrics import rejection_at_efficiency

    # ROC (0,0) (0,.5) (2/3,1) (1,1): the tie at score 1 is crossed diagonally
    scores = np.array([2.0, 1.0, 1.0, 1.0, 0.0])
    labels = np.array([1, 1, 0, 0, 0])
    for eff, fpr in ((0.6, 2 / 15), (0.75, 1 / 3), (0.9, 8 / 15), (1.0, 2 / 3)):
        got = rejection_at_efficiency(scores, labels, signal_efficiency=eff)
        assert got == pytest.approx(1 / fpr), eff
    # weights behave like duplicated events
    w = np.array([1.0, 1.0, 2.0, 1.0, 3.0])
    dup = np.repeat(np.arange(5), w.astype(int))
    for eff in (0.3, 0.6, 0.9, 1.0):
        a = rejection_at_efficiency(scores, labels, signal_efficiency=eff, weights=w)
        b = rejection_at_efficiency(scores[dup], labels[dup], signal_efficiency=eff)
        assert a == pytest.approx(b)


def test_rejection_matches_gaussian_expectation() -> None:
    from scipy import stats

    from anomsearch.metrics import rejection_at_efficiency

    # signal N(2, 1), background N(0, 1): at tpr = 0.5 the cut is at 2, fpr = P(N(0,1) > 2)
    rng = np.random.default_rng(11)
    scores = np.r_[rng.normal(2.0, 1.0, 60_000), rng.normal(0.0, 1.0, 60_000)]
    labels = np.r_[np.ones(60_000, int), np.zeros(60_000, int)]
    got = rejection_at_efficiency(scores, labels, signal_efficiency=0.5)
    assert got == pytest.approx(1 / stats.norm.sf(2.0), rel=0.1)  # ~3% statistical


@pytest.mark.parametrize("eff", [0.0, -0.1, 1.5, np.nan])
def test_rejection_bad_efficiency(eff: float) -> None:
    from anomsearch.metrics import rejection_at_efficiency

    with pytest.raises(ConfigError, match="signal_efficiency"):
        rejection_at_efficiency(np.array([1.0, 0.0]), np.array([1, 0]), signal_efficiency=eff)


# --------------------------------------------------------------------------------- bootstrap
def _gaussian_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 4 == 0).astype(int)  # 25% signal
    return rng.normal(size=n) + 1.0 * labels, labels


def test_bootstrap_value_samples_and_reproducibility() -> None:
    from anomsearch.metrics import bootstrap

    scores, labels = _gaussian_sample(2000, 1)
    res = bootstrap(auc, scores, labels, n_bootstrap=40, seed=3)
    assert res.value == auc(scores, labels)
    assert res.samples.shape == (40,) and res.samples.dtype == np.float64
    assert res.error == pytest.approx(np.std(res.samples, ddof=1))
    assert abs(np.mean(res.samples) - res.value) < 3 * res.error
    again = bootstrap(auc, scores, labels, n_bootstrap=40, seed=3)
    np.testing.assert_array_equal(res.samples, again.samples)
    other = bootstrap(auc, scores, labels, n_bootstrap=40, seed=4)
    assert not np.array_equal(res.samples, other.samples)


def test_bootstrap_error_shrinks_like_one_over_sqrt_n() -> None:
    from anomsearch.metrics import bootstrap

    small = bootstrap(auc, *_gaussian_sample(500, 2), n_bootstrap=200, seed=5)
    large = bootstrap(auc, *_gaussian_sample(8000, 2), n_bootstrap=200, seed=5)
    # 16x the events: the error shrinks by 4 (bootstrap scatter of the std ~ 1/sqrt(2*200) = 5%)
    assert small.error / large.error == pytest.approx(4.0, rel=0.25)
    # and it agrees with the Hanley-McNeil analytic AUC error of the small sample
    a, n1, n0 = small.value, 125, 375
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    hm = np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a**2) + (n0 - 1) * (q2 - a**2)) / (n1 * n0))
    assert small.error == pytest.approx(hm, rel=0.25)


def test_bootstrap_keeps_the_class_counts_and_wraps_max_sic() -> None:
    from anomsearch.metrics import bootstrap

    scores, labels = _gaussian_sample(1000, 7)
    seen: list[tuple[int, int]] = []

    def counting(s: np.ndarray, y: np.ndarray) -> float:
        seen.append((int(y.sum()), int(y.size)))
        return max_sic(s, y).sic

    res = bootstrap(counting, scores, labels, n_bootstrap=10, seed=0)
    assert set(seen) == {(250, 1000)}
    assert res.value == max_sic(scores, labels).sic and res.error > 0


def test_bootstrap_errors() -> None:
    from anomsearch.metrics import bootstrap

    scores, labels = _gaussian_sample(100, 1)
    with pytest.raises(ConfigError, match="n_bootstrap"):
        bootstrap(auc, scores, labels, n_bootstrap=1, seed=0)
    with pytest.raises(ConfigError, match="max_sic"):
        bootstrap(max_sic, scores, labels, seed=0)  # returns a MaxSic, not a number
    with pytest.raises(DataFormatError, match="signal"):
        bootstrap(auc, scores, np.zeros(100, int), seed=0)
