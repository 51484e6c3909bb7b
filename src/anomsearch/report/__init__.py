"""Reports: plots of a search (bump-hunt fits, scores, ROC/SIC, window scans, ABCD plane)."""

from __future__ import annotations

from anomsearch.report.plots import plot_mjj_fit, plot_score_distribution
from anomsearch.report.roc import plot_roc_sic
from anomsearch.report.scan_plots import (
    plot_abcd_plane,
    plot_fits_per_efficiency,
    plot_scan_significance,
)

__all__ = [
    "plot_abcd_plane",
    "plot_fits_per_efficiency",
    "plot_mjj_fit",
    "plot_roc_sic",
    "plot_scan_significance",
    "plot_score_distribution",
]
