"""anomsearch.stats: pyhf models of the search, discovery inference and CLs upper limits."""

from __future__ import annotations

from anomsearch.stats.bumphunt_model import build_bumphunt_spec, gaussian_signal_template
from anomsearch.stats.inference import (
    DiscoveryResult,
    MuHatInterval,
    asimov_discovery_significance,
    counting_experiment_spec,
    discovery_test,
    load_workspace,
    minuit_backend,
    mu_hat_interval,
)
from anomsearch.stats.limits import UpperLimit, upper_limit

__all__ = [
    "DiscoveryResult",
    "MuHatInterval",
    "UpperLimit",
    "asimov_discovery_significance",
    "build_bumphunt_spec",
    "counting_experiment_spec",
    "discovery_test",
    "gaussian_signal_template",
    "load_workspace",
    "minuit_backend",
    "mu_hat_interval",
    "upper_limit",
]
