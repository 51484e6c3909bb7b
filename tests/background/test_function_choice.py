"""Tests of the dijet-function choice (F-test), alternative function and spurious signal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import chi2 as chi2_dist
from scipy.stats import f as f_dist

from anomsearch.background import (
    alternative_function_variation,
    choose_dijet_function,
    dijet_bin_integrals,
    fit_binned_sideband,
    predict_background,
    spurious_signal,
)
from anomsearch.exceptions import ConfigError, DataFormatError

SR = (3.3, 3.7)
EDGES = np.linspace(2.6, 6.5, 40)  # 0.1 TeV bins with edges at the SR boundaries
IN_SR = (EDGES[:-1] >= SR[0] - 1e-9) & (EDGES[1:] <= SR[1] + 1e-9)


def _truth(shape: list[float], n_events: float, edges: np.ndarray = EDGES) -> np.ndarray:
    p = np.array([0.0, *shape])
    p[0] = np.log(n_events / dijet_bin_integrals(edges, p).sum())
    return p


TRUE3 = _truth([10.0, 5.0], 1e6)
TRUE4 = _truth([10.0, 5.0, 1.0], 1e6)  # p3 = 1 is clearly visible with 1M events
TRUE5 = _truth([10.0, 5.0, 0.5, 0.5], 1e6)


@pytest.mark.parametrize(("truth", "seed"), [(TRUE3, 31), (TRUE4, 41)], ids=["p3", "p4"])
def test_f_test_picks_the_generating_order(truth: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu = dijet_bin_integrals(EDGES, truth)
    chosen = []
    for _ in range(10):
        counts = rng.poisson(mu).astype(float)
        choice = choose_dijet_function(counts, bin_edges=EDGES, signal_region=SR)
        assert sorted(choice.fits) == [3, 4, 5] and choice.failed == ()
        assert choice.fit is choice.fits[choice.n_params]
        chosen.append(choice.n_params)
    assert chosen.count(truth.size) >= 8, chosen


@pytest.mark.slow
def test_nested_test_p_values_are_calibrated_under_the_null() -> None:
    """With a 3-parameter truth the 3 -> 4 p-values are ~uniform: the false-upgrade rate ~ alpha."""
    rng = np.random.default_rng(123)
    mu = dijet_bin_integrals(EDGES, TRUE3)
    p_values = []
    for _ in range(300):
        counts = rng.poisson(mu).astype(float)
        choice = choose_dijet_function(counts, bin_edges=EDGES, signal_region=SR, orders=(3, 4))
        p_values.append(choice.tests[0].p_value_f)
    p = np.array(p_values)
    assert 0.01 < np.mean(p < 0.05) < 0.1, np.mean(p < 0.05)
    assert 0.13 < np.mean(p < 0.2) < 0.27 and 0.44 < np.mean(p) < 0.56


def test_test_statistics_and_decision_rule() -> None:
    counts = np.random.default_rng(5).poisson(dijet_bin_integrals(EDGES, TRUE4)).astype(float)
    choice = choose_dijet_function(counts, bin_edges=EDGES, signal_region=SR, alpha=0.05)
    assert [(t.n_low, t.n_high) for t in choice.tests] == [(3, 4), (4, 5)]
    for t in choice.tests:
        low, high = choice.fits[t.n_low], choice.fits[t.n_high]
        assert t.delta_chi2 == pytest.approx(low.chi2 - high.chi2, abs=1e-9)
        # the Baker-Cousins chi2 difference is -2 Delta lnL (the saturated term cancels)
        assert t.delta_chi2 == pytest.approx(2 * (low.nll - high.nll), rel=1e-6, abs=1e-6)
        assert t.ndf == high.ndf
        assert t.f_statistic == pytest.approx(t.delta_chi2 / (high.chi2 / high.ndf))
        assert t.p_value_f == pytest.approx(f_dist.sf(t.f_statistic, 1, high.ndf))
        assert t.p_value_lr == pytest.approx(chi2_dist.sf(t.delta_chi2, 1))
    assert choice.tests[0].p_value_f < 1e-3  # 3 -> 4 is a large improvement here
    # the decision follows the rule: move up from 3 while p < alpha, stop at the first p >= alpha
    for test in ("f", "lr"):
        for alpha in (1e-300, 0.01, 0.05, 0.2, 0.999):
            got = choose_dijet_function(
                counts, bin_edges=EDGES, signal_region=SR, alpha=alpha, test=test
            )
            p = [t.p_value_f if test == "f" else t.p_value_lr for t in got.tests]
            want = 3 if p[0] >= alpha else (4 if p[1] >= alpha else 5)
            assert (got.n_params, got.test, got.alpha) == (want, test, alpha)
            assert got.alternative == (want + 1 if want < 5 else 4)


def test_alternative_is_next_lower_when_highest_chosen_and_subset_orders() -> None:
    mu = dijet_bin_integrals(EDGES, TRUE5)
    choice = choose_dijet_function(mu, bin_edges=EDGES, signal_region=SR, orders=(3, 4))
    assert choice.n_params == 4 and choice.alternative == 3  # large Asimov improvement
    single = choose_dijet_function(mu, bin_edges=EDGES, signal_region=SR, orders=(4,))
    assert single.n_params == 4 and single.alternative is None and single.tests == ()


def test_alternative_function_variation_is_symmetric_and_nonzero() -> None:
    counts = np.random.default_rng(8).poisson(dijet_bin_integrals(EDGES, TRUE4)).astype(float)
    nominal = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=4)
    alt = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=3)
    var = alternative_function_variation(nominal, alt)
    nom = predict_background(nominal).expected
    assert var.shape == (2, int(IN_SR.sum()))
    np.testing.assert_allclose(0.5 * (var[0] + var[1]), nom, rtol=1e-12)
    alt_sr = predict_background(alt).expected
    np.testing.assert_allclose(var[1] - nom, np.abs(alt_sr - nom), rtol=1e-9)
    assert np.all(var[1] - nom > 0)
    # the 3-parameter extrapolation into the SR is visibly off: a sizeable fraction of the SR
    # statistical error (the two functions may cross inside the SR, so not in every bin)
    assert np.max((var[1] - nom) / nom) > 1e-3
    assert (var[1] - nom).sum() > 0.2 * np.sqrt(nom.sum())
    # explicit edges and the mirrored form
    edges = np.array([3.3, 3.5, 3.7])
    mirrored = alternative_function_variation(nominal, alt, edges, mirror=True)
    np.testing.assert_allclose(mirrored[1], dijet_bin_integrals(edges, alt.params), rtol=1e-12)
    np.testing.assert_allclose(
        mirrored.mean(axis=0), dijet_bin_integrals(edges, nominal.params), rtol=1e-12
    )
    assert np.all(alternative_function_variation(nominal, nominal) == nom)
    with pytest.raises(ConfigError, match="bin_edges"):
        alternative_function_variation(nominal, alt, np.array([3.7, 3.3]))
    with pytest.raises(ConfigError, match="sqrt_s"):
        alternative_function_variation(nominal, alt._replace(sqrt_s=14.0))


@pytest.mark.parametrize("n_params", [3, 4, 5])
def test_spurious_signal_vanishes_on_own_asimov(n_params: int) -> None:
    truth = [TRUE3, TRUE4, TRUE5][n_params - 3]
    asimov = dijet_bin_integrals(EDGES, truth)
    ss = spurious_signal(
        asimov,
        bin_edges=EDGES,
        signal_region=SR,
        n_params=n_params,
        signal_mass=3.5,
        signal_width=0.1,
    )
    assert abs(ss.signal) < 0.01 * ss.signal_error, ss
    assert ss.signal_error > 0 and ss.chi2 < 1e-3 and ss.ndf == EDGES.size - 1 - n_params - 1
    assert np.all(np.abs(ss.params - truth) < 0.01 * np.sqrt(np.diag(ss.covariance))[:-1])
    assert ss.template[IN_SR].sum() == pytest.approx(1.0)
    assert ss.background_in_sr == pytest.approx(asimov[IN_SR].sum(), rel=1e-5)


def test_spurious_signal_of_too_simple_function_is_recorded() -> None:
    asimov = dijet_bin_integrals(EDGES, TRUE5)
    kw = {"bin_edges": EDGES, "signal_region": SR, "signal_mass": 3.5, "signal_width": 0.1}
    s3 = spurious_signal(asimov, n_params=3, **kw)
    s5 = spurious_signal(asimov, n_params=5, **kw)
    assert abs(s3.signal_over_error) > 1.0, s3  # clearly non-zero: a real systematic
    assert abs(s3.signal) > 50 * abs(s5.signal)
    assert s3.chi2 > 10.0 and s5.chi2 < 1e-3
    assert s3.signal_over_error == pytest.approx(s3.signal / s3.signal_error)


@pytest.mark.parametrize("injected", [1500.0, -1500.0])
def test_spurious_signal_fit_recovers_injected_signal(injected: float) -> None:
    """The S+B fit measures S in SR events: an injected Gaussian is found at its size, sign kept."""
    width = 0.12
    frac = np.diff(ndtr((EDGES - 3.45) / width))
    template = dijet_bin_integrals(EDGES, TRUE4) + injected * frac / frac[IN_SR].sum()
    ss = spurious_signal(
        template,
        bin_edges=EDGES,
        signal_region=SR,
        n_params=4,
        signal_mass=3.45,
        signal_width=width,
    )
    assert ss.signal == pytest.approx(injected, rel=1e-3)
    assert ss.chi2 < 1e-3


def test_spurious_signal_error_matches_toy_spread() -> None:
    rng = np.random.default_rng(77)
    mu = dijet_bin_integrals(EDGES, TRUE3)
    kw = {"bin_edges": EDGES, "signal_region": SR, "n_params": 3, "signal_mass": 3.5}
    signals = [
        spurious_signal(rng.poisson(mu).astype(float), signal_width=0.1, **kw) for _ in range(60)
    ]
    pulls = np.array([s.signal_over_error for s in signals])
    assert abs(pulls.mean()) < 0.45 and 0.7 < pulls.std() < 1.35, (pulls.mean(), pulls.std())


def test_invalid_inputs() -> None:
    mu = dijet_bin_integrals(EDGES, TRUE3)
    kw = {"bin_edges": EDGES, "signal_region": SR}
    with pytest.raises(ConfigError, match="orders"):
        choose_dijet_function(mu, orders=(2, 3), **kw)
    with pytest.raises(ConfigError, match="orders"):
        choose_dijet_function(mu, orders=(), **kw)
    with pytest.raises(ConfigError, match="alpha"):
        choose_dijet_function(mu, alpha=1.5, **kw)
    with pytest.raises(ConfigError, match="test"):
        choose_dijet_function(mu, test="chi2", **kw)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="counts"):
        choose_dijet_function(mu[:-1], **kw)
    ss_kw = {**kw, "n_params": 3, "signal_mass": 3.5, "signal_width": 0.1}
    with pytest.raises(DataFormatError, match="background_template"):
        spurious_signal(mu[:-1], **ss_kw)
    with pytest.raises(DataFormatError, match="background_template"):
        spurious_signal(-mu, **ss_kw)
    with pytest.raises(ConfigError, match="signal_mass"):
        spurious_signal(mu, **{**ss_kw, "signal_mass": 4.5})
    with pytest.raises(ConfigError, match="signal_width"):
        spurious_signal(mu, **{**ss_kw, "signal_width": 0.0})
    with pytest.raises(ConfigError, match="n_params"):
        spurious_signal(mu, **{**ss_kw, "n_params": 6})
