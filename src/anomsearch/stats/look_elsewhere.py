"""Look-elsewhere effect: global significance of the largest local excess of a scan.

A scan over mass windows (and score-efficiency working points) reports the largest local
significance ``Z_local``; its global p-value is the probability that the *largest* local
significance of a background-only experiment is at least as large.

- :func:`global_significance_from_toys`: the global p-value from pseudo-experiments, each of which
  repeated the whole selection and fit and reported its own maximum local Z over all windows x
  efficiencies. :func:`run_pseudo_experiments` runs such a per-toy function with seeds derived from
  one master seed and the toy index (``numpy.random.SeedSequence`` spawn keys), optionally in a
  process pool or in batches on an executor of :mod:`anomsearch.compute` (e.g. dask workers); a
  toy's result depends only on ``(seed, index)``, so any split into batches, jobs, workers or
  separate calls (``first_toy``) merges into exactly the same array.
- :func:`fit_effective_trials`: the number ``N`` of independent trials whose Sidak law
  ``P(max Z <= z) = Phi(z)^N`` best describes the pseudo-experiments' maxima (maximum
  likelihood), and the global p-value of the observed excess extrapolated with it -- past the
  largest toy, where the toys' own global p-value is only a floor ``1 / (n_toys + 1)``.
- :func:`trials_factor_approximation`, when toys are infeasible: (a) Sidak with an effective number
  of independent windows ``N`` (e.g. the scan range over the mass resolution),
  ``p_global = 1 - (1 - p_local)^N`` (Bonferroni ``N p_local`` to first order); (b) the
  Gross-Vitells upcrossing formula for a test statistic ``q = Z^2`` with one degree of freedom,
  ``p_global ~= p_local + <N_up(Z_ref)> exp(-(Z^2 - Z_ref^2) / 2)``, with the mean number of
  upcrossings of a low reference level ``Z_ref`` counted in a few background-only scans
  (:func:`count_upcrossings`).

All p-values are one-sided, ``p = 1 - Phi(Z)``.

References:
    E. Gross, O. Vitells, "Trial factors for the look elsewhere effect in high energy physics",
    Eur. Phys. J. C 70 (2010) 525, arXiv:1005.1891; R. B. Davies, Biometrika 74 (1987) 33;
    Z. Sidak, J. Am. Stat. Assoc. 62 (1967) 626; J. H. Collins, K. Howe, B. Nachman,
    arXiv:1805.02664 (pseudo-experiments of a CWoLa bump hunt).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.progress import progress_bar

if TYPE_CHECKING:
    from anomsearch.compute import Executor

__all__ = [
    "EffectiveTrials",
    "GlobalSignificance",
    "TrialsFactorApproximation",
    "count_upcrossings",
    "derive_toy_seeds",
    "fit_effective_trials",
    "global_significance_from_toys",
    "run_pseudo_experiments",
    "trials_factor_approximation",
]

log = logging.getLogger(__name__)


class GlobalSignificance(NamedTuple):
    """Result of :func:`global_significance_from_toys`.

    Attributes:
        local_z: observed maximum local significance.
        local_p: its one-sided local p-value ``1 - Phi(local_z)``.
        global_p: fraction of toys whose maximum local Z is ``>= local_z`` (floored at
            ``1 / (n_toys + 1)`` when none is).
        global_z: ``max(Phi^-1(1 - global_p), 0)``.
        trials_factor: ``global_p / local_p``.
        n_toys: number of pseudo-experiments.
        n_exceeding: toys with maximum local Z ``>= local_z``.
        global_p_error: binomial standard error ``sqrt(p (1 - p) / n_toys)`` of ``global_p``.
    """

    local_z: float
    local_p: float
    global_p: float
    global_z: float
    trials_factor: float
    n_toys: int
    n_exceeding: int
    global_p_error: float


class TrialsFactorApproximation(NamedTuple):
    """Result of :func:`trials_factor_approximation`.

    Attributes:
        method: ``"sidak"`` or ``"gross-vitells"``.
        local_z: the local significance.
        local_p: ``1 - Phi(local_z)``.
        global_p: approximate global p-value (at most 1).
        global_z: ``max(Phi^-1(1 - global_p), 0)``.
        trials_factor: ``global_p / local_p``.
        n_windows_effective: effective number of independent windows (Sidak; NaN otherwise).
        reference_z: reference level of the upcrossings (Gross-Vitells; NaN otherwise).
        upcrossings_at_reference: mean number of upcrossings of ``reference_z`` (Gross-Vitells;
            NaN otherwise).
    """

    method: str
    local_z: float
    local_p: float
    global_p: float
    global_z: float
    trials_factor: float
    n_windows_effective: float
    reference_z: float
    upcrossings_at_reference: float


class EffectiveTrials(NamedTuple):
    """Result of :func:`fit_effective_trials`.

    Attributes:
        n_trials: the maximum-likelihood ``N`` of ``P(max Z <= z) = Phi(z)^N``.
        n_trials_error: its asymptotic standard error ``N / sqrt(n_positive)``.
        n_toys: the pseudo-experiments used.
        n_positive: those with a maximum local Z above 0.
        local_z: the observed maximum local Z (NaN if none was given).
        global_p: ``1 - (1 - p_local)^N`` at ``local_z`` (NaN if none was given).
        global_z: ``max(Phi^-1(1 - global_p), 0)``.
    """

    n_trials: float
    n_trials_error: float
    n_toys: int
    n_positive: int
    local_z: float
    global_p: float
    global_z: float


def fit_effective_trials(
    toy_max_local_z: Sequence[float] | np.ndarray, local_z: float | None = None
) -> EffectiveTrials:
    """The effective number of independent trials of a scan, fitted to its pseudo-experiments.

    If the scan behaved like ``N`` independent tests with asymptotic local p-values, the largest
    local Z of a background-only scan would follow ``P(max Z <= z) = Phi(z)^N`` for ``z > 0``,
    with ``P(max Z = 0) = 2^-N`` (local Z's are floored at 0). Then ``-ln Phi(max Z)`` is
    exponential with rate ``N``, censored at ``ln 2`` for the maxima at 0, and the maximum
    likelihood estimate is closed-form: ``N = n_positive / (sum_{Z > 0} -ln Phi(Z) + n_zero ln 2)``.
    Correlated windows give ``N`` below the number of entries; a scan whose local p-values are
    optimistic (sculpting, tails beyond the asymptotic formula) gives ``N`` above it. The fit
    is what lets a few dozen toys say how rare an excess beyond all of them is; whether the law
    describes the toys is for the caller to check (e.g. a KS test of their maxima).

    Args:
        toy_max_local_z: the largest local Z of each background-only pseudo-experiment.
        local_z: an observed maximum local Z to extrapolate to (optional).

    Returns:
        The :class:`EffectiveTrials`.

    Raises:
        DataFormatError: no toys, non-finite or negative entries, or no toy above 0.
        ConfigError: a non-finite ``local_z``.

    References:
        Z. Sidak, J. Am. Stat. Assoc. 62 (1967) 626; arXiv:1005.1891 (trials factors).

    Examples:
        >>> rng = np.random.default_rng(1)
        >>> z = np.maximum(ndtri(rng.random(20_000) ** (1 / 25)), 0.0)  # Phi(max Z)^25 uniform
        >>> fit = fit_effective_trials(z, local_z=4.0)
        >>> round(fit.n_trials), round(fit.global_z, 2)
        (25, 3.16)
    """
    z = np.asarray(toy_max_local_z, dtype=float)
    if z.ndim != 1 or z.size == 0 or not np.all(np.isfinite(z)) or np.any(z < 0):
        raise DataFormatError(
            "fit_effective_trials: toy_max_local_z must be a non-empty 1-d array of finite "
            "local Z's >= 0"
        )
    positive = z[z > 0]
    if positive.size == 0:
        raise DataFormatError("fit_effective_trials: no pseudo-experiment has a local Z above 0")
    exposure = float(np.sum(-np.log(ndtr(positive)))) + (z.size - positive.size) * math.log(2.0)
    n_trials = positive.size / exposure
    global_p = global_z = observed = math.nan
    if local_z is not None:
        observed = _finite_z(local_z, "local_z")
        global_p = _sidak_global_p(float(ndtr(-observed)), n_trials)
        global_z = _z_from_p(global_p)
    return EffectiveTrials(
        n_trials=float(n_trials),
        n_trials_error=float(n_trials / math.sqrt(positive.size)),
        n_toys=int(z.size),
        n_positive=int(positive.size),
        local_z=observed,
        global_p=global_p,
        global_z=global_z,
    )


def _sidak_global_p(local_p: float, n_trials: float) -> float:
    """Sidak: ``1 - (1 - local_p)^n_trials``, accurate for tiny ``local_p``."""
    return float(-math.expm1(n_trials * math.log1p(-local_p)))


def _z_from_p(p: float) -> float:
    return max(float(-ndtri(p)), 0.0) if p < 1.0 else 0.0


def _finite_z(value: float, name: str) -> float:
    try:
        z = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a finite number, got {value!r}") from exc
    if not math.isfinite(z):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return z


def global_significance_from_toys(
    local_z_observed: float, toy_max_local_z: Sequence[float] | np.ndarray
) -> GlobalSignificance:
    """Global p-value and significance of the observed maximum local Z from pseudo-experiments.

    Args:
        local_z_observed: the observed maximum local significance over all windows (and
            efficiencies) of the scan.
        toy_max_local_z: the maximum local significance of each background-only pseudo-experiment,
            obtained with the same scan (e.g. from :func:`run_pseudo_experiments`).

    Returns:
        The :class:`GlobalSignificance`.

    Raises:
        ConfigError: a non-finite ``local_z_observed``.
        DataFormatError: ``toy_max_local_z`` is empty, not 1-d, or has non-finite entries.

    References:
        arXiv:1005.1891 (sec. 1); arXiv:1805.02664.

    Examples:
        >>> g = global_significance_from_toys(2.0, [0.5, 1.0, 2.5, 1.5, 3.0, 0.2, 1.9, 2.0])
        >>> g.n_exceeding, g.global_p, round(g.trials_factor, 2)
        (3, 0.375, 16.48)
    """
    z_obs = _finite_z(local_z_observed, "global_significance_from_toys.local_z_observed")
    toys = np.asarray(toy_max_local_z, dtype=float)
    if toys.ndim != 1 or toys.size == 0:
        raise DataFormatError(
            f"toy_max_local_z must be a non-empty 1-d array, got shape {toys.shape}"
        )
    if not np.all(np.isfinite(toys)):
        n_bad = int(np.count_nonzero(~np.isfinite(toys)))
        raise DataFormatError(f"toy_max_local_z has {n_bad} non-finite entries (failed toys?)")
    n = int(toys.size)
    k = int(np.count_nonzero(toys >= z_obs))
    p = k / n
    if k == 0:
        p = 1.0 / (n + 1)
        log.warning(
            "no toy of %d reached the observed local Z = %.3g: global p floored at "
            "1/(n_toys+1) = %.3g, the global significance is a lower bound",
            n,
            z_obs,
            p,
        )
    local_p = float(ndtr(-z_obs))
    result = GlobalSignificance(
        local_z=z_obs,
        local_p=local_p,
        global_p=p,
        global_z=_z_from_p(p),
        trials_factor=p / local_p if local_p > 0 else math.inf,
        n_toys=n,
        n_exceeding=k,
        global_p_error=math.sqrt(p * (1.0 - p) / n),
    )
    log.info(
        "global significance from %d toys: Z_local = %.3f -> Z_global = %.3f (p = %.3g +- %.2g)",
        n,
        z_obs,
        result.global_z,
        p,
        result.global_p_error,
    )
    return result


def _check_count(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"run_pseudo_experiments.{name} must be an integer >= {minimum}")
    return int(value)


def derive_toy_seeds(seed: int, n_toys: int, *, first_toy: int = 0) -> list[int]:
    """Per-toy seeds: toy ``i`` gets ``SeedSequence(seed, spawn_key=(i,))``'s first 63 bits.

    The seed of a toy depends only on ``seed`` and its index, never on how the toys are split.

    Args:
        seed: master seed (integer >= 0).
        n_toys: number of seeds (>= 0).
        first_toy: index of the first toy.

    Returns:
        ``n_toys`` integers in ``[0, 2**63)`` for the toys ``first_toy, first_toy + 1, ...``.

    Raises:
        ConfigError: negative or non-integer arguments.

    Examples:
        >>> derive_toy_seeds(7, 4)[2:] == derive_toy_seeds(7, 2, first_toy=2)
        True
    """
    _check_count(seed, "seed", minimum=0)
    _check_count(n_toys, "n_toys", minimum=0)
    _check_count(first_toy, "first_toy", minimum=0)
    out = []
    for i in range(int(first_toy), int(first_toy) + int(n_toys)):
        state = np.random.SeedSequence(int(seed), spawn_key=(i,)).generate_state(1, np.uint64)
        out.append(int(state[0]) >> 1)
    return out


def _run_toy_batch(toy_seeds: list[int], *, make_toy: Callable[[int], float]) -> list[float]:
    """One batch of pseudo-experiments (a unit of an executor; module level for dask)."""
    return [float(make_toy(s)) for s in toy_seeds]


def run_pseudo_experiments(
    make_toy: Callable[[int], float],
    *,
    n_toys: int,
    seed: int,
    n_jobs: int = 1,
    progress: bool = True,
    first_toy: int = 0,
    batch_size: int | None = None,
    executor: Executor | None = None,
) -> np.ndarray:
    """Run ``make_toy(toy_seed)`` for ``n_toys`` pseudo-experiments with derived seeds.

    ``make_toy`` runs one whole pseudo-experiment (throw the background-only data with
    ``numpy.random.default_rng(toy_seed)``, redo the selection and the fits of the scan) and
    returns its maximum local significance. Toy ``i`` always gets the seed of
    :func:`derive_toy_seeds` for index ``first_toy + i``: the result is identical for any
    ``n_jobs``, ``executor`` and ``batch_size``, and calls covering ``[0, n)`` and ``[n, m)``
    (``first_toy=n``) concatenate to the call covering ``[0, m)``. Seeds are 63-bit; a per-toy
    function that needs a 32-bit seed (e.g. pyhf's toy calculators via ``seed=``) can use
    ``toy_seed % 2**32``.

    Args:
        make_toy: per-toy function; with ``n_jobs > 1`` it must be picklable (a module-level
            function or a :func:`functools.partial` of one); with a dask ``executor``
            cloudpickle-able, and it is sent to every worker once (so a partial may carry large
            arrays).
        n_toys: number of pseudo-experiments (>= 1).
        seed: master seed (>= 0).
        n_jobs: worker processes (``spawn`` start method, so a script needs the
            ``if __name__ == "__main__":`` guard); 1 runs in this process.
        progress: show a progress bar (:mod:`anomsearch.progress`).
        first_toy: index of the first toy (to split a large production into separate calls).
        batch_size: toys handed to a worker at a time (default: ``n_toys / (8 n_jobs)``, or
            ``n_toys / (8 x executor.parallelism)``); only affects scheduling.
        executor: run the batches on this executor (:mod:`anomsearch.compute`, e.g. a
            :class:`~anomsearch.compute.DaskExecutor`) instead of ``n_jobs`` local processes;
            the batches are merged in toy order.

    Returns:
        Array of ``n_toys`` floats in toy order.

    Raises:
        ConfigError: bad options, an unpicklable ``make_toy`` with ``n_jobs > 1``, or both
            ``n_jobs > 1`` and an ``executor``.

    References:
        arXiv:1805.02664 (pseudo-experiments of the full bump hunt).

    Examples:
        >>> a = run_pseudo_experiments(float, n_toys=6, seed=1, progress=False)
        >>> b = run_pseudo_experiments(float, n_toys=3, seed=1, first_toy=3, progress=False)
        >>> bool(np.array_equal(a[3:], b))
        True
        >>> from anomsearch.compute import SerialExecutor
        >>> c = run_pseudo_experiments(
        ...     float, n_toys=6, seed=1, progress=False, executor=SerialExecutor(), batch_size=4
        ... )
        >>> bool(np.array_equal(a, c))
        True
    """
    n = _check_count(n_toys, "n_toys", minimum=1)
    jobs = _check_count(n_jobs, "n_jobs", minimum=1)
    if executor is not None and jobs > 1:
        raise ConfigError(
            "run_pseudo_experiments: give either n_jobs > 1 (local processes) or an executor"
        )
    if batch_size is None:
        slots = jobs if executor is None else executor.parallelism
        batch = max(1, math.ceil(n / (8 * slots)))
    else:
        batch = _check_count(batch_size, "batch_size", minimum=1)
    if not callable(make_toy):
        raise ConfigError("run_pseudo_experiments.make_toy must be callable")
    seeds = derive_toy_seeds(seed, n, first_toy=first_toy)
    out = np.empty(n, dtype=float)
    with progress_bar(n, description="pseudo-experiments", unit="toy", enabled=progress) as bar:
        if executor is not None:
            starts = range(0, n, batch)
            batches = executor.map(
                _run_toy_batch,
                [seeds[a : a + batch] for a in starts],
                shared={"make_toy": make_toy},
                on_result=lambda _, values: bar.update(len(values)),
            )
            for a, values in zip(starts, batches, strict=True):
                out[a : a + len(values)] = values
        elif jobs == 1:
            for i, toy_seed in enumerate(seeds):
                out[i] = float(make_toy(toy_seed))
                bar.update(1)
        else:
            try:
                pickle.dumps(make_toy)
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                raise ConfigError(
                    "run_pseudo_experiments.make_toy must be picklable with n_jobs > 1 (a "
                    f"module-level function or a functools.partial of one): {exc}"
                ) from exc
            with ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
            ) as pool:
                for i, value in enumerate(pool.map(make_toy, seeds, chunksize=batch)):
                    out[i] = float(value)
                    bar.update(1)
    log.debug("ran %d pseudo-experiments (seed %d, first toy %d)", n, seed, first_toy)
    return out


def count_upcrossings(scans: Sequence[Sequence[float]] | np.ndarray, level: float) -> np.ndarray:
    """Number of upcrossings of ``level`` in each scan (consecutive points ``z[i-1] < level <=
    z[i]``).

    Args:
        scans: local significances of background-only scans, shape ``(n_scans, n_points)``
            (a single 1-d scan is one row), points ordered along the scanned variable.
        level: the level.

    Returns:
        Integer array of ``n_scans`` counts.

    Raises:
        DataFormatError: not 1-d / 2-d, fewer than 2 points, or non-finite values.

    Examples:
        >>> count_upcrossings([[0.0, 1.2, 0.3, 1.5, 2.0, 0.1]], 1.0).tolist()
        [2]
    """
    z = np.asarray(scans, dtype=float)
    if z.ndim == 1:
        z = z[None, :]
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] == 0:
        raise DataFormatError(
            f"scans must have shape (n_scans, n_points >= 2), got {np.shape(scans)}"
        )
    if not np.all(np.isfinite(z)):
        raise DataFormatError("scans have non-finite local significances")
    lvl = _finite_z(level, "count_upcrossings.level")
    return np.count_nonzero((z[:, :-1] < lvl) & (z[:, 1:] >= lvl), axis=1)


def trials_factor_approximation(
    local_z: float,
    *,
    n_windows_effective: float | None = None,
    scan_range: float | tuple[float, float] | None = None,
    resolution: float | None = None,
    reference_z: float = 1.0,
    upcrossings_at_reference: float | None = None,
    toy_scans: Sequence[Sequence[float]] | np.ndarray | None = None,
) -> TrialsFactorApproximation:
    """Approximate global p-value of a local significance without a full set of toys.

    Exactly one of:

    - Sidak: ``n_windows_effective``, or ``scan_range`` and ``resolution`` (``N = range /
      resolution``, ``resolution`` being the width of one independent window, e.g. the mjj
      resolution): ``p_global = 1 - (1 - p_local)^N``.
    - Gross-Vitells: the mean number of upcrossings ``upcrossings_at_reference`` of the level
      ``reference_z`` in background-only scans, or the scans themselves (``toy_scans``, shape
      ``(n_scans, n_points)``, local Z along the scanned mass; a few suffice at a low level):
      ``p_global = p_local + N_up exp(-(Z^2 - Z_ref^2) / 2)`` (capped at 1), valid for
      ``Z > Z_ref`` and most accurate for large Z.

    Args:
        local_z: the local significance.
        n_windows_effective: effective number of independent windows (>= 1).
        scan_range: width of the scanned range, or its ``(low, high)`` ends.
        resolution: width of one independent window, same unit as ``scan_range``.
        reference_z: reference level ``Z_ref`` of the upcrossings (Gross-Vitells).
        upcrossings_at_reference: mean upcrossings of ``reference_z`` (Gross-Vitells).
        toy_scans: background-only scans from which to count them (Gross-Vitells).

    Returns:
        The :class:`TrialsFactorApproximation`.

    Raises:
        ConfigError: none or both methods selected, or invalid values.
        DataFormatError: malformed ``toy_scans``.

    References:
        E. Gross, O. Vitells, arXiv:1005.1891 (eq. 3 with ``s = 1``); Z. Sidak (1967).

    Examples:
        >>> a = trials_factor_approximation(3.0, scan_range=(2.6, 6.0), resolution=0.17)
        >>> a.method, round(a.n_windows_effective, 3), round(a.global_p, 4)
        ('sidak', 20.0, 0.0267)
        >>> g = trials_factor_approximation(3.0, upcrossings_at_reference=5.0, reference_z=1.0)
        >>> g.method, round(g.global_p, 4)
        ('gross-vitells', 0.0929)
    """
    z = _finite_z(local_z, "trials_factor_approximation.local_z")
    local_p = float(ndtr(-z))
    sidak = n_windows_effective is not None or scan_range is not None or resolution is not None
    gross_vitells = upcrossings_at_reference is not None or toy_scans is not None
    if sidak == gross_vitells:
        raise ConfigError(
            "trials_factor_approximation needs exactly one method: n_windows_effective (or "
            "scan_range and resolution) for Sidak, or upcrossings_at_reference (or toy_scans) "
            "for Gross-Vitells"
        )
    nan = math.nan
    if sidak:
        n_eff = _effective_windows(n_windows_effective, scan_range, resolution)
        # 1 - (1 - p)^N without cancellation for small p
        global_p = _sidak_global_p(local_p, n_eff)
        method, z_ref, n_up = "sidak", nan, nan
    else:
        method, n_eff = "gross-vitells", nan
        z_ref = _finite_z(reference_z, "trials_factor_approximation.reference_z")
        if z_ref < 0:
            raise ConfigError(
                f"trials_factor_approximation.reference_z must be >= 0, got {reference_z!r}"
            )
        if upcrossings_at_reference is not None and toy_scans is not None:
            raise ConfigError(
                "trials_factor_approximation: give either upcrossings_at_reference or toy_scans, "
                "not both"
            )
        if toy_scans is not None:
            n_up = float(np.mean(count_upcrossings(toy_scans, z_ref)))
        else:
            n_up = _finite_z(
                upcrossings_at_reference, "trials_factor_approximation.upcrossings_at_reference"
            )
            if n_up < 0:
                raise ConfigError(
                    f"trials_factor_approximation.upcrossings_at_reference must be >= 0, got {n_up}"
                )
        if z < z_ref:
            log.warning(
                "Gross-Vitells formula used below its reference level (Z = %.3g < Z_ref = %.3g)",
                z,
                z_ref,
            )
        global_p = min(local_p + n_up * math.exp(-(z * z - z_ref * z_ref) / 2.0), 1.0)
    result = TrialsFactorApproximation(
        method=method,
        local_z=z,
        local_p=local_p,
        global_p=global_p,
        global_z=_z_from_p(global_p),
        trials_factor=global_p / local_p if local_p > 0 else math.inf,
        n_windows_effective=n_eff,
        reference_z=z_ref,
        upcrossings_at_reference=n_up,
    )
    log.info(
        "%s: Z_local = %.3f -> Z_global ~ %.3f (trials factor %.3g)",
        method,
        z,
        result.global_z,
        result.trials_factor,
    )
    return result


def _effective_windows(
    n_windows_effective: float | None,
    scan_range: float | tuple[float, float] | None,
    resolution: float | None,
) -> float:
    if n_windows_effective is not None:
        if scan_range is not None or resolution is not None:
            raise ConfigError(
                "trials_factor_approximation: give either n_windows_effective or scan_range "
                "and resolution"
            )
        n_eff = _finite_z(n_windows_effective, "trials_factor_approximation.n_windows_effective")
    else:
        if scan_range is None or resolution is None:
            raise ConfigError(
                "trials_factor_approximation: the Sidak approximation needs both scan_range and "
                "resolution"
            )
        if isinstance(scan_range, tuple | list):
            if len(scan_range) != 2:
                raise ConfigError(
                    "trials_factor_approximation.scan_range must be a width or (low, high), "
                    f"got {scan_range!r}"
                )
            width = _finite_z(scan_range[1], "trials_factor_approximation.scan_range") - _finite_z(
                scan_range[0], "trials_factor_approximation.scan_range"
            )
        else:
            width = _finite_z(scan_range, "trials_factor_approximation.scan_range")
        res = _finite_z(resolution, "trials_factor_approximation.resolution")
        if not (width > 0 and res > 0):
            raise ConfigError(
                "trials_factor_approximation.scan_range must be a positive width and "
                f"trials_factor_approximation.resolution > 0, got {scan_range!r}, {resolution!r}"
            )
        n_eff = width / res
    if n_eff < 1:
        raise ConfigError(
            f"trials_factor_approximation.n_windows_effective (the effective number of windows) "
            f"must be >= 1, got {n_eff:g}"
        )
    return n_eff
