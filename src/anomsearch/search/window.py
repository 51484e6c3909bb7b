"""The search in one mjj window: cross-score the events, cut, estimate the background, test.

:func:`search_window` is the stage of the chain between the events and the report: the events of
the analysis range (the fit range and the sidebands) are split into k folds, the method is
trained with k-fold cross-scoring (:func:`anomsearch.methods.cross_score`, so no event is scored
by a model that saw it), and the bump hunt (:func:`anomsearch.search.bump_hunt.bump_hunt`) runs
with the score cut and without it (the reference); with ``background.name: abcd`` the ABCD
search (:func:`anomsearch.search.abcd_search.abcd_search`) of the two scores gives the
discovery test instead.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from anomsearch.compute import UnitCache
from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions, kfold_assignments
from anomsearch.exceptions import ConfigError
from anomsearch.search.abcd_search import ABCDSearchResult, abcd_search
from anomsearch.search.bump_hunt import BumpHuntResult, DiscoveryOptions, bump_hunt
from anomsearch.search.spurious import SpuriousReference

if TYPE_CHECKING:
    from anomsearch.config import BackgroundConfig, StatsConfig

__all__ = ["WindowSearch", "bump_hunt_options", "discovery_options", "search_window"]

log = logging.getLogger(__name__)


class WindowSearch(NamedTuple):
    """Everything :func:`search_window` computed in one window.

    Attributes:
        regions: the window (signal region and sidebands).
        efficiency: the score-cut efficiency.
        fit_range: the mjj range of the sideband fit.
        events: the events of the analysis range (fit range and sidebands).
        folds: the fold of every event.
        scores: the cross-scored anomaly score of every event.
        pairs: the two cross-scored scores (Double DisCo) or None.
        hunt: the bump hunt with the score cut.
        no_cut: the same bump hunt without the score cut (the reference).
        abcd: the ABCD search (``background.name: abcd``) or None.
        train_seconds: wall time of the cross-scoring.
        reference: the spurious-signal test's background-only sample scored by the fold models
            (analysis range), or None without one: ``selected_events.npz`` keeps its events
            under the cut for the daughters' template correction.
    """

    regions: Regions
    efficiency: float
    fit_range: tuple[float, float]
    events: EventTable
    folds: np.ndarray
    scores: np.ndarray
    pairs: np.ndarray | None
    hunt: BumpHuntResult
    no_cut: BumpHuntResult
    abcd: ABCDSearchResult | None
    train_seconds: float
    reference: SpuriousReference | None = None

    @property
    def discovery(self) -> Any:
        """The headline discovery test: the ABCD search's when there is one, else the bump
        hunt's (:class:`~anomsearch.stats.inference.DiscoveryResult`)."""
        return self.hunt.discovery if self.abcd is None else self.abcd.discovery

    @property
    def spec(self) -> dict[str, Any]:
        """The pyhf workspace spec of the headline model."""
        return self.hunt.spec if self.abcd is None else self.abcd.spec


def bump_hunt_options(
    background: BackgroundConfig,
    stats: StatsConfig,
    regions: Regions,
    *,
    fit_range: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The keyword options of :func:`~anomsearch.search.bump_hunt.bump_hunt` from the config's
    ``background`` and ``stats`` sections (the fit range defaults to ``background.fit_range``,
    else the window's sidebands)."""
    if fit_range is None:
        fit_range = background.fit_range or (regions.sb_low, regions.sb_high)
    return {
        "regions": regions,
        "fit_range": (float(fit_range[0]), float(fit_range[1])),
        "bin_width": float(background.bin_width),
        "n_params": background.n_params,
        "signal_shape": stats.shape(),
        "systematics": list(stats.systematics),
        "min_fit_p_value": float(background.min_fit_p_value),
        "test_options": discovery_options(stats),
    }


def discovery_options(stats: StatsConfig) -> DiscoveryOptions:
    """The local p-value options of the config's ``stats`` section."""
    return DiscoveryOptions(
        calculator=stats.calculator,
        n_toys=int(stats.n_toys),
        toys_below_background=float(stats.toys_below_background),
    )


def search_window(
    events: EventTable,
    method: Any,
    *,
    regions: Regions,
    efficiency: float,
    background: BackgroundConfig,
    stats: StatsConfig,
    n_folds: int,
    fold_seed: int,
    training_seed: int,
    fit_range: tuple[float, float] | None = None,
    source: str = "data",
    progress: bool = False,
    cache: UnitCache | None = None,
    background_sample: EventTable | None = None,
) -> WindowSearch:
    """Cross-score the events around one window and search it for a signal.

    Args:
        events: all events of the dataset.
        method: the anomaly method (with its reference samples attached).
        regions: the window.
        efficiency: the score-cut efficiency.
        background: the config's ``background`` section.
        stats: the config's ``stats`` section.
        n_folds: folds of the cross-scoring.
        fold_seed: seed of the fold assignment.
        training_seed: seed of the training.
        fit_range: mjj range of the sideband fit (default: as :func:`bump_hunt_options`).
        source: name of the dataset, for messages.
        progress: progress bars over folds and epochs.
        cache: keep the trained folds (a rerun loads them).
        background_sample: an independent background-only sample for the spurious-signal test
            of both bump hunts (:mod:`anomsearch.search.spurious`); None: no test.

    Returns:
        The :class:`WindowSearch`.

    Raises:
        ConfigError: the window lies outside the data, or ``background.name: abcd`` with a
            method that gives one score.
    """
    options = bump_hunt_options(background, stats, regions, fit_range=fit_range)
    lo = min(options["fit_range"][0], regions.sb_low)
    hi = max(options["fit_range"][1], regions.sb_high)
    regions.check_covered_by(events.mjj, source=source)
    mjj = events.mjj
    events = events.subset((mjj >= lo) & (mjj < hi))
    mjj = events.mjj
    log.info("%d events in the analysis range [%.2f, %.2f] TeV", len(events), lo, hi)
    folds = kfold_assignments(len(events), n_folds, seed=fold_seed)
    from anomsearch.methods import cross_score

    t_train = time.perf_counter()
    crossed = cross_score(
        method,
        events,
        regions=regions,
        folds=folds,
        seed=training_seed,
        progress=progress,
        cache=cache,
    )
    train_seconds = time.perf_counter() - t_train
    scores = np.asarray(crossed.scores)
    if background_sample is not None:
        # the whole analysis range: the test histograms the fit range's bins, the answer's
        # daughter template uses the sidebands
        options["spurious_reference"] = SpuriousReference.score(
            background_sample, crossed.scorers, mjj_range=(lo, hi), keep_jet_masses=True
        )
    hunt = bump_hunt(mjj, scores, efficiency=efficiency, folds=folds, **options)
    no_cut = bump_hunt(mjj, scores, efficiency=1.0, folds=folds, **options)
    abcd = None
    if background.name == "abcd":
        if crossed.pairs is None:
            raise ConfigError("config field background.name: 'abcd' needs a method with two scores")
        abcd = abcd_search(
            crossed.pairs,
            mjj,
            regions=regions,
            efficiency=efficiency,
            systematics=options["systematics"],
            folds=folds,
        )
    return WindowSearch(
        regions=regions,
        efficiency=float(efficiency),
        fit_range=options["fit_range"],
        events=events,
        folds=folds,
        scores=scores,
        pairs=crossed.pairs,
        hunt=hunt,
        no_cut=no_cut,
        abcd=abcd,
        train_seconds=train_seconds,
        reference=options.get("spurious_reference"),
    )
