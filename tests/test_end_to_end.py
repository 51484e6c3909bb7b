"""The whole chain on generated data: toy -> CWoLa (k-fold) -> cut -> sideband fit -> pyhf.

These are the tests that say the search works: an injected signal is found, clearly more
significantly with the score cut than without it; background-only data stay below 3 sigma.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import numpy as np
import pyhf
import pytest
import yaml
from typer.testing import CliRunner

from anomsearch import workflow
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
    return workflow.run(cfg, output_dir=out / "res")


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
def test_submit_writes_the_lhco_answer(signal_run, tmp_path):
    """The black-box answer of the run: signal claimed, the toy W' mass (3.5 TeV) and daughter
    jet masses (X 500 GeV, Y 100 GeV) found within their uncertainties (+ binning)."""
    out = tmp_path / "copy"  # leave the shared run's directory as the run wrote it
    shutil.copytree(signal_run.output_dir, out)
    result = CliRunner().invoke(app, ["submit", str(out)])
    assert result.exit_code == 0, result.output
    answer = json.loads((out / "answer.json").read_text())
    assert set(answer) == {"p_value", "resonance_mass", "n_signal", "daughter_masses"}
    assert answer["p_value"] == pytest.approx(signal_run.report["p0"])
    mass = answer["resonance_mass"]
    assert abs(mass["value"] - 3500) < 3 * mass["uncertainty"] + 50
    assert answer["n_signal"]["value"] > 0
    # both jet-mass peaks are found; the answer gives those that pass its daughter tests: here
    # the heavy one, the light one (the toy's signal jets are 40% QCD-like) has an error of
    # ~10.2% of its mass, just above the answer's 10% (max_daughter_relative_error)
    details = json.loads((out / "answer_details.json").read_text())
    peaks = sorted(p["mass_gev"] for p in details["daughter_peaks"])
    assert len(peaks) == 2
    assert abs(peaks[0] - 100) < 40 and abs(peaks[1] - 500) < 80
    answered = sorted(d["value"] for d in answer["daughter_masses"])
    assert answered and abs(answered[-1] - 500) < 80
    assert all(min(abs(a - p) for p in peaks) < 1e-6 for a in answered)
    # the spurious-signal test's template reached the answer, whose mass is closure-tested on
    # it; this toy's jet masses do not follow mjj, so the shift is noise of its error's size
    closure = details["mass_sculpting_closure_gev"]
    assert closure is not None and closure["n_replicas"] >= 4
    # ... and the reference's selected events corrected the daughters' template
    with np.load(out / "selected_events.npz") as saved:
        weights = saved["reference_weight"]
        assert np.all((weights > 0) & (weights <= 1))
        assert saved["reference_mjj"].min() >= 2.9 and saved["reference_mjj"].max() < 4.1
    reference = details["daughter_template_reference"]
    assert reference["n_events"] == weights.size
    assert reference["weight_sum"] == pytest.approx(weights.sum())
    assert abs(closure["shift"]) < 3 * closure["shift_error"] + 20
    key = out / "key.json"
    key.write_text(
        json.dumps({"resonance_mass": 3500, "n_signal": 700, "daughter_masses": [100, 500]})
    )
    scored = CliRunner().invoke(app, ["score-submission", str(out / "answer.json"), str(key)])
    assert "resonance_mass" in scored.output and scored.exit_code in (0, 1)
    (out / "none.json").write_text("null")
    wrong = CliRunner().invoke(
        app, ["score-submission", str(out / "answer.json"), str(out / "none.json")]
    )
    assert wrong.exit_code == 1  # a signal claimed in a box without one fails


@pytest.mark.slow
def test_outputs_written_and_consistent(signal_run):
    out = signal_run.output_dir
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            ".anomsearch-results.json",  # the marker: a run replaces only such directories
            "config.yaml",
            "mjj_fit.png",
            "mjj_fit_no_cut.png",
            "mjj_sculpting.png",
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
    # sculpting diagnostics of the score on the background
    deco = report["decorrelation"]
    assert deco["events"] == "background (label 0)" and 0 <= deco["distance_correlation_sq"] < 0.05
    assert deco["jsd"] is not None and deco["jsd"] < 0.2
    # the selected events, for `anomsearch submit`: exactly the events passing the cut
    with np.load(out / "selected_events.npz") as saved:
        mask = signal_run.bump_hunt.selection.mask
        np.testing.assert_array_equal(saved["mjj"], signal_run.events.mjj[mask])
        np.testing.assert_array_equal(saved["score"], signal_run.scores[mask])
        assert set(saved.files) >= {"mj1", "mj2", "fold", "thresholds", "label"}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_background_only_stays_below_three_sigma(tmp_path, seed):
    cfg = _config(seed=seed, injection={"n_signal": 0})
    result = workflow.run(cfg, output_dir=tmp_path / "res")
    assert result.report["significance"] < 3.0
    assert result.report["reference"]["no_cut"]["significance"] < 3.0
    assert result.report["metrics"] is None  # no signal: no SIC


@pytest.mark.slow
def test_same_seed_same_result(tmp_path, signal_run):
    again = workflow.run(_config(output={"plots": False}), output_dir=tmp_path / "again")
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
    result = workflow.run(cfg, output_dir=tmp_path / "res")
    assert result.report["config"]["method"]["name"] == name
    assert result.report["metrics"]["auc"] > 0.6
    assert np.all(np.isfinite(result.scores))


def test_failed_run_leaves_no_partial_output(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("plotting exploded")

    import anomsearch.report.figures

    monkeypatch.setattr(anomsearch.report.figures, "plot_mjj_fit", broken)
    cfg = _config(data={"source": "toy", "n_background": 60_000}, injection={"n_signal": 100})
    cfg["method"]["max_epochs"] = 1
    cfg["output"] = {"plots": True}
    with pytest.raises(RuntimeError, match="plotting exploded"):
        workflow.run(cfg, output_dir=tmp_path / "res")
    # no results directory; only the resume state (the finished folds) next to it
    assert [p.name for p in tmp_path.iterdir()] == [".anomsearch-cache"]
    assert sorted(p.name for p in (tmp_path / ".anomsearch-cache" / "res").iterdir()) == ["fold"]


@pytest.mark.slow
def test_window_scan_finds_the_injected_window_and_corrects_for_look_elsewhere(tmp_path):
    cfg = _config(
        data={"source": "toy", "n_background": 150_000},
        injection={"n_signal": 1000},
        method={"name": "cwola", "n_folds": 2, "max_epochs": 4, "hidden": [32, 32]},
        output={"plots": True},
        # configured away from the resonance: with a scan the headline follows the best window
        regions={"signal_region": [3.9, 4.3], "sidebands": [3.6, 4.6]},
    )
    cfg["scan"] = {
        "mjj_min": 2.8,
        "mjj_max": 4.6,
        "width": 0.4,
        "step": 0.2,
        "sideband_width": 0.3,
        "efficiencies": [0.1, 0.02],
    }
    result = workflow.run(cfg, output_dir=tmp_path / "scan")
    report = result.report
    scan, glob = report["scan"], report["global"]
    assert scan["n_windows"] == 5  # SR low edges 3.1, ..., 3.9 (upper sideband <= 4.6)
    assert len(scan["windows"]) == 5 * 2
    best = scan["best"]
    assert best["sr_low"] <= 3.5 < best["sr_high"]
    assert glob["local_significance"] == pytest.approx(best["significance"])
    assert glob["p_value"] > glob["local_p_value"] and glob["trials_factor"] > 1
    assert glob["significance"] < glob["local_significance"]
    assert (result.output_dir / "scan_significance.png").is_file()
    # the answer uses the look-elsewhere-corrected p-value
    runner = CliRunner().invoke(app, ["submit", str(result.output_dir)])
    assert runner.exit_code == 0, runner.output
    answer = json.loads((result.output_dir / "answer.json").read_text())
    assert answer["p_value"] == pytest.approx(glob["p_value"])
    # ... and the mass, yield and daughters of the most significant window, not of config.regions
    headline = report["headline"]
    assert headline["source"] == "scan"
    assert headline["signal_region"] == pytest.approx([best["sr_low"], best["sr_high"]])
    assert headline["efficiency"] == best["efficiency"]
    assert report["selection"]["efficiency"] == best["efficiency"]
    assert report["significance"] > 3
    # one classifier from claim to answer: the headline is the scan's entry itself
    assert report["significance"] == pytest.approx(best["significance"], rel=1e-9)
    assert report["mu_hat"] == pytest.approx(best["mu_hat"], rel=1e-9)
    assert headline["fit_range"] == [2.8, 4.6]
    details = json.loads((result.output_dir / "answer_details.json").read_text())
    assert details["source"]["signal_region_gev"] == pytest.approx(
        [1000 * best["sr_low"], 1000 * best["sr_high"]]
    )
    if "resonance_mass" in answer:
        assert 1000 * best["sr_low"] <= answer["resonance_mass"]["value"] <= 1000 * best["sr_high"]


@pytest.mark.slow
def test_double_disco_abcd_search(tmp_path):
    """background.name abcd: the Double DisCo pair, trained on generated reference samples (never
    the data's labels), defines the ABCD plane in the SR; the closure is measured in the
    sidebands and the headline significance is ABCD's."""
    cfg = _config(
        data={
            "source": "toy",
            "n_background": 150_000,
            "n_reference_signal": 1500,
            "n_reference_background": 150_000,
        },
        injection={"n_signal": 1500},
        method={"name": "double_disco", "n_folds": 2, "max_epochs": 8, "hidden": [32, 32]},
        output={"plots": True},
    )
    cfg["background"]["name"] = "abcd"
    result = workflow.run(cfg, output_dir=tmp_path / "abcd")
    report, abcd = result.report, result.report["abcd"]
    assert report["significance"] == pytest.approx(abcd["significance"])
    assert abcd["significance"] > 3
    assert abs(abcd["closure_ratio"] - 1) < 0.5  # decorrelated axes: ABCD closes in the SB
    assert abcd["counts"]["A"] > abcd["predicted_a"]
    assert (result.output_dir / "abcd_plane.png").is_file()
    load_workspace(json.loads((result.output_dir / "workspace_abcd.json").read_text()))
