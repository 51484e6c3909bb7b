"""The interface every anomaly-score method implements, and k-fold cross-scoring.

A method is *fitted* on events and returns a :class:`Scorer`; a scorer maps any events to one
float per event, higher meaning more signal-like. :func:`cross_score` turns a method into scores
for a whole dataset such that no event is ever scored by a model that was trained on it (the k-fold
procedure of CWoLa hunting).

References:
    J. H. Collins, K. Howe, B. Nachman, "Anomaly Detection for Resonant New Physics with Machine
    Learning", arXiv:1805.02664.
    J. H. Collins, K. Howe, B. Nachman, "Extending the search for new resonances with machine
    learning", arXiv:1902.02634.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.progress import track
from anomsearch.provenance import array_checksum

if TYPE_CHECKING:
    from anomsearch.compute import UnitCache

__all__ = [
    "AnomalyMethod",
    "CrossScores",
    "PrefittedMethod",
    "Scorer",
    "cross_score",
    "derive_seed",
    "fit_once",
    "trains_on_data",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Scorer(Protocol):
    """A fitted anomaly score."""

    def score(self, events: EventTable) -> np.ndarray:
        """Return one float64 score per event, shape ``(len(events),)``; higher = signal-like."""
        ...


@runtime_checkable
class AnomalyMethod(Protocol):
    """An anomaly-score method: configuration plus a ``fit`` that returns a :class:`Scorer`."""

    name: str

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> Scorer:
        """Train on ``events`` (with the SR/SB definition ``regions``) and return a scorer."""
        ...


class CrossScores(NamedTuple):
    """Result of :func:`cross_score`.

    Attributes:
        scores: float64 array ``(n_events,)``; event ``i`` is scored by ``scorers[j]``, where
            ``j`` is the position of ``folds[i]`` in ``np.unique(folds)``: a model that never saw
            event ``i``.
        folds: the fold assignment used, int array ``(n_events,)``.
        scorers: one scorer per fold, in the order of ``np.unique(folds)``.
        pairs: ``(n_events, 2)`` float64 when the scorers also give two outputs
            (``score_pair``: the ABCD axes of Double DisCo), else ``None``.
    """

    scores: np.ndarray
    folds: np.ndarray
    scorers: list[Scorer]
    pairs: np.ndarray | None = None


def derive_seed(seed: int, *keys: int) -> int:
    """Derive an independent, stable seed from a run seed and integer keys (fold, ensemble member).

    Examples:
        >>> derive_seed(1, 0) == derive_seed(1, 0), derive_seed(1, 0) == derive_seed(1, 1)
        (True, False)
    """
    entropy = [int(seed), *(int(k) for k in keys)]
    if min(entropy) < 0:
        raise ConfigError(f"seeds must be non-negative integers, got {entropy}")
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])


def trains_on_data(method: AnomalyMethod) -> bool:
    """Whether ``method.fit`` learns from the events it is given (default True).

    A method whose training sample is fixed -- DisCo trained on its reference samples
    (``training_sample: reference``) -- declares ``trains_on_data = False``: its model is the
    same for every fold, window and dataset, so it is trained once (:func:`fit_once`) and every
    event may be scored by it (no event of the data was seen in training).

    Examples:
        >>> from anomsearch.methods import CWoLaHunting, DiscoClassifier
        >>> trains_on_data(CWoLaHunting()), trains_on_data(DiscoClassifier())
        (True, False)
    """
    return bool(getattr(method, "trains_on_data", True))


@dataclass(frozen=True)
class PrefittedMethod:
    """A method that does not learn from the data, with its one trained scorer (:func:`fit_once`).

    ``fit`` returns that scorer whatever events, regions or seed it is given. Its cache
    fingerprint is that of the wrapped method (options and reference samples) and the seed; the
    scorer is a private field, left out.

    Attributes:
        method: the wrapped method (``trains_on_data`` False).
        seed: the seed it was trained with.
    """

    method: Any
    seed: int
    _scorer: Any = field(repr=False, compare=False)

    trains_on_data = False

    @property
    def name(self) -> str:
        """The wrapped method's name."""
        return str(getattr(self.method, "name", type(self.method).__name__))

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> Scorer:
        """The scorer trained by :func:`fit_once` (the arguments are not used)."""
        del events, regions, seed
        return self._scorer


