r"""Tests of the common normalisation systematics against hand-computed significances.

Counting model ``n ~ Pois((mu s + b) f(alpha)) x N(0 | alpha, 1)`` (normsys on background, or on
both samples). Hand computation, independent of pyhf: with ``mu`` free the unconditional fit is
saturated (``alpha = 0``, ``mu s + b = n``); at ``mu = 0``

``q0 = min_alpha {2 [b f(alpha) - n ln(b f(alpha))] + alpha^2} - 2 (n - n ln n)``

with HistFactory's normsys interpolation (code 4), which for ``|alpha| >= 1`` is exactly the
exponential ``f(alpha) = (1 + delta)^alpha``. For the sizes tested the profiled ``alpha`` lies
beyond 1, so that form is exact. A normsys on the signal alone is degenerate with ``mu``
(``mu (1 + delta alpha)`` is one free number): ``q0`` is unchanged and only the error of ``mu_hat``
grows, to first order ``sqrt(n / s^2 + (mu_hat delta)^2)``.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pyhf
import pytest
from scipy.optimize import minimize_scalar

from anomsearch.background.sideband_fit import BackgroundPrediction
from anomsearch.exceptions import ConfigError
from anomsearch.stats.abcd_model import build_abcd_spec
from anomsearch.stats.bumphunt_model import build_bumphunt_spec
from anomsearch.stats.inference import counting_experiment_spec, discovery_test
from anomsearch.stats.systematics import (
    Systematic,
    add_common_systematics,
    ensemble_spread,
    luminosity,
    signal_efficiency,
    systematics_from_config,
)

_RESOLVER = r"jsonschema\.RefResolver is deprecated"
S, B, N = 10.0, 100.0, 130.0


def hand_q0_background_normsys(n: float, b: float, delta: float) -> tuple[float, float]:
    """``q0`` and the profiled ``alpha`` at ``mu = 0`` with ``f = (1 + delta)^alpha``."""

    def twice_nll(alpha: float) -> float:
        lam = b * (1.0 + delta) ** alpha
        return 2.0 * (lam - n * math.log(lam)) + alpha**2

    best = minimize_scalar(
        twice_nll, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-10}
    )
    return float(best.fun) - 2.0 * (n - n * math.log(n)), float(best.x)


def _plain_model(spec: dict) -> pyhf.pdf.Model:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_RESOLVER, category=DeprecationWarning)
        return pyhf.Workspace(spec).model()


def test_signal_only_normsys_leaves_z_unchanged() -> None:
    base = counting_experiment_spec(S, B, observed=N)
    r0 = discovery_test(base)
    assert r0.significance == pytest.approx(2.866131, abs=1e-5)  # pinned, = hand formula below
    assert r0.q0 == pytest.approx(2 * (N * math.log(N / B) - (N - B)), rel=1e-6)
    for delta in (0.02, 0.05):
        r = discovery_test(add_common_systematics(base, [luminosity(delta)]))
        assert r.significance == pytest.approx(r0.significance, rel=1e-6)
        assert r.mu_hat == pytest.approx(3.0, abs=1e-3)
        expected_err = math.sqrt(N / S**2 + (r.mu_hat * delta) ** 2)
        assert r.mu_hat_error == pytest.approx(expected_err, rel=2e-3)
        assert r.mu_hat_error > r0.mu_hat_error


@pytest.mark.parametrize("delta", [0.05, 0.1])
def test_background_normsys_lowers_z_as_computed_by_hand(delta: float) -> None:
    base = counting_experiment_spec(S, B, observed=N)
    z0 = discovery_test(base).significance
    q0_hand, alpha = hand_q0_background_normsys(N, B, delta)
    assert alpha > 1.0  # exponential branch of the interpolation: the hand model is exact
    bkg = discovery_test(add_common_systematics(base, [ensemble_spread(delta)]))
    assert bkg.significance == pytest.approx(math.sqrt(q0_hand), rel=1e-5)
    assert bkg.significance < z0
    # luminosity on both samples (an MC-predicted background): its signal part is absorbed by mu
    both = discovery_test(add_common_systematics(base, [luminosity(delta)._replace(sample="both")]))
    assert both.significance == pytest.approx(bkg.significance, rel=1e-5)


def test_small_background_normsys_close_to_exponential() -> None:
    """delta = 2%: profiled alpha ~ 0.57, inside the polynomial branch (close to exponential)."""
    base = counting_experiment_spec(S, B, observed=N)
    q0_hand, alpha = hand_q0_background_normsys(N, B, 0.02)
    assert 0.0 < alpha < 1.0
    r = discovery_test(add_common_systematics(base, [Systematic("bkg_norm", "background", 0.02)]))
    assert r.significance == pytest.approx(math.sqrt(q0_hand), rel=1e-3)


def test_abcd_common_systematics() -> None:
    counts = (130.0, 200.0, 300.0, 600.0)
    z0 = discovery_test(build_abcd_spec(counts)).significance
    systs = [luminosity(0.05), signal_efficiency(0.1), ensemble_spread(0.1)]
    spec = build_abcd_spec(counts, systematics=systs)
    model = _plain_model(spec)
    assert {"lumi", "signal_efficiency", "ensemble_spread"} <= set(model.config.par_names)
    # signal terms are absorbed by mu, a background normalisation common to A-D by mu_b
    assert discovery_test(spec).significance == pytest.approx(z0, rel=1e-5)
    # the same spread on the background of A only is the ABCD non-closure
    only_a = build_abcd_spec(counts, systematics=[ensemble_spread(0.1)._replace(channels=("A",))])
    z_a = discovery_test(only_a).significance
    assert z_a == pytest.approx(
        discovery_test(build_abcd_spec(counts, non_closure=0.1)).significance
    )
    assert z_a < z0 - 0.2


def test_bumphunt_spec_accepts_systematics() -> None:
    bkg = BackgroundPrediction(
        np.array([3.3, 3.5, 3.7]),
        np.array([100.0, 80.0]),
        np.diag([4.0, 3.0]),
        np.array([2.0, 1.7]),
        np.array([[[98.0, 78.5], [102.0, 81.5]]]),
        np.array([1.0]),
    )
    spec = build_bumphunt_spec(
        observed=np.array([110.0, 85.0]), background=bkg, signal_template=np.array([0.5, 0.5])
    )
    before = copy.deepcopy(spec)
    new = add_common_systematics(spec, [luminosity(), ensemble_spread(0.03, sample="both")])
    assert spec == before  # input not modified
    model = _plain_model(new)
    assert {"lumi", "ensemble_spread", "bkg_fit_eig0"} <= set(model.config.par_names)
    sig_mods = [m["name"] for m in new["channels"][0]["samples"][0]["modifiers"]]
    bkg_mods = [m["name"] for m in new["channels"][0]["samples"][1]["modifiers"]]
    assert sig_mods == ["mu", "lumi", "ensemble_spread"]
    assert bkg_mods == ["bkg_fit_eig0", "ensemble_spread"]
    lumi = new["channels"][0]["samples"][0]["modifiers"][1]
    assert lumi["data"] == {"hi": 1.017, "lo": 0.983}
    assert discovery_test(new).significance < discovery_test(spec).significance


def test_asymmetric_sizes() -> None:
    spec = add_common_systematics(
        counting_experiment_spec(S, B), [Systematic("eff", "signal", 0.1, 0.05)]
    )
    assert spec["channels"][0]["samples"][0]["modifiers"][-1]["data"] == {"hi": 1.1, "lo": 0.95}


def test_systematics_from_config() -> None:
    systs = systematics_from_config(
        [
            {"name": "lumi", "sample": "signal", "up": 0.017},
            {"name": "spread", "sample": "background", "up": 0.1, "down": 0.08, "channels": ["A"]},
            {"name": "eff", "sample": "signal", "up": 0.2, "kind": "normsys"},
        ]
    )
    assert systs[0] == Systematic("lumi", "signal", 0.017, 0.017, None)
    assert systs[1] == Systematic("spread", "background", 0.1, 0.08, ("A",))
    assert systs[2].kind == "normsys"


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([{"name": "lumi", "sample": "signal"}], r"stats\.systematics\[0\]\.up is required"),
        (
            [{"name": "a", "sample": "signal", "up": 0.1}, {"name": "b", "sample": "x", "up": 0.1}],
            r"stats\.systematics\[1\]\.sample",
        ),
        ([{"name": "1x", "sample": "signal", "up": 0.1}], r"systematics\[0\]\.name"),
        ([{"name": "a", "sample": "signal", "up": -0.1}], r"systematics\[0\]\.up"),
        ([{"name": "a", "sample": "signal", "up": "big"}], r"systematics\[0\]\.up"),
        ([{"name": "a", "sample": "signal", "up": 0.1, "down": 1.0}], r"systematics\[0\]\.down"),
        ([{"name": "a", "sample": "signal", "up": 0.0}], r"systematics\[0\]\.up"),
        ([{"name": "a", "sample": "signal", "up": 0.1, "kind": "x"}], r"systematics\[0\]\.kind"),
        ([{"name": "a", "sample": "signal", "up": 0.1, "type": "x"}], r"systematics\[0\]\.type"),
        ([{"name": "a", "sample": "signal", "up": 0.1, "channels": []}], r"\[0\]\.channels"),
        (
            [
                {"name": "a", "sample": "signal", "up": 0.1},
                {"name": "a", "sample": "both", "up": 0.5},
            ],
            r"systematics\[1\]\.name 'a' repeats",
        ),
        ({"name": "a"}, r"stats\.systematics must be a list"),
        (["lumi"], r"stats\.systematics\[0\] must be a mapping"),
    ],
)
def test_config_errors_name_the_field(entries: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        systematics_from_config(entries)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("systs", "match"),
    [
        ([Systematic("mu", "signal", 0.1)], r"systematics\[0\]\.name 'mu' is already a modifier"),
        ([luminosity(), Systematic("x", "signal", 0.1, channels=("Z",))], r"\[1\]\.channels"),
        ([Systematic("x", "signal", math.nan)], r"systematics\[0\]\.up"),
        (luminosity(), "not a single one"),
    ],
)
def test_add_common_systematics_errors(systs: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        add_common_systematics(counting_experiment_spec(S, B), systs)  # type: ignore[arg-type]


def test_missing_sample_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"systematics\[0\]\.sample: no sample named 'sig'"):
        add_common_systematics(counting_experiment_spec(S, B), [luminosity()], signal_sample="sig")
