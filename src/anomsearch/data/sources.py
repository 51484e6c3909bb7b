"""The events of a search and the extra samples its method trains on, from a config's ``data``.

The first stage of the chain: :func:`fetch_datasets` resolves dataset names to cached files,
:func:`load_events` generates or reads the events and injects the signal, and
:func:`attach_reference_samples` gives a method that trains against extra samples (the idealized
and supervised references, SALAD's and SA-CWoLa's simulation) those samples.

Sources (``data.source``):

- ``toy``: the built-in generator (:mod:`anomsearch.data.generate.toy`);
- ``pythia``: the Pythia 8 chain, each sample generated once into the cache
  (:mod:`anomsearch.data.generate.pythia_source`);
- ``lhco``: LHC Olympics features files; a raw-particle file (a black box as downloaded) is first
  turned into features once (:func:`features_file`, cached), with the extra per-jet fields of
  ``data.extra_features`` (derived from ``method.features`` when left out: see
  :class:`~anomsearch.config.sections.DataConfig`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.generate.toy import generate_toy_background, generate_toy_signal
from anomsearch.data.injection import inject_signal, split_by_label
from anomsearch.data.io.lhco import check_physical_jets, read_features_h5
from anomsearch.data.io.lhco_raw import DEFAULT_CHUNK_SIZE, raw_h5_info
from anomsearch.exceptions import ConfigError, DataFormatError

if TYPE_CHECKING:
    from anomsearch.config import DataConfig, InjectionConfig, SearchConfig

__all__ = [
    "REFERENCE_KINDS",
    "attach_reference_samples",
    "features_file",
    "fetch_datasets",
    "load_events",
    "reference_sample",
]

log = logging.getLogger(__name__)

#: The extra samples a method may train against (``reference_<kind>`` method fields).
REFERENCE_KINDS = ("background", "signal", "simulation")


def fetch_datasets(config: SearchConfig, *, progress: bool = False) -> SearchConfig:
    """``config`` with its ``data.*dataset`` names resolved to local files.

    Each dataset (see ``anomsearch data list``) is downloaded into the cache on first use and
    verified (:func:`anomsearch.data.download_dataset`); its path goes into the corresponding
    path field, so the run's recorded config names both.

    Raises:
        anomsearch.data.DownloadError: the download failed (offline, HTTP error).
    """
    wanted = config.datasets_to_fetch
    if not wanted:
        return config
    from anomsearch.data.io.download import download_dataset

    paths = {}
    for path_key, name in wanted.items():
        result = download_dataset(name, progress=progress)
        paths[path_key] = str(result.paths[0])
        log.info("data %s -> %s", name, result.paths[0])
    return config.with_data_paths(paths)


def features_file(
    path: str, *, extra_features: str | Sequence[str] | None = None, progress: bool = False
) -> str:
    """``path`` itself for a features file; for an LHC Olympics raw-particle file (e.g. a black
    box as downloaded), its features computed once with fastjet
    (:func:`anomsearch.data.features.raw_to_features.raw_to_features`) into
    ``<cache>/features/`` and reused while the raw file is unchanged (same path, size and
    modification time).

    Args:
        path: the features or raw-particle file.
        extra_features: the extra per-jet columns of a raw file's features (``data.extra_features``:
            None, a feature-set name or field names). Each feature set has its own cached file
            (``<stem>-<tag>.<set>.features.h5``; a list of fields that is no named set:
            ``<stem>-<tag>.fields-<hash>.features.h5``); without extra features the name is the
            one it always had (``<stem>-<tag>.features.h5``). Not used for a features file.
        progress: a bar while converting.
    """
    try:
        info = raw_h5_info(path)
    except DataFormatError:  # not a raw file: read it as features (which names any problem)
        return path
    from anomsearch.data.features.raw_to_features import raw_to_features
    from anomsearch.data.generate.pythia import canonical_extra_features
    from anomsearch.data.io.download import default_cache_dir

    extra = canonical_extra_features(extra_features, option="config field data.extra_features")
    raw = Path(path).resolve()
    stat = raw.stat()
    tag = hashlib.sha256(f"{raw}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    if isinstance(extra, tuple):
        tag += ".fields-" + hashlib.sha256(",".join(extra).encode()).hexdigest()[:12]
    elif extra is not None:
        tag += f".{extra}"
    out = default_cache_dir() / "features" / f"{raw.stem}-{tag}.features.h5"
    if out.is_file():
        log.info("%s: raw particles; reusing its features %s", raw, out)
        return str(out)
    n_jobs = max(1, min(os.cpu_count() or 1, -(-info.n_events // DEFAULT_CHUNK_SIZE)))
    log.info(
        "%s: raw particles; computing the jet features (%d events) into %s", raw, info.n_events, out
    )
    raw_to_features(raw, out, progress=progress, n_jobs=n_jobs, extra_features=extra)
    return str(out)


def _pythia_sample(data: DataConfig, kind: str, n: int, seed: int, *, progress: bool) -> EventTable:
    from anomsearch.data.generate.pythia_source import config_sample

    return config_sample(data.pythia, kind, n, seed, progress=progress)


def load_events(
    data: DataConfig,
    *,
    injection: InjectionConfig | None,
    seeds: Mapping[str, int],
    progress: bool = False,
) -> EventTable:
    """The events of a search: generated or read, with the signal injected.

    Toy data: ``data.n_background`` background events plus ``injection.n_signal`` signal events.
    Pythia data: ``data.n_background`` QCD events plus ``injection.n_signal`` events drawn from a
    pool of ``data.n_signal_pool`` generated signal events, each sample generated once into the
    cache and reused. LHCO files: ``data.path`` (with labels, or ``data.master_key``); with an
    injection, all background events and ``n_signal`` randomly chosen signal events (from
    ``data.signal_path`` if given, else from the labelled signal of ``data.path``) are kept.

    Args:
        data: the config's ``data`` section (datasets already fetched, see
            :func:`fetch_datasets`).
        injection: the ``injection`` section, or None.
        seeds: the derived seeds (:meth:`anomsearch.config.SearchConfig.derived_seeds`).
        progress: a bar while generating or converting.

    Returns:
        The :class:`~anomsearch.data.events.EventTable` (labels where known).

    Raises:
        DataFormatError: a file cannot be read, or physically impossible jets (a negative mass
            or N-subjettiness, :func:`~anomsearch.data.io.lhco.check_physical_jets`).
    """
    n_signal = None if injection is None else int(injection.n_signal)
    if data.source == "toy":
        assert data.n_background is not None and data.toy is not None
        background = generate_toy_background(
            data.n_background, seed=seeds["background"], config=data.toy
        )
        signal = generate_toy_signal(n_signal or 0, seed=seeds["signal"], config=data.toy)
        events = inject_signal(background, signal, n_signal or 0, seed=seeds["injection"])
        check_physical_jets(events.jets, source="toy data (the data.toy parameters)")
        return events
    if data.source == "pythia":
        assert data.n_background is not None
        background = _pythia_sample(
            data, "background", data.n_background, seeds["background"], progress=progress
        )
        if n_signal:
            n_pool = int(data.n_signal_pool or n_signal)
            signal = _pythia_sample(data, "signal", n_pool, seeds["signal"], progress=progress)
        else:
            signal = background.subset(np.zeros(len(background), dtype=bool))
        events = inject_signal(background, signal, n_signal or 0, seed=seeds["injection"])
        check_physical_jets(events.jets, source="pythia data")
        return events
    if data.path is None:
        raise ConfigError("config field data.path: not set (fetch the datasets first)")
    extra = data.extra_features
    events = read_features_h5(
        features_file(data.path, extra_features=extra, progress=progress),
        master_key=data.master_key,
    )
    if n_signal is None:
        return events
    background, signal = split_by_label(events, source=data.path)
    if data.signal_path is not None:
        signal_file = features_file(data.signal_path, extra_features=extra)
        signal = read_features_h5(signal_file).with_label(1)
    return inject_signal(background, signal, n_signal, seed=seeds["injection"])


def reference_sample(kind: str, data: DataConfig, seed: int) -> EventTable | None:
    """One extra sample (``kind``: background, signal or simulation) of the config's data.

    Toy data: generated with ``seed`` (``data.n_reference_background``, default
    ``data.n_background``; ``data.n_reference_signal``, default 0;
    ``data.n_reference_simulation``, default ``data.n_background``, mismodelled as
    ``data.simulation`` says). Pythia data: generated (cached) only when
    ``data.n_reference_<kind>`` is set, the simulation with the alternative "simulation" tune.
    LHCO data: read from ``data.reference_<kind>_path``.

    Returns:
        The sample (labelled 1 for signal, 0 otherwise), or None when the config has none.
    """
    if kind not in REFERENCE_KINDS:
        raise ConfigError(f"reference sample kind must be one of {REFERENCE_KINDS}, got {kind!r}")
    label = 1 if kind == "signal" else 0
    if data.source == "lhco":
        path = getattr(data, f"reference_{kind}_path")
        if path is None:
            return None
        reference_file = features_file(path, extra_features=data.extra_features)
        return read_features_h5(reference_file).with_label(label)
    n = getattr(data, f"n_reference_{kind}")
    if data.source == "pythia":
        return (
            None if not n else _pythia_sample(data, kind, n, seed, progress=False).with_label(label)
        )
    if n is None:
        n = data.n_background if kind != "signal" else 0
    if not n:
        return None
    assert data.toy is not None
    if kind == "simulation":
        from anomsearch.data.generate.toy_simulation import generate_toy_simulation

        return generate_toy_simulation(n, seed=seed, config=data.toy, mismodelling=data.simulation)
    generate = generate_toy_background if kind == "background" else generate_toy_signal
    return generate(n, seed=seed, config=data.toy)


def attach_reference_samples(method: Any, data: DataConfig, seeds: Mapping[str, int]) -> Any:
    """Give a method that trains against extra samples (``reference_background``,
    ``reference_signal`` or ``reference_simulation`` fields: the idealized and supervised
    references, SALAD, SA-CWoLa) those samples (:func:`reference_sample`).

    Args:
        method: a method (dataclass); other objects are returned unchanged.
        data: the config's ``data`` section.
        seeds: the derived seeds (``reference_<kind>`` is each sample's seed).

    Returns:
        The method with its reference fields set (a copy), or ``method`` itself.

    Raises:
        ConfigError: the method needs a sample (``needs_reference_<kind>``) the config does not
            provide.
    """
    if not dataclasses.is_dataclass(method):
        return method
    fields = {f.name for f in dataclasses.fields(method)}
    updates = {}
    for kind in REFERENCE_KINDS:
        name = f"reference_{kind}"
        if name not in fields:
            continue
        sample = reference_sample(kind, data, seeds[name])
        if sample is None and getattr(method, f"needs_{name}", False):
            raise ConfigError(
                f"config field data.{name}_path: method {method.name!r} needs a {kind} sample"
            )
        if sample is not None:
            log.info("%s sample for method %s: %d events", name, method.name, len(sample))
            updates[name] = sample
    return dataclasses.replace(method, **updates) if updates else method
