"""The sections of ``report.json``, each built from the stage result it describes.

:func:`build_report` assembles the report of a run (schema ``report.v1.json``) from the window
search (:class:`~anomsearch.search.window.WindowSearch`), the scan and its global significance,
the config and the provenance; the helpers build one section each and are usable on their own.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from anomsearch._io import finite_or_none
from anomsearch.background import predict_background
from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.metrics import auc, distance_correlation, max_sic, mjj_sculpting
from anomsearch.provenance import array_checksum, provenance
from anomsearch.search.abcd_search import ABCDSearchResult
from anomsearch.search.bump_hunt import BumpHuntResult
from anomsearch.search.scan import ScanResult
from anomsearch.stats import trials_factor_approximation
from anomsearch.stats.limits import upper_limit
from anomsearch.stats.look_elsewhere import fit_effective_trials

if TYPE_CHECKING:
    from anomsearch.config import SearchConfig
    from anomsearch.search.window import WindowSearch
    from anomsearch.stats.look_elsewhere import GlobalSignificance

__all__ = [
    "abcd_section",
    "background_section",
    "build_report",
    "bump_hunt_summary",
    "decorrelation_section",
    "global_toys_section",
    "limit_section",
    "metrics_section",
    "no_cut_section",
    "scan_sections",
    "truth_section",
]

log = logging.getLogger(__name__)


def bump_hunt_summary(hunt: BumpHuntResult) -> dict[str, Any]:
    """The discovery test, SR totals, efficiency and fit quality of one bump hunt."""
    fit, pred, disc = hunt.fit, hunt.prediction, hunt.discovery
    return {
        "significance": float(disc.significance),
        "p0": float(disc.p0),
        "p0_calculator": disc.calculator,
        "mu_hat": float(disc.mu_hat),
        "mu_hat_error": float(disc.mu_hat_error),
        "observed_sr_total": int(np.sum(hunt.observed_sr)),
        "expected_sr_total": float(np.sum(pred.expected)),
        "expected_sr_total_uncertainty": float(np.sqrt(np.sum(pred.covariance))),
        "efficiency": hunt.selection.efficiency,
        "fit_chi2": float(fit.chi2),
        "fit_ndf": int(fit.ndf),
        "fit_p_value": float(fit.p_value),
        "gate_p_value": finite_or_none(hunt.gate_p_value),
        "fit_passed": hunt.fit_passed,
        "spurious_signal": None if hunt.spurious is None else hunt.spurious.to_dict(),
    }


def no_cut_section(hunt: BumpHuntResult) -> dict[str, Any]:
    """``reference.no_cut``: the bump hunt without the cut, and its spectrum over the fit range
    (``bin_edges``, ``observed``: the answer's total signal count is fitted to it)."""
    return {
        **bump_hunt_summary(hunt),
        "bin_edges": np.asarray(hunt.fit.bin_edges).tolist(),
        "observed": np.asarray(hunt.fit.counts).astype(int).tolist(),
    }


def background_section(hunt: BumpHuntResult) -> dict[str, Any]:
    """The ``background`` section: the sideband fit, its prediction everywhere and in the SR."""
    fit, pred = hunt.fit, hunt.prediction
    everywhere = predict_background(fit, np.asarray(fit.bin_edges))
    return {
        "name": "bumphunt",
        "n_params": int(fit.n_params),
        "params": np.asarray(fit.params).tolist(),
        "covariance": np.asarray(fit.covariance).tolist(),
        "bin_edges": np.asarray(fit.bin_edges).tolist(),
        "observed": np.asarray(fit.counts).astype(int).tolist(),
        "expected": np.asarray(everywhere.expected).tolist(),
        "expected_uncertainty": np.asarray(everywhere.uncertainty).tolist(),
        "chi2": float(fit.chi2),
        "ndf": int(fit.ndf),
        "fit_p_value": float(fit.p_value),
        "gate_p_value": finite_or_none(hunt.gate_p_value),
        "min_fit_p_value": float(hunt.min_fit_p_value),
        "fit_passed": hunt.fit_passed,
        "spurious_signal": None if hunt.spurious is None else hunt.spurious.to_dict(),
        "spurious_template": None if hunt.spurious is None else hunt.spurious.template_dict(),
        "sr_bin_edges": np.asarray(pred.bin_edges).tolist(),
        "observed_sr": np.asarray(hunt.observed_sr).astype(int).tolist(),
        "expected_sr": np.asarray(pred.expected).tolist(),
        "expected_sr_uncertainty": np.asarray(pred.uncertainty).tolist(),
        "expected_sr_covariance": np.asarray(pred.covariance).tolist(),
        "function_choice": _function_choice_section(hunt),
    }


def _function_choice_section(hunt: BumpHuntResult) -> dict[str, Any] | None:
    choice = hunt.function_choice
    if choice is None:
        return None
    return {
        "chosen_n_params": int(choice.n_params),
        "alternative_n_params": choice.alternative,
        "test": choice.test,
        "alpha": choice.alpha,
        "nested_tests": [
            {
                "n_low": t.n_low,
                "n_high": t.n_high,
                "delta_chi2": float(t.delta_chi2),
                "p_value_f": float(t.p_value_f),
                "p_value_lr": float(t.p_value_lr),
            }
            for t in choice.tests
        ],
    }


def metrics_section(
    scores: np.ndarray, events: EventTable, in_sr: np.ndarray
) -> dict[str, Any] | None:
    """AUC and max SIC of the score in the SR when the data carry both labels, else None."""
    if events.label is None:
        return None
    labels = events.label[in_sr]
    if labels.min() == labels.max():
        return None
    best = max_sic(scores[in_sr], labels)
    return {
        "region": "signal_region",
        "auc": float(auc(scores[in_sr], labels)),
        "max_sic": float(best.sic),
        "max_sic_signal_efficiency": float(best.tpr),
        "max_sic_background_efficiency": float(best.fpr),
    }


def decorrelation_section(
    scores: np.ndarray, events: EventTable, regions: Regions, efficiency: float
) -> tuple[dict[str, Any], np.ndarray]:
    """Sculpting diagnostics of the score on the background-like events of the SR + sidebands:
    dCor^2(score, mjj) and the JSD of the mjj shape before vs after a cut at ``efficiency``.

    Returns the report section and the mask of the events used (for the sculpting plot).

    References:
        G. Kasieczka, D. Shih, arXiv:2001.05310 (distance correlation, 1/JSD).
    """
    mjj = events.mjj
    used = (mjj >= regions.sb_low) & (mjj < regions.sb_high)
    which = "all events"
    if events.label is not None and np.any(used & (events.label == 0)):
        used &= events.label == 0
        which = "background (label 0)"
    eff = min(max(float(efficiency), 1e-4), 1.0)
    section: dict[str, Any] = {
        "events": which,
        "n_events": int(used.sum()),
        "distance_correlation_sq": float(distance_correlation(scores[used], mjj[used], seed=0)),
        "efficiency": eff,
        "jsd": None,
        "inverse_jsd": None,
    }
    if eff < 1.0:
        sculpt = mjj_sculpting(mjj[used], scores[used], background_efficiencies=(eff,))
        section["jsd"] = float(sculpt.jsd[0])
        section["inverse_jsd"] = float(sculpt.inverse_jsd[0]) if sculpt.jsd[0] > 0 else None
    return section, used


def truth_section(
    events: EventTable, hunt: BumpHuntResult, in_sr: np.ndarray
) -> dict[str, Any] | None:
    """Injected counts of labelled data (all, in the SR, selected in the SR), else None."""
    if events.label is None:
        return None
    is_signal = events.label == 1
    return {
        "n_signal": int(is_signal.sum()),
        "n_signal_sr": int((is_signal & in_sr).sum()),
        "n_signal_sr_selected": int((is_signal & in_sr & hunt.selection.mask).sum()),
        "n_background_sr": int((~is_signal & in_sr).sum()),
    }


def scan_sections(scan: ScanResult) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The report's ``scan`` section and the global significance of its most significant entry.

    The most significant entry is chosen among those whose sideband fit passed the fit-quality
    gate. Its look-elsewhere correction here is the Sidak approximation with every scanned
    (window, efficiency) counted as a trial, so overlapping windows (a step smaller than the
    width) count in full: ``n_trials = n_windows x n_efficiencies``. Were the local Z's
    Gaussian with non-negative correlations (overlapping windows, nested cuts), this would
    over-count the trials (Slepian's inequality), but the local Z of a few selected events has
    tails beyond the asymptotic formula, so it is a quick estimate, not a bound:
    benchmarks/scan_calibration.py measured P(max Z > 3) = 0.05 on 40 background-only toy
    datasets (4 windows x 2 efficiencies) where this approximation predicts 0.011. With
    ``scan.global_toys`` > 0 the pipeline replaces it by pseudo-experiments of the whole scan
    (:mod:`anomsearch.search.global_toys`), which also measure the effective number of trials.

    References:
        E. Gross, O. Vitells, arXiv:1005.1891 (trials factor); D. Slepian, Bell Syst. Tech. J. 41
        (1962) 463 (the inequality).
    """
    records = scan.to_records()
    best = scan.best
    section: dict[str, Any] = {
        "windows": records,
        "n_windows": len(scan.windows),
        "efficiencies": [float(e) for e in scan.efficiencies],
        "best": None,
    }
    if best is None:
        return section, None
    section["best"] = next(
        r
        for r in records
        if r["window_index"] == best.window_index and r["efficiency"] == best.efficiency
    )
    n_eff = float(len(scan.windows) * len(scan.efficiencies))
    approx = trials_factor_approximation(
        max(float(best.significance), 0.0), n_windows_effective=n_eff
    )
    return section, {
        "method": "sidak",
        "local_significance": float(best.significance),
        "local_p_value": float(approx.local_p),
        "p_value": float(approx.global_p),
        "significance": float(approx.global_z),
        "trials_factor": float(approx.trials_factor),
        "n_trials_effective": n_eff,
        "window": {"sr_low": best.window.sr_low, "sr_high": best.window.sr_high},
        "efficiency": float(best.efficiency),
    }


def limit_section(spec: dict[str, Any], cl: float | None, *, model: str) -> dict[str, Any] | None:
    """The CLs upper limit on ``mu`` (signal events) of the headline model, or None."""
    if cl is None:
        return None
    try:
        limit = upper_limit(spec, cl=float(cl))
    except (ConfigError, FitError) as exc:
        log.warning("no %g CL upper limit for the %s model: %s", cl, model, exc)
        return None
    expected = [finite_or_none(v) for v in limit.expected]
    log.info(
        "%s: %g CL upper limit on the signal events: %.1f observed, %s expected",
        model,
        cl,
        limit.observed,
        "-" if expected[2] is None else f"{expected[2]:.1f}",
    )
    observed = float(limit.observed)
    return {"cl": float(cl), "observed": observed, "expected": expected, "model": model}


def abcd_section(abcd: ABCDSearchResult) -> dict[str, Any]:
    """The ``abcd`` section: cuts, counts, prediction, closure and discovery test."""
    c, e, cl, d = abcd.counts, abcd.estimate, abcd.closure, abcd.discovery
    return {
        "x_cut": abcd.x_cut,
        "y_cut": abcd.y_cut,
        "counts": {"A": c.a, "B": c.b, "C": c.c, "D": c.d},
        "predicted_a": e.predicted,
        "predicted_a_error": e.predicted_error,
        "closure_ratio": cl.ratio,
        "closure_ratio_error": cl.ratio_error,
        "non_closure": cl.non_closure,
        "significance": float(d.significance),
        "p0": float(d.p0),
        "mu_hat": float(d.mu_hat),
        "mu_hat_error": float(d.mu_hat_error),
    }


#: ``global.method`` and ``global.pseudo_data`` of each way of making pseudo-datasets.
PSEUDO_DATA = {
    "generator": "background-only datasets of the toy generator, each with its own seed",
    "data": (
        "made from the data: mjj from a dijet fit of the whole scanned spectrum, each event's "
        "jets from a data event near it in mjj (scan.global_pseudo_donors) boosted to it "
        "(anomsearch.search.pseudo_data)"
    ),
}


def global_toys_section(
    sidak: dict[str, Any],
    result: GlobalSignificance,
    toys: np.ndarray,
    *,
    pseudo_data: str = "generator",
) -> dict[str, Any]:
    """The ``global`` section from pseudo-experiments of the whole scan
    (:func:`anomsearch.search.global_toys.scan_global_significance`), with the Sidak
    approximation of :func:`scan_sections` kept for comparison.

    ``n_trials_measured`` is the number of independent trials that Sidak's formula would need to
    give the pseudo-experiments' global p at the observed local p, ``ln(1 - p_global) /
    ln(1 - p_local)`` (None when either p is 0 or 1). ``fitted_trials`` holds the number of
    trials fitted to all the pseudo-experiments' maxima
    (:func:`~anomsearch.stats.look_elsewhere.fit_effective_trials`) and the global p-value
    extrapolated with it: the pseudo-experiments' own p-value is floored at ``1 / (n_toys + 1)``
    (None when no pseudo-experiment has a local Z above 0).
    """
    local_p, global_p = float(sidak["local_p_value"]), float(result.global_p)
    measured = None
    if 0 < local_p < 1 and 0 < global_p < 1:
        measured = math.log1p(-global_p) / math.log1p(-local_p)
    try:
        fit = fit_effective_trials(toys, local_z=result.local_z)
    except DataFormatError:
        fitted = None
    else:
        fitted = {
            "n_trials": fit.n_trials,
            "n_trials_error": fit.n_trials_error,
            "p_value": fit.global_p,
            "significance": fit.global_z,
        }
    return {
        **sidak,
        "n_trials_measured": measured,
        "fitted_trials": fitted,
        "method": f"{pseudo_data}_toys",
        "pseudo_data": PSEUDO_DATA[pseudo_data],
        "p_value": float(result.global_p),
        "p_value_error": float(result.global_p_error),
        "significance": float(result.global_z),
        "trials_factor": float(result.trials_factor),
        "n_toys": int(result.n_toys),
        "n_exceeding": int(result.n_exceeding),
        "toy_max_local_z": [float(z) for z in toys],
        "sidak": {
            "p_value": sidak["p_value"],
            "significance": sidak["significance"],
            "trials_factor": sidak["trials_factor"],
        },
    }


def build_report(
    config: SearchConfig,
    window: WindowSearch,
    *,
    headline: str,
    scan: ScanResult | None = None,
    scan_section: dict[str, Any] | None = None,
    global_section: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """The content of ``report.json`` (schema ``report.v1.json``; timings other than the
    training's are added by the caller).

    Args:
        config: the resolved configuration (recorded as ``config``).
        window: the headline window search.
        headline: ``"config"`` (the config's signal region) or ``"scan"`` (the scan's most
            significant window).
        scan: the scan, if any (its wall time goes to ``timing``).
        scan_section: the ``scan`` section (:func:`scan_sections`), or None.
        global_section: the ``global`` section, or None.

    Returns:
        The report and the mask of the events the decorrelation section used (for the
        sculpting plot).
    """
    events, hunt, regions = window.events, window.hunt, window.regions
    in_sr = regions.in_sr(events.mjj)
    decorrelation, background_like = decorrelation_section(
        window.scores, events, regions, window.efficiency
    )
    disc = window.discovery
    if not hunt.fit_passed:
        log.warning(
            "the headline fit fails the fit-quality gate (signal + background p = %.2g < "
            "background.min_fit_p_value = %g): the dijet function does not describe the selected "
            "spectrum, so its local Z = %.2f is no evidence of a signal (report.json "
            "background.fit_passed: false; anomsearch submit claims nothing from it)",
            hunt.gate_p_value,
            hunt.min_fit_p_value,
            disc.significance,
        )
    seeds = config.derived_seeds()
    report: dict[str, Any] = {
        "schema_version": "1",
        "name": config.name,
        "significance": float(disc.significance),
        "p0": float(disc.p0),
        "p0_calculator": getattr(disc, "calculator", "asymptotics"),
        "mu_hat": float(disc.mu_hat),
        "mu_hat_error": float(disc.mu_hat_error),
        "selection": {
            "efficiency": hunt.selection.efficiency,
            "achieved_efficiency": hunt.selection.achieved_efficiency,
            # per fold; null = no cut (efficiency 1: every event passes)
            "thresholds": [finite_or_none(t) for t in hunt.selection.thresholds],
            "n_selected_fit_range": int(np.sum(hunt.fit.counts)),
        },
        "background": background_section(hunt),
        "reference": {"no_cut": no_cut_section(window.no_cut)},
        "metrics": metrics_section(window.scores, events, in_sr),
        "decorrelation": decorrelation,
        "truth": truth_section(events, hunt, in_sr),
        "data": {
            "source": config.data.source,
            "n_events": len(events),
            "n_signal_region": int(in_sr.sum()),
            "checksum": array_checksum(events.jets, events.label),
        },
        "timing": {"training_seconds": window.train_seconds},
        "abcd": None if window.abcd is None else abcd_section(window.abcd),
        "limit": limit_section(
            window.spec,
            config.stats.limit_cl,
            model="bumphunt" if window.abcd is None else "abcd",
        ),
        "headline": {
            "source": headline,
            "signal_region": [regions.sr_low, regions.sr_high],
            "sidebands": [regions.sb_low, regions.sb_high],
            "fit_range": [float(v) for v in window.fit_range],
            "efficiency": window.efficiency,
        },
        "scan": scan_section,
        "global": global_section,
        "config": config.to_dict(),
        "provenance": {**provenance(), "seed": config.seed, "derived_seeds": seeds},
    }
    if scan is not None:
        report["timing"]["scan_seconds"] = scan.wall_seconds
    return report, background_like
