"""Tests of the CLs upper limits: pyhf's documented example and the asymptotic formulae."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pyhf
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from anomsearch.background.sideband_fit import BackgroundPrediction
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats import (
    UpperLimit,
    build_bumphunt_spec,
    counting_experiment_spec,
    mu_hat_interval,
    upper_limit,
)

# pyhf 0.7.6 docstring of pyhf.infer.intervals.upper_limits.upper_limit / linear_grid_scan
# (model uncorrelated_background(signal=[12, 11], bkg=[50, 52], bkg_uncertainty=[3, 7]),
# observations [51, 48], scan np.linspace(0, 5, 21), 95% CL, default SciPy optimizer):
PYHF_DOC_SCAN_OBSERVED = 1.01764089
PYHF_DOC_SCAN_EXPECTED = [0.59576921, 0.76169166, 1.08504773, 1.50170482, 2.06654952]
# ... and of pyhf.infer.intervals.upper_limits.toms748_scan (root finding, rtol 1e-4):
PYHF_DOC_TOMS748_OBSERVED = 1.01156939
PYHF_DOC_TOMS748_EXPECTED = [0.5600747, 0.75702605, 1.06234693, 1.50116923, 2.05078912]


def _pyhf_doc_spec() -> dict[str, Any]:
    with warnings.catch_warnings():  # pyhf 0.7.6 uses jsonschema's deprecated RefResolver
        warnings.filterwarnings("ignore", "jsonschema.RefResolver", DeprecationWarning)
        model = pyhf.simplemodels.uncorrelated_background(
            signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0]
        )
    return {
        "version": "1.0.0",
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
        "measurements": [{"name": "doc", "config": {"poi": "mu", "parameters": []}}],
    }


@pytest.fixture(scope="module")
def doc_spec() -> dict[str, Any]:
    return _pyhf_doc_spec()


def test_pyhf_documented_example_with_scan(doc_spec: dict[str, Any]) -> None:
    scan = np.linspace(0, 5, 21)
    lim = upper_limit(doc_spec, scan=scan)
    assert isinstance(lim, UpperLimit)
    assert lim.observed == pytest.approx(PYHF_DOC_SCAN_OBSERVED, rel=1e-4)
    np.testing.assert_allclose(lim.expected, PYHF_DOC_SCAN_EXPECTED, rtol=1e-4)
    np.testing.assert_array_equal(lim.scan, scan)
    assert lim.cls_observed.shape == (21,) and lim.cls_expected.shape == (21, 5)
    assert lim.cl == 0.95
    assert lim.cls_observed[0] == pytest.approx(1.0, abs=1e-3)
    assert np.all(np.diff(lim.cls_observed) < 1e-9)
    # the expected CLs curves are ordered -2 sigma (lowest CLs) ... +2 sigma
    assert np.all(np.diff(lim.cls_expected[1:], axis=1) > 0)
    # the limit is where the interpolated CLs crosses 0.05
    assert np.interp(lim.observed, scan, lim.cls_observed) == pytest.approx(0.05, abs=1e-9)


def test_pyhf_documented_example_automatic_scan(doc_spec: dict[str, Any]) -> None:
    lim = upper_limit(doc_spec)
    assert lim.observed == pytest.approx(PYHF_DOC_TOMS748_OBSERVED, rel=1e-3)
    np.testing.assert_allclose(lim.expected, PYHF_DOC_TOMS748_EXPECTED, rtol=1e-3)
    assert lim.scan[0] > 0 and lim.scan.size == 21
    assert lim.cls_observed[-1] < 0.05 and np.all(lim.cls_expected[-1] < 0.05)
    # a looser confidence level gives a lower limit
    lim90 = upper_limit(doc_spec, cl=0.90, scan=np.linspace(0.2, 3.0, 15))
    assert lim90.observed < lim.observed
    assert np.all(lim90.expected < lim.expected)


def _twice_nll(mu: float, n: float, s: float, b: float) -> float:
    nu = b + mu * s
    return 2.0 * (nu - n * np.log(nu))


def _qtilde(mu: float, n: float, s: float, b: float) -> float:
    """arXiv:1007.1727 eq. (16) for a one-bin Poisson count without nuisance parameters."""
    mu_hat = (n - b) / s
    if mu_hat > mu:
        return 0.0
    return _twice_nll(mu, n, s, b) - _twice_nll(max(mu_hat, 0.0), n, s, b)


def _cls_observed(mu: float, n: float, s: float, b: float) -> float:
    q = _qtilde(mu, n, s, b)
    q_a = _qtilde(mu, b, s, b)  # Asimov data set of mu' = 0: sigma^2 = mu^2 / q_A
    sq_a = np.sqrt(q_a)
    if q <= q_a:  # eqs. (65)-(66), with mu' = mu for CLs+b and mu' = 0 for CLb
        clsb, clb = norm.sf(np.sqrt(q)), norm.cdf(sq_a - np.sqrt(q))
    else:
        clsb, clb = norm.sf((q + q_a) / (2 * sq_a)), norm.sf((q - q_a) / (2 * sq_a))
    return clsb / clb


def _cls_expected(mu: float, n_sigma: float, s: float, b: float) -> float:
    """Expected CLs for data at the ``n_sigma`` quantile of the mu' = 0 distribution."""
    sq_a = np.sqrt(_qtilde(mu, b, s, b))
    return norm.sf(sq_a + n_sigma) / norm.sf(n_sigma)


