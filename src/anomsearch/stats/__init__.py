"""anomsearch.stats: pyhf models of the search, discovery inference, CLs upper limits and
semi-supervised classifier tests; bump-hunt and ABCD models with common systematics; the
resonance's mjj shape (Gaussian or crystal ball)."""

from __future__ import annotations

from anomsearch.stats.abcd_model import build_abcd_spec
from anomsearch.stats.bumphunt_model import build_bumphunt_spec, gaussian_signal_template
from anomsearch.stats.classifier_test import (
    ClassifierTestResult,
    SignalFractionBound,
    classifier_test,
    signal_fraction_lower_bound,
)
from anomsearch.stats.impacts import NuisanceImpact, nuisance_impacts, plot_impacts
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
from anomsearch.stats.look_elsewhere import (
    GlobalSignificance,
    global_significance_from_toys,
    run_pseudo_experiments,
    trials_factor_approximation,
)
from anomsearch.stats.signal_limits import SignalCountLimit, signal_count_upper_limit
from anomsearch.stats.signal_shape import (
    DIJET_CRYSTAL_BALL,
    DIJET_SHAPE_ENVELOPE,
    GAUSSIAN,
    SignalShape,
    fit_signal_shape,
    signal_shape_from_options,
)
from anomsearch.stats.systematics import Systematic, add_common_systematics, systematics_from_config

__all__ = [
    "DIJET_CRYSTAL_BALL",
    "DIJET_SHAPE_ENVELOPE",
    "GAUSSIAN",
    "ClassifierTestResult",
    "DiscoveryResult",
    "GlobalSignificance",
    "MuHatInterval",
    "NuisanceImpact",
    "SignalCountLimit",
    "SignalFractionBound",
    "SignalShape",
    "Systematic",
    "UpperLimit",
    "add_common_systematics",
    "asimov_discovery_significance",
    "build_abcd_spec",
    "build_bumphunt_spec",
    "classifier_test",
    "counting_experiment_spec",
    "discovery_test",
    "fit_signal_shape",
    "gaussian_signal_template",
    "global_significance_from_toys",
    "load_workspace",
    "minuit_backend",
    "mu_hat_interval",
    "nuisance_impacts",
    "plot_impacts",
    "run_pseudo_experiments",
    "signal_count_upper_limit",
    "signal_fraction_lower_bound",
    "signal_shape_from_options",
    "systematics_from_config",
    "trials_factor_approximation",
    "upper_limit",
]
