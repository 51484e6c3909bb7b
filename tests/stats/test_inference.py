"""Tests of the discovery inference against the closed-form Asimov significances."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
from scipy.stats import norm

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats import (
    asimov_discovery_significance,
    counting_experiment_spec,
    discovery_test,
    load_workspace,
    minuit_backend,
)


def test_asimov_formula_limits() -> None:
    # s << b: Z -> s / sqrt(b), and with background uncertainty Z -> s / sqrt(b + sigma^2)
    assert asimov_discovery_significance(1.0, 1e4) == pytest.approx(0.01, rel=1e-3)
    assert asimov_discovery_significance(1.0, 1e4, 100.0) == pytest.approx(
        1 / np.sqrt(2e4), rel=1e-3
    )
    # sigma -> 0 recovers the formula without uncertainty; larger sigma lowers Z
    z0 = asimov_discovery_significance(10.0, 100.0)
    assert asimov_discovery_significance(10.0, 100.0, 1e-4) == pytest.approx(z0, rel=1e-6)
    assert asimov_discovery_significance(10.0, 100.0, 0.0) == z0
    zs = [asimov_discovery_significance(10.0, 100.0, s) for s in (1.0, 5.0, 10.0, 30.0)]
    assert all(a > b for a, b in zip([z0, *zs], zs, strict=False))
    assert asimov_discovery_significance(0.0, 5.0) == 0.0
    # a direct evaluation of the unsimplified expression
    s, b, sb = 7.0, 30.0, 4.0
    n = s + b
    z2 = 2 * (
        n * np.log(n * (b + sb**2) / (b**2 + n * sb**2))
        - b**2 / sb**2 * np.log(1 + sb**2 * s / (b * (b + sb**2)))
    )
    assert asimov_discovery_significance(s, b, sb) == pytest.approx(np.sqrt(z2), rel=1e-12)


@pytest.mark.parametrize(
    ("s", "b", "sigma"), [(-1.0, 1.0, None), (1.0, 0.0, None), (1.0, 1.0, -2.0)]
)
def test_asimov_formula_rejects_bad_input(s: float, b: float, sigma: float | None) -> None:
    with pytest.raises(ConfigError):
        asimov_discovery_significance(s, b, sigma)


@pytest.mark.parametrize(
    ("s", "b"), [(5.0, 10.0), (10.0, 100.0), (50.0, 1000.0), (4.0, 0.8), (300.0, 2e4)]
)
def test_pyhf_q0_matches_asimov_formula_without_uncertainty(s: float, b: float) -> None:
    res = discovery_test(counting_experiment_spec(s, b))
    z = asimov_discovery_significance(s, b)
    assert res.significance == pytest.approx(z, rel=1e-3)
    assert res.q0 == pytest.approx(z**2, rel=2e-3)
    assert res.p0 == pytest.approx(norm.sf(z), rel=5e-3)
    assert res.mu_hat == pytest.approx(1.0, abs=1e-3)
    assert res.observed


@pytest.mark.parametrize(
    ("s", "b", "sigma"),
    [
        (10.0, 100.0, 10.0),
        (5.0, 20.0, 2.0),
        (50.0, 1000.0, 100.0),
        (20.0, 50.0, 25.0),
        (8.0, 5.0, 1.0),
    ],
)
def test_pyhf_q0_with_shapesys_matches_cowan_formula(s: float, b: float, sigma: float) -> None:
    res = discovery_test(counting_experiment_spec(s, b, sigma_b=sigma))
    z = asimov_discovery_significance(s, b, sigma)
    assert res.significance == pytest.approx(z, rel=1e-3)
    assert res.p0 == pytest.approx(norm.sf(z), rel=5e-3)
    # and it is really lower than without the uncertainty
    assert res.significance < asimov_discovery_significance(s, b) * (1 - 1e-3)


def test_negligible_shapesys_goes_through_pyhf_calculator_and_matches() -> None:
    s, b = 10.0, 100.0
    res = discovery_test(counting_experiment_spec(s, b, sigma_b=1e-4 * b))
    assert res.significance == pytest.approx(asimov_discovery_significance(s, b), rel=1e-3)


def test_mu_hat_and_error_from_supplied_data() -> None:
    s, b = 20.0, 100.0
    spec = counting_experiment_spec(s, b)
    n = b + 2.5 * s
    res = discovery_test(spec, data=[n])
    assert not res.observed
    assert res.mu_hat == pytest.approx(2.5, rel=1e-3)
    # Poisson: var(n) = n, mu = (n - b) / s
    assert res.mu_hat_error == pytest.approx(np.sqrt(n) / s, rel=0.02)
    res_full = discovery_test(counting_experiment_spec(s, b, sigma_b=5.0), data=[n, 400.0])
    res_main = discovery_test(counting_experiment_spec(s, b, sigma_b=5.0), data=[n])
    assert res_full.significance == pytest.approx(res_main.significance, rel=1e-6)


@pytest.mark.parametrize("sigma", [None, 5.0])
def test_deficit_gives_zero_significance(sigma: float | None) -> None:
    res = discovery_test(counting_experiment_spec(10.0, 100.0, sigma_b=sigma, observed=90.0))
    assert res.significance == 0.0
    assert res.q0 == 0.0
    assert res.p0 == pytest.approx(0.5)
    assert res.mu_hat < 0  # the POI fit is not stuck at a boundary at 0
    assert res.mu_hat_error == pytest.approx(np.sqrt(90.0 + (sigma or 0) ** 2) / 10.0, rel=0.05)


def test_backend_is_restored() -> None:
    pyhf.set_backend("numpy", "scipy")
    before = pyhf.get_backend()
    discovery_test(counting_experiment_spec(5.0, 10.0, sigma_b=1.0))
    assert pyhf.get_backend() == before
    with pytest.raises(RuntimeError), minuit_backend():
        assert pyhf.optimizer.name == "minuit"
        raise RuntimeError("boom")
    assert pyhf.get_backend() == before
    assert pyhf.optimizer.name == "scipy"


def test_bad_inputs() -> None:
    spec = counting_experiment_spec(5.0, 10.0)
    with pytest.raises(DataFormatError, match="entries"):
        discovery_test(spec, data=[1.0, 2.0, 3.0])
    with pytest.raises(DataFormatError, match="non-negative"):
        discovery_test(spec, data=[-1.0])
    bad = dict(spec, observations=[{"name": "count", "data": "x"}])
    with pytest.raises(ConfigError, match="invalid pyhf"):
        load_workspace(bad)
    with pytest.raises(ConfigError):
        counting_experiment_spec(0.0, 10.0)
    with pytest.raises(ConfigError):
        counting_experiment_spec(1.0, 10.0, sigma_b=0.0)
