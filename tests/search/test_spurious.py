"""Spurious-signal test: the data's cut and fit on a background-only template."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from anomsearch.background.dijet import dijet_bin_integrals
from anomsearch.data import EventTable, Regions, generate_toy
from anomsearch.exceptions import DataFormatError
from anomsearch.search.scan import scan_windows, sliding_window_search
from anomsearch.search.spurious import (
    SpuriousReference,
    selected_template,
    selected_template_sumw2,
    spurious_signal_check,
    try_spurious_signal_check,
)
from anomsearch.stats import gaussian_signal_template

EDGES = np.round(np.arange(2.7, 4.75, 0.1), 9)
SR = (3.3, 3.7)
SR_EDGES = np.array([3.3, 3.4, 3.5, 3.6, 3.7])
SHAPE = gaussian_signal_template(SR_EDGES, mass=3.5, width=0.175)
_SHAPE = dijet_bin_integrals(EDGES, [0.0, 10.0, 5.0, 0.0])
ASIMOV = 2e5 * _SHAPE / _SHAPE.sum()
IN_SR = (EDGES[:-1] >= SR[0] - 1e-9) & (EDGES[1:] <= SR[1] + 1e-9)


def _check(template: np.ndarray, *, n_data: float | None = None, data_error: float = 50.0):
    return spurious_signal_check(
        template,
        n_data=template.sum() if n_data is None else n_data,
        bin_edges=EDGES,
        signal_region=SR,
        n_params=4,
        signal_template=SHAPE,
        data_signal_error=data_error,
    )


def test_template_weights_each_event_by_the_fraction_of_fold_models_it_passes() -> None:
    reference = SpuriousReference(
        mjj=np.array([3.05, 3.15, 3.15, 3.45]),
        fold_scores=np.array([[0.9, 0.1, 0.8, 0.7], [0.9, 0.9, 0.1, 0.2]]),
    )
    counts = selected_template(reference, np.array([0.5, 0.5]), bin_edges=[3.0, 3.1, 3.2, 3.5])
    np.testing.assert_allclose(counts, [1.0, 1.0, 0.5])  # 1; 0.5 + 0.5; 0.5
    no_cut = selected_template(reference, np.array([-np.inf, -np.inf]), bin_edges=[3.0, 3.5])
    np.testing.assert_allclose(no_cut, [4.0])
    with pytest.raises(DataFormatError, match="one per fold"):
        selected_template(reference, np.array([0.5]), bin_edges=[3.0, 3.5])
    sumw2 = selected_template_sumw2(reference, np.array([0.5, 0.5]), bin_edges=[3.0, 3.1, 3.2, 3.5])
    np.testing.assert_allclose(sumw2, [1.0, 0.5, 0.25])  # 1; 0.25 + 0.25; 0.25


def test_the_check_keeps_its_template_for_the_answer() -> None:
    rng = np.random.default_rng(3)
    mjj = 2.7 + rng.exponential(0.4, 20_000)
    mjj = mjj[mjj < EDGES[-1]]
    reference = SpuriousReference(mjj=mjj, fold_scores=rng.random((2, mjj.size)))
    thresholds = np.array([0.5, 0.5])
    check = try_spurious_signal_check(
        reference,
        thresholds,
        n_data=1000.0,
        bin_edges=EDGES,
        signal_region=SR,
        n_params=4,
        signal_template=SHAPE,
        data_signal_error=30.0,
    )
    assert check is not None
    record = check.template_dict()
    np.testing.assert_allclose(
        record["counts"], selected_template(reference, thresholds, bin_edges=EDGES)
    )
    np.testing.assert_allclose(
        record["sumw2"], selected_template_sumw2(reference, thresholds, bin_edges=EDGES)
    )
    assert "template" not in check.to_dict() and "template_sumw2" not in check.to_dict()
    assert _check(ASIMOV).template_dict()["sumw2"] == ASIMOV.tolist()  # unit weights


def test_a_smooth_template_has_no_spurious_signal() -> None:
    check = _check(ASIMOV)
    assert abs(check.signal) < 0.05 * check.signal_error
    assert check.passed and check.systematic == 0.0


def test_a_sculpted_bump_in_the_template_is_the_spurious_signal() -> None:
    bump = np.zeros_like(ASIMOV)
    bump[IN_SR] = 3000.0 * SHAPE
    check = _check(ASIMOV + bump)
    assert check.signal == pytest.approx(3000.0, rel=0.05)
    assert not check.passed and check.relative == pytest.approx(check.signal / 50.0)
    assert check.systematic == pytest.approx(np.sqrt(check.signal**2 - check.signal_error**2))
    # scaled to a data set ten times smaller: signal and its error scale, the ratio stays
    small = _check(ASIMOV + bump, n_data=(ASIMOV + bump).sum() / 10)
    assert small.signal == pytest.approx(check.signal / 10)
    assert small.signal_error == pytest.approx(check.signal_error / 10)
    assert small.scale == pytest.approx(0.1)


def test_empty_template_is_an_error() -> None:
    with pytest.raises(DataFormatError, match="empty"):
        _check(np.zeros_like(ASIMOV), n_data=100.0)


@dataclass(frozen=True)
class NearCentreScorer:
    """Prefers events near the window's centre: a score that has learnt mjj (noisy)."""

    center: float

    def score(self, events: EventTable) -> np.ndarray:
        noise = np.random.default_rng(len(events)).normal(0.0, 0.25, len(events))
        return -np.abs(events.mjj - self.center) + noise


@dataclass
class LearnsMjj:
    name: str = "learns-mjj"

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> NearCentreScorer:
        return NearCentreScorer(regions.sr_center)


def test_the_spurious_signal_test_defuses_a_bump_sculpted_from_background() -> None:
    """Background only, a score that sculpts a peak into every window: the sideband fits look
    fine, the bump hunts see large excesses; with a background-only template the excess is
    recognised as made up by the score, and no entry stays significant."""
    windows = scan_windows(mjj_min=2.6, mjj_max=5.1, width=0.4, step=0.2, sideband_width=0.3)
    options = {"efficiencies": (0.2, 0.05), "bin_width": 0.05, "n_params": 3, "progress": False}
    events = generate_toy(60_000, 0, seed=11)
    common = {"windows": windows, "folds": 2, "seed": 1, "min_fit_p_value": 0.01, **options}
    plain = sliding_window_search(events, LearnsMjj(), **common)
    assert plain.best.significance > 4
    guarded = sliding_window_search(
        events, LearnsMjj(), background_sample=generate_toy(60_000, 0, seed=12), **common
    )
    assert guarded.best.significance < 3
    records = guarded.to_records()
    assert sum(r["spurious_passed"] is False for r in records) >= len(records) // 2
