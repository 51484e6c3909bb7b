"""Config loading: the typed SearchConfig, its checks, defaults and path resolution."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anomsearch import config as config_module
from anomsearch.config import SearchConfig, load_config
from anomsearch.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]

MINIMAL = {
    "name": "t",
    "data": {"source": "toy", "n_background": 1000},
    "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    "method": {"name": "cwola"},
    "background": {"name": "bumphunt"},
}


def _write(tmp_path, cfg) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_shipped_configs_are_valid():
    configs = sorted((REPO / "configs").glob("*.yaml"))
    assert configs, "no configs shipped"
    for path in configs:
        load_config(path)


def test_defaults_filled(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL))
    assert isinstance(config, SearchConfig)
    assert config.seed == 0
    assert config.injection is None
    assert config.method.n_folds == 5
    assert config.background.efficiency == 0.01
    assert config.stats.signal_width == 0.05
    assert config.output.dir is None
    resolved = config.to_dict()
    assert resolved["seed"] == 0 and resolved["injection"] is None
    assert resolved["stats"]["signal_width"] == 0.05 and "dir" not in resolved["output"]


def test_config_is_frozen_and_round_trips(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.background.efficiency = 0.5  # type: ignore[misc]
    for path in sorted((REPO / "configs").glob("*.yaml")):
        shipped = load_config(path)
        assert load_config(shipped.to_dict()) == shipped, path
        json.dumps(shipped.to_dict())  # the resolved config is plain data


def test_building_a_section_checks_it():
    with pytest.raises(ConfigError, match=r"config field background\.efficiency"):
        config_module.BackgroundConfig(name="bumphunt", efficiency=2.0)
    with pytest.raises(ConfigError, match=r"config field regions\.sidebands"):
        config_module.RegionsConfig(signal_region=(3.3, 3.7), sidebands=(3.4, 4.1))
    with pytest.raises(ConfigError, match=r"method\.hiddden"):
        config_module.MethodConfig(name="cwola", options={"hiddden": [8]})


def test_schema_defaults_come_from_the_sections():
    """The schema file has no defaults; the served schema takes them from the dataclasses."""
    text = (REPO / "src/anomsearch/schemas/config.v1.json").read_text()
    assert '"default"' not in text
    schema = config_module.config_schema()
    props = schema["properties"]
    assert props["background"]["properties"]["efficiency"]["default"] == 0.01
    assert props["method"]["properties"]["n_folds"]["default"] == 5
    assert props["data"]["properties"]["pythia"]["properties"]["masses"]["default"] == {
        "wprime": 3500,
        "x": 500,
        "y": 100,
    }


def test_validate_imports_no_torch(tmp_path):
    path = _write(tmp_path, MINIMAL)
    code = (
        "import sys\n"
        "from anomsearch.cli import app\n"
        f"sys.argv = ['anomsearch', 'validate', {str(path)!r}]\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'zuko') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    cfg = copy.deepcopy(MINIMAL)
    cfg["data"] = {"source": "lhco", "path": "data/x.h5"}
    cfg["output"] = {"dir": "out"}
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    config = load_config(path)
    assert config.data.path == str(tmp_path / "sub" / "data" / "x.h5")
    assert config.output.dir == str(tmp_path / "sub" / "out")


def _mutate(path: str, value):
    cfg = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return cfg


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("name", KeyError, "<top level>: 'name' is a required property"),
        ("name", "has space", "field name"),
        ("bogus", 1, "Additional properties are not allowed \\('bogus'"),
        ("regions.signal_region", [3.3], "field regions.signal_region"),
        ("regions.signal_region", [3.7, 3.3], "regions.signal_region: need low < high"),
        ("regions.sidebands", [3.4, 4.1], "regions.sidebands: .* must enclose"),
        ("background.efficiency", 1.5, "field background.efficiency"),
        ("background.efficiency", 0, "field background.efficiency"),
        ("background.bin_width", 0.15, "background.bin_width: 0.15 TeV must divide"),
        ("background.fit_range", [3.4, 5.0], "background.fit_range.*must enclose"),
        ("background.name", "abcd_typo", "field background.name"),
        ("data.source", "root", "field data.source"),
        ("data.n_background", KeyError, "data.n_background: required"),
        ("data.toy", {"bogus": 1.0}, "data.toy: unknown option"),
        ("data.simulation", {"jet_mass_scale": 0}, "field data.simulation.jet_mass_scale"),
        ("data.simulation", {"bogus": 1.0}, "field data.simulation"),
        ("injection", {"n_signal": -3}, "field injection.n_signal"),
        ("method.name", "magic", "method.name.*'magic'"),
        ("method.n_folds", 1, "field method.n_folds"),
        ("method.hiddden", [8], "method.hiddden"),
        ("seed", -1, "field seed"),
        ("stats.systematics", [{"name": "lumi", "sample": "sig", "up": 0.1}], "systematics.0"),
        ("regions.sidebands", [2.9, float("inf")], "field regions.sidebands"),
        ("background.bin_width", float("nan"), "field background.bin_width"),
        ("background.efficiency", float("nan"), "field background.efficiency"),
        ("stats.signal_width", float("inf"), "field stats.signal_width"),
        (
            "stats.systematics",
            [
                {"name": "a", "sample": "signal", "up": 0.1},
                {"name": "a", "sample": "both", "up": 0.2},
            ],
            r"stats\.systematics\[1\]\.name",
        ),
    ],
)
def test_errors_name_the_field(tmp_path, field, value, match):
    path = _write(tmp_path, _mutate(field, value))
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_lhco_source_needs_a_path(tmp_path):
    cfg = copy.deepcopy(MINIMAL)
    cfg["data"] = {"source": "lhco"}
    with pytest.raises(ConfigError, match=r"data\.path: required"):
        load_config(_write(tmp_path, cfg))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(scalar)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_config(latin)


def test_a_scan_step_far_below_the_bin_width_is_refused_at_once(tmp_path):
    cfg = copy.deepcopy(MINIMAL)
    cfg["scan"] = {
        "mjj_min": 2.7,
        "mjj_max": 5.1,
        "width": 0.4,
        "step": 1e-7,
        "sideband_width": 0.4,
    }
    with pytest.raises(ConfigError, match=r"scan\.step: 1e-07 TeV makes \d+ windows"):
        load_config(_write(tmp_path, cfg))


def test_schema_is_versioned():
    schema = config_module.config_schema()
    assert schema["$id"].endswith(f"config.v{config_module.SCHEMA_VERSION}.json")
    assert set(schema["properties"]) >= {
        "name",
        "seed",
        "data",
        "injection",
        "regions",
        "method",
        "background",
        "stats",
        "output",
    }
