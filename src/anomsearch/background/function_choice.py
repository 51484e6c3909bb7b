r"""Choice of the dijet fit function: nested-fit tests, alternative-function and spurious signal.

Three tools for the background-shape systematics of a bump hunt:

* :func:`choose_dijet_function` fits the sidebands with the 3-, 4- and 5-parameter dijet functions
  and picks the order by a test between *nested* fits (order ``n`` is order ``n + 1`` with the
  extra parameter fixed at 0): start at the lowest order and move up while the next order improves
  the fit significantly. The default statistic is the Fisher F-test of the Poisson
  (Baker-Cousins) chi2,

  .. math::

      F = \frac{(\chi^2_n - \chi^2_{n+k}) / k}{\chi^2_{n+k} / \mathrm{ndf}_{n+k}}
      \sim F(k, \mathrm{ndf}_{n+k}),

  with ``k`` the number of added parameters (1 between consecutive orders). The likelihood-ratio
  version uses that the Baker-Cousins chi2 difference *is* ``-2 Delta ln L`` (the saturated-model
  term cancels), ``chi2_n - chi2_{n+k} ~ chi2(k)`` by Wilks' theorem. The F-test scales the
  improvement by the observed ``chi2 / ndf`` of the larger fit: it is more conservative than the
  likelihood ratio when even the larger function fits poorly (``chi2 / ndf > 1``), less when
  ``chi2 / ndf < 1``, and both agree for ``chi2 / ndf ~ 1``. Neither is meaningful on an Asimov
  (expected) spectrum, where the chi2 of a correct function is ~0: use them on data or toys.
* :func:`alternative_function_variation` turns the difference between the chosen and an
  alternative function into symmetric up/down templates for a pyhf ``histosys``.
* :func:`spurious_signal` fits signal + background to a background-only template (an Asimov
  spectrum or a large toy): the fitted signal yield is the bias the function choice induces, to be
  used as a systematic on the signal yield.

References:
    CMS Collaboration, arXiv:1911.03947 (F-test choice of the dijet function);
    ATLAS Collaboration, arXiv:1703.09127 and arXiv:1910.08447 (dijet functions, spurious signal
    and alternative-function uncertainties); ATLAS Collaboration, arXiv:1407.6583 (spurious-signal
    method); S. Baker and R. D. Cousins, Nucl. Instrum. Meth. 221 (1984) 437;
    S. S. Wilks, Ann. Math. Statist. 9 (1938) 60.
"""

from __future__ import annotations

import logging
from itertools import pairwise
from typing import Literal, NamedTuple

import numpy as np
from iminuit import Minuit
from scipy.stats import chi2 as chi2_dist
from scipy.stats import f as f_dist

from anomsearch.background.dijet import (
    DEFAULT_SQRT_S,
    DIJET_N_PARAMS,
    dijet_bin_integrals,
    dijet_bin_jacobian,
)
from anomsearch.background.sideband_fit import (
    SidebandFit,
    _baker_cousins_chi2,
    _converged,
    _least_squares_start,
    _minimise,
    _PoissonNLL,
    fit_binned_sideband,
    fit_binned_spectrum,
    validate_fit_binning,
)
from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.stats.signal_shape import GAUSSIAN, SignalShape

__all__ = [
    "FunctionChoice",
    "NestedFitTest",
    "SpuriousSignal",
    "alternative_function_variation",
    "choose_dijet_function",
    "nested_fit_test",
    "spurious_signal",
]

log = logging.getLogger(__name__)

_N_NODES = 8
# relative floor on the S+B expectation where a negative signal would make a bin non-positive
_MU_FLOOR = 1e-12


