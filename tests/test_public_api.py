"""Pin the public API: removing or renaming a public name must be a deliberate change."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "anomsearch": ["__version__"],
    "anomsearch.data": [
        "DERIVED_FEATURES",
        "FEATURE_COLUMNS",
        "JET_FIELDS",
        "EventTable",
        "Regions",
        "ToyConfig",
        "generate_toy",
        "generate_toy_background",
        "generate_toy_signal",
        "inject_signal",
        "kfold_assignments",
        "read_features_h5",
        "read_master_key",
        "split_by_label",
        "write_features_h5",
        "write_master_key",
    ],
    "anomsearch.config": [
        "DEFAULTS",
        "SCHEMA_VERSION",
        "config_schema",
        "load",
        "resolve",
        "validate",
    ],
    "anomsearch.exceptions": ["AnomsearchError", "ConfigError", "DataFormatError", "FitError"],
    "anomsearch.selection": ["Selection", "select_at_efficiency"],
    "anomsearch.bumphunt": ["BumpHuntResult", "aligned_bin_edges", "bump_hunt"],
    "anomsearch.pipeline": ["SearchResult", "load_dataset", "report_schema", "run"],
    "anomsearch.methods": [
        "AnomalyMethod",
        "CWoLaHunting",
        "ClassifierOptions",
        "ClassifierScorer",
        "CrossScores",
        "IdealizedAnomalyDetector",
        "METHODS",
        "Scorer",
        "SupervisedClassifier",
        "cross_score",
        "derive_seed",
        "get_method",
    ],
    "anomsearch.background": [
        "ABCDClosure",
        "ABCDCounts",
        "ABCDEstimate",
        "BackgroundPrediction",
        "BumpHunterResult",
        "BumpHunterScan",
        "DEFAULT_SQRT_S",
        "DIJET_N_PARAMS",
        "FunctionChoice",
        "NestedFitTest",
        "SidebandFit",
        "SpuriousSignal",
        "abcd_closure",
        "abcd_counts",
        "abcd_estimate",
        "alternative_function_variation",
        "bumphunter_global_pvalue",
        "bumphunter_statistic",
        "choose_dijet_function",
        "dijet_basis",
        "dijet_bin_integrals",
        "dijet_bin_jacobian",
        "dijet_function",
        "dijet_log_function",
        "fit_binned_sideband",
        "fit_sideband_background",
        "predict_background",
        "spurious_signal",
        "validate_fit_binning",
    ],
    "anomsearch.stats": [
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
    ],
    "anomsearch.metrics": [
        "BootstrapResult",
        "DEFAULT_MIN_BACKGROUND",
        "MaxSic",
        "RocCurve",
        "SicCurve",
        "auc",
        "bootstrap",
        "max_sic",
        "rejection_at_efficiency",
        "roc_curve",
        "sic_curve",
    ],
    "anomsearch.report": ["plot_mjj_fit", "plot_roc_sic", "plot_score_distribution"],
    "anomsearch.cli": ["app"],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned(module_name):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} listed in __all__ but missing"
