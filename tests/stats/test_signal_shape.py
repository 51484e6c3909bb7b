"""The resonance's mjj shape: a normalised scale family, exact limits, derivatives and fits."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats import gaussian_signal_template
from anomsearch.stats.signal_shape import (
    DIJET_CRYSTAL_BALL,
    GAUSSIAN,
    SignalShape,
    fit_signal_shape,
    signal_shape_from_options,
)

SHAPES = [
    GAUSSIAN,
    DIJET_CRYSTAL_BALL,
    DIJET_CRYSTAL_BALL._replace(width=0.03, alpha_low=0.3, n_low=1.8, alpha_high=2.0, n_high=9.0),
]


@pytest.mark.parametrize("shape", SHAPES, ids=["gauss", "cb", "cb-heavy"])
def test_the_density_integrates_to_one_and_is_the_cdf_slope(shape: SignalShape) -> None:
    r = np.linspace(-30.0, 30.0, 600_001)
    pdf = shape.pdf(r)
    assert np.all(pdf >= 0)
    # the power-law tails reach far: integrate the rest from the CDF
    inside = np.trapezoid(pdf, r)
    outside = shape.cdf(np.array([r[0]]))[0] + 1.0 - shape.cdf(np.array([r[-1]]))[0]
    assert inside + outside == pytest.approx(1.0, abs=1e-6)
    assert np.gradient(shape.cdf(r), r) == pytest.approx(pdf, abs=1e-4 * pdf.max())
    # continuous where the tails join the core
    fine = np.linspace(0.5, 1.5, 200_001)
    assert np.max(np.abs(np.diff(shape.pdf(fine)))) < 1e-3 * shape.pdf(fine).max()


def test_a_crystal_ball_with_far_tails_is_the_gaussian() -> None:
    edges = np.linspace(2.8, 4.2, 29)
    far = DIJET_CRYSTAL_BALL._replace(width=0.04, peak=1.0, alpha_low=9.0, alpha_high=9.0)
    np.testing.assert_allclose(
        far.template(edges, 3.5), GAUSSIAN._replace(width=0.04).template(edges, 3.5), atol=1e-12
    )
    np.testing.assert_allclose(
        GAUSSIAN._replace(width=0.04).template(edges, 3.5),
        gaussian_signal_template(edges, mass=3.5, width=0.14),
        atol=1e-14,
    )


def test_the_crystal_ball_has_its_radiative_tail_below_the_mass() -> None:
    shape = DIJET_CRYSTAL_BALL._replace(width=0.026)
    below = shape.cdf(np.array([0.85]))[0]
    above = 1.0 - shape.cdf(np.array([1.15]))[0]
    assert below > 3 * above > 0  # the low tail is the long one
    assert below > 1000 * GAUSSIAN._replace(width=0.026).cdf(np.array([0.85]))[0]
    r = np.linspace(0.9, 1.1, 2001)
    assert r[np.argmax(shape.pdf(r))] == pytest.approx(shape.peak, abs=1e-4)


@pytest.mark.parametrize("shape", SHAPES, ids=["gauss", "cb", "cb-heavy"])
def test_the_template_derivative_in_mass_is_analytic(shape: SignalShape) -> None:
    edges = np.linspace(3.0, 4.0, 21)
    g, dg = shape.template_and_derivative(edges, 3.45)
    assert g == pytest.approx(shape.template(edges, 3.45), abs=1e-14) and g.sum() == pytest.approx(
        1
    )
    h = 1e-6
    numeric = (shape.template(edges, 3.45 + h) - shape.template(edges, 3.45 - h)) / (2 * h)
    assert dg == pytest.approx(numeric, abs=1e-5 * np.abs(numeric).max())


def test_the_fit_recovers_a_generated_crystal_ball() -> None:
    truth = DIJET_CRYSTAL_BALL._replace(width=0.03, peak=0.99, alpha_low=0.6, n_low=3.0)
    grid = np.linspace(0.3, 1.7, 200_001)
    cdf = truth.cdf(grid)
    u = np.random.default_rng(11).uniform(cdf[0], cdf[-1], 40_000)
    mjj = 4.0 * np.interp(u, cdf, grid)  # inverse-CDF sampling at mass 4
    fit = fit_signal_shape(mjj, 4.0)
    assert fit.kind == "crystal_ball"
    assert fit.peak == pytest.approx(0.99, abs=0.002) and fit.width == pytest.approx(0.03, rel=0.05)
    assert fit.alpha_low == pytest.approx(0.6, rel=0.15) and fit.n_low == pytest.approx(
        3.0, rel=0.3
    )
    gauss = fit_signal_shape(mjj, 4.0, kind="gaussian")
    assert gauss.peak < fit.peak - 0.01  # a Gaussian is pulled down by the tail


def test_bad_shapes_and_fits_are_refused_with_the_field_named() -> None:
    with pytest.raises(ConfigError, match="n_low must be a number > 1"):
        DIJET_CRYSTAL_BALL._replace(n_low=1.0).validated()
    with pytest.raises(ConfigError, match="kind must be one of"):
        SignalShape(kind="landau").validated()
    with pytest.raises(ConfigError, match=r"stats\.crystal_ball: unknown parameter"):
        signal_shape_from_options("crystal_ball", 0.05, {"sigma": 0.1})
    with pytest.raises(ConfigError, match=r"stats\.signal_shape"):
        signal_shape_from_options("breit_wigner", 0.05)
    with pytest.raises(ConfigError, match="no probability"):
        GAUSSIAN._replace(width=0.001).template(np.linspace(1.0, 2.0, 5), 3.5)
    with pytest.raises(DataFormatError, match="need >= 50"):
        fit_signal_shape(np.full(10, 3.5), 3.5)
