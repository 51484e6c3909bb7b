"""The search pipeline: ``run(config) -> SearchResult``.

dataset -> regions -> anomaly score (k-fold cross-scored) -> selection -> sideband background fit ->
pyhf model -> discovery test -> ``report.json`` (+ pyhf workspace, plots), written atomically.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import numpy as np
import yaml

from anomsearch import config as config_module
from anomsearch._io import make_shareable_dir, write_json_atomic
from anomsearch.background import predict_background
from anomsearch.compute import Executor, UnitCache, make_executor
from anomsearch.data import (
    EventTable,
    Regions,
    ToyConfig,
    generate_toy_background,
    generate_toy_signal,
    inject_signal,
    kfold_assignments,
    read_features_h5,
    split_by_label,
)
from anomsearch.data.features.raw_to_features import raw_to_features
from anomsearch.data.io.download import default_cache_dir
from anomsearch.data.io.lhco_raw import DEFAULT_CHUNK_SIZE, raw_h5_info
from anomsearch.exceptions import AnomsearchError, ConfigError, DataFormatError, FitError
from anomsearch.methods import cross_score, get_method
from anomsearch.metrics import auc, max_sic, roc_curve
from anomsearch.provenance import array_checksum, provenance
from anomsearch.report.html import write_html_report
from anomsearch.search.abcd_search import ABCDSearchResult, abcd_search
from anomsearch.search.bump_hunt import BumpHuntResult, bump_hunt
from anomsearch.search.scan import ScanResult, scan_windows, sliding_window_search
from anomsearch.stats import systematics_from_config, trials_factor_approximation
from anomsearch.stats.limits import upper_limit

__all__ = [
    "SearchResult",
    "attach_reference_samples",
    "fetch_datasets",
    "load_dataset",
    "report_schema",
    "run",
]

log = logging.getLogger(__name__)


class SearchResult(NamedTuple):
    """Outcome of :func:`run`.

    Attributes:
        report: the content of ``report.json``.
        output_dir: where the outputs were written.
        bump_hunt: the bump hunt with the score cut.
        no_cut: the same bump hunt without the score cut (the reference).
        scores: cross-scored anomaly score of every event in the fit range.
        events: the events of the fit range.
    """

    report: dict[str, Any]
    output_dir: Path
    bump_hunt: BumpHuntResult
    no_cut: BumpHuntResult
    scores: np.ndarray
    events: EventTable


@functools.cache
def report_schema() -> dict[str, Any]:
    """The JSON schema of ``report.json``."""
    text = resources.files("anomsearch.schemas").joinpath("report.v1.json").read_text()
    return json.loads(text)


def _seeds(seed: int) -> dict[str, int]:
    names = (
        "background",
        "signal",
        "injection",
        "folds",
        "training",
        "reference_background",
        "reference_signal",
        "reference_simulation",
        "scan",
        "scan_toys",
    )
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: int(c.generate_state(1)[0]) for n, c in zip(names, children, strict=True)}


def fetch_datasets(config: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """Return a copy of ``config`` whose ``data.*dataset`` names are replaced by local paths.

    Each dataset (see ``anomsearch data list``) is downloaded into the cache on first use and
    verified (:func:`anomsearch.data.download_dataset`); its path goes into the corresponding
    path key (:data:`anomsearch.config.DATASET_KEYS`), so the run's recorded config names both.

    Raises:
        anomsearch.data.DownloadError: the download failed (offline, HTTP error).
    """
    data = config["data"]
    wanted = {k: p for k, p in config_module.DATASET_KEYS.items() if k in data and p not in data}
    if not wanted:
        return config
    from anomsearch.data.io.download import download_dataset

    fetched = copy.deepcopy(config)
    for dataset_key, path_key in wanted.items():
        result = download_dataset(data[dataset_key], progress=progress)
        fetched["data"][path_key] = str(result.paths[0])
        log.info("data.%s = %s -> %s", dataset_key, data[dataset_key], result.paths[0])
    return fetched


def _features_file(path: str, *, progress: bool = False) -> str:
    """``path`` itself for a features file; for an LHC Olympics raw-particle file (e.g. a black
    box as downloaded), its features computed once with fastjet
    (:func:`anomsearch.data.features.raw_to_features`) into ``<cache>/features/`` and reused while
    the raw file is unchanged (same path, size and modification time)."""
    try:
        info = raw_h5_info(path)
    except DataFormatError:  # not a raw file: read it as features (which names any problem)
        return path
    raw = Path(path).resolve()
    stat = raw.stat()
    tag = hashlib.sha256(f"{raw}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    out = default_cache_dir() / "features" / f"{raw.stem}-{tag}.features.h5"
    if out.is_file():
        log.info("%s: raw particles; reusing its features %s", raw, out)
        return str(out)
    n_jobs = max(1, min(os.cpu_count() or 1, -(-info.n_events // DEFAULT_CHUNK_SIZE)))
    log.info(
        "%s: raw particles; computing the jet features (%d events) into %s", raw, info.n_events, out
    )
    raw_to_features(raw, out, progress=progress, n_jobs=n_jobs)
    return str(out)


def load_dataset(config: dict[str, Any], *, progress: bool = False) -> EventTable:
    """Build the dataset of a resolved config: generate or read it, then inject signal.

    Toy data: ``data.n_background`` background events plus ``injection.n_signal`` signal events.
    Pythia data: ``data.n_background`` QCD events plus ``injection.n_signal`` events drawn from a
    pool of ``data.n_signal_pool`` generated signal events, each sample generated once into the
    cache and reused (:mod:`anomsearch.data.generate.pythia_source`; ``progress``: a bar while
    generating). LHCO files: ``data.path`` (with labels, or ``data.master_key``); with ``injection``
    set, all background events and ``n_signal`` randomly chosen signal events (from
    ``data.signal_path`` if given, else from the labelled signal of ``data.path``) are kept. A
    raw-particle file (a black box) is first turned into features, once (cached).
    """
    config = fetch_datasets(config)
    data, injection, seeds = config["data"], config.get("injection"), _seeds(config["seed"])
    n_signal = None if injection is None else int(injection["n_signal"])
    if data["source"] == "toy":
        toy = ToyConfig.from_dict(data.get("toy", {}), field_prefix="config field data.toy")
        background = generate_toy_background(
            data["n_background"], seed=seeds["background"], config=toy
        )
        signal = generate_toy_signal(n_signal or 0, seed=seeds["signal"], config=toy)
        return inject_signal(background, signal, n_signal or 0, seed=seeds["injection"])
    if data["source"] == "pythia":
        from anomsearch.data.generate.pythia_source import config_sample

        background = config_sample(
            data, "background", data["n_background"], seeds["background"], progress=progress
        )
        if n_signal:
            n_pool = int(data.get("n_signal_pool", n_signal))
            signal = config_sample(data, "signal", n_pool, seeds["signal"], progress=progress)
        else:
            signal = background.subset(np.zeros(len(background), dtype=bool))
        return inject_signal(background, signal, n_signal or 0, seed=seeds["injection"])
    path = _features_file(data["path"], progress=progress)
    events = read_features_h5(path, master_key=data.get("master_key"))
    if n_signal is None:
        return events
    background, signal = split_by_label(events, source=data["path"])
    if "signal_path" in data:
        signal = read_features_h5(_features_file(data["signal_path"])).with_label(1)
    return inject_signal(background, signal, n_signal, seed=seeds["injection"])


def _reference_sample(
    kind: str, n_default: int, config: dict[str, Any], seed: int
) -> EventTable | None:
    """One extra sample (``kind``: background, signal or simulation) of the config's data."""
    data, name = config["data"], f"reference_{kind}"
    if data["source"] == "pythia":
        n = int(data.get(f"n_{name}", 0))
        if n <= 0:
            return None
        from anomsearch.data.generate.pythia_source import config_sample

        return config_sample(data, kind, n, seed).with_label(1 if kind == "signal" else 0)
    if data["source"] != "toy":
        if f"{name}_path" not in data:
            return None
        path = _features_file(data[f"{name}_path"])
        return read_features_h5(path).with_label(1 if kind == "signal" else 0)
    n = int(data.get(f"n_{name}", n_default))
    if n <= 0:
        return None
    toy = ToyConfig.from_dict(data.get("toy", {}), field_prefix="config field data.toy")
    if kind == "simulation":
        from anomsearch.data.generate.toy_simulation import (
            SimulationMismodelling,
            generate_toy_simulation,
        )

        mismodelling = SimulationMismodelling(**data.get("simulation", {}))
        return generate_toy_simulation(n, seed=seed, config=toy, mismodelling=mismodelling)
    generate = generate_toy_background if kind == "background" else generate_toy_signal
    return generate(n, seed=seed, config=toy)


