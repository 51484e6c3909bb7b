"""Calibration of the discovery test on pseudo-data: p0 uniformity, toys vs asymptotics, pulls.

Pseudo-data are generated here with NumPy (not pyhf) from the true parameters: Poisson main bins,
and auxiliary data fluctuated consistently with the constraint terms -- ``m ~ Pois(tau)`` for the
``shapesys`` of the counting experiment (``tau = (b / sigma_b)^2``, true ``gamma = 1``) and
``a ~ N(0, 1)`` for the ``histosys`` nuisance parameters of the bump-hunt-like model (true 0).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pyhf
import pytest
from scipy.stats import kstest, norm

from anomsearch.background.sideband_fit import BackgroundPrediction
from anomsearch.exceptions import ConfigError
from anomsearch.stats import (
    build_bumphunt_spec,
    counting_experiment_spec,
    discovery_test,
    load_workspace,
    minuit_backend,
)

N_DATASETS = 300
NOMINAL = np.array([400.0, 300.0, 220.0, 160.0])
TEMPLATE = np.array([0.15, 0.35, 0.35, 0.15])  # normalised to 1: mu counts signal events


def _bumphunt_like_spec() -> dict:
    up1, down1 = (
        NOMINAL * np.array([1.03, 1.035, 1.04, 1.05]),
        NOMINAL * np.array([0.97, 0.965, 0.96, 0.95]),
    )
    up2, down2 = (
        NOMINAL * np.array([1.02, 1.0, 0.99, 0.97]),
        NOMINAL * np.array([0.98, 1.0, 1.01, 1.03]),
    )
    bkg = BackgroundPrediction(
        np.linspace(3.3, 3.7, 5),
        NOMINAL,
        np.diag((0.04 * NOMINAL) ** 2),
        0.04 * NOMINAL,
        np.array([[down1, up1], [down2, up2]]),
        np.array([2.0, 1.0]),
    )
    return build_bumphunt_spec(observed=NOMINAL, background=bkg, signal_template=TEMPLATE)


def _assert_uniform_below_half(p0: np.ndarray) -> None:
    """Asymptotically p0 = 0.5 for mu_hat <= 0 (half the datasets) and uniform on [0, 0.5)."""
    n = p0.size
    below = p0[p0 < 0.5 - 1e-9]
    assert abs(below.size - n / 2) <= 3 * np.sqrt(n / 4)
    for alpha in (0.05, 0.01):
        k = np.count_nonzero(p0 < alpha)
        assert abs(k - n * alpha) <= 3 * np.sqrt(n * alpha * (1 - alpha)) + 1, (alpha, k)
    assert kstest(below / 0.5, "uniform").pvalue > 1e-3


def test_p0_uniform_single_bin_with_shapesys() -> None:
    b, sigma_b = 100.0, 10.0
    tau = (b / sigma_b) ** 2
    ws = load_workspace(counting_experiment_spec(10.0, b, sigma_b=sigma_b))
    rng = np.random.default_rng(20240611)
    main, aux = rng.poisson(b, N_DATASETS), rng.poisson(tau, N_DATASETS)
    p0 = np.array([discovery_test(ws, data=[n, m]).p0 for n, m in zip(main, aux, strict=True)])
    _assert_uniform_below_half(p0)


def test_p0_uniform_bumphunt_like_model() -> None:
    ws = load_workspace(_bumphunt_like_spec())
    rng = np.random.default_rng(7)
    main = rng.poisson(NOMINAL, (N_DATASETS, NOMINAL.size))
    aux = rng.normal(size=(N_DATASETS, 2))
    p0 = np.array(
        [discovery_test(ws, data=np.concatenate([n, a])).p0 for n, a in zip(main, aux, strict=True)]
    )
    _assert_uniform_below_half(p0)


@pytest.mark.parametrize(
    "spec", [counting_experiment_spec(10.0, 100.0, sigma_b=10.0), _bumphunt_like_spec()]
)
def test_asymptotic_p0_equals_pyhf_asymptotic_calculator(spec: dict) -> None:
    ws = load_workspace(spec)
    with warnings.catch_warnings():  # pyhf 0.7.6 uses jsonschema's deprecated RefResolver
        warnings.filterwarnings("ignore", "jsonschema.RefResolver", DeprecationWarning)
        model = ws.model()
    rng = np.random.default_rng(3)
    expected = np.asarray(model.expected_actualdata(model.config.suggested_init()))
    for _ in range(3):
        full = np.concatenate([rng.poisson(expected), model.config.auxdata])
        res = discovery_test(ws, data=full)
        with minuit_backend():
            calc = pyhf.infer.calculators.AsymptoticCalculator(full, model, test_stat="q0")
            shifted = calc.teststatistic(0.0)
            p0 = float(calc.distributions(0.0)[0].pvalue(shifted))
        assert res.p0 == pytest.approx(p0, rel=1e-3, abs=1e-6)


def test_injected_signal_strength_pulls() -> None:
    ws = load_workspace(_bumphunt_like_spec())
    mu_true = 60.0
    rng = np.random.default_rng(11)
    n_sets = 100
    main = rng.poisson(NOMINAL + mu_true * TEMPLATE, (n_sets, NOMINAL.size))
    aux = rng.normal(size=(n_sets, 2))
    fits = [discovery_test(ws, data=np.concatenate([n, a])) for n, a in zip(main, aux, strict=True)]
    pulls = np.array([(r.mu_hat - mu_true) / r.mu_hat_error for r in fits])
    # 100 pseudo-experiments: mean to +-0.1 (1 sigma), std to +-0.07 (1 sigma)
    assert abs(pulls.mean()) < 0.3
    assert 0.78 < pulls.std(ddof=1) < 1.22


def test_toys_agree_with_asymptotics_at_large_counts() -> None:
    b = 1000.0
    spec = counting_experiment_spec(1.0, b, observed=b + 1.3 * np.sqrt(b), mu_upper=1000.0)
    asym = discovery_test(spec)
    n_toys = 500
    toys = discovery_test(spec, calculator="toys", n_toys=n_toys, seed=12345)
    tol = 3 * np.sqrt(asym.p0 * (1 - asym.p0) / n_toys)
    assert toys.p0 == pytest.approx(asym.p0, abs=tol)
    assert toys.q0 == pytest.approx(asym.q0, rel=1e-3)
    assert toys.significance == pytest.approx(norm.isf(toys.p0))
    assert toys.mu_hat == asym.mu_hat and toys.mu_hat_error == asym.mu_hat_error


@pytest.mark.slow
def test_toys_agree_with_asymptotics_with_shapesys() -> None:
    spec = counting_experiment_spec(
        10.0, 1000.0, sigma_b=50.0, observed=1000.0 + 1.5 * np.sqrt(3500.0)
    )
    asym = discovery_test(spec)
    n_toys = 500
    toys = discovery_test(spec, calculator="toys", n_toys=n_toys, seed=99)
    assert toys.p0 == pytest.approx(asym.p0, abs=3 * np.sqrt(asym.p0 * (1 - asym.p0) / n_toys))


def test_toy_seeding_floor_and_options(caplog: pytest.LogCaptureFixture) -> None:
    spec = counting_experiment_spec(1.0, 100.0, observed=112.0, mu_upper=500.0)
    state = np.random.get_state()  # noqa: NPY002
    a = discovery_test(spec, calculator="toys", n_toys=60, seed=5)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], state[1]) and after[2] == state[2]
    assert discovery_test(spec, calculator="toys", n_toys=60, seed=5) == a
    # a 5 sigma excess: no toy of 50 reaches q0_obs -> p0 floored at 1/51, with a warning
    big = counting_experiment_spec(1.0, 100.0, observed=150.0, mu_upper=500.0)
    with caplog.at_level(logging.WARNING, logger="anomsearch.stats.inference"):
        r = discovery_test(big, calculator="toys", n_toys=50, seed=1)
    assert r.p0 == pytest.approx(1 / 51)
    assert r.significance == pytest.approx(norm.isf(1 / 51))
    assert r.q0 > 20
    assert "floored" in caplog.text
    # a deficit: q0 = 0, every toy has q0 >= 0
    low = discovery_test(
        counting_experiment_spec(1.0, 100.0, observed=90.0), calculator="toys", n_toys=20, seed=1
    )
    assert low.p0 == 1.0 and low.significance == 0.0 and low.q0 == 0.0
    for kwargs in (
        {"calculator": "bayes"},
        {"calculator": "toys", "n_toys": 0},
        {"calculator": "toys", "seed": -1},
    ):
        with pytest.raises(ConfigError):
            discovery_test(spec, **kwargs)
