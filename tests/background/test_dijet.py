"""Tests of the dijet function family and its bin integrals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import quad

from anomsearch.background.dijet import (
    dijet_basis,
    dijet_bin_integrals,
    dijet_bin_jacobian,
    dijet_function,
    dijet_log_function,
)
from anomsearch.exceptions import ConfigError, DataFormatError

PARAMS5 = np.array([3.0, 9.0, 4.5, 0.3, 0.02])


def _reference(m: float, p: np.ndarray, sqrt_s: float = 13.0) -> float:
    """Textbook form p0 (1-x)^p1 / x^(p2 + p3 ln x + p4 ln^2 x), written independently."""
    x = m / sqrt_s
    lx = np.log(x)
    p = np.concatenate([p, np.zeros(5 - p.size)])
    return np.exp(p[0]) * (1 - x) ** p[1] / x ** (p[2] + p[3] * lx + p[4] * lx**2)


@pytest.mark.parametrize("n_params", [3, 4, 5])
def test_function_matches_textbook_form(n_params: int) -> None:
    m = np.array([1.5, 2.7, 3.5, 5.0, 8.0])
    p = PARAMS5[:n_params]
    got = dijet_function(m, p)
    want = np.array([_reference(v, p) for v in m])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(dijet_log_function(m, p), np.log(want), rtol=1e-12)


def test_sqrt_s_scaling() -> None:
    m = np.array([3.0, 4.0])
    np.testing.assert_allclose(
        dijet_function(m, PARAMS5[:3], sqrt_s=14.0),
        [_reference(v, PARAMS5[:3], 14.0) for v in m],
        rtol=1e-12,
    )


@pytest.mark.parametrize("n_params", [3, 5])
def test_bin_integrals_match_adaptive_quadrature(n_params: int) -> None:
    edges = np.array([2.6, 2.7, 3.3, 3.7, 5.0, 6.5])
    p = PARAMS5[:n_params]
    got = dijet_bin_integrals(edges, p)
    want = [
        quad(_reference, a, b, args=(p,), epsabs=0, epsrel=1e-13)[0]
        for a, b in itertools.pairwise(edges)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_jacobian_matches_finite_differences() -> None:
    edges = np.linspace(2.6, 6.5, 14)
    p = PARAMS5.copy()
    J = dijet_bin_jacobian(edges, p)
    assert J.shape == (13, 5)
    for k in range(5):
        h = 1e-6 * max(1.0, abs(p[k]))
        up, dn = p.copy(), p.copy()
        up[k] += h
        dn[k] -= h
        fd = (dijet_bin_integrals(edges, up) - dijet_bin_integrals(edges, dn)) / (2 * h)
        np.testing.assert_allclose(J[:, k], fd, rtol=1e-6)


def test_basis_is_linear_model_of_log_density() -> None:
    m = np.linspace(2.0, 7.0, 11)
    np.testing.assert_allclose(dijet_basis(m, 4) @ PARAMS5[:4], dijet_log_function(m, PARAMS5[:4]))


def test_huge_parameters_do_not_overflow() -> None:
    # ln f would be ~1e4: clipped instead of raising an overflow warning (warnings are errors)
    assert np.all(np.isfinite(dijet_function(np.array([0.1]), [0.0, 0.0, 3000.0])))


@pytest.mark.parametrize("params", [[1.0, 2.0], [1.0] * 6, [1.0, np.nan, 2.0], [[1.0, 2.0, 3.0]]])
def test_bad_params_raise(params: list[float]) -> None:
    with pytest.raises(ConfigError):
        dijet_function(np.array([3.0]), params)


@pytest.mark.parametrize("m", [0.0, -1.0, 13.0, 20.0, np.nan])
def test_mass_outside_physical_range_raises(m: float) -> None:
    with pytest.raises(DataFormatError):
        dijet_function(np.array([m]), PARAMS5[:3])


@pytest.mark.parametrize("edges", [[3.0], [3.0, 3.0], [4.0, 3.0], [3.0, np.inf]])
def test_bad_edges_raise(edges: list[float]) -> None:
    with pytest.raises(ConfigError):
        dijet_bin_integrals(np.array(edges), PARAMS5[:3])
