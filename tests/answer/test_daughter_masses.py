"""estimate_daughter_masses: X(500 GeV) and Y(100 GeV) peaks recovered on a broad background."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from anomsearch.answer.daughter_masses import (
    estimate_daughter_masses,
    gaussexp_cdf,
    subtracted_spectrum,
)
from anomsearch.exceptions import ConfigError, DataFormatError

EDGES = np.linspace(0.0, 1.0, 51)  # TeV, 20 GeV bins
Y_MASS, X_MASS = 0.1, 0.5  # TeV: mj1 = lighter jet (Y), mj2 = heavier jet (X)


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """Broad QCD-like jet masses, (mj1, mj2) ordered by mass, independent of mjj."""
    return np.sort(rng.gamma(2.0, 0.08, size=(n, 2)), axis=1)


def _signal(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([rng.normal(Y_MASS, 0.01, n), rng.normal(X_MASS, 0.03, n)])


def _toy(rng: np.random.Generator, n_bkg: int = 2000, n_sig: int = 250, n_sb: int = 8000):
    sr = np.vstack([_background(rng, rng.poisson(n_bkg)), _signal(rng, rng.poisson(n_sig))])
    return sr, _background(rng, n_sb)


def test_recovers_daughter_masses():
    rng = np.random.default_rng(3)
    sr, sb = _toy(rng)
    mj1, mj2 = estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES)
    assert (mj1.name, mj2.name) == ("mj1", "mj2")
    assert mj1.converged and mj2.converged
    assert abs(mj1.value - Y_MASS) < 3 * mj1.error
    assert abs(mj2.value - X_MASS) < 3 * mj2.error
    assert mj1.error < 0.005 and mj2.error < 0.01  # informative: 5 and 10 GeV
    assert mj1.n_excess == pytest.approx(250, abs=4 * mj1.n_excess_error)
    assert mj2.width == pytest.approx(0.03, rel=0.4)
    np.testing.assert_array_equal(mj1.bin_edges, EDGES)
    assert mj1.excess.shape == mj1.excess_error.shape == (50,)


def test_uncertainties_cover_over_toys():
    rng = np.random.default_rng(4)
    pulls = []
    for _ in range(100):
        sr, sb = _toy(rng)
        mj1, mj2 = estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES)
        pulls.append([(mj1.value - Y_MASS) / mj1.error, (mj2.value - X_MASS) / mj2.error])
    pulls = np.array(pulls)
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.3)
    assert np.all(np.abs(pulls.std(axis=0) - 1.0) < 0.25)
    assert 0.55 < np.mean(np.abs(pulls) < 1.0) < 0.8  # ~68 % inside 1 sigma


def test_subtracted_spectrum_by_hand():
    sr = np.array([0.05, 0.15, 0.15, 0.35])
    sb = np.array([0.05, 0.05, 0.15, 0.25, 0.35, 0.35, 0.35, 0.35])
    edges = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    excess, cov = subtracted_spectrum(
        sr, sb, n_background_sr=2.0, bin_edges=edges, n_background_sr_error=0.4
    )
    r = 2.0 / 8.0
    n_sr = np.array([1, 2, 0, 1])
    n_sb = np.array([2, 1, 1, 4])
    np.testing.assert_allclose(excess, n_sr - r * n_sb)
    expected_var = np.maximum(n_sr + r * r * n_sb, 1.0 + r * r)
    expected = np.diag(expected_var) + (0.4 / 8.0) ** 2 * np.outer(n_sb, n_sb)
    np.testing.assert_allclose(cov, expected)
    # with the background prediction equal to the sideband count, the excess sums to N_SR - N_B
    excess_all, _ = subtracted_spectrum(sr, sb, n_background_sr=3.0, bin_edges=edges)
    assert excess_all.sum() == pytest.approx(sr.size - 3.0)


def test_integer_bins_and_single_column():
    rng = np.random.default_rng(5)
    sr, sb = _toy(rng, n_sig=400)
    (est,) = estimate_daughter_masses(
        sr[:, 1], sb[:, 1], n_background_sr=2000.0, bins=40, mass_range=(0.2, 1.0), names=["mj2"]
    )
    assert est.bin_edges[0] == 0.2 and est.bin_edges[-1] == 1.0 and est.bin_edges.size == 41
    assert abs(est.value - X_MASS) < 3 * est.error


def test_bad_inputs():
    rng = np.random.default_rng(6)
    sr, sb = _toy(rng)
    with pytest.raises(DataFormatError, match="jet columns"):
        estimate_daughter_masses(sr, sb[:, :1], n_background_sr=2000.0, bins=EDGES)
    with pytest.raises(ConfigError, match=r"daughter_masses\.names"):
        estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES, names=["mj1"])
    with pytest.raises(ConfigError, match=r"daughter_masses\.bins"):
        estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=2)
    with pytest.raises(ConfigError, match=r"daughter_masses\.bins"):
        estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES[::-1])
    with pytest.raises(ConfigError, match="n_background_sr"):
        estimate_daughter_masses(sr, sb, n_background_sr=-1.0, bins=EDGES)
    with pytest.raises(DataFormatError, match="mj_selected_sb"):
        estimate_daughter_masses(sr, sb[:0], n_background_sr=2000.0, bins=EDGES)
    bad = sr.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataFormatError, match="mj_selected_sr"):
        estimate_daughter_masses(bad, sb, n_background_sr=2000.0, bins=EDGES)


@pytest.mark.parametrize(("k_low", "k_high"), [(5.0, 5.0), (2.0, 0.5), (0.4, 3.0), (0.3, 0.3)])
def test_gaussexp_cdf_is_a_distribution_with_its_mode_at_the_mean(k_low, k_high):
    x = np.linspace(-60.0, 60.0, 240_001)
    cdf = gaussexp_cdf(x, 0.3, 1.2, k_low, k_high)
    density = np.diff(cdf) / np.diff(x)
    assert cdf[0] == pytest.approx(0.0, abs=1e-6) and cdf[-1] == pytest.approx(1.0, abs=1e-6)
    assert np.all(density >= 0.0)
    assert np.max(np.abs(np.diff(density))) < 1e-4  # continuous where the tails join
    assert x[np.argmax(density)] == pytest.approx(0.3, abs=1e-3)


def test_gaussexp_cdf_is_the_gaussian_for_late_tails():
    x = np.linspace(-3.0, 3.0, 13)
    np.testing.assert_allclose(gaussexp_cdf(x, 0.0, 1.0, 5.0, 5.0), ndtr(x), atol=1e-6)


def _skewed_signal(rng: np.random.Generator, n: int) -> np.ndarray:
    """The lighter jet of a light daughter: a narrow core at Y_MASS with a long high tail (mass
    added by the underlying event), drawn from the Gaussian-exponential shape itself."""
    grid = np.linspace(Y_MASS - 0.05, Y_MASS + 0.25, 30_001)
    cdf = gaussexp_cdf(grid, Y_MASS, 0.01, 3.0, 0.5)
    return np.interp(rng.uniform(size=n), cdf, grid)


def test_skewed_peak_is_found_at_its_mode_with_errors_that_cover():
    """A Gaussian lands in the tail of a skewed peak, with errors far below its scatter; the
    Gaussian core with exponential tails finds the mode with pulls of width ~1 (with as much
    background as signal under the peak, as after an anomaly cut; with four times more the
    tails absorb some of the subtraction's fluctuations and the pulls widen to ~1.5)."""
    rng = np.random.default_rng(11)
    edges = np.linspace(0.0, 0.4, 41)  # 10 GeV bins, wider than the 4 GeV core
    pulls: dict[str, list[float]] = {"gaussexp": [], "gaussian": [], "auto": []}
    for _ in range(40):
        sig = _skewed_signal(rng, rng.poisson(500))
        sr = np.r_[_background(rng, rng.poisson(500))[:, 0], sig]
        sb = _background(rng, 8000)[:, 0]
        for shape, values in pulls.items():
            (est,) = estimate_daughter_masses(
                sr, sb, n_background_sr=500.0, bins=edges, names=["mj1"], peak_shape=shape
            )
            values.append((est.value - Y_MASS) / est.error)
    tails, gauss = np.array(pulls["gaussexp"]), np.array(pulls["gaussian"])
    assert abs(tails.mean()) < 0.35 and 0.75 < tails.std() < 1.3
    assert abs(np.mean(pulls["auto"])) < 0.6  # "auto" takes the tails in most samples
    assert gauss.mean() > 2.0  # in the tail, by more than twice its error on average


@pytest.mark.parametrize(
    ("option", "models"),
    [
        ("gaussexp", {"gaussexp"}),
        ("gaussian", {"gaussian+pedestal"}),
        ("auto", {"gaussexp", "gaussian+pedestal"}),
    ],
)
def test_each_estimate_names_the_peak_model_it_came_from(option: str, models: set[str]) -> None:
    sr, sb = _toy(np.random.default_rng(3))
    fits = estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES, peak_shape=option)
    assert {f.peak_shape for f in fits} <= models


