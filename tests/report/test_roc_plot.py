"""Tests of the ROC/SIC comparison plot."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from anomsearch.exceptions import DataFormatError
from anomsearch.metrics import roc_curve
from anomsearch.report.roc import plot_roc_sic

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(500, int), np.zeros(5000, int)]
    out = {}
    for name, shift in (("supervised", 2.5), ("cwola", 1.5), ("weak", 0.3)):
        scores = rng.normal(size=labels.size) + shift * labels
        fpr, tpr, _ = roc_curve(scores, labels)
        out[name] = (fpr, tpr)
    return out


def test_plot_writes_a_png(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "roc.png"
    out = plot_roc_sic(_curves(), target, title="toy benchmark")
    assert out == target
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert target.stat().st_size > 10_000
    assert sorted(p.name for p in target.parent.iterdir()) == ["roc.png"]  # no temporary left


def test_plot_accepts_lists_and_skips_degenerate_curves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    curves = {
        "diagonal": ([0.0, 0.5, 1.0], [0.0, 0.5, 1.0]),
        "only origin": ([0.0, 0.0], [0.0, 1.0]),  # fpr = 0 everywhere: nothing to draw
    }
    with caplog.at_level(logging.WARNING, logger="anomsearch.report.roc"):
        out = plot_roc_sic(curves, tmp_path / "roc.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert any("only origin" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("curves", "match"),
    [
        ({}, "no curves"),
        ({"a": (np.zeros(3), np.zeros(4))}, "'a'.*shape"),
        ({"a": (np.array([0.0, 2.0]), np.array([0.0, 1.0]))}, "'a'.*fpr"),
        ({"a": (np.array([0.0, 1.0]), np.array([np.nan, 1.0]))}, "'a'.*tpr"),
        ({"a": np.zeros(3)}, "'a'.*pair"),
    ],
)
def test_plot_rejects_bad_curves(tmp_path: Path, curves: dict, match: str) -> None:
    with pytest.raises(DataFormatError, match=match):
        plot_roc_sic(curves, tmp_path / "roc.png")
    assert not (tmp_path / "roc.png").exists()
