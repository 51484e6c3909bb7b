"""Resumable runs: finished scan windows and cross-scoring folds come back from the unit cache."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from anomsearch import workflow
from anomsearch.cli import app
from anomsearch.compute import UnitCache
from anomsearch.data import EventTable, Regions, generate_toy, kfold_assignments
from anomsearch.methods import cross_score
from anomsearch.methods.cwola import CWoLaHunting
from anomsearch.search import scan as scan_module
from anomsearch.search.scan import scan_windows, sliding_window_search

#: The report entries that must not change when units come from the cache.
NUMBERS = (
    "significance",
    "p0",
    "mu_hat",
    "mu_hat_error",
    "selection",
    "background",
    "reference",
    "metrics",
    "decorrelation",
    "truth",
    "data",
    "scan",
    "global",
)

WINDOWS = scan_windows(mjj_min=2.6, mjj_max=4.7, width=0.4, step=0.2, sideband_width=0.3)
SCAN = {"efficiencies": (0.2, 0.05), "bin_width": 0.05, "n_params": 3, "progress": False}


@dataclass(frozen=True)
class DeltaMjScorer:
    target: float

    def score(self, events: EventTable) -> np.ndarray:
        return -np.abs(events.feature("delta_mj") - self.target)


@dataclass(frozen=True)
class SeededMethod:
    """Training-free, but seed- and option-dependent."""

    name: str = "seeded"
    spread: float = 0.05

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> DeltaMjScorer:
        rng = np.random.default_rng(seed)
        return DeltaMjScorer(0.4 + self.spread * rng.standard_normal())


class Killed(BaseException):
    """Stands for the run being killed (like KeyboardInterrupt, not an Exception)."""


def _forbid(*args, **kwargs):
    raise AssertionError("a cached unit was recomputed")


@pytest.fixture
def count_windows(monkeypatch):
    """Count the windows that are really computed (the run_window calls)."""
    calls: list[int] = []
    original = scan_module.run_window

    def counting(*args, **kwargs):
        calls.append(kwargs["window_index"])
        return original(*args, **kwargs)

    monkeypatch.setattr(scan_module, "run_window", counting)
    return calls


@pytest.fixture(scope="module")
def events() -> EventTable:
    return generate_toy(40_000, 500, seed=21)


def _scan(events, method=None, *, cache, seed=5, **changes):
    options = {**SCAN, **changes}
    return sliding_window_search(
        events,
        method or SeededMethod(),
        windows=WINDOWS,
        folds=2,
        seed=seed,
        cache=cache,
        **options,
    )


# ------------------------------------------------------------------------------ the pipeline
def test_a_rerun_loads_every_unit_and_gives_the_same_report(
    tmp_path, monkeypatch, caplog, tiny_scan
):
    out = tmp_path / "run"
    first = workflow.run(tiny_scan(), output_dir=out)
    cache_dir = tmp_path / ".anomsearch-cache" / "run"
    assert sorted(p.name for p in cache_dir.iterdir()) == ["fold", "scan_window"]
    assert len(list((cache_dir / "scan_window").glob("*.pkl"))) == 3
    assert len(list((cache_dir / "fold").glob("*.pkl"))) == 2

    monkeypatch.setattr(scan_module, "run_window", _forbid)
    monkeypatch.setattr(CWoLaHunting, "fit", _forbid)
    with caplog.at_level(logging.INFO, logger="anomsearch"):
        second = workflow.run(tiny_scan(), output_dir=out)
    for key in NUMBERS:
        assert second.report[key] == first.report[key], key
    np.testing.assert_array_equal(second.scores, first.scores)
    assert "cached: window 1/3" in caplog.text and "cached: window 3/3" in caplog.text
    assert "cached: cwola fold 2/2" in caplog.text
    assert len(list((cache_dir / "scan_window").glob("*.pkl"))) == 3  # kept across the publish


def test_cli_force_recomputes_and_a_plain_rerun_does_not(tmp_path, count_windows, tiny_scan):
    config = tmp_path / "tiny.yaml"
    cache_dir = tmp_path / "units"
    cfg = tiny_scan()
    cfg["compute"] = {"executor": "serial", "cache_dir": "units"}  # relative to the config file
    config.write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    args = ["run", str(config), "-o", str(tmp_path / "out"), "-q"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "scan: most significant SR [" in first.output and "global Z = " in first.output
    assert "95% CL upper limit on the signal events: " in first.output
    assert sorted(count_windows) == [0, 1, 2]
    entries = sorted((cache_dir / "scan_window").glob("*.pkl"))
    assert len(entries) == 3
    report = (tmp_path / "out" / "report.json").read_text()

    count_windows.clear()
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert count_windows == []
    assert (tmp_path / "out" / "report.json").read_text().split('"timing"')[0] == report.split(
        '"timing"'
    )[0]

    mtimes = [p.stat().st_mtime_ns for p in entries]
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert sorted(count_windows) == [0, 1, 2]
    assert sorted((cache_dir / "scan_window").glob("*.pkl")) == entries  # same keys, overwritten
    assert all(p.stat().st_mtime_ns >= m for p, m in zip(entries, mtimes, strict=True))


def test_cache_false_writes_nothing(tmp_path, count_windows, tiny_scan):
    cfg = tiny_scan()
    cfg["compute"] = {"cache": False}
    workflow.run(cfg, output_dir=tmp_path / "out")
    assert not (tmp_path / ".anomsearch-cache").exists()
    count_windows.clear()
    workflow.run(copy.deepcopy(cfg), output_dir=tmp_path / "out")
    assert sorted(count_windows) == [0, 1, 2]


# ------------------------------------------------------------------------------ scan units
def test_a_killed_scan_restarts_where_it_stopped(events, tmp_path, monkeypatch, count_windows):
    reference = _scan(events, cache=None)
    original = scan_module.run_window

    def killed_at_window_3(*args, **kwargs):
        if kwargs["window_index"] == 3:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(scan_module, "run_window", killed_at_window_3)
    with pytest.raises(Killed):
        _scan(events, cache=UnitCache(tmp_path))
    assert len(list((tmp_path / "scan_window").glob("*.pkl"))) == 3  # windows 0, 1, 2

    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs["window_index"])
        return original(*args, **kwargs)

    monkeypatch.setattr(scan_module, "run_window", counting)
    resumed = _scan(events, cache=UnitCache(tmp_path))
    assert calls == list(range(3, len(WINDOWS)))
    assert resumed.to_records() == reference.to_records()


@pytest.mark.parametrize(
    "change",
    [
        {"method": SeededMethod(spread=0.06)},
        {"seed": 6},
        {"efficiencies": (0.2, 0.1)},
        {"n_params": 4},
        {"min_sideband_events": 21},
    ],
    ids=["method-option", "seed", "efficiencies", "n_params", "min_sideband_events"],
)
def test_a_changed_input_changes_the_key(events, tmp_path, count_windows, change):
    _scan(events, cache=UnitCache(tmp_path))
    count_windows.clear()
    _scan(events, cache=UnitCache(tmp_path))
    assert count_windows == []  # same inputs: all cached
    _scan(events, cache=UnitCache(tmp_path), **change)
    assert sorted(count_windows) == list(range(len(WINDOWS)))


def test_changed_data_or_folds_change_the_key(events, tmp_path, count_windows):
    _scan(events, cache=UnitCache(tmp_path))
    count_windows.clear()
    fewer = events.subset(np.arange(len(events)) != 7)
    _scan(fewer, cache=UnitCache(tmp_path))
    assert sorted(count_windows) == list(range(len(WINDOWS)))
    count_windows.clear()
    sliding_window_search(
        events,
        SeededMethod(),
        windows=WINDOWS,
        folds=kfold_assignments(len(events), 3, seed=5),
        seed=5,
        cache=UnitCache(tmp_path),
        **SCAN,
    )
    assert sorted(count_windows) == list(range(len(WINDOWS)))


def test_a_corrupt_window_entry_is_recomputed_with_a_warning(
    events, tmp_path, count_windows, caplog
):
    first = _scan(events, cache=UnitCache(tmp_path))
    entries = sorted((tmp_path / "scan_window").glob("*.pkl"))
    entries[0].write_bytes(entries[0].read_bytes()[:100])
    count_windows.clear()
    with caplog.at_level(logging.WARNING, logger="anomsearch"):
        again = _scan(events, cache=UnitCache(tmp_path))
    assert len(count_windows) == 1
    assert "corrupt cache entry" in caplog.text
    assert again.to_records() == first.to_records()
    count_windows.clear()
    _scan(events, cache=UnitCache(tmp_path))
    assert count_windows == []  # rewritten


# ------------------------------------------------------------------------------ fold units
def test_cross_score_folds_come_back_from_the_cache(events, tmp_path, monkeypatch):
    regions = Regions(3.3, 3.7, 2.9, 4.1)
    folds = kfold_assignments(len(events), 3, seed=1)
    first = cross_score(
        SeededMethod(), events, regions=regions, folds=folds, seed=4, cache=UnitCache(tmp_path)
    )
    assert len(list((tmp_path / "fold").glob("*.pkl"))) == 3
    monkeypatch.setattr(SeededMethod, "fit", _forbid)
    again = cross_score(
        SeededMethod(), events, regions=regions, folds=folds, seed=4, cache=UnitCache(tmp_path)
    )
    np.testing.assert_array_equal(again.scores, first.scores)
    assert again.scorers == first.scorers
    with pytest.raises(AssertionError, match="recomputed"):  # other regions: other keys
        cross_score(
            SeededMethod(),
            events,
            regions=Regions(3.3, 3.7, 2.8, 4.1),
            folds=folds,
            seed=4,
            cache=UnitCache(tmp_path),
        )
