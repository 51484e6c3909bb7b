"""How good and how decorrelated a score is: ROC, AUC, SIC and rejection with bootstrap errors
(:mod:`anomsearch.metrics.performance`); distance correlation and mjj sculpting
(:mod:`anomsearch.metrics.decorrelation`)."""

from __future__ import annotations

from anomsearch.metrics.decorrelation import (
    DEFAULT_MAX_EVENTS,
    MjjSculpting,
    distance_correlation,
    jensen_shannon_divergence,
    mjj_sculpting,
)
from anomsearch.metrics.performance import (
    DEFAULT_MIN_BACKGROUND,
    BootstrapResult,
    MaxSic,
    RocCurve,
    SicCurve,
    auc,
    bootstrap,
    max_sic,
    rejection_at_efficiency,
    roc_curve,
    sic_curve,
)

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MIN_BACKGROUND",
    "BootstrapResult",
    "MaxSic",
    "MjjSculpting",
    "RocCurve",
    "SicCurve",
    "auc",
    "bootstrap",
    "distance_correlation",
    "jensen_shannon_divergence",
    "max_sic",
    "mjj_sculpting",
    "rejection_at_efficiency",
    "roc_curve",
    "sic_curve",
]