class NestedFitTest(NamedTuple):
    """Comparison of two nested dijet fits (``n_low`` parameters inside ``n_high``).

    Attributes:
        n_low: parameters of the smaller function.
        n_high: parameters of the larger function.
        delta_chi2: ``chi2_low - chi2_high`` (Baker-Cousins), equal to ``-2 Delta ln L``.
        f_statistic: ``(delta_chi2 / k) / (chi2_high / ndf)`` with ``k = n_high - n_low``.
        p_value_f: p-value of ``f_statistic`` under ``F(k, ndf)``.
        p_value_lr: p-value of ``delta_chi2`` under ``chi2(k)``.
        ndf: degrees of freedom of the larger fit.
    """

    n_low: int
    n_high: int
    delta_chi2: float
    f_statistic: float
    p_value_f: float
    p_value_lr: float
    ndf: int


class FunctionChoice(NamedTuple):
    """Result of :func:`choose_dijet_function`.

    Attributes:
        n_params: the chosen number of parameters.
        fit: the chosen fit (``fits[n_params]``).
        fits: the converged sideband fits, keyed by number of parameters.
        failed: orders whose fit did not converge.
        tests: one :class:`NestedFitTest` per pair of consecutive converged orders (all pairs,
            also those above the chosen order).
        test: the statistic used for the decision, ``"f"`` or ``"lr"``.
        alpha: significance level of the test.
        alternative: the nearest higher converged order, else the nearest lower one, else ``None``
            (for the alternative-function shape systematic).
    """

    n_params: int
    fit: SidebandFit
    fits: dict[int, SidebandFit]
    failed: tuple[int, ...]
    tests: tuple[NestedFitTest, ...]
    test: str
    alpha: float
    alternative: int | None


class SpuriousSignal(NamedTuple):
    """Result of :func:`spurious_signal`.

    Attributes:
        signal: fitted signal yield, in events in the SR bins (the signal template is normalised to
            one over the SR bins, as the bump-hunt pyhf model's ``mu``); may be negative.
        signal_error: its HESSE uncertainty.
        signal_over_error: ``signal / signal_error``.
        n_params: number of dijet-function parameters of the background.
        signal_mass: Gaussian signal mean (TeV).
        signal_width: Gaussian signal width (TeV).
        params: background parameters ``(ln p0, p1, ...)`` at the signal + background best fit.
        covariance: ``(n_params + 1, n_params + 1)`` covariance of ``(params..., signal)``.
        template: signal fraction per bin (all bins), summing to one over the SR bins.
        expected: signal + background expectation per bin at the best fit.
        background_in_sr: fitted background yield in the SR bins.
        chi2: Baker-Cousins chi2 of the signal + background fit over all bins.
        ndf: number of bins minus ``n_params + 1``.
    """

    signal: float
    signal_error: float
    signal_over_error: float
    n_params: int
    signal_mass: float
    signal_width: float
    params: np.ndarray
    covariance: np.ndarray
    template: np.ndarray
    expected: np.ndarray
    background_in_sr: float
    chi2: float
    ndf: int


def nested_fit_test(low: SidebandFit, high: SidebandFit) -> NestedFitTest:
    """The F-test and likelihood-ratio comparison of two nested fits of the same bins (``low``
    with fewer parameters inside ``high``), as :func:`choose_dijet_function` makes them."""
    k = high.n_params - low.n_params
    delta = low.chi2 - high.chi2
    if delta < -1e-6 * max(1.0, low.chi2):
        log.warning(
            "the %d-parameter fit has a larger chi2 (%.4g) than the nested %d-parameter fit "
            "(%.4g): its minimiser missed the global minimum; treating the improvement as 0",
            high.n_params,
            high.chi2,
            low.n_params,
            low.chi2,
        )
    delta = max(delta, 0.0)
    denom = high.chi2 / high.ndf
    f_stat = (delta / k) / denom if denom > 0 else (np.inf if delta > 0 else 0.0)
    return NestedFitTest(
        n_low=low.n_params,
        n_high=high.n_params,
        delta_chi2=float(delta),
        f_statistic=float(f_stat),
        p_value_f=float(f_dist.sf(f_stat, k, high.ndf)),
        p_value_lr=float(chi2_dist.sf(delta, k)),
        ndf=int(high.ndf),
    )


