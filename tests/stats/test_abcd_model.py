r"""Tests of the ABCD pyhf model against closed-form answers.

Hand computation used throughout (no contamination, no non-closure). The model has four Poisson
counts ``N_X`` with expectations ``lambda_X = b_X + s_X``, ``b_A b_D = b_B b_C`` and signal in A
only.

* Unconditional fit: four free parameters (``mu``, ``mu_b``, ``tau_B``, ``tau_C``) for four
  counts, so the maximum reproduces the data, ``lambda_X = N_X``; hence
  ``mu_hat = N_A - N_B N_C / N_D`` and ``ln L_max = sum_X (N_X ln N_X - N_X)``.
* ``mu = 0``: maximise ``sum_X (N_X ln lambda_X - lambda_X)`` subject to
  ``lambda_A lambda_D = lambda_B lambda_C``. Writing ``lambda = exp(a_r + c_k)`` for row
  ``r`` (x high: A, B; x low: C, D) and column ``k`` (y high: A, C; y low: B, D), the stationarity
  conditions are ``sum_row lambda = sum_row N`` and ``sum_col lambda = sum_col N``, whose solution
  is ``lambda_X = R_X K_X / N`` (``R_X``, ``K_X`` the row and column totals of X, ``N`` the total).
* So ``q0 = 2 sum_X N_X ln(N_X / lambda_X)`` (the totals cancel: ``sum lambda = N``), the G
  statistic of independence of the 2 x 2 table, for ``mu_hat > 0``, and ``q0 = 0`` otherwise;
  ``Z = sqrt(q0)``.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pyhf
import pytest
from scipy import stats

from anomsearch.background.abcd import ABCDClosure, abcd_closure, abcd_counts, abcd_estimate
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.abcd_model import (
    ABCD_BACKGROUND_PARAMETERS,
    ABCD_CHANNELS,
    NON_CLOSURE_PARAMETER,
    build_abcd_spec,
)
from anomsearch.stats.inference import (
    asimov_discovery_significance,
    discovery_test,
    load_workspace,
)

_RESOLVER = r"jsonschema\.RefResolver is deprecated"


def g_statistic(counts: tuple[float, float, float, float]) -> float:
    """``q0`` of the ABCD model by hand: the G statistic of independence (0 for a deficit)."""
    a, b, c, d = counts
    if a * d <= b * c:
        return 0.0
    n = a + b + c + d
    lam = (
        (a + b) * (a + c) / n,
        (a + b) * (b + d) / n,
        (c + d) * (a + c) / n,
        (c + d) * (b + d) / n,
    )
    return 2.0 * sum(x * math.log(x / m) for x, m in zip(counts, lam, strict=True) if x > 0)


def test_spec_loads_with_plain_pyhf() -> None:
    spec = build_abcd_spec((130.0, 200.0, 300.0, 600.0), non_closure=0.1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_RESOLVER, category=DeprecationWarning)
        ws = pyhf.Workspace(spec)
        model = ws.model()
    assert ws.channels == list(ABCD_CHANNELS)
    assert model.config.poi_name == "mu"
    names = set(model.config.par_names)
    assert {"mu", NON_CLOSURE_PARAMETER, *ABCD_BACKGROUND_PARAMETERS} <= names
    # at the inits (normfactors 1, mu = 0) the background is the data-derived nominal
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 0.0
    np.testing.assert_allclose(model.expected_actualdata(pars), [100.0, 200.0, 300.0, 600.0])
    # the ABCD relation holds for any normfactor values
    for name, value in zip(ABCD_BACKGROUND_PARAMETERS, (1.3, 0.7, 2.1), strict=True):
        pars[model.config.par_map[name]["slice"]] = value
    a, b, c, d = model.expected_actualdata(pars)
    assert a * d == pytest.approx(b * c, rel=1e-12)
    np.testing.assert_allclose(ws.data(model, include_auxdata=False), [130, 200, 300, 600])


@pytest.mark.parametrize(
    "counts",
    [
        (130.0, 200.0, 300.0, 600.0),
        (57.0, 410.0, 95.0, 1020.0),
        (12.0, 30.0, 40.0, 200.0),
        (5.0, 0.0, 30.0, 100.0),  # empty region B: prediction 0
        (80.0, 200.0, 300.0, 600.0),  # deficit: mu_hat < 0, Z = 0
    ],
)
def test_fit_reproduces_closed_form_abcd(counts: tuple[float, float, float, float]) -> None:
    res = discovery_test(build_abcd_spec(counts))
    est = abcd_estimate(counts)
    tol = 1e-3 * res.mu_hat_error  # MIGRAD's tolerance
    assert res.mu_hat == pytest.approx(counts[0] - counts[1] * counts[2] / counts[3], abs=tol)
    assert res.mu_hat == pytest.approx(est.excess, abs=tol)
    z_hand = math.sqrt(g_statistic(counts))
    assert res.significance == pytest.approx(z_hand, rel=1e-3, abs=1e-6)
    if z_hand == 0.0:
        assert res.p0 == 0.5


def test_pinned_numbers() -> None:
    """Regression: N = (130, 200, 300, 600): prediction 100, Z = 1.96419 (G statistic)."""
    res = discovery_test(build_abcd_spec((130.0, 200.0, 300.0, 600.0)))
    assert res.mu_hat == pytest.approx(30.0, abs=2e-3)
    assert res.significance == pytest.approx(1.964191, abs=1e-5)
    # HESSE error: first-order sqrt(N_A + sigma_P^2) = sqrt(130 + 100) of abcd_estimate
    assert res.mu_hat_error == pytest.approx(math.sqrt(230.0), rel=1e-3)


def test_signal_yield_makes_mu_a_signal_strength() -> None:
    res = discovery_test(build_abcd_spec((130.0, 200.0, 300.0, 600.0), signal_yield=20.0))
    assert res.mu_hat == pytest.approx(1.5, abs=1e-4)
    assert res.significance == pytest.approx(1.964191, abs=1e-5)


def test_injected_signal_recovered_with_contamination() -> None:
    """Background (100, 400, 300, 1200) obeys ABCD; 100 signal events spread with f."""
    f = (0.5, 0.1, 0.1, 0.05)
    bkg = np.array([100.0, 400.0, 300.0, 1200.0])
    counts = tuple((bkg + 100.0 * np.array(f)).tolist())  # (150, 410, 310, 1205)
    est = abcd_estimate(counts, signal_fractions=f)
    assert est.signal == pytest.approx(100.0, rel=1e-9)
    res = discovery_test(build_abcd_spec(counts, signal_fractions=f))
    assert res.mu_hat == pytest.approx(50.0, abs=5e-3)  # signal events in A = f_A S
    assert res.mu_hat == pytest.approx(est.excess, abs=5e-3)
    # the HESSE error agrees with the first-order propagation of abcd_estimate
    assert res.mu_hat_error == pytest.approx(f[0] * est.signal_error, rel=1e-2)
    # the uncorrected model underestimates the signal: contamination inflates B, C, D
    naive = discovery_test(build_abcd_spec(counts))
    assert naive.mu_hat == pytest.approx(150.0 - 410.0 * 310.0 / 1205.0, abs=5e-3)
    assert naive.mu_hat < res.mu_hat - 3.0
    # q0 compares the same background-only fit with a saturated fit: Z is unchanged
    assert res.significance == pytest.approx(naive.significance, rel=1e-5)
    assert res.significance == pytest.approx(math.sqrt(g_statistic(counts)), rel=1e-5)


def test_contamination_matches_abcd_estimate_on_observed_counts() -> None:
    counts = (130.0, 200.0, 300.0, 600.0)
    f = (0.6, 0.1, 0.15, 0.05)
    res = discovery_test(build_abcd_spec(counts, signal_fractions=f))
    est = abcd_estimate(counts, signal_fractions=f)
    assert res.mu_hat == pytest.approx(est.excess, rel=1e-4)
    assert res.mu_hat == pytest.approx(f[0] * est.signal, rel=1e-4)


def test_non_closure_widens_error_and_lowers_z() -> None:
    counts = (130.0, 200.0, 300.0, 600.0)
    results = [discovery_test(build_abcd_spec(counts, non_closure=d)) for d in (0, 0.05, 0.1, 0.2)]
    z = [r.significance for r in results]
    err = [r.mu_hat_error for r in results]
    assert all(z1 > z2 for z1, z2 in itertools.pairwise(z))
    assert all(e1 < e2 for e1, e2 in itertools.pairwise(err))
    for r in results:  # the non-closure nuisance is not pulled by the saturated fit
        assert r.mu_hat == pytest.approx(30.0, abs=2e-3)
    # pinned: Z = 1.9642, 1.8454, 1.6005, 1.1620
    np.testing.assert_allclose(z, [1.96419, 1.84537, 1.60052, 1.16195], atol=2e-4)


def test_non_closure_from_abcd_closure() -> None:
    rng = np.random.default_rng(3)
    x, y, m = rng.uniform(size=(3, 20_000))
    closure = abcd_closure(x, y, x_cut=0.8, y_cut=0.8, validation_mask=m < 0.5)
    assert isinstance(closure, ABCDClosure)
    counts = abcd_counts(x[m >= 0.5], y[m >= 0.5], x_cut=0.8, y_cut=0.8)
    from_obj = build_abcd_spec(counts, non_closure=closure)
    from_float = build_abcd_spec(counts, non_closure=closure.non_closure)
    assert from_obj == from_float
    mod = from_obj["channels"][0]["samples"][1]["modifiers"][-1]
    assert mod["data"] == {"hi": 1 + closure.non_closure, "lo": 1 - closure.non_closure}


@pytest.mark.parametrize(
    ("delta", "rel"),
    [(0.0, 1e-4), (0.05, 5e-3), (0.1, 2e-2)],
)
def test_non_closure_close_to_cowan_in_large_d_limit(delta: float, rel: float) -> None:
    """Asimov counts with N_B = N_C = 1e4, N_D = 1e6 (prediction 100 +- 1.4) and 30 signal.

    With the control regions this large, the prediction is a nearly Gaussian auxiliary
    measurement, ``sigma_b^2 = P^2 (1/N_B + 1/N_C + 1/N_D + delta^2)``, which is the setting of
    Cowan's formula; the residual difference comes from its Poisson auxiliary measurement vs
    the Gaussian-constrained normsys, and grows with delta.
    """
    nb = nc = 1e4
    nd = 1e6
    pred, s = nb * nc / nd, 30.0
    res = discovery_test(build_abcd_spec((pred + s, nb, nc, nd), non_closure=delta))
    sigma_b = pred * math.sqrt(1 / nb + 1 / nc + 1 / nd + delta**2)
    assert res.mu_hat == pytest.approx(s, abs=5e-3)
    assert res.significance == pytest.approx(
        asimov_discovery_significance(s, pred, sigma_b), rel=rel
    )


def test_background_only_toys_reproduce_hand_q0() -> None:
    """Random counts with A = B C / D: every toy's Z and mu_hat equal the closed form."""
    lam = np.array([100.0, 400.0, 300.0, 1200.0])
    ws = load_workspace(build_abcd_spec(lam))
    rng = np.random.default_rng(7)
    toys = rng.poisson(lam, size=(12, 4)).astype(float)
    for toy in toys:
        res = discovery_test(ws, data=toy)
        # MIGRAD's tolerance: a small fraction of the HESSE error
        mu_hand = toy[0] - toy[1] * toy[2] / toy[3]
        assert res.mu_hat == pytest.approx(mu_hand, abs=1e-3 * res.mu_hat_error)
        assert res.q0 == pytest.approx(g_statistic(tuple(toy)), rel=1e-3, abs=1e-6)