@pytest.mark.parametrize(
    ("s", "b", "n"), [(1.0, 100.0, 100.0), (1.0, 100.0, 85.0), (2.0, 50.0, 64.0)]
)
def test_single_bin_limit_matches_asymptotic_formulae(s: float, b: float, n: float) -> None:
    spec = counting_experiment_spec(s, b, observed=n, mu_upper=200.0 / s)
    lim = upper_limit(spec)
    alpha = 0.05
    hi = 150.0 / s
    observed = brentq(lambda mu: _cls_observed(mu, n, s, b) - alpha, 1e-3, hi, xtol=1e-10)
    # pyhf's band order: CLs at the +2 ... -2 sigma quantiles of qtilde -> ascending limits
    expected = [
        brentq(lambda mu, k=k: _cls_expected(mu, k, s, b) - alpha, 1e-3, hi, xtol=1e-10)
        for k in (2.0, 1.0, 0.0, -1.0, -2.0)
    ]
    assert lim.observed == pytest.approx(observed, rel=1e-3)
    np.testing.assert_allclose(lim.expected, expected, rtol=1e-3)
    assert np.all(np.diff(lim.expected) > 0)


def test_bumphunt_limit_is_on_signal_events() -> None:
    nominal = np.array([400.0, 300.0, 220.0, 160.0])
    up, down = nominal * 1.04, nominal * 0.96
    bkg = BackgroundPrediction(
        np.linspace(3.3, 3.7, 5),
        nominal,
        np.diag((0.04 * nominal) ** 2),
        0.04 * nominal,
        np.array([[down, up]]),
        np.array([1.0]),
    )
    template = np.array([0.15, 0.35, 0.35, 0.15])
    observed = np.array([410.0, 290.0, 230.0, 150.0])
    spec = build_bumphunt_spec(observed=observed, background=bkg, signal_template=template)
    scan = np.linspace(10.0, 200.0, 20)
    lim = upper_limit(spec, scan=scan)
    # twice the template per unit mu: the limit on mu halves (same CLs curve in signal events)
    spec2 = build_bumphunt_spec(observed=observed, background=bkg, signal_template=2 * template)
    lim2 = upper_limit(spec2, scan=scan / 2)
    np.testing.assert_allclose(lim2.cls_observed, lim.cls_observed, atol=2e-4)
    assert lim2.observed == pytest.approx(lim.observed / 2, rel=2e-3)
    np.testing.assert_allclose(lim2.expected, lim.expected / 2, rtol=2e-3)
    # order of magnitude: a few sqrt(b) of the bins the signal populates
    assert 20.0 < lim.expected[2] < 120.0


