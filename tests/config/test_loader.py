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


def test_analysis_configs_are_valid():
    configs = sorted((REPO / "analyses").glob("**/*.yaml"))
    assert configs, "no analysis configs"
    for path in configs:
        config = load_config(path)
        assert config.stats.shape().kind == "crystal_ball", path  # generated or real data


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


def test_the_signal_shape_follows_the_data_unless_set(tmp_path):
    toy = load_config(_write(tmp_path, MINIMAL))
    assert toy.stats.shape() == ("gaussian", 0.05, 1.0, *toy.stats.shape()[3:])
    lhco = copy.deepcopy(MINIMAL)
    lhco["data"] = {"source": "lhco", "path": str(tmp_path / "x.h5")}
    shape = load_config(lhco).stats.shape()
    assert (shape.kind, shape.width, shape.peak) == ("crystal_ball", 0.026, 0.996)
    lhco["stats"] = {"signal_width": 0.04, "crystal_ball": {"n_low": 2.0}}
    resolved = load_config(lhco).to_dict()["stats"]
    assert resolved["signal_shape"] == "crystal_ball" and resolved["signal_width"] == 0.04
    assert resolved["crystal_ball"]["n_low"] == 2.0 and resolved["crystal_ball"]["peak"] == 0.996
    lhco["stats"] = {"signal_shape": "gaussian"}
    assert load_config(lhco).stats.shape().kind == "gaussian"
    for bad, match in [
        ({"signal_shape": "landau"}, "stats.signal_shape"),
        ({"crystal_ball": {"n_low": 0.5}}, "stats.crystal_ball"),
        ({"crystal_ball": {"sigma": 0.1}}, "stats.crystal_ball"),
    ]:
        lhco["stats"] = bad
        with pytest.raises(ConfigError, match=match):
            load_config(lhco)


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
        ("background.min_fit_p_value", 1.0, "field background.min_fit_p_value"),
        ("stats.calculator", "bayesian", "field stats.calculator"),
        ("stats.n_toys", 5, "field stats.n_toys"),
        ("background.min_fit_p_value", float("nan"), "field background.min_fit_p_value"),
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


# ---------------------------------------------------------------- constituent features
def _with_data(data: dict, features: object = "standard") -> dict:
    cfg = copy.deepcopy(MINIMAL)
    cfg["data"] = data
    # the constituent features are refused for CWoLa unless allowed (they sculpt mjj)
    cfg["method"] = {"name": "cwola", "features": features, "allow_mjj_correlated_features": True}
    return cfg


PYTHIA = {"source": "pythia", "n_background": 10}
LHCO = {"source": "lhco", "path": "/data/raw.h5"}


@pytest.mark.parametrize(
    ("data", "features", "match"),
    [
        # the toy generator has no constituents
        (MINIMAL["data"], "subjettiness", r"^config field method\.features: .*toy generator"),
        (MINIMAL["data"], ["mj1", "efp2_1_j2"], r"^config field method\.features: .*efp2_1"),
        # pythia samples must be generated with what the method reads
        (PYTHIA, "efp", r"^config field data\.pythia\.extra_features: method\.features .*efp1_0"),
        (
            {**PYTHIA, "pythia": {"extra_features": "subjettiness"}},
            ["tau21_j1", "efp3_2_j1"],
            r"data\.pythia\.extra_features = 'subjettiness' does not compute; set "
            r"data\.pythia\.extra_features: efp",
        ),
        (
            {**PYTHIA, "pythia": {"extra_features": "kitchen"}},
            "standard",
            r"^config field data\.pythia\.extra_features: unknown feature set 'kitchen'",
        ),
        (
            {**PYTHIA, "pythia": {"extra_features": ["tau10_b1"]}},
            "standard",
            r"^config field data\.pythia\.extra_features: unknown extra jet field\(s\) 'tau10_b1'",
        ),
        ({**PYTHIA, "pythia": {"extra_features": 3}}, "standard", r"data\.pythia\.extra_features"),
        (
            {**PYTHIA, "extra_features": "efp"},
            "standard",
            r"data\.extra_features: not used .*'pythia'; set data\.pythia\.extra_features",
        ),
        ({**MINIMAL["data"], "extra_features": "efp"}, "standard", r"data\.extra_features: not"),
        # an explicit LHCO value must hold what the method reads
        (
            {**LHCO, "extra_features": ["tau4_b05"]},
            ["mj1", "tau5_b05_j2"],
            r"^config field data\.extra_features: .*tau5_b05.*\['tau4_b05'\].*subjettiness",
        ),
        ({**LHCO, "extra_features": "all"}, "standard", r"data\.extra_features: unknown feat"),
    ],
)
def test_constituent_features_the_data_cannot_supply(data, features, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(_with_data(data, features))


def test_constituent_features_the_data_supply() -> None:
    pythia = load_config(
        _with_data({**PYTHIA, "pythia": {"extra_features": "kitchen_sink"}}, "efp")
    )
    assert pythia.data.pythia.extra_features == "kitchen_sink"
    assert pythia.method_extra_fields()[:2] == ("efp1_0", "efp2_0")
    listed = load_config(
        _with_data({**PYTHIA, "pythia": {"extra_features": ["tau4_b05"]}}, ["tau4_b05_j1"])
    )
    assert listed.data.pythia.extra_features == ("tau4_b05",)
    assert listed.to_dict()["data"]["pythia"]["extra_features"] == ["tau4_b05"]
    assert load_config(listed.to_dict()) == listed
    plain = load_config(_with_data(PYTHIA))  # left out: not written in the resolved config
    assert "extra_features" not in plain.to_dict()["data"]["pythia"]
    assert plain.method_extra_fields() == ()


@pytest.mark.parametrize(
    ("features", "derived"),
    [
        ("standard", None),
        (["mj1", "tau4_b05_j1"], "subjettiness"),
        ("efp", "efp"),
        (["tau4_b05_j1", "efp1_0_j2"], "kitchen_sink"),
    ],
)
def test_lhco_extra_features_derive_from_the_method(features, derived) -> None:
    config = load_config(_with_data(LHCO, features))
    assert config.data.extra_features == derived
    assert config.to_dict()["data"].get("extra_features") == derived
    assert load_config(config.to_dict()) == config
    explicit = load_config(_with_data({**LHCO, "extra_features": "kitchen_sink"}, features))
    assert explicit.data.extra_features == "kitchen_sink"  # a superset is kept as given


def test_options_the_chosen_back_end_does_not_read_are_named_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from anomsearch.config import sections

    sections._warned_unused.clear()
    cfg = copy.deepcopy(MINIMAL)
    cfg["method"] = {"name": "cwola", "max_epochs": 3, "hidden": [8]}  # MLP options, default hgb
    with caplog.at_level("WARNING", logger="anomsearch.config.sections"):
        load_config(cfg)
        load_config(cfg)  # once per process, not per config built
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "method.max_epochs, method.hidden" in messages[0]
    assert "method.classifier: mlp" in messages[0]
    caplog.clear()
    cfg["method"] = {"name": "cwola", "classifier": "mlp", "tree_max_iter": 5}
    with caplog.at_level("WARNING", logger="anomsearch.config.sections"):
        load_config(cfg)
    assert "does not use method.tree_max_iter" in caplog.text
    caplog.clear()
    cfg["method"] = {"name": "cwola", "classifier": "mlp", "max_epochs": 3}
    with caplog.at_level("WARNING", logger="anomsearch.config.sections"):
        load_config(cfg)
    assert caplog.text == ""
