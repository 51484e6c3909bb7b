"""Signal injection counts, region masks, k-fold splits."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.data import (
    Regions,
    generate_toy_background,
    generate_toy_signal,
    inject_signal,
    kfold_assignments,
    split_by_label,
)
from anomsearch.exceptions import ConfigError, DataFormatError


@pytest.fixture(scope="module")
def pools():
    return generate_toy_background(5000, seed=1), generate_toy_signal(400, seed=2)


@pytest.mark.parametrize("n_signal", [0, 1, 137, 400])
def test_injection_counts(pools, n_signal):
    bkg, sig = pools
    data = inject_signal(bkg, sig, n_signal, seed=3)
    assert len(data) == len(bkg) + n_signal
    assert int(data.label.sum()) == n_signal
    back, signal = split_by_label(data)
    assert len(back) == len(bkg) and len(signal) == n_signal
    # injected events are real signal events, each at most once
    sig_rows = {row.tobytes() for row in sig.jets}
    got = [row.tobytes() for row in signal.jets]
    assert len(set(got)) == n_signal and set(got) <= sig_rows


def test_injection_is_seeded_and_shuffled(pools):
    bkg, sig = pools
    a = inject_signal(bkg, sig, 50, seed=9)
    b = inject_signal(bkg, sig, 50, seed=9)
    np.testing.assert_array_equal(a.jets, b.jets)
    assert a.label[-50:].sum() < 50  # signal is not simply appended


def test_injection_errors(pools):
    bkg, sig = pools
    with pytest.raises(ConfigError, match=r"injection\.n_signal=401 exceeds the 400"):
        inject_signal(bkg, sig, 401, seed=1)
    with pytest.raises(ConfigError, match=r"injection\.n_signal"):
        inject_signal(bkg, sig, -1, seed=1)
    with pytest.raises(DataFormatError, match="labelled"):
        split_by_label(bkg.with_label(None))


def test_region_masks_partition_the_fit_range():
    regions = Regions(3.3, 3.7, 2.9, 4.1)
    mjj = np.linspace(2.5, 4.5, 2001)
    sr, sb, fit = regions.in_sr(mjj), regions.in_sb(mjj), regions.in_fit_range(mjj)
    assert not np.any(sr & sb)
    np.testing.assert_array_equal(sr | sb, fit)
    assert regions.in_sr(np.array([3.3, 3.7])).tolist() == [True, False]
    assert regions.sr_center == pytest.approx(3.5)


def test_region_validation():
    with pytest.raises(ConfigError, match="sb_low < sr_low < sr_high < sb_high"):
        Regions(3.7, 3.3, 2.9, 4.1)
    regions = Regions(3.3, 3.7, 2.9, 4.1)
    with pytest.raises(ConfigError, match=r"signal_region \[3.3, 3.7\] TeV lies outside"):
        regions.check_covered_by(np.array([1.0, 2.0, 3.0]), source="mydata.h5")


@pytest.mark.parametrize(("n", "k"), [(10, 2), (101, 5), (1000, 7)])
def test_kfold_disjoint_and_balanced(n, k):
    folds = kfold_assignments(n, k, seed=4)
    counts = np.bincount(folds, minlength=k)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    train_sets = [set(np.flatnonzero(folds != i)) for i in range(k)]
    test_sets = [set(np.flatnonzero(folds == i)) for i in range(k)]
    for i in range(k):
        assert not train_sets[i] & test_sets[i]
    assert set().union(*test_sets) == set(range(n))
    np.testing.assert_array_equal(folds, kfold_assignments(n, k, seed=4))


def test_kfold_errors():
    with pytest.raises(ConfigError, match="n_folds"):
        kfold_assignments(10, 1, seed=0)
    with pytest.raises(DataFormatError, match="cannot split 3 events into 5"):
        kfold_assignments(3, 5, seed=0)