def attach_reference_samples(method: Any, config: dict[str, Any]) -> Any:
    """Give a method that trains against extra samples (``reference_background``,
    ``reference_signal`` or ``reference_simulation`` fields: the idealized and supervised
    references, SALAD, SA-CWoLa) those samples.

    Toy data: generated with independent seeds (``data.n_reference_background``, default
    ``data.n_background``; ``data.n_reference_signal``, default 0; ``data.n_reference_simulation``,
    default ``data.n_background``, mismodelled as ``data.simulation`` says). Pythia data:
    generated (cached) only when ``data.n_reference_<kind>`` is set, the simulation with the
    alternative "simulation" tune. LHCO data: read from ``data.reference_<kind>_path``.

    Args:
        method: a method (dataclass); other objects are returned unchanged.
        config: the resolved configuration.

    Returns:
        The method with its reference fields set (a copy), or ``method`` itself.

    Raises:
        ConfigError: the method needs a sample (``needs_reference_<kind>``) the config does not
            provide.
    """
    if not dataclasses.is_dataclass(method):
        return method
    fields = {f.name for f in dataclasses.fields(method)}
    data, seeds, updates = config["data"], _seeds(config["seed"]), {}
    for kind in ("background", "signal", "simulation"):
        name = f"reference_{kind}"
        if name not in fields:
            continue
        n_default = 0 if kind == "signal" else int(data.get("n_background", 0))
        sample = _reference_sample(kind, n_default, config, seeds[name])
        if sample is None and getattr(method, f"needs_{name}", False):
            raise ConfigError(
                f"config field data.{name}_path: method {method.name!r} needs a {kind} sample"
            )
        if sample is not None:
            log.info("%s sample for method %s: %d events", name, method.name, len(sample))
            updates[name] = sample
    return dataclasses.replace(method, **updates) if updates else method


