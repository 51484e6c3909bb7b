"""Reports: plots, report.json."""

from __future__ import annotations

from anomsearch.report.plots import plot_mjj_fit, plot_score_distribution

__all__ = ["plot_mjj_fit", "plot_score_distribution"]
