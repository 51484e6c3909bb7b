"""Tests of the binned Poisson sideband fit and its SR prediction."""

from __future__ import annotations

import numpy as np
import pytest

import anomsearch.background.sideband_fit as sbf
from anomsearch.background import (
    dijet_bin_integrals,
    fit_binned_sideband,
    fit_binned_spectrum,
    fit_sideband_background,
    predict_background,
)
from anomsearch.exceptions import ConfigError, DataFormatError, FitError

SR = (3.3, 3.7)
EDGES = np.linspace(2.6, 6.5, 40)  # 0.1 TeV bins, edges (up to rounding) at 3.3 and 3.7
IN_SR = (EDGES[:-1] >= SR[0] - 1e-9) & (EDGES[1:] <= SR[1] + 1e-9)


def _truth(edges: np.ndarray, shape: list[float], n_events: float) -> np.ndarray:
    """Dijet parameters with the log-normalisation set so the edges hold ``n_events``."""
    p = np.array([0.0, *shape])
    p[0] = np.log(n_events / dijet_bin_integrals(edges, p).sum())
    return p


TRUE4 = _truth(EDGES, [10.0, 5.0, 0.0], 1e6)


def _toy(rng: np.random.Generator, truth: np.ndarray = TRUE4, edges: np.ndarray = EDGES):
    return rng.poisson(dijet_bin_integrals(edges, truth)).astype(float)


def _sr_pull(counts: np.ndarray, fit: sbf.SidebandFit) -> float:
    pred = predict_background(fit)
    total = pred.expected.sum()
    return float((counts[IN_SR].sum() - total) / np.sqrt(total + pred.covariance.sum()))


@pytest.mark.parametrize("n_params", [3, 4])
def test_recovers_generating_parameters(n_params: int) -> None:
    truth = _truth(EDGES, [10.0, 5.0, 0.0][: n_params - 1], 1e6)
    counts = _toy(np.random.default_rng(7 + n_params), truth)
    fit = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=n_params)
    assert fit.converged and fit.n_params == n_params
    assert fit.ndf == int((~IN_SR).sum()) - n_params
    assert np.all(np.abs(fit.params - truth) < 3 * fit.errors), (fit.params, truth, fit.errors)
    assert np.all(np.linalg.eigvalsh(fit.covariance) > 0)
    assert fit.chi2 < fit.ndf + 5 * np.sqrt(2 * fit.ndf)
    np.testing.assert_array_equal(fit.fit_mask, ~IN_SR)
    assert fit.signal_region == pytest.approx(SR)


def test_fit_p_value_is_uniform_on_background_and_small_on_a_wrong_shape() -> None:
    from scipy import stats

    rng = np.random.default_rng(31)
    p_values = []
    for _ in range(40):
        fit = fit_binned_sideband(_toy(rng), bin_edges=EDGES, signal_region=SR, n_params=4)
        assert fit.p_value == pytest.approx(stats.chi2.sf(fit.chi2, fit.ndf))
        p_values.append(fit.p_value)
    assert stats.kstest(p_values, "uniform").pvalue > 0.01, p_values
    # every other bin halved: a spectrum no dijet function describes
    striped = _toy(rng) * np.where(np.arange(EDGES.size - 1) % 2 == 0, 1.0, 0.5)
    fit = fit_binned_sideband(striped, bin_edges=EDGES, signal_region=SR, n_params=4)
    assert fit.p_value < 1e-6


@pytest.mark.parametrize("n_params", [3, 4, 5])
def test_sr_pull_is_standard_normal_over_toys(n_params: int) -> None:
    truth = _truth(EDGES, [10.0, 5.0, 0.0, 0.0][: n_params - 1], 1e6)
    rng = np.random.default_rng(2024 + n_params)
    pulls = []
    for _ in range(30):
        counts = _toy(rng, truth)
        fit = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=n_params)
        pulls.append(_sr_pull(counts, fit))
    assert abs(np.mean(pulls)) < 0.5, pulls
    assert 0.6 < np.std(pulls) < 1.5, pulls


def test_parameter_pulls_over_toys() -> None:
    rng = np.random.default_rng(99)
    pulls = []
    for _ in range(30):
        fit = fit_binned_sideband(_toy(rng), bin_edges=EDGES, signal_region=SR, n_params=4)
        pulls.append((fit.params - TRUE4) / fit.errors)
    pulls_arr = np.array(pulls)
    assert np.all(np.abs(pulls_arr.mean(axis=0)) < 0.5), pulls_arr.mean(axis=0)
    assert np.all((pulls_arr.std(axis=0) > 0.6) & (pulls_arr.std(axis=0) < 1.5))


@pytest.mark.slow
def test_sr_band_coverage_many_toys() -> None:
    rng = np.random.default_rng(5)
    pulls = []
    for _ in range(300):
        counts = _toy(rng)
        pulls.append(
            _sr_pull(counts, fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR))
        )
    coverage = np.mean(np.abs(pulls) < 1.0)
    assert 0.6 < coverage < 0.76, coverage


