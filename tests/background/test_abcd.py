"""Tests of the ABCD background estimate, its signal-contamination correction and closure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from anomsearch.background import (
    ABCDCounts,
    abcd_closure,
    abcd_counts,
    abcd_estimate,
)
from anomsearch.exceptions import ConfigError, DataFormatError, FitError

X_CUT, Y_CUT = 2.0, 0.8
# background: x ~ Exp(1), y ~ U(0, 1), independent
P_X = math.exp(-X_CUT)  # P(x >= x_cut)
P_Y = 1.0 - Y_CUT
# signal: x ~ N(3, 0.7), y ~ N(0.85, 0.15), independent; ~1/3 of it leaks into B
SIG_PX = float(ndtr((3.0 - X_CUT) / 0.7))
SIG_PY = float(ndtr((0.85 - Y_CUT) / 0.15))
SIG_FRACTIONS = (
    SIG_PX * SIG_PY,
    SIG_PX * (1 - SIG_PY),
    (1 - SIG_PX) * SIG_PY,
    (1 - SIG_PX) * (1 - SIG_PY),
)


def _background(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.exponential(1.0, n), rng.uniform(0.0, 1.0, n)


def _signal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(3.0, 0.7, n), rng.normal(0.85, 0.15, n)


def test_region_convention_and_weights() -> None:
    x = np.array([3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 0.0])
    y = np.array([0.9, 0.1, 0.9, 0.1, 0.8, 0.0, 0.0])
    c = abcd_counts(x, y, x_cut=X_CUT, y_cut=Y_CUT)
    # cuts are inclusive: (2.0, 0.8) is in A, (2.0, 0.0) in B
    assert c == ABCDCounts(2.0, 2.0, 1.0, 2.0, 2.0, 2.0, 1.0, 2.0)
    w = np.array([0.5, 1.0, 2.0, 1.0, 1.5, 1.0, 3.0])
    cw = abcd_counts(x, y, x_cut=X_CUT, y_cut=Y_CUT, weights=w)
    assert cw == ABCDCounts(2.0, 2.0, 2.0, 4.0, 0.5**2 + 1.5**2, 2.0, 4.0, 10.0)


def test_naive_estimate_formula() -> None:
    est = abcd_estimate((130.0, 200.0, 300.0, 600.0))
    assert est.predicted == pytest.approx(100.0)
    assert est.predicted_error == pytest.approx(100.0 * math.sqrt(1 / 200 + 1 / 300 + 1 / 600))
    assert est.observed == 130.0 and est.excess == pytest.approx(30.0)
    assert est.significance == pytest.approx(30.0 / math.sqrt(100.0 + 100.0))
    assert est.signal == pytest.approx(30.0)
    assert est.signal_error == pytest.approx(math.sqrt(130.0 + 100.0))
    assert not est.corrected and est.background == (100.0, 200.0, 300.0, 600.0)
    # weighted counts: the variances (sum w^2) drive the error, not the counts
    wc = ABCDCounts(130.0, 200.0, 300.0, 600.0, 260.0, 400.0, 600.0, 1200.0)
    assert abcd_estimate(wc).predicted_error == pytest.approx(math.sqrt(2) * est.predicted_error)
    # an empty B region predicts 0 with an error from the B variance only
    zero_b = abcd_estimate(ABCDCounts(1.0, 0.0, 300.0, 600.0, 1.0, 1.0, 300.0, 600.0))
    assert zero_b.predicted == 0.0 and zero_b.predicted_error == pytest.approx(0.5)


def test_pulls_on_independent_toys_are_standard_normal() -> None:
    rng = np.random.default_rng(2025)
    pulls, rel_err = [], []
    for _ in range(200):
        x, y = _background(rng, 20_000)
        est = abcd_estimate(abcd_counts(x, y, x_cut=X_CUT, y_cut=Y_CUT))
        pulls.append(est.significance)
        rel_err.append(est.predicted_error / est.predicted)
        assert est.predicted == pytest.approx(20_000 * P_X * P_Y, rel=0.3)
    pulls_arr = np.array(pulls)
    # 200 toys: std error of the mean ~0.07, of the std ~0.05
    assert abs(pulls_arr.mean()) < 0.25, pulls_arr.mean()
    assert 0.85 < pulls_arr.std() < 1.15, pulls_arr.std()
    assert 0.6 < np.mean(np.abs(pulls_arr) < 1) < 0.76
    # the quoted error is the expected one: sqrt(1/N_B + 1/N_C + 1/N_D)
    n = 20_000
    expected_rel = math.sqrt(
        1 / (n * P_X * (1 - P_Y)) + 1 / (n * (1 - P_X) * P_Y) + 1 / (n * (1 - P_X) * (1 - P_Y))
    )
    assert np.mean(rel_err) == pytest.approx(expected_rel, rel=0.05)


def test_closure_on_independent_and_correlated_toys() -> None:
    rng = np.random.default_rng(11)
    x, y = _background(rng, 200_000)
    mjj = rng.uniform(2.0, 5.0, x.size)
    sideband = (mjj < 3.3) | (mjj > 3.7)
    ok = abcd_closure(x, y, x_cut=X_CUT, y_cut=Y_CUT, validation_mask=sideband)
    assert abs(ok.pull) < 3.0, ok
    assert ok.non_closure == pytest.approx(max(abs(1 - ok.ratio), ok.ratio_error))
    assert ok.counts.a + ok.counts.b + ok.counts.c + ok.counts.d == sideband.sum()
    assert ok.ratio == pytest.approx(ok.counts.a / ok.estimate.predicted)
    # correlated background: y drifts upward with x, so A is under-predicted
    y_corr = np.clip(y + 0.05 * x, 0.0, 1.0)
    bad = abcd_closure(x, y_corr, x_cut=X_CUT, y_cut=Y_CUT, validation_mask=sideband)
    assert bad.pull > 5.0 and bad.ratio > 1.1, bad
    assert bad.non_closure == pytest.approx(bad.ratio - 1.0)
    assert bad.non_closure > 5 * ok.non_closure
    # a uniform weight changes neither the ratio nor its (relative) error
    w = np.full(x.size, 2.0)
    wcl = abcd_closure(x, y, x_cut=X_CUT, y_cut=Y_CUT, validation_mask=sideband, weights=w)
    assert wcl.counts.a == 2 * ok.counts.a and wcl.counts.var_a == 4 * ok.counts.var_a
    assert wcl.ratio == pytest.approx(ok.ratio)
    assert wcl.ratio_error == pytest.approx(ok.ratio_error)


def test_signal_contamination_correction_recovers_injected_yield() -> None:
    rng = np.random.default_rng(3)
    n_bkg, n_sig = 20_000, 600
    naive_bias, naive_sig, pulls, sig_pulls = [], [], [], []
    for _ in range(100):
        xb, yb = _background(rng, n_bkg)
        k = rng.poisson(n_sig)
        xs, ys = _signal(rng, k)
        counts = abcd_counts(
            np.concatenate([xb, xs]), np.concatenate([yb, ys]), x_cut=X_CUT, y_cut=Y_CUT
        )
        true_bkg_a = float(np.count_nonzero((xb >= X_CUT) & (yb >= Y_CUT)))
        naive = abcd_estimate(counts)
        corr = abcd_estimate(counts, signal_fractions=SIG_FRACTIONS)
        assert corr.corrected and corr.excess == pytest.approx(SIG_FRACTIONS[0] * corr.signal)
        assert corr.predicted + corr.excess == pytest.approx(counts.a)
        # the corrected backgrounds satisfy the ABCD relation
        ba, bb, bc, bd = corr.background
        assert ba * bd == pytest.approx(bb * bc, rel=1e-9)
        naive_bias.append((naive.predicted - true_bkg_a) / naive.predicted_error)
        naive_sig.append((naive.excess - SIG_FRACTIONS[0] * n_sig) / naive.signal_error)
        pulls.append((corr.predicted - n_bkg * P_X * P_Y) / corr.predicted_error)
        sig_pulls.append((corr.signal - n_sig) / corr.signal_error)
    # contamination of B, C, D inflates the naive prediction by several sigma and so
    # underestimates the signal in A ...
    assert np.mean(naive_bias) > 2.0, np.mean(naive_bias)
    assert np.mean(naive_sig) < -1.0, np.mean(naive_sig)
    # ... the corrected one is unbiased with correct errors, and recovers the injected yield
    for p in (pulls, sig_pulls):
        assert abs(np.mean(p)) < 0.35 and 0.75 < np.std(p) < 1.3, (np.mean(p), np.std(p))


def test_correction_is_exact_on_expected_counts_and_neutral_without_signal() -> None:
    b = np.array([100.0, 400.0, 900.0, 3600.0])  # b_A b_D = b_B b_C
    f = np.array(SIG_FRACTIONS)
    for s_true in (0.0, 250.0, -40.0, 5000.0):
        est = abcd_estimate(tuple(b + f * s_true), signal_fractions=f)
        assert est.signal == pytest.approx(s_true, abs=1e-6)
        assert est.predicted == pytest.approx(100.0)
        np.testing.assert_allclose(est.background, b, atol=1e-6)
    # signal-free fractions in the control regions: the correction reduces to the naive estimate
    est = abcd_estimate((150.0, 400.0, 900.0, 3600.0), signal_fractions=(1.0, 0.0, 0.0, 0.0))
    naive = abcd_estimate((150.0, 400.0, 900.0, 3600.0))
    assert est.predicted == pytest.approx(naive.predicted)
    assert est.signal == pytest.approx(50.0)
    assert est.predicted_error == pytest.approx(naive.predicted_error)


def test_invalid_inputs_name_the_region_or_argument() -> None:
    x = np.array([0.1, 3.0, 2.5])
    y = np.array([0.1, 0.9, 0.2])
    with pytest.raises(DataFormatError, match="region D"):
        abcd_estimate(abcd_counts(x[1:], y[1:], x_cut=X_CUT, y_cut=Y_CUT))
    with pytest.raises(DataFormatError, match="region D"):
        abcd_estimate((1.0, 2.0, 3.0, 0.0))
    with pytest.raises(DataFormatError, match="region B"):
        abcd_estimate((1.0, -2.0, 3.0, 4.0))
    with pytest.raises(DataFormatError, match="region C variance"):
        abcd_estimate(ABCDCounts(1.0, 2.0, 3.0, 4.0, 1.0, 2.0, np.nan, 4.0))
    with pytest.raises(DataFormatError, match="counts"):
        abcd_estimate((1.0, 2.0, 3.0))
    with pytest.raises(DataFormatError, match="y has shape"):
        abcd_counts(x, y[:2], x_cut=X_CUT, y_cut=Y_CUT)
    with pytest.raises(DataFormatError, match="weights"):
        abcd_counts(x, y, x_cut=X_CUT, y_cut=Y_CUT, weights=np.ones(4))
    with pytest.raises(DataFormatError, match="weights"):
        abcd_counts(x, y, x_cut=X_CUT, y_cut=Y_CUT, weights=-np.ones(3))
    with pytest.raises(DataFormatError, match="x must be a 1-d"):
        abcd_counts(np.ones((3, 1)), y, x_cut=X_CUT, y_cut=Y_CUT)
    with pytest.raises(DataFormatError, match="finite"):
        abcd_counts(np.array([np.nan, 1.0, 2.0]), y, x_cut=X_CUT, y_cut=Y_CUT)
    with pytest.raises(ConfigError, match="x_cut"):
        abcd_counts(x, y, x_cut=math.inf, y_cut=Y_CUT)
    with pytest.raises(DataFormatError, match="validation_mask has shape"):
        abcd_closure(x, y, x_cut=X_CUT, y_cut=Y_CUT, validation_mask=np.ones(2, dtype=bool))
    with pytest.raises(DataFormatError, match="validation_mask must be a boolean"):
        abcd_closure(x, y, x_cut=X_CUT, y_cut=Y_CUT, validation_mask=np.ones(3))
    with pytest.raises(DataFormatError, match="region B or C empty"):
        abcd_closure(x, y, x_cut=X_CUT, y_cut=Y_CUT, validation_mask=np.array([1, 1, 0], bool))
    good = (100.0, 400.0, 900.0, 3600.0)
    with pytest.raises(DataFormatError, match="signal_fractions"):
        abcd_estimate(good, signal_fractions=(0.5, 0.5))
    with pytest.raises(ConfigError, match="signal_fractions"):
        abcd_estimate(good, signal_fractions=(0.8, 0.3, 0.1, 0.0))
    with pytest.raises(ConfigError, match="f_A"):
        abcd_estimate(good, signal_fractions=(0.0, 0.3, 0.1, 0.0))
    with pytest.raises(ConfigError, match="signal_fractions"):
        abcd_estimate(good, signal_fractions=(-0.1, 0.3, 0.1, 0.0))
    # counts that no non-negative background + signal decomposition can explain
    with pytest.raises(FitError, match="signal_fractions"):
        abcd_estimate((0.0, 400.0, 900.0, 3600.0), signal_fractions=(0.1, 0.9, 0.0, 0.0))
