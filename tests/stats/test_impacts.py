"""Tests of nuisance-parameter pulls, constraints and impacts against hand computations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.impacts import NuisanceImpact, nuisance_impacts, plot_impacts
from anomsearch.stats.inference import counting_experiment_spec


def _one_bin(s: float, b: float, n: float) -> dict[str, Any]:
    return counting_experiment_spec(s, b, observed=n, mu_upper=100.0)


def _by_name(impacts: list[NuisanceImpact]) -> dict[str, NuisanceImpact]:
    return {imp.name: imp for imp in impacts}


def test_normsys_on_background_single_bin() -> None:
    """n = mu s + b kappa^alpha: mu saturates the bin, so alpha has pull 0 and constraint 1;
    fixing alpha at +-1 scales b by 1 +- delta, so mu_hat moves by -+ b delta / s exactly."""
    s, b, n, delta = 10.0, 100.0, 130.0, 0.1
    spec = _one_bin(s, b, n)
    spec["channels"][0]["samples"][1]["modifiers"].append(
        {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1 + delta, "lo": 1 - delta}}
    )
    (imp,) = nuisance_impacts(spec)
    assert imp.name == "bkg_norm" and imp.pdf_type == "normal"
    assert imp.nominal == 0.0 and imp.prefit_error == 1.0
    assert imp.pull == pytest.approx(0.0, abs=1e-3)
    assert imp.constraint == pytest.approx(1.0, rel=1e-3)
    assert imp.prefit_impact_up == pytest.approx(-b * delta / s, rel=1e-4)
    assert imp.prefit_impact_down == pytest.approx(b * delta / s, rel=1e-4)
    # alpha_hat = 0 and sigma_postfit = 1: post-fit impacts equal the pre-fit ones
    assert imp.postfit_impact_up == pytest.approx(imp.prefit_impact_up, rel=2e-3)
    assert imp.postfit_impact_down == pytest.approx(imp.prefit_impact_down, rel=2e-3)


def test_normsys_on_signal_impact_is_mu_hat_times_relative_size() -> None:
    """n = mu s kappa(alpha) + b: with alpha fixed at +-1, mu_hat' = (n - b) / (s (1 +- delta))
    = mu_hat / (1 +- delta), so the impact is mu_hat (1 / (1 +- delta) - 1)
    = -+ mu_hat delta + O(delta^2).
    """
    s, b, n, delta = 10.0, 100.0, 120.0, 0.1
    mu_hat = (n - b) / s
    spec = _one_bin(s, b, n)
    spec["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "sig_norm", "type": "normsys", "data": {"hi": 1 + delta, "lo": 1 - delta}}
    )
    (imp,) = nuisance_impacts(spec)
    assert imp.prefit_impact_up == pytest.approx(mu_hat * (1 / (1 + delta) - 1), rel=1e-4)
    assert imp.prefit_impact_down == pytest.approx(mu_hat * (1 / (1 - delta) - 1), rel=1e-4)
    # first order: -+ mu_hat * delta, the remainder is mu_hat delta^2 / (1 +- delta)
    for impact, sign in ((imp.prefit_impact_up, -1.0), (imp.prefit_impact_down, 1.0)):
        assert abs(impact - sign * mu_hat * delta) <= 1.2 * mu_hat * delta**2
    assert imp.pull == pytest.approx(0.0, abs=1e-3)
    assert imp.constraint == pytest.approx(1.0, rel=1e-3)


def _control_region_spec() -> dict[str, Any]:
    """SR: mu * 10 + 100 (1 + 0.1 alpha), n = 130; CR: 1000 (1 + 0.05 alpha), n = 1060.

    A symmetric histosys is exactly linear in alpha (pyhf's code4p), so everything is analytic.
    """
    return {
        "version": "1.0.0",
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "signal",
                        "data": [10.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": [100.0],
                        "modifiers": [
                            {
                                "name": "bkg_shape",
                                "type": "histosys",
                                "data": {"hi_data": [110.0], "lo_data": [90.0]},
                            }
                        ],
                    },
                ],
            },
            {
                "name": "CR",
                "samples": [
                    {
                        "name": "background",
                        "data": [1000.0],
                        "modifiers": [
                            {
                                "name": "bkg_shape",
                                "type": "histosys",
                                "data": {"hi_data": [1050.0], "lo_data": [950.0]},
                            }
                        ],
                    }
                ],
            },
        ],
        "observations": [{"name": "SR", "data": [130.0]}, {"name": "CR", "data": [1060.0]}],
        "measurements": [
            {
                "name": "cr",
                "config": {
                    "poi": "mu",
                    "parameters": [{"name": "mu", "bounds": [[0.0, 50.0]], "inits": [1.0]}],
                },
            }
        ],
    }


def test_pull_constraint_and_impacts_match_hand_computation() -> None:
    """The SR is saturated by mu, so alpha is fitted by the CR and its constraint alone:
    d/d alpha [n ln(b (1 + d alpha)) - b (1 + d alpha) - alpha^2 / 2] = 0 gives
    d alpha^2 + (1 + b d^2) alpha + b d - n d = 0, and the post-fit variance is
    1 / (1 + n d^2 / (1 + d alpha)^2). With alpha fixed at v, mu_hat(v) = (130 - 100 (1 + 0.1 v))
    / 10, so the impact is -(v - alpha_hat)."""
    b, d, n = 1000.0, 0.05, 1060.0
    alpha_hat = (-(1 + b * d**2) + math.sqrt((1 + b * d**2) ** 2 - 4 * d * (b * d - n * d))) / (
        2 * d
    )
    sigma_post = 1.0 / math.sqrt(1.0 + n * d**2 / (1 + d * alpha_hat) ** 2)
    (imp,) = nuisance_impacts(_control_region_spec())
    assert imp.name == "bkg_shape"
    assert imp.value == pytest.approx(alpha_hat, abs=2e-4)
    assert imp.pull == pytest.approx(alpha_hat, abs=2e-4)  # theta_0 = 0, sigma_prefit = 1
    assert imp.error == pytest.approx(sigma_post, rel=2e-3)
    assert imp.constraint == pytest.approx(sigma_post, rel=2e-3)
    assert imp.constraint < 0.6  # the CR constrains it
    assert imp.prefit_impact_up == pytest.approx(-(1.0 - alpha_hat), abs=1e-3)
    assert imp.prefit_impact_down == pytest.approx(1.0 + alpha_hat, abs=1e-3)
    assert imp.postfit_impact_up == pytest.approx(-sigma_post, abs=1e-3)
    assert imp.postfit_impact_down == pytest.approx(sigma_post, abs=1e-3)
    assert imp.postfit_impact == pytest.approx(sigma_post, abs=1e-3)
    assert imp.prefit_impact == pytest.approx(1.0 + alpha_hat, abs=1e-3)
    # alternative data: the same machinery, another answer (alpha_hat solves the same equation)
    (alt,) = nuisance_impacts(
        _control_region_spec(), data=[1000.0, 130.0]
    )  # pyhf sorts channels: CR, SR
    n2 = 1000.0
    alpha2 = (-(1 + b * d**2) + math.sqrt((1 + b * d**2) ** 2 - 4 * d * (b * d - n2 * d))) / (2 * d)
    assert alpha2 == 0.0
    assert alt.pull == pytest.approx(alpha2, abs=2e-4)


def _shapesys_spec() -> dict[str, Any]:
    """SR counting bin (with a 10% staterror) plus a two-bin CR with a 10% shapesys."""
    spec = _one_bin(10.0, 100.0, 110.0)
    spec["channels"][0]["samples"][1]["modifiers"] = [
        {"name": "sr_stat", "type": "staterror", "data": [10.0]},
        {
            "name": "null_effect",
            "type": "histosys",
            "data": {"hi_data": [100.0], "lo_data": [100.0]},
        },
    ]
    spec["channels"].append(
        {
            "name": "CR",
            "samples": [
                {
                    "name": "background",
                    "data": [10000.0, 400.0],
                    "modifiers": [{"name": "cr_stat", "type": "shapesys", "data": [1000.0, 40.0]}],
                }
            ],
        }
    )
    spec["observations"].append({"name": "CR", "data": [10000.0, 400.0]})
    return spec


def test_multibin_poisson_and_normal_widths_and_constraints() -> None:
    """shapesys: Poisson constraint with tau = (b / sigma_b)^2 = 100, prefit width 1/sqrt(tau);
    on Asimov CR data gamma_hat = 1 and the post-fit variance is 1 / (tau + n): the data
    constrain a high-count bin (constraint sqrt(100 / 10100)) more than a low-count bin.
    staterror in the saturated SR: width 0.1, pull 0, constraint 1, impact -+ 100 * 0.1 / 10.
    A histosys with hi = lo = nominal has no effect at all."""
    impacts = nuisance_impacts(_shapesys_spec())
    by = _by_name(impacts)
    assert set(by) == {"sr_stat[0]", "null_effect", "cr_stat[0]", "cr_stat[1]"}
    for k, n in ((0, 10000.0), (1, 400.0)):
        imp = by[f"cr_stat[{k}]"]
        assert imp.pdf_type == "poisson"
        assert imp.nominal == 1.0
        assert imp.prefit_error == pytest.approx(0.1, rel=1e-9)
        assert imp.pull == pytest.approx(0.0, abs=1e-3)
        assert imp.constraint == pytest.approx(math.sqrt(100.0 / (100.0 + n)), rel=3e-3)
        # the CR does not talk to mu
        assert imp.postfit_impact == pytest.approx(0.0, abs=1e-4)
        assert imp.prefit_impact == pytest.approx(0.0, abs=1e-4)
    assert by["cr_stat[0]"].constraint < by["cr_stat[1]"].constraint < 1.0
    stat = by["sr_stat[0]"]
    assert stat.pdf_type == "normal"
    assert (stat.nominal, stat.prefit_error) == (1.0, pytest.approx(0.1))
    assert stat.pull == pytest.approx(0.0, abs=1e-2)
    assert stat.constraint == pytest.approx(1.0, rel=3e-3)
    assert stat.prefit_impact_up == pytest.approx(-1.0, rel=1e-3)
    assert stat.prefit_impact_down == pytest.approx(1.0, rel=1e-3)
    null = by["null_effect"]
    assert null.pull == pytest.approx(0.0, abs=1e-3)
    assert null.constraint == pytest.approx(1.0, rel=1e-3)
    for value in (null.prefit_impact_up, null.prefit_impact_down, null.postfit_impact_up):
        assert value == pytest.approx(0.0, abs=1e-5)
    # ranking: the staterror first; the zero-impact ties keep the model's parameter order
    assert impacts[0].name == "sr_stat[0]"
    sizes = [imp.postfit_impact for imp in impacts]
    assert sizes == sorted(sizes, reverse=True)
    assert [imp.name for imp in impacts] == [imp.name for imp in nuisance_impacts(_shapesys_spec())]


def test_no_nuisance_parameters_and_bad_input() -> None:
    assert nuisance_impacts(_one_bin(10.0, 100.0, 110.0)) == []
    with pytest.raises(DataFormatError):
        nuisance_impacts(_one_bin(10.0, 100.0, 110.0), data=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError):
        nuisance_impacts({"channels": []})


def test_plot_impacts(tmp_path) -> None:
    impacts = nuisance_impacts(_shapesys_spec())
    out = plot_impacts(impacts, tmp_path / "impacts.png", top=3)
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ConfigError, match=r"plot_impacts\.top"):
        plot_impacts(impacts, tmp_path / "x.png", top=0)
    with pytest.raises(ConfigError, match=r"plot_impacts\.impacts"):
        plot_impacts([], tmp_path / "x.png")
    np.testing.assert_equal(len(impacts), 4)
