"""Event selection by a cut on the anomaly score at a fixed efficiency."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = ["Selection", "select_at_efficiency"]


class Selection(NamedTuple):
    """Result of :func:`select_at_efficiency`.

    Attributes:
        mask: boolean mask of the selected events.
        thresholds: the score threshold of each group (one per fold).
        efficiency: the requested efficiency on the reference events.
        achieved_efficiency: the fraction of reference events actually selected.
    """

    mask: np.ndarray
    thresholds: np.ndarray
    efficiency: float
    achieved_efficiency: float


def select_at_efficiency(
    scores: np.ndarray,
    *,
    efficiency: float,
    reference: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> Selection:
    """Keep events whose score is above the threshold passed by a fraction ``efficiency`` of the
    reference events.

    With k-fold cross-scoring each fold is scored by a different model, whose scores need not share
    a scale, so a threshold is computed per group (fold) on that group's reference events and
    applied to that group's events. In a bump hunt the reference is the signal-region events, so
    the cut keeps a fraction ``efficiency`` of the SR and the same threshold is applied in the
    sidebands.

    Args:
        scores: anomaly scores, higher = more signal-like.
        efficiency: fraction of reference events to keep, in (0, 1]; 1 keeps everything.
        reference: boolean mask of the events defining the efficiency (default: all).
        groups: integer group (fold) of each event (default: one group).

    Returns:
        The selection.

    Examples:
        >>> sel = select_at_efficiency(np.arange(10.0), efficiency=0.3)
        >>> sel.mask.nonzero()[0].tolist(), sel.achieved_efficiency
        ([7, 8, 9], 0.3)
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not 0 < efficiency <= 1:
        raise ConfigError(f"background.efficiency must lie in (0, 1], got {efficiency}")
    if not np.all(np.isfinite(scores)):
        raise DataFormatError("anomaly scores contain non-finite values")
    reference = np.ones(scores.shape, bool) if reference is None else np.asarray(reference, bool)
    groups = np.zeros(scores.shape, int) if groups is None else np.asarray(groups)
    if reference.shape != scores.shape or groups.shape != scores.shape:
        raise DataFormatError("scores, reference and groups must have the same shape")
    mask = np.zeros(scores.shape, dtype=bool)
    group_ids = np.unique(groups)
    thresholds = np.full(group_ids.shape, -np.inf)
    for i, g in enumerate(group_ids):
        in_group = groups == g
        ref_scores = scores[in_group & reference]
        if ref_scores.size == 0:
            raise DataFormatError(f"fold {g} has no reference (signal-region) events")
        if efficiency < 1:
            thresholds[i] = np.quantile(ref_scores, 1.0 - efficiency, method="higher")
            mask[in_group] = scores[in_group] >= thresholds[i]
        else:
            mask[in_group] = True
    achieved = float(mask[reference].mean()) if reference.any() else 0.0
    return Selection(mask, thresholds, float(efficiency), achieved)
