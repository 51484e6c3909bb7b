"""The whole chain on generated data: toy -> CWoLa (k-fold) -> cut -> sideband fit -> pyhf.

These are the tests that say the search works: an injected signal is found, clearly more
significantly with the score cut than without it; background-only data stay below 3 sigma.
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pyhf
import pytest
import yaml
from typer.testing import CliRunner

from anomsearch import pipeline
from anomsearch.cli import app
from anomsearch.stats import discovery_test, load_workspace

BASE = {
    "name": "e2e",
    "seed": 0,
    "data": {"source": "toy", "n_background": 300_000},
    "injection": {"n_signal": 700},
    "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    "method": {"name": "cwola", "n_folds": 3, "max_epochs": 10},
    "background": {
        "name": "bumphunt",
        "efficiency": 0.02,
        "fit_range": [2.7, 5.5],
        "bin_width": 0.1,
        "n_params": 4,
    },
    "output": {"plots": False},
}


def _config(**changes):
    cfg = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = value
    return cfg


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("signal")
    cfg = _config(output={"plots": True})
    return pipeline.run(cfg, output_dir=out / "res")


@pytest.mark.slow
def test_injected_signal_is_found(signal_run):
    report = signal_run.report
    no_cut = report["reference"]["no_cut"]
    assert report["significance"] >= 3.0
    assert report["significance"] > no_cut["significance"] + 1.5
    # the fitted signal matches the selected injected signal within its uncertainty
    truth = report["truth"]["n_signal_sr_selected"]
    assert abs(report["mu_hat"] - truth) < 3 * report["mu_hat_error"]
    assert report["metrics"]["max_sic"] > 3
    assert report["metrics"]["auc"] > 0.6


@pytest.mark.slow
def test_outputs_written_and_consistent(signal_run):
    out = signal_run.output_dir
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "config.yaml",
            "mjj_fit.png",
            "mjj_fit_no_cut.png",
            "report.html",
            "report.json",
            "roc_sic.png",
            "scores.png",
            "selected_events.npz",
            "workspace.json",
            "workspace_no_cut.json",
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["significance"] == pytest.approx(signal_run.report["significance"])
    assert report["config"]["method"]["n_folds"] == 3
    assert report["provenance"]["packages"]["pyhf"] == pyhf.__version__
    assert len(report["data"]["checksum"]) == 64
    # the saved workspace reproduces the reported significance
    spec = json.loads((out / "workspace.json").read_text())
    load_workspace(spec)  # valid against pyhf's schema
    assert spec["measurements"][0]["config"]["poi"] == "mu"
    assert discovery_test(spec).significance == pytest.approx(report["significance"], rel=1e-6)
    assert yaml.safe_load((out / "config.yaml").read_text())["name"] == "e2e"
    # the selected events, for `anomsearch submit`: exactly the events passing the cut
    with np.load(out / "selected_events.npz") as saved:
        mask = signal_run.hunt.selection.mask
        np.testing.assert_array_equal(saved["mjj"], signal_run.events.mjj[mask])
        np.testing.assert_array_equal(saved["score"], signal_run.scores[mask])
        assert set(saved.files) >= {"mj1", "mj2", "fold", "thresholds", "label"}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_background_only_stays_below_three_sigma(tmp_path, seed):
    cfg = _config(seed=seed, injection={"n_signal": 0})
    result = pipeline.run(cfg, output_dir=tmp_path / "res")
    assert result.report["significance"] < 3.0
    assert result.report["reference"]["no_cut"]["significance"] < 3.0
    assert result.report["metrics"] is None  # no signal: no SIC


@pytest.mark.slow
def test_same_seed_same_result(tmp_path, signal_run):
    again = pipeline.run(_config(output={"plots": False}), output_dir=tmp_path / "again")
    np.testing.assert_array_equal(again.scores, signal_run.scores)
    assert again.report["significance"] == signal_run.report["significance"]
    assert again.report["data"]["checksum"] == signal_run.report["data"]["checksum"]


@pytest.mark.slow
def test_cli_run_from_another_directory(tmp_path):
    cfg = _config(data={"source": "toy", "n_background": 100_000}, injection={"n_signal": 300})
    cfg["method"]["max_epochs"] = 2
    cfg["name"] = "elsewhere"
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "c.yaml").write_text(yaml.safe_dump(cfg))
    work = tmp_path / "work"
    work.mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(work)
        result = CliRunner().invoke(app, ["run", str(conf_dir / "c.yaml"), "-q"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert "local significance Z =" in result.output
    assert (work / "results" / "elsewhere" / "report.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["idealized", "supervised"])
def test_reference_methods_through_the_pipeline(tmp_path, name):
    cfg = _config(data={"source": "toy", "n_background": 100_000, "n_reference_signal": 3000})
    cfg["injection"] = {"n_signal": 300}
    cfg["method"] = {"name": name, "n_folds": 2, "max_epochs": 3}
    result = pipeline.run(cfg, output_dir=tmp_path / "res")
    assert result.report["config"]["method"]["name"] == name
    assert result.report["metrics"]["auc"] > 0.6
    assert np.all(np.isfinite(result.scores))


def test_failed_run_leaves_no_partial_output(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("plotting exploded")

    import anomsearch.report

    monkeypatch.setattr(anomsearch.report, "plot_mjj_fit", broken)
    cfg = _config(data={"source": "toy", "n_background": 60_000}, injection={"n_signal": 100})
    cfg["method"]["max_epochs"] = 1
    cfg["output"] = {"plots": True}
    with pytest.raises(RuntimeError, match="plotting exploded"):
        pipeline.run(cfg, output_dir=tmp_path / "res")
    assert list(tmp_path.iterdir()) == []
