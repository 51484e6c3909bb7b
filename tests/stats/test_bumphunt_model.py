"""Tests of the bump-hunt pyhf model built from a sideband fit."""

from __future__ import annotations

import warnings

import numpy as np
import pyhf
import pytest
from scipy.stats import norm

from anomsearch.background import (
    BackgroundPrediction,
    dijet_bin_integrals,
    fit_binned_sideband,
    predict_background,
)
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats import (
    asimov_discovery_significance,
    build_bumphunt_spec,
    discovery_test,
    gaussian_signal_template,
    load_workspace,
)

EDGES = np.linspace(2.6, 6.5, 40)
SR = (3.3, 3.7)


@pytest.fixture(scope="module")
def prediction() -> BackgroundPrediction:
    truth = np.array([0.0, 10.0, 5.0, 0.0])
    truth[0] = np.log(1e6 / dijet_bin_integrals(EDGES, truth).sum())
    counts = np.random.default_rng(21).poisson(dijet_bin_integrals(EDGES, truth)).astype(float)
    fit = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=4)
    return predict_background(fit)


def test_gaussian_template() -> None:
    edges = np.linspace(3.3, 3.7, 5)
    t = gaussian_signal_template(edges, mass=3.5, width=0.05)
    assert t.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(t, t[::-1], rtol=1e-12)
    raw = np.diff(norm.cdf(edges, 3.5, 0.05))
    np.testing.assert_allclose(t, raw / raw.sum(), rtol=1e-12)
    off = gaussian_signal_template(edges, mass=3.45, width=0.05)
    assert np.argmax(off) == 1
    with pytest.raises(ConfigError, match="no probability"):
        gaussian_signal_template(edges, mass=6.0, width=0.01)
    with pytest.raises(ConfigError):
        gaussian_signal_template(edges, mass=3.5, width=0.0)
    with pytest.raises(ConfigError):
        gaussian_signal_template(edges[::-1], mass=3.5, width=0.1)


def test_spec_validates_in_pyhf(prediction: BackgroundPrediction) -> None:
    tmpl = gaussian_signal_template(prediction.bin_edges, mass=3.5, width=0.1)
    obs = np.round(prediction.expected)
    spec = build_bumphunt_spec(observed=obs, background=prediction, signal_template=tmpl)
    with warnings.catch_warnings():  # pyhf 0.7.6 uses jsonschema's deprecated RefResolver
        warnings.filterwarnings("ignore", "jsonschema.RefResolver", DeprecationWarning)
        ws = pyhf.Workspace(spec)
        model = ws.model()
    assert load_workspace(spec).measurement_names == ["bumphunt"]
    assert model.config.poi_name == "mu"
    assert model.config.channels == ["SR"]
    assert set(model.config.parameters) == {"mu"} | {f"bkg_fit_eig{i}" for i in range(4)}
    assert model.config.suggested_bounds()[model.config.poi_index] == [
        0.0,
        max(10.0, 5 * obs.sum()),
    ]
    np.testing.assert_allclose(ws.data(model, include_auxdata=False), obs)
    # at mu = 1 and all nuisances 0 the expectation is background + template
    np.testing.assert_allclose(
        model.expected_actualdata(model.config.suggested_init()), prediction.expected + tmpl
    )
    # +1 on a nuisance parameter reproduces the up variation
    pars = np.array(model.config.suggested_init())
    pars[model.config.poi_index] = 0.0
    pars[model.config.par_slice("bkg_fit_eig1")] = 1.0
    np.testing.assert_allclose(
        model.expected_actualdata(pars), prediction.variations[1, 1], rtol=1e-10
    )


def test_negligible_variations_are_skipped() -> None:
    nominal = np.array([100.0, 50.0])
    variations = np.array(
        [[[95.0, 48.0], [105.0, 52.0]], [nominal * (1 - 1e-9), nominal * (1 + 1e-9)]]
    )
    pred = BackgroundPrediction(
        np.array([3.3, 3.5, 3.7]), nominal, np.eye(2), np.ones(2), variations, np.ones(2)
    )
    spec = build_bumphunt_spec(
        observed=nominal, background=pred, signal_template=np.array([0.5, 0.5])
    )
    names = [m["name"] for m in spec["channels"][0]["samples"][1]["modifiers"]]
    assert names == ["bkg_fit_eig0"]
    load_workspace(spec)


def test_injected_signal_is_found(prediction: BackgroundPrediction) -> None:
    tmpl = gaussian_signal_template(prediction.bin_edges, mass=3.5, width=0.1)
    n_sig = 1000.0
    s_bins = n_sig * tmpl
    spec = build_bumphunt_spec(
        observed=prediction.expected + s_bins, background=prediction, signal_template=tmpl
    )
    res = discovery_test(spec)
    b = prediction.expected
    z_no_syst = np.sqrt(np.sum(2 * ((s_bins + b) * np.log1p(s_bins / b) - s_bins)))
    z_counting = asimov_discovery_significance(n_sig, b.sum(), np.sqrt(prediction.covariance.sum()))
    # the fit uncertainty lowers Z below the stat-only value; the shape keeps it above counting
    assert z_counting < res.significance < z_no_syst
    assert res.p0 == pytest.approx(norm.sf(res.significance), rel=1e-6)
    assert res.mu_hat == pytest.approx(n_sig, rel=1e-3)
    assert abs(res.mu_hat - n_sig) < res.mu_hat_error
    # mu_hat error: at least the Poisson error of the signal count, below stat (+) full fit error
    assert (
        np.sqrt(b.sum()) < res.mu_hat_error < np.sqrt(b.sum() + prediction.covariance.sum()) * 1.05
    )


def test_fluctuated_data_recovers_injection(prediction: BackgroundPrediction) -> None:
    tmpl = gaussian_signal_template(prediction.bin_edges, mass=3.5, width=0.1)
    rng = np.random.default_rng(17)
    obs = rng.poisson(prediction.expected + 2000.0 * tmpl).astype(float)
    res = discovery_test(
        build_bumphunt_spec(observed=obs, background=prediction, signal_template=tmpl)
    )
    assert abs(res.mu_hat - 2000.0) < 3 * res.mu_hat_error
    assert res.significance > 2.0


def test_background_only_gives_zero_significance(prediction: BackgroundPrediction) -> None:
    tmpl = gaussian_signal_template(prediction.bin_edges, mass=3.5, width=0.1)
    spec = build_bumphunt_spec(
        observed=prediction.expected, background=prediction, signal_template=tmpl
    )
    res = discovery_test(spec)
    assert res.significance < 1e-2
    assert res.p0 == pytest.approx(0.5, abs=5e-3)
    assert abs(res.mu_hat) < 0.05 * res.mu_hat_error


def test_bad_inputs(prediction: BackgroundPrediction) -> None:
    tmpl = gaussian_signal_template(prediction.bin_edges, mass=3.5, width=0.1)
    with pytest.raises(DataFormatError, match="must match"):
        build_bumphunt_spec(
            observed=prediction.expected[:-1], background=prediction, signal_template=tmpl
        )
    with pytest.raises(DataFormatError, match="non-negative"):
        build_bumphunt_spec(
            observed=-prediction.expected, background=prediction, signal_template=tmpl
        )
    with pytest.raises(DataFormatError, match="positive sum"):
        build_bumphunt_spec(
            observed=prediction.expected, background=prediction, signal_template=0 * tmpl
        )
    with pytest.raises(ConfigError, match="mu_upper"):
        build_bumphunt_spec(
            observed=prediction.expected, background=prediction, signal_template=tmpl, mu_upper=-1.0
        )
