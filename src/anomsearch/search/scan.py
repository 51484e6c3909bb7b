"""Sliding-window resonance search: retrain the anomaly score and bump hunt in many mjj windows.

The resonance mass is unknown, so the signal region (SR) slides across the mjj spectrum. In every
window the anomaly method is retrained with k-fold cross-scoring (the SR/SB labels of CWoLa
hunting change with the window), then for each selection efficiency the score cut, sideband fit
and discovery test of :func:`anomsearch.search.bump_hunt.bump_hunt` are run. The result is a table
of local significances per (window, efficiency); the look-elsewhere effect over the windows is not
corrected here.

The per-window work is the pure function :func:`run_window`; :func:`sliding_window_search` maps
it over the windows with an executor of :mod:`anomsearch.compute` (serial, or dask workers: the
results are identical) and can keep each finished window in a
:class:`~anomsearch.compute.UnitCache`, so that a rerun or a restarted run only computes the
windows it does not have yet.

References:
    J. H. Collins, K. Howe, B. Nachman, "Anomaly detection for resonant new physics with machine
    learning", arXiv:1805.02664; "Extending the search for new resonances with machine learning",
    arXiv:1902.02634 (CWoLa hunting in sliding windows).
    G. Kasieczka et al., "The LHC Olympics 2020", arXiv:2101.08320.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from anomsearch._io import finite_or_none
from anomsearch.background.dijet import DIJET_N_PARAMS
from anomsearch.compute import Executor, SerialExecutor, UnitCache, fingerprint
from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions, kfold_assignments
from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.methods.base import AnomalyMethod, cross_score, derive_seed, fit_once
from anomsearch.progress import progress_bar
from anomsearch.provenance import array_checksum
from anomsearch.search.bump_hunt import (
    ASYMPTOTIC,
    BumpHuntResult,
    DiscoveryOptions,
    aligned_bin_edges,
    bump_hunt,
)
from anomsearch.search.selection import select_at_efficiency
from anomsearch.search.spurious import SpuriousReference
from anomsearch.search.window import discovery_options
from anomsearch.stats import Systematic
from anomsearch.stats.signal_shape import GAUSSIAN, SignalShape

if TYPE_CHECKING:
    from anomsearch.config import BackgroundConfig, ScanConfig, StatsConfig

__all__ = [
    "ScanResult",
    "SkippedWindow",
    "WindowOutcome",
    "WindowResult",
    "run_window",
    "scan_search",
    "scan_windows",
    "sliding_window_search",
]

log = logging.getLogger(__name__)

_EDGE_DECIMALS = 9  # window edges are rounded to 1e-9 TeV so that 3.3 stays 3.3


class WindowResult(NamedTuple):
    """The bump hunt at one efficiency in one window.

    Attributes:
        window_index: position of the window in the scan.
        window: the SR and its sidebands.
        efficiency: the requested fraction of SR events kept by the score cut.
        significance: local discovery significance Z (one-sided, >= 0).
        p0: local p-value of the background-only hypothesis.
        mu_hat: best-fit signal strength (events of the signal template).
        n_selected_sr: selected events in the SR.
        expected_sr: background predicted in the SR by the sideband fit.
        fit_chi2: chi2 of the sideband fit.
        fit_ndf: degrees of freedom of the sideband fit.
        fit_p_value: goodness-of-fit p-value of the sideband fit.
        gate_p_value: the fit-quality gate's statistic (goodness of fit of signal + background
            over the fit range, :mod:`anomsearch.search.fit_gate`; NaN with the gate off).
        fit_passed: whether it passed the fit-quality gate (``min_fit_p_value``); an entry whose
            fit failed is never the scan's most significant one.
        train_seconds: wall time of the window's k-fold training and scoring.
        hunt: the full :class:`~anomsearch.search.bump_hunt.BumpHuntResult`.
    """

    window_index: int
    window: Regions
    efficiency: float
    significance: float
    p0: float
    mu_hat: float
    n_selected_sr: int
    expected_sr: float
    fit_chi2: float
    fit_ndf: int
    fit_p_value: float
    gate_p_value: float
    fit_passed: bool
    train_seconds: float
    hunt: BumpHuntResult

    @classmethod
    def of(
        cls, window_index: int, window: Regions, hunt: BumpHuntResult, *, train_seconds: float
    ) -> WindowResult:
        """The row of one bump hunt in one window."""
        disc = hunt.discovery
        return cls(
            window_index=window_index,
            window=window,
            efficiency=float(hunt.selection.efficiency),
            significance=float(disc.significance),
            p0=float(disc.p0),
            mu_hat=float(disc.mu_hat),
            n_selected_sr=int(np.sum(hunt.observed_sr)),
            expected_sr=float(np.sum(hunt.prediction.expected)),
            fit_chi2=float(hunt.fit.chi2),
            fit_ndf=int(hunt.fit.ndf),
            fit_p_value=float(hunt.fit.p_value),
            gate_p_value=float(hunt.gate_p_value),
            fit_passed=hunt.fit_passed,
            train_seconds=train_seconds,
            hunt=hunt,
        )


class SkippedWindow(NamedTuple):
    """A window (``efficiency=None``: training failed) or one efficiency of it that was skipped.

    Attributes:
        window_index: position of the window in the scan.
        window: the SR and its sidebands.
        efficiency: the efficiency whose bump hunt failed, or None if the whole window failed.
        reason: the error message.
    """

    window_index: int
    window: Regions
    efficiency: float | None
    reason: str


class WindowOutcome(NamedTuple):
    """Everything :func:`run_window` produced for one window.

    Attributes:
        results: one :class:`WindowResult` per efficiency that succeeded.
        skipped: the failures (see :class:`SkippedWindow`).
        train_seconds: wall time of the training and scoring.
    """

    results: list[WindowResult]
    skipped: list[SkippedWindow]
    train_seconds: float


class ScanResult(NamedTuple):
    """Result of :func:`sliding_window_search`.

    Attributes:
        results: every successful (window, efficiency) bump hunt, ordered by window then
            efficiency.
        skipped: the windows / efficiencies that failed, with the reason.
        best: the result with the highest local significance among those whose sideband fit
            passed the fit-quality gate (None if there is none).
        windows: the scanned windows.
        efficiencies: the scanned efficiencies.
        wall_seconds: wall time of the whole scan.
    """

    results: list[WindowResult]
    skipped: list[SkippedWindow]
    best: WindowResult | None
    windows: tuple[Regions, ...]
    efficiencies: tuple[float, ...]
    wall_seconds: float

    def for_window(self, window_index: int) -> list[WindowResult]:
        """The results of one window, one per (successful) efficiency."""
        return [r for r in self.results if r.window_index == window_index]

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready row per (window, efficiency), skipped ones included.

        Rows share the keys ``window_index, sr_low, sr_high, sb_low, sb_high, sr_center,
        efficiency, significance, p0, p0_calculator, mu_hat, n_selected_sr, expected_sr,
        fit_chi2, fit_ndf, fit_p_value, gate_p_value, fit_passed, spurious_signal,
        spurious_relative, spurious_passed (None without the spurious-signal test), skipped``;
        a skipped row has ``None`` for the numbers and the reason in ``skipped`` (a whole-window
        failure gives one row per efficiency).
        """
        rows: list[tuple[int, float, dict[str, Any]]] = []
        for r in self.results:
            rows.append(
                (
                    r.window_index,
                    r.efficiency,
                    {
                        **_window_record(r.window_index, r.window, r.efficiency),
                        "significance": float(r.significance),
                        "p0": float(r.p0),
                        "p0_calculator": r.hunt.discovery.calculator,
                        "mu_hat": float(r.mu_hat),
                        "n_selected_sr": int(r.n_selected_sr),
                        "expected_sr": float(r.expected_sr),
                        "fit_chi2": float(r.fit_chi2),
                        "fit_ndf": int(r.fit_ndf),
                        "fit_p_value": float(r.fit_p_value),
                        "gate_p_value": finite_or_none(r.gate_p_value),
                        "fit_passed": bool(r.fit_passed),
                        **_spurious_record(r.hunt),
                        "skipped": None,
                    },
                )
            )
        empty = dict.fromkeys(
            (
                "significance",
                "p0",
                "p0_calculator",
                "mu_hat",
                "n_selected_sr",
                "expected_sr",
                "fit_chi2",
                "fit_ndf",
                "fit_p_value",
                "gate_p_value",
                "fit_passed",
                "spurious_signal",
                "spurious_relative",
                "spurious_passed",
            )
        )
        for s in self.skipped:
            effs = self.efficiencies if s.efficiency is None else (s.efficiency,)
            for eff in effs:
                row = {**_window_record(s.window_index, s.window, eff), **empty}
                rows.append((s.window_index, eff, {**row, "skipped": s.reason}))
        rows.sort(key=lambda t: (t[0], self.efficiencies.index(t[1])))
        return [row for _, _, row in rows]


