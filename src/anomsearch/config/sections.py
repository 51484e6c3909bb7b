"""The sections of a search configuration as frozen, typed dataclasses.

One dataclass per section of the YAML file; each field carries its default (the one place the
defaults live: the config reference renders them from here) and each constructor checks its
values, so an invalid section fails while it is built, with the field's path in the message
(``config field background.efficiency: ...``). The checks that relate several sections live in
:class:`~anomsearch.config.search_config.SearchConfig`. The generators' own sections are their
option classes: :class:`~anomsearch.data.generate.toy.ToyConfig` (``data.toy``) and
:class:`~anomsearch.data.generate.toy_simulation.SimulationMismodelling` (``data.simulation``);
``stats.systematics`` holds :class:`~anomsearch.stats.systematics.Systematic` s.

Nothing here imports torch: building the method section checks the options against the method
class (:func:`anomsearch.methods.get_method`), which trains nothing.

Examples:
    >>> BackgroundConfig(name="bumphunt").efficiency
    0.01
    >>> BackgroundConfig(name="bumphunt", efficiency=float("nan"))
    Traceback (most recent call last):
    ...
    anomsearch.exceptions.ConfigError: config field background.efficiency: must be a finite number in (0, 1], got nan
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anomsearch.compute.executors import ComputeConfig
from anomsearch.data.generate.toy import ToyConfig
from anomsearch.data.generate.toy_simulation import SimulationMismodelling
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError
from anomsearch.stats.signal_shape import (
    DIJET_CRYSTAL_BALL,
    GAUSSIAN,
    SIGNAL_SHAPE_KINDS,
    SignalShape,
    signal_shape_from_options,
)
from anomsearch.stats.systematics import Systematic, systematics_from_config

log = logging.getLogger(__name__)

_warned_unused: set[tuple[str, ...]] = set()

__all__ = [
    "DATA_SOURCES",
    "MAX_SCAN_WINDOWS",
    "BackgroundConfig",
    "ComputeConfig",
    "DataConfig",
    "InjectionConfig",
    "MethodConfig",
    "OutputConfig",
    "PythiaMasses",
    "PythiaOptions",
    "RegionsConfig",
    "ScanConfig",
    "StatsConfig",
]

#: The values of ``data.source``.
DATA_SOURCES = ("toy", "lhco", "pythia")
#: The most windows a scan may have (a step far below the bin width would otherwise make
#: millions of windows before any check).
MAX_SCAN_WINDOWS = 500

#: File paths of the ``data`` section (resolved against the config file's directory).
PATH_FIELDS = (
    "path",
    "signal_path",
    "master_key",
    "reference_background_path",
    "reference_signal_path",
    "reference_simulation_path",
)
#: Dataset-name fields of the ``data`` section -> the path field they fill once fetched.
DATASET_FIELDS: dict[str, str] = {
    "dataset": "path",
    "signal_dataset": "signal_path",
    "master_key_dataset": "master_key",
    "reference_background_dataset": "reference_background_path",
    "reference_signal_dataset": "reference_signal_path",
    "reference_simulation_dataset": "reference_simulation_path",
}
_SAMPLE_SIZES = ("n_background", "n_reference_background", "n_reference_simulation")


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"config field {path}: {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(path: str, value: Any, *, positive: bool = False) -> float:
    if not _is_number(value) or not math.isfinite(value) or (positive and value <= 0):
        kind = "a finite number > 0" if positive else "a finite number"
        raise _fail(path, f"must be {kind}, got {value!r}")
    return value


def _count(path: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _fail(path, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _interval(path: str, value: Any) -> tuple[float, float]:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 2:
        raise _fail(path, f"must be a list [low, high], got {value!r}")
    low, high = (_finite(path, v) for v in value)
    if not low < high:
        raise _fail(path, f"need low < high, got [{low}, {high}]")
    return (low, high)


def _extra_features(path: str, value: Any) -> str | tuple[str, ...] | None:
    """A checked ``extra_features`` value: None, a feature-set name or a tuple of field names."""
    if value is None:
        return None
    if not isinstance(value, str):
        if isinstance(value, bytes) or not isinstance(value, list | tuple):
            raise _fail(path, f"must be a feature-set name or a list of field names, got {value!r}")
        value = tuple(value)
        if not all(isinstance(v, str) for v in value):
            raise _fail(path, f"field names must be strings, got {list(value)!r}")
    from anomsearch.data.features.batch import resolve_extra_fields

    resolve_extra_fields(value, option=f"config field {path}")  # names an unknown set or field
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    """Set a field of a frozen dataclass while it is being built (normalisation)."""
    object.__setattr__(obj, name, value)


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively (the resolved config as YAML/JSON would hold it)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class PythiaMasses:
    """``data.pythia.masses``: signal masses in GeV (not TeV)."""

    wprime: float = 3500
    x: float = 500
    y: float = 100

    def __post_init__(self) -> None:
        for name in ("wprime", "x", "y"):
            _finite(f"data.pythia.masses.{name}", getattr(self, name), positive=True)


@dataclass(frozen=True, kw_only=True)
class PythiaOptions:
    """``data.pythia``: settings of the Pythia generator chain (``data.source: pythia``).

    ``extra_features`` (None: the 7 standard columns per jet only) names the extra per-jet
    fields every sample computes from its constituents while it is generated: a feature-set name
    (``subjettiness``, ``efp``, ``kitchen_sink``; ``standard`` needs none) or a list of fields
    (``tau4_b05``, ``efp3_2``, ...; :mod:`anomsearch.data.features.sets`). It is explicit, not
    derived from ``method.features``: it is part of the cached stream's identity, and a new value
    generates every sample again (see :mod:`anomsearch.data.generate.pythia_source`).
    """

    signal_process: str = "wprime"
    masses: PythiaMasses = field(default_factory=PythiaMasses)
    pthat_min: float = 1100
    fsr_alpha_s_simulation: float = 0.118
    n_jobs: int | None = None
    chunk_size: int = 1000
    extra_features: str | tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.masses, Mapping):
            _set(self, "masses", PythiaMasses(**self.masses))
        _set(
            self,
            "extra_features",
            _extra_features("data.pythia.extra_features", self.extra_features),
        )
        _finite("data.pythia.pthat_min", self.pthat_min)
        alpha = _finite("data.pythia.fsr_alpha_s_simulation", self.fsr_alpha_s_simulation)
        if not 0 < alpha < 0.5:
            raise _fail("data.pythia.fsr_alpha_s_simulation", f"must lie in (0, 0.5), got {alpha}")
        if self.n_jobs is not None:
            _count("data.pythia.n_jobs", self.n_jobs, minimum=1)
        _count("data.pythia.chunk_size", self.chunk_size, minimum=1)
        from anomsearch.data.generate.pythia_source import pythia_sample_spec

        for kind in ("background", "signal", "simulation"):
            pythia_sample_spec(self, kind, 1, 0)  # names a bad data.pythia field

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it (``n_jobs`` and ``extra_features`` only
        when set)."""
        out = dataclasses.asdict(self)
        for name in ("n_jobs", "extra_features"):
            if out[name] is None:
                del out[name]
        if isinstance(self.extra_features, tuple):
            out["extra_features"] = list(self.extra_features)
        return out


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """``data``: where the events come from and the extra samples some methods train on.

    ``toy`` and ``simulation`` default to the generator's defaults for ``source: toy`` (None
    otherwise), ``pythia`` to :class:`PythiaOptions` for ``source: pythia``; the fields of the
    other sources must stay unset (a config error names the field).

    ``extra_features`` (``source: lhco`` only) are the extra per-jet fields (tau_N^beta, EFPs;
    :mod:`anomsearch.data.features.sets`) computed when a raw-particle file (``path``,
    ``signal_path``, a reference path) is turned into features
    (:func:`anomsearch.data.sources.features_file`, one cached file per feature set); a features
    file is read as it is. Left out, :class:`~anomsearch.config.SearchConfig` derives it from
    ``method.features``: the smallest named set (``subjettiness``, ``efp``, ``kitchen_sink``)
    holding every constituent feature the method reads, None when it reads none. Derived rather
    than required, because the raw file already holds the constituents: any field can be
    computed from it, nothing is generated again, and a config that names its features in
    ``method.features`` needs nothing more (unlike ``data.pythia.extra_features``, which changes
    a generated stream and so is asked for explicitly). Rounded up to a named set so that the
    methods of several configs share one conversion of a large file; set it (e.g.
    ``kitchen_sink``) to convert once for every method, or to a list of fields for a smaller file.
    An explicit value must hold what the method reads.
    """

    source: str
    n_background: int | None = None
    n_signal_pool: int | None = None
    pythia: PythiaOptions | None = None
    toy: ToyConfig | None = None
    simulation: SimulationMismodelling | None = None
    path: str | None = None
    signal_path: str | None = None
    master_key: str | None = None
    extra_features: str | tuple[str, ...] | None = None
    n_reference_background: int | None = None
    n_reference_signal: int = 0
    n_reference_simulation: int | None = None
    reference_background_path: str | None = None
    reference_signal_path: str | None = None
    reference_simulation_path: str | None = None
    dataset: str | None = None
    signal_dataset: str | None = None
    master_key_dataset: str | None = None
    reference_background_dataset: str | None = None
    reference_signal_dataset: str | None = None
    reference_simulation_dataset: str | None = None

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise _fail("data.source", f"must be one of {', '.join(DATA_SOURCES)}")
        for name in _SAMPLE_SIZES:
            if getattr(self, name) is not None:
                _count(f"data.{name}", getattr(self, name), minimum=1)
        if self.n_signal_pool is not None:
            _count("data.n_signal_pool", self.n_signal_pool, minimum=1)
        _count("data.n_reference_signal", self.n_reference_signal, minimum=0)
        {"toy": self._check_toy, "pythia": self._check_pythia, "lhco": self._check_lhco}[
            self.source
        ]()

    def _given(self, names: tuple[str, ...] | list[str]) -> list[str]:
        return [n for n in names if getattr(self, n) is not None]

    def _check_toy(self) -> None:
        if self.n_background is None:
            raise _fail("data.n_background", "required when data.source is 'toy'")
        for name in self._given(
            [*PATH_FIELDS, *DATASET_FIELDS, "pythia", "n_signal_pool", "extra_features"]
        ):
            raise _fail(f"data.{name}", "not used when data.source is 'toy'")
        if self.toy is None:
            _set(self, "toy", ToyConfig())
        elif isinstance(self.toy, Mapping):
            _set(
                self,
                "toy",
                ToyConfig.from_dict(dict(self.toy), field_prefix="config field data.toy"),
            )
        if self.simulation is None:
            _set(self, "simulation", SimulationMismodelling())
        elif isinstance(self.simulation, Mapping):
            try:
                _set(self, "simulation", SimulationMismodelling(**self.simulation))
            except TypeError as exc:
                raise _fail("data.simulation", str(exc)) from None

    def _check_pythia(self) -> None:
        if self.n_background is None:
            raise _fail("data.n_background", "required when data.source is 'pythia'")
        for name in self._given([*PATH_FIELDS, *DATASET_FIELDS, "toy", "simulation"]):
            raise _fail(f"data.{name}", "not used when data.source is 'pythia'")
        if self.extra_features is not None:
            raise _fail(
                "data.extra_features",
                "not used when data.source is 'pythia'; set data.pythia.extra_features",
            )
        if self.pythia is None:
            _set(self, "pythia", PythiaOptions())
        elif isinstance(self.pythia, Mapping):
            _set(self, "pythia", PythiaOptions(**self.pythia))

    def _check_lhco(self) -> None:
        for dataset_key in DATASET_FIELDS:
            name = getattr(self, dataset_key)
            if name is not None:
                from anomsearch.data.io.download import dataset_names

                if name not in dataset_names():
                    raise _fail(
                        f"data.{dataset_key}",
                        f"unknown dataset {name!r}; available: {', '.join(dataset_names())}",
                    )
        if self.path is None and self.dataset is None:
            raise _fail(
                "data.path",
                "required when data.source is 'lhco' (or data.dataset, a dataset name for "
                "`anomsearch data download`)",
            )
        for name in self._given(["toy", "simulation"]):
            raise _fail(f"data.{name}", "only used when data.source is 'toy'")
        _set(self, "extra_features", _extra_features("data.extra_features", self.extra_features))
        for name in self._given(list(_SAMPLE_SIZES)):
            raise _fail(f"data.{name}", "only used when data.source is 'toy' or 'pythia'")
        if self.n_reference_signal:
            raise _fail(
                "data.n_reference_signal", "only used when data.source is 'toy' or 'pythia'"
            )
        for name in self._given(["pythia", "n_signal_pool"]):
            raise _fail(f"data.{name}", "only used when data.source is 'pythia'")

    @property
    def description(self) -> str:
        """What the data are, for messages: the file, or e.g. ``'toy data'``."""
        return self.path if self.path is not None else f"{self.source} data"

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it (unset optional fields left out)."""
        out: dict[str, Any] = {"source": self.source}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "source" or value is None:
                continue
            if f.name == "n_reference_signal" and self.source == "lhco":
                continue
            if isinstance(value, ToyConfig):
                value = {k: v for k, v in value.to_dict().items() if v != getattr(ToyConfig(), k)}
            elif isinstance(value, PythiaOptions):
                value = value.to_dict()
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True, kw_only=True)
class InjectionConfig:
    """``injection``: signal events injected into the background (toy and Pythia: from the
    generated pool; LHCO: from the file's labelled signal or ``data.signal_path``)."""

    n_signal: int

    def __post_init__(self) -> None:
        _count("injection.n_signal", self.n_signal, minimum=0)


@dataclass(frozen=True, kw_only=True)
class RegionsConfig:
    """``regions``: the signal region and the sidebands around it (mjj in TeV)."""

    signal_region: tuple[float, float]
    sidebands: tuple[float, float]

    def __post_init__(self) -> None:
        sr = _interval("regions.signal_region", self.signal_region)
        sb = _interval("regions.sidebands", self.sidebands)
        _set(self, "signal_region", sr)
        _set(self, "sidebands", sb)
        if not (sb[0] < sr[0] and sr[1] < sb[1]):
            raise _fail(
                "regions.sidebands",
                f"[{sb[0]}, {sb[1]}] must enclose regions.signal_region [{sr[0]}, {sr[1]}] with "
                "room on both sides",
            )

    @property
    def regions(self) -> Regions:
        """The :class:`~anomsearch.data.regions.Regions` of the section."""
        return Regions(*self.signal_region, *self.sidebands)

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it."""
        return {"signal_region": list(self.signal_region), "sidebands": list(self.sidebands)}


@dataclass(frozen=True, kw_only=True)
class MethodConfig:
    """``method``: the anomaly-score method, its cross-scoring folds and its options.

    ``options`` are the fields of the method class (:data:`anomsearch.methods.METHODS`); they are
    checked by building the method once (no training, no torch).
    """

    name: str
    n_folds: int = 5
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _count("method.n_folds", self.n_folds, minimum=2)
        _set(self, "options", dict(self.options))
        self._warn_unused_options(self.build())

    def _warn_unused_options(self, method: Any) -> None:
        """Say once per process which given options the chosen back-end does not read (an MLP
        option with the default ``classifier: hgb``, a tree option with ``mlp``)."""
        if not hasattr(method, "unused_options"):
            return
        classifier = method.classifier
        unused = method.unused_options(self.options)
        if classifier == "hgb":
            hint = "they set the MLP back-end; add method.classifier: mlp to train networks"
        else:
            hint = "they set the boosted trees of method.classifier: hgb"
        key = (self.name, str(classifier), *sorted(unused))
        if unused and key not in _warned_unused:
            _warned_unused.add(key)
            log.warning(
                "method %s with classifier %s does not use %s: %s",
                self.name,
                classifier,
                ", ".join(f"method.{k}" for k in unused),
                hint,
            )

    def build(self) -> Any:
        """The configured method (:class:`~anomsearch.methods.base.AnomalyMethod`), without its
        reference samples (see :func:`anomsearch.data.sources.attach_reference_samples`).

        Raises:
            ConfigError: an unknown method or option, or an invalid option value (the message
                names ``method.<option>``).
        """
        from anomsearch.methods import get_method

        return get_method(self.name, **self.options)

    def needs_reference(self, kind: str) -> bool:
        """Whether the method cannot run without the reference sample ``kind`` (``background``,
        ``signal`` or ``simulation``)."""
        return bool(getattr(self.build(), f"needs_reference_{kind}", False))

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it: name, n_folds, then the options."""
        return {"name": self.name, "n_folds": self.n_folds, **_plain(dict(self.options))}


@dataclass(frozen=True, kw_only=True)
class BackgroundConfig:
    """``background``: the background estimate (bump-hunt fit or ABCD) after the score cut."""

    name: str
    efficiency: float = 0.01
    fit_range: tuple[float, float] | None = None
    bin_width: float = 0.1
    n_params: int | str = 4
    min_fit_p_value: float = 0.01
    spurious_signal_test: bool = True

    def __post_init__(self) -> None:
        if self.name not in ("bumphunt", "abcd"):
            raise _fail("background.name", f"must be 'bumphunt' or 'abcd', got {self.name!r}")
        eff = self.efficiency
        if not _is_number(eff) or not math.isfinite(eff) or not 0 < eff <= 1:
            raise _fail("background.efficiency", f"must be a finite number in (0, 1], got {eff!r}")
        if self.name == "abcd" and eff >= 1:
            raise _fail("background.efficiency", f"must be < 1 for 'abcd', got {eff}")
        if self.fit_range is not None:
            _set(self, "fit_range", _interval("background.fit_range", self.fit_range))
        _finite("background.bin_width", self.bin_width, positive=True)
        if self.n_params not in (3, 4, 5, "auto") or isinstance(self.n_params, bool):
            raise _fail("background.n_params", f"must be 3, 4, 5 or 'auto', got {self.n_params!r}")
        gate = self.min_fit_p_value
        if not _is_number(gate) or not math.isfinite(gate) or not 0 <= gate < 1:
            raise _fail("background.min_fit_p_value", f"must be a number in [0, 1), got {gate!r}")
        if not isinstance(self.spurious_signal_test, bool):
            raise _fail(
                "background.spurious_signal_test",
                f"must be true or false, got {self.spurious_signal_test!r}",
            )

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it (``fit_range`` only when set)."""
        out = {"name": self.name, "efficiency": self.efficiency}
        if self.fit_range is not None:
            out["fit_range"] = list(self.fit_range)
        return {
            **out,
            "bin_width": self.bin_width,
            "n_params": self.n_params,
            "min_fit_p_value": self.min_fit_p_value,
            "spurious_signal_test": self.spurious_signal_test,
        }


@dataclass(frozen=True, kw_only=True)
class StatsConfig:
    """``stats``: the statistical model and inference.

    ``signal_width`` None: the shape's default, 0.05 for a Gaussian and the crystal ball's
    measured core width (:data:`~anomsearch.stats.DIJET_CRYSTAL_BALL`) -- filled in once
    ``signal_shape`` is resolved.
    """

    signal_width: float | None = None
    signal_shape: str = "auto"
    crystal_ball: Mapping[str, float] | None = None
    calculator: str = "auto"
    n_toys: int = 1000
    toys_below_background: float = 20.0
    limit_cl: float | None = 0.95
    systematics: tuple[Systematic, ...] = ()

    def __post_init__(self) -> None:
        if self.signal_width is not None:
            _finite("stats.signal_width", self.signal_width, positive=True)
        if self.signal_shape not in ("auto", *SIGNAL_SHAPE_KINDS):
            raise _fail(
                "stats.signal_shape",
                f"must be 'auto', 'gaussian' or 'crystal_ball', got {self.signal_shape!r}",
            )
        if self.crystal_ball is not None:
            if not isinstance(self.crystal_ball, Mapping):
                raise _fail("stats.crystal_ball", f"must be a mapping, got {self.crystal_ball!r}")
            _set(self, "crystal_ball", dict(self.crystal_ball))
            signal_shape_from_options(
                "crystal_ball", self._width_for("crystal_ball"), self.crystal_ball
            )
        if self.signal_shape != "auto" and self.signal_width is None:
            _set(self, "signal_width", self._width_for(self.signal_shape))
        if self.signal_shape == "crystal_ball":  # resolved: every tail parameter recorded
            tails = self.shape()._asdict()
            _set(self, "crystal_ball", {k: tails[k] for k in SignalShape._fields[2:]})
        if self.calculator not in ("asymptotics", "toybased", "auto"):
            raise _fail(
                "stats.calculator",
                f"must be 'asymptotics', 'toybased' or 'auto', got {self.calculator!r}",
            )
        _count("stats.n_toys", self.n_toys, minimum=10)
        _finite("stats.toys_below_background", self.toys_below_background)
        cl = self.limit_cl
        if cl is not None and (not _is_number(cl) or not math.isfinite(cl) or not 0 < cl < 1):
            raise _fail("stats.limit_cl", f"must be a number in (0, 1) or null, got {cl!r}")
        entries = [s._asdict() if isinstance(s, Systematic) else s for s in self.systematics]
        try:
            _set(self, "systematics", tuple(systematics_from_config(entries)))
        except ConfigError as exc:
            raise ConfigError(f"config field {exc}") from None

    def shape(self) -> SignalShape:
        """The resonance's mjj shape of every bump hunt and of the answer's mass fit
        (``auto``, before :class:`~anomsearch.config.SearchConfig` resolves it: a Gaussian)."""
        kind = "gaussian" if self.signal_shape == "auto" else self.signal_shape
        return signal_shape_from_options(kind, self._width_for(kind), self.crystal_ball)

    def _width_for(self, kind: str) -> float:
        """``signal_width``, or the default core width of ``kind``."""
        if self.signal_width is not None:
            return float(self.signal_width)
        return DIJET_CRYSTAL_BALL.width if kind == "crystal_ball" else GAUSSIAN.width

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it."""
        systematics = [
            {k: _plain(v) for k, v in s._asdict().items() if v is not None}
            for s in self.systematics
        ]
        out: dict[str, Any] = {
            "signal_width": self.signal_width,
            "signal_shape": self.signal_shape,
        }
        if self.crystal_ball is not None:
            out["crystal_ball"] = dict(self.crystal_ball)
        return {
            **out,
            "calculator": self.calculator,
            "n_toys": self.n_toys,
            "toys_below_background": self.toys_below_background,
            "limit_cl": self.limit_cl,
            "systematics": systematics,
        }


@dataclass(frozen=True, kw_only=True)
class ScanConfig:
    """``scan``: the sliding-window search over mjj (see :mod:`anomsearch.search.scan`)."""

    mjj_min: float
    mjj_max: float
    width: float
    step: float
    sideband_width: float
    efficiencies: tuple[float, ...] | None = None
    global_toys: int = 0
    global_pseudo_data: str = "auto"
    global_pseudo_donors: str = "smooth"
    min_sideband_events: int = 20

    def __post_init__(self) -> None:
        for name in ("mjj_min", "mjj_max", "width", "step", "sideband_width"):
            _finite(f"scan.{name}", getattr(self, name), positive=True)
        if self.efficiencies is not None:
            effs = tuple(self.efficiencies)
            if not effs or not all(_is_number(e) and math.isfinite(e) and 0 < e <= 1 for e in effs):
                raise _fail("scan.efficiencies", f"must be numbers in (0, 1], got {list(effs)}")
            _set(self, "efficiencies", effs)
        _count("scan.global_toys", self.global_toys, minimum=0)
        if self.global_pseudo_data not in ("auto", "generator", "data"):
            raise _fail(
                "scan.global_pseudo_data",
                f"must be 'auto', 'generator' or 'data', got {self.global_pseudo_data!r}",
            )
        if self.global_pseudo_donors not in ("blocks", "smooth"):
            raise _fail(
                "scan.global_pseudo_donors",
                f"must be 'blocks' or 'smooth', got {self.global_pseudo_donors!r}",
            )
        _count("scan.min_sideband_events", self.min_sideband_events, minimum=1)
        span = self.mjj_max - self.mjj_min - self.width - 2 * self.sideband_width
        if span >= 0 and span / self.step + 1 > MAX_SCAN_WINDOWS:
            raise _fail(
                "scan.step",
                f"{self.step} TeV makes {int(span / self.step) + 1} windows over "
                f"[{self.mjj_min}, {self.mjj_max}] TeV; at most {MAX_SCAN_WINDOWS} are allowed "
                "(a step of about the bin width or more is typical)",
            )

    def windows(self) -> list[Regions]:
        """The scan's windows (:func:`anomsearch.search.scan.scan_windows`).

        Raises:
            ConfigError: no window fits into the scanned range (names the field).
        """
        from anomsearch.search.scan import scan_windows

        return scan_windows(
            mjj_min=self.mjj_min,
            mjj_max=self.mjj_max,
            width=self.width,
            step=self.step,
            sideband_width=self.sideband_width,
        )

    def efficiencies_or(self, default: float) -> list[float]:
        """The cut efficiencies of every window: ``efficiencies``, else the inclusive trial (1:
        no score cut, which sees a resonance whose jets look like QCD jets) and ``default``.

        Examples:
            >>> scan = ScanConfig(mjj_min=2.7, mjj_max=5.1, width=0.4, step=0.2, sideband_width=0.4)
            >>> scan.efficiencies_or(0.01)
            [1.0, 0.01]
        """
        effs = self.efficiencies or (1.0, default)
        return list(dict.fromkeys(float(e) for e in effs))

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it (``efficiencies`` only when set)."""
        out = dataclasses.asdict(self)
        if self.efficiencies is None:
            del out["efficiencies"]
        else:
            out["efficiencies"] = list(self.efficiencies)
        return out


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """``output``: where and what the run writes."""

    dir: str | None = None
    plots: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.plots, bool):
            raise _fail("output.plots", f"must be true or false, got {self.plots!r}")

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it (``dir`` only when set)."""
        return {"plots": self.plots} if self.dir is None else {"dir": self.dir, "plots": self.plots}
