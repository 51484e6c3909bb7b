"""Tests of the semi-supervised classifier tests (arXiv:2102.07679)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn import train_classifier
from anomsearch.metrics import auc
from anomsearch.stats.classifier_test import (
    CLASSIFIER_TEST_STATISTICS,
    classifier_test,
    signal_fraction_lower_bound,
)


def test_auc_statistic_is_the_roc_auc() -> None:
    rng = np.random.default_rng(1)
    e, b = rng.beta(2, 1.5, 300), rng.beta(1.5, 2, 400)
    result = classifier_test(e, b, statistic="auc", n_permutations=50, seed=0)
    labels = np.r_[np.ones(300), np.zeros(400)]
    assert result.observed == pytest.approx(auc(np.r_[e, b], labels), abs=1e-12)
    # Mann-Whitney null: mean 1/2, variance (n_E + n_B + 1) / (12 n_E n_B)
    big = classifier_test(e, b, statistic="auc", n_permutations=2000, seed=1)
    assert big.null_mean == pytest.approx(0.5, abs=0.003)
    assert big.null_std == pytest.approx(np.sqrt(701 / (12 * 300 * 400)), rel=0.08)


def test_lrt_and_mce_statistics_by_hand() -> None:
    e = np.array([0.9, 0.8, 0.6, 0.3])
    b = np.array([0.2, 0.4, 0.7])
    logit = np.log(np.r_[e, b] / (1 - np.r_[e, b]))
    lrt = classifier_test(e, b, statistic="lrt", n_permutations=10, seed=0)
    assert lrt.observed == pytest.approx(logit[:4].mean() - logit[4:].mean())
    shifted = classifier_test(e, b, statistic="lrt", n_permutations=10, seed=0, prior_ratio=3.0)
    assert shifted.observed == pytest.approx(lrt.observed)  # a constant shift cancels
    mce = classifier_test(e, b, statistic="mce", n_permutations=10, seed=0)
    assert mce.observed == pytest.approx(0.5 * (1 + 3 / 4 - 1 / 3))


@pytest.mark.parametrize("statistic", CLASSIFIER_TEST_STATISTICS)
def test_p_values_are_uniform_under_the_null(statistic: str) -> None:
    rng = np.random.default_rng(5)
    p = [
        classifier_test(
            rng.beta(2, 2, 150),
            rng.beta(2, 2, 200),
            statistic=statistic,
            n_permutations=199,
            seed=int(rng.integers(2**31)),
        ).p_value
        for _ in range(150)
    ]
    if statistic == "mce":
        # a count statistic: ties make the permutation p-value conservative, P(p <= a) <= a
        for alpha in (0.05, 0.1, 0.2, 0.5):
            assert np.mean(np.asarray(p) <= alpha) <= alpha + 0.06
        return
    # permutation p-values are discrete on a grid of 1/200: compare with a continuous uniform
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert 0.4 < np.mean(p) < 0.6


@pytest.mark.parametrize("statistic", CLASSIFIER_TEST_STATISTICS)
def test_a_clear_difference_is_detected(statistic: str) -> None:
    rng = np.random.default_rng(6)
    e = np.r_[rng.beta(2, 2, 900), rng.beta(8, 1, 300)]
    b = rng.beta(2, 2, 1200)
    result = classifier_test(e, b, statistic=statistic, n_permutations=500, seed=2)
    assert result.p_value == pytest.approx(1 / 501)
    assert result.significance > 2.5


def test_same_seed_same_null() -> None:
    rng = np.random.default_rng(7)
    e, b = rng.random(100), rng.random(120)
    assert classifier_test(e, b, seed=3) == classifier_test(e, b, seed=3)


def test_signal_fraction_bound_covers_the_true_fraction() -> None:
    rng = np.random.default_rng(8)
    lam, n = 0.05, 4000
    covered, estimates = 0, []
    for _ in range(100):
        n_sig = rng.binomial(n, lam)
        # signal sits at high classifier output, but not only above every cut (P_s(A) < 1)
        data = np.r_[rng.beta(2, 3, n - n_sig), rng.beta(9, 1, n_sig)]
        bound = signal_fraction_lower_bound(data, rng.beta(2, 3, n), confidence=0.9)
        covered += bound.lower_bound <= lam
        estimates.append(bound.estimate)
    assert covered >= 90
    assert 0.035 < np.median(estimates) < 0.065
    # no signal: the bound is 0 almost always
    zeros = sum(
        signal_fraction_lower_bound(rng.beta(2, 3, n), rng.beta(2, 3, n)).lower_bound == 0
        for _ in range(40)
    )
    assert zeros >= 36


def test_semi_supervised_test_with_a_trained_classifier() -> None:
    """The whole procedure: train data-vs-background on one half, test on the other half."""
    rng = np.random.default_rng(9)

    def background(n: int) -> np.ndarray:
        return rng.normal(size=(n, 3))

    def data(n: int, lam: float) -> np.ndarray:
        x = background(n)
        sig = rng.random(n) < lam
        x[sig] = rng.normal(loc=(2.0, -2.0, 0.0), scale=0.3, size=(int(sig.sum()), 3))
        return x

    opts = {"hidden": (16,), "max_epochs": 3, "batch_size": 256, "patience": 2}
    n = 2000
    for lam, expect_signal in ((0.1, True), (0.0, False)):
        xe_train, xe_test = data(n, lam), data(n, lam)
        xb_train, xb_test = background(n), background(n)
        clf = train_classifier(
            np.r_[xe_train, xb_train], np.r_[np.ones(n), np.zeros(n)], seed=1, **opts
        )
        he, hb = clf.predict_proba(xe_test), clf.predict_proba(xb_test)
        result = classifier_test(he, hb, statistic="lrt", n_permutations=300, seed=4)
        bound = signal_fraction_lower_bound(he, hb)
        if expect_signal:
            assert result.p_value < 0.01
            assert 0.02 < bound.lower_bound <= lam
        else:
            assert result.p_value > 0.01
            assert bound.lower_bound < 0.02


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"statistic": "ks"}, ConfigError, "statistic"),
        ({"n_permutations": 0}, ConfigError, "n_permutations"),
        ({"prior_ratio": 0.0}, ConfigError, "prior_ratio"),
        ({"data_outputs": np.array([0.5, 1.5])}, DataFormatError, r"\[0, 1\]"),
        ({"background_outputs": np.array([0.5])}, DataFormatError, "at least 2"),
    ],
)
def test_bad_input(kwargs: dict, error: type, match: str) -> None:
    args = {"data_outputs": np.array([0.1, 0.7]), "background_outputs": np.array([0.2, 0.3])}
    with pytest.raises(error, match=match):
        classifier_test(**{**args, **kwargs}, seed=0)
    if "data_outputs" in kwargs:
        with pytest.raises(error, match=match):
            signal_fraction_lower_bound(kwargs["data_outputs"], args["background_outputs"])


def test_bound_option_errors() -> None:
    with pytest.raises(ConfigError, match="quantiles"):
        signal_fraction_lower_bound(np.array([0.1, 0.2]), np.array([0.3, 0.4]), quantiles=[1.0])
    with pytest.raises(ConfigError, match="confidence"):
        signal_fraction_lower_bound(np.array([0.1, 0.2]), np.array([0.3, 0.4]), confidence=1.0)
