"""Config loading: schema validation, semantic checks, defaults, path resolution."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from anomsearch import config as config_module
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
        config_module.load(path)


def test_defaults_filled(tmp_path):
    resolved = config_module.load(_write(tmp_path, MINIMAL))
    assert resolved["seed"] == 0
    assert resolved["injection"] is None
    assert resolved["method"]["n_folds"] == 5
    assert resolved["background"]["efficiency"] == 0.01
    assert resolved["stats"]["signal_width"] == 0.05
    assert "dir" not in resolved["output"]


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    cfg = copy.deepcopy(MINIMAL)
    cfg["data"] = {"source": "lhco", "path": "data/x.h5"}
    cfg["output"] = {"dir": "out"}
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    resolved = config_module.load(path)
    assert resolved["data"]["path"] == str(tmp_path / "sub" / "data" / "x.h5")
    assert resolved["output"]["dir"] == str(tmp_path / "sub" / "out")


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
        config_module.load(path)
    assert str(path) in str(info.value)


def test_lhco_source_needs_a_path(tmp_path):
    cfg = copy.deepcopy(MINIMAL)
    cfg["data"] = {"source": "lhco"}
    with pytest.raises(ConfigError, match=r"data\.path: required"):
        config_module.load(_write(tmp_path, cfg))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config_module.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        config_module.load(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        config_module.load(scalar)


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