def _checked_orders(orders: tuple[int, ...], alpha: float, test: str) -> tuple[int, ...]:
    """The sorted distinct orders of :func:`choose_dijet_function`, its options checked."""
    try:
        ords = tuple(sorted({int(o) for o in orders}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"orders must be a sequence of integers, got {orders!r}") from exc
    if not ords or any(o not in DIJET_N_PARAMS for o in ords):
        raise ConfigError(f"orders must be a non-empty subset of {DIJET_N_PARAMS}, got {orders!r}")
    if not (np.isfinite(alpha) and 0.0 < alpha < 1.0):
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    if test not in ("f", "lr"):
        raise ConfigError(f"test must be 'f' or 'lr', got {test!r}")
    return ords


def _fit_orders(
    counts: np.ndarray,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float] | None,
    ords: tuple[int, ...],
    sqrt_s: float,
) -> tuple[dict[int, SidebandFit], list[int]]:
    """The converged fit of each order (of the sidebands; of every bin without an SR), and the
    orders that failed (at least one fit)."""
    fits: dict[int, SidebandFit] = {}
    failed: list[int] = []
    for n in ords:
        try:
            if signal_region is None:
                fits[n] = fit_binned_spectrum(
                    counts, bin_edges=bin_edges, n_params=n, sqrt_s=sqrt_s
                )
                continue
            fits[n] = fit_binned_sideband(
                counts, bin_edges=bin_edges, signal_region=signal_region, n_params=n, sqrt_s=sqrt_s
            )
        except FitError as exc:
            log.warning("dijet fit with %d parameters failed: %s", n, exc)
            failed.append(n)
    if not fits:
        raise FitError(f"no dijet-function order of {ords} converged on the sideband fit")
    return fits, failed


def choose_dijet_function(
    counts: np.ndarray,
    *,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float] | None,
    orders: tuple[int, ...] = (3, 4, 5),
    alpha: float = 0.05,
    test: Literal["f", "lr"] = "f",
    sqrt_s: float = DEFAULT_SQRT_S,
) -> FunctionChoice:
    """Fit the sidebands with each dijet-function order and choose one by nested-fit tests.

    Every order is fitted with :func:`~anomsearch.background.sideband_fit.fit_binned_sideband`
    (orders that do not converge are skipped and listed in ``failed``). Starting at the lowest
    converged order, the next converged order is accepted while its improvement is significant,
    ``p < alpha``; the first non-significant step stops the search. The statistic is the F-test
    (``test="f"``, the default, as in CMS arXiv:1911.03947) or the likelihood ratio
    ``-2 Delta ln L ~ chi2(k)`` (``test="lr"``), both from the Poisson (Baker-Cousins) chi2 of the
    fits; both are always computed and returned in ``tests``.

    Args:
        counts: events per bin over the whole fit range (SR included; the SR is not fitted).
        bin_edges: edges in TeV, with edges at the SR boundaries.
        signal_region: ``(low, high)`` SR in TeV; None: every bin is fitted
            (:func:`~anomsearch.background.sideband_fit.fit_binned_spectrum`), to describe a
            whole spectrum with the fewest parameters it needs.
        orders: numbers of parameters to consider, a subset of ``(3, 4, 5)``.
        alpha: significance level for accepting a higher order.
        test: ``"f"`` (F-test) or ``"lr"`` (likelihood-ratio test).
        sqrt_s: centre-of-mass energy in TeV.

    Returns:
        The :class:`FunctionChoice`.

    Raises:
        ConfigError: bad ``orders``, ``alpha``, ``test``, binning or SR.
        DataFormatError: malformed ``counts``.
        FitError: no order converged.

    References:
        CMS Collaboration, arXiv:1911.03947; ATLAS Collaboration, arXiv:1703.09127.

    Examples:
        >>> edges = np.linspace(2.6, 5.0, 25)
        >>> mu = dijet_bin_integrals(edges, [np.log(2e5), 10.0, 5.0])
        >>> counts = np.random.default_rng(1).poisson(mu).astype(float)
        >>> choice = choose_dijet_function(counts, bin_edges=edges, signal_region=(3.3, 3.7))
        >>> choice.n_params, choice.alternative, sorted(choice.fits)
        (3, 4, [3, 4, 5])
    """
    ords = _checked_orders(orders, alpha, test)
    fits, failed = _fit_orders(counts, bin_edges, signal_region, ords, sqrt_s)
    conv = sorted(fits)
    tests = tuple(nested_fit_test(fits[lo], fits[hi]) for lo, hi in pairwise(conv))
    chosen = conv[0]
    for t in tests:
        p = t.p_value_f if test == "f" else t.p_value_lr
        if p >= alpha:
            break
        chosen = t.n_high
    higher = [n for n in conv if n > chosen]
    lower = [n for n in conv if n < chosen]
    alternative = higher[0] if higher else (lower[-1] if lower else None)
    for t in tests:
        log.info(
            "dijet %d vs %d parameters: delta chi2 = %.2f, F = %.2f (p = %.3g), LR p = %.3g",
            t.n_low,
            t.n_high,
            t.delta_chi2,
            t.f_statistic,
            t.p_value_f,
            t.p_value_lr,
        )
    log.info("chose the %d-parameter dijet function (alternative: %s)", chosen, alternative)
    return FunctionChoice(
        n_params=chosen,
        fit=fits[chosen],
        fits=fits,
        failed=tuple(failed),
        tests=tests,
        test=test,
        alpha=float(alpha),
        alternative=alternative,
    )


