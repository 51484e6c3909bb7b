"""Datasets of search configs made with the Pythia chain (``data.source: pythia``), cached.

A config with ``data.source: pythia`` asks for up to five samples of the Pythia 8 -> detector ->
fastjet chain (:mod:`anomsearch.data.generate.pythia`):

==========================  =====================================  ==============================
sample                      process / tune                         size
==========================  =====================================  ==============================
background                  ``qcd``, ``"data"`` (Monash)           ``data.n_background``
signal pool                 ``data.pythia.signal_process``         ``data.n_signal_pool``
reference background        ``qcd``, ``"data"``                    ``data.n_reference_background``
reference signal            ``data.pythia.signal_process``         ``data.n_reference_signal``
reference simulation        ``qcd``, ``"simulation"`` (A14)        ``data.n_reference_simulation``
==========================  =====================================  ==============================

Each sample is a :class:`SampleSpec`: the :class:`~anomsearch.data.generate.pythia.PythiaConfig`,
the number of events, the run seed, the chunk size and the extra per-jet features
(``data.pythia.extra_features``). Only the settings that change a sample's
events enter its config (a QCD sample keeps the default masses, a signal sample the default
``pthat_min``, the ``"data"`` tune the default simulation alpha_s, a signal process without the
daughters X and Y -- ``wprime_qq``, ``qstar`` -- the default X and Y masses), so changing the
signal masses never regenerates the QCD background, and ``data.pythia.masses.x``/``y`` do not
change a ``qstar`` or ``wprime_qq`` sample. The number of worker processes
(``data.pythia.n_jobs``) does not change the events and is not part of the spec.

Extra features:
    ``data.pythia.extra_features`` (a feature-set name such as ``kitchen_sink``, or a list of
    fields; :mod:`anomsearch.data.features.sets`) makes every sample of the config carry those
    per-jet columns (tau_N^beta, EFPs), computed from the constituents of each chunk while it is
    generated (:func:`~anomsearch.data.generate.pythia.generate_pythia` ``extra_features``), so
    no raw particles are stored. They do not change the events, but a stream's files hold them,
    so the option is part of the stream: it enters the spec -- and the key -- only when set
    (spelled by :func:`~anomsearch.data.generate.pythia.canonical_extra_features`, so
    ``kitchen_sink`` and the list of its 80 fields are one stream), and the streams without it
    keep the keys they had before the option existed. A stream with extra features is generated
    afresh (the same events as the stream without, which has no constituents to compute them
    from). ``kitchen_sink`` adds 160 columns: ~1.3 kB per event in the chunks and again in each
    ``features_<n>.h5``.

Masses (``data.pythia.masses``, GeV) -> :class:`~anomsearch.data.generate.pythia.PythiaConfig`:
``wprime`` -> ``m_wprime`` (the resonance: the W', or the excited quarks of ``qstar``); ``x`` ->
``m_x`` and ``y`` -> ``m_y`` for the processes with daughters
(:attr:`~anomsearch.data.generate.pythia.PythiaConfig.DAUGHTER_PROCESSES`), ignored otherwise.

Samples grow:
    A sample of ``n`` events is the first ``n`` events of its *stream*, the endless sequence of
    chunks fixed by the settings, the seed and the chunk size (chunk ``i`` of the stream is the
    event sequence of its own seed, see :mod:`anomsearch.data.generate.pythia_chunks`). So asking
    for more events than a previous run generates only the missing chunks, and asking for fewer
    reads the first events of the chunks already there: a 100k-event try-out is the start of the
    1M-event production of the same config, and a benchmark can use the first 300k events of a
    production that is still running.

Cache:
    A stream lives in ``<cache>/generated/<key>/`` where ``<cache>`` is the download cache
    (:func:`anomsearch.data.io.download.default_cache_dir`: ``$ANOMSEARCH_DATA`` or the platform
    user cache directory) and ``<key>`` is :func:`sample_key`: the sha256 of the spec without ``n``,
    the generator chain version :data:`CHAIN_VERSION` and the installed ``pythia8mc`` and
    ``fastjet`` versions. The directory holds ``sample.json`` (what was hashed, for people),
    ``chunks/`` (the resumable work directory of
    :func:`~anomsearch.data.generate.pythia_chunks.generate_pythia_chunks`: a killed run resumes
    from its finished chunks; kept, so the stream can grow) and one ``features_<n>.h5`` per sample
    size asked for (the LHC Olympics R&D features layout with ``label``, written atomically; a
    sample whose file exists is read back at once). The features take about 130 bytes per event in
    the chunks and again in each ``features_<n>.h5`` (1M events: ~130 MB each); delete an entry to
    free it. Two processes may read a stream while a third generates it; two generating the same
    stream at the same time is an error in the second (a lock in ``chunks/``).

Seeds:
    The pipeline passes one seed per sample, derived from the config's master ``seed``
    (:meth:`anomsearch.config.SearchConfig.derived_seeds`): background, signal (the signal pool),
    reference_background, reference_signal and reference_simulation; chunk ``i`` of a sample then
    uses :func:`~anomsearch.data.generate.pythia_chunks.chunk_seed`. The same config gives the same
    events.

Examples:
    >>> spec = SampleSpec(PythiaConfig(process="qcd"), n=100, seed=7, chunk_size=50)
    >>> spec.describe()
    '100 qcd/data events (seed 7)'
    >>> len(sample_key(spec, versions={"pythia8mc": "8", "fastjet": "3"}))
    64
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from anomsearch._io import write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.data.generate.pythia import PythiaConfig, canonical_extra_features
from anomsearch.exceptions import ConfigError, DataFormatError

if TYPE_CHECKING:
    from anomsearch.config.sections import PythiaOptions

__all__ = [
    "CHAIN_VERSION",
    "DEFAULT_CHUNK_SIZE",
    "SIGNAL_PROCESSES",
    "SampleSpec",
    "config_sample",
    "generated_cache_dir",
    "generated_sample",
    "pythia_sample_spec",
    "require_generator",
    "sample_key",
]

log = logging.getLogger(__name__)

#: Version of the generator chain's output. Bump it whenever a change to
#: :mod:`anomsearch.data.generate.pythia` or :mod:`anomsearch.data.generate.pythia_chunks` changes
#: the events of a given spec: every cached sample is then regenerated.
CHAIN_VERSION = 1
#: Events per resumable chunk when ``data.pythia.chunk_size`` is not set.
DEFAULT_CHUNK_SIZE = 1000
#: The signal processes a config may ask for (``data.pythia.signal_process``; the first is the
#: default). See :mod:`anomsearch.data.generate.pythia` for their Pythia settings.
SIGNAL_PROCESSES: tuple[str, ...] = (
    "wprime",
    "wprime_3prong",
    "wprime_3prong_both",
    "wprime_qq",
    "qstar",
)

_KINDS = ("background", "signal", "simulation")
_SPEC = "sample.json"
_CHUNKS = "chunks"
#: PythiaConfig attribute -> config field (under data.pythia) named in error messages.
_FIELD_NAMES = (
    ("m_", ".masses"),
    ("process", ".signal_process"),
    ("pthat_min", ".pthat_min"),
    ("fsr_alpha_s_simulation", ".fsr_alpha_s_simulation"),
)


class SampleSpec(NamedTuple):
    """Everything that fixes the events of one generated sample.

    Attributes:
        config: the chain's settings.
        n: number of accepted events.
        seed: the run seed (each chunk derives its own).
        chunk_size: events per chunk (chunk seeds depend on the chunk index, so the chunk size
            changes the events).
        extra_features: the extra per-jet fields computed while generating: None, a feature-set
            name or field names (they do not change the events; see the module docstring).
    """

    config: PythiaConfig
    n: int
    seed: int
    chunk_size: int = DEFAULT_CHUNK_SIZE
    extra_features: str | tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data (:func:`sample_key` hashes it without ``n``);
        ``extra_features`` only when set, so the specs without it keep their keys."""
        out: dict[str, Any] = {
            "config": dataclasses.asdict(self.config),
            "n": int(self.n),
            "seed": int(self.seed),
            "chunk_size": int(self.chunk_size),
        }
        extra = canonical_extra_features(self.extra_features, option="SampleSpec.extra_features")
        if extra is not None:
            out["extra_features"] = list(extra) if isinstance(extra, tuple) else extra
        return out

    def describe(self) -> str:
        """A short human description, e.g. ``'1000 qcd/data events (seed 7)'``."""
        text = f"{self.n} {self.config.process}/{self.config.variant} events (seed {self.seed})"
        extra = self.extra_features
        if extra is None:
            return text
        return text + f" with {extra if isinstance(extra, str) else len(extra)} extra features"


