"""Reports: plots, report.json."""

from __future__ import annotations

from anomsearch.report.plots import plot_mjj_fit, plot_score_distribution
from anomsearch.report.roc import plot_roc_sic

__all__ = ["plot_mjj_fit", "plot_roc_sic", "plot_score_distribution"]
