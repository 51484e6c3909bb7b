"""Energy flow polynomials (EFPs) of jets, evaluated for many jets at once.

An EFP is labelled by a loopless multigraph ``G`` with vertices ``V`` and edges ``E``:

``EFP_G = sum_{i_1..i_N} z_{i_1} ... z_{i_N} prod_{(k, l) in E} theta_{i_k i_l}``,

summed over the jet's constituents, with the hadronic measure, ``beta = 1`` and normalised
energies (energyflow's ``EFPSet(..., measure="hadr", beta=1, normed=True)``):
``z_i = pT_i / sum_j pT_j`` and ``theta_ij = sqrt(dy_ij^2 + dphi_ij^2)`` (rapidity-azimuth
distance). The degree ``d`` of an EFP is its number of edges.

The set used here (:func:`efp_graphs`) is every *connected* multigraph with ``1 <= d <= 5``
edges ("prime" EFPs, energyflow's ``EFPSet("d<=5", "p==1")``): 1, 2, 5, 12 and 33 graphs of degree
1..5 (OEIS A076864), 53 EFPs per jet. Disconnected EFPs are products of these. The graphs are
enumerated here (no energyflow dependency: its EMD dependency pins ``numpy < 2``), named
``efp{d}_{k}`` with ``k`` counting the graphs of degree ``d`` ordered by number of vertices, then by
their canonical edge list; :func:`efp_graphs` gives the edges behind every name.

Evaluation (:func:`efp_values`) works on a batch of zero-padded jets: every graph of degree
``<= 5`` has tree-width ``<= 2``, so its vertices can be summed out one by one (a vertex with one
neighbour costs a batched matrix-vector product, one with two a batched matrix product, BLAS),
without a Python loop over jets. Padded constituents carry ``z = 0`` and drop out exactly.

References:
    P. T. Komiske, E. M. Metodiev, J. Thaler, "Energy flow polynomials: a complete linear basis
    for jet substructure", arXiv:1712.07124.

Examples:
    >>> [g.name for g in efp_graphs(2)]
    ['efp1_0', 'efp2_0', 'efp2_1']
    >>> efp_graphs(2)[2].edges  # the open chain a-c-b
    ((0, 2), (1, 2))
    >>> z = np.array([[0.5, 0.5]])
    >>> theta = np.array([[[0.0, 0.2], [0.2, 0.0]]])
    >>> efp_values(z, theta, efp_graphs(1)).round(6).tolist()  # 2 z1 z2 theta12
    [[0.1]]
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from anomsearch.exceptions import ConfigError

__all__ = [
    "EFP_COUNTS",
    "EFP_MAX_DEGREE",
    "EFPGraph",
    "efp_graphs",
    "efp_names",
    "efp_values",
    "jet_efps",
]

log = logging.getLogger(__name__)

#: Largest EFP degree (number of edges) of the feature sets.
EFP_MAX_DEGREE = 5
#: Number of connected loopless multigraphs with d = 1, 2, ... edges (OEIS A076864).
EFP_COUNTS: tuple[int, ...] = (1, 2, 5, 12, 33, 103)
_ENUMERATE_LIMIT = len(EFP_COUNTS)

Edge = tuple[int, int]


class EFPGraph(NamedTuple):
    """One EFP multigraph.

    Attributes:
        name: ``efp{d}_{k}`` (the column stem; see the module docstring).
        degree: number of edges ``d`` (multi-edges counted with multiplicity).
        n_vertices: number of vertices ``N`` (the number of constituent sums).
        edges: the ``d`` edges ``(a, b)``, ``a < b``, vertices ``0..N-1``, sorted (canonical form).
    """

    name: str
    degree: int
    n_vertices: int
    edges: tuple[Edge, ...]


def _invariants(edges: Sequence[Edge], n: int) -> list[tuple[int, tuple[int, ...]]]:
    """Per vertex an isomorphism invariant: (degree, sorted degrees of the neighbours)."""
    deg = [0] * n
    for a, b in edges:
        deg[a] += 1
        deg[b] += 1
    nbr: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        nbr[a].append(deg[b])
        nbr[b].append(deg[a])
    return [(deg[v], tuple(sorted(nbr[v]))) for v in range(n)]


def _canonical(edges: Sequence[Edge], n: int) -> tuple[Edge, ...]:
    """Canonical form of a multigraph: the smallest sorted edge list over the relabellings that
    put the vertices in the order of their invariants (equal for isomorphic graphs)."""
    inv = _invariants(edges, n)
    classes = [[v for v in range(n) if inv[v] == key] for key in sorted(set(inv))]
    best: tuple[Edge, ...] | None = None
    for orders in itertools.product(*(itertools.permutations(c) for c in classes)):
        new_label = {old: new for new, old in enumerate(itertools.chain(*orders))}
        relabelled = tuple(
            sorted(
                (min(new_label[a], new_label[b]), max(new_label[a], new_label[b])) for a, b in edges
            )
        )
        if best is None or relabelled < best:
            best = relabelled
    assert best is not None
    return best


@functools.cache
def _connected_graphs(degree: int) -> tuple[tuple[Edge, ...], ...]:
    """Canonical edge lists of all connected loopless multigraphs with ``degree`` edges.

    Every such graph comes from one with ``degree - 1`` edges by adding an edge between two
    existing vertices or to a new vertex (remove a non-bridge edge, or a leaf edge of a tree)."""
    if degree == 1:
        return (((0, 1),),)
    found: set[tuple[Edge, ...]] = set()
    for edges in _connected_graphs(degree - 1):
        n = 1 + max(b for _, b in edges)
        new_edges = [*itertools.combinations(range(n), 2), *((a, n) for a in range(n))]
        for extra in new_edges:
            grown = (*edges, extra)
            found.add(_canonical(grown, n + (extra[1] == n)))
    return tuple(sorted(found, key=lambda e: (1 + max(b for _, b in e), e)))


def efp_graphs(max_degree: int = EFP_MAX_DEGREE) -> tuple[EFPGraph, ...]:
    """The connected EFP multigraphs of degree ``1..max_degree``, in column order.

    Args:
        max_degree: the largest degree (number of edges), 1 to 6.

    Returns:
        The graphs, by degree, then number of vertices, then canonical edge list; 53 for
        ``max_degree = 5``.

    Raises:
        ConfigError: ``max_degree`` outside 1..6.
    """
    _check_degree(max_degree)
    return _graphs_up_to(int(max_degree))


@functools.cache
def _graphs_up_to(max_degree: int) -> tuple[EFPGraph, ...]:
    out: list[EFPGraph] = []
    for d in range(1, max_degree + 1):
        for k, edges in enumerate(_connected_graphs(d)):
            out.append(EFPGraph(f"efp{d}_{k}", d, 1 + max(b for _, b in edges), edges))
    return tuple(out)


def efp_names(max_degree: int = EFP_MAX_DEGREE) -> tuple[str, ...]:
    """The names ``efp{d}_{k}`` of :func:`efp_graphs` ``(max_degree)``, without enumerating the
    graphs (cheap: used for column names at import time).

    Raises:
        ConfigError: ``max_degree`` outside 1..6.
    """
    _check_degree(max_degree)
    return tuple(f"efp{d}_{k}" for d in range(1, max_degree + 1) for k in range(EFP_COUNTS[d - 1]))


def _check_degree(max_degree: object) -> None:
    if isinstance(max_degree, bool) or not isinstance(max_degree, int):
        raise ConfigError(f"efp max_degree must be an integer, got {max_degree!r}")
    if not 1 <= max_degree <= _ENUMERATE_LIMIT:
        raise ConfigError(f"efp max_degree must be in 1..{_ENUMERATE_LIMIT}, got {max_degree}")


# ---------------------------------------------------------------------------- evaluation
class _Evaluator:
    """Sums out EFP graphs for one batch, sharing the intermediate products between graphs.

    Every vector or matrix is keyed by the expression that made it (``"z"``, ``"P2"`` for
    ``theta**2``, ``"mv(P1,z)"``, ...), so that a product that many graphs need (the message of a
    leaf, ``theta diag(z) theta`` of a triangle, ...) is computed once per batch.
    """

    def __init__(self, z: np.ndarray, theta: np.ndarray) -> None:
        self.z = z
        self.theta = theta
        self.memo: dict[str, np.ndarray] = {"z": z, "P1": theta}

    def get(self, key: str) -> np.ndarray:
        return self.memo[key]

    def _put(self, key: str, make: Callable[[], np.ndarray]) -> str:
        if key not in self.memo:
            self.memo[key] = make()
        return key

    def power(self, m: int) -> str:
        if m == 1:
            return "P1"
        prev = self.power(m - 1)
        return self._put(f"P{m}", lambda: self.memo[prev] * self.theta)

    def transpose(self, key: str) -> str:
        if key.startswith("P"):
            return key  # powers of theta are symmetric
        if key.startswith("T(") and key.endswith(")"):
            return key[2:-1]
        return self._put(f"T({key})", lambda: np.swapaxes(self.memo[key], 1, 2))

    def matvec(self, mat: str, vec: str) -> str:
        return self._put(
            f"mv({mat},{vec})",
            lambda: np.matmul(self.memo[mat], self.memo[vec][:, :, None])[:, :, 0],
        )

    def times(self, a: str, b: str, *, matrix: bool = False) -> str:
        a, b = sorted((a, b))
        return self._put(
            f"{'hm' if matrix else 'hv'}({a},{b})", lambda: self.memo[a] * self.memo[b]
        )

    def through(self, left: str, vec: str, right: str) -> str:
        """``left diag(vec) right`` (summing out a vertex with two neighbours)."""
        return self._put(
            f"mm({left},{vec},{right})",
            lambda: np.matmul(self.memo[left] * self.memo[vec][:, None, :], self.memo[right]),
        )

    def total(self, vec: str) -> np.ndarray:
        return self.memo[vec].sum(axis=1)


def _edge_keys(graph: EFPGraph, ev: _Evaluator) -> dict[Edge, str]:
    """Multi-edges merged: ``{(a, b): key of theta**multiplicity}`` with ``a < b``."""
    mult: dict[Edge, int] = {}
    for e in graph.edges:
        mult[e] = mult.get(e, 0) + 1
    return {e: ev.power(m) for e, m in mult.items()}


def _oriented(ev: _Evaluator, mats: dict[Edge, str], u: int, v: int) -> str:
    """The key of the matrix of edge ``{u, v}`` indexed ``[i_u, i_v]``."""
    return mats[(u, v)] if (u, v) in mats else ev.transpose(mats[(v, u)])


def _einsum_rest(
    ev: _Evaluator, alive: list[int], weights: dict[int, str], mats: dict[Edge, str]
) -> np.ndarray:
    """Sum out the remaining vertices with one einsum (graphs of tree-width > 2, degree >= 6)."""
    letters = dict(zip(alive, "abcdefghijklmnopqrstuvw", strict=False))
    operands = [ev.get(weights[v]) for v in alive]
    subs = [f"Z{letters[v]}" for v in alive]
    for (a, b), key in mats.items():
        operands.append(ev.get(key))
        subs.append(f"Z{letters[a]}{letters[b]}")
    return np.einsum(",".join(subs) + "->Z", *operands, optimize=True)


def _graph_value(graph: EFPGraph, ev: _Evaluator) -> np.ndarray:
    """One EFP for a batch: sum out the vertex with the fewest neighbours until one is left."""
    mats = _edge_keys(graph, ev)
    weights = dict.fromkeys(range(graph.n_vertices), "z")
    alive = list(range(graph.n_vertices))
    while len(alive) > 1:
        nbrs = {v: [u for u in alive if (u, v) in mats or (v, u) in mats] for v in alive}
        v = min(alive, key=lambda x: (len(nbrs[x]), x))
        if len(nbrs[v]) > 2:
            return _einsum_rest(ev, alive, weights, mats)
        if len(nbrs[v]) == 1:
            (u,) = nbrs[v]
            weights[u] = ev.times(weights[u], ev.matvec(_oriented(ev, mats, u, v), weights[v]))
        else:
            u, x = nbrs[v]
            prod = ev.through(_oriented(ev, mats, u, v), weights[v], _oriented(ev, mats, v, x))
            if (u, x) in mats or (x, u) in mats:
                prod = ev.times(_oriented(ev, mats, u, x), prod, matrix=True)
                mats.pop((x, u), None)
            mats[(u, x)] = prod
        for u in nbrs[v]:
            mats.pop((u, v), None)
            mats.pop((v, u), None)
        alive.remove(v)
    return ev.total(weights[alive[0]])


def efp_values(z: np.ndarray, theta: np.ndarray, graphs: Sequence[EFPGraph]) -> np.ndarray:
    """EFPs of a batch of zero-padded jets.

    Args:
        z: ``(n_jets, n)`` energy fractions (``pT_i / sum pT``), 0 in padded slots.
        theta: ``(n_jets, n, n)`` pairwise angles ``theta_ij`` (symmetric; padded entries any
            finite value).
        graphs: the EFPs to evaluate (:func:`efp_graphs`).

    Returns:
        ``(n_jets, len(graphs))`` float64 array.

    References:
        Komiske, Metodiev, Thaler, arXiv:1712.07124.
    """
    z = np.asarray(z, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    out = np.zeros((z.shape[0], len(graphs)))
    if z.shape[0] == 0 or not graphs:
        return out
    ev = _Evaluator(z, theta)
    for j, graph in enumerate(graphs):
        out[:, j] = _graph_value(graph, ev)
    return out


def _padded(values: np.ndarray, offsets: np.ndarray, jets: np.ndarray, width: int) -> np.ndarray:
    """``(len(jets), width)`` array of the constituents' ``values`` of ``jets``, zero padded."""
    counts = offsets[jets + 1] - offsets[jets]
    out = np.zeros((len(jets), width))
    row = np.repeat(np.arange(len(jets)), counts)
    col = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    out[row, col] = values[np.repeat(offsets[jets], counts) + col]
    return out


