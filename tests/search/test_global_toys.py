"""Global significance of a scan from pseudo-experiments of the whole chain (scan.global_toys)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from anomsearch import workflow
from anomsearch.cli import app
from anomsearch.config import load_config
from anomsearch.data.sources import load_events
from anomsearch.exceptions import ConfigError
from anomsearch.methods.cwola import CWoLaHunting
from anomsearch.search import global_toys
from anomsearch.search.pseudo_data import fit_data_resampler
from anomsearch.stats.look_elsewhere import derive_toy_seeds


#: The shared tiny scan (conftest.TINY_SCAN) with three pseudo-experiments.
def _config(tiny_scan: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cfg = tiny_scan()
    cfg["scan"]["global_toys"] = 3
    cfg["stats"] = {"limit_cl": None}
    return cfg


def test_pseudo_data_of_any_source(tiny_scan: Callable[[], dict[str, Any]]) -> None:
    """The generator throws toy data again; any other source gets pseudo-data made from the
    data (scan.global_pseudo_data: auto), and asking the generator for them is an error."""
    cfg = _config(tiny_scan)
    assert workflow.pseudo_data_method(load_config(cfg)) == "generator"
    cfg["data"] = {"source": "lhco", "path": "events.h5"}
    assert workflow.pseudo_data_method(load_config(cfg)) == "data"
    # the donor kernel calibrated on Pythia (benchmarks/pythia_global_calibration.py)
    assert load_config(cfg).scan.global_pseudo_donors == "smooth"
    cfg["scan"]["global_pseudo_data"] = "generator"
    with pytest.raises(ConfigError, match=r"scan\.global_pseudo_data: 'generator'.*toy"):
        load_config(cfg)
    with pytest.raises(ConfigError, match=r"scan\.global_toys: needs at least 1"):
        global_toys.scan_global_significance(len, 2.0, n_toys=0, seed=1, identity={})


def test_global_significance_from_pseudo_data_made_from_the_data(
    tmp_path: Any, tiny_scan: Callable[[], dict[str, Any]]
) -> None:
    """scan.global_pseudo_data: data on the tiny scan: two pseudo-experiments on pseudo-data
    made from the observed events (the method and its seed recorded in the report)."""
    cfg = _config(tiny_scan)
    cfg["scan"].update(global_toys=2, global_pseudo_data="data")
    cfg["compute"] = {"cache": False}
    report = workflow.run(cfg, output_dir=tmp_path / "data_toys").report
    glob = report["global"]
    assert glob["method"] == "data_toys" and "made from the data" in glob["pseudo_data"]
    assert glob["n_toys"] == 2 and np.all(np.isfinite(glob["toy_max_local_z"]))
    resolved = load_config(cfg)
    events = load_events(
        resolved.data, injection=resolved.injection, seeds=resolved.derived_seeds()
    )
    resampler = fit_data_resampler(events, mjj_range=(2.7, 4.7), bin_width=0.1)
    seeds = derive_toy_seeds(resolved.derived_seeds()["scan_toys"], 2)
    again = workflow.data_toy_max_z(workflow.toy_config(resolved), resampler, int(seeds[0]))
    assert again == pytest.approx(glob["toy_max_local_z"][0], abs=1e-9)


def test_toy_config_has_no_signal_and_no_side_effects(
    tiny_scan: Callable[[], dict[str, Any]],
) -> None:
    resolved = load_config(_config(tiny_scan))
    toy = workflow.toy_config(resolved)
    assert toy.injection is None
    assert toy.scan is not None and toy.scan.global_toys == 0
    assert toy.compute.to_dict() == {"executor": "serial", "cache": False}
    assert not toy.output.plots
    assert resolved.injection is not None and resolved.injection.n_signal == 300  # untouched


@pytest.mark.slow
def test_pipeline_global_significance_from_toys_resumes_from_the_cache(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, tiny_scan: Callable[[], dict[str, Any]]
) -> None:
    cache_dir = tmp_path / "cache"
    cfg = _config(tiny_scan)
    cfg["compute"] = {"cache_dir": str(cache_dir)}
    calls: list[int] = []
    real = workflow.scan_toy_max_z

    def counted(config: Any, toy_seed: int) -> float:
        calls.append(toy_seed)
        return real(config, toy_seed)

    monkeypatch.setattr(workflow, "scan_toy_max_z", counted)
    workflow.run(cfg, output_dir=tmp_path / "a")
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    glob = report["global"]
    toys = np.array(glob["toy_max_local_z"])
    assert glob["method"] == "generator_toys" and glob["n_toys"] == 3 and toys.shape == (3,)
    assert np.all(toys >= 0) and np.all(np.isfinite(toys))
    seeds = derive_toy_seeds(load_config(cfg).derived_seeds()["scan_toys"], 3)
    assert calls == [int(s) for s in seeds]
    n_exceeding = int(np.sum(toys >= glob["local_significance"]))
    assert glob["n_exceeding"] == n_exceeding
    assert glob["p_value"] == pytest.approx(n_exceeding / 3 if n_exceeding else 1 / 4)
    assert glob["sidak"]["p_value"] > 0
    # A pseudo-experiment is the same scan on a new background-only dataset: repeatable.
    resolved = load_config(_config(tiny_scan))
    assert real(resolved, int(seeds[1])) == pytest.approx(toys[1], abs=1e-9)

    # Rerun with one more toy: the first three come from the cache, no training for them.
    calls.clear()
    cfg["scan"]["global_toys"] = 4
    workflow.run(cfg, output_dir=tmp_path / "b")
    again = json.loads((tmp_path / "b" / "report.json").read_text())["global"]
    assert calls == [int(derive_toy_seeds(load_config(cfg).derived_seeds()["scan_toys"], 4)[3])]
    assert again["toy_max_local_z"][:3] == glob["toy_max_local_z"]

    # And a rerun of the same config trains nothing at all.
    def _forbid(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("retrained although every unit is cached")

    monkeypatch.setattr(CWoLaHunting, "fit", _forbid)
    calls.clear()
    workflow.run(cfg, output_dir=tmp_path / "c")
    third = json.loads((tmp_path / "c" / "report.json").read_text())["global"]
    assert calls == [] and third == again


@pytest.mark.slow
def test_a_toy_is_the_same_search_on_background_only_data(
    tmp_path: Any, tiny_scan: Callable[[], dict[str, Any]]
) -> None:
    """Exchangeability, hence calibration: a pseudo-experiment with seed s gives exactly the best
    local Z of the pipeline's own scan on the background-only dataset of seed s, so on
    background-only data the observed value is one more draw from the toys' distribution and its
    rank among them (the toy p-value) is uniform."""
    cfg = _config(tiny_scan)
    cfg.update(seed=12, injection=None)
    cfg["scan"]["global_toys"] = 0
    cfg["compute"] = {"cache": False}
    workflow.run(cfg, output_dir=tmp_path / "observed")
    observed = json.loads((tmp_path / "observed" / "report.json").read_text())
    toy = workflow.scan_toy_max_z(load_config(_config(tiny_scan)), 12)
    assert toy == pytest.approx(observed["global"]["local_significance"], abs=1e-9)


def test_scan_with_the_inclusive_trial_writes_report_and_answer(
    tmp_path: Any, tiny_scan: Callable[[], dict[str, Any]]
) -> None:
    """Efficiency 1 (no score cut) as the only trial of the scan and of its pseudo-experiments:
    the thresholds are reported as null (no cut), the report validates, the answer is written."""
    cfg = _config(tiny_scan)
    cfg["scan"]["efficiencies"] = [1.0]
    cfg["scan"]["global_toys"] = 2
    cfg["background"]["efficiency"] = 1.0
    result = workflow.run(cfg, output_dir=tmp_path / "inclusive")
    report = json.loads((result.output_dir / "report.json").read_text())
    assert report["scan"]["best"]["efficiency"] == 1.0
    assert report["selection"]["efficiency"] == 1.0
    assert report["selection"]["thresholds"] == [None, None]  # two folds, no cut in either
    assert report["global"]["n_toys"] == 2
    # Sidak counts every scanned (window, efficiency): 3 windows x 1 efficiency
    assert report["global"]["n_trials_effective"] == report["scan"]["n_windows"] == 3
    assert "n_trials_measured" in report["global"]
    fitted = report["global"]["fitted_trials"]  # None only if no toy has a local Z above 0
    toys = np.asarray(report["global"]["toy_max_local_z"])
    assert (fitted is None) == bool(np.all(toys <= 0))
    if fitted is not None:  # Sidak with the fitted N at the observed local p
        sidak_n = 1 - (1 - report["global"]["local_p_value"]) ** fitted["n_trials"]
        assert fitted["p_value"] == pytest.approx(sidak_n, rel=1e-9)
    assert report["background"]["fit_passed"] is True
    # toy data: the spurious-signal test runs on a generated background-only sample
    assert report["background"]["spurious_signal"]["n_template"] > 0
    assert all(r["spurious_passed"] is not None for r in report["scan"]["windows"])
    assert all(r["fit_passed"] for r in report["scan"]["windows"] if r["skipped"] is None)
    assert np.all(np.isfinite(report["global"]["toy_max_local_z"]))
    runner = CliRunner().invoke(app, ["submit", str(result.output_dir)])
    assert runner.exit_code == 0, runner.output
    assert "p_value" in json.loads((result.output_dir / "answer.json").read_text())
    details = json.loads((result.output_dir / "answer_details.json").read_text())
    assert details["source"]["trial"] == "inclusive bump hunt (no score cut)"


def test_the_background_only_sample_of_the_spurious_signal_test(
    tiny_scan: Callable[[], dict[str, Any]],
) -> None:
    config = load_config(tiny_scan())
    seeds = config.derived_seeds()
    sample = workflow.background_only_sample(config, seeds)
    assert sample is not None and len(sample) == 60_000 and not np.any(sample.label)
    cfg = tiny_scan()
    cfg["background"]["spurious_signal_test"] = False
    assert workflow.background_only_sample(load_config(cfg), seeds) is None
    cfg = tiny_scan()
    cfg["data"] = {"source": "pythia", "n_background": 10}  # no reference sample configured
    assert workflow.background_only_sample(load_config(cfg), seeds) is None
