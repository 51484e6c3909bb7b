"""Discovery inference with pyhf: ``q0`` p-value and significance (asymptotic or toys), ``mu_hat``.

pyhf keeps its tensor backend and optimizer in global state; :func:`minuit_backend` sets the NumPy
backend with the MINUIT optimizer (needed for parameter uncertainties) and restores whatever was set
before, so calling this module never changes pyhf's state for other code. Toy-based p-values are
computed with pyhf's default SciPy optimizer and NumPy's global RNG, seeded and then restored.

pyhf 0.7.6 validates specs with ``jsonschema.RefResolver``, which jsonschema >= 4.18 deprecates
with a ``DeprecationWarning`` on every validation; :func:`load_workspace` and :func:`discovery_test`
silence exactly that warning (by message) around pyhf's validation, nothing else.

The asymptotic ``q0`` is pyhf's discovery test statistic, ``-2 ln lambda(0)`` from a conditional
(``mu = 0``) and the unconditional MINUIT fit, with ``p0 = 1 - Phi(sqrt(q0))`` -- the p-value of
pyhf's ``AsymptoticCalculator`` for ``test_stat="q0"``, without the Asimov fits that calculator
also runs (they cancel in ``p0``), which keeps pseudo-experiment loops cheap. pyhf's MINUIT
optimizer cannot run a fit in which every parameter is fixed (it calls HESSE, which warns, then
fails on the missing covariance). The fixed-POI fit of a model whose only free parameter is the
POI is such a fit, so :func:`discovery_test` evaluates ``q0`` of such models directly from
``model.logpdf``.

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
from typing import Any, Literal, NamedTuple

import numpy as np
import pyhf
from scipy.special import ndtr, ndtri

from anomsearch.exceptions import ConfigError, DataFormatError, FitError

__all__ = [
    "DiscoveryResult",
    "MuHatInterval",
    "asimov_discovery_significance",
    "counting_experiment_spec",
    "discovery_test",
    "load_workspace",
    "minuit_backend",
    "mu_hat_interval",
]

log = logging.getLogger(__name__)

_RESOLVER_WARNING = r"jsonschema\.RefResolver is deprecated"
# observed / toy q0 below this count as 0: optimizer noise of fits at the mu = 0 boundary
_Q0_ZERO = 1e-6
_ONE_SIGMA_CL = float(ndtr(1.0) - ndtr(-1.0))


class DiscoveryResult(NamedTuple):
    """Result of :func:`discovery_test`.

    Attributes:
        p0: p-value of the background-only hypothesis: asymptotic (``0.5`` when ``mu_hat <= 0``)
            or, with toys, the fraction of toys with ``q0 >= q0_obs`` (floored at
            ``1 / (n_toys + 1)``; 1 when ``q0_obs = 0``).
        significance: asymptotic ``Z = sqrt(q0)`` (``0`` when ``mu_hat <= 0``), equal to
            ``Phi^-1(1 - p0)``; with toys ``max(Phi^-1(1 - p0), 0)``.
        q0: observed discovery test statistic ``-2 ln lambda(0)``, 0 for ``mu_hat <= 0``.
        mu_hat: best-fit signal strength (the POI), from a fit whose POI lower bound is relaxed
            below 0 (to half the value at which some bin's expectation would vanish), so a deficit
            gives ``mu_hat < 0`` and the error is not distorted by a boundary at 0.
        mu_hat_error: HESSE uncertainty of ``mu_hat`` from MINUIT.
        observed: ``True`` when computed on the workspace's own observations, ``False`` when
            ``data`` was supplied.
        calculator: ``"asymptotics"`` or ``"toys"``: how ``p0`` was computed.
    """

    p0: float
    significance: float
    q0: float
    mu_hat: float
    mu_hat_error: float
    observed: bool
    calculator: str = "asymptotics"


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


def _sqrt_q0_profiled(
    model: Any, data: np.ndarray, best: np.ndarray, twice_nll_hat: float, poi: int
) -> float:
    """``sqrt(q0)`` from the unconditional fit and a conditional fit at ``mu = 0`` (MINUIT).

    For ``mu_hat > 0`` the relaxed-bound unconditional minimum is the one of pyhf's ``q0`` (POI
    bounded at 0), so ``q0 = twice_nll(0) - twice_nll(mu_hat)``; for ``mu_hat <= 0``, ``q0 = 0``.
    """
    if best[poi] <= 0:
        return 0.0
    try:
        _, twice_nll_0 = pyhf.infer.mle.fixed_poi_fit(0.0, data, model, return_fitted_val=True)
    except pyhf.exceptions.FailedMinimization as exc:
        raise FitError(f"pyhf fit at mu = 0 failed: {exc}") from exc
    twice_nll_0 = float(twice_nll_0)
    if not np.isfinite(twice_nll_0):
        return math.inf
    return math.sqrt(max(twice_nll_0 - twice_nll_hat, 0.0))


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
def _pyhf_backend(optimizer: Any) -> Iterator[None]:
    """Use pyhf's NumPy backend (64 bit) with ``optimizer`` inside the block, then restore."""
    old_tensorlib, old_optimizer = pyhf.get_backend()
    pyhf.set_backend("numpy", optimizer, precision="64b")
    try:
        yield
    finally:
        pyhf.set_backend(old_tensorlib, old_optimizer)


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
    with _pyhf_backend(pyhf.optimize.minuit_optimizer(strategy=strategy, tolerance=tolerance)):
        yield


