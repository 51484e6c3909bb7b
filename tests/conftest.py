"""Shared fixtures."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

#: A tiny scan search: 3 windows, CWoLa with its default boosted trees, 2 folds (a few s a run).
TINY_SCAN: dict[str, Any] = {
    "name": "tiny_scan",
    "seed": 3,
    "data": {"source": "toy", "n_background": 60_000},
    "injection": {"n_signal": 300},
    "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    "scan": {
        "mjj_min": 2.7,
        "mjj_max": 4.7,
        "width": 0.4,
        "step": 0.4,
        "sideband_width": 0.4,
        "efficiencies": [0.2],
    },
    "method": {"name": "cwola", "n_folds": 2},
    "background": {"name": "bumphunt", "efficiency": 0.2, "bin_width": 0.1, "n_params": 3},
    "output": {"plots": False},
}


@pytest.fixture
def tiny_scan() -> Callable[[], dict[str, Any]]:
    """A factory of fresh copies of :data:`TINY_SCAN` (a config each test may change)."""
    return lambda: copy.deepcopy(TINY_SCAN)


@pytest.fixture(scope="session")
def tiny_window() -> Any:
    """A :class:`~anomsearch.search.window.WindowSearch` of the tiny config's signal region (the
    window stage on 60k toy events with 300 injected, CWoLa with boosted trees, 2 folds; a few
    seconds),
    with its config."""
    from anomsearch import workflow
    from anomsearch.config import load_config
    from anomsearch.data.sources import load_events
    from anomsearch.search.window import search_window

    raw = copy.deepcopy(TINY_SCAN)
    del raw["scan"]
    config = load_config(raw)
    seeds = config.derived_seeds()
    events = load_events(config.data, injection=config.injection, seeds=seeds)
    window = search_window(
        events,
        workflow.build_method(config, seeds),
        regions=config.regions.regions,
        efficiency=config.background.efficiency,
        background=config.background,
        stats=config.stats,
        n_folds=config.method.n_folds,
        fold_seed=seeds["folds"],
        training_seed=seeds["training"],
    )
    return config, window, events
