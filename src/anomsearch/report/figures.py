"""The figures of a run, written next to its ``report.json``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anomsearch.metrics import roc_curve
from anomsearch.report.plots import plot_mjj_fit, plot_score_distribution
from anomsearch.report.roc import plot_roc_sic
from anomsearch.report.scan_plots import (
    plot_abcd_plane,
    plot_fits_per_efficiency,
    plot_scan_significance,
)
from anomsearch.report.sculpting import plot_mjj_sculpting

if TYPE_CHECKING:
    from anomsearch.search.scan import ScanResult
    from anomsearch.search.window import WindowSearch

__all__ = ["write_figures"]


def write_figures(
    directory: Path,
    window: WindowSearch,
    report: dict[str, Any],
    *,
    name: str,
    method_name: str,
    background_like: np.ndarray,
    scan: ScanResult | None = None,
) -> None:
    """Write the PNG figures of a run into ``directory``: the mjj fits with and without the
    cut, the score distribution, the mjj sculpting, the ABCD plane, the scan's significance and
    per-window fits, and the ROC/SIC curves when the data carry labels.

    Args:
        directory: where the figures go.
        window: the headline window search.
        report: the run's report (its ``decorrelation`` and ``metrics`` sections are used).
        name: the search's name (plot titles).
        method_name: the method's name (ROC legend).
        background_like: the events of the decorrelation section (sculpting plot).
        scan: the scan, if any.
    """
    events, scores = window.events, window.scores
    mjj = events.mjj
    in_sr = window.regions.in_sr(mjj)
    plot_mjj_fit(window.hunt, directory / "mjj_fit.png", title=name)
    plot_mjj_fit(window.no_cut, directory / "mjj_fit_no_cut.png", title=f"{name} (no cut)")
    plot_score_distribution(scores, in_sr, directory / "scores.png", labels=events.label)
    effs = sorted({1.0, 0.5, 0.1, window.efficiency}, reverse=True)
    plot_mjj_sculpting(
        mjj[background_like],
        scores[background_like],
        background_efficiencies=effs,
        title=f"{name}: {report['decorrelation']['events']}",
        path=directory / "mjj_sculpting.png",
    )
    if window.abcd is not None and window.pairs is not None:
        plot_abcd_plane(
            window.pairs[in_sr, 0],
            window.pairs[in_sr, 1],
            x_cut=window.abcd.x_cut,
            y_cut=window.abcd.y_cut,
            path=directory / "abcd_plane.png",
            labels=("first score", "second score"),
        )
    if scan is not None and scan.results and scan.best is not None:
        plot_scan_significance(scan, directory / "scan_significance.png", title=name)
        plot_fits_per_efficiency(
            scan.for_window(scan.best.window_index),
            directory / "scan_best_window.png",
            title=f"{name}: most significant window",
        )
        for index in sorted({r.window_index for r in scan.results}):
            plot_fits_per_efficiency(
                scan.for_window(index),
                directory / f"scan_window_{index:02d}.png",
                title=f"{name}: window {index}",
            )
    if report["metrics"] is not None and events.label is not None:
        roc = roc_curve(scores[in_sr], events.label[in_sr])
        plot_roc_sic(
            {method_name: (roc.fpr, roc.tpr)},
            directory / "roc_sic.png",
            title=f"{name}: signal vs background in the SR",
        )
