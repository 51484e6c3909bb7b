"""Sideband fit of the mjj spectrum with the dijet function and its interpolation into the SR.

The bins outside the signal region (SR) are fitted with :func:`~anomsearch.background.dijet.
dijet_function` by a binned Poisson likelihood, ``NLL = sum_i (mu_i - n_i ln mu_i)`` with ``mu_i``
the integral of the function over bin ``i``, minimised with iminuit (MIGRAD + HESSE). The fit is
then evaluated in the SR with the full parameter covariance propagated to the bins, and with
``+-1 sigma`` eigen-variations of the parameters that become pyhf ``histosys`` modifiers.

Numerical conditioning: ``ln f`` is linear in the parameters ``(ln p0, p1, ...)``, so a
weighted linear least-squares fit of ``ln(n_i / width_i)`` gives a start close to the minimum *and*
an estimate ``C0`` of the parameter covariance. MIGRAD runs in whitened coordinates ``z`` with
``params = start + L z`` and ``L L^T = C0``, where the likelihood is close to an isotropic unit
paraboloid even for the strongly correlated 4- and 5-parameter functions and spectra spanning many
orders of magnitude. The analytic gradient is supplied to MIGRAD.

References:
    CDF Collaboration, arXiv:0812.4036; ATLAS Collaboration, arXiv:1703.09127;
    LHC Olympics 2020, arXiv:2101.08320 (sideband fits in the LHCO R&D dataset);
    S. Baker and R. D. Cousins, Nucl. Instrum. Meth. 221 (1984) 437 (Poisson likelihood chi2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from iminuit import Minuit
from scipy import stats

from anomsearch.background.dijet import (
    DEFAULT_SQRT_S,
    DIJET_N_PARAMS,
    _gauss_legendre,
    dijet_basis,
    dijet_bin_integrals,
    dijet_bin_jacobian,
)
from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = [
    "BackgroundPrediction",
    "SidebandFit",
    "fit_binned_sideband",
    "fit_binned_spectrum",
    "fit_sideband_background",
    "predict_background",
    "validate_fit_binning",
]

log = logging.getLogger(__name__)

#: Absolute tolerance (TeV) for the SR boundaries to coincide with bin edges.
EDGE_ATOL = 1e-6
_LOG_CLIP = 600.0
_N_NODES = 8


class SidebandFit(NamedTuple):
    """Result of :func:`fit_sideband_background` / :func:`fit_binned_sideband`.

    Attributes:
        n_params: number of dijet-function parameters (3, 4 or 5).
        params: best-fit ``(ln p0, p1, p2[, p3[, p4]])``.
        covariance: ``(n_params, n_params)`` parameter covariance from HESSE.
        bin_edges: bin edges (TeV) over the whole fit range, SR included.
        counts: observed (possibly weighted) counts per bin, SR included.
        fit_mask: boolean mask of the bins used in the fit (outside the SR).
        nll: minimum of ``sum_{fit bins} (mu_i - n_i ln mu_i)``.
        chi2: Poisson likelihood-ratio chi2 (Baker-Cousins) over the fit bins,
            ``2 sum (mu - n + n ln(n / mu))``.
        ndf: number of fit bins minus ``n_params``.
        converged: whether MIGRAD and HESSE succeeded (always ``True`` for a returned fit).
        sqrt_s: centre-of-mass energy in TeV.
        signal_region: ``(low, high)`` SR edges in TeV, snapped onto ``bin_edges``.
        errors: ``sqrt(diag(covariance))``.
        expected: fitted expectation per bin over all bins (SR included).
        n_attempts: number of minimisation attempts needed.
    """

    n_params: int
    params: np.ndarray
    covariance: np.ndarray
    bin_edges: np.ndarray
    counts: np.ndarray
    fit_mask: np.ndarray
    nll: float
    chi2: float
    ndf: int
    converged: bool
    sqrt_s: float
    signal_region: tuple[float, float]
    errors: np.ndarray
    expected: np.ndarray
    n_attempts: int

    @property
    def p_value(self) -> float:
        """Goodness of fit: the probability of a chi2 at least as large as :attr:`chi2` for
        :attr:`ndf` degrees of freedom (the Baker-Cousins chi2 follows the chi2 distribution
        asymptotically, i.e. with a few events or more per bin)."""
        return float(stats.chi2.sf(self.chi2, self.ndf))


class BackgroundPrediction(NamedTuple):
    """Background expectation in a set of bins, from :func:`predict_background`.

    Attributes:
        bin_edges: bin edges in TeV.
        expected: expected events per bin.
        covariance: ``(n_bins, n_bins)`` covariance ``J C J^T`` propagated from the fit parameters.
        uncertainty: ``sqrt(diag(covariance))``.
        variations: ``(n_eigen, 2, n_bins)`` predictions at the ``-1 sigma`` (index 0) and
            ``+1 sigma`` (index 1) eigen-variations of the parameter covariance, ordered by
            decreasing eigenvalue.
        eigenvalues: eigenvalues of the parameter covariance (same order as ``variations``).
    """

    bin_edges: np.ndarray
    expected: np.ndarray
    covariance: np.ndarray
    uncertainty: np.ndarray
    variations: np.ndarray
    eigenvalues: np.ndarray


def _checked_edges(bin_edges: np.ndarray, sqrt_s: float) -> np.ndarray:
    """``bin_edges`` as floats: 1-d, >= 2 edges, finite, strictly increasing, inside
    ``(0, sqrt_s)`` (ConfigError otherwise)."""
    e = np.asarray(bin_edges, dtype=float)
    if e.ndim != 1 or e.size < 2:
        raise ConfigError(f"bin_edges must be a 1-d array with >= 2 edges, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ConfigError("bin_edges must be finite and strictly increasing")
    if e[0] <= 0 or e[-1] >= sqrt_s:
        raise ConfigError(
            f"bin_edges must lie inside (0, sqrt_s = {sqrt_s}) TeV, got [{e[0]}, {e[-1]}]"
        )
    return e


def validate_fit_binning(
    bin_edges: np.ndarray,
    signal_region: tuple[float, float],
    *,
    sqrt_s: float = DEFAULT_SQRT_S,
) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
    """Check the binning of a sideband fit and locate the SR in it.

    Args:
        bin_edges: strictly increasing edges (TeV) spanning the whole fit range, inside
            ``(0, sqrt_s)``.
        signal_region: ``(low, high)`` SR in TeV; both must coincide with bin edges (within
            ``1e-6`` TeV) and leave at least one sideband bin.
        sqrt_s: centre-of-mass energy in TeV.

    Returns:
        ``(edges, (sr_low, sr_high), in_sr)`` with the SR snapped onto the edges and a boolean
        mask of the SR bins.

    Raises:
        ConfigError: any violation; the message says which.

    Examples:
        >>> e, sr, in_sr = validate_fit_binning(np.linspace(2.9, 4.1, 13), (3.3, 3.7))
        >>> in_sr.nonzero()[0].tolist()
        [4, 5, 6, 7]
    """
    e = _checked_edges(bin_edges, sqrt_s)
    try:
        lo, hi = (float(v) for v in signal_region)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"signal_region must be a (low, high) pair, got {signal_region!r}"
        ) from exc
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigError(f"signal_region must satisfy low < high, got {signal_region!r}")
    idx = []
    for name, v in (("low", lo), ("high", hi)):
        hit = np.flatnonzero(np.abs(e - v) <= EDGE_ATOL)
        if hit.size != 1:
            raise ConfigError(
                f"signal_region {name} edge {v} TeV is not a bin edge (edges span "
                f"[{e[0]:.4g}, {e[-1]:.4g}] TeV); choose bin_edges with edges at both SR boundaries"
            )
        idx.append(int(hit[0]))
    i_lo, i_hi = idx
    if i_lo == 0 and i_hi == e.size - 1:
        raise ConfigError("the signal region covers the whole fit range: no sideband bins to fit")
    in_sr = np.zeros(e.size - 1, dtype=bool)
    in_sr[i_lo:i_hi] = True
    return e, (float(e[i_lo]), float(e[i_hi])), in_sr


class _PoissonNLL:
    """Binned Poisson NLL of the dijet function, with analytic gradient, in log space."""

    def __init__(
        self, lo: np.ndarray, hi: np.ndarray, counts: np.ndarray, n_params: int, sqrt_s: float
    ) -> None:
        nodes, weights = _gauss_legendre(_N_NODES)
        half = 0.5 * (hi - lo)
        mid = 0.5 * (hi + lo)
        m = mid[:, None] + half[:, None] * nodes[None, :]
        self.basis = dijet_basis(m, n_params, sqrt_s=sqrt_s)  # (bins, nodes, k)
        self.log_w = np.log(weights)[None, :] + np.log(half)[:, None]
        self.counts = counts

    def _terms(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.basis @ p + self.log_w
        amax = a.max(axis=1, keepdims=True)
        ea = np.exp(a - amax)
        s = ea.sum(axis=1, keepdims=True)
        log_mu = np.minimum((amax + np.log(s))[:, 0], _LOG_CLIP)
        return log_mu, ea / s

    def value(self, p: np.ndarray) -> float:
        log_mu, _ = self._terms(p)
        return float(np.sum(np.exp(log_mu) - self.counts * log_mu))

    def grad(self, p: np.ndarray) -> np.ndarray:
        log_mu, soft = self._terms(p)
        mean_basis = np.einsum("bn,bnk->bk", soft, self.basis)
        return (np.exp(log_mu) - self.counts) @ mean_basis

    def mu(self, p: np.ndarray) -> np.ndarray:
        return np.exp(self._terms(p)[0])


def _least_squares_start(
    edges: np.ndarray, counts: np.ndarray, n_params: int, sqrt_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted LS of ``ln(n / width)`` on the linear basis: start values and a scale matrix ``L``.

    ``L L^T`` approximates the parameter covariance (Poisson Fisher information of a log-linear
    model), with directions the data do not constrain capped rather than infinite.
    """
    ok = counts > 0
    width = np.diff(edges)[ok]
    mid = 0.5 * (edges[1:] + edges[:-1])[ok]
    n = counts[ok]
    X = dijet_basis(mid, n_params, sqrt_s=sqrt_s)
    y = np.log(n / width)
    sw = np.sqrt(n)
    A = X * sw[:, None]
    scale = np.linalg.norm(A, axis=0)
    U, S, Vt = np.linalg.svd(A / scale, full_matrices=False)
    S = np.maximum(S, S[0] * 1e-10)
    start = (Vt.T @ ((U.T @ (sw * y)) / S)) / scale
    L = (Vt.T / S[None, :]) / scale[:, None]
    return start, L


