"""The self-contained HTML report and the `anomsearch report` command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from anomsearch._io import write_json_atomic
from anomsearch.cli import app
from anomsearch.exceptions import DataFormatError
from anomsearch.report.html import render_html, write_html_report

REPORT = {
    "name": "demo<&>",
    "significance": 4.2,
    "p0": 1.3e-5,
    "mu_hat": 321.0,
    "mu_hat_error": 40.0,
    "selection": {"efficiency": 0.01},
    "reference": {"no_cut": {"significance": 1.1}},
    "metrics": {"auc": 0.75, "max_sic": 13.6},
    "truth": {"n_signal": 1000},
    "background": {
        "name": "bumphunt",
        "n_params": 4,
        "chi2": 19.4,
        "ndf": 20,
        "sr_bin_edges": [3.3, 3.5, 3.7],
        "observed_sr": [500, 400],
        "expected_sr": [450.0, 380.0],
        "expected_sr_uncertainty": [10.0, 9.0],
    },
    "config": {"name": "demo", "method": {"name": "cwola"}},
    "provenance": {"packages": {"anomsearch": "0.1.0"}, "seed": 1},
}


@pytest.fixture
def results_dir(tmp_path):
    write_json_atomic(tmp_path / "report.json", REPORT)
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot(np.arange(3))
    fig.savefig(tmp_path / "mjj_fit.png")
    return tmp_path


def test_answer_first_and_escaped():
    page = render_html(REPORT)
    assert page.index("4.20") < page.index('<section id="fit">')
    assert "demo&lt;&amp;&gt;" in page and "demo<&>" not in page
    assert "321 &plusmn; 40" in page
    assert "3.30-3.50" in page and "450.0 &plusmn; 10.0" in page


def test_a_fit_that_failed_the_quality_gate_is_flagged_first():
    assert "quality gate" not in render_html(REPORT)
    failed = {**REPORT, "background": {**REPORT["background"], "fit_passed": False}}
    failed["background"].update(gate_p_value=1e-7, min_fit_p_value=0.01)
    page = render_html(failed)
    assert "FAILED the quality gate (p = 1e-07 &lt; 0.01)" in page
    assert page.index("quality gate") < page.index('<section id="fit">')


def test_self_contained(results_dir):
    path = write_html_report(results_dir)
    page = path.read_text()
    assert "data:image/png;base64," in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert path.stat().st_mode & 0o044  # readable by others, not 0600 from mkstemp


def test_cli_rerenders(results_dir):
    (results_dir / "report.html").unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["report", str(results_dir)])
    assert result.exit_code == 0, result.output
    assert (results_dir / "report.html").is_file()


def test_bad_results_dir(tmp_path):
    with pytest.raises(DataFormatError, match=r"no report\.json"):
        write_html_report(tmp_path)
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        write_html_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(DataFormatError, match="missing key 'significance'"):
        write_html_report(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no report.json" in result.output


SCAN_REPORT = {
    **REPORT,
    "limit": {
        "cl": 0.95,
        "observed": 512.3,
        "expected": [200.0, 260.0, 350.0, 480.0, 640.0],
        "model": "bumphunt",
    },
    "global": {
        "method": "sidak",
        "local_significance": 4.2,
        "p_value": 2.0e-3,
        "significance": 2.88,
        "trials_factor": 150.0,
    },
    "scan": {
        "best": {"window_index": 1, "efficiency": 0.01},
        "windows": [
            {
                "window_index": 0,
                "sr_low": 3.0,
                "sr_high": 3.4,
                "efficiency": 0.01,
                "significance": 0.4,
                "p0": 0.34,
                "mu_hat": 12.0,
                "n_selected_sr": 80,
                "skipped": None,
            },
            {
                "window_index": 1,
                "sr_low": 3.3,
                "sr_high": 3.7,
                "efficiency": 0.01,
                "significance": 4.2,
                "p0": 1.3e-5,
                "mu_hat": 321.0,
                "n_selected_sr": 700,
                "skipped": None,
            },
            {
                "window_index": 2,
                "sr_low": 3.6,
                "sr_high": 4.0,
                "efficiency": 0.01,
                "significance": None,
                "p0": None,
                "mu_hat": None,
                "n_selected_sr": None,
                "skipped": "too few sideband events",
            },
        ],
    },
    "config": {
        "name": "demo",
        "method": {"name": "cwola"},
        "stats": {"systematics": [{"name": "lumi", "sample": "signal", "up": 0.017}]},
    },
}
WORKSPACE = {
    "channels": [
        {
            "name": "sr",
            "samples": [
                {
                    "name": "signal",
                    "data": [1.0],
                    "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                },
                {
                    "name": "background",
                    "data": [5.0],
                    "modifiers": [
                        {
                            "name": "fit_ev0",
                            "type": "histosys",
                            "data": {"hi_data": [6.0], "lo_data": [4.0]},
                        }
                    ],
                },
            ],
        }
    ]
}


def test_every_stage_has_its_section_and_the_nav_links_resolve():
    page = render_html(SCAN_REPORT, workspaces={"workspace.json": WORKSPACE})
    links = re.findall(r"href='#([a-z]+)'", page)
    sections = re.findall(r"<section id=[\'\"]([a-z]+)[\'\"]", page)
    assert links == sections
    assert sections == [
        "answer",
        "fit",
        "scan",
        "scores",
        "performance",
        "model",
        "config",
        "provenance",
    ]
    answer = page[: page.index('<section id="fit">')]
    assert (
        "global significance Z" in answer
        and "2.88&sigma; <small>(scan best: 4.20&sigma; local)" in answer
    )
    assert "95% CL upper limit on signal events" in answer and "512 <small>(exp. 350)" in answer
    assert re.search(r'<tr class="best"><td>3.30-3.70</td>', page)
    assert "too few sideband events" in page
    assert "<td>lumi</td><td>signal</td><td>normsys</td>" in page
    assert "workspace.json</code>: bump hunt with the score cut, 2 modifiers" in page
    assert "fit_ev0" in page


def test_workspaces_and_all_plots_are_embedded(results_dir):
    write_json_atomic(results_dir / "report.json", SCAN_REPORT)
    write_json_atomic(results_dir / "workspace.json", WORKSPACE)
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot(np.arange(3))
    for name in ("scan_significance.png", "mjj_sculpting.png", "scan_window_01.png"):
        fig.savefig(results_dir / name)
    page = write_html_report(results_dir).read_text()
    scan = page[page.index('<section id="scan">') : page.index('<section id="scores">')]
    assert 'alt="scan_significance.png"' in scan
    assert "<summary>window 1: SR [3.30, 3.70] TeV, largest local Z = 4.20</summary>" in scan
    assert 'alt="scan_window_01.png"' in scan
    assert 'alt="mjj_sculpting.png"' in page[page.index('<section id="scores">') :]
    assert "&quot;fit_ev0&quot;" in page
    (results_dir / "workspace.json").write_text("{broken")
    with pytest.raises(DataFormatError, match=r"workspace\.json: not valid JSON"):
        write_html_report(results_dir)


def test_toy_global_significance_is_explained():
    toys = {
        **SCAN_REPORT["global"],
        "method": "generator_toys",
        "p_value": 0.04,
        "p_value_error": 0.011,
        "n_toys": 300,
        "n_exceeding": 12,
        "sidak": {"p_value": 0.09, "significance": 1.34, "trials_factor": 4.0},
    }
    page = render_html({**SCAN_REPORT, "global": toys})
    assert "global p-value (generator_toys)" in page and "0.04 &plusmn; 0.011" in page
    assert "from 300 pseudo-experiments of the whole scan, 12 of them" in page
    assert "Sidak approximation gives p = 0.09" in page
