"""Load and validate search configurations.

``load(path)`` = ``yaml.safe_load`` + JSON-schema validation (``schemas/config.v1.json``) + semantic
checks, returning the *resolved* configuration: a plain dict with every default filled in and every
relative path in the file resolved against the config file's directory. Each error names the
offending field, e.g. ``regions.signal_region``.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from anomsearch.exceptions import ConfigError

__all__ = [
    "DATASET_KEYS",
    "DEFAULTS",
    "SCHEMA_VERSION",
    "config_schema",
    "load",
    "resolve",
    "validate",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

#: The file paths of the ``data`` section (resolved against the config file's directory).
_PATH_KEYS = (
    "path",
    "signal_path",
    "master_key",
    "reference_background_path",
    "reference_signal_path",
    "reference_simulation_path",
)

#: Keys of the ``data`` section used only by ``source: pythia``.
_PYTHIA_KEYS = ("pythia", "n_signal_pool")

#: Dataset keys of the ``data`` section: a name from :mod:`anomsearch.data.io.download`, fetched
#: (or found in the cache) by the pipeline and used as the corresponding path key.
DATASET_KEYS: dict[str, str] = {
    "dataset": "path",
    "signal_dataset": "signal_path",
    "master_key_dataset": "master_key",
    "reference_background_dataset": "reference_background_path",
    "reference_signal_dataset": "reference_signal_path",
    "reference_simulation_dataset": "reference_simulation_path",
}

#: Defaults filled into every resolved configuration (section -> key -> value).
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "injection": None,
    "method": {"n_folds": 5},
    "background": {"efficiency": 0.01, "bin_width": 0.1, "n_params": 4},
    "stats": {"signal_width": 0.05, "calculator": "asymptotics", "limit_cl": 0.95},
    "output": {"plots": True},
    "compute": {"executor": "serial", "cache": True},
}


@functools.cache
def config_schema() -> dict[str, Any]:
    """The JSON schema of configurations (version :data:`SCHEMA_VERSION`)."""
    text = (
        resources.files("anomsearch.schemas").joinpath(f"config.v{SCHEMA_VERSION}.json").read_text()
    )
    return json.loads(text)


def _field(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate(config: dict[str, Any]) -> None:
    """Validate a config mapping against the schema and the semantic rules.

    Raises:
        ConfigError: naming the first offending field.
    """
    if not isinstance(config, dict):
        raise ConfigError(
            f"a config must be a mapping at the top level, got {type(config).__name__}"
        )
    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        err = errors[0]
        raise ConfigError(f"config field {_field(err.absolute_path)}: {err.message}")
    _semantic_checks(config)


def _interval(config: dict[str, Any], section: str, key: str) -> tuple[float, float] | None:
    value = config.get(section, {}).get(key)
    if value is None:
        return None
    low, high = (float(v) for v in value)
    if not low < high:
        raise ConfigError(f"config field {section}.{key}: need low < high, got [{low}, {high}]")
    return low, high


def _semantic_checks(config: dict[str, Any]) -> None:
    sr = _interval(config, "regions", "signal_region")
    sb = _interval(config, "regions", "sidebands")
    assert sr is not None and sb is not None  # required by the schema
    if not (sb[0] < sr[0] and sr[1] < sb[1]):
        raise ConfigError(
            f"config field regions.sidebands: [{sb[0]}, {sb[1]}] must enclose "
            f"regions.signal_region [{sr[0]}, {sr[1]}] with room on both sides"
        )
    fit = _interval(config, "background", "fit_range")
    if fit is not None and not (fit[0] < sr[0] and sr[1] < fit[1]):
        raise ConfigError(
            f"config field background.fit_range: [{fit[0]}, {fit[1]}] must enclose "
            f"regions.signal_region [{sr[0]}, {sr[1]}]"
        )
    width = config.get("background", {}).get("bin_width", DEFAULTS["background"]["bin_width"])
    n_sr_bins = (sr[1] - sr[0]) / width
    if abs(n_sr_bins - round(n_sr_bins)) > 1e-6 or round(n_sr_bins) < 1:
        raise ConfigError(
            f"config field background.bin_width: {width} TeV must divide the signal region width "
            f"{sr[1] - sr[0]:g} TeV into a whole number of bins"
        )
    data = config["data"]
    if data["source"] == "toy":
        if "n_background" not in data:
            raise ConfigError("config field data.n_background: required when data.source is 'toy'")
        for key in (*_PATH_KEYS, *DATASET_KEYS, *_PYTHIA_KEYS):
            if key in data:
                raise ConfigError(f"config field data.{key}: not used when data.source is 'toy'")
        from anomsearch.data.generate.toy import ToyConfig

        ToyConfig.from_dict(data.get("toy", {}), field_prefix="config field data.toy")
        from anomsearch.data.generate.toy_simulation import SimulationMismodelling

        try:
            SimulationMismodelling(**data.get("simulation", {}))
        except TypeError as exc:
            raise ConfigError(f"config field data.simulation: {exc}") from None
    elif data["source"] == "pythia":
        _pythia_checks(config)
    else:
        for dataset_key, path_key in DATASET_KEYS.items():
            if dataset_key in data and path_key in data:
                raise ConfigError(
                    f"config field data.{dataset_key}: give either data.{path_key} or "
                    f"data.{dataset_key}, not both"
                )
            if dataset_key in data:
                from anomsearch.data.io.download import dataset_names

                if data[dataset_key] not in dataset_names():
                    raise ConfigError(
                        f"config field data.{dataset_key}: unknown dataset "
                        f"{data[dataset_key]!r}; available: {', '.join(dataset_names())}"
                    )
        if "path" not in data and "dataset" not in data:
            raise ConfigError(
                "config field data.path: required when data.source is 'lhco' "
                "(or data.dataset, a dataset name for `anomsearch data download`)"
            )
        for key in ("toy", "simulation"):
            if key in data:
                raise ConfigError(f"config field data.{key}: only used when data.source is 'toy'")
        for key in (
            "n_background",
            "n_reference_background",
            "n_reference_signal",
            "n_reference_simulation",
        ):
            if key in data:
                raise ConfigError(
                    f"config field data.{key}: only used when data.source is 'toy' or 'pythia'"
                )
        for key in _PYTHIA_KEYS:
            if key in data:
                raise ConfigError(
                    f"config field data.{key}: only used when data.source is 'pythia'"
                )
    from anomsearch.methods import get_method

    if config.get("background", {}).get("name") == "abcd":
        if config["method"]["name"] != "double_disco":
            raise ConfigError(
                "config field background.name: 'abcd' needs a method with two decorrelated "
                f"scores (method.name: double_disco), got {config['method']['name']!r}"
            )
        eff = config["background"].get("efficiency", DEFAULTS["background"]["efficiency"])
        if not 0 < eff < 1:
            raise ConfigError(
                f"config field background.efficiency: must be < 1 for 'abcd', got {eff}"
            )
    method = dict(config["method"])
    method.pop("n_folds", None)
    get_method(method.pop("name"), **method)
    if "scan" in config:
        from anomsearch.search.scan import scan_windows

        scan = config["scan"]
        windows = scan_windows(
            mjj_min=scan["mjj_min"],
            mjj_max=scan["mjj_max"],
            width=scan["width"],
            step=scan["step"],
            sideband_width=scan["sideband_width"],
        )
        for w in windows:
            n_bins = (w.sr_high - w.sr_low) / width
            if abs(n_bins - round(n_bins)) > 1e-6:
                raise ConfigError(
                    f"config field scan.width: background.bin_width {width} TeV must divide the "
                    f"window width {w.sr_high - w.sr_low:g} TeV"
                )
        if scan.get("global_toys", 0) > 0 and config["data"]["source"] != "toy":
            raise ConfigError(
                "config field scan.global_toys: pseudo-datasets are drawn from the generator, so "
                f"they need data.source: toy, not {config['data']['source']!r} (0: Sidak only)"
            )
    from anomsearch.stats.systematics import systematics_from_config

    systematics_from_config(config.get("stats", {}).get("systematics", []))
    from anomsearch.compute import check_compute_config

    check_compute_config(config.get("compute"))


def _pythia_checks(config: dict[str, Any]) -> None:
    """Semantic checks of ``data.source: pythia`` (the generator itself is needed only to run)."""
    data = config["data"]
    if "n_background" not in data:
        raise ConfigError("config field data.n_background: required when data.source is 'pythia'")
    for key in (*_PATH_KEYS, *DATASET_KEYS, "toy", "simulation"):
        if key in data:
            raise ConfigError(f"config field data.{key}: not used when data.source is 'pythia'")
    n_signal = (config.get("injection") or {}).get("n_signal", 0)
    pool = data.get("n_signal_pool")
    if pool is not None and pool < n_signal:
        raise ConfigError(
            f"config field data.n_signal_pool: {pool} signal events cannot supply "
            f"injection.n_signal = {n_signal}"
        )
    from anomsearch.data.generate.pythia_source import pythia_sample_spec

    for kind in ("background", "signal", "simulation"):
        pythia_sample_spec(data, kind, 1, 0)  # names a bad data.pythia field
    from anomsearch.methods import get_method

    method = dict(config["method"])
    method.pop("n_folds", None)
    name = method.pop("name")
    instance = get_method(name, **method)
    for kind in ("background", "simulation"):
        key = f"n_reference_{kind}"
        if getattr(instance, f"needs_reference_{kind}", False) and key not in data:
            raise ConfigError(
                f"config field data.{key}: method {name!r} needs a reference {kind} sample; "
                f"set data.{key} (events generated with data.source 'pythia')"
            )


def _resolve_pythia(data: dict[str, Any], injection: dict[str, Any] | None) -> None:
    """Record the generator defaults of ``data.source: pythia`` in the resolved config
    (``data.pythia.n_jobs`` stays unset: it depends on the machine, not the events)."""
    from anomsearch.data.generate.pythia_source import pythia_sample_spec

    signal = pythia_sample_spec(data, "signal", 1, 0).config
    simulation = pythia_sample_spec(data, "simulation", 1, 0)
    options = data.setdefault("pythia", {})
    options.setdefault("signal_process", signal.process)
    options["masses"] = {"wprime": signal.m_wprime, "x": signal.m_x, "y": signal.m_y}
    options.setdefault("pthat_min", simulation.config.pthat_min)
    options.setdefault("fsr_alpha_s_simulation", simulation.config.fsr_alpha_s_simulation)
    options.setdefault("chunk_size", simulation.chunk_size)
    n_signal = int((injection or {}).get("n_signal", 0))
    if n_signal > 0:
        data.setdefault("n_signal_pool", n_signal)


def resolve(config: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Fill in :data:`DEFAULTS` (and, for ``data.source: pythia``, the generator's settings) and
    make relative paths absolute against ``base_dir``.

    ``config`` must already be valid (see :func:`validate`); it is not modified.
    """
    resolved = copy.deepcopy(config)
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            section = resolved.setdefault(key, {})
            for sub_key, sub_default in default.items():
                section.setdefault(sub_key, sub_default)
        else:
            resolved.setdefault(key, default)
    data = resolved["data"]
    for key in _PATH_KEYS:
        if key in data:
            data[key] = str((base_dir / os.path.expanduser(data[key])).resolve())
    if data.get("source") == "pythia":
        _resolve_pythia(data, resolved.get("injection"))
    output = resolved["output"]
    if "dir" in output:
        output["dir"] = str((base_dir / os.path.expanduser(output["dir"])).resolve())
    compute = resolved["compute"]
    if "cache_dir" in compute:
        compute["cache_dir"] = str((base_dir / os.path.expanduser(compute["cache_dir"])).resolve())
    return resolved


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, validate and resolve a YAML configuration file.

    Args:
        path: the YAML file.

    Returns:
        The resolved configuration (defaults filled in, paths absolute). ``output.dir`` is absent
        unless set in the file: the pipeline then writes to ``results/<name>`` under the working
        directory.

    Raises:
        ConfigError: missing/unreadable file, invalid YAML, or an invalid field (named in the
            message).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    try:
        validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    resolved = resolve(config, path.resolve().parent)
    log.debug("loaded config %s", path)
    return resolved
