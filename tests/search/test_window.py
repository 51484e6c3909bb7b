"""The search in one window: cross-scoring, the cut, the bump hunt with and without it."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.config import BackgroundConfig, StatsConfig
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method
from anomsearch.search.window import bump_hunt_options, search_window

REGIONS = Regions(3.3, 3.7, 2.9, 4.1)


def test_bump_hunt_options_follow_the_config_sections() -> None:
    background = BackgroundConfig(name="bumphunt", bin_width=0.05, n_params=5)
    stats = StatsConfig(
        signal_width=0.08, systematics=({"name": "l", "sample": "signal", "up": 0.1},)
    )
    options = bump_hunt_options(background, stats, REGIONS)
    assert options["fit_range"] == (2.9, 4.1)  # default: the sidebands
    assert (options["bin_width"], options["n_params"]) == (0.05, 5)
    assert options["signal_shape"] == ("gaussian", 0.08, 1.0, *options["signal_shape"][3:])
    cb = StatsConfig(signal_width=0.03, signal_shape="crystal_ball", crystal_ball={"n_low": 2.0})
    shape = bump_hunt_options(background, cb, REGIONS)["signal_shape"]
    assert (shape.kind, shape.width, shape.n_low, shape.peak) == ("crystal_ball", 0.03, 2.0, 0.996)
    assert [s.name for s in options["systematics"]] == ["l"]
    wide = BackgroundConfig(name="bumphunt", fit_range=(2.7, 5.5))
    assert bump_hunt_options(wide, stats, REGIONS)["fit_range"] == (2.7, 5.5)
    assert bump_hunt_options(wide, stats, REGIONS, fit_range=(2.8, 5))["fit_range"] == (2.8, 5.0)


def test_window_search_scores_every_event_once_and_cuts_at_the_efficiency(tiny_window) -> None:
    config, window, _ = tiny_window
    mjj = window.events.mjj
    assert mjj.min() >= 2.9 and mjj.max() < 4.1  # the analysis range: sidebands = fit range
    assert len(window.scores) == len(window.events) == len(window.folds)
    assert np.all(np.isfinite(window.scores)) and set(np.unique(window.folds)) == {0, 1}
    in_sr = REGIONS.in_sr(mjj)
    selected = window.hunt.selection.mask & in_sr
    assert selected.sum() / in_sr.sum() == pytest.approx(config.background.efficiency, abs=0.01)
    assert window.no_cut.selection.mask.all()  # the reference keeps everything
    assert window.abcd is None and window.discovery is window.hunt.discovery
    assert window.spec is window.hunt.spec and window.train_seconds > 0
    n_sr_bins = round((3.7 - 3.3) / config.background.bin_width)
    assert len(window.hunt.observed_sr) == n_sr_bins


def test_a_window_outside_the_data_names_it(tiny_window) -> None:
    config, _, events = tiny_window
    low = events.subset(events.mjj < 3.0)
    with pytest.raises(
        ConfigError, match=r"regions\.signal_region .* outside the mjj range of toy"
    ):
        search_window(
            low,
            get_method("cwola", max_epochs=1),
            regions=REGIONS,
            efficiency=0.1,
            background=config.background,
            stats=config.stats,
            n_folds=2,
            fold_seed=1,
            training_seed=1,
            source="toy",
        )


def test_abcd_needs_two_scores(tiny_window) -> None:
    config, _, events = tiny_window
    with pytest.raises(ConfigError, match=r"background\.name: 'abcd' needs a method with two"):
        search_window(
            events,
            get_method("cwola", max_epochs=1, hidden=[4], batch_size=4096),
            regions=REGIONS,
            efficiency=0.1,
            background=BackgroundConfig(name="abcd", efficiency=0.1),
            stats=config.stats,
            n_folds=2,
            fold_seed=1,
            training_seed=1,
        )