def jet_efps(
    pt: np.ndarray,
    y: np.ndarray,
    phi: np.ndarray,
    offsets: np.ndarray,
    graphs: Sequence[EFPGraph],
    *,
    max_elements: int = 200_000,
    blas_threads: int | None = 1,
) -> np.ndarray:
    """EFPs (hadronic measure, ``beta = 1``, normalised) of jets held as flat constituents.

    The jets are sorted by multiplicity and evaluated in zero-padded batches of at most about
    ``max_elements`` pairwise angles (bounding the memory of :func:`efp_values`).

    Args:
        pt: ``(C,)`` constituent transverse momenta, jet after jet.
        y: ``(C,)`` rapidities.
        phi: ``(C,)`` azimuths.
        offsets: ``(J + 1,)`` start of every jet's constituents in the flat arrays, then ``C``.
        graphs: the EFPs (:func:`efp_graphs`).
        max_elements: the largest ``batch * n_max**2`` of one batch.
        blas_threads: BLAS threads during the evaluation (``threadpoolctl``; None: leave as is).
            The batched products are small: one thread is fastest, and a multi-threaded BLAS
            on a busy machine can be a hundred times slower.

    Returns:
        ``(J, len(graphs))`` array (0 for a jet with fewer than two constituents).

    References:
        Komiske, Metodiev, Thaler, arXiv:1712.07124.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    out = np.zeros((len(counts), len(graphs)))
    limits = nullcontext() if blas_threads is None else threadpool_limits(blas_threads, "blas")
    with limits:
        _fill_batches(out, pt, y, phi, offsets, graphs, max_elements)
    return out


def _fill_batches(
    out: np.ndarray,
    pt: np.ndarray,
    y: np.ndarray,
    phi: np.ndarray,
    offsets: np.ndarray,
    graphs: Sequence[EFPGraph],
    max_elements: int,
) -> None:
    """:func:`jet_efps` batch by batch, jets sorted by multiplicity."""
    counts = np.diff(offsets)
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] >= 2]
    lo = 0
    while lo < len(order):
        width = int(counts[order[lo]])
        hi = lo + 1
        while hi < len(order):
            wider = max(width, int(counts[order[hi]]))
            if (hi + 1 - lo) * wider * wider > max_elements:
                break
            width, hi = wider, hi + 1
        jets = order[lo:hi]
        z = _padded(pt, offsets, jets, width)
        z /= z.sum(axis=1, keepdims=True)
        yy, pp = _padded(y, offsets, jets, width), _padded(phi, offsets, jets, width)
        dphi = np.abs(pp[:, :, None] - pp[:, None, :])
        dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
        theta = np.sqrt((yy[:, :, None] - yy[:, None, :]) ** 2 + dphi**2)
        out[jets] = efp_values(z, theta, graphs)
        lo = hi