def _bump_hunt_options(
    config: dict[str, Any], regions: Regions, *, fit_range: tuple[float, float] | None = None
) -> dict[str, Any]:
    bkg = config["background"]
    if fit_range is None:
        fit_range = tuple(bkg.get("fit_range", (regions.sb_low, regions.sb_high)))
    return {
        "regions": regions,
        "fit_range": fit_range,
        "bin_width": float(bkg["bin_width"]),
        "n_params": bkg["n_params"],
        "signal_width": float(config["stats"]["signal_width"]),
        "systematics": systematics_from_config(config["stats"].get("systematics", [])),
    }


def _summarise(hunt: BumpHuntResult) -> dict[str, Any]:
    fit, pred, disc = hunt.fit, hunt.prediction, hunt.discovery
    return {
        "significance": float(disc.significance),
        "p0": float(disc.p0),
        "mu_hat": float(disc.mu_hat),
        "mu_hat_error": float(disc.mu_hat_error),
        "observed_sr_total": int(np.sum(hunt.observed_sr)),
        "expected_sr_total": float(np.sum(pred.expected)),
        "expected_sr_total_uncertainty": float(np.sqrt(np.sum(pred.covariance))),
        "efficiency": hunt.selection.efficiency,
        "fit_chi2": float(fit.chi2),
        "fit_ndf": int(fit.ndf),
    }


def _background_section(hunt: BumpHuntResult) -> dict[str, Any]:
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


def _metrics(scores: np.ndarray, events: EventTable, in_sr: np.ndarray) -> dict[str, Any] | None:
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


def _decorrelation(
    scores: np.ndarray, events: EventTable, regions: Regions, efficiency: float
) -> tuple[dict[str, Any], np.ndarray]:
    """Sculpting diagnostics of the score on the background-like events of the SR + sidebands:
    dCor^2(score, mjj) and the JSD of the mjj shape before vs after a cut at ``efficiency``.

    Returns the report section and the mask of the events used (for the sculpting plot).

    References:
        G. Kasieczka, D. Shih, arXiv:2001.05310 (distance correlation, 1/JSD).
    """
    from anomsearch.metrics.decorrelation import distance_correlation, mjj_sculpting

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


def _truth(events: EventTable, hunt: BumpHuntResult, in_sr: np.ndarray) -> dict[str, Any] | None:
    if events.label is None:
        return None
    is_signal = events.label == 1
    return {
        "n_signal": int(is_signal.sum()),
        "n_signal_sr": int((is_signal & in_sr).sum()),
        "n_signal_sr_selected": int((is_signal & in_sr & hunt.selection.mask).sum()),
        "n_background_sr": int((~is_signal & in_sr).sum()),
    }


