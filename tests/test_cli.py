"""The command-line interface: exit codes, messages, files written."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from anomsearch import __version__
from anomsearch.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_generate_toy_r_and_d_layout(tmp_path):
    out = tmp_path / "toy.features.h5"
    result = runner.invoke(
        app,
        [
            "generate",
            "toy",
            "-o",
            str(out),
            "--n-background",
            "500",
            "--n-signal",
            "20",
            "--seed",
            "3",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_hdf(out)
    assert len(frame) == 520 and frame["label"].sum() == 20


def test_generate_toy_black_box_layout(tmp_path):
    out, key = tmp_path / "bb.h5", tmp_path / "bb.key"
    result = runner.invoke(
        app,
        [
            "generate",
            "toy",
            "-o",
            str(out),
            "--n-background",
            "300",
            "--n-signal",
            "10",
            "--master-key",
            str(key),
            "--param",
            "resonance_mass=4.2",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "label" not in pd.read_hdf(out).columns
    assert sum(int(x) for x in key.read_text().split()) == 10


def test_generate_toy_bad_param(tmp_path):
    result = runner.invoke(
        app, ["generate", "toy", "-o", str(tmp_path / "x.h5"), "--param", "nonsense=1", "-q"]
    )
    assert result.exit_code == 2
    assert "unknown option(s) nonsense" in result.output
    assert not (tmp_path / "x.h5").exists()


def test_validate_reports_field(tmp_path):
    good = {
        "name": "t",
        "data": {"source": "toy", "n_background": 1000},
        "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
        "method": {"name": "cwola"},
        "background": {"name": "bumphunt"},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(good))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "valid" in result.output
    bad = copy.deepcopy(good)
    bad["regions"]["signal_region"] = [3.3, 5.0]
    path.write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "regions.sidebands" in result.output


@pytest.mark.parametrize("command", [["run"], ["validate"]])
def test_missing_config_file(tmp_path, command):
    result = runner.invoke(app, [*command, str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "config file not found" in result.output


@pytest.mark.slow
def test_generate_pythia_writes_lhco_features(tmp_path):
    out = tmp_path / "wprime.h5"
    result = runner.invoke(
        app, ["generate", "pythia", "-o", str(out), "--process", "wprime", "--n", "5", "-q"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_hdf(out)
    assert len(frame) == 5 and (frame["label"] == 1).all()
    assert "chunks kept in" in result.output
    # raw file too, in 2 chunks; a rerun resumes every chunk and gives the same files
    args = ["generate", "pythia", "-o", str(tmp_path / "q.h5"), "--raw", str(tmp_path / "q.raw.h5")]
    args += ["--n", "4", "--chunk-size", "2", "--seed", "3", "-q"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    raw = pd.read_hdf(tmp_path / "q.raw.h5")
    assert raw.shape == (4, 2101)
    features = pd.read_hdf(tmp_path / "q.h5")
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "2 chunk(s) resumed" in again.output
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "q.h5"), features)
    bad = runner.invoke(app, ["generate", "pythia", "-o", str(out), "--process", "ttbar", "-q"])
    assert bad.exit_code == 2 and "PythiaConfig.process" in bad.output


def test_extra_features_options(tmp_path):
    """``generate pythia --extra-features`` and ``data features --extra-features``: the same
    constituent columns, from the chain and from its raw particles."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from anomsearch.data.features.sets import NSUB_FIELDS
    from anomsearch.data.io.lhco import read_features_h5

    out, raw = tmp_path / "q.h5", tmp_path / "q.raw.h5"
    args = ["generate", "pythia", "-o", str(out), "--raw", str(raw), "--n", "4", "-q"]
    result = runner.invoke(app, [*args, "--extra-features", "subjettiness"])
    assert result.exit_code == 0, result.output
    generated = read_features_h5(out)
    assert generated.extra_fields == NSUB_FIELDS
    converted = tmp_path / "c.h5"
    convert = ["data", "features", str(raw), "-o", str(converted), "-q"]
    result = runner.invoke(app, [*convert, "--extra-features", "tau4_b05, efp2_1"])
    assert result.exit_code == 0, result.output
    from_raw = read_features_h5(converted)
    assert from_raw.extra_fields == ("tau4_b05", "efp2_1")
    assert from_raw.feature("tau4_b05_j1") == pytest.approx(generated.feature("tau4_b05_j1"))
    # another option in the same work directory is refused, naming it
    again = runner.invoke(app, [*args, "--extra-features", "efp"])
    assert again.exit_code == 2
    assert "extra_features='subjettiness' (requested 'efp')" in again.output
    bad = runner.invoke(app, [*convert, "--extra-features", "all"])
    assert bad.exit_code == 2
    assert "raw_to_features.extra_features: unknown feature set" in bad.output


def test_data_commands_take_the_data_cache_as_an_option(tmp_path):
    """`data list/download` take `--cache-dir` (the data cache), not the unit cache argument
    of the `cache` commands (one shared annotation name once made it a positional argument)."""
    for command in (["data", "list"], ["data", "download", "lhco-rnd-features"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "--cache-dir" in result.output
    listed = runner.invoke(app, ["data", "list", "--cache-dir", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "lhco-rnd-features" in listed.output


def test_submit_jet_mass_response_option_takes_gev2_offsets():
    """``anomsearch submit --jet-mass-response SCALE OFFSET ERROR``: offsets in GeV^2 become the
    answer's TeV^2; without the option the answer picks its default for the data."""
    from anomsearch.answer.daughter_systematics import JetMassResponse
    from anomsearch.cli import _jet_mass_response

    assert _jet_mass_response(None) is None
    response = _jet_mass_response((0.99, 900.0, 100.0))
    assert isinstance(response, JetMassResponse)
    assert response.scale == 0.99
    assert (response.offset, response.offset_error) == pytest.approx((9e-4, 1e-4))
    assert response.particle_mass(0.05) == pytest.approx(0.04 / 0.99)
    result = CliRunner().invoke(app, ["submit", "--help"])
    assert "--jet-mass-response" in result.output