def test_nll_and_chi2_values() -> None:
    counts = _toy(np.random.default_rng(1))
    fit = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=4)
    mu = dijet_bin_integrals(EDGES, fit.params)[fit.fit_mask]
    n = counts[fit.fit_mask]
    assert fit.nll == pytest.approx(np.sum(mu - n * np.log(mu)), rel=1e-12)
    assert fit.chi2 == pytest.approx(2 * np.sum(mu - n + n * np.log(n / mu)), rel=1e-9)
    np.testing.assert_allclose(fit.expected, dijet_bin_integrals(EDGES, fit.params), rtol=1e-12)
    # a minimum: moving along any parameter by 0.1 sigma raises the NLL
    for k in range(4):
        for sign in (-1, 1):
            p = fit.params.copy()
            p[k] += sign * 0.1 * fit.errors[k]
            mu_k = dijet_bin_integrals(EDGES, p)[fit.fit_mask]
            assert np.sum(mu_k - n * np.log(mu_k)) > fit.nll


def test_converges_on_spectrum_spanning_many_orders_of_magnitude() -> None:
    edges = np.linspace(1.8, 9.0, 73)
    truth = _truth(edges, [10.0, 5.0, 0.5, 0.05], 1e7)
    mu = dijet_bin_integrals(edges, truth)
    assert mu.max() / mu.min() > 1e6
    counts = np.random.default_rng(11).poisson(mu).astype(float)
    assert np.count_nonzero(counts == 0) >= 3  # empty tail bins take part in the fit
    for n_params in (3, 4, 5):
        fit = fit_binned_sideband(counts, bin_edges=edges, signal_region=SR, n_params=n_params)
        assert fit.converged
        if n_params == 5:
            assert np.all(np.abs(fit.params - truth) < 3 * fit.errors)
            assert fit.chi2 < fit.ndf + 5 * np.sqrt(2 * fit.ndf)
        else:  # the wrong (too simple) functions are visibly worse
            assert fit.chi2 > 0


def test_low_statistics_with_many_empty_bins() -> None:
    truth = _truth(EDGES, [10.0, 5.0], 3000.0)
    counts = _toy(np.random.default_rng(3), truth)
    assert np.count_nonzero(counts == 0) > 3
    fit = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=3)
    assert np.all(np.abs(fit.params - truth) < 3 * fit.errors)


def test_fit_from_events_matches_histogram_fit_and_weights() -> None:
    rng = np.random.default_rng(4)
    counts = _toy(rng, _truth(EDGES, [10.0, 5.0, 0.0], 2e5))
    # events uniform inside each bin, plus events outside the fit range that must be ignored
    lo = np.repeat(EDGES[:-1], counts.astype(int))
    mjj = lo + rng.uniform(0.0, 0.1, lo.size) * 0.999
    mjj = np.concatenate([mjj, [1.0, 2.0, 7.5]])
    fit_ev = fit_sideband_background(mjj, bin_edges=EDGES, signal_region=SR)
    fit_h = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR)
    np.testing.assert_array_equal(fit_ev.counts, counts)
    np.testing.assert_allclose(fit_ev.params, fit_h.params, rtol=1e-10)
    fit_w = fit_sideband_background(
        mjj, bin_edges=EDGES, signal_region=SR, weights=np.full(mjj.size, 2.0)
    )
    np.testing.assert_array_equal(fit_w.counts, 2 * counts)
    assert fit_w.params[0] == pytest.approx(fit_h.params[0] + np.log(2), abs=1e-4)


def test_eigen_variations_reproduce_covariance() -> None:
    fit = fit_binned_sideband(
        _toy(np.random.default_rng(8)), bin_edges=EDGES, signal_region=SR, n_params=5
    )
    for edges in (None, EDGES):
        pred = predict_background(fit, edges)
        n_bins = pred.expected.size
        assert pred.variations.shape == (5, 2, n_bins)
        assert np.all(np.diff(pred.eigenvalues) <= 0)
        half_diff = 0.5 * (pred.variations[:, 1] - pred.variations[:, 0])
        cov_from_var = half_diff.T @ half_diff
        scale = np.sqrt(np.outer(np.diag(pred.covariance), np.diag(pred.covariance)))
        np.testing.assert_allclose(cov_from_var / scale, pred.covariance / scale, atol=2e-3)
        np.testing.assert_allclose(pred.uncertainty, np.sqrt(np.diag(pred.covariance)))
        # the variations bracket the nominal symmetrically to first order
        mid = 0.5 * (pred.variations[:, 1] + pred.variations[:, 0])
        assert np.all(np.abs(mid - pred.expected) < 0.05 * pred.uncertainty + 1e-9)


