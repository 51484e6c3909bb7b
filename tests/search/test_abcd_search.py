"""ABCD search: cuts per fold (fold models need not share a score scale)."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.background.abcd import abcd_counts, abcd_estimate
from anomsearch.data import Regions
from anomsearch.exceptions import DataFormatError, FitError
from anomsearch.search.abcd_search import abcd_search, per_fold_sr_quantiles

REGIONS = Regions(3.3, 3.7, 3.0, 4.0)


def _fold_scaled_sample(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent uniform scores on both axes; fold 1's model gives both scores +1, as two
    independently trained models may."""
    rng = np.random.default_rng(seed)
    n = 80_000
    mjj = rng.uniform(3.0, 4.0, n)
    folds = rng.integers(0, 2, n)
    pairs = rng.random((n, 2)) + folds[:, None]
    return pairs, mjj, folds


def test_per_fold_cuts_keep_the_same_fraction_of_every_fold() -> None:
    pairs, mjj, folds = _fold_scaled_sample(3)
    in_sr = REGIONS.in_sr(mjj)
    res = abcd_search(pairs, mjj, regions=REGIONS, efficiency=0.04, folds=folds)
    q = np.column_stack(
        [per_fold_sr_quantiles(pairs[:, j], folds=folds, in_sr=in_sr) for j in (0, 1)]
    )
    in_a = (q[:, 0] >= res.x_cut) & (q[:, 1] >= res.y_cut) & in_sr
    for k in (0, 1):
        fraction = in_a[folds == k].sum() / (in_sr & (folds == k)).sum()
        assert fraction == pytest.approx(0.04, rel=0.2)
    assert abs(res.closure.pull) < 3 and res.discovery.significance < 3


def test_one_cut_over_folds_of_different_scales_correlates_the_axes() -> None:
    """The reason for per-fold cuts: with one quantile over all folds, A and D fill from
    different folds (B and C stay nearly empty), the axes look correlated, and N_B N_C / N_D is
    far from N_A; the search refuses such a non-closure instead of modelling it."""
    pairs, mjj, folds = _fold_scaled_sample(4)
    in_sr = REGIONS.in_sr(mjj)
    x, y = pairs[in_sr, 0], pairs[in_sr, 1]
    cut = 1.0 - np.sqrt(0.04)
    mixed = abcd_counts(x, y, x_cut=np.quantile(x, cut), y_cut=np.quantile(y, cut))
    assert abs(mixed.a - abcd_estimate(mixed).predicted) > 5 * np.sqrt(mixed.a)
    per_fold = abcd_search(pairs, mjj, regions=REGIONS, efficiency=0.04, folds=folds)
    c, e = per_fold.counts, per_fold.estimate
    assert abs(c.a - e.predicted) < 3 * np.hypot(e.predicted_error, np.sqrt(c.a))
    with pytest.raises(FitError, match="closure"):
        abcd_search(pairs, mjj, regions=REGIONS, efficiency=0.04)


def test_per_fold_quantiles_need_signal_region_events_in_every_fold() -> None:
    with pytest.raises(DataFormatError, match="fold 1 has no signal-region events"):
        per_fold_sr_quantiles(
            np.ones(3), folds=np.array([0, 1, 1]), in_sr=np.array([True, False, False])
        )