def test_the_default_peak_model_is_the_one_the_response_is_calibrated_with() -> None:
    """The jet-mass response the answer inverts is fitted to this estimator's default peaks;
    "auto" may switch models between samples, whose peaks differ on skewed shapes."""
    sr, sb = _toy(np.random.default_rng(3))
    default = estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES)
    tails = estimate_daughter_masses(
        sr, sb, n_background_sr=2000.0, bins=EDGES, peak_shape="gaussexp"
    )
    assert {f.peak_shape for f in default} == {"gaussexp"}
    assert [f.value for f in default] == [f.value for f in tails]


def _z(est) -> float:
    return est.n_excess / est.n_excess_error


def test_a_broad_excess_is_weak_evidence_of_a_peak_and_a_narrow_one_is_not() -> None:
    """The tails model absorbs a broad excess into its amplitude; the evidence (n_excess) is
    the Gaussian's above a linear pedestal in the same window, which a narrow peak keeps."""
    edges = np.linspace(0.0, 0.8, 81)
    z: dict[tuple[str, bool], list[float]] = {}
    for seed in range(8):
        rng = np.random.default_rng(seed)
        sb = rng.exponential(0.15, size=(80_000, 1))
        for kind, (width, n_signal) in (("broad", (0.08, 600)), ("narrow", (0.01, 300))):
            sr = np.r_[rng.exponential(0.15, size=20_000), rng.normal(0.4, width, n_signal)]
            masses = []
            for pedestal in (True, False):
                (fit,) = estimate_daughter_masses(
                    sr[:, None],
                    sb,
                    n_background_sr=20_000.0,
                    bins=edges,
                    names=["mj"],
                    pedestal=pedestal,
                )
                z.setdefault((kind, pedestal), []).append(fit.n_excess / fit.n_excess_error)
                masses.append(fit.value)
            assert masses[0] == masses[1]  # the same mass fit, only the evidence differs
    # a 20% wide excess: > 4 sigma as the tails' amplitude, < 3 as a peak above a pedestal
    assert np.median(z["broad", False]) > 4.0 > 3.0 > np.median(z["broad", True])
    assert min(z["narrow", True]) > 5.0  # a narrow peak of 300 events stays evident


def test_unknown_peak_shape_is_refused():
    sr, sb = _toy(np.random.default_rng(1))
    with pytest.raises(ConfigError, match="peak_shape"):
        estimate_daughter_masses(sr, sb, n_background_sr=2000.0, bins=EDGES, peak_shape="cb")
