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
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned(module_name):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} listed in __all__ but missing"
