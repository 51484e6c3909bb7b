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