def _minimise(
    nll: _PoissonNLL,
    start: np.ndarray,
    L: np.ndarray,
    z0: np.ndarray,
    *,
    strategy: int,
    simplex: bool,
) -> tuple[Minuit, Callable[[np.ndarray], np.ndarray]]:
    def to_params(z: np.ndarray) -> np.ndarray:
        return start + L @ z

    def fcn(z: np.ndarray) -> float:
        return nll.value(to_params(z))

    def grad(z: np.ndarray) -> np.ndarray:
        return L.T @ nll.grad(to_params(z))

    m = Minuit(fcn, z0, grad=grad)
    m.errordef = Minuit.LIKELIHOOD
    m.errors = np.ones_like(z0)
    m.strategy = strategy
    m.tol = 0.01
    m.print_level = 0
    if simplex:
        m.simplex()
    m.migrad(ncall=20_000)
    if m.valid:
        m.hesse()
    return m, to_params


def _converged(m: Minuit) -> bool:
    fmin = m.fmin
    return bool(
        fmin is not None
        and m.valid
        and fmin.has_covariance
        and fmin.has_accurate_covar
        and fmin.has_posdef_covar
        and np.all(np.isfinite(np.asarray(m.values)))
    )


def _baker_cousins_chi2(mu: np.ndarray, counts: np.ndarray) -> float:
    """Poisson likelihood-ratio chi2 ``2 sum (mu - n + n ln(n / mu))`` (0 for ``n = 0`` terms)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(counts > 0, np.log(np.where(counts > 0, counts, 1.0) / mu), 0.0)
    return float(2.0 * np.sum(mu - counts + counts * log_ratio))


def _checked_counts(
    counts: np.ndarray, n_bins: int, in_sr: np.ndarray, n_params: int
) -> tuple[np.ndarray, np.ndarray]:
    """The counts as floats and the sideband mask, checked for a ``n_params`` fit."""
    n = np.asarray(counts, dtype=float)
    if n.shape != (n_bins,):
        raise DataFormatError(f"counts must have one entry per bin ({n_bins}), got shape {n.shape}")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise DataFormatError("counts must be finite and non-negative")
    fit_mask = ~in_sr
    n_fit = int(fit_mask.sum())
    if n_fit <= n_params:
        raise ConfigError(
            f"{n_fit} sideband bins cannot constrain a {n_params}-parameter fit with ndf >= 1; "
            "use finer bins or a wider fit range"
        )
    n_nonzero = int(np.count_nonzero(n[fit_mask]))
    if n_nonzero < n_params:
        raise DataFormatError(
            f"only {n_nonzero} non-empty sideband bins for a {n_params}-parameter fit "
            f"(sideband total {n[fit_mask].sum():g} events)"
        )
    return n, fit_mask


def _sideband_result(
    m: Minuit,
    to_params: Callable[[np.ndarray], np.ndarray],
    L: np.ndarray,
    nll: _PoissonNLL,
    *,
    edges: np.ndarray,
    counts: np.ndarray,
    fit_mask: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int,
    sqrt_s: float,
    n_attempts: int,
) -> SidebandFit:
    """The :class:`SidebandFit` of a converged attempt, logged."""
    n_fit = int(fit_mask.sum())
    params = to_params(np.asarray(m.values))
    cov = L @ np.asarray(m.covariance) @ L.T
    cov = 0.5 * (cov + cov.T)
    chi2 = _baker_cousins_chi2(nll.mu(params), nll.counts)
    expected = dijet_bin_integrals(edges, params, sqrt_s=sqrt_s, n_nodes=_N_NODES)
    log.info(
        "sideband fit (%d params) converged after %d attempt(s): chi2/ndf = %.1f/%d",
        n_params,
        n_attempts,
        chi2,
        n_fit - n_params,
    )
    return SidebandFit(
        n_params=n_params,
        params=params,
        covariance=cov,
        bin_edges=edges,
        counts=counts,
        fit_mask=fit_mask,
        nll=float(nll.value(params)),
        chi2=chi2,
        ndf=n_fit - n_params,
        converged=True,
        sqrt_s=float(sqrt_s),
        signal_region=signal_region,
        errors=np.sqrt(np.diag(cov)),
        expected=expected,
        n_attempts=n_attempts,
    )


def fit_binned_sideband(
    counts: np.ndarray,
    *,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int = 4,
    sqrt_s: float = DEFAULT_SQRT_S,
) -> SidebandFit:
    """Fit histogrammed mjj counts outside the SR with the dijet function (binned Poisson NLL).

    Bins with zero counts take part in the fit (they contribute ``mu_i`` to the NLL). Attempts, in
    order, until MIGRAD converges and HESSE gives an accurate positive-definite covariance: MIGRAD
    from the least-squares start (strategy 1); SIMPLEX then MIGRAD (strategy 2); MIGRAD from the
    best fit of the next-lower-order function; and a few jittered starts.

    Args:
        counts: events (or summed weights) per bin, length ``len(bin_edges) - 1``.
        bin_edges: edges in TeV spanning SR and sidebands, with edges at the SR boundaries.
        signal_region: ``(low, high)`` SR in TeV, excluded from the fit.
        n_params: 3, 4 or 5 dijet-function parameters.
        sqrt_s: centre-of-mass energy in TeV.

    Returns:
        The :class:`SidebandFit`.

    Raises:
        ConfigError: bad binning / SR / ``n_params``, or fewer sideband bins than ``n_params + 1``.
        DataFormatError: counts of the wrong shape, negative or non-finite, or fewer non-empty
            sideband bins than ``n_params``.
        FitError: no attempt converged.

    References:
        arXiv:0812.4036 (dijet function), arXiv:2101.08320 (LHCO).

    Examples:
        >>> edges = np.linspace(2.6, 5.0, 25)
        >>> mu = dijet_bin_integrals(edges, [np.log(2e5), 10.0, 5.0])
        >>> fit = fit_binned_sideband(np.round(mu), bin_edges=edges, signal_region=(3.3, 3.7),
        ...                           n_params=3)
        >>> bool(abs(fit.params[1] - 10.0) < 3 * fit.errors[1]), fit.ndf
        (True, 17)
    """
    if n_params not in DIJET_N_PARAMS:
        raise ConfigError(f"n_params must be one of {DIJET_N_PARAMS}, got {n_params}")
    edges, sr, in_sr = validate_fit_binning(bin_edges, signal_region, sqrt_s=sqrt_s)
    n, fit_mask = _checked_counts(counts, edges.size - 1, in_sr, n_params)
    return _fit_bins(n, edges, fit_mask, sr, n_params, sqrt_s)


def fit_binned_spectrum(
    counts: np.ndarray,
    *,
    bin_edges: np.ndarray,
    n_params: int = 4,
    sqrt_s: float = DEFAULT_SQRT_S,
) -> SidebandFit:
    """Fit the dijet function to *every* bin of a binned mjj spectrum (no signal region).

    The same minimisation as :func:`fit_binned_sideband` (whitened MIGRAD from the least-squares
    start, then SIMPLEX, the next-lower-order fit as a start, jittered starts), for a spectrum
    to be described as a whole: the pseudo-data of :mod:`anomsearch.search.pseudo_data` are
    drawn from it. The returned fit's ``fit_mask`` is all true and its ``signal_region`` the
    empty interval at the upper edge.

    Args:
        counts: events per bin, length ``len(bin_edges) - 1``.
        bin_edges: strictly increasing edges (TeV) inside ``(0, sqrt_s)``.
        n_params: 3, 4 or 5 dijet-function parameters.
        sqrt_s: centre-of-mass energy in TeV.

    Returns:
        The :class:`SidebandFit` over all bins.

    Raises:
        ConfigError: bad binning or ``n_params``, or no more bins than parameters.
        DataFormatError: malformed counts or fewer non-empty bins than parameters.
        FitError: no attempt converged.

    Examples:
        >>> edges = np.linspace(2.7, 4.7, 21)
        >>> mu = dijet_bin_integrals(edges, [np.log(3e5), 8.0, 4.0])
        >>> fits = [fit_binned_spectrum(np.round(mu), bin_edges=edges, n_params=k)
        ...         for k in (3, 4, 5)]
        >>> [f.ndf for f in fits], [bool(f.chi2 < 0.1) for f in fits]
        ([17, 16, 15], [True, True, True])
    """
    if n_params not in DIJET_N_PARAMS:
        raise ConfigError(f"n_params must be one of {DIJET_N_PARAMS}, got {n_params}")
    edges = _checked_edges(bin_edges, sqrt_s)
    n, fit_mask = _checked_counts(counts, edges.size - 1, np.zeros(edges.size - 1, bool), n_params)
    return _fit_bins(n, edges, fit_mask, (float(edges[-1]), float(edges[-1])), n_params, sqrt_s)


def _fit_bins(
    n: np.ndarray,
    edges: np.ndarray,
    fit_mask: np.ndarray,
    sr: tuple[float, float],
    n_params: int,
    sqrt_s: float,
) -> SidebandFit:
    """The dijet fit of the bins in ``fit_mask`` (checked by the callers), attempts in turn."""
    nll = _PoissonNLL(edges[:-1][fit_mask], edges[1:][fit_mask], n[fit_mask], n_params, sqrt_s)
    # SR bins are zeroed so that the least-squares start only sees the sidebands
    start, L = _least_squares_start(edges, np.where(fit_mask, n, 0.0), n_params, sqrt_s)

    def nested_start() -> np.ndarray | None:
        """Start from the best fit of the next-lower-order function (extra parameter at 0)."""
        if n_params == min(DIJET_N_PARAMS):
            return None
        try:
            lower = _fit_bins(n, edges, fit_mask, sr, n_params - 1, sqrt_s)
        except FitError:
            log.debug("lower-order fit failed; no nested start for n_params=%d", n_params)
            return None
        return np.linalg.lstsq(L, np.append(lower.params, 0.0) - start, rcond=None)[0]

    rng = np.random.default_rng(12345)
    attempts: list[tuple[Callable[[], np.ndarray | None], int, bool]] = [
        (lambda: np.zeros(n_params), 1, False),
        (lambda: np.zeros(n_params), 2, True),
        (nested_start, 2, False),
        *((lambda: rng.normal(0.0, 1.0, n_params), 2, True) for _ in range(3)),
    ]
    m: Minuit | None = None
    for i_attempt, (make_z0, strategy, simplex) in enumerate(attempts, start=1):
        z0 = make_z0()
        if z0 is None:
            continue
        m, to_params = _minimise(nll, start, L, z0, strategy=strategy, simplex=simplex)
        if not _converged(m):
            log.debug("sideband fit attempt %d did not converge: %s", i_attempt, m.fmin)
            continue
        return _sideband_result(
            m,
            to_params,
            L,
            nll,
            edges=edges,
            counts=n,
            fit_mask=fit_mask,
            signal_region=sr,
            n_params=n_params,
            sqrt_s=sqrt_s,
            n_attempts=i_attempt,
        )
    raise FitError(
        f"sideband fit with the {n_params}-parameter dijet function did not converge after "
        f"{len(attempts)} attempts (last: {m.fmin if m is not None else 'none'})"
    )


def fit_sideband_background(
    mjj: np.ndarray,
    *,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int = 4,
    weights: np.ndarray | None = None,
    sqrt_s: float = DEFAULT_SQRT_S,
) -> SidebandFit:
    """Histogram the selected events' mjj and fit the sidebands with the dijet function.

    Events outside ``[bin_edges[0], bin_edges[-1]]`` are ignored. With ``weights``, the summed
    weights per bin are treated as Poisson counts (appropriate for weights of order one).

    Args:
        mjj: dijet invariant masses (TeV) of the selected events.
        bin_edges: edges in TeV spanning SR and sidebands, with edges at the SR boundaries.
        signal_region: ``(low, high)`` SR in TeV, excluded from the fit.
        n_params: 3, 4 or 5 dijet-function parameters.
        weights: optional per-event weights (non-negative).
        sqrt_s: centre-of-mass energy in TeV.

    Returns:
        The :class:`SidebandFit`.

    Raises:
        ConfigError: bad binning / SR / ``n_params``.
        DataFormatError: ``mjj`` or ``weights`` malformed, or too few events in the sidebands.
        FitError: the fit did not converge.

    References:
        arXiv:0812.4036, arXiv:2101.08320.
    """
    m = np.asarray(mjj, dtype=float)
    if m.ndim != 1:
        raise DataFormatError(f"mjj must be a 1-d array, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise DataFormatError("mjj contains non-finite values")
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != m.shape:
            raise DataFormatError(f"weights shape {w.shape} does not match mjj shape {m.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise DataFormatError("weights must be finite and non-negative")
    edges, _, _ = validate_fit_binning(bin_edges, signal_region, sqrt_s=sqrt_s)
    counts, _ = np.histogram(m, bins=edges, weights=w)
    return fit_binned_sideband(
        counts.astype(float),
        bin_edges=edges,
        signal_region=signal_region,
        n_params=n_params,
        sqrt_s=sqrt_s,
    )


def predict_background(
    fit: SidebandFit, bin_edges: np.ndarray | None = None
) -> BackgroundPrediction:
    """Evaluate a sideband fit in bins (default: the SR bins of the fit) with its uncertainties.

    The per-bin covariance is ``J C J^T`` with ``J`` the Jacobian of the bin integrals and ``C`` the
    parameter covariance. The eigen-variations shift the parameters by ``+-sqrt(lambda_k) v_k`` for
    each eigenpair of ``C``; to first order ``sum_k d_k d_k^T = J C J^T`` with
    ``d_k = (up_k - down_k) / 2``, so they carry the same information as a set of uncorrelated
    nuisance parameters (pyhf ``histosys``).

    Args:
        fit: result of :func:`fit_sideband_background`.
        bin_edges: edges (TeV) to predict in; defaults to the SR bins of ``fit.bin_edges``.

    Returns:
        The :class:`BackgroundPrediction`.

    Raises:
        ConfigError: invalid ``bin_edges``.
    """
    if bin_edges is None:
        e = fit.bin_edges
        lo = int(np.argmin(np.abs(e - fit.signal_region[0])))
        hi = int(np.argmin(np.abs(e - fit.signal_region[1])))
        edges = e[lo : hi + 1]
    else:
        edges = np.asarray(bin_edges, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ConfigError("bin_edges must be a strictly increasing 1-d array of >= 2 edges")
    p = np.asarray(fit.params, dtype=float)
    cov_p = np.asarray(fit.covariance, dtype=float)
    expected = dijet_bin_integrals(edges, p, sqrt_s=fit.sqrt_s, n_nodes=_N_NODES)
    J = dijet_bin_jacobian(edges, p, sqrt_s=fit.sqrt_s, n_nodes=_N_NODES)
    cov = J @ cov_p @ J.T
    cov = 0.5 * (cov + cov.T)
    eigval, eigvec = np.linalg.eigh(0.5 * (cov_p + cov_p.T))
    order = np.argsort(eigval)[::-1]
    eigval = np.clip(eigval[order], 0.0, None)
    eigvec = eigvec[:, order]
    shifts = eigvec * np.sqrt(eigval)[None, :]  # column k = sqrt(lambda_k) v_k
    variations = np.empty((p.size, 2, edges.size - 1))
    for k in range(p.size):
        variations[k, 0] = dijet_bin_integrals(
            edges, p - shifts[:, k], sqrt_s=fit.sqrt_s, n_nodes=_N_NODES
        )
        variations[k, 1] = dijet_bin_integrals(
            edges, p + shifts[:, k], sqrt_s=fit.sqrt_s, n_nodes=_N_NODES
        )
    return BackgroundPrediction(
        bin_edges=edges,
        expected=expected,
        covariance=cov,
        uncertainty=np.sqrt(np.clip(np.diag(cov), 0.0, None)),
        variations=variations,
        eigenvalues=eigval,
    )
