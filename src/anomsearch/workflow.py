"""The search workflow: ``run(config)`` calls the chain's public stages one after the other.

=====================  ==========================================================================
stage                  function
=====================  ==========================================================================
read the config        :func:`anomsearch.config.load_config` -> :class:`~anomsearch.config.SearchConfig`
load events            :func:`anomsearch.data.sources.fetch_datasets`,
                       :func:`anomsearch.data.sources.load_events`
build the method       :func:`build_method` (the method with its reference samples)
scan (optional)        :func:`scan_stage`: :func:`anomsearch.search.scan.scan_search` in every
                       window, :func:`anomsearch.report.sections.scan_sections` (Sidak) and
                       :func:`global_significance` (pseudo-experiments, ``scan.global_toys``)
search one window      :func:`anomsearch.search.window.search_window` in the config's signal
                       region, or the scan's most significant window (:func:`headline_window`)
write the report       :func:`anomsearch.report.sections.build_report`,
                       :func:`anomsearch.report.outputs.write_outputs`
answer                 ``anomsearch submit`` (:func:`anomsearch.answer.submit`) on the results
=====================  ==========================================================================

A pseudo-experiment of the global significance (:func:`scan_toy_max_z`) runs the same stages on a
background-only dataset of its own seed.
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from anomsearch.compute import ComputeConfig, Executor, UnitCache, make_executor
from anomsearch.config import SearchConfig, load_config
from anomsearch.config.sections import PATH_FIELDS
from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.data.sources import (
    attach_reference_samples,
    fetch_datasets,
    load_events,
    reference_sample,
)
from anomsearch.exceptions import AnomsearchError, ConfigError
from anomsearch.methods.base import derive_seed
from anomsearch.provenance import array_checksum
from anomsearch.report.outputs import check_output_dir, unit_cache, write_outputs
from anomsearch.report.outputs import output_dir as resolve_output_dir
from anomsearch.report.sections import build_report, global_toys_section, scan_sections
from anomsearch.search.bump_hunt import BumpHuntResult
from anomsearch.search.coverage import check_mjj_coverage
from anomsearch.search.global_toys import TOY_SOURCES, scan_global_significance
from anomsearch.search.pseudo_data import DataResampler, draw_pseudo_data, fit_data_resampler
from anomsearch.search.scan import ScanResult, scan_search
from anomsearch.search.window import search_window

__all__ = [
    "Headline",
    "SearchResult",
    "background_only_sample",
    "build_method",
    "data_toy_max_z",
    "global_significance",
    "headline_window",
    "pseudo_data_method",
    "run",
    "scan_stage",
    "scan_toy_max_z",
    "toy_config",
]

log = logging.getLogger(__name__)


class SearchResult(NamedTuple):
    """Outcome of :func:`run`.

    Attributes:
        report: the content of ``report.json``.
        output_dir: where the outputs were written.
        bump_hunt: the bump hunt with the score cut.
        no_cut: the same bump hunt without the score cut (the reference).
        scores: cross-scored anomaly score of every event in the analysis range.
        events: the events of the analysis range.
    """

    report: dict[str, Any]
    output_dir: Path
    bump_hunt: BumpHuntResult
    no_cut: BumpHuntResult
    scores: np.ndarray
    events: EventTable


def build_method(config: SearchConfig, seeds: dict[str, int]) -> Any:
    """The configured anomaly method with its reference samples attached
    (:func:`anomsearch.data.sources.attach_reference_samples`)."""
    return attach_reference_samples(config.method.build(), config.data, seeds)


def background_only_sample(config: SearchConfig, seeds: dict[str, int]) -> EventTable | None:
    """The independent background-only sample of the spurious-signal test: the config's
    reference background, else its background simulation
    (:func:`anomsearch.data.sources.reference_sample`), or None when it has neither or
    ``background.spurious_signal_test`` is false."""
    if not config.background.spurious_signal_test:
        return None
    for kind in ("background", "simulation"):
        sample = reference_sample(kind, config.data, seeds[f"reference_{kind}"])
        if sample is not None:
            log.info(
                "spurious-signal test on the reference %s sample (%d events)", kind, len(sample)
            )
            return sample
    log.info(
        "no spurious-signal test: the config has no background-only sample (set "
        "data.n_reference_background, or data.reference_background_path for files)"
    )
    return None


def scan_stage(
    events: EventTable,
    method: Any,
    config: SearchConfig,
    seeds: dict[str, int],
    *,
    progress: bool = False,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
    background_sample: EventTable | None = None,
) -> ScanResult:
    """The sliding-window search of ``config.scan`` (:func:`anomsearch.search.scan.scan_search`)
    with the config's background and stats sections, folds and training seeded by
    ``seeds["scan"]``, and the spurious-signal test on ``background_sample``."""
    if config.scan is None:
        raise ConfigError("config field scan: not set")
    return scan_search(
        events,
        method,
        scan=config.scan,
        background=config.background,
        stats=config.stats,
        n_folds=config.method.n_folds,
        seed=seeds["scan"],
        progress=progress,
        executor=executor,
        cache=cache,
        background_sample=background_sample,
    )


def pseudo_data_method(config: SearchConfig) -> str:
    """How the scan's pseudo-datasets are made: ``"generator"`` or ``"data"``
    (``scan.global_pseudo_data``; ``auto``: the generator for toy data, the data otherwise)."""
    assert config.scan is not None
    choice = config.scan.global_pseudo_data
    if choice == "auto":
        return "generator" if config.data.source in TOY_SOURCES else "data"
    return choice


def toy_config(config: SearchConfig) -> SearchConfig:
    """The configuration of a pseudo-experiment: the same data settings and method, no signal,
    no outputs, no cache, no nested pseudo-experiments.

    Raises:
        ConfigError: there is no scan, or pseudo-datasets from the generator
            (``scan.global_pseudo_data``) of data that no generator made.
    """
    if config.scan is None:
        raise ConfigError("config field scan.global_toys: pseudo-experiments need a scan")
    if pseudo_data_method(config) == "generator" and config.data.source not in TOY_SOURCES:
        raise ConfigError(
            "config field scan.global_pseudo_data: 'generator' draws the pseudo-datasets from "
            f"the toy generator, so it needs data.source: toy, not {config.data.source!r}"
        )
    return dataclasses.replace(
        config,
        injection=None,
        scan=dataclasses.replace(config.scan, global_toys=0),
        output=dataclasses.replace(config.output, plots=False),
        compute=ComputeConfig(cache=False),
    )


def _max_local_z(events: EventTable, config: SearchConfig) -> float:
    """The best local Z of the scan of ``config`` (its seed) on ``events``."""
    seeds = config.derived_seeds()
    result = scan_stage(
        events,
        build_method(config, seeds),
        config,
        seeds,
        background_sample=background_only_sample(config, seeds),
    )
    return 0.0 if result.best is None else float(result.best.significance)


def scan_toy_max_z(config: SearchConfig, toy_seed: int) -> float:
    """The largest local Z of the scan of ``config`` on one background-only pseudo-dataset of
    the generator.

    Args:
        config: a configuration with a scan (:func:`toy_config` is applied here).
        toy_seed: the pseudo-experiment's seed; it replaces ``config.seed``, so the data, the
            folds and the training of the toy all derive from it.

    Returns:
        The local significance of the scan's most significant entry, as for the data: the
        maximum over every (window, efficiency) whose sideband fit passed the fit-quality gate
        (0 when there is none).
    """
    toy = dataclasses.replace(toy_config(config), seed=int(toy_seed))
    events = load_events(toy.data, injection=None, seeds=toy.derived_seeds())
    return _max_local_z(events, toy)


def data_toy_max_z(config: SearchConfig, resampler: DataResampler, toy_seed: int) -> float:
    """:func:`scan_toy_max_z` on a pseudo-dataset made from the data
    (:func:`anomsearch.search.pseudo_data.draw_pseudo_data`), for data no generator made."""
    toy = dataclasses.replace(toy_config(config), seed=int(toy_seed))
    events = draw_pseudo_data(resampler, seed=toy.derived_seeds()["background"])
    return _max_local_z(events, toy)


def global_significance(
    config: SearchConfig,
    sidak: dict[str, Any],
    seeds: dict[str, int],
    *,
    events: EventTable | None = None,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The report's ``global`` section from ``scan.global_toys`` pseudo-experiments of the whole
    scan, with the Sidak approximation ``sidak`` kept: :func:`scan_toy_max_z` each for the
    generator's pseudo-data, :func:`data_toy_max_z` on pseudo-data made from ``events`` (the
    observed data) otherwise (:func:`pseudo_data_method`)."""
    assert config.scan is not None
    toy = toy_config(config)
    identity = {
        k: v for k, v in toy.to_dict().items() if k not in ("name", "output", "compute", "seed")
    }
    how = pseudo_data_method(config)
    if how == "data":
        if events is None:
            raise ConfigError("scan.global_pseudo_data: 'data' needs the observed events")
        resampler = fit_data_resampler(
            events,
            mjj_range=(float(config.scan.mjj_min), float(config.scan.mjj_max)),
            bin_width=float(config.background.bin_width),
            donor_scheme=config.scan.global_pseudo_donors,
        )
        make_toy = functools.partial(data_toy_max_z, toy, resampler)
        identity["pseudo_data"] = array_checksum(resampler.events.jets, resampler.events.extra)
        identity["pseudo_data_donors"] = config.scan.global_pseudo_donors
        # the spectrum the masses come from (pseudo-experiments cached with another are not reused)
        identity["pseudo_data_spectrum"] = [resampler.n_params, *map(float, resampler.params)]
    else:
        make_toy = functools.partial(scan_toy_max_z, toy)
    start = time.perf_counter()
    result, toys = scan_global_significance(
        make_toy,
        sidak["local_significance"],
        n_toys=config.scan.global_toys,
        seed=seeds["scan_toys"],
        identity=identity,
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
    return global_toys_section(sidak, result, toys, pseudo_data=how)


class Headline(NamedTuple):
    """Where and how the headline analysis runs (:func:`headline_window`).

    Attributes:
        regions: its SR and sidebands.
        efficiency: its score-cut efficiency.
        fit_range: its sideband-fit range (None: the config's default).
        source: ``"scan"`` (the scan's most significant entry) or ``"config"``.
        fold_seed: seed of the fold assignment.
        training_seed: seed of the training.
    """

    regions: Regions
    efficiency: float
    fit_range: tuple[float, float] | None
    source: str
    fold_seed: int
    training_seed: int


def headline_window(
    config: SearchConfig, scan: ScanResult | None, seeds: dict[str, int]
) -> Headline:
    """Where the headline analysis runs: the config's signal region, efficiency and fit range;
    after a scan, its most significant (window, efficiency) *as the scan ran it* -- the scanned
    range as fit range, the scan's folds and the window's training seed -- so the headline is
    the scan's entry itself, with the same classifier, the same fit and the same local Z (the
    look-elsewhere correction covers exactly it), plus what only the headline writes (plots,
    workspace, selected events, metrics).
    """
    if scan is None or scan.best is None or config.scan is None:
        return Headline(
            config.regions.regions,
            float(config.background.efficiency),
            None,
            "config",
            seeds["folds"],
            seeds["training"],
        )
    window = scan.best.window
    fit_range = (float(config.scan.mjj_min), float(config.scan.mjj_max))
    log.info(
        "headline analysis: the scan's most significant entry, SR [%.3f, %.3f) TeV, efficiency "
        "%g, fit range [%.3f, %.3f) TeV (window %d, its folds and training seed)",
        window.sr_low,
        window.sr_high,
        scan.best.efficiency,
        *fit_range,
        scan.best.window_index,
    )
    return Headline(
        window,
        float(scan.best.efficiency),
        fit_range,
        "scan",
        seeds["scan"],
        derive_seed(seeds["scan"], scan.best.window_index),
    )


def _scan_with_global(
    events: EventTable,
    method: Any,
    config: SearchConfig,
    seeds: dict[str, int],
    *,
    cache: UnitCache | None,
    progress: bool,
    background_sample: EventTable | None,
) -> tuple[ScanResult, dict[str, Any], dict[str, Any] | None]:
    """The scan, its report section and its global significance (Sidak, or toys)."""
    assert config.scan is not None
    with make_executor(config.compute) as executor:
        scan = scan_stage(
            events,
            method,
            config,
            seeds,
            progress=progress,
            executor=executor,
            cache=cache,
            background_sample=background_sample,
        )
        _require_a_scan_result(scan)
        section, global_section = scan_sections(scan)
        if global_section is not None and config.scan.global_toys > 0:
            global_section = global_significance(
                config,
                global_section,
                seeds,
                events=events,
                executor=executor,
                cache=cache,
                progress=progress,
            )
    return scan, section, global_section


def _require_a_scan_result(scan: ScanResult) -> None:
    """A scan whose every window was skipped has nothing to report: an error, not a headline
    in the config's signal region."""
    if scan.best is not None:
        return
    first = scan.skipped[0] if scan.skipped else None
    example = (
        ""
        if first is None
        else f" (window {first.window_index + 1}, SR [{first.window.sr_low:g}, "
        f"{first.window.sr_high:g}] TeV: {first.reason})"
    )
    if scan.results:
        worst = min(scan.results, key=lambda r: r.gate_p_value)
        raise AnomsearchError(
            f"config field background.min_fit_p_value: the sideband fit of every one of the "
            f"scan's {len(scan.results)} entries failed the fit-quality gate (the worst: window "
            f"{worst.window_index + 1}, SR [{worst.window.sr_low:g}, {worst.window.sr_high:g}] "
            f"TeV, efficiency {worst.efficiency:g}, signal + background fit p = "
            f"{worst.gate_p_value:.2g}), so the scan has no excess to report; the function does "
            "not describe the spectrum: try background.n_params: auto or a narrower scan range"
        )
    raise AnomsearchError(
        f"config field scan: all {len(scan.windows)} windows were skipped{example}, so the scan "
        "has no result to report; check scan.mjj_min, scan.mjj_max and "
        "scan.min_sideband_events against the data"
    )


def _inputs(config: SearchConfig, config_path: Path | None) -> list[str]:
    """The files a run reads: never inside its output directory."""
    paths = [getattr(config.data, name) for name in PATH_FIELDS]
    return [str(p) for p in (config_path, *paths) if p is not None]


def run(
    config: SearchConfig | dict[str, Any] | str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    force: bool = False,
    overwrite: bool = False,
) -> SearchResult:
    """Run the search described by ``config`` and write its outputs.

    The output directory and the data are checked before any training: the output directory
    must be new, empty, or a results directory of an earlier run, and writable
    (:func:`anomsearch.report.outputs.check_output_dir`); the data must cover the signal region
    or the scan's windows (:func:`anomsearch.search.coverage.check_mjj_coverage`).

    Args:
        config: a :class:`~anomsearch.config.SearchConfig`, a mapping (checked and resolved
            here; relative paths then resolve against the working directory), or a YAML file.
        output_dir: overrides ``output.dir`` (default ``results/<name>`` in the working
            directory).
        progress: show progress bars.
        force: recompute every unit (scan windows, folds) instead of loading it from the unit
            cache, overwriting the cached entries.
        overwrite: replace the output directory even when it is not a results directory of an
            earlier run (never the working directory, one of its parents, the home directory or
            a directory holding the config or a data file).

    Returns:
        The :class:`SearchResult`. ``report.json``, the workspaces, ``config.yaml`` (resolved)
        and the plots appear in the output directory only once all of them are complete.

    Raises:
        ConfigError: an invalid config, an output directory that may not be replaced or
            written, or data that do not cover the search (before any training).
        AnomsearchError: a failed stage (e.g. every window of the scan was skipped).
    """
    start = time.perf_counter()
    config_path = Path(config).resolve() if isinstance(config, str | os.PathLike) else None
    config = fetch_datasets(load_config(config), progress=progress)
    seeds = config.derived_seeds()
    final_dir = resolve_output_dir(config, output_dir)
    cache = unit_cache(config, final_dir, force=force)
    inputs = _inputs(config, config_path)
    check_output_dir(
        final_dir,
        overwrite=overwrite,
        inputs=inputs,
        cache_dir=None if cache is None else cache.directory,
        cache_field="compute.cache_dir" if config.compute.cache_dir is not None else None,
    )
    events = load_events(config.data, injection=config.injection, seeds=seeds, progress=progress)
    check_mjj_coverage(config, events.mjj, source=config.data.description)
    method = build_method(config, seeds)
    background_sample = background_only_sample(config, seeds)
    scan = scan_section = global_section = None
    if config.scan is not None:
        scan, scan_section, global_section = _scan_with_global(
            events,
            method,
            config,
            seeds,
            cache=cache,
            progress=progress,
            background_sample=background_sample,
        )
    headline = headline_window(config, scan, seeds)
    window = search_window(
        events,
        method,
        regions=headline.regions,
        efficiency=headline.efficiency,
        background=config.background,
        stats=config.stats,
        n_folds=config.method.n_folds,
        fold_seed=headline.fold_seed,
        training_seed=headline.training_seed,
        fit_range=headline.fit_range,
        source=config.data.description,
        progress=progress,
        cache=cache,
        background_sample=background_sample,
    )
    report, background_like = build_report(
        config,
        window,
        headline=headline.source,
        scan=scan,
        scan_section=scan_section,
        global_section=global_section,
    )
    if cache is not None:
        log.info(
            "unit cache %s: %d unit(s) loaded, %d stored", cache.directory, cache.hits, cache.stores
        )
    write_outputs(
        report,
        window,
        config=config,
        final_dir=final_dir,
        method_name=method.name,
        background_like=background_like,
        scan=scan,
        cache=cache,
        timer=lambda: time.perf_counter() - start,
        overwrite=overwrite,
        inputs=inputs,
    )
    log.info(
        "%s: local Z = %.2f (p0 = %.3g) with the score cut, %.2f without; results in %s",
        config.name,
        window.discovery.significance,
        window.discovery.p0,
        window.no_cut.discovery.significance,
        final_dir,
    )
    return SearchResult(report, final_dir, window.hunt, window.no_cut, window.scores, window.events)