@contextlib.contextmanager
def _scipy_backend() -> Iterator[None]:
    """NumPy backend with pyhf's default SciPy (SLSQP) optimizer inside the block, then restore.

    Unlike MINUIT it handles fits in which every parameter is fixed (the fixed-POI fits of a model
    whose only parameter is the POI), and it is pyhf's default, with which pyhf's documented
    CLs numbers are computed.
    """
    with _pyhf_backend(pyhf.optimize.scipy_optimizer()):
        yield


@contextlib.contextmanager
def _seeded_global_numpy_rng(seed: int | None) -> Iterator[int]:
    """Seed NumPy's legacy global RNG inside the block and restore its previous state afterwards.

    pyhf's NumPy backend samples toys with ``scipy.stats`` distributions without a
    ``random_state``, i.e. from ``np.random``'s global generator. ``seed=None`` draws a fresh seed
    from OS entropy; the seed used is yielded.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32) or None, got {seed!r}")
    state = np.random.get_state()  # noqa: NPY002 -- pyhf samples from the legacy global RNG
    np.random.seed(int(seed))  # noqa: NPY002
    try:
        yield int(seed)
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _check_toy_options(calculator: str, n_toys: int) -> None:
    if calculator not in ("asymptotics", "toys"):
        raise ConfigError(f"calculator must be 'asymptotics' or 'toys', got {calculator!r}")
    if isinstance(n_toys, bool) or not isinstance(n_toys, int | np.integer) or n_toys < 1:
        raise ConfigError(f"n_toys must be a positive integer, got {n_toys!r}")


def _model_and_data(
    ws: pyhf.Workspace,
    data: Sequence[float] | np.ndarray | None,
    measurement: str | None,
) -> tuple[Any, np.ndarray]:
    """Build the model of ``measurement`` and the full data vector (main bins + auxiliary data).

    The workspace was validated by :func:`load_workspace`, so the model spec derived from it is not
    validated a second time. Main-bin counts must be non-negative; auxiliary data only finite
    (the auxiliary data of Gaussian constraints, e.g. ``histosys``, are centred on 0).
    """
    try:
        with _quiet_schema_validation():
            model = ws.model(measurement_name=measurement, validate=False)
    except pyhf.exceptions.InvalidMeasurement as exc:
        raise ConfigError(f"workspace measurement {measurement!r}: {exc}") from exc
    if model.config.poi_index is None:
        raise ConfigError("the workspace measurement defines no POI")
    n_main = model.config.nmaindata
    aux = np.asarray(model.config.auxdata, dtype=float)
    if data is None:
        return model, np.asarray(ws.data(model), dtype=float)
    d = np.asarray(data, dtype=float).ravel()
    if d.size == n_main:
        full = np.concatenate([d, aux])
    elif d.size == n_main + aux.size:
        full = d
    else:
        raise DataFormatError(
            f"data has {d.size} entries; expected {n_main} main bins "
            f"(or {n_main + aux.size} with auxiliary data)"
        )
    if not np.all(np.isfinite(full)) or np.any(full[:n_main] < 0):
        raise DataFormatError("data must be finite and non-negative (main bins)")
    return model, full


def _free_nuisance_count(model: Any) -> int:
    fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
    poi = model.config.poi_index
    return int(np.count_nonzero(~fixed) - (0 if fixed[poi] else 1))


def _relaxed_fit(model: Any, data: np.ndarray, **kwargs: Any) -> Any:
    """Unconditional MINUIT fit with the POI lower bound relaxed (inside :func:`minuit_backend`)."""
    try:
        return pyhf.infer.mle.fit(data, model, par_bounds=_relaxed_bounds(model), **kwargs)
    except pyhf.exceptions.FailedMinimization as exc:
        raise FitError(f"pyhf fit failed: {exc}") from exc


def _toy_q0_pvalue(
    model: Any, data: np.ndarray, *, n_toys: int, seed: int | None
) -> tuple[float, float]:
    """Observed ``q0`` and its p-value from background-only toys (inside :func:`_scipy_backend`).

    The observed statistic comes from :class:`pyhf.infer.calculators.ToyCalculator`; the toys are
    generated exactly as its ``distributions`` does for the tested hypothesis ``mu = 0`` (nuisance
    parameters at their conditional MLE for ``mu = 0`` on the observed data, main and auxiliary
    data sampled from that pdf), without the ``mu = 1`` sample ``distributions`` also throws,
    which the ``q0`` p-value does not use. Values below ``_Q0_ZERO`` count as 0.
    """
    init = model.config.suggested_init()
    bounds = model.config.suggested_bounds()
    fixed = model.config.suggested_fixed()
    calc = pyhf.infer.calculators.ToyCalculator(
        data, model, init, bounds, fixed, test_stat="q0", ntoys=int(n_toys), track_progress=False
    )
    teststat = pyhf.infer.test_statistics.q0
    try:
        q_obs = float(calc.teststatistic(0.0))
        null_pars = pyhf.infer.mle.fixed_poi_fit(0.0, data, model, init, bounds, fixed)
        with _seeded_global_numpy_rng(seed) as used:
            toys = np.asarray(model.make_pdf(null_pars).sample((int(n_toys),)), dtype=float)
        q_toys = np.array([float(teststat(0.0, toy, model, init, bounds, fixed)) for toy in toys])
    except pyhf.exceptions.FailedMinimization as exc:
        raise FitError(f"pyhf fit failed during the toy q0 calculation: {exc}") from exc
    q_obs = 0.0 if q_obs < _Q0_ZERO else q_obs
    q_toys = np.where(q_toys < _Q0_ZERO, 0.0, q_toys)
    n_above = int(np.count_nonzero(q_toys >= q_obs))
    p0 = n_above / n_toys
    if n_above == 0:
        p0 = 1.0 / (n_toys + 1)
        log.warning(
            "no toy of %d reached the observed q0 = %.3g: p0 floored at 1/(n_toys+1) = %.3g, "
            "the significance is a lower bound",
            n_toys,
            q_obs,
            p0,
        )
    log.debug("toy q0: %d of %d toys >= q0_obs = %.4g (seed %d)", n_above, n_toys, q_obs, used)
    return q_obs, p0


def discovery_test(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    *,
    data: Sequence[float] | np.ndarray | None = None,
    measurement: str | None = None,
    calculator: Literal["asymptotics", "toys"] = "asymptotics",
    n_toys: int = 1000,
    seed: int | None = None,
) -> DiscoveryResult:
    """Discovery test (``q0``) and best-fit POI of a pyhf workspace, asymptotic or with toys.

    With ``calculator="asymptotics"``, ``p0 = 1 - Phi(sqrt(q0))``, the p-value of pyhf's
    :class:`~pyhf.infer.calculators.AsymptoticCalculator` with ``test_stat="q0"``, with ``q0``
    from the unconditional and ``mu = 0`` MINUIT fits (inside :func:`minuit_backend`).

    With ``calculator="toys"`` the observed ``q0`` comes from pyhf's
    :class:`~pyhf.infer.calculators.ToyCalculator` and ``p0`` is the fraction of ``n_toys``
    background-only pseudo-experiments (nuisance parameters at their conditional MLE for
    ``mu = 0``, auxiliary data fluctuated too) with ``q0 >= q0_obs``; the significance is
    ``max(Phi^-1(1 - p0), 0)``. When no toy reaches ``q0_obs``, ``p0`` is floored at
    ``1 / (n_toys + 1)`` (a warning is logged; the significance is then a lower bound). For
    ``q0_obs = 0`` (``mu_hat <= 0``) the toy ``p0`` is 1, not the asymptotic convention 0.5. The
    toy fits use pyhf's default SciPy optimizer. Toys are drawn from NumPy's global legacy RNG
    (which pyhf's NumPy backend samples from), seeded with ``seed`` (``None``: a fresh seed from OS
    entropy); its previous state is restored afterwards, so other code's random streams are not
    disturbed (not thread-safe with concurrent users of ``np.random``).

    In both cases ``mu_hat`` and its HESSE error come from an unconditional MINUIT fit.

    Args:
        workspace: pyhf spec (dict) or :class:`pyhf.Workspace`.
        data: main-bin observations (auxiliary data are appended from the model) or the full data
            vector; default: the workspace's observations.
        measurement: measurement name; default: the workspace's first measurement.
        calculator: ``"asymptotics"`` or ``"toys"``.
        n_toys: number of background-only toys (``calculator="toys"`` only).
        seed: seed of the toys (``calculator="toys"`` only).

    Returns:
        The :class:`DiscoveryResult`.

    Raises:
        ConfigError: invalid spec, measurement, calculator, ``n_toys`` or ``seed``.
        DataFormatError: ``data`` of the wrong length or negative.
        FitError: a likelihood fit failed.

    References:
        arXiv:1007.1727 (eqs. 12, 53); pyhf, JOSS 6 (2021) 2823 (toy calculator, following the
        ATLAS/CMS Higgs combination procedure, ATL-PHYS-PUB-2011-011).

    Examples:
        >>> r = discovery_test(counting_experiment_spec(10.0, 100.0))
        >>> round(r.significance, 3), round(r.mu_hat, 2)
        (0.984, 1.0)
        >>> t = discovery_test(counting_experiment_spec(10.0, 100.0), calculator="toys",
        ...                    n_toys=200, seed=1)
        >>> 0.1 < t.p0 < 0.25, abs(t.q0 - r.q0) < 1e-3
        (True, True)
    """
    _check_toy_options(calculator, n_toys)
    ws = load_workspace(workspace)
    observed = data is None
    with minuit_backend():
        model, full = _model_and_data(ws, data, measurement)
        poi = model.config.poi_index
        res, twice_nll_hat = _relaxed_fit(
            model, full, return_uncertainties=True, return_fitted_val=True
        )
        res = np.asarray(res)
        fit, unc = res[:, 0], res[:, 1]
        if calculator == "asymptotics":
            if _free_nuisance_count(model) == 0:
                sqrt_q0 = _sqrt_q0_poi_only(model, full, fit, poi)
            else:
                sqrt_q0 = _sqrt_q0_profiled(model, full, fit, float(twice_nll_hat), poi)
            p0 = float(ndtr(-sqrt_q0))
    if calculator == "toys":
        with _scipy_backend():
            q0, p0 = _toy_q0_pvalue(model, full, n_toys=int(n_toys), seed=seed)
        significance = max(float(-ndtri(p0)), 0.0)
    else:
        q0 = sqrt_q0**2
        significance = math.sqrt(q0)
    mu_hat = float(fit[poi])
    result = DiscoveryResult(
        p0=p0,
        significance=significance,
        q0=q0,
        mu_hat=mu_hat,
        mu_hat_error=float(unc[poi]),
        observed=observed,
        calculator=calculator,
    )
    log.info(
        "discovery test (%s): Z = %.3f (p0 = %.3g), mu_hat = %.3g",
        calculator,
        significance,
        p0,
        mu_hat,
    )
    return result


class MuHatInterval(NamedTuple):
    """Result of :func:`mu_hat_interval`.

    Attributes:
        mu_hat: best-fit POI (relaxed lower bound, as in :func:`discovery_test`).
        lower: lower end of the MINOS (profile-likelihood) interval.
        upper: upper end of the MINOS interval.
        hesse_error: symmetric HESSE uncertainty, for comparison.
        cl: confidence level of the interval.
    """

    mu_hat: float
    lower: float
    upper: float
    hesse_error: float
    cl: float


def mu_hat_interval(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    *,
    data: Sequence[float] | np.ndarray | None = None,
    measurement: str | None = None,
    cl: float = _ONE_SIGMA_CL,
) -> MuHatInterval:
    """Best-fit POI with asymmetric (MINOS, profile-likelihood) errors.

    The interval is ``{mu : -2 ln lambda(mu) <= chi2_1 quantile(cl)}`` with the nuisance parameters
    profiled, from MINUIT's MINOS on the unconditional fit of :func:`discovery_test` (POI lower
    bound relaxed below 0). The default ``cl`` is the one-sigma 68.27%.

    Args:
        workspace: pyhf spec (dict) or :class:`pyhf.Workspace`.
        data: main-bin or full data (see :func:`discovery_test`); default: the observations.
        measurement: measurement name; default: the first.
        cl: confidence level in ``(0, 1)``.

    Returns:
        The :class:`MuHatInterval`.

    Raises:
        ConfigError: invalid spec, measurement or ``cl``.
        DataFormatError: bad ``data``.
        FitError: the fit or MINOS failed (e.g. the interval reaches a POI bound).

    References:
        F. James, MINUIT reference manual, CERN D506 (MINOS); arXiv:1007.1727, sec. 2.

    Examples:
        >>> r = mu_hat_interval(counting_experiment_spec(10.0, 100.0, observed=120.0))
        >>> round(r.mu_hat, 2), round(r.lower, 2), round(r.upper, 2)
        (2.0, 0.94, 3.13)
    """
    cl = float(cl)
    if not 0.0 < cl < 1.0:
        raise ConfigError(f"cl must be in (0, 1), got {cl}")
    ws = load_workspace(workspace)
    with minuit_backend():
        model, full = _model_and_data(ws, data, measurement)
        poi = model.config.poi_index
        fit, result = _relaxed_fit(model, full, return_result_obj=True)
        minuit = result.minuit
        name = minuit.parameters[poi]
        try:
            minuit.minos(name, cl=cl)
        except RuntimeError as exc:
            raise FitError(f"MINOS failed on the POI: {exc}") from exc
        merr = minuit.merrors[name]
        if not merr.is_valid:
            raise FitError(
                f"MINOS interval of the POI is not valid (lower valid {merr.lower_valid}, upper "
                f"valid {merr.upper_valid}, at limit {merr.at_lower_limit or merr.at_upper_limit})"
            )
        mu_hat = float(np.asarray(fit)[poi])
        out = MuHatInterval(
            mu_hat=mu_hat,
            lower=mu_hat + float(merr.lower),
            upper=mu_hat + float(merr.upper),
            hesse_error=float(minuit.errors[poi]),
            cl=cl,
        )
    log.info("mu_hat = %.4g (+%.3g / -%.3g)", mu_hat, out.upper - mu_hat, mu_hat - out.lower)
    return out