@pytest.mark.slow
def test_toy_limit_close_to_asymptotic_and_rng_restored() -> None:
    spec = counting_experiment_spec(1.0, 400.0, observed=400.0, mu_upper=200.0)
    scan = np.array([20.0, 35.0, 50.0, 65.0, 85.0])
    asym = upper_limit(spec, scan=scan)
    state = np.random.get_state()  # noqa: NPY002
    toys = upper_limit(spec, scan=scan, calculator="toys", n_toys=100, seed=7)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2] == state[2]
    # b = 400: the asymptotic formulae hold; 100 toys per point give CLs to ~10-20%
    assert toys.observed == pytest.approx(asym.observed, rel=0.1)
    assert toys.expected[2] == pytest.approx(asym.expected[2], rel=0.15)
    assert np.all(np.diff(toys.cls_observed) <= 0)


def test_backend_restored_and_bad_inputs(doc_spec: dict[str, Any]) -> None:
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer())
    before = pyhf.get_backend()
    upper_limit(doc_spec, scan=[0.5, 1.5, 3.0])
    assert pyhf.get_backend() == before
    pyhf.set_backend("numpy", "scipy")
    with pytest.raises(ConfigError, match="does not cross"):
        upper_limit(doc_spec, scan=[0.1, 0.2, 0.3])
    # expected limits outside a scan that brackets the observed one are NaN
    partial = upper_limit(doc_spec, scan=[0.5, 1.0, 1.4])
    assert partial.observed == pytest.approx(PYHF_DOC_SCAN_OBSERVED, rel=0.02)
    assert np.all(np.isfinite(partial.expected[:3])) and np.all(np.isnan(partial.expected[3:]))
    with pytest.raises(ConfigError, match="strictly increasing"):
        upper_limit(doc_spec, scan=[2.0, 1.0])
    with pytest.raises(ConfigError, match="upper bound"):
        upper_limit(doc_spec, scan=[1.0, 20.0])
    with pytest.raises(ConfigError, match="cl"):
        upper_limit(doc_spec, cl=1.5)
    with pytest.raises(ConfigError, match="calculator"):
        upper_limit(doc_spec, calculator="bayes")  # type: ignore[arg-type]
    with pytest.raises(DataFormatError):
        upper_limit(doc_spec, data=[1.0, 2.0, 3.0])
    shifted = dict(doc_spec)
    shifted["measurements"] = [
        {
            "name": "neg",
            "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[-5.0, 10.0]]}]},
        }
    ]
    with pytest.raises(ConfigError, match="lower bound"):
        upper_limit(shifted)
    # a limit beyond the POI range cannot be found automatically
    with pytest.raises(ConfigError, match="POI upper bound"):
        upper_limit(counting_experiment_spec(1.0, 100.0, mu_upper=5.0))


def test_mu_hat_interval_matches_poisson_likelihood_interval() -> None:
    s, b, n = 4.0, 50.0, 70.0
    r = mu_hat_interval(counting_experiment_spec(s, b, observed=n))
    mu_hat = (n - b) / s

    def excess(mu: float) -> float:
        return _twice_nll(mu, n, s, b) - _twice_nll(mu_hat, n, s, b) - 1.0

    assert r.mu_hat == pytest.approx(mu_hat, abs=1e-3)
    assert r.lower == pytest.approx(brentq(excess, -10.0, mu_hat), abs=2e-3)
    assert r.upper == pytest.approx(brentq(excess, mu_hat, 30.0), abs=2e-3)
    assert r.upper - r.mu_hat > r.mu_hat - r.lower  # Poisson: longer upward
    assert r.hesse_error == pytest.approx(np.sqrt(n) / s, rel=0.02)
    # 95% interval with a profiled shapesys nuisance is wider
    wide = mu_hat_interval(counting_experiment_spec(s, b, sigma_b=5.0, observed=n), cl=0.95)
    assert wide.upper - wide.lower > 1.96 * (r.upper - r.lower)
    with pytest.raises(ConfigError):
        mu_hat_interval(counting_experiment_spec(s, b), cl=0.0)