def _spurious_record(hunt: BumpHuntResult) -> dict[str, Any]:
    check = hunt.spurious
    if check is None:
        return dict.fromkeys(("spurious_signal", "spurious_relative", "spurious_passed"))
    return {
        "spurious_signal": float(check.signal),
        "spurious_relative": float(check.relative),
        "spurious_passed": bool(check.passed),
    }


def _window_record(index: int, window: Regions, efficiency: float) -> dict[str, Any]:
    return {
        "window_index": int(index),
        "sr_low": float(window.sr_low),
        "sr_high": float(window.sr_high),
        "sb_low": float(window.sb_low),
        "sb_high": float(window.sb_high),
        "sr_center": round(float(window.sr_center), _EDGE_DECIMALS),
        "efficiency": float(efficiency),
    }


def _check_positive(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scan.{name} must be a number, got {value!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise ConfigError(f"scan.{name} must be a positive finite number (TeV), got {value!r}")
    return v


def scan_windows(
    *, mjj_min: float, mjj_max: float, width: float, step: float, sideband_width: float
) -> list[Regions]:
    """Signal-region windows sliding across ``[mjj_min, mjj_max]``, each with its two sidebands.

    The first SR starts at ``mjj_min + sideband_width``; the next ones are shifted by ``step``.
    Windows whose upper sideband would end above ``mjj_max`` are dropped (not truncated), so every
    window has full sidebands ``[sr_low - sideband_width, sr_low)`` and
    ``[sr_high, sr_high + sideband_width)`` inside the range. Overlapping windows
    (``step < width``) are allowed. Edges are rounded to 1e-9 TeV.

    Args:
        mjj_min: lower end of the scanned mjj range (TeV).
        mjj_max: upper end of the scanned mjj range (TeV).
        width: SR width (TeV).
        step: shift between consecutive SRs (TeV).
        sideband_width: width of each sideband (TeV).

    Returns:
        The windows, ordered by mass.

    Raises:
        ConfigError: a non-positive or non-finite width, step or sideband width, an empty range,
            or a range too narrow for a single window; the message names the ``scan.`` option.

    Examples:
        >>> ws = scan_windows(mjj_min=2.8, mjj_max=4.4, width=0.4, step=0.2, sideband_width=0.3)
        >>> [(w.sr_low, w.sr_high) for w in ws]
        [(3.1, 3.5), (3.3, 3.7), (3.5, 3.9), (3.7, 4.1)]
        >>> ws[0].sb_low, ws[-1].sb_high
        (2.8, 4.4)
    """
    width = _check_positive("width", width)
    step = _check_positive("step", step)
    sideband_width = _check_positive("sideband_width", sideband_width)
    lo, hi = float(mjj_min), float(mjj_max)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        raise ConfigError(
            f"scan.mjj_min and scan.mjj_max must satisfy 0 <= mjj_min < mjj_max, got "
            f"mjj_min={mjj_min!r}, mjj_max={mjj_max!r}"
        )
    room = hi - lo - width - 2.0 * sideband_width
    if room < -1e-9:
        raise ConfigError(
            f"scan.width={width} plus two sidebands of scan.sideband_width={sideband_width} do "
            f"not fit in the scan range [{lo}, {hi}] TeV"
        )
    n_windows = math.floor(max(room, 0.0) / step + 1e-9) + 1
    windows = []
    for i in range(n_windows):
        sr_low = round(lo + sideband_width + i * step, _EDGE_DECIMALS)
        sr_high = round(sr_low + width, _EDGE_DECIMALS)
        windows.append(
            Regions(
                sr_low,
                sr_high,
                round(sr_low - sideband_width, _EDGE_DECIMALS),
                round(sr_high + sideband_width, _EDGE_DECIMALS),
            )
        )
    log.info(
        "%d windows of width %.3g TeV (step %.3g, sidebands %.3g) in [%.3g, %.3g] TeV",
        len(windows),
        width,
        step,
        sideband_width,
        lo,
        hi,
    )
    return windows


def _window_keys(
    cache: UnitCache | None,
    events: EventTable,
    method: AnomalyMethod,
    windows: Sequence[Regions],
    folds: np.ndarray,
    options: dict[str, Any],
    background_sample: EventTable | None,
) -> list[str | None]:
    """The cache key of every window (None: not cached)."""
    if cache is None or not cache.enabled:
        return [None] * len(windows)
    try:
        method_fp = fingerprint(method)
    except TypeError as exc:
        log.warning("scan windows not cached: the method has no fingerprint (%s)", exc)
        return [None] * len(windows)
    common = {
        "events": array_checksum(events.jets, events.label, events.weight),
        "folds": array_checksum(folds),
        "method": method_fp,
        **options,
    }
    if background_sample is not None:
        b = background_sample
        common["background_sample"] = array_checksum(b.jets, b.label, b.weight)
    return [
        cache.key("scan_window", window=w, window_index=i, **common) for i, w in enumerate(windows)
    ]


def _fit_range(window: Regions, fit_range: tuple[float, float] | None) -> tuple[float, float]:
    return (window.sb_low, window.sb_high) if fit_range is None else fit_range


def _check_scan_options(
    windows: Sequence[Regions],
    efficiencies: Sequence[float],
    *,
    fit_range: tuple[float, float] | None,
    bin_width: float,
    n_params: int | str,
    min_sideband_events: int,
) -> tuple[float, ...]:
    """Catch configuration errors before any training (bump_hunt would raise them later)."""
    if len(windows) == 0:
        raise ConfigError("scan: no windows to scan")
    for w in windows:
        if not isinstance(w, Regions):
            raise ConfigError(f"scan windows must be Regions, got {type(w).__name__}")
    try:
        effs = tuple(float(e) for e in np.atleast_1d(np.asarray(efficiencies, dtype=float)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scan.efficiencies must be numbers, got {efficiencies!r}") from exc
    if not effs:
        raise ConfigError("scan.efficiencies must name at least one efficiency")
    for e in effs:
        if not 0 < e <= 1:
            raise ConfigError(f"scan.efficiencies must lie in (0, 1], got {e}")
    if len(set(effs)) != len(effs):
        raise ConfigError(f"scan.efficiencies must be distinct, got {list(effs)}")
    m = min_sideband_events
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 0:
        raise ConfigError(f"scan.min_sideband_events must be an integer >= 0, got {m!r}")
    if n_params != "auto" and n_params not in DIJET_N_PARAMS:
        raise ConfigError(f"background.n_params must be 3, 4, 5 or 'auto', got {n_params!r}")
    min_params = min(DIJET_N_PARAMS) if n_params == "auto" else int(n_params)
    for w in windows:
        edges = aligned_bin_edges(
            signal_region=(w.sr_low, w.sr_high),
            fit_range=_fit_range(w, fit_range),
            bin_width=bin_width,
        )
        n_sb_bins = int(np.sum((edges[1:] <= w.sr_low + 1e-9) | (edges[:-1] >= w.sr_high - 1e-9)))
        if n_sb_bins <= min_params:
            raise ConfigError(
                f"scan.sideband_width / background.fit_range: window [{w.sr_low}, {w.sr_high}] "
                f"TeV has {n_sb_bins} sideband bins of background.bin_width={bin_width}, too few "
                f"for a {min_params}-parameter fit (need > {min_params})"
            )
    return effs


def run_window(
    events: EventTable,
    method: AnomalyMethod,
    *,
    window: Regions,
    window_index: int,
    efficiencies: Sequence[float],
    folds: np.ndarray,
    seed: int,
    fit_range: tuple[float, float] | None = None,
    bin_width: float,
    n_params: int | str = 4,
    signal_shape: SignalShape = GAUSSIAN,
    min_sideband_events: int = 20,
    min_fit_p_value: float = 0.0,
    systematics: Sequence[Systematic] = (),
    background_sample: EventTable | None = None,
    test_options: DiscoveryOptions = ASYMPTOTIC,
) -> WindowOutcome:
    """Retrain the method in one window and run the bump hunt at each efficiency.

    Only the events of the window's analysis range (its sidebands and SR, widened to
    ``fit_range``) are used; the method is cross-scored on them with the window's folds and the
    seed ``derive_seed(seed, window_index)``. Too few events (a
    :class:`~anomsearch.exceptions.DataFormatError`), fewer than ``min_sideband_events`` selected
    events in the sidebands of the fit (a fit to a handful of events is meaningless, and its
    discovery test can be pathologically slow) or a failed fit
    (:class:`~anomsearch.exceptions.FitError`) skip the window or the efficiency, with the reason;
    configuration errors propagate.

    Args:
        events: all events of the scan.
        method: the anomaly method (refitted here).
        window: the SR and its sidebands.
        window_index: position of the window in the scan (keys the derived seed).
        efficiencies: fractions of SR events kept by the score cut.
        folds: fold of every event of ``events``.
        seed: run seed.
        fit_range: mjj range of the sideband fit; None: the window's sidebands.
        bin_width: mjj bin width of the fit (TeV), dividing the SR.
        n_params: dijet-function parameters (3, 4, 5 or ``"auto"``), as in
            :func:`~anomsearch.search.bump_hunt.bump_hunt`.
        signal_shape: the resonance's mjj shape of every bump hunt (:class:`SignalShape`).
        min_sideband_events: minimum number of selected events in the sidebands of the fit range
            for the bump hunt to run.
        min_fit_p_value: the fit-quality gate of every bump hunt
            (:attr:`~anomsearch.search.bump_hunt.BumpHuntResult.fit_passed`).
        systematics: normalisation systematics of every bump hunt's pyhf model.
        background_sample: an independent background-only sample: the spurious-signal test
            (:mod:`anomsearch.search.spurious`) of every bump hunt runs on it; None: no test.
        test_options: asymptotic or toy-based local p-values
            (:class:`~anomsearch.search.bump_hunt.DiscoveryOptions`).

    Returns:
        The :class:`WindowOutcome`.

    References:
        arXiv:1805.02664, arXiv:1902.02634.
    """
    folds = np.asarray(folds)
    if folds.shape != (len(events),):
        raise DataFormatError(f"folds must have shape ({len(events)},), got {folds.shape}")
    fr = _fit_range(window, fit_range)
    mjj_all = events.mjj
    lo, hi = min(fr[0], window.sb_low), max(fr[1], window.sb_high)
    keep = (mjj_all >= lo) & (mjj_all < hi)
    sub, sub_folds = events.subset(keep), folds[keep]
    mjj = mjj_all[keep]
    window_seed = derive_seed(seed, window_index)
    log.info(
        "window %d: SR [%.3f, %.3f) TeV, %d events in [%.3f, %.3f) TeV, seed %d",
        window_index,
        window.sr_low,
        window.sr_high,
        int(keep.sum()),
        lo,
        hi,
        window_seed,
    )
    start = time.perf_counter()
    try:
        crossed = cross_score(method, sub, regions=window, folds=sub_folds, seed=window_seed)
    except (DataFormatError, FitError) as exc:
        log.warning("window %d skipped: %s", window_index, exc)
        train_seconds = time.perf_counter() - start
        return WindowOutcome(
            [], [SkippedWindow(window_index, window, None, str(exc))], train_seconds
        )
    train_seconds = time.perf_counter() - start
    results: list[WindowResult] = []
    skipped: list[SkippedWindow] = []
    spurious_reference = None
    if background_sample is not None:
        spurious_reference = SpuriousReference.score(
            background_sample, crossed.scorers, mjj_range=fr
        )
    in_sb_fit = (mjj >= fr[0]) & (mjj < fr[1]) & ~window.in_sr(mjj)
    for eff in efficiencies:
        try:
            selected = select_at_efficiency(
                crossed.scores, efficiency=float(eff), reference=window.in_sr(mjj), groups=sub_folds
            ).mask
            n_sb = int(np.sum(selected & in_sb_fit))
            if n_sb < min_sideband_events:
                raise DataFormatError(
                    f"{n_sb} selected events in the sidebands of the fit range "
                    f"[{fr[0]:g}, {fr[1]:g}) TeV; at least {min_sideband_events} needed"
                )
            hunt = bump_hunt(
                mjj,
                crossed.scores,
                regions=window,
                efficiency=float(eff),
                fit_range=fr,
                bin_width=bin_width,
                n_params=n_params,
                signal_shape=signal_shape,
                folds=sub_folds,
                systematics=systematics,
                min_fit_p_value=min_fit_p_value,
                spurious_reference=spurious_reference,
                test_options=test_options,
            )
        except (DataFormatError, FitError) as exc:
            log.warning("window %d, efficiency %g skipped: %s", window_index, eff, exc)
            skipped.append(SkippedWindow(window_index, window, float(eff), str(exc)))
            continue
        results.append(WindowResult.of(window_index, window, hunt, train_seconds=train_seconds))
    return WindowOutcome(results, skipped, train_seconds)


def _log_scan_result(scan: ScanResult) -> None:
    best = scan.best
    if best is None:
        log.warning("scan: every window was skipped or failed the fit-quality gate")
        return
    log.info(
        "scan: %d windows x %d efficiencies in %.1f s; most significant: SR [%.3f, %.3f) TeV "
        "at efficiency %g, local Z = %.2f; %d skipped",
        len(scan.windows),
        len(scan.efficiencies),
        scan.wall_seconds,
        best.window.sr_low,
        best.window.sr_high,
        best.efficiency,
        best.significance,
        len(scan.skipped),
    )


def _most_significant(results: list[WindowResult], min_fit_p_value: float) -> WindowResult | None:
    """The entry with the largest local Z among those that passed the fit-quality gate."""
    n_failed = sum(not r.fit_passed for r in results)
    if n_failed:
        log.warning(
            "scan: the fit of %d of %d entries failed the fit-quality gate (p < %g): the dijet "
            "function does not describe their selected spectrum, so they are not candidates "
            "for the most significant entry",
            n_failed,
            len(results),
            min_fit_p_value,
        )
    return max((r for r in results if r.fit_passed), key=lambda r: r.significance, default=None)


def _run_window_task(
    item: tuple[int, Regions],
    *,
    events: EventTable,
    method: AnomalyMethod,
    folds: np.ndarray,
    options: dict[str, Any],
    background_sample: EventTable | None = None,
) -> WindowOutcome:
    """One unit of the scan (module level, so that dask workers import it by reference)."""
    window_index, window = item
    return run_window(
        events,
        method,
        window=window,
        window_index=window_index,
        folds=folds,
        background_sample=background_sample,
        **options,
    )


def sliding_window_search(
    events: EventTable,
    method: AnomalyMethod,
    *,
    windows: Sequence[Regions],
    efficiencies: Sequence[float],
    folds: np.ndarray | int,
    seed: int,
    fit_range: tuple[float, float] | None = None,
    bin_width: float,
    n_params: int | str = 4,
    signal_shape: SignalShape = GAUSSIAN,
    min_sideband_events: int = 20,
    min_fit_p_value: float = 0.0,
    systematics: Sequence[Systematic] = (),
    background_sample: EventTable | None = None,
    test_options: DiscoveryOptions = ASYMPTOTIC,
    progress: bool = True,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
) -> ScanResult:
    """Run the anomaly-score training and the bump hunt in every window (see :func:`run_window`).

    The windows are independent units: ``executor`` runs them (one after the other by default,
    or in parallel on dask workers, which receive the events, folds and method once), and the
    result does not depend on it. With a ``cache``, each finished window is stored as soon as it
    is done, keyed by the events' checksum, the folds, the window and its index, the method and
    its options, the seed and the bump-hunt options; windows already in the cache are loaded
    (logged as ``cached: window i/n``) instead of retrained.

    Args:
        events: all events (any mjj; each window uses those of its analysis range).
        method: the anomaly method, retrained in every window.
        windows: the SR windows, e.g. from :func:`scan_windows`.
        efficiencies: fractions of SR events kept by the score cut, each in (0, 1].
        folds: fold of every event (e.g. from :func:`~anomsearch.data.regions.kfold_assignments`),
            shared by all windows; or the number of folds (then assigned with ``seed``).
        seed: run seed; window ``i`` trains with ``derive_seed(seed, i)`` (a method that does
            not learn from the data trains once, with ``seed``:
            :func:`~anomsearch.methods.base.fit_once`).
        fit_range: mjj range of every sideband fit; None (default): each window's own sidebands.
        bin_width: mjj bin width of the fits (TeV); must divide every SR.
        n_params: dijet-function parameters, 3, 4, 5 or ``"auto"`` (F-test).
        signal_shape: the resonance's mjj shape of every bump hunt (:class:`SignalShape`).
        min_sideband_events: a (window, efficiency) whose cut keeps fewer events in the sidebands
            of its fit range is skipped.
        min_fit_p_value: fit-quality gate (:mod:`anomsearch.search.fit_gate`): an entry whose
            signal + background fit has a smaller goodness-of-fit p-value is kept in the results
            (``fit_passed`` False) but never chosen as :attr:`ScanResult.best`; 0: no gate.
        systematics: normalisation systematics added to the pyhf model of every entry.
        background_sample: independent background-only events for the spurious-signal test of
            every entry (:mod:`anomsearch.search.spurious`); None: no test.
        test_options: asymptotic or toy-based local p-values of every entry.
        progress: show a progress bar over the windows.
        executor: where the windows run (:mod:`anomsearch.compute`); None: serially, here.
        cache: store / reuse finished windows (:class:`~anomsearch.compute.UnitCache`).

    Returns:
        The :class:`ScanResult`.

    Raises:
        ConfigError: bad windows, efficiencies, binning or ``n_params`` (checked before training).
        DataFormatError: ``folds`` of the wrong shape.

    References:
        arXiv:1805.02664, arXiv:1902.02634.
    """
    start = time.perf_counter()
    windows = tuple(windows)
    effs = _check_scan_options(
        windows,
        efficiencies,
        fit_range=fit_range,
        bin_width=bin_width,
        n_params=n_params,
        min_sideband_events=min_sideband_events,
    )
    if isinstance(folds, (int, np.integer)):
        folds = kfold_assignments(len(events), int(folds), seed=seed)
    folds = np.asarray(folds)
    if folds.shape != (len(events),):
        raise DataFormatError(f"folds must have shape ({len(events)},), got {folds.shape}")
    name = getattr(method, "name", type(method).__name__)
    options: dict[str, Any] = {
        "efficiencies": effs,
        "seed": seed,
        "fit_range": fit_range,
        "bin_width": bin_width,
        "n_params": n_params,
        "signal_shape": signal_shape,
        "min_sideband_events": min_sideband_events,
        "min_fit_p_value": float(min_fit_p_value),
        "systematics": tuple(systematics),
        "test_options": test_options,
    }
    n = len(windows)
    outcomes: list[WindowOutcome | None] = [None] * n
    keys = _window_keys(cache, events, method, windows, folds, options, background_sample)
    for i, key in enumerate(keys):
        outcomes[i] = cache.load(key, label=f"window {i + 1}/{n}") if cache is not None else None
    todo = [i for i in range(n) if outcomes[i] is None]
    if len(todo) < n:
        log.info("scan: %d of %d windows loaded from the cache %s", n - len(todo), n, cache)
    if todo:  # a method that does not learn from the data trains once for all windows
        method = fit_once(method, events, regions=windows[todo[0]], seed=seed)
    with progress_bar(
        n, initial=n - len(todo), description=f"{name} scan", unit="window", enabled=progress
    ) as bar:

        def finished(j: int, outcome: WindowOutcome) -> None:
            i = todo[j]
            outcomes[i] = outcome
            if cache is not None:
                cache.store(keys[i], outcome)
            bar.update(1)

        (executor or SerialExecutor()).map(
            _run_window_task,
            [(i, windows[i]) for i in todo],
            shared={
                "events": events,
                "method": method,
                "folds": folds,
                "options": options,
                "background_sample": background_sample,
            },
            on_result=finished,
        )
    done = [o for o in outcomes if o is not None]
    assert len(done) == n  # every window was loaded or computed
    results = [r for o in done for r in o.results]
    skipped = [k for o in done for k in o.skipped]
    best = _most_significant(results, min_fit_p_value)
    result = ScanResult(results, skipped, best, windows, effs, time.perf_counter() - start)
    _log_scan_result(result)
    return result


def scan_search(
    events: EventTable,
    method: AnomalyMethod,
    *,
    scan: ScanConfig,
    background: BackgroundConfig,
    stats: StatsConfig,
    n_folds: int,
    seed: int,
    progress: bool = False,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
    background_sample: EventTable | None = None,
) -> ScanResult:
    """The sliding-window search of a config's ``scan`` section on the events of the scanned
    range: :func:`sliding_window_search` with the windows of the section, its efficiencies
    (default: ``background.efficiency``), folds drawn with ``seed``, every window's
    background fit over the whole scanned range, the fit-quality gate
    ``background.min_fit_p_value`` and the systematics of ``stats.systematics`` in every entry.

    Args:
        events: all events of the dataset.
        method: the anomaly method (with its reference samples attached).
        scan: the config's ``scan`` section.
        background: the config's ``background`` section (bin width, fit function, gate).
        stats: the config's ``stats`` section (signal width, systematics).
        n_folds: folds of the cross-scoring in every window.
        seed: seed of the folds and the training.
        progress: a bar over the windows.
        executor: where the windows run (None: this process).
        cache: keep each finished window.
        background_sample: independent background-only events for the spurious-signal test.

    Returns:
        The :class:`ScanResult`.
    """
    windows = scan.windows()
    mjj = events.mjj
    events = events.subset((mjj >= scan.mjj_min) & (mjj < scan.mjj_max))
    log.info("sliding-window scan: %d windows on %d events", len(windows), len(events))
    return sliding_window_search(
        events,
        method,
        windows=windows,
        efficiencies=scan.efficiencies_or(background.efficiency),
        folds=kfold_assignments(len(events), n_folds, seed=seed),
        seed=seed,
        fit_range=(float(scan.mjj_min), float(scan.mjj_max)),
        bin_width=float(background.bin_width),
        n_params=background.n_params,
        signal_shape=stats.shape(),
        min_sideband_events=scan.min_sideband_events,
        min_fit_p_value=float(background.min_fit_p_value),
        systematics=tuple(stats.systematics),
        background_sample=background_sample,
        test_options=discovery_options(stats),
        progress=progress,
        executor=executor,
        cache=cache,
    )
