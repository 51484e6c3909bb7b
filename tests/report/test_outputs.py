"""Where a run writes and how: staged, checked, published at once (anomsearch.report.outputs)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from anomsearch.config import load_config
from anomsearch.exceptions import AnomsearchError, ConfigError
from anomsearch.report.outputs import (
    CACHE_DIRNAME,
    RESULTS_MARKER,
    output_dir,
    unit_cache,
    write_outputs,
)
from anomsearch.report.sections import build_report


def _config(tiny_scan, **changes):
    raw = copy.deepcopy(tiny_scan())
    del raw["scan"]
    raw.update(changes)
    return load_config(raw)


def test_output_dir_and_cache_location(tiny_scan, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tiny_scan)
    assert output_dir(config) == tmp_path / "results" / "tiny_scan"
    assert output_dir(config, "elsewhere") == tmp_path / "elsewhere"
    assert output_dir(_config(tiny_scan, output={"dir": "o"})) == tmp_path / "o"
    cache = unit_cache(config, tmp_path / "results" / "x", force=False)
    assert cache is not None and cache.directory == tmp_path / "results" / CACHE_DIRNAME / "x"
    assert unit_cache(_config(tiny_scan, compute={"cache": False}), tmp_path, force=False) is None
    same = _config(tiny_scan, compute={"cache_dir": str(tmp_path / "r")})
    with pytest.raises(ConfigError, match=r"compute\.cache_dir: must not be the output"):
        unit_cache(same, tmp_path / "r", force=False)


def test_write_outputs_is_all_or_nothing(tiny_window, tmp_path: Path) -> None:
    config, window, _ = tiny_window
    report, background_like = build_report(config, window, headline="config")
    final = tmp_path / "res"
    write_outputs(
        report,
        window,
        config=config,
        final_dir=final,
        method_name="cwola",
        background_like=background_like,
        timer=lambda: 1.5,
    )
    names = sorted(p.name for p in final.iterdir())
    assert names == [
        RESULTS_MARKER,
        "config.yaml",
        "report.html",
        "report.json",
        "selected_events.npz",
        "workspace.json",
        "workspace_no_cut.json",
    ]
    assert report["timing"]["total_seconds"] == 1.5
    with np.load(final / "selected_events.npz") as selected:
        assert len(selected["mjj"]) == int(window.hunt.selection.mask.sum())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # no staging left
    broken = {**report, "significance": "high"}  # not a number: a bug, caught before publishing
    with pytest.raises(AnomsearchError, match="report does not match its schema"):
        write_outputs(
            broken,
            window,
            config=config,
            final_dir=tmp_path / "other",
            method_name="cwola",
            background_like=background_like,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
