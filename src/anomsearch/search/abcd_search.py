"""One ABCD search in the signal region: two decorrelated scores, closure, pyhf model, discovery.

The two scores (e.g. the Double DisCo pair) are cut at the quantiles that keep
``sqrt(efficiency)`` of the signal-region events each, so that region A (both cuts passed) keeps
about ``efficiency`` of the background-dominated SR. The background in A is ``N_B N_C / N_D``
(:mod:`anomsearch.background.abcd`); the same cuts applied in the sidebands measure the
non-closure (no signal expected there), which enters the pyhf ABCD model
(:func:`anomsearch.stats.build_abcd_spec`) as a ``normsys`` on the background in A; the discovery
test gives the local significance. Signal in B, C and D is not modelled by default (its fractions
are unknown without a signal model); it makes the test conservative.

References:
    G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, "Automating the ABCD method with machine
    learning", arXiv:2007.14400.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from anomsearch.background.abcd import (
    ABCDClosure,
    ABCDCounts,
    ABCDEstimate,
    abcd_closure,
    abcd_counts,
    abcd_estimate,
)
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.stats import DiscoveryResult, Systematic, build_abcd_spec, discovery_test

__all__ = ["ABCDSearchResult", "abcd_search", "per_fold_sr_quantiles"]

log = logging.getLogger(__name__)


class ABCDSearchResult(NamedTuple):
    """Result of :func:`abcd_search`.

    Attributes:
        x_cut: cut on the first score (A and B: ``x >= x_cut``).
        y_cut: cut on the second score (A and C: ``y >= y_cut``).
        counts: the signal-region :class:`~anomsearch.background.abcd.ABCDCounts`.
        estimate: the closed-form prediction in A (:func:`abcd_estimate`).
        closure: the closure measured in the sidebands with the same cuts.
        spec: the pyhf workspace spec.
        discovery: the discovery test (``mu`` = signal events in A).
    """

    x_cut: float
    y_cut: float
    counts: ABCDCounts
    estimate: ABCDEstimate
    closure: ABCDClosure
    spec: dict[str, Any]
    discovery: DiscoveryResult


def per_fold_sr_quantiles(
    scores: np.ndarray, *, folds: np.ndarray, in_sr: np.ndarray
) -> np.ndarray:
    """Each score's rank among its fold's signal-region scores, in ``[0, 1]``.

    ``q = (number of SR scores of the fold <= score) / (SR events of the fold)``: a cut
    ``q >= 1 - e`` keeps a fraction ``e`` of every fold's SR, whatever each fold model's scale.

    Examples:
        >>> q = per_fold_sr_quantiles(np.array([1.0, 2.0, 10.0, 20.0, 15.0]),
        ...                           folds=np.array([0, 0, 1, 1, 1]),
        ...                           in_sr=np.array([True, True, True, True, False]))
        >>> q.tolist()
        [0.5, 1.0, 0.5, 1.0, 0.5]
    """
    scores = np.asarray(scores, dtype=np.float64)
    folds = np.asarray(folds)
    if folds.shape != scores.shape or np.shape(in_sr) != scores.shape:
        raise DataFormatError(
            f"folds {folds.shape} and the SR mask {np.shape(in_sr)} must match the scores "
            f"{scores.shape}"
        )
    out = np.empty_like(scores)
    for k in np.unique(folds):
        mine = folds == k
        reference = np.sort(scores[mine & in_sr])
        if reference.size == 0:
            raise DataFormatError(f"ABCD search: fold {k} has no signal-region events")
        out[mine] = np.searchsorted(reference, scores[mine], side="right") / reference.size
    return out


def abcd_search(
    pairs: np.ndarray,
    mjj: np.ndarray,
    *,
    regions: Regions,
    efficiency: float,
    systematics: Sequence[Systematic] = (),
    folds: np.ndarray | None = None,
) -> ABCDSearchResult:
    """ABCD estimate of the background in the signal region and its discovery test.

    Args:
        pairs: the two scores per event, ``(n_events, 2)`` (cross-scored).
        mjj: dijet masses (TeV), ``(n_events,)``.
        regions: SR (the ABCD plane) and sidebands (the closure test).
        efficiency: target fraction of SR events in region A, in ``(0, 1)``.
        systematics: common normalisation systematics for the pyhf model.
        folds: the fold of every event. Each fold's scores come from another model and need not
            share a scale, so with folds each score is replaced by its rank among its fold's SR
            events (:func:`per_fold_sr_quantiles`) before the cuts: the cuts then keep the same
            fraction of every fold's SR, and ``x_cut`` / ``y_cut`` are on that quantile scale.
            Without folds one cut over all events (mixing fold models' scales correlates the
            two axes).

    Returns:
        The :class:`ABCDSearchResult`.

    Raises:
        ConfigError: ``efficiency`` outside ``(0, 1)``.
        DataFormatError: shapes, or an empty region (too few events for the cuts).
        FitError: the closure test fails by 100% or more (the scores are correlated).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> mjj = rng.uniform(3.0, 4.0, 60_000)
        >>> res = abcd_search(rng.random((60_000, 2)), mjj, regions=Regions(3.3, 3.7, 3.0, 4.0),
        ...                   efficiency=0.04)
        >>> bool(abs(res.closure.pull) < 3), bool(res.discovery.significance < 3)
        (True, True)
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    mjj = np.asarray(mjj, dtype=np.float64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] != mjj.shape[0]:
        raise DataFormatError(
            f"pairs must have shape ({mjj.shape[0]}, 2) (two scores per event), got {pairs.shape}"
        )
    if not (isinstance(efficiency, float | int) and 0.0 < float(efficiency) < 1.0):
        raise ConfigError(
            f"background.efficiency must be in (0, 1) for the ABCD method, got {efficiency!r}"
        )
    in_sr, in_sb = regions.in_sr(mjj), regions.in_sb(mjj)
    if not in_sr.any() or not in_sb.any():
        raise DataFormatError("ABCD search: no events in the signal region or in the sidebands")
    if folds is not None:
        pairs = np.column_stack(
            [per_fold_sr_quantiles(pairs[:, j], folds=folds, in_sr=in_sr) for j in (0, 1)]
        )
    per_axis = math.sqrt(float(efficiency))
    x, y = pairs[:, 0], pairs[:, 1]
    x_cut = float(np.quantile(x[in_sr], 1.0 - per_axis))
    y_cut = float(np.quantile(y[in_sr], 1.0 - per_axis))
    counts = abcd_counts(x[in_sr], y[in_sr], x_cut=x_cut, y_cut=y_cut)
    estimate = abcd_estimate(counts)
    used = in_sr | in_sb
    closure = abcd_closure(x[used], y[used], x_cut=x_cut, y_cut=y_cut, validation_mask=in_sb[used])
    if not closure.non_closure < 1.0:
        raise FitError(
            f"ABCD search: the closure test in the sidebands fails by {closure.ratio:.2f} +- "
            f"{closure.ratio_error:.2f} (observed / predicted in A): the two scores are "
            "correlated, so N_B N_C / N_D does not predict the background in A"
        )
    spec = build_abcd_spec(counts, non_closure=closure, systematics=list(systematics) or None)
    discovery = discovery_test(spec)
    log.info(
        "ABCD: A observed %d, predicted %.1f +- %.1f (closure in the sidebands %.3f +- %.3f); "
        "Z = %.2f",
        int(counts.a),
        estimate.predicted,
        estimate.predicted_error,
        closure.ratio,
        closure.ratio_error,
        discovery.significance,
    )
    return ABCDSearchResult(x_cut, y_cut, counts, estimate, closure, spec, discovery)
