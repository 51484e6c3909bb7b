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
    assert page.index("4.20") < page.index("Signal region")
    assert "demo&lt;&amp;&gt;" in page and "demo<&>" not in page
    assert "321 &plusmn; 40" in page
    assert "3.30-3.50" in page and "450.0 &plusmn; 10.0" in page


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
