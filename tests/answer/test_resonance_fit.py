"""fit_resonance_mass: known answers on Asimov data, Fisher-information errors, toy pulls."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.answer.resonance_fit import fit_resonance_mass
from anomsearch.background.sideband_fit import BackgroundPrediction
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.bumphunt_model import gaussian_signal_template

EDGES = np.round(np.arange(3.3, 3.7001, 0.02), 6)
CENTERS = 0.5 * (EDGES[1:] + EDGES[:-1])
BKG = 2000.0 * np.exp(-3.0 * (CENTERS - 3.3))
REL = 0.03
RANGE = (3.35, 3.65)


def _signal(mass: float, n: float) -> np.ndarray:
    return n * gaussian_signal_template(EDGES, mass=mass, width=REL * mass)


def _fisher_errors(mass: float, n: float, loadings: np.ndarray | None = None) -> np.ndarray:
    """Asymptotic errors sqrt(diag(I^-1)) of (mass, n_signal), I the Asimov Fisher information."""
    h = 1e-6
    d_mass = (_signal(mass + h, n) - _signal(mass - h, n)) / (2 * h)
    d_n = _signal(mass, 1.0)
    columns = [d_mass, d_n]
    n_nuis = 0 if loadings is None else loadings.shape[1]
    if loadings is not None:
        columns += list(loadings.T)
    jac = np.column_stack(columns)
    nu = BKG + _signal(mass, n)
    info = jac.T @ (jac / nu[:, None])
    info[2:, 2:] += np.eye(n_nuis)
    return np.sqrt(np.diag(np.linalg.inv(info)))[:2]


@pytest.mark.parametrize(("m0", "s0"), [(3.5, 600.0), (3.4567, 900.0)])
def test_asimov_recovers_mass_and_yield(m0, s0):
    fit = fit_resonance_mass(
        BKG + _signal(m0, s0), EDGES, BKG, relative_width=REL, mass_range=RANGE
    )
    assert fit.converged and not fit.mass_at_limit
    assert fit.mass == pytest.approx(m0, abs=1e-4)
    assert fit.n_signal == pytest.approx(s0, rel=1e-3)
    # Asimov profile-likelihood errors agree with the Fisher information (asymptotics)
    err_m, err_s = _fisher_errors(m0, s0)
    assert fit.mass_error == pytest.approx(err_m, rel=0.1)
    assert fit.n_signal_error == pytest.approx(err_s, rel=0.1)
    lo, hi = fit.mass_errors
    assert lo > 0 and hi > 0 and fit.mass_error == pytest.approx(0.5 * (lo + hi))
    # the profile for the plot has its minimum (0) at the fitted mass and crosses 0.5 at the errors
    k = int(np.argmin(fit.profile_delta_nll))
    assert fit.profile_masses[k] == pytest.approx(fit.mass, abs=0.005)
    assert fit.profile_delta_nll.min() == pytest.approx(0.0, abs=1e-6)
    assert np.interp(fit.mass + hi, fit.profile_masses, fit.profile_delta_nll) == pytest.approx(
        0.5, abs=0.05
    )


def test_grid_start_finds_global_minimum():
    """A small bump at 3.38 and a large one at 3.60: the fit must find the large one."""
    counts = BKG + _signal(3.38, 150.0) + _signal(3.60, 1200.0)
    fit = fit_resonance_mass(counts, EDGES, BKG, relative_width=REL, mass_range=RANGE)
    assert fit.mass == pytest.approx(3.60, abs=0.02)
    # and the profile shows the second, shallower minimum near 3.38 (a local one)
    near = np.abs(fit.profile_masses - 3.38) < 0.03
    assert near.any() and fit.profile_delta_nll[near].min() > 1.0


def test_no_signal_gives_zero_yield_and_open_mass_interval():
    fit = fit_resonance_mass(BKG.copy(), EDGES, BKG, relative_width=REL, mass_range=RANGE)
    assert fit.n_signal == pytest.approx(0.0, abs=1e-3)
    assert fit.n_signal_errors[0] == pytest.approx(0.0, abs=1e-3)
    assert fit.n_signal_error > 0
    assert fit.mass_at_limit  # the mass is not determined without a signal
    np.testing.assert_allclose(fit.profile_delta_nll, 0.0, atol=1e-6)


def test_background_fluctuation_compatible_with_zero():
    rng = np.random.default_rng(11)
    for _ in range(5):
        fit = fit_resonance_mass(
            rng.poisson(BKG).astype(float), EDGES, BKG, relative_width=REL, mass_range=RANGE
        )
        assert fit.n_signal >= 0
        assert fit.n_signal < 3.5 * fit.n_signal_error


def test_profiled_covariance_matches_fisher_with_nuisances():
    """Background profiled with a low-rank covariance: Asimov still exact; errors grow as the
    Fisher information with unit-Gaussian nuisances predicts."""
    x = CENTERS - 3.5
    loadings = np.column_stack([0.03 * BKG, 0.02 * BKG * x / 0.2])  # normalisation and tilt
    cov = loadings @ loadings.T
    m0, s0 = 3.5, 600.0
    counts = BKG + _signal(m0, s0)
    fixed = fit_resonance_mass(counts, EDGES, BKG, relative_width=REL, mass_range=RANGE)
    prof = fit_resonance_mass(
        counts, EDGES, BKG, relative_width=REL, mass_range=RANGE, background_covariance=cov
    )
    assert prof.converged
    assert prof.mass == pytest.approx(m0, abs=1e-4)
    assert prof.n_signal == pytest.approx(s0, rel=1e-3)
    err_m, err_s = _fisher_errors(m0, s0, loadings)
    assert prof.n_signal_error == pytest.approx(err_s, rel=0.1)
    assert prof.mass_error == pytest.approx(err_m, rel=0.1)
    assert prof.n_signal_error > 1.2 * fixed.n_signal_error
    # a negligible covariance reproduces the fixed-background fit
    tiny = fit_resonance_mass(
        counts, EDGES, BKG, relative_width=REL, mass_range=RANGE, background_covariance=1e-10 * cov
    )
    assert tiny.n_signal_error == pytest.approx(fixed.n_signal_error, rel=1e-3)


def test_accepts_background_prediction():
    pred = BackgroundPrediction(
        EDGES, BKG, np.diag(BKG), np.sqrt(BKG), np.zeros((0, 2, BKG.size)), np.zeros(0)
    )
    fit = fit_resonance_mass(
        BKG + _signal(3.5, 600.0), EDGES, pred, relative_width=REL, mass_range=RANGE
    )
    assert fit.mass == pytest.approx(3.5, abs=1e-4)


def _pulls(n_toys: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m0, s0 = 3.5, 600.0
    expected = BKG + _signal(m0, s0)
    mass_pulls, yield_pulls = [], []
    for _ in range(n_toys):
        fit = fit_resonance_mass(
            rng.poisson(expected).astype(float), EDGES, BKG, relative_width=REL, mass_range=RANGE
        )
        lo, hi = fit.mass_errors
        mass_pulls.append((fit.mass - m0) / (lo if fit.mass > m0 else hi))
        slo, shi = fit.n_signal_errors
        yield_pulls.append((fit.n_signal - s0) / (slo if fit.n_signal > s0 else shi))
    return np.array(mass_pulls), np.array(yield_pulls)


@pytest.mark.slow
def test_toy_pulls_are_standard_normal():
    mass_pulls, yield_pulls = _pulls(200, seed=5)
    for pulls in (mass_pulls, yield_pulls):
        assert abs(pulls.mean()) < 0.2
        assert abs(pulls.std() - 1.0) < 0.2


@pytest.mark.slow
def test_toy_pulls_with_profiled_background():
    """Toys whose true background fluctuates as the covariance says (normalisation and tilt):
    profiling it keeps the pulls standard normal, the fixed-background fit does not."""
    x = CENTERS - 3.5
    loadings = np.column_stack([0.03 * BKG, 0.02 * BKG * x / 0.2])
    cov = loadings @ loadings.T
    m0, s0 = 3.5, 1500.0
    rng = np.random.default_rng(12)
    mass_pulls, yield_pulls, fixed_yield_pulls = [], [], []
    for _ in range(80):
        truth = BKG + loadings @ rng.standard_normal(2) + _signal(m0, s0)
        counts = rng.poisson(truth).astype(float)
        fit = fit_resonance_mass(
            counts, EDGES, BKG, relative_width=REL, mass_range=RANGE, background_covariance=cov
        )
        lo, hi = fit.mass_errors
        mass_pulls.append((fit.mass - m0) / (lo if fit.mass > m0 else hi))
        slo, shi = fit.n_signal_errors
        yield_pulls.append((fit.n_signal - s0) / (slo if fit.n_signal > s0 else shi))
        fixed = fit_resonance_mass(counts, EDGES, BKG, relative_width=REL, mass_range=RANGE)
        fixed_yield_pulls.append((fixed.n_signal - s0) / fixed.n_signal_error)
    for pulls in (np.array(mass_pulls), np.array(yield_pulls)):
        assert abs(pulls.mean()) < 0.25
        assert abs(pulls.std() - 1.0) < 0.25
    assert np.std(fixed_yield_pulls) > 2.0  # ignoring the background uncertainty undercovers


def test_toy_pulls_quick():
    mass_pulls, yield_pulls = _pulls(30, seed=6)
    for pulls in (mass_pulls, yield_pulls):
        assert abs(pulls.mean()) < 0.6
        assert 0.6 < pulls.std() < 1.5


def test_bad_inputs():
    counts = BKG + _signal(3.5, 600.0)
    with pytest.raises(ConfigError, match="relative_width"):
        fit_resonance_mass(counts, EDGES, BKG, relative_width=0.0, mass_range=RANGE)
    with pytest.raises(ConfigError, match="mass_range"):
        fit_resonance_mass(counts, EDGES, BKG, relative_width=REL, mass_range=(3.0, 3.5))
    with pytest.raises(ConfigError, match="mass_range"):
        fit_resonance_mass(counts, EDGES, BKG, relative_width=REL, mass_range=(3.6, 3.4))
    with pytest.raises(DataFormatError, match="counts"):
        fit_resonance_mass(counts[:-1], EDGES, BKG, relative_width=REL, mass_range=RANGE)
    with pytest.raises(DataFormatError, match="non-negative"):
        fit_resonance_mass(-counts, EDGES, BKG, relative_width=REL, mass_range=RANGE)
    with pytest.raises(DataFormatError, match="background"):
        fit_resonance_mass(counts, EDGES, 0 * BKG, relative_width=REL, mass_range=RANGE)
    with pytest.raises(DataFormatError, match="background_covariance"):
        fit_resonance_mass(
            counts,
            EDGES,
            BKG,
            relative_width=REL,
            mass_range=RANGE,
            background_covariance=np.eye(3),
        )
    with pytest.raises(DataFormatError, match="positive semi-definite"):
        fit_resonance_mass(
            counts,
            EDGES,
            BKG,
            relative_width=REL,
            mass_range=RANGE,
            background_covariance=-np.eye(BKG.size),
        )
    with pytest.raises(ConfigError, match="n_grid"):
        fit_resonance_mass(counts, EDGES, BKG, relative_width=REL, mass_range=RANGE, n_grid=1)