def require_generator() -> dict[str, str]:
    """Check that the generator chain is installed; return the versions that enter the cache key.

    Returns:
        ``{"pythia8mc": version, "fastjet": version}``.

    Raises:
        ConfigError: ``pythia8mc`` or ``fastjet`` is missing (names ``data.source`` and the
            ``generate`` extra).
    """
    missing = [name for name in ("pythia8mc", "fastjet") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            "config field data.source: 'pythia' generates events with Pythia 8 and fastjet, but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed; "
            "install the generate extra: pip install 'anomsearch[generate]'"
        )
    versions = {}
    for name in ("pythia8mc", "fastjet"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - odd installs
            versions[name] = "unknown"
    return versions


def sample_key(spec: SampleSpec, *, versions: dict[str, str] | None = None) -> str:
    """The cache key of a sample's stream: sha256 of its spec without ``n``,
    :data:`CHAIN_VERSION` and the versions (samples of any size of one stream share it).

    Args:
        spec: the sample.
        versions: generator package versions (default: the installed ones, see
            :func:`require_generator`).

    Returns:
        64 hex digits.
    """
    payload = {
        **_stream_dict(spec),
        "chain_version": CHAIN_VERSION,
        "versions": require_generator() if versions is None else dict(versions),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stream_dict(spec: SampleSpec) -> dict[str, Any]:
    return {key: value for key, value in spec.as_dict().items() if key != "n"}


def generated_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Root of the generated samples: ``<cache>/generated`` (``<cache>`` as for downloads).

    Args:
        cache_dir: the cache root; default
            :func:`anomsearch.data.io.download.default_cache_dir` (``$ANOMSEARCH_DATA`` or the
            platform user cache directory).
    """
    from anomsearch.data.io.download import default_cache_dir

    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "generated"


def pythia_sample_spec(options: PythiaOptions | None, kind: str, n: int, seed: int) -> SampleSpec:
    """The spec of one sample of a config's ``data.pythia`` section (``data.source: pythia``).

    Args:
        options: the section (None: the defaults).
        kind: ``"background"`` (QCD, ``"data"`` tune), ``"signal"`` (``data.pythia.signal_process``
            with ``data.pythia.masses``) or ``"simulation"`` (QCD, ``"simulation"`` tune).
        n: number of events.
        seed: the sample's run seed.

    Returns:
        The :class:`SampleSpec`, with only the settings that matter for ``kind`` set, and
        ``data.pythia.extra_features`` (every kind carries them).

    Raises:
        ConfigError: an unknown ``kind`` or unphysical ``data.pythia`` values (the message names
            the field).

    Examples:
        >>> from anomsearch.config import PythiaOptions
        >>> options = PythiaOptions(masses={"wprime": 4000}, pthat_min=1000)
        >>> pythia_sample_spec(options, "signal", 10, 1).config.m_wprime
        4000.0
        >>> pythia_sample_spec(options, "background", 10, 1).config.m_wprime  # irrelevant for QCD
        3500.0
        >>> qstar = PythiaOptions(signal_process="qstar", masses={"wprime": 3000, "x": 80})
        >>> cfg = pythia_sample_spec(qstar, "signal", 10, 1).config
        >>> cfg.m_wprime, cfg.m_x  # the q* mass; x is ignored (no daughters)
        (3000.0, 500.0)
    """
    if kind not in _KINDS:
        raise ConfigError(f"sample kind must be one of {_KINDS}, got {kind!r}")
    if options is None:
        from anomsearch.config.sections import PythiaOptions

        options = PythiaOptions()
    fields: dict[str, Any] = {}
    if kind == "signal":
        process = options.signal_process
        if process not in SIGNAL_PROCESSES:
            raise ConfigError(
                f"config field data.pythia.signal_process: must be one of {SIGNAL_PROCESSES}, "
                f"got {process!r}"
            )
        fields["process"] = process
        fields["m_wprime"] = float(options.masses.wprime)
        if process in PythiaConfig.DAUGHTER_PROCESSES:
            # Only the processes with X and Y see their masses: the others keep the defaults,
            # so x/y do not change their sample (nor its cache key).
            fields.update(m_x=float(options.masses.x), m_y=float(options.masses.y))
    else:
        fields["process"] = "qcd"
        fields["pthat_min"] = float(options.pthat_min)
    if kind == "simulation":
        fields["variant"] = "simulation"
        fields["fsr_alpha_s_simulation"] = float(options.fsr_alpha_s_simulation)
    try:
        config = PythiaConfig(**fields)
    except ConfigError as exc:
        field = next(
            (name for attr, name in _FIELD_NAMES if f"PythiaConfig.{attr}" in str(exc)), ""
        )
        raise ConfigError(f"config field data.pythia{field}: {exc}") from None
    extra = canonical_extra_features(
        options.extra_features, option="config field data.pythia.extra_features"
    )
    return SampleSpec(
        config,
        n=int(n),
        seed=int(seed),
        chunk_size=int(options.chunk_size),
        extra_features=extra,
    )


def _read_sample(path: Path, spec: SampleSpec) -> EventTable:
    from anomsearch.data.io.lhco import read_features_h5

    events = read_features_h5(path)
    if len(events) != spec.n:
        raise DataFormatError(
            f"{path}: holds {len(events)} events, the sample needs {spec.n}; delete it to "
            "merge it again from the chunks"
        )
    return events


def generated_sample(
    spec: SampleSpec,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> EventTable:
    """The events of ``spec``: read from the cache, or generated (resumably) into it.

    The first ``spec.n`` events of the spec's stream (see the module docstring): chunks already
    in the cache are reused, whatever sample size made them.

    Args:
        spec: the sample.
        n_jobs: worker processes for a generation (None: all cores). The events do not depend
            on it.
        progress: show a progress bar over the chunks while generating.
        cache_dir: the cache root (default: as :func:`generated_cache_dir`).

    Returns:
        The events (label 0 for QCD, 1 for the signal processes), in chunk order, with the
        extra per-jet fields of ``spec.extra_features``.

    Raises:
        ConfigError: ``pythia8mc``/``fastjet`` missing (see :func:`require_generator`), or
            another process generating the same stream.
        DataFormatError: a cached features file that is unreadable or of the wrong size.
        AnomsearchError: as :func:`~anomsearch.data.generate.pythia_chunks.generate_pythia_chunks`.
    """
    from anomsearch.data.generate.pythia_chunks import generate_pythia_chunks, merge_chunks

    versions = require_generator()
    entry = generated_cache_dir(cache_dir) / sample_key(spec, versions=versions)
    features = entry / f"features_{spec.n}.h5"
    if features.is_file():
        log.info("reusing generated sample %s from %s", spec.describe(), entry)
        return _read_sample(features, spec)
    entry.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        entry / _SPEC, {**_stream_dict(spec), "chain_version": CHAIN_VERSION, "versions": versions}
    )
    chunks = entry / _CHUNKS
    log.info(
        "%s %s with Pythia in %s",
        "extending the stream to" if chunks.is_dir() else "generating",
        spec.describe(),
        entry,
    )
    run = generate_pythia_chunks(
        spec.n,
        config=spec.config,
        seed=spec.seed,
        out_dir=chunks,
        chunk_size=spec.chunk_size,
        n_jobs=n_jobs,
        progress=progress,
        extra_features=spec.extra_features,
    )
    merge_chunks(chunks, features, n=spec.n)
    if run.generated:
        log.info(
            "generated %d chunk(s) of %s in %.0f s (%.1f events/s; %d chunk(s) reused): %s",
            len(run.generated),
            spec.describe(),
            run.seconds,
            run.events_per_s,
            len(run.skipped),
            features,
        )
    else:
        log.info("%s: the first events of the cached chunks, %s", spec.describe(), features)
    return _read_sample(features, spec)


def config_sample(
    options: PythiaOptions | None,
    kind: str,
    n: int,
    seed: int,
    *,
    progress: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> EventTable:
    """One sample of a config's ``data.pythia`` section: :func:`pythia_sample_spec` +
    :func:`generated_sample` with ``data.pythia.n_jobs`` workers.

    Args:
        options: the config's ``data.pythia`` section (None: the defaults).
        kind: ``"background"``, ``"signal"`` or ``"simulation"``.
        n: number of events.
        seed: the sample's run seed.
        progress: show a progress bar while generating.
        cache_dir: the cache root (default: as :func:`generated_cache_dir`).

    Returns:
        The events.

    Raises:
        ConfigError: as :func:`pythia_sample_spec` and :func:`require_generator`.
    """
    require_generator()
    spec = pythia_sample_spec(options, kind, n, seed)
    n_jobs = None if options is None else options.n_jobs
    return generated_sample(spec, n_jobs=n_jobs, progress=progress, cache_dir=cache_dir)
