"""bump_hunt alone: score cut -> sideband fit (fixed order or F-test) -> pyhf discovery test."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.data import Regions, generate_toy
from anomsearch.exceptions import ConfigError
from anomsearch.search.bump_hunt import DiscoveryOptions, aligned_bin_edges, bump_hunt
from anomsearch.stats import load_workspace

REGIONS = Regions(3.3, 3.7, 2.9, 4.1)
OPTIONS = {"regions": REGIONS, "fit_range": (2.7, 5.5), "bin_width": 0.1}


@pytest.fixture(scope="module")
def toy():
    return generate_toy(300_000, 600, seed=7)


def _oracle_scores(events, seed=0):
    """A score that knows the truth up to noise: signal high, background random."""
    rng = np.random.default_rng(seed)
    return rng.random(len(events)) + 0.8 * events.label


def test_random_score_finds_nothing(toy):
    scores = np.random.default_rng(1).random(len(toy))
    result = bump_hunt(toy.mjj, scores, efficiency=0.05, n_params=4, **OPTIONS)
    assert result.discovery.significance < 3
    assert result.function_choice is None
    assert result.selection.achieved_efficiency == pytest.approx(0.05, abs=0.002)


def test_good_score_finds_the_signal(toy):
    no_cut = bump_hunt(toy.mjj, _oracle_scores(toy), efficiency=1.0, n_params=4, **OPTIONS)
    cut = bump_hunt(toy.mjj, _oracle_scores(toy), efficiency=0.05, n_params=4, **OPTIONS)
    assert cut.discovery.significance > no_cut.discovery.significance + 3
    assert cut.discovery.significance > 5


def test_auto_order_adds_the_function_choice_systematic(toy):
    result = bump_hunt(toy.mjj, _oracle_scores(toy), efficiency=0.2, n_params="auto", **OPTIONS)
    choice = result.function_choice
    assert choice is not None and result.fit.n_params == choice.n_params in (3, 4, 5)
    modifiers = {m["name"] for m in result.spec["channels"][0]["samples"][1]["modifiers"]}
    if choice.alternative is not None:
        assert "bkg_function_choice" in modifiers
    load_workspace(result.spec)
    assert np.isfinite(result.discovery.significance)


def test_bad_order_and_binning(toy):
    with pytest.raises(ConfigError, match="n_params must be 3, 4, 5 or 'auto'"):
        bump_hunt(toy.mjj, _oracle_scores(toy), efficiency=0.1, n_params=7, **OPTIONS)
    with pytest.raises(ConfigError, match="does not divide the signal region"):
        aligned_bin_edges(signal_region=(3.3, 3.7), fit_range=(2.7, 5.5), bin_width=0.15)
    with pytest.raises(ConfigError, match="leaves no whole sideband bin"):
        aligned_bin_edges(signal_region=(3.3, 3.7), fit_range=(3.25, 5.5), bin_width=0.1)


def test_common_systematics_enter_the_model(toy):
    """A signal-only normsys is degenerate with mu (Z unchanged, mu_hat error wider); a
    background normsys lowers Z."""
    from anomsearch.stats import Systematic

    scores = _oracle_scores(toy)
    args = {"efficiency": 0.05, "n_params": 4, **OPTIONS}
    plain = bump_hunt(toy.mjj, scores, **args).discovery
    lumi = bump_hunt(
        toy.mjj, scores, systematics=[Systematic("lumi", "signal", 0.05)], **args
    ).discovery
    bkg = bump_hunt(
        toy.mjj, scores, systematics=[Systematic("bkg_norm", "background", 0.05)], **args
    )
    assert lumi.significance == pytest.approx(plain.significance, rel=1e-3)
    assert lumi.mu_hat_error > plain.mu_hat_error
    assert bkg.discovery.significance < plain.significance - 0.1
    modifiers = {m["name"] for s in bkg.spec["channels"][0]["samples"] for m in s["modifiers"]}
    assert "bkg_norm" in modifiers


def test_auto_calculator_uses_toys_where_the_sr_background_is_small(toy):
    """300k events, a 0.02% cut: ~20 background events left in the SR. ``auto`` switches to
    toy-based p-values below the threshold, the result says so, and a rerun repeats them."""
    scores = np.random.default_rng(3).random(len(toy))
    opts = {"efficiency": 0.0003, "n_params": 3, **OPTIONS}
    asymptotic = bump_hunt(toy.mjj, scores, **opts)
    expected = float(asymptotic.prediction.expected.sum())
    assert asymptotic.discovery.calculator == "asymptotics"
    auto = DiscoveryOptions("auto", n_toys=200, toys_below_background=expected + 1)
    with_toys = bump_hunt(toy.mjj, scores, test_options=auto, **opts)
    assert with_toys.discovery.calculator == "toys"
    assert with_toys.discovery.p0 >= 1 / 201
    assert with_toys.discovery.mu_hat == pytest.approx(asymptotic.discovery.mu_hat)
    again = bump_hunt(toy.mjj, scores, test_options=auto, **opts)
    assert again.discovery.p0 == with_toys.discovery.p0
    above = DiscoveryOptions("auto", n_toys=200, toys_below_background=expected - 1)
    assert bump_hunt(toy.mjj, scores, test_options=above, **opts).discovery.calculator == (
        "asymptotics"
    )