def _sr_edges(fit: SidebandFit) -> np.ndarray:
    e = fit.bin_edges
    lo = int(np.argmin(np.abs(e - fit.signal_region[0])))
    hi = int(np.argmin(np.abs(e - fit.signal_region[1])))
    return e[lo : hi + 1]


def alternative_function_variation(
    nominal: SidebandFit,
    alternative: SidebandFit,
    bin_edges: np.ndarray | None = None,
    *,
    mirror: bool = False,
) -> np.ndarray:
    """Symmetric down/up background templates from the difference of two fit functions.

    With ``nom`` and ``alt`` the bin integrals of the two fits and ``d = |alt - nom|`` per bin,
    the templates are ``down = nom - d`` and ``up = nom + d`` (the default): a per-bin envelope
    that never lets a sign change of ``alt - nom`` inside the bins cancel in a sum over bins.
    With ``mirror=True`` they are ``up = alt`` and ``down = 2 nom - alt``, keeping the bin-to-bin
    shape of the difference. ``down`` is clipped at 0. Both are symmetric about ``nom``, for a pyhf
    ``histosys`` (``hi_data = up``, ``lo_data = down``).

    Args:
        nominal: the chosen sideband fit.
        alternative: the alternative-function fit (same ``sqrt_s``).
        bin_edges: edges (TeV) to evaluate in; default the SR bins of ``nominal``.
        mirror: signed (mirrored) instead of absolute difference.

    Returns:
        Array of shape ``(2, n_bins)``: ``[down, up]``.

    Raises:
        ConfigError: the fits have different ``sqrt_s``, or invalid ``bin_edges``.

    References:
        ATLAS Collaboration, arXiv:1910.08447; CMS Collaboration, arXiv:1911.03947.

    Examples:
        >>> edges = np.linspace(2.6, 5.0, 25)
        >>> mu = dijet_bin_integrals(edges, [np.log(2e5), 10.0, 5.0, 0.3])
        >>> f3, f4 = (fit_binned_sideband(mu, bin_edges=edges, signal_region=(3.3, 3.7),
        ...                               n_params=n) for n in (3, 4))
        >>> var = alternative_function_variation(f4, f3)
        >>> var.shape, bool(np.all(var[1] > var[0]))
        ((2, 4), True)
    """
    if not np.isclose(nominal.sqrt_s, alternative.sqrt_s, rtol=1e-12):
        raise ConfigError(
            f"nominal and alternative fits have different sqrt_s ({nominal.sqrt_s} vs "
            f"{alternative.sqrt_s} TeV)"
        )
    if bin_edges is None:
        edges = _sr_edges(nominal)
    else:
        edges = np.asarray(bin_edges, dtype=float)
        if (
            edges.ndim != 1
            or edges.size < 2
            or not np.all(np.isfinite(edges))
            or np.any(np.diff(edges) <= 0)
        ):
            raise ConfigError("bin_edges must be a strictly increasing 1-d array of >= 2 edges")
    nom = dijet_bin_integrals(edges, nominal.params, sqrt_s=nominal.sqrt_s, n_nodes=_N_NODES)
    alt = dijet_bin_integrals(edges, alternative.params, sqrt_s=nominal.sqrt_s, n_nodes=_N_NODES)
    diff = alt - nom if mirror else np.abs(alt - nom)
    down = np.clip(nom - diff, 0.0, None)
    return np.stack([down, nom + diff])


