"""Tests of the signal-count and cross-section limits: pyhf's documented example, n = 0."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from anomsearch.exceptions import ConfigError
from anomsearch.stats.inference import counting_experiment_spec
from anomsearch.stats.signal_limits import (
    SignalCountLimit,
    signal_count_upper_limit,
    signal_yield_at_mu1,
)

# pyhf 0.7.6 docstring of pyhf.infer.intervals.upper_limits.toms748_scan: model
# uncorrelated_background(signal=[12, 11], bkg=[50, 52], bkg_uncertainty=[3, 7]), observations
# [51, 48], 95% CL, root finding with rtol 1e-4.
PYHF_DOC_OBSERVED_MU = 1.01156939
PYHF_DOC_EXPECTED_MU = [0.5600747, 0.75702605, 1.06234693, 1.50116923, 2.05078912]
# asymptotic CLs limit for n = 0 observed, b = 1e-3, measured with this code (pyhf 0.7.6)
N0_ASYMPTOTIC_B1EM3 = 1.9233


def _pyhf_doc_spec() -> dict[str, Any]:
    """The spec pyhf.simplemodels.uncorrelated_background builds, written out."""
    return {
        "version": "1.0.0",
        "channels": [
            {
                "name": "singlechannel",
                "samples": [
                    {
                        "name": "signal",
                        "data": [12.0, 11.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": [50.0, 52.0],
                        "modifiers": [
                            {"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
    }


def test_pyhf_documented_example_in_events_and_cross_section() -> None:
    """mu counts multiples of the 12 + 11 = 23 signal events: N_up = 23 mu_up; sigma_up = N/L."""
    spec = _pyhf_doc_spec()
    assert signal_yield_at_mu1(spec) == pytest.approx(23.0)
    lim = signal_count_upper_limit(spec, luminosity=139.0)
    assert isinstance(lim, SignalCountLimit)
    assert lim.signal_events_at_mu1 == pytest.approx(23.0)
    assert lim.mu_limit.observed == pytest.approx(PYHF_DOC_OBSERVED_MU, rel=1e-3)
    assert lim.observed_events == pytest.approx(23.0 * PYHF_DOC_OBSERVED_MU, rel=1e-3)
    np.testing.assert_allclose(
        lim.expected_events, 23.0 * np.array(PYHF_DOC_EXPECTED_MU), rtol=2e-3
    )
    assert lim.luminosity == 139.0
    assert lim.observed_xsec == pytest.approx(lim.observed_events / 139.0, rel=1e-12)
    np.testing.assert_allclose(lim.expected_xsec, lim.expected_events / 139.0, rtol=1e-12)
    # an explicit yield (e.g. 0.8 of the template after a further efficiency) rescales linearly
    scaled = signal_count_upper_limit(spec, signal_events_at_mu1=18.4, scan=[0.95, 1.05])
    assert scaled.observed_events == pytest.approx(18.4 * scaled.mu_limit.observed, rel=1e-12)
    assert scaled.observed_events == pytest.approx(18.4 * lim.mu_limit.observed, rel=1e-2)
    assert math.isnan(scaled.observed_xsec) and np.all(np.isnan(scaled.expected_xsec))


def _asymptotic_n0_limit(b: float, cl: float = 0.95) -> float:
    """Hand computation of the asymptotic qtilde CLs limit (arXiv:1007.1727 eqs. 65-66) for n = 0.

    With n = 0, mu_hat is at its bound 0 and qtilde = 2 s; the background-only Asimov data n = b
    give q_A = 2 (s - b ln(1 + s / b)) < qtilde, so CLs+b = Phi(-(q + q_A) / (2 sqrt q_A)) and
    CLb = Phi(-(q - q_A) / (2 sqrt q_A)).
    """

    def cls(s: float) -> float:
        q = 2.0 * s
        q_a = 2.0 * (s - b * math.log1p(s / b))
        w = 2.0 * math.sqrt(q_a)
        return float(norm.cdf(-(q + q_a) / w) / norm.cdf(-(q - q_a) / w)) - (1.0 - cl)

    return float(brentq(cls, 0.5, 10.0, xtol=1e-10))


def test_zero_observed_small_background_asymptotic_limit() -> None:
    """pyhf's asymptotic CLs for n = 0 is ~1.92 events (the b -> 0 limit Phi^-1(0.975)^2 / 2),
    not the exact 3.00 of the Poisson CLs: the hand computation and the pinned value agree."""
    b = 1e-3
    spec = counting_experiment_spec(1.0, b, observed=0.0, mu_upper=50.0)
    lim = signal_count_upper_limit(spec, luminosity=1.0)
    assert lim.observed_events == pytest.approx(_asymptotic_n0_limit(b), rel=1e-3)
    assert lim.observed_events == pytest.approx(N0_ASYMPTOTIC_B1EM3, abs=2e-3)
    assert lim.observed_events == pytest.approx(norm.ppf(0.975) ** 2 / 2, abs=5e-3)
    assert lim.observed_events < -math.log(0.05)  # asymptotics undercover at n = 0
    assert lim.observed_xsec == pytest.approx(lim.observed_events)


@pytest.mark.slow
def test_zero_observed_toys_reproduce_poisson_cls() -> None:
    """With toys, CLs = P(n = 0 | s + b) / P(n = 0 | b) = e^-s exactly (n = 0 is the most
    background-like outcome), so the classical 3.00-event limit is bracketed by the scan."""
    spec = counting_experiment_spec(1.0, 1e-3, observed=0.0, mu_upper=50.0)
    n_toys = 400
    lim = signal_count_upper_limit(spec, scan=[2.5, 3.5], calculator="toys", n_toys=n_toys, seed=11)
    expected = np.exp(-np.array([2.5, 3.5]))
    tol = 4.0 * np.sqrt(expected * (1 - expected) / n_toys)
    assert np.all(np.abs(lim.mu_limit.cls_observed - expected) < tol)
    assert 2.5 < lim.observed_events < 3.5


def test_bad_options() -> None:
    spec = counting_experiment_spec(5.0, 10.0)
    with pytest.raises(ConfigError, match=r"signal_count_upper_limit\.luminosity"):
        signal_count_upper_limit(spec, luminosity=0.0)
    with pytest.raises(ConfigError, match=r"signal_count_upper_limit\.signal_events_at_mu1"):
        signal_count_upper_limit(spec, signal_events_at_mu1=-1.0)
    with pytest.raises(ConfigError, match=r"signal_count_upper_limit\.signal_events_at_mu1"):
        signal_count_upper_limit(spec, signal_events_at_mu1="many")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cl"):
        signal_count_upper_limit(spec, cl=1.5)
