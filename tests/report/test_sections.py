"""report.json built from the stage results (anomsearch.report.sections)."""

from __future__ import annotations

import jsonschema
import numpy as np

from anomsearch.report.outputs import report_schema
from anomsearch.report.sections import build_report, bump_hunt_summary, truth_section


def test_build_report_matches_its_schema_and_records_the_config(tiny_window) -> None:
    config, window, _ = tiny_window
    report, background_like = build_report(config, window, headline="config")
    jsonschema.validate(report, report_schema())
    assert report["config"] == config.to_dict()
    assert report["provenance"]["derived_seeds"] == config.derived_seeds()
    assert report["significance"] == window.hunt.discovery.significance
    assert report["headline"]["signal_region"] == list(config.regions.signal_region)
    assert report["headline"]["fit_range"] == [2.9, 4.1]
    assert report["scan"] is None and report["global"] is None and report["abcd"] is None
    assert report["data"]["n_events"] == len(window.events)
    # the decorrelation section uses the labelled background of the SR + sidebands
    assert report["decorrelation"]["events"] == "background (label 0)"
    assert background_like.sum() == report["decorrelation"]["n_events"]
    assert np.all(window.events.label[background_like] == 0)


def test_summaries_count_what_they_say(tiny_window) -> None:
    _, window, _ = tiny_window
    summary = bump_hunt_summary(window.no_cut)
    assert summary["efficiency"] == 1.0
    assert summary["observed_sr_total"] == int(window.regions.in_sr(window.events.mjj).sum())
    truth = truth_section(window.events, window.hunt, window.regions.in_sr(window.events.mjj))
    assert truth is not None and 0 < truth["n_signal_sr"] <= truth["n_signal"] <= 300
    assert truth["n_signal_sr_selected"] <= truth["n_signal_sr"]