class _SignalPlusBackgroundNLL:
    """Binned Poisson NLL of dijet background + ``signal * template``, with analytic gradient."""

    def __init__(self, bkg: _PoissonNLL, template: np.ndarray, counts: np.ndarray) -> None:
        self.bkg = bkg
        self.template = template
        self.counts = counts
        self.floor = _MU_FLOOR * max(float(np.max(counts)), 1.0)

    def _mu(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log_b, soft = self.bkg._terms(theta[:-1])
        b = np.exp(log_b)
        mu = np.maximum(b + theta[-1] * self.template, self.floor)
        return mu, b, soft

    def value(self, theta: np.ndarray) -> float:
        mu, _, _ = self._mu(theta)
        return float(np.sum(mu - self.counts * np.log(mu)))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        mu, b, soft = self._mu(theta)
        r = 1.0 - self.counts / mu
        d_b = b[:, None] * np.einsum("bn,bnk->bk", soft, self.bkg.basis)
        return np.append(r @ d_b, r @ self.template)


def _checked_template(
    background_template: np.ndarray,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int,
    signal_mass: float,
    signal_width: float,
    sqrt_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(edges, in_sr, counts)`` of :func:`spurious_signal`, its inputs checked."""
    if n_params not in DIJET_N_PARAMS:
        raise ConfigError(f"n_params must be one of {DIJET_N_PARAMS}, got {n_params}")
    edges, sr, in_sr = validate_fit_binning(bin_edges, signal_region, sqrt_s=sqrt_s)
    if not (np.isfinite(signal_width) and signal_width > 0):
        raise ConfigError(f"signal_width must be a positive number (TeV), got {signal_width}")
    if not (np.isfinite(signal_mass) and sr[0] <= signal_mass <= sr[1]):
        raise ConfigError(
            f"signal_mass must lie inside the signal region {sr} TeV, got {signal_mass}"
        )
    n = np.asarray(background_template, dtype=float)
    if n.shape != (edges.size - 1,):
        raise DataFormatError(
            f"background_template must have one entry per bin ({edges.size - 1}), "
            f"got shape {n.shape}"
        )
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise DataFormatError("background_template must be finite and non-negative")
    if n.size < n_params + 2:
        raise ConfigError(
            f"{n.size} bins cannot constrain a signal + {n_params}-parameter background fit"
        )
    if np.count_nonzero(n) < n_params + 1:
        raise DataFormatError(
            f"background_template has only {np.count_nonzero(n)} non-empty bins for a signal + "
            f"{n_params}-parameter background fit"
        )
    return edges, in_sr, n


def _background_only_params(
    bkg: _PoissonNLL, edges: np.ndarray, n: np.ndarray, n_params: int, sqrt_s: float
) -> np.ndarray:
    """Background-only fit over all bins, whitened by the least-squares covariance estimate."""
    start, L = _least_squares_start(edges, n, n_params, sqrt_s)
    for strategy, simplex in ((1, False), (2, True)):
        m_b, to_params = _minimise(
            bkg, start, L, np.zeros(n_params), strategy=strategy, simplex=simplex
        )
        if m_b.valid:
            return to_params(np.asarray(m_b.values))
    raise FitError(
        f"background-only fit ({n_params} parameters) of the spurious-signal template did not "
        "converge"
    )


def _fisher_whitening(
    edges: np.ndarray, p_b: np.ndarray, template: np.ndarray, sqrt_s: float
) -> np.ndarray:
    """``W`` with ``W W^T`` the inverse Fisher information of ``(params, S)`` at ``(p_b, 0)``."""
    b0 = dijet_bin_integrals(edges, p_b, sqrt_s=sqrt_s, n_nodes=_N_NODES)
    J = np.column_stack([dijet_bin_jacobian(edges, p_b, sqrt_s=sqrt_s, n_nodes=_N_NODES), template])
    fisher = J.T @ (J / np.maximum(b0, 1e-300)[:, None])
    ev, V = np.linalg.eigh(0.5 * (fisher + fisher.T))
    ev = np.maximum(ev, ev.max() * 1e-14)
    return V / np.sqrt(ev)[None, :]


def _signal_plus_background_minuit(
    sb: _SignalPlusBackgroundNLL,
    theta0: np.ndarray,
    W: np.ndarray,
    n_params: int,
    signal_mass: float,
) -> Minuit:
    """The converged MIGRAD + HESSE fit of ``theta = theta0 + W z`` (up to four attempts)."""

    def fcn(z: np.ndarray) -> float:
        return sb.value(theta0 + W @ z)

    def grad(z: np.ndarray) -> np.ndarray:
        return W.T @ sb.grad(theta0 + W @ z)

    rng = np.random.default_rng(2718)
    m: Minuit | None = None
    for attempt in range(1, 5):
        z0 = np.zeros(n_params + 1) if attempt <= 2 else rng.normal(0.0, 0.5, n_params + 1)
        m = Minuit(fcn, z0, grad=grad)
        m.errordef = Minuit.LIKELIHOOD
        m.errors = np.ones_like(z0)
        m.strategy = 1 if attempt == 1 else 2
        m.tol = 0.001
        m.print_level = 0
        if attempt > 1:
            m.simplex()
        m.migrad(ncall=20_000)
        if m.valid:
            m.hesse()
        if _converged(m):
            return m
        log.debug("spurious-signal fit attempt %d did not converge: %s", attempt, m.fmin)
    raise FitError(
        f"signal + {n_params}-parameter background fit for the spurious signal at "
        f"{signal_mass} TeV did not converge (last: {m.fmin if m is not None else 'none'})"
    )


def spurious_signal(
    background_template: np.ndarray,
    *,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int,
    signal_mass: float,
    signal_width: float,
    signal_shape: SignalShape | None = None,
    sqrt_s: float = DEFAULT_SQRT_S,
) -> SpuriousSignal:
    """Fit signal + background to a background-only spectrum: the spurious signal of a function.

    The model is ``mu_i = B_i(params) + S t_i`` over *all* bins (SR included), with ``B_i`` the
    bin integral of the ``n_params``-parameter dijet function and ``t_i`` the fraction of a
    Gaussian (``signal_mass``, ``signal_width``) in bin ``i``, normalised to one over the SR bins
    -- so ``S`` is the number of signal events in the SR, like ``mu`` of the bump-hunt pyhf model.
    ``S`` is free and may be negative (the expectation is floored at a tiny positive value should a
    negative ``S`` push a bin below zero). The binned Poisson NLL ``sum (mu_i - n_i ln mu_i)`` is
    minimised with iminuit (MIGRAD + HESSE), starting from a background-only fit and in coordinates
    whitened by the Fisher information at that start.

    On a background-only template (an Asimov spectrum of a different, e.g. higher-order, function,
    or a large-statistics toy) the fitted ``S`` is the signal the function invents from its
    mismodelling; ATLAS and CMS quote it (often relative to ``signal_error``, e.g. requiring
    ``|S| < 0.5 signal_error``) and use ``|S|`` as a systematic on the signal yield. On an Asimov
    spectrum of the fit function itself ``S = 0``.

    Args:
        background_template: background-only expected (or toy) events per bin, all bins, >= 0.
        bin_edges: edges in TeV, with edges at the SR boundaries.
        signal_region: ``(low, high)`` SR in TeV; ``signal_mass`` must lie inside.
        n_params: 3, 4 or 5 dijet-function parameters.
        signal_mass: Gaussian signal mean (TeV).
        signal_width: Gaussian signal width (TeV), e.g. the mjj resolution.
        signal_shape: the signal's shape instead of a Gaussian (e.g. a crystal ball with a
            radiative tail, :class:`~anomsearch.stats.SignalShape`), placed at ``signal_mass``
            with its width replaced by ``signal_width``.
        sqrt_s: centre-of-mass energy in TeV.

    Returns:
        The :class:`SpuriousSignal`.

    Raises:
        ConfigError: bad binning, SR, ``n_params``, ``signal_mass`` or ``signal_width``.
        DataFormatError: ``background_template`` of the wrong shape, negative or non-finite, or
            with too few non-empty bins.
        FitError: the signal + background fit did not converge.

    References:
        ATLAS Collaboration, arXiv:1407.6583 and arXiv:1910.08447 (spurious signal);
        CMS Collaboration, arXiv:1911.03947.

    Examples:
        >>> edges = np.linspace(2.6, 5.0, 25)
        >>> mu = dijet_bin_integrals(edges, [np.log(2e5), 10.0, 5.0])
        >>> ss = spurious_signal(mu, bin_edges=edges, signal_region=(3.3, 3.7), n_params=3,
        ...                      signal_mass=3.5, signal_width=0.1)
        >>> bool(abs(ss.signal) < 0.01 * ss.signal_error)
        True
    """
    edges, in_sr, n = _checked_template(
        background_template, bin_edges, signal_region, n_params, signal_mass, signal_width, sqrt_s
    )
    shape = (signal_shape or GAUSSIAN)._replace(width=signal_width / signal_mass)
    frac = np.diff(shape.cdf(edges / signal_mass))
    sr_frac = float(frac[in_sr].sum())
    template = frac / sr_frac

    # 1) background-only fit over all bins, whitened by the least-squares covariance estimate
    bkg = _PoissonNLL(edges[:-1], edges[1:], n, n_params, sqrt_s)
    p_b = _background_only_params(bkg, edges, n, n_params, sqrt_s)

    # 2) signal + background, whitened by the Fisher information at (p_b, S = 0)
    theta0 = np.append(p_b, 0.0)
    W = _fisher_whitening(edges, p_b, template, sqrt_s)  # theta = theta0 + W z
    sb = _SignalPlusBackgroundNLL(bkg, template, n)
    m = _signal_plus_background_minuit(sb, theta0, W, n_params, signal_mass)

    theta = theta0 + W @ np.asarray(m.values)
    cov = W @ np.asarray(m.covariance) @ W.T
    cov = 0.5 * (cov + cov.T)
    signal = float(theta[-1])
    signal_error = float(np.sqrt(cov[-1, -1]))
    mu, b, _ = sb._mu(theta)
    chi2 = _baker_cousins_chi2(mu, n)
    result = SpuriousSignal(
        signal=signal,
        signal_error=signal_error,
        signal_over_error=signal / signal_error,
        n_params=n_params,
        signal_mass=float(signal_mass),
        signal_width=float(signal_width),
        params=theta[:-1],
        covariance=cov,
        template=template,
        expected=mu,
        background_in_sr=float(b[in_sr].sum()),
        chi2=chi2,
        ndf=int(n.size - n_params - 1),
    )
    log.debug(
        "spurious signal (%d params, m = %.3g TeV): S = %.3g +- %.3g (S / error = %.3g)",
        n_params,
        signal_mass,
        signal,
        signal_error,
        result.signal_over_error,
    )
    return result
