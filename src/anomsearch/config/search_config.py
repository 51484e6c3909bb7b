"""The whole search configuration: :class:`SearchConfig`, built from a mapping and written back.

:meth:`SearchConfig.from_mapping` checks the structure against the JSON schema (types, unknown
keys), builds every section (:mod:`anomsearch.config.sections`, whose constructors check their
values) and then the checks that relate sections (the fit range around the signal region, the
bin width dividing the windows, the ABCD method, the reference samples a method needs, the
constituent features a method reads: none from the toy generator, those of
``data.pythia.extra_features`` from Pythia, ``data.extra_features`` derived for LHCO raw files).
:meth:`SearchConfig.to_dict` is the resolved configuration -- every default filled in, paths
absolute -- as ``config.yaml`` and ``report.json`` record it; building from it gives the same
config.

Examples:
    >>> cfg = SearchConfig.from_mapping({
    ...     "name": "demo",
    ...     "data": {"source": "toy", "n_background": 1000},
    ...     "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    ...     "method": {"name": "cwola", "max_epochs": 3},
    ...     "background": {"name": "bumphunt"},
    ... })
    >>> cfg.background.efficiency, cfg.method.n_folds, cfg.method.options
    (0.01, 5, {'max_epochs': 3})
    >>> SearchConfig.from_mapping(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from anomsearch.config.sections import (
    DATASET_FIELDS,
    PATH_FIELDS,
    BackgroundConfig,
    ComputeConfig,
    DataConfig,
    InjectionConfig,
    MethodConfig,
    OutputConfig,
    PythiaMasses,
    PythiaOptions,
    RegionsConfig,
    ScanConfig,
    StatsConfig,
)
from anomsearch.data.features.batch import resolve_extra_fields
from anomsearch.data.features.sets import EXTRA_JET_FIELDS, extra_jet_fields, is_extra_feature
from anomsearch.data.generate.toy_simulation import SimulationMismodelling
from anomsearch.exceptions import ConfigError
from anomsearch.stats.systematics import Systematic

__all__ = ["SCHEMA_VERSION", "SEED_NAMES", "SearchConfig", "config_schema", "derive_seeds"]

#: Version of the configuration schema (``schemas/config.v<N>.json``).
SCHEMA_VERSION = "1"


@functools.cache
def config_schema() -> dict[str, Any]:
    """The JSON schema of configurations (version :data:`SCHEMA_VERSION`).

    The file ``schemas/config.v<N>.json`` holds the structure, the types and the meaning of
    every key; the ``default`` of each key is filled in here from the section dataclasses
    (:mod:`anomsearch.config.sections`), the one place the defaults live.
    """
    text = (
        resources.files("anomsearch.schemas").joinpath(f"config.v{SCHEMA_VERSION}.json").read_text()
    )
    schema = json.loads(text)
    _add_defaults(schema, SearchConfig)
    return schema


#: Fields whose default is a whole section filled in when the section is used (written ``{}``).
_SECTION_DEFAULTS = {(DataConfig, "pythia"), (DataConfig, "toy"), (DataConfig, "simulation")}
#: Dataclass-valued fields whose default is written out in full.
_WRITTEN_OUT = {(PythiaOptions, "masses")}
#: Fields whose None default is itself documented (``null``).
_NULL_DEFAULTS = {("SearchConfig", "injection")}


def _nested_type(cls: type, name: str) -> type | None:
    """The dataclass / named tuple a field's schema object describes, if any."""
    nested = {
        (SearchConfig, "data"): DataConfig,
        (SearchConfig, "method"): MethodConfig,
        (SearchConfig, "background"): BackgroundConfig,
        (SearchConfig, "stats"): StatsConfig,
        (SearchConfig, "scan"): ScanConfig,
        (SearchConfig, "compute"): ComputeConfig,
        (SearchConfig, "output"): OutputConfig,
        (DataConfig, "pythia"): PythiaOptions,
        (DataConfig, "simulation"): SimulationMismodelling,
        (PythiaOptions, "masses"): PythiaMasses,
        (StatsConfig, "systematics"): Systematic,
    }
    return nested.get((cls, name))