def fit_once(method: Any, events: EventTable, *, regions: Regions, seed: int) -> Any:
    """Train a method that does not learn from the data once; return other methods unchanged.

    Args:
        method: any anomaly method.
        events: passed to ``method.fit`` (not learnt from, by definition).
        regions: passed to ``method.fit``.
        seed: the training seed.

    Returns:
        ``method`` itself when :func:`trains_on_data` is true, else a :class:`PrefittedMethod`
        (a :class:`PrefittedMethod` is returned as it is).
    """
    if trains_on_data(method) or isinstance(method, PrefittedMethod):
        return method
    name = getattr(method, "name", type(method).__name__)
    log.info("%s: does not learn from the data: trained once (seed %d)", name, seed)
    start = time.perf_counter()
    scorer = method.fit(events, regions=regions, seed=seed)
    log.info("%s: trained in %.1f s", name, time.perf_counter() - start)
    return PrefittedMethod(method, int(seed), scorer)


def _save_fold(scorer: Scorer, path: Path, *, name: str) -> None:
    save = getattr(scorer, "save", None)
    if save is None:
        log.info("%s: scorer %s has no save(); fold checkpoint skipped", name, type(scorer))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    save(path)
    log.info("%s: fold checkpoint written to %s", name, path)


def _checked_folds(folds: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``folds`` as an array of ``n`` integer fold ids, and its distinct ids (at least two)."""
    folds = np.asarray(folds)
    if folds.shape != (n,):
        raise DataFormatError(f"folds must have shape ({n},), got {folds.shape}")
    if n and not np.issubdtype(folds.dtype, np.integer):
        raise DataFormatError(f"folds must be integers, got dtype {folds.dtype}")
    fold_ids = np.unique(folds)
    if fold_ids.size < 2:
        raise DataFormatError(f"cross-scoring needs at least 2 folds, got {fold_ids.size}")
    return folds, fold_ids


def _fold_cache_inputs(
    method: AnomalyMethod,
    events: EventTable,
    *,
    regions: Regions,
    folds: np.ndarray,
    seed: int,
) -> dict[str, object] | None:
    """What a fold's cache key depends on besides the fold id (None: folds not cached)."""
    from anomsearch.compute import fingerprint

    try:
        return {
            "events": array_checksum(events.jets, events.label, events.weight),
            "folds": array_checksum(folds),
            "regions": fingerprint(regions),
            "seed": int(seed),
            "method": fingerprint(method),  # options and reference samples, hashed once
        }
    except TypeError as exc:
        name = getattr(method, "name", type(method).__name__)
        log.warning("%s: folds not cached: %s", name, exc)
        return None


def _train_fold(
    method: AnomalyMethod, events: EventTable, test: np.ndarray, *, regions: Regions, seed: int
) -> tuple[np.ndarray, np.ndarray | None, Scorer]:
    """Fit on the events outside ``test``; return the scores of the ``test`` events, their score
    pairs (``None`` unless the scorer has ``score_pair``) and the scorer."""
    name = getattr(method, "name", type(method).__name__)
    scorer = method.fit(events.subset(~test), regions=regions, seed=seed)
    held_out = events.subset(test)
    fold_scores = np.asarray(scorer.score(held_out), dtype=np.float64)
    if fold_scores.shape != (int(test.sum()),):
        raise DataFormatError(
            f"{name}: scorer returned shape {fold_scores.shape}, expected ({int(test.sum())},)"
        )
    fold_pairs = None
    if hasattr(scorer, "score_pair"):
        fold_pairs = np.asarray(scorer.score_pair(held_out), dtype=np.float64)
    return fold_scores, fold_pairs, scorer


def cross_score(
    method: AnomalyMethod,
    events: EventTable,
    *,
    regions: Regions,
    folds: np.ndarray,
    seed: int,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    cache: UnitCache | None = None,
) -> CrossScores:
    """Score every event with a model trained on the other folds (k-fold cross-scoring).

    For each fold ``k`` the method is fitted on the events with ``folds != k`` (seed
    :func:`derive_seed` ``(seed, k)``) and the resulting scorer scores the events with
    ``folds == k``. A method that does not learn from the data (:func:`trains_on_data` false)
    is trained once, with ``seed`` (:func:`fit_once`), and that one scorer scores every fold.

    Args:
        method: the anomaly method to fit.
        events: all events to score (any mjj; which of them a method trains on is its business).
        regions: SR/SB definition passed to ``method.fit``.
        folds: int array ``(n_events,)`` of fold ids (e.g. from
            :func:`anomsearch.data.regions.kfold_assignments`); at least two distinct values.
        seed: run seed; each fold gets its own derived seed.
        progress: show a progress bar over folds.
        checkpoint_dir: if given, each fold's scorer is saved (its ``save(path)``) to
            ``checkpoint_dir/fold_<k>`` as soon as it is trained; scorers without ``save`` are
            skipped with a log message.
        cache: keep each finished fold (its scores, score pairs and scorer) in this
            :class:`~anomsearch.compute.UnitCache`, keyed by the events' checksum, the folds,
            the fold id, ``regions``, ``seed`` and the method with its options; a fold found
            there is loaded (``cached: fold i/k``) instead of retrained. Folds whose scorer
            cannot be pickled are not cached.

    Returns:
        :class:`CrossScores` with a score for every event.

    Raises:
        DataFormatError: ``folds`` has the wrong shape or type, fewer than two folds, or a scorer
            returned the wrong number of scores.

    References:
        arXiv:1805.02664, arXiv:1902.02634 (k-fold training and scoring in CWoLa hunting).
    """
    n = len(events)
    folds, fold_ids = _checked_folds(folds, n)
    name = getattr(method, "name", type(method).__name__)
    common = None
    if cache is not None and cache.enabled:
        common = _fold_cache_inputs(method, events, regions=regions, folds=folds, seed=seed)
    scores = np.full(n, np.nan, dtype=np.float64)
    pairs: np.ndarray | None = None
    scorers: list[Scorer] = []
    bar = track(fold_ids, description=f"{name} folds", unit="fold", enabled=progress)
    for i, k in enumerate(bar):
        test = folds == k
        key = None
        hit = None
        if cache is not None and common is not None:
            key = cache.key("fold", fold=int(k), **common)
            hit = cache.load(key, label=f"{name} fold {i + 1}/{fold_ids.size}")
        if hit is None:
            # a method that does not learn from the data trains once, with the run's seed
            method = fit_once(method, events, regions=regions, seed=seed)
            log.info(
                "%s: fold %d/%d: training on %d events, scoring %d",
                name,
                i + 1,
                fold_ids.size,
                int(n - test.sum()),
                int(test.sum()),
            )
            start = time.perf_counter()
            fold = _train_fold(
                method, events, test, regions=regions, seed=derive_seed(seed, int(k))
            )
            if cache is not None:
                cache.store(key, fold)
            log.info(
                "%s: fold %d/%d done in %.1f s",
                name,
                i + 1,
                fold_ids.size,
                time.perf_counter() - start,
            )
        fold_scores, fold_pairs, scorer = fold if hit is None else hit
        scores[test] = fold_scores
        if fold_pairs is not None:
            if pairs is None:
                pairs = np.full((n, 2), np.nan, dtype=np.float64)
            pairs[test] = fold_pairs
        scorers.append(scorer)
        if checkpoint_dir is not None:
            _save_fold(scorer, Path(checkpoint_dir) / f"fold_{int(k)}", name=name)
    return CrossScores(scores=scores, folds=folds, scorers=scorers, pairs=pairs)
