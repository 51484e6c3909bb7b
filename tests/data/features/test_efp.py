"""Energy flow polynomials: the graph set, closed forms, the definition summed by brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from anomsearch.data.features.efp import (
    EFP_COUNTS,
    efp_graphs,
    efp_names,
    efp_values,
    jet_efps,
)
from anomsearch.data.features.sets import EFP_FIELDS
from anomsearch.exceptions import ConfigError


def _jet(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pt = rng.uniform(5.0, 300.0, n)
    y = rng.normal(0.3, 0.3, n)
    phi = np.mod(rng.normal(3.0, 0.3, n) + np.pi, 2 * np.pi) - np.pi  # straddles phi = +-pi
    return pt, y, phi


def _z_theta(pt: np.ndarray, y: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dphi = np.abs(phi[:, None] - phi[None, :])
    dphi = np.minimum(dphi, 2 * np.pi - dphi)
    return pt / pt.sum(), np.hypot(y[:, None] - y[None, :], dphi)


def _brute_force(z: np.ndarray, theta: np.ndarray, edges, n_vertices: int) -> float:
    """The EFP definition: sum over every assignment of constituents to the vertices."""
    total = 0.0
    for idx in itertools.product(range(len(z)), repeat=n_vertices):
        term = np.prod(z[list(idx)])
        for a, b in edges:
            term *= theta[idx[a], idx[b]]
        total += term
    return total


def test_graph_counts_are_the_connected_multigraphs() -> None:
    graphs = efp_graphs(5)
    assert len(graphs) == 53
    for d in range(1, 6):
        assert sum(g.degree == d for g in graphs) == EFP_COUNTS[d - 1]
    assert [len(efp_graphs(d)) for d in range(1, 5)] == [1, 3, 8, 20]
    assert tuple(g.name for g in graphs) == efp_names(5) == EFP_FIELDS
    assert all(len(g.edges) == g.degree for g in graphs)
    assert len({g.edges for g in graphs}) == 53  # canonical forms: no isomorphic duplicates


def test_low_degree_closed_forms() -> None:
    pt, y, phi = _jet(5, seed=1)
    z, theta = _z_theta(pt, y, phi)
    got = efp_values(z[None], theta[None], efp_graphs(2))[0]
    # d = 1: sum_ij z_i z_j theta_ij = 2 sum_{i<j} z_i z_j theta_ij
    pairs = list(itertools.combinations(range(5), 2))
    d1 = 2 * sum(z[i] * z[j] * theta[i, j] for i, j in pairs)
    # d = 2, double edge: sum_ij z_i z_j theta_ij^2; open chain: sum_j z_j (sum_i z_i theta_ij)^2
    d2_double = 2 * sum(z[i] * z[j] * theta[i, j] ** 2 for i, j in pairs)
    d2_chain = sum(z[j] * sum(z[i] * theta[i, j] for i in range(5)) ** 2 for j in range(5))
    np.testing.assert_allclose(got, [d1, d2_double, d2_chain], rtol=1e-13)
    # two particles, d = 1: 2 z1 z2 theta12 (the jet mass^2 / pT^2 at small angles)
    two = efp_values(np.array([[0.25, 0.75]]), np.array([[[0.0, 0.4], [0.4, 0.0]]]), efp_graphs(1))
    assert two[0, 0] == pytest.approx(2 * 0.25 * 0.75 * 0.4, rel=1e-15)


def test_every_graph_matches_the_definition() -> None:
    pt, y, phi = _jet(4, seed=2)
    z, theta = _z_theta(pt, y, phi)
    graphs = efp_graphs(5)
    got = efp_values(z[None], theta[None], graphs)[0]
    expected = [_brute_force(z, theta, g.edges, g.n_vertices) for g in graphs]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_degree_six_uses_the_general_contraction() -> None:
    pt, y, phi = _jet(3, seed=3)
    z, theta = _z_theta(pt, y, phi)
    k4 = next(g for g in efp_graphs(6) if g.n_vertices == 4 and len(set(g.edges)) == 6)
    got = efp_values(z[None], theta[None], [k4])[0, 0]
    assert got == pytest.approx(_brute_force(z, theta, k4.edges, 4), rel=1e-12)


def test_batches_padding_and_order_do_not_change_the_values() -> None:
    jets = [_jet(n, seed=10 + n) for n in (1, 2, 7, 3, 12, 7)]
    graphs = efp_graphs(5)
    pt, y, phi = (np.concatenate([j[k] for j in jets]) for k in range(3))
    offsets = np.cumsum([0, *(len(j[0]) for j in jets)])
    batched = jet_efps(pt, y, phi, offsets, graphs, max_elements=200)
    for k, (p, yy, ph) in enumerate(jets):
        if len(p) < 2:
            assert not batched[k].any()  # one constituent: every theta_ii = 0
            continue
        z, theta = _z_theta(p, yy, ph)
        single = efp_values(z[None], theta[None], graphs)[0]
        np.testing.assert_allclose(batched[k], single, rtol=1e-12)
        perm = np.random.default_rng(k).permutation(len(p))
        z2, theta2 = _z_theta(p[perm], yy[perm], ph[perm])
        np.testing.assert_allclose(
            efp_values(z2[None], theta2[None], graphs)[0], single, rtol=1e-12
        )


@pytest.mark.parametrize("bad", [0, 7, 2.0, True])
def test_bad_degree_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_degree"):
        efp_graphs(bad)  # type: ignore[arg-type]
