"""The docs results page is what benchmarks/results_page.py renders from the committed JSON."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _results_page():
    spec = importlib.util.spec_from_file_location(
        "results_page", REPO / "benchmarks" / "results_page.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_results_page_is_up_to_date() -> None:
    page = _results_page()
    rendered = page.render()
    assert (REPO / "docs" / "results.md").read_text() == rendered, (
        "docs/results.md is stale: run python benchmarks/results_page.py"
    )
    for title in ("Signal shape", "Excited-quark black boxes", "Window scan"):
        assert title in rendered