def _write_selected_events(
    path: Path, events: EventTable, scores: np.ndarray, folds: np.ndarray, hunt: BumpHuntResult
) -> None:
    """Save the events passing the score cut (all mjj): what ``anomsearch submit`` needs to
    estimate the resonance and daughter-jet masses without retraining."""
    mask = hunt.selection.mask
    selected = events.subset(mask)
    arrays = {
        "mjj": selected.mjj,
        "mj1": selected.feature("mj1"),
        "mj2": selected.feature("mj2"),
        "score": scores[mask],
        "fold": folds[mask],
        "thresholds": np.asarray(hunt.selection.thresholds),
    }
    if selected.label is not None:
        arrays["label"] = selected.label
    np.savez_compressed(path, **arrays)


def _scan_fit_range(scan: ScanResult, config: dict[str, Any]) -> tuple[float, float]:
    """Fit range of the headline analysis in the scan's best window: ``background.fit_range``
    widened to the window's sidebands where needed, else the scanned range."""
    assert scan.best is not None
    window = scan.best.window
    if "fit_range" in config["background"]:
        low, high = config["background"]["fit_range"]
    else:
        low, high = config["scan"]["mjj_min"], config["scan"]["mjj_max"]
    return (min(float(low), window.sb_low), max(float(high), window.sb_high))


def _build_method(config: dict[str, Any]) -> Any:
    """The configured anomaly method with its reference samples attached."""
    options = dict(config["method"])
    options.pop("n_folds")
    return attach_reference_samples(get_method(options.pop("name"), **options), config)


def _run_scan(
    events: EventTable,
    method: Any,
    config: dict[str, Any],
    seeds: dict[str, int],
    *,
    progress: bool,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
) -> ScanResult:
    """The sliding-window search of ``config["scan"]`` on all events of the scanned range, its
    windows run by ``executor`` and kept in ``cache``."""
    scan = config["scan"]
    windows = scan_windows(
        mjj_min=scan["mjj_min"],
        mjj_max=scan["mjj_max"],
        width=scan["width"],
        step=scan["step"],
        sideband_width=scan["sideband_width"],
    )
    mjj = events.mjj
    events = events.subset((mjj >= scan["mjj_min"]) & (mjj < scan["mjj_max"]))
    bkg = config["background"]
    log.info("sliding-window scan: %d windows on %d events", len(windows), len(events))
    return sliding_window_search(
        events,
        method,
        windows=windows,
        efficiencies=scan.get("efficiencies", [float(bkg["efficiency"])]),
        folds=kfold_assignments(len(events), int(config["method"]["n_folds"]), seed=seeds["scan"]),
        seed=seeds["scan"],
        fit_range=(float(scan["mjj_min"]), float(scan["mjj_max"])),
        bin_width=float(bkg["bin_width"]),
        n_params=bkg["n_params"],
        signal_width=float(config["stats"]["signal_width"]),
        min_sideband_events=int(scan.get("min_sideband_events", 20)),
        progress=progress,
        executor=executor,
        cache=cache,
    )


