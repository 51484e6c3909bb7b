"""Discovery inference with pyhf: asymptotic ``q0`` p-value and significance, best-fit ``mu``.

pyhf keeps its tensor backend and optimizer in global state; :func:`minuit_backend` sets the NumPy
backend with the MINUIT optimizer (needed for parameter uncertainties) and restores whatever was set
before, so calling this module never changes pyhf's state for other code.

pyhf 0.7.6 validates specs with ``jsonschema.RefResolver``, which jsonschema >= 4.18 deprecates
with a ``DeprecationWarning`` on every validation; :func:`load_workspace` and :func:`discovery_test`
silence exactly that warning (by message) around pyhf's validation, nothing else.

pyhf's MINUIT optimizer cannot run a fit in which every parameter is fixed (it calls HESSE, which
warns, then fails on the missing covariance). The fixed-POI fit of a model whose only free parameter
is the POI is such a fit, so :func:`discovery_test` evaluates ``q0`` of such models directly from
``model.logpdf`` (same asymptotic formula, ``p0 = 1 - Phi(sqrt(q0))``).

References:
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727 (asymptotic formulae, ``q0``);
    G. Cowan, "Discovery sensitivity for a counting experiment with background uncertainty" (2012),
    https://www.pp.rhul.ac.uk/~cowan/stat/medsig/medsigNote.pdf;
    L. Heinrich, M. Feickert, G. Stark, K. Cranmer, pyhf, JOSS 6 (2021) 2823;
    ROOT/HistFactory, CERN-OPEN-2012-016.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyhf
from scipy.special import ndtr

from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = [
    "DiscoveryResult",
    "asimov_discovery_significance",
    "counting_experiment_spec",
    "discovery_test",
    "load_workspace",
    "minuit_backend",
]

log = logging.getLogger(__name__)

_RESOLVER_WARNING = r"jsonschema\.RefResolver is deprecated"


class DiscoveryResult(NamedTuple):
    """Result of :func:`discovery_test`.

    Attributes:
        p0: asymptotic p-value of the background-only hypothesis (``0.5`` when ``mu_hat <= 0``).
        significance: ``Z = sqrt(q0)`` (``0`` when ``mu_hat <= 0``), equal to ``Phi^-1(1 - p0)``.
        q0: discovery test statistic ``-2 ln lambda(0)``, 0 for ``mu_hat <= 0``.
        mu_hat: best-fit signal strength (the POI), from a fit whose POI lower bound is relaxed
            below 0 (to half the value at which some bin's expectation would vanish), so a deficit
            gives ``mu_hat < 0`` and the error is not distorted by a boundary at 0.
        mu_hat_error: HESSE uncertainty of ``mu_hat`` from MINUIT.
        observed: ``True`` when computed on the workspace's own observations, ``False`` when
            ``data`` was supplied.
    """

    p0: float
    significance: float
    q0: float
    mu_hat: float
    mu_hat_error: float
    observed: bool


def asimov_discovery_significance(s: float, b: float, sigma_b: float | None = None) -> float:
    """Median discovery significance of a counting experiment from the Asimov data set.

    Without background uncertainty: ``Z = sqrt(2 ((s + b) ln(1 + s/b) - s))``. With an absolute
    background uncertainty ``sigma_b`` (background constrained by a Poisson auxiliary measurement
    ``m ~ Pois(tau b)``, ``sigma_b^2 = b / tau``):

    ``Z^2 = 2 ((s+b) ln[(s+b)(b+S^2) / (b^2+(s+b) S^2)] - (b^2/S^2) ln[1 + S^2 s / (b (b+S^2))])``
    with ``S = sigma_b``.

    Args:
        s: expected signal events (>= 0).
        b: expected background events (> 0).
        sigma_b: absolute background uncertainty (>= 0); ``None`` or 0 for none.

    Returns:
        The significance ``Z`` (0 for ``s = 0``).

    Raises:
        ConfigError: out-of-range inputs.

    References:
        arXiv:1007.1727, eq. (97); G. Cowan, "Discovery sensitivity for a counting experiment with
        background uncertainty" (2012).

    Examples:
        >>> round(asimov_discovery_significance(10.0, 100.0), 4)
        0.984
        >>> round(asimov_discovery_significance(10.0, 100.0, 10.0), 4)
        0.6902
    """
    s, b = float(s), float(b)
    if not (math.isfinite(s) and s >= 0):
        raise ConfigError(f"signal s must be finite and >= 0, got {s}")
    if not (math.isfinite(b) and b > 0):
        raise ConfigError(f"background b must be finite and > 0, got {b}")
    if s == 0:
        return 0.0
    if sigma_b is None or float(sigma_b) == 0.0:
        q = 2.0 * ((s + b) * math.log1p(s / b) - s)
        return math.sqrt(max(q, 0.0))
    sb2 = float(sigma_b) ** 2
    if not (math.isfinite(sb2) and float(sigma_b) > 0):
        raise ConfigError(f"sigma_b must be finite and >= 0, got {sigma_b}")
    n = s + b
    # ln[(s+b)(b+sb2) / (b^2+(s+b) sb2)] = ln(1 + s b / (b^2 + (s+b) sb2))
    t1 = n * math.log1p(s * b / (b * b + n * sb2))
    t2 = (b * b / sb2) * math.log1p(sb2 * s / (b * (b + sb2)))
    return math.sqrt(max(2.0 * (t1 - t2), 0.0))


def counting_experiment_spec(
    s: float,
    b: float,
    *,
    sigma_b: float | None = None,
    observed: float | None = None,
    mu_upper: float | None = None,
) -> dict[str, Any]:
    """pyhf spec of a one-bin counting experiment: signal ``mu * s`` over background ``b``.

    ``mu`` multiplies the signal template ``s`` (so with ``s = 1`` it is the number of signal
    events). With ``sigma_b`` the background carries a ``shapesys`` modifier, i.e. a Poisson
    auxiliary measurement with ``tau = (b / sigma_b)^2`` -- exactly the setup of Cowan's formula in
    :func:`asimov_discovery_significance`; without it the only parameter is ``mu``.

    Args:
        s: signal events for ``mu = 1`` (> 0).
        b: expected background (> 0).
        sigma_b: absolute background uncertainty (> 0) or ``None``.
        observed: observed count; defaults to the Asimov value ``s + b``.
        mu_upper: upper bound of ``mu``; default ``max(10, 5 (s + b) / s)``.

    Returns:
        A pyhf workspace spec (dict) with measurement ``"counting"`` and POI ``"mu"``.

    Raises:
        ConfigError: out-of-range inputs.

    Examples:
        >>> spec = counting_experiment_spec(5.0, 20.0, sigma_b=2.0)
        >>> spec["channels"][0]["samples"][1]["modifiers"][0]["type"], spec["observations"]
        ('shapesys', [{'name': 'count', 'data': [25.0]}])
    """
    s, b = float(s), float(b)
    if not (math.isfinite(s) and s > 0 and math.isfinite(b) and b > 0):
        raise ConfigError(f"counting experiment needs s > 0 and b > 0, got s={s}, b={b}")
    bkg_modifiers: list[dict[str, Any]] = []
    if sigma_b is not None:
        if not (math.isfinite(float(sigma_b)) and float(sigma_b) > 0):
            raise ConfigError(f"sigma_b must be > 0 (or None), got {sigma_b}")
        bkg_modifiers.append({"name": "bkg_uncertainty", "type": "shapesys", "data": [sigma_b]})
    n_obs = s + b if observed is None else float(observed)
    if not (math.isfinite(n_obs) and n_obs >= 0):
        raise ConfigError(f"observed must be finite and >= 0, got {observed}")
    upper = max(10.0, 5.0 * (s + b) / s) if mu_upper is None else float(mu_upper)
    return {
        "version": "1.0.0",
        "channels": [
            {
                "name": "count",
                "samples": [
                    {
                        "name": "signal",
                        "data": [s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [b], "modifiers": bkg_modifiers},
                ],
            }
        ],
        "observations": [{"name": "count", "data": [n_obs]}],
        "measurements": [
            {
                "name": "counting",
                "config": {
                    "poi": "mu",
                    "parameters": [{"name": "mu", "bounds": [[0.0, upper]], "inits": [1.0]}],
                },
            }
        ],
    }


def _sqrt_q0_poi_only(model: Any, data: np.ndarray, best: np.ndarray, poi: int) -> float:
    """``sqrt(q0)`` of a model whose only free parameter is the POI (no fixed-POI fit needed)."""
    if best[poi] <= 0:
        return 0.0
    null = np.array(best, dtype=float)
    null[poi] = 0.0
    ll_best = float(np.asarray(model.logpdf(np.asarray(best, dtype=float), data))[0])
    ll_null = float(np.asarray(model.logpdf(null, data))[0])
    if not np.isfinite(ll_null):  # mu = 0 impossible (e.g. data in a bin without background)
        return math.inf
    return math.sqrt(max(2.0 * (ll_best - ll_null), 0.0))


def _relaxed_bounds(model: Any) -> list[tuple[float, float]]:
    """Suggested bounds with the POI lower bound moved below 0 where the model allows it."""
    bounds = [(float(lo), float(hi)) for lo, hi in model.config.suggested_bounds()]
    poi = model.config.poi_index
    init = np.asarray(model.config.suggested_init(), dtype=float)
    at0, at1 = init.copy(), init.copy()
    at0[poi], at1[poi] = 0.0, 1.0
    bkg = np.asarray(model.expected_actualdata(at0), dtype=float)
    sig = np.asarray(model.expected_actualdata(at1), dtype=float) - bkg
    ok = (sig > 0) & (bkg > 0)
    if np.any(ok) and np.all(bkg[sig > 0] > 0):
        lower = -0.5 * float(np.min(bkg[ok] / sig[ok]))
        bounds[poi] = (min(bounds[poi][0], lower), bounds[poi][1])
    return bounds


@contextlib.contextmanager
def _quiet_schema_validation() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_RESOLVER_WARNING, category=DeprecationWarning)
        yield


def load_workspace(spec: Mapping[str, Any] | pyhf.Workspace) -> pyhf.Workspace:
    """Validate a spec into a :class:`pyhf.Workspace` (a workspace is returned unchanged).

    Args:
        spec: pyhf JSON spec (dict) or an existing workspace.

    Returns:
        The workspace.

    Raises:
        ConfigError: the spec does not satisfy pyhf's schema.
    """
    if isinstance(spec, pyhf.Workspace):
        return spec
    try:
        with _quiet_schema_validation():
            return pyhf.Workspace(dict(spec))
    except pyhf.exceptions.InvalidSpecification as exc:
        raise ConfigError(f"invalid pyhf workspace spec: {exc}") from exc


@contextlib.contextmanager
def minuit_backend(*, strategy: int = 1, tolerance: float = 1e-4) -> Iterator[None]:
    """Use pyhf's NumPy backend with the MINUIT optimizer inside the block, then restore.

    Args:
        strategy: MINUIT strategy (0-2).
        tolerance: MIGRAD tolerance (pyhf's default is 0.1; tighter gives reproducible ``q0``).

    Examples:
        >>> before = pyhf.get_backend()
        >>> with minuit_backend():
        ...     pyhf.optimizer.name
        'minuit'
        >>> pyhf.get_backend() == before
        True
    """
    old_tensorlib, old_optimizer = pyhf.get_backend()
    pyhf.set_backend(
        "numpy",
        pyhf.optimize.minuit_optimizer(strategy=strategy, tolerance=tolerance),
        precision="64b",
    )
    try:
        yield
    finally:
        pyhf.set_backend(old_tensorlib, old_optimizer)


def discovery_test(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    *,
    data: Sequence[float] | np.ndarray | None = None,
    measurement: str | None = None,
) -> DiscoveryResult:
    """Asymptotic discovery test (``q0``) and best-fit POI of a pyhf workspace.

    The p-value comes from pyhf's :class:`~pyhf.infer.calculators.AsymptoticCalculator` with
    ``test_stat="q0"``; ``mu_hat`` and its HESSE error come from an unconditional MINUIT fit. All
    fits run inside :func:`minuit_backend`.

    Args:
        workspace: pyhf spec (dict) or :class:`pyhf.Workspace`.
        data: main-bin observations (auxiliary data are appended from the model) or the full data
            vector; default: the workspace's observations.
        measurement: measurement name; default: the workspace's first measurement.

    Returns:
        The :class:`DiscoveryResult`.

    Raises:
        ConfigError: invalid spec or measurement.
        DataFormatError: ``data`` of the wrong length or negative.
        FitError: a likelihood fit failed.

    References:
        arXiv:1007.1727 (eqs. 12, 53).

    Examples:
        >>> r = discovery_test(counting_experiment_spec(10.0, 100.0))
        >>> round(r.significance, 3), round(r.mu_hat, 2)
        (0.984, 1.0)
    """
    ws = load_workspace(workspace)
    observed = data is None
    with minuit_backend():
        try:
            with _quiet_schema_validation():
                model = ws.model(measurement_name=measurement)
        except pyhf.exceptions.InvalidMeasurement as exc:
            raise ConfigError(f"workspace measurement {measurement!r}: {exc}") from exc
        if data is None:
            full = np.asarray(ws.data(model), dtype=float)
        else:
            d = np.asarray(data, dtype=float).ravel()
            n_main = model.config.nmaindata
            if d.size == n_main:
                full = np.concatenate([d, np.asarray(model.config.auxdata, dtype=float)])
            elif d.size == n_main + len(model.config.auxdata):
                full = d
            else:
                raise DataFormatError(
                    f"data has {d.size} entries; expected {n_main} main bins "
                    f"(or {n_main + len(model.config.auxdata)} with auxiliary data)"
                )
            if not np.all(np.isfinite(full)) or np.any(full < 0):
                raise DataFormatError("data must be finite and non-negative")
        poi = model.config.poi_index
        if poi is None:
            raise ConfigError("the workspace measurement defines no POI")
        fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
        free_nuisance = np.count_nonzero(~fixed) - (0 if fixed[poi] else 1)
        try:
            if free_nuisance > 0:
                calc = pyhf.infer.calculators.AsymptoticCalculator(full, model, test_stat="q0")
                shifted = calc.teststatistic(0.0)
                sb_dist, _ = calc.distributions(0.0)
                p0 = float(sb_dist.pvalue(shifted))
                sqrt_q0 = max(float(shifted) + float(calc.sqrtqmuA_v), 0.0)
            res = np.asarray(
                pyhf.infer.mle.fit(
                    full, model, par_bounds=_relaxed_bounds(model), return_uncertainties=True
                )
            )
            fit, unc = res[:, 0], res[:, 1]
            if free_nuisance == 0:
                sqrt_q0 = _sqrt_q0_poi_only(model, full, fit, poi)
                p0 = float(ndtr(-sqrt_q0))
        except pyhf.exceptions.FailedMinimization as exc:
            raise FitError(f"pyhf fit failed: {exc}") from exc
    mu_hat = float(fit[poi])
    q0 = sqrt_q0**2
    result = DiscoveryResult(
        p0=p0,
        significance=math.sqrt(q0),
        q0=q0,
        mu_hat=mu_hat,
        mu_hat_error=float(unc[poi]),
        observed=observed,
    )
    log.info("discovery test: Z = %.3f (p0 = %.3g), mu_hat = %.3g", result[1], p0, mu_hat)
    return result