def test_default_prediction_is_sr_and_matches_toy_spread() -> None:
    fit = fit_binned_sideband(_toy(np.random.default_rng(12)), bin_edges=EDGES, signal_region=SR)
    pred = predict_background(fit)
    np.testing.assert_allclose(pred.bin_edges, EDGES[np.r_[IN_SR, False] | np.r_[False, IN_SR]])
    np.testing.assert_allclose(pred.expected, fit.expected[IN_SR], rtol=1e-12)
    # propagated uncertainty agrees with a direct sampling of the parameter covariance
    rng = np.random.default_rng(0)
    samples = rng.multivariate_normal(fit.params, fit.covariance, size=4000)
    totals = [dijet_bin_integrals(pred.bin_edges, p).sum() for p in samples]
    assert np.std(totals) == pytest.approx(np.sqrt(pred.covariance.sum()), rel=0.1)


def test_retries_then_fit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = _toy(np.random.default_rng(13))
    real = sbf._converged
    calls = {"n": 0}

    def fail_first(m):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return calls["n"] > 1 and real(m)

    monkeypatch.setattr(sbf, "_converged", fail_first)
    fit = fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=3)
    assert fit.n_attempts == 2
    monkeypatch.setattr(sbf, "_converged", lambda m: False)
    with pytest.raises(FitError, match="did not converge"):
        fit_binned_sideband(counts, bin_edges=EDGES, signal_region=SR, n_params=3)


@pytest.mark.parametrize(
    ("edges", "sr", "match"),
    [
        (EDGES, (3.33, 3.7), "not a bin edge"),
        (EDGES, (3.3, 3.75), "not a bin edge"),
        (EDGES, (2.0, 3.7), "not a bin edge"),
        (np.linspace(3.3, 3.7, 5), SR, "no sideband"),
        (np.array([]), SR, "at least|>= 2"),
        (EDGES[::-1], SR, "increasing"),
        (np.r_[EDGES[:5], np.nan, EDGES[6:]], SR, "finite"),
        (EDGES, (3.7, 3.3), "low < high"),
        (np.linspace(0.0, 6.5, 66), SR, "inside"),
        (np.array([3.0, 3.3, 3.7, 4.0]), SR, "sideband bins cannot constrain"),
    ],
)
def test_bad_binning_raises_config_error(
    edges: np.ndarray, sr: tuple[float, float], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        fit_binned_sideband(
            np.ones(max(edges.size - 1, 0)), bin_edges=edges, signal_region=sr, n_params=3
        )


def test_bad_n_params_raises() -> None:
    with pytest.raises(ConfigError, match="n_params"):
        fit_binned_sideband(
            _toy(np.random.default_rng(0)), bin_edges=EDGES, signal_region=SR, n_params=6
        )


def test_bad_data_raises_data_format_error() -> None:
    counts = _toy(np.random.default_rng(0))
    with pytest.raises(DataFormatError, match="one entry per bin"):
        fit_binned_sideband(counts[:-1], bin_edges=EDGES, signal_region=SR)
    with pytest.raises(DataFormatError, match="non-negative"):
        fit_binned_sideband(-counts, bin_edges=EDGES, signal_region=SR)
    with pytest.raises(DataFormatError, match="non-empty sideband bins"):
        fit_binned_sideband(np.where(IN_SR, 100.0, 0.0), bin_edges=EDGES, signal_region=SR)
    with pytest.raises(DataFormatError, match="non-finite"):
        fit_sideband_background(np.array([3.0, np.nan]), bin_edges=EDGES, signal_region=SR)
    with pytest.raises(DataFormatError, match="weights shape"):
        fit_sideband_background(
            np.array([3.0, 4.0]), bin_edges=EDGES, signal_region=SR, weights=np.ones(3)
        )
    with pytest.raises(DataFormatError, match="non-empty sideband bins"):
        fit_sideband_background(np.array([]), bin_edges=EDGES, signal_region=SR)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_fit_of_the_whole_spectrum_improves_with_every_added_parameter(seed: int) -> None:
    """Every bin is fitted (no SR), and the nested orders never fit worse than a lower one (a
    plain MIGRAD from a least-squares start had stopped the 4- and 5-parameter fits of such toy
    spectra at chi2 38 and 31 where 3 parameters reach 29)."""
    from anomsearch.data import generate_toy

    edges = np.linspace(2.7, 4.7, 21)
    counts, _ = np.histogram(generate_toy(60_000, 0, seed=seed).mjj, bins=edges)
    fits = [fit_binned_spectrum(counts, bin_edges=edges, n_params=n) for n in (3, 4, 5)]
    assert all(f.fit_mask.all() and f.ndf == 20 - f.n_params for f in fits)
    assert fits[0].chi2 + 1e-6 >= fits[1].chi2 and fits[1].chi2 + 1e-6 >= fits[2].chi2
    assert fits[0].expected.sum() == pytest.approx(counts.sum(), rel=1e-3)
    with pytest.raises(ConfigError, match="n_params"):
        fit_binned_spectrum(counts, bin_edges=edges, n_params=6)
    with pytest.raises(DataFormatError, match="per bin"):
        fit_binned_spectrum(counts[:-1], bin_edges=edges)