def _scan_sections(
    scan: ScanResult, config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The report's ``scan`` section and the global significance of its most significant entry.

    The look-elsewhere correction is the Sidak approximation with an effective number of
    independent trials = (scanned signal-region range / window width) x (number of
    efficiencies): it ignores the correlation of overlapping windows and nested cuts (which
    makes it conservative) but also the tails of the local Z beyond the asymptotic formulas
    (benchmarks/scan_calibration.py measured P(max Z > 3) = 0.05 on 40 background-only toy
    datasets where it predicts 0.011). With ``scan.global_toys`` > 0 the pipeline replaces it
    by pseudo-experiments of the whole scan (:mod:`anomsearch.search.global_toys`).

    References:
        E. Gross, O. Vitells, arXiv:1005.1891 (trials factor).
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
    sr_range = scan.windows[-1].sr_high - scan.windows[0].sr_low
    width = scan.windows[0].sr_high - scan.windows[0].sr_low
    n_eff = max(1.0, sr_range / width) * len(scan.efficiencies)
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


def _limit_section(spec: dict[str, Any], cl: float | None, *, model: str) -> dict[str, Any] | None:
    """The CLs upper limit on ``mu`` (signal events) of the headline model, or None."""
    if cl is None:
        return None
    try:
        limit = upper_limit(spec, cl=float(cl))
    except (ConfigError, FitError) as exc:
        log.warning("no %g CL upper limit for the %s model: %s", cl, model, exc)
        return None
    expected = [float(v) if math.isfinite(v) else None for v in limit.expected]
    log.info(
        "%s: %g CL upper limit on the signal events: %.1f observed, %s expected",
        model,
        cl,
        limit.observed,
        "-" if expected[2] is None else f"{expected[2]:.1f}",
    )
    observed = float(limit.observed)
    return {"cl": float(cl), "observed": observed, "expected": expected, "model": model}


def _toy_global_section(
    sidak: dict[str, Any],
    config: dict[str, Any],
    seeds: dict[str, int],
    executor: Executor | None,
    cache: UnitCache | None,
    *,
    progress: bool,
) -> dict[str, Any]:
    """The ``global`` section from ``scan.global_toys`` pseudo-experiments of the whole scan,
    with the Sidak approximation kept for comparison."""
    from anomsearch.search.global_toys import scan_global_significance

    start = time.perf_counter()
    result, toys = scan_global_significance(
        config,
        sidak["local_significance"],
        seed=seeds["scan_toys"],
        executor=executor,
        cache=cache,
        progress=progress,
    )
    log.info(
        "global significance from %d pseudo-experiments: p = %.3g +- %.2g (Z = %.2f; "
        "Sidak: p = %.3g) in %.0f s",
        result.n_toys,
        result.global_p,
        result.global_p_error,
        result.global_z,
        sidak["p_value"],
        time.perf_counter() - start,
    )
    return {
        **sidak,
        "method": "toys",
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


def _abcd_section(abcd: ABCDSearchResult) -> dict[str, Any]:
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


def _output_dir(config: dict[str, Any], output_dir: str | os.PathLike[str] | None) -> Path:
    if output_dir is not None:
        return Path(output_dir).resolve()
    if "dir" in config["output"]:
        return Path(config["output"]["dir"])
    return (Path.cwd() / "results" / config["name"]).resolve()


#: Directory, next to the output directory, of the default unit cache.
_CACHE_DIRNAME = ".anomsearch-cache"


def _unit_cache(config: dict[str, Any], final_dir: Path, *, force: bool) -> UnitCache | None:
    """The cache of finished units of ``config["compute"]``.

    The default, ``.anomsearch-cache/<output dir name>`` next to the output directory, keeps the
    resume state of a failed or killed run out of the results directory (which exists only
    for a run that succeeded).
    """
    compute = config.get("compute", {})
    if not compute.get("cache", True):
        return None
    directory = (
        Path(compute["cache_dir"])
        if "cache_dir" in compute
        else final_dir.parent / _CACHE_DIRNAME / final_dir.name
    )
    if directory.resolve() == final_dir.resolve():
        raise ConfigError(
            "config field compute.cache_dir: must not be the output directory itself "
            f"({final_dir}), which each run replaces"
        )
    if force:
        log.info("--force: recomputing every unit (the cache %s is overwritten)", directory)
    return UnitCache(directory, force=force)


def _carry_cache(cache: UnitCache | None, final_dir: Path, staging: Path) -> None:
    """A cache inside the output directory moves into the new outputs (``_publish`` replaces the
    directory)."""
    if cache is None or not cache.directory.is_dir():
        return
    try:
        relative = cache.directory.resolve().relative_to(final_dir.resolve())
    except ValueError:
        return
    target = staging / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(cache.directory, target)


def _publish(staging: Path, final: Path) -> None:
    """Replace ``final`` by the fully written ``staging`` directory."""
    backup = None
    if final.exists():
        backup = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, backup)
    os.replace(staging, final)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def run(
    config: dict[str, Any],
    *,
    output_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    force: bool = False,
) -> SearchResult:
    """Run the search described by ``config`` and write its outputs.

    Args:
        config: a configuration mapping (validated and resolved here if it is not yet; relative
            paths then resolve against the working directory).
        output_dir: overrides ``output.dir`` (default ``results/<name>`` in the working directory).
        progress: show progress bars.
        force: recompute every unit (scan windows, folds) instead of loading it from the unit
            cache of ``compute.cache_dir``, overwriting the cached entries.

    Returns:
        The :class:`SearchResult`. ``report.json``, ``workspace.json``, ``config.yaml`` (resolved)
        and the plots appear in the output directory only once all of them are complete.
    """
    start = time.perf_counter()
    config_module.validate(config)
    config = fetch_datasets(config_module.resolve(config, Path.cwd()), progress=progress)
    seeds = _seeds(config["seed"])
    final_dir = _output_dir(config, output_dir)
    cache = _unit_cache(config, final_dir, force=force)
    all_events = events = load_dataset(config, progress=progress)
    method = _build_method(config)

    scan = scan_section = global_section = None
    regions = Regions(*config["regions"]["signal_region"], *config["regions"]["sidebands"])
    efficiency = float(config["background"]["efficiency"])
    options = _bump_hunt_options(config, regions)
    headline = "config"
    if "scan" in config:
        with make_executor(config["compute"]) as executor:
            scan = _run_scan(
                all_events, method, config, seeds, progress=progress, executor=executor, cache=cache
            )
            scan_section, global_section = _scan_sections(scan, config)
            if global_section is not None and config["scan"].get("global_toys", 0) > 0:
                global_section = _toy_global_section(
                    global_section, config, seeds, executor, cache, progress=progress
                )
        if scan.best is not None:  # the answer is about the most significant (window, cut)
            regions, efficiency = scan.best.window, float(scan.best.efficiency)
            options = _bump_hunt_options(config, regions, fit_range=_scan_fit_range(scan, config))
            headline = "scan"
            log.info(
                "headline analysis in the scan's most significant window: SR [%.3f, %.3f) TeV, "
                "efficiency %g, fit range [%.3f, %.3f) TeV",
                regions.sr_low,
                regions.sr_high,
                efficiency,
                *options["fit_range"],
            )

    mjj = events.mjj
    lo = min(options["fit_range"][0], regions.sb_low)
    hi = max(options["fit_range"][1], regions.sb_high)
    regions.check_covered_by(
        mjj, source=config["data"].get("path", f"{config['data']['source']} data")
    )
    events = events.subset((mjj >= lo) & (mjj < hi))
    mjj = events.mjj
    log.info("%d events in the analysis range [%.2f, %.2f] TeV", len(events), lo, hi)

    folds = kfold_assignments(len(events), int(config["method"]["n_folds"]), seed=seeds["folds"])
    t_train = time.perf_counter()
    crossed = cross_score(
        method,
        events,
        regions=regions,
        folds=folds,
        seed=seeds["training"],
        progress=progress,
        cache=cache,
    )
    train_seconds = time.perf_counter() - t_train
    scores = np.asarray(crossed.scores)

    hunt = bump_hunt(mjj, scores, efficiency=efficiency, folds=folds, **options)
    no_cut = bump_hunt(mjj, scores, efficiency=1.0, folds=folds, **options)
    in_sr = regions.in_sr(mjj)
    decorrelation, background_like = _decorrelation(scores, events, regions, efficiency)

    disc = hunt.discovery
    abcd = None
    if config["background"]["name"] == "abcd":
        if crossed.pairs is None:  # pragma: no cover - guarded by the config checks
            raise ConfigError("background.name 'abcd' needs a method with two scores")
        abcd = abcd_search(
            crossed.pairs,
            mjj,
            regions=regions,
            efficiency=efficiency,
            systematics=options["systematics"],
        )
        disc = abcd.discovery
    report: dict[str, Any] = {
        "schema_version": "1",
        "name": config["name"],
        "significance": float(disc.significance),
        "p0": float(disc.p0),
        "mu_hat": float(disc.mu_hat),
        "mu_hat_error": float(disc.mu_hat_error),
        "selection": {
            "efficiency": hunt.selection.efficiency,
            "achieved_efficiency": hunt.selection.achieved_efficiency,
            "thresholds": hunt.selection.thresholds.tolist(),
            "n_selected_fit_range": int(np.sum(hunt.fit.counts)),
        },
        "background": _background_section(hunt),
        "reference": {"no_cut": _summarise(no_cut)},
        "metrics": _metrics(scores, events, in_sr),
        "decorrelation": decorrelation,
        "truth": _truth(events, hunt, in_sr),
        "data": {
            "source": config["data"]["source"],
            "n_events": len(events),
            "n_signal_region": int(in_sr.sum()),
            "checksum": array_checksum(events.jets, events.label),
        },
        "timing": {"training_seconds": train_seconds},
        "abcd": None if abcd is None else _abcd_section(abcd),
        "limit": _limit_section(
            hunt.spec if abcd is None else abcd.spec,
            config["stats"]["limit_cl"],
            model="bumphunt" if abcd is None else "abcd",
        ),
        "headline": {
            "source": headline,
            "signal_region": [regions.sr_low, regions.sr_high],
            "sidebands": [regions.sb_low, regions.sb_high],
            "fit_range": [float(v) for v in options["fit_range"]],
            "efficiency": efficiency,
        },
        "scan": scan_section,
        "global": global_section,
        "config": config,
        "provenance": {**provenance(), "seed": config["seed"], "derived_seeds": seeds},
    }
    if scan is not None:
        report["timing"]["scan_seconds"] = scan.wall_seconds
    if cache is not None:
        log.info(
            "unit cache %s: %d unit(s) loaded, %d stored", cache.directory, cache.hits, cache.stores
        )
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", dir=final_dir.parent))
    make_shareable_dir(staging)
    try:
        write_json_atomic(staging / "workspace.json", hunt.spec)
        write_json_atomic(staging / "workspace_no_cut.json", no_cut.spec)
        if abcd is not None:
            write_json_atomic(staging / "workspace_abcd.json", abcd.spec)
        (staging / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        _write_selected_events(staging / "selected_events.npz", events, scores, folds, hunt)
        if config["output"]["plots"]:
            from anomsearch.report import plot_mjj_fit, plot_roc_sic, plot_score_distribution

            plot_mjj_fit(hunt, staging / "mjj_fit.png", title=config["name"])
            plot_mjj_fit(no_cut, staging / "mjj_fit_no_cut.png", title=f"{config['name']} (no cut)")
            plot_score_distribution(scores, in_sr, staging / "scores.png", labels=events.label)
            from anomsearch.report.sculpting import plot_mjj_sculpting

            effs = sorted({1.0, 0.5, 0.1, efficiency}, reverse=True)
            plot_mjj_sculpting(
                mjj[background_like],
                scores[background_like],
                background_efficiencies=effs,
                title=f"{config['name']}: {decorrelation['events']}",
                path=staging / "mjj_sculpting.png",
            )
            if abcd is not None and crossed.pairs is not None:
                from anomsearch.report.scan_plots import plot_abcd_plane

                plot_abcd_plane(
                    crossed.pairs[in_sr, 0],
                    crossed.pairs[in_sr, 1],
                    x_cut=abcd.x_cut,
                    y_cut=abcd.y_cut,
                    path=staging / "abcd_plane.png",
                    labels=("first score", "second score"),
                )
            if scan is not None and scan.results:
                from anomsearch.report.scan_plots import (
                    plot_fits_per_efficiency,
                    plot_scan_significance,
                )

                plot_scan_significance(
                    scan, staging / "scan_significance.png", title=config["name"]
                )
                plot_fits_per_efficiency(
                    scan.for_window(scan.best.window_index),
                    staging / "scan_best_window.png",
                    title=f"{config['name']}: most significant window",
                )
                for index in sorted({r.window_index for r in scan.results}):
                    plot_fits_per_efficiency(
                        scan.for_window(index),
                        staging / f"scan_window_{index:02d}.png",
                        title=f"{config['name']}: window {index}",
                    )
            if report["metrics"] is not None:
                roc = roc_curve(scores[in_sr], events.label[in_sr])
                plot_roc_sic(
                    {method.name: (roc.fpr, roc.tpr)},
                    staging / "roc_sic.png",
                    title=f"{config['name']}: signal vs background in the SR",
                )
        report["timing"]["total_seconds"] = time.perf_counter() - start
        try:
            jsonschema.validate(report, report_schema())
        except jsonschema.ValidationError as exc:  # a bug, not bad input: fail loudly
            raise AnomsearchError(
                f"internal error: report does not match its schema: {exc.message}"
            ) from exc
        write_json_atomic(staging / "report.json", report)
        write_html_report(staging)
        _carry_cache(cache, final_dir, staging)
        _publish(staging, final_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "%s: local Z = %.2f (p0 = %.3g) with the score cut, %.2f without; results in %s",
        config["name"],
        disc.significance,
        disc.p0,
        no_cut.discovery.significance,
        final_dir,
    )
    return SearchResult(report, final_dir, hunt, no_cut, scores, events)
