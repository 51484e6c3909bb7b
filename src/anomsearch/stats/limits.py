"""CLs upper limits on the signal strength ``mu`` of a pyhf workspace.

The limit is the ``mu`` at which ``CLs = CL_{s+b} / CL_b`` of the test statistic ``qtilde_mu``
falls to ``1 - cl``, observed and expected (median and +-1, +-2 sigma bands of the
background-only hypothesis), from :func:`pyhf.infer.hypotest`. With the bump-hunt convention of
:func:`~anomsearch.stats.bumphunt_model.build_bumphunt_spec` (signal template normalised to one over
the SR bins) ``mu`` is the number of signal events, so the limit is on the signal yield.

All hypothesis tests run with pyhf's NumPy backend and its default SciPy optimizer -- the setup of
pyhf's documented CLs numbers, and one that handles the fixed-POI fits of models whose only
parameter is ``mu`` -- inside a context that restores pyhf's previous backend and optimizer. The
automatic scan range uses ``mu_hat`` and its HESSE error from a MINUIT fit.

References:
    A. L. Read, "Presentation of search results: the CLs technique", J. Phys. G 28 (2002) 2693;
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727 (``qtilde_mu``, eqs. 16, 65-66);
    L. Heinrich, M. Feickert, G. Stark, K. Cranmer, pyhf, JOSS 6 (2021) 2823.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pyhf
from scipy.optimize import brentq
from scipy.special import ndtr

from anomsearch.exceptions import ConfigError, FitError
from anomsearch.stats.inference import (
    _check_toy_options,
    _model_and_data,
    _relaxed_fit,
    _scipy_backend,
    _seeded_global_numpy_rng,
    load_workspace,
    minuit_backend,
)

__all__ = ["UpperLimit", "upper_limit"]

log = logging.getLogger(__name__)

# percentiles of the -2, -1, 0, +1, +2 sigma quantiles of the standard normal
_NORMAL_PERCENTILES = 100.0 * ndtr(np.arange(-2.0, 3.0))
_N_SIGMA_AUTO = 5.0  # automatic scan: up to max(mu_hat, 0) + this many HESSE errors (then doubled)
# the CLs curves of a limit, in the order of UpperLimit (observed, then expected), for messages
_CURVE_NAMES = (
    "observed",
    "expected -2",
    "expected -1",
    "expected 0",
    "expected +1",
    "expected +2",
)


class UpperLimit(NamedTuple):
    """Result of :func:`upper_limit`.

    Attributes:
        observed: observed CLs upper limit on ``mu``.
        expected: expected limits at the ``-2, -1, 0, +1, +2`` sigma quantiles of the
            background-only hypothesis (ascending; index 2 is the median); NaN where that CLs
            curve does not cross ``1 - cl`` inside an explicit scan.
        scan: the ``mu`` values at which CLs was evaluated (the grid, without root-finding points).
        cls_observed: observed CLs at each ``scan`` value.
        cls_expected: ``(len(scan), 5)`` expected CLs at each ``scan`` value, columns in the order
            of ``expected``.
        cl: confidence level of the limit (the limit is where ``CLs = 1 - cl``).
    """

    observed: float
    expected: np.ndarray
    scan: np.ndarray
    cls_observed: np.ndarray
    cls_expected: np.ndarray
    cl: float


def _first_crossing(y: np.ndarray, level: float) -> int | None:
    """Index ``i >= 1`` of the first ``y[i] < level`` with ``y[i - 1] >= level`` (else ``None``)."""
    below = np.flatnonzero(y < level)
    if below.size == 0 or below[0] == 0:
        return None
    return int(below[0])


def _interpolate(x: np.ndarray, y: np.ndarray, i: int, level: float) -> float:
    """Linear interpolation of ``y = level`` between ``x[i - 1]`` and ``x[i]``."""
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


def _toy_cls(mu: float, data: np.ndarray, model: Any, n_toys: int) -> tuple[float, np.ndarray]:
    """Observed and expected toy CLs at ``mu`` from pyhf's :class:`ToyCalculator` distributions.

    Same quantities as ``pyhf.infer.hypotest(..., calctype="toybased", return_expected_set=True)``:
    ``CLs = P(q >= q_obs | s+b) / P(q >= q_obs | b)`` from the toy samples, and the expected CLs as
    the ``Phi(-2..2)`` percentiles of CLs evaluated at the background-only toys. Computed here
    because pyhf 0.7.6's toy ``expected_pvalues`` calls ``np.percentile(interpolation=...)``, which
    NumPy 2.4 no longer accepts.
    """
    calc = pyhf.infer.calculators.ToyCalculator(
        data, model, test_stat="qtilde", ntoys=n_toys, track_progress=False
    )
    t_obs = float(calc.teststatistic(mu))
    sb_dist, b_dist = calc.distributions(mu)
    sb = np.sort(np.asarray(sb_dist.samples, dtype=float))
    b = np.sort(np.asarray(b_dist.samples, dtype=float))

    def cls(t: np.ndarray) -> np.ndarray:
        clsb = 1.0 - np.searchsorted(sb, t, side="left") / sb.size
        clb = 1.0 - np.searchsorted(b, t, side="left") / b.size
        # beyond every background-only toy: CLs -> 0 (1 in the odd case CLs+b > 0 = CLb)
        return np.where(clb > 0, clsb / np.where(clb > 0, clb, 1.0), np.where(clsb > 0, 1.0, 0.0))

    expected = np.percentile(cls(b), _NORMAL_PERCENTILES)
    return float(cls(np.array([t_obs]))[0]), np.asarray(expected, dtype=float)


def _validate_scan(scan: Sequence[float] | np.ndarray, upper: float) -> np.ndarray:
    grid = np.asarray(scan, dtype=float)
    if grid.ndim != 1 or grid.size < 2:
        raise ConfigError("scan must be a 1-d sequence of at least 2 POI values")
    if not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0) or grid[0] < 0:
        raise ConfigError("scan must be finite, non-negative and strictly increasing")
    if grid[-1] > upper:
        raise ConfigError(f"scan reaches mu = {grid[-1]:g}, beyond the POI upper bound {upper:g}")
    return grid


def _check_limit_options(
    calculator: str, n_toys: int, cl: float, n_scan: int, rtol: float
) -> float:
    """Check the options of :func:`upper_limit`; return ``cl`` as a float."""
    _check_toy_options(calculator, n_toys)
    cl = float(cl)
    if not 0.0 < cl < 1.0:
        raise ConfigError(f"cl must be in (0, 1), got {cl}")
    if isinstance(n_scan, bool) or not isinstance(n_scan, int | np.integer) or n_scan < 2:
        raise ConfigError(f"n_scan must be an integer >= 2, got {n_scan!r}")
    if not (math.isfinite(rtol) and rtol > 0):
        raise ConfigError(f"rtol must be > 0, got {rtol}")
    return cl


def _cls_evaluator(
    model: Any, data: np.ndarray, calculator: str, n_toys: int
) -> Callable[[float], tuple[float, np.ndarray]]:
    """``mu -> (CLs observed, CLs expected (5,))``, each ``mu`` computed once."""
    cache: dict[float, tuple[float, np.ndarray]] = {}

    def evaluate(mu: float) -> tuple[float, np.ndarray]:
        mu = float(mu)
        if mu not in cache:
            try:
                if calculator == "toys":
                    cache[mu] = _toy_cls(mu, data, model, n_toys)
                else:
                    obs, exp = pyhf.infer.hypotest(
                        mu, data, model, test_stat="qtilde", return_expected_set=True
                    )
                    cache[mu] = (float(obs), np.array([float(v) for v in exp]))
            except pyhf.exceptions.FailedMinimization as exc:
                raise FitError(f"pyhf fit failed in the CLs test at mu = {mu:g}: {exc}") from exc
        return cache[mu]

    return evaluate


def _crossings(
    grid: np.ndarray,
    curves: list[np.ndarray],
    level: float,
    evaluate: Callable[[float], tuple[float, np.ndarray]] | None,
    rtol: float,
) -> list[float]:
    """The ``mu`` where each CLs curve (observed, then expected) first falls below ``level``.

    Solved with Brent's method in the grid bracket when ``evaluate`` is given, else linearly
    interpolated; NaN (with a warning) for an expected curve that does not cross.
    """
    limits = []
    for k, (name, curve) in enumerate(zip(_CURVE_NAMES, curves, strict=True)):
        i = _first_crossing(curve, level)
        if i is None:
            msg = (
                f"{name} CLs does not cross {level:g} inside the scan [{grid[0]:g}, "
                f"{grid[-1]:g}] (CLs from {curve[0]:.3g} to {curve[-1]:.3g})"
            )
            if k == 0:
                raise ConfigError(f"{msg}; adjust the scan")
            log.warning("%s: that expected limit is NaN", msg)
            limits.append(math.nan)
            continue
        if evaluate is not None:

            def f(mu: float, k: int = k) -> float:
                obs, exp = evaluate(mu)
                return (obs if k == 0 else float(exp[k - 1])) - level

            limits.append(float(brentq(f, grid[i - 1], grid[i], xtol=1e-12, rtol=rtol)))
        else:
            limits.append(_interpolate(grid, curve, i, level))
    return limits


def upper_limit(
    workspace_or_spec: Mapping[str, Any] | pyhf.Workspace,
    *,
    data: Sequence[float] | np.ndarray | None = None,
    measurement: str | None = None,
    cl: float = 0.95,
    scan: Sequence[float] | np.ndarray | None = None,
    calculator: Literal["asymptotics", "toys"] = "asymptotics",
    n_scan: int = 21,
    rtol: float = 1e-4,
    n_toys: int = 1000,
    seed: int | None = None,
) -> UpperLimit:
    """CLs upper limit on the POI ``mu`` (observed and expected band), with ``qtilde_mu``.

    With an explicit ``scan`` the limits are the linear interpolation of CLs between the scan
    points bracketing ``1 - cl``, as in :func:`pyhf.infer.intervals.upper_limits.upper_limit`
    with a scan. With ``scan=None`` the grid is ``n_scan`` points on ``(0, mu_max]``, with
    ``mu_max = max(mu_hat, 0) + 5 sigma(mu_hat)`` (doubled, up to the POI's upper bound, until every
    CLs curve is below ``1 - cl``); with the asymptotic calculator each limit is then solved
    for exactly (Brent's method in its grid bracket, relative tolerance ``rtol``) -- the same
    root as pyhf's ``toms748_scan``. Toy-based CLs (``calculator="toys"``, pyhf's
    :class:`~pyhf.infer.calculators.ToyCalculator`, ``n_toys`` per hypothesis and scan point) is
    noisy, so it is only interpolated on the grid; the toys are drawn from NumPy's global RNG seeded
    with ``seed``, whose state is restored afterwards.

    Args:
        workspace_or_spec: pyhf spec (dict) or :class:`pyhf.Workspace`; its POI must have lower
            bound 0 (the ``qtilde`` convention).
        data: main-bin observations or the full data vector (see
            :func:`~anomsearch.stats.inference.discovery_test`); default: the observations.
        measurement: measurement name; default: the workspace's first.
        cl: confidence level, e.g. 0.95.
        scan: increasing, non-negative POI values; ``None`` for the automatic scan.
        calculator: ``"asymptotics"`` (arXiv:1007.1727) or ``"toys"``.
        n_scan: number of grid points of the automatic scan (>= 2).
        rtol: relative tolerance of the root finding (automatic asymptotic scan only).
        n_toys: toys per hypothesis and scan point (``calculator="toys"`` only).
        seed: seed of the toys (``calculator="toys"`` only; ``None``: fresh entropy).

    Returns:
        The :class:`UpperLimit`.

    Raises:
        ConfigError: invalid spec, options or scan, a POI lower bound other than 0, or a scan
            in which the observed CLs does not cross ``1 - cl`` (an expected limit whose CLs
            curve does not cross it is NaN, with a logged warning).
        DataFormatError: bad ``data``.
        FitError: a fit failed.

    References:
        Read, J. Phys. G 28 (2002) 2693 (CLs); arXiv:1007.1727 (asymptotic ``qtilde_mu``);
        pyhf, JOSS 6 (2021) 2823.

    Examples:
        >>> from anomsearch.stats.inference import counting_experiment_spec
        >>> lim = upper_limit(counting_experiment_spec(1.0, 100.0, observed=100.0, mu_upper=100.0))
        >>> round(lim.observed, 1), lim.expected.round(1).tolist()
        (20.9, [10.9, 14.8, 20.9, 29.8, 41.1])
    """
    cl = _check_limit_options(calculator, n_toys, cl, n_scan, rtol)
    level = 1.0 - cl
    ws = load_workspace(workspace_or_spec)

    with contextlib.ExitStack() as stack:
        stack.enter_context(_scipy_backend())
        if calculator == "toys":
            stack.enter_context(_seeded_global_numpy_rng(seed))
        model, full = _model_and_data(ws, data, measurement)
        poi = model.config.poi_index
        lo, hi = (float(v) for v in model.config.suggested_bounds()[poi])
        if lo != 0.0:
            raise ConfigError(f"qtilde CLs limits need the POI lower bound at 0, got {lo:g}")
        evaluate = _cls_evaluator(model, full, calculator, int(n_toys))
        if scan is None:
            grid = _automatic_grid(model, full, evaluate, level=level, upper=hi, n_scan=n_scan)
        else:
            grid = _validate_scan(scan, hi)
        results = [evaluate(mu) for mu in grid]
        cls_obs = np.array([r[0] for r in results])
        cls_exp = np.array([r[1] for r in results])
        limits = _crossings(
            grid,
            [cls_obs, *cls_exp.T],
            level,
            evaluate if scan is None and calculator == "asymptotics" else None,
            rtol,
        )

    result = UpperLimit(
        observed=limits[0],
        expected=np.array(limits[1:]),
        scan=grid,
        cls_observed=cls_obs,
        cls_expected=cls_exp,
        cl=cl,
    )
    log.info(
        "CLs %.0f%% upper limit (%s): observed %.4g, expected %.4g [%.4g, %.4g] (+-1 sigma)",
        100 * cl,
        calculator,
        result.observed,
        result.expected[2],
        result.expected[1],
        result.expected[3],
    )
    return result


def _automatic_grid(
    model: Any,
    data: np.ndarray,
    evaluate: Callable[[float], tuple[float, np.ndarray]],
    *,
    level: float,
    upper: float,
    n_scan: int,
) -> np.ndarray:
    """Grid ``(0, mu_max]`` with every CLs curve below ``level`` at ``mu_max``."""
    with minuit_backend():
        res = np.asarray(_relaxed_fit(model, data, return_uncertainties=True))
    poi = model.config.poi_index
    mu_hat, sigma = float(res[poi, 0]), float(res[poi, 1])
    if not (math.isfinite(sigma) and sigma > 0):
        log.warning("no usable HESSE error of mu_hat (%r); scanning up to the POI bound", sigma)
        top = upper
    else:
        top = min(max(mu_hat, 0.0) + _N_SIGMA_AUTO * sigma, upper)
    while True:
        obs, exp = evaluate(top)
        if obs < level and np.all(exp < level):
            break
        if top >= upper:
            raise ConfigError(
                f"CLs is still above {level:g} at the POI upper bound mu = {upper:g}; raise the "
                "bound (e.g. mu_upper of the spec builders)"
            )
        top = min(2.0 * top, upper)
    log.debug("automatic CLs scan: mu_hat = %.4g +- %.3g, grid up to %.4g", mu_hat, sigma, top)
    return np.linspace(0.0, top, n_scan + 1)[1:]
