"""anomsearch.stats: pyhf models of the search and discovery inference."""

from __future__ import annotations

from anomsearch.stats.bumphunt_model import build_bumphunt_spec, gaussian_signal_template
from anomsearch.stats.inference import (
    DiscoveryResult,
    asimov_discovery_significance,
    counting_experiment_spec,
    discovery_test,
    load_workspace,
    minuit_backend,
)

__all__ = [
    "DiscoveryResult",
    "asimov_discovery_significance",
    "build_bumphunt_spec",
    "counting_experiment_spec",
    "discovery_test",
    "gaussian_signal_template",
    "load_workspace",
    "minuit_backend",
]