@pytest.mark.slow
def test_calibration_background_only_p_values_uniform() -> None:
    """200 background-only toys: asymptotic p0 calibrated (KS p > 0.01).

    ``q0`` is one-sided: for ``mu_hat <= 0`` (probability 1/2) ``p0 = 0.5``; otherwise
    ``P(p0 <= alpha) = alpha``, so ``2 p0`` of the toys with ``mu_hat > 0`` is uniform on (0, 1).
    """
    lam = np.array([100.0, 400.0, 300.0, 1200.0])
    ws = load_workspace(build_abcd_spec(lam))
    rng = np.random.default_rng(12345)
    toys = rng.poisson(lam, size=(200, 4)).astype(float)
    res = [discovery_test(ws, data=toy) for toy in toys]
    p0 = np.array([r.p0 for r in res])
    up = np.array([r.mu_hat > 0 for r in res])
    assert np.all(p0[~up] == 0.5)
    assert stats.binomtest(int(up.sum()), up.size, 0.5).pvalue > 0.01
    ks = stats.kstest(2.0 * p0[up], "uniform")
    assert ks.pvalue > 0.01


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"signal_fractions": (0.0, 0.1, 0.1, 0.1)}, ConfigError, "f_A"),
        ({"signal_fractions": (0.5, 0.6, 0.1, 0.1)}, ConfigError, "sum"),
        ({"signal_fractions": (0.5, 0.1)}, DataFormatError, "4 entries"),
        ({"non_closure": 1.2}, ConfigError, "non_closure"),
        ({"non_closure": -0.1}, ConfigError, "non_closure"),
        ({"non_closure": "big"}, ConfigError, "non_closure"),
        ({"signal_yield": 0.0}, ConfigError, "signal_yield"),
        ({"mu_upper": -1.0}, ConfigError, "mu_upper"),
    ],
)
def test_bad_options(kwargs: dict, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        build_abcd_spec((130.0, 200.0, 300.0, 600.0), **kwargs)


@pytest.mark.parametrize(
    ("counts", "match"),
    [((1.0, 2.0, 3.0, 0.0), "region D"), ((1.0, -2.0, 3.0, 4.0), "region B"), ((1.0, 2.0), "4")],
)
def test_bad_counts(counts: tuple[float, ...], match: str) -> None:
    with pytest.raises(DataFormatError, match=match):
        build_abcd_spec(counts)