def _field_defaults(cls: type) -> dict[str, Any]:
    if hasattr(cls, "_field_defaults"):  # a NamedTuple
        return dict(cls._field_defaults)
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _add_defaults(node: dict[str, Any], cls: type) -> None:
    """Set the ``default`` of the properties of ``node`` from the fields of ``cls``."""
    properties = node.get("properties", {})
    defaults = _field_defaults(cls)
    for name, sub in properties.items():
        if name in defaults:
            value = defaults[name]
            if (cls, name) in _SECTION_DEFAULTS:
                sub["default"] = {}
            elif value is None:
                if (cls.__name__, name) in _NULL_DEFAULTS:
                    sub["default"] = None
            elif dataclasses.is_dataclass(value):  # a section of its own: written out if small
                if (cls, name) in _WRITTEN_OUT:
                    sub["default"] = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                sub["default"] = [*value]
            elif not isinstance(value, Mapping):
                sub["default"] = value
        nested = _nested_type(cls, name)
        if nested is not None:
            target = sub.get("items", sub) if sub.get("type") == "array" else sub
            _add_defaults(target, nested)


def _field(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def check_structure(raw: Any) -> None:
    """Check a config mapping against the JSON schema.

    Raises:
        ConfigError: naming the first offending field.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a config must be a mapping at the top level, got {type(raw).__name__}")
    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(dict(raw)), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        err = errors[0]
        raise ConfigError(f"config field {_field(err.absolute_path)}: {err.message}")


#: The random steps of a search, each with its own seed derived from the master seed.
SEED_NAMES = (
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


def derive_seeds(seed: int) -> dict[str, int]:
    """Independent seeds for every random step (:data:`SEED_NAMES`) from a master seed
    (``numpy.random.SeedSequence(seed).spawn``)."""
    children = np.random.SeedSequence(seed).spawn(len(SEED_NAMES))
    return {n: int(c.generate_state(1)[0]) for n, c in zip(SEED_NAMES, children, strict=True)}


def _listing(fields: tuple[str, ...] | list[str], most: int = 4) -> str:
    """``'tau4_b05, tau5_b05, ... (12 fields)'``: the first few fields, for messages."""
    shown = ", ".join(fields[:most])
    return shown if len(fields) <= most else f"{shown}, ... ({len(fields)} fields)"


def _plain_value(value: Any) -> Any:
    """A tuple as the list a config file holds, for messages."""
    return list(value) if isinstance(value, tuple) else value


def _covering_set(fields: tuple[str, ...]) -> str:
    """The named feature set with the fewest extra fields that holds every one of ``fields``."""
    sets = ("subjettiness", "efp", "kitchen_sink")
    covering = [name for name in sets if set(fields) <= set(extra_jet_fields(name))]
    return min(covering, key=lambda name: len(extra_jet_fields(name)))


def _absolute(value: str, base_dir: Path) -> str:
    return str((base_dir / os.path.expanduser(value)).resolve())


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """A checked search configuration: one typed section per key of the YAML file.

    Attributes:
        name: the search's name (default output directory ``results/<name>``).
        data: where the events come from (:class:`~anomsearch.config.sections.DataConfig`).
        regions: signal region and sidebands.
        method: the anomaly-score method and its options.
        background: the background estimate after the score cut.
        stats: the statistical model and inference.
        scan: the sliding-window search, or None (one window: ``regions``).
        compute: executors and the unit cache.
        output: output directory and plots.
        injection: signal injected into the data, or None.
        seed: the master seed; every other seed derives from it.

    Raises:
        ConfigError: an invalid field, named in the message.
    """

    name: str
    data: DataConfig
    regions: RegionsConfig
    method: MethodConfig
    background: BackgroundConfig
    stats: StatsConfig = field(default_factory=StatsConfig)
    scan: ScanConfig | None = None
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    injection: InjectionConfig | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"config field seed: must be an integer >= 0, got {self.seed!r}")
        self._check_binning()
        if self.background.name == "abcd" and self.method.name != "double_disco":
            raise ConfigError(
                "config field background.name: 'abcd' needs a method with two decorrelated "
                f"scores (method.name: double_disco), got {self.method.name!r}"
            )
        if self.scan is not None:
            self._check_scan(self.scan)
        if self.data.source == "pythia":
            self._resolve_pythia()
        self._resolve_extra_features()
        if self.stats.signal_shape == "auto":
            # the toy generator's resonance is Gaussian; generated or real dijet resonances have
            # a radiative low tail
            kind = "gaussian" if self.data.source == "toy" else "crystal_ball"
            stats = dataclasses.replace(self.stats, signal_shape=kind)
            object.__setattr__(self, "stats", stats)
        if self.data.source == "toy" and self.data.toy is not None:
            from anomsearch.search.coverage import check_mjj_coverage

            toy = self.data.toy
            check_mjj_coverage(
                self,
                mjj_range=(toy.mjj_min, toy.mjj_max),
                source="toy data",
                range_note=", set by data.toy.mjj_min and data.toy.mjj_max",
            )

    def _check_binning(self) -> None:
        sr = self.regions.signal_region
        fit = self.background.fit_range
        if fit is not None and not (fit[0] < sr[0] and sr[1] < fit[1]):
            raise ConfigError(
                f"config field background.fit_range: [{fit[0]}, {fit[1]}] must enclose "
                f"regions.signal_region [{sr[0]}, {sr[1]}]"
            )
        width = self.background.bin_width
        n_sr_bins = (sr[1] - sr[0]) / width
        if abs(n_sr_bins - round(n_sr_bins)) > 1e-6 or round(n_sr_bins) < 1:
            raise ConfigError(
                f"config field background.bin_width: {width} TeV must divide the signal region "
                f"width {sr[1] - sr[0]:g} TeV into a whole number of bins"
            )

    def _check_scan(self, scan: ScanConfig) -> None:
        width = self.background.bin_width
        for window in scan.windows():
            n_bins = (window.sr_high - window.sr_low) / width
            if abs(n_bins - round(n_bins)) > 1e-6:
                raise ConfigError(
                    f"config field scan.width: background.bin_width {width} TeV must divide the "
                    f"window width {window.sr_high - window.sr_low:g} TeV"
                )
        if scan.global_pseudo_data == "generator" and self.data.source != "toy":
            raise ConfigError(
                "config field scan.global_pseudo_data: 'generator' draws the pseudo-datasets "
                f"from the toy generator, so it needs data.source: toy, not "
                f"{self.data.source!r} ('data' or 'auto' make them from the data)"
            )

    def _resolve_pythia(self) -> None:
        """The signal pool defaults to the injected events; the reference samples a method
        needs must be asked for (they are generated)."""
        data = self.data
        n_signal = 0 if self.injection is None else self.injection.n_signal
        if data.n_signal_pool is None and n_signal > 0:
            object.__setattr__(self, "data", dataclasses.replace(data, n_signal_pool=n_signal))
        elif data.n_signal_pool is not None and data.n_signal_pool < n_signal:
            raise ConfigError(
                f"config field data.n_signal_pool: {data.n_signal_pool} signal events cannot "
                f"supply injection.n_signal = {n_signal}"
            )
        for kind in ("background", "simulation"):
            key = f"n_reference_{kind}"
            if getattr(data, key) is None and self.method.needs_reference(kind):
                raise ConfigError(
                    f"config field data.{key}: method {self.method.name!r} needs a reference "
                    f"{kind} sample; set data.{key} (events generated with data.source 'pythia')"
                )

    def method_extra_fields(self) -> tuple[str, ...]:
        """The extra per-jet fields (computed from the constituents) that ``method.features``
        reads, in :data:`~anomsearch.data.features.sets.EXTRA_JET_FIELDS` order (empty for the
        standard features)."""
        features = getattr(self.method.build(), "features", None) or ()
        fields = {f.rsplit("_j", 1)[0] for f in features if is_extra_feature(f)}
        return tuple(f for f in EXTRA_JET_FIELDS if f in fields)

    def _resolve_extra_features(self) -> None:
        """The data must carry the constituent features the method reads: the toy generator has
        no constituents, Pythia samples carry ``data.pythia.extra_features``, and LHCO raw files
        are converted with ``data.extra_features`` (derived from ``method.features`` when left
        out, see :class:`~anomsearch.config.sections.DataConfig`)."""
        needed = self.method_extra_fields()
        if not needed:
            return
        data = self.data
        listed = _listing(needed)
        if data.source == "toy":
            raise ConfigError(
                f"config field method.features: the constituent features {listed} need the "
                "particles of the jets, which the toy generator (data.source: toy) does not "
                "make; use standard features (e.g. method.features: standard), or data.source: "
                "pythia with data.pythia.extra_features, or LHC Olympics data"
            )
        field, given = (
            ("data.pythia.extra_features", data.pythia.extra_features)
            if data.source == "pythia" and data.pythia is not None
            else ("data.extra_features", data.extra_features)
        )
        if given is None and data.source == "lhco":
            derived = _covering_set(needed)
            object.__setattr__(self, "data", dataclasses.replace(data, extra_features=derived))
            return
        have = resolve_extra_fields(given, option=f"config field {field}")
        missing = [f for f in needed if f not in have]
        if missing:
            raise ConfigError(
                f"config field {field}: method.features reads the constituent features "
                f"{_listing(missing)}, which {field} = {_plain_value(given)!r} does not compute; "
                f"set {field}: {_covering_set(needed)} (or list the fields)"
            )

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, base_dir: str | os.PathLike[str] | None = None
    ) -> SearchConfig:
        """Check and build a configuration from its mapping (a parsed YAML file).

        Args:
            raw: the configuration mapping.
            base_dir: relative paths (data files, ``output.dir``, ``compute.cache_dir``) resolve
                against it (default: the working directory).

        Returns:
            The :class:`SearchConfig`.

        Raises:
            ConfigError: the first invalid field, named in the message.
        """
        check_structure(raw)
        base = Path.cwd() if base_dir is None else Path(base_dir)
        data = dict(raw["data"])
        for dataset_key, path_key in DATASET_FIELDS.items():
            if dataset_key in data and path_key in data:
                raise ConfigError(
                    f"config field data.{dataset_key}: give either data.{path_key} or "
                    f"data.{dataset_key}, not both"
                )
        for key in PATH_FIELDS:
            if key in data:
                data[key] = _absolute(data[key], base)
        if "pythia" in data:
            data["pythia"] = PythiaOptions(**data["pythia"])
        method = dict(raw["method"])
        name, n_folds = method.pop("name"), method.pop("n_folds", 5)
        scan = raw.get("scan")
        compute = dict(raw.get("compute", {}))
        if "cache_dir" in compute:
            compute["cache_dir"] = _absolute(compute["cache_dir"], base)
        output = dict(raw.get("output", {}))
        if "dir" in output:
            output["dir"] = _absolute(output["dir"], base)
        injection = raw.get("injection")
        return cls(
            name=raw["name"],
            data=DataConfig(**data),
            regions=RegionsConfig(**raw["regions"]),
            method=MethodConfig(name=name, n_folds=n_folds, options=method),
            background=BackgroundConfig(**raw["background"]),
            stats=StatsConfig(**raw.get("stats", {})),
            scan=None if scan is None else ScanConfig(**scan),
            compute=ComputeConfig(**compute),
            output=OutputConfig(**output),
            injection=None if injection is None else InjectionConfig(**injection),
            seed=raw.get("seed", 0),
        )

    def derived_seeds(self) -> dict[str, int]:
        """The seeds of every random step, derived from ``seed`` (recorded in ``report.json``).

        Examples:
            >>> seeds = SearchConfig.from_mapping({
            ...     "name": "s", "seed": 1, "data": {"source": "toy", "n_background": 10},
            ...     "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
            ...     "method": {"name": "cwola"}, "background": {"name": "bumphunt"},
            ... }).derived_seeds()
            >>> list(seeds)[:3], seeds == derive_seeds(1)
            (['background', 'signal', 'injection'], True)
        """
        return derive_seeds(self.seed)

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration: every default filled in, paths absolute, unset optional
        fields left out (what ``config.yaml`` and ``report.json`` record)."""
        out: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "data": self.data.to_dict(),
            "injection": None if self.injection is None else dataclasses.asdict(self.injection),
            "regions": self.regions.to_dict(),
            "method": self.method.to_dict(),
        }
        if self.scan is not None:
            out["scan"] = self.scan.to_dict()
        out["background"] = self.background.to_dict()
        out["stats"] = self.stats.to_dict()
        out["compute"] = self.compute.to_dict()
        out["output"] = self.output.to_dict()
        return out

    def with_data_paths(self, paths: Mapping[str, str]) -> SearchConfig:
        """A copy whose ``data`` path fields are set from ``paths`` (e.g. fetched datasets)."""
        unknown = sorted(set(paths) - set(PATH_FIELDS))
        if unknown:
            raise ConfigError(f"not data path fields: {', '.join(unknown)}")
        return dataclasses.replace(self, data=dataclasses.replace(self.data, **paths))

    @property
    def datasets_to_fetch(self) -> dict[str, str]:
        """``{path field: dataset name}`` of the datasets named in ``data`` whose path is not
        set yet (see :func:`anomsearch.data.sources.fetch_datasets`)."""
        data = self.data
        return {
            path_key: getattr(data, dataset_key)
            for dataset_key, path_key in DATASET_FIELDS.items()
            if getattr(data, dataset_key) is not None and getattr(data, path_key) is None
        }
