"""Selection at fixed efficiency, per fold."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.search.selection import select_at_efficiency


@pytest.mark.parametrize("efficiency", [0.5, 0.1, 0.01, 1.0])
def test_efficiency_achieved_per_fold(efficiency):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=20_000)
    groups = rng.integers(0, 4, size=scores.size)
    scores = scores + 10 * groups  # folds on different scales
    reference = rng.random(scores.size) < 0.3
    sel = select_at_efficiency(scores, efficiency=efficiency, reference=reference, groups=groups)
    for g in range(4):
        ref = reference & (groups == g)
        assert sel.mask[ref].mean() == pytest.approx(efficiency, abs=2.0 / ref.sum())
    assert sel.achieved_efficiency == pytest.approx(efficiency, abs=0.002)
    assert sel.thresholds.shape == (4,)


def test_cut_is_applied_outside_the_reference_with_the_same_threshold():
    scores = np.array([0.1, 0.9, 0.5, 0.95, 0.2, 0.7])
    reference = np.array([True, True, True, True, False, False])
    sel = select_at_efficiency(scores, efficiency=0.5, reference=reference)
    assert sel.mask.tolist() == [False, True, False, True, False, False]


def test_bad_input():
    with pytest.raises(ConfigError, match="efficiency"):
        select_at_efficiency(np.ones(3), efficiency=0.0)
    with pytest.raises(DataFormatError, match="non-finite"):
        select_at_efficiency(np.array([0.0, np.nan]), efficiency=0.5)
