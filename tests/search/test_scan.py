"""Sliding-window scan: window construction, per-window retraining, skipped windows, CWoLa."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from anomsearch.data import EventTable, Regions, generate_toy
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.search.scan import (
    ScanResult,
    SkippedWindow,
    WindowResult,
    run_window,
    scan_windows,
    sliding_window_search,
)

#: 8 windows: SR width 0.4 TeV, step 0.2, sidebands 0.3; centres 3.1 ... 4.5 TeV.
WINDOWS = scan_windows(mjj_min=2.6, mjj_max=5.1, width=0.4, step=0.2, sideband_width=0.3)
OPTIONS = {"efficiencies": (0.2, 0.05), "bin_width": 0.05, "n_params": 3, "progress": False}


class FeatureScorer:
    """Scores events by closeness of the jet-mass difference to 400 GeV (the toy's X - Y)."""

    def score(self, events: EventTable) -> np.ndarray:
        return -np.abs(events.feature("delta_mj") - 0.4)


@dataclass(frozen=True)
class MjjScorer:
    """A maximally sculpting score: closeness of mjj to the SR centre."""

    center: float

    def score(self, events: EventTable) -> np.ndarray:
        return -np.abs(events.mjj - self.center)


class StripedScorer:
    """Sculpts the spectrum into 0.4 TeV stripes that no dijet function describes."""

    def score(self, events: EventTable) -> np.ndarray:
        return np.cos(2 * np.pi * events.mjj / 0.4)


@dataclass
class StripeOneWindow:
    """The feature score everywhere except in the window centred at ``center``, which it
    sculpts (:class:`StripedScorer`)."""

    center: float
    name: str = "stripe-one-window"

    def fit(
        self, events: EventTable, *, regions: Regions, seed: int
    ) -> FeatureScorer | StripedScorer:
        sculpt = abs(regions.sr_center - self.center) < 1e-6
        return StripedScorer() if sculpt else FeatureScorer()


@dataclass
class SpyMethod:
    """A training-free method that records every fit and can refuse small signal regions.

    With ``sculpt=True`` it scores by closeness to the SR centre, so any cut (efficiency < 1)
    keeps only SR events and leaves the sidebands empty.
    """

    name: str = "spy"
    min_sr_events: int = 0
    sculpt: bool = False
    calls: list[tuple[Regions, int, int]] = field(default_factory=list)

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> FeatureScorer | MjjScorer:
        n_sr = int(regions.in_sr(events.mjj).sum())
        if n_sr < self.min_sr_events:
            raise DataFormatError(f"spy: {n_sr} events in the signal region, too few")
        self.calls.append((regions, seed, len(events)))
        return MjjScorer(regions.sr_center) if self.sculpt else FeatureScorer()


@pytest.fixture(scope="module")
def signal_scan() -> ScanResult:
    events = generate_toy(60_000, 700, seed=14)
    return sliding_window_search(events, SpyMethod(), windows=WINDOWS, folds=2, seed=1, **OPTIONS)


# ---------------------------------------------------------------------------- windows
def test_scan_windows_count_edges_and_sidebands() -> None:
    assert len(WINDOWS) == 8
    assert [w.sr_low for w in WINDOWS] == pytest.approx(np.arange(2.9, 4.35, 0.2))
    for w in WINDOWS:
        assert w.sr_high - w.sr_low == pytest.approx(0.4)
        assert w.sr_low - w.sb_low == pytest.approx(0.3)
        assert w.sb_high - w.sr_high == pytest.approx(0.3)
        assert w.sb_low >= 2.6 - 1e-12 and w.sb_high <= 5.1 + 1e-12
    assert (WINDOWS[0].sb_low, WINDOWS[-1].sb_high) == (2.6, 5.0)
    # a window whose upper sideband would leave the range is dropped, not truncated
    shorter = scan_windows(mjj_min=2.6, mjj_max=4.99, width=0.4, step=0.2, sideband_width=0.3)
    assert shorter == WINDOWS[:-1]
    # exactly one window fits
    one = scan_windows(mjj_min=3.0, mjj_max=4.0, width=0.4, step=0.1, sideband_width=0.3)
    assert one == [Regions(3.3, 3.7, 3.0, 4.0)]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"width": 0.0}, "scan.width"),
        ({"step": float("nan")}, "scan.step"),
        ({"sideband_width": -0.1}, "scan.sideband_width"),
        ({"step": "wide"}, "scan.step must be a number"),
        ({"mjj_min": 5.0}, "scan.mjj_min"),
        ({"width": 2.0}, "scan.width=2.0 plus two sidebands"),
    ],
)
def test_scan_windows_rejects_bad_options(options: dict, match: str) -> None:
    base = {"mjj_min": 2.6, "mjj_max": 5.0, "width": 0.4, "step": 0.2, "sideband_width": 0.3}
    with pytest.raises(ConfigError, match=match):
        scan_windows(**{**base, **options})


# ---------------------------------------------------------------------------- the scan
def test_scan_finds_the_injected_resonance(signal_scan: ScanResult) -> None:
    best = signal_scan.best
    assert best is not None and best.window.sr_low <= 3.5 < best.window.sr_high
    assert best.significance > 4
    # windows centred at 3.1, 3.9, 4.1, 4.3 and 4.5 TeV: at least 0.4 TeV (2.5 sigma) away
    far = [r.significance for r in signal_scan.results if abs(r.window.sr_center - 3.5) > 0.39]
    assert len(far) == 5 * 2
    assert best.significance > max(far) + 2
    assert not signal_scan.skipped
    assert len(signal_scan.results) == len(WINDOWS) * 2
    assert signal_scan.wall_seconds > 0


def test_scan_records_are_a_json_table(signal_scan: ScanResult) -> None:
    records = signal_scan.to_records()
    assert len(records) == 16
    assert {tuple(r) for r in records} == {tuple(records[0])}  # same keys in every row
    assert [(r["window_index"], r["efficiency"]) for r in records[:3]] == [
        (0, 0.2),
        (0, 0.05),
        (1, 0.2),
    ]
    json.dumps(records, allow_nan=False)
    best = max(records, key=lambda r: r["significance"])
    assert best["sr_center"] == pytest.approx(signal_scan.best.window.sr_center)
    for rec, res in zip(records, signal_scan.results, strict=True):
        assert rec["n_selected_sr"] == int(res.hunt.observed_sr.sum())
        assert rec["fit_ndf"] == res.hunt.fit.ndf
        # the cut keeps the requested fraction of the window's SR
        assert res.hunt.selection.achieved_efficiency == pytest.approx(res.efficiency, rel=0.05)


def test_background_only_scan_has_no_significant_window() -> None:
    events = generate_toy(60_000, 0, seed=11)
    scan = sliding_window_search(events, SpyMethod(), windows=WINDOWS, folds=2, seed=1, **OPTIONS)
    assert len(scan.results) == 16
    assert max(abs(r.significance) for r in scan.results) < 3


def test_each_window_is_retrained_with_its_own_seed() -> None:
    events = generate_toy(20_000, 0, seed=3)
    spy = SpyMethod()
    windows = WINDOWS[:4]
    folds = np.arange(len(events)) % 3
    options = {**OPTIONS, "efficiencies": (0.5,)}
    sliding_window_search(events, spy, windows=windows, folds=folds, seed=9, **options)
    assert len(spy.calls) == 4 * 3  # one fit per window and fold
    seeds = [seed for _, seed, _ in spy.calls]
    assert len(set(seeds)) == len(seeds)
    expected = [derive_seed(derive_seed(9, i), k) for i in range(4) for k in range(3)]
    assert seeds == expected
    assert [r for r, _, _ in spy.calls] == [w for w in windows for _ in range(3)]
    # each window trains only on the events of its own sidebands + SR (2 of 3 folds)
    for i, (regions, _, n) in enumerate(spy.calls):
        assert n == int(np.sum(regions.in_fit_range(events.mjj) & (folds != i % 3)))


@dataclass
class ReferenceSpy(SpyMethod):
    """A spy that does not learn from the data (as DisCo on its reference samples)."""

    trains_on_data: bool = False


def test_a_method_that_ignores_the_data_trains_once_for_every_window_and_fold() -> None:
    events = generate_toy(20_000, 0, seed=3)
    spy = ReferenceSpy()
    folds = np.arange(len(events)) % 3
    options = {**OPTIONS, "efficiencies": (0.5,)}
    scan = sliding_window_search(events, spy, windows=WINDOWS[:4], folds=folds, seed=9, **options)
    assert len(spy.calls) == 1  # not 4 windows x 3 folds
    assert spy.calls[0][1] == 9  # the run seed
    assert len(scan.results) == 4
    # the same scores as a spy trained per window and fold (the spy's score ignores its training)
    again = sliding_window_search(
        events, SpyMethod(), windows=WINDOWS[:4], folds=folds, seed=9, **options
    )
    assert [r.significance for r in scan.results] == [r.significance for r in again.results]


def test_skipped_windows_and_efficiencies_are_reported() -> None:
    events = generate_toy(20_000, 0, seed=4)
    # the SR of the high-mass windows holds too few events for the method to train
    spy = SpyMethod(min_sr_events=300, sculpt=True)
    scan = sliding_window_search(
        events,
        spy,
        windows=WINDOWS,
        folds=2,
        seed=1,
        **{**OPTIONS, "efficiencies": (1.0, 0.5)},
    )
    n_sr = [int(w.in_sr(events.mjj).sum()) for w in WINDOWS]
    too_small = {i for i, n in enumerate(n_sr) if n / 2 < 300}  # half the SR trains per fold
    assert 0 < len(too_small) < len(WINDOWS)
    whole = {s.window_index for s in scan.skipped if s.efficiency is None}
    assert whole == too_small
    for s in scan.skipped:
        assert isinstance(s, SkippedWindow)
        if s.efficiency is None:
            assert "too few" in s.reason
    # the sculpting score leaves no sideband events after a cut: that efficiency (only) is skipped
    trained = set(range(len(WINDOWS))) - too_small
    tiny = [s for s in scan.skipped if s.efficiency == 0.5]
    assert {s.window_index for s in tiny} == trained
    assert all(s.reason.startswith("0 selected events in the sidebands") for s in tiny)
    assert {r.window_index for r in scan.results} == trained
    assert {r.efficiency for r in scan.results} == {1.0}
    records = scan.to_records()
    assert len(records) == 2 * len(WINDOWS)
    skipped_rows = [r for r in records if r["skipped"] is not None]
    assert len(skipped_rows) == 2 * len(too_small) + len(tiny)
    assert all(r["significance"] is None for r in skipped_rows)
    json.dumps(records, allow_nan=False)


def test_too_few_selected_sideband_events_skip_the_efficiency() -> None:
    events = generate_toy(20_000, 0, seed=4)
    # the top 0.01% of the SR is one event per fold: a handful of sideband events pass the cut
    scan = sliding_window_search(
        events,
        SpyMethod(),
        windows=WINDOWS[2:5],
        folds=2,
        seed=1,
        **{**OPTIONS, "efficiencies": (0.5, 1e-4)},
    )
    assert [r.efficiency for r in scan.results] == [0.5] * 3
    assert [(s.window_index, s.efficiency) for s in scan.skipped] == [(i, 1e-4) for i in range(3)]
    assert all("at least 20 needed" in s.reason for s in scan.skipped)
    # with the minimum lowered, the sideband fit itself refuses (too few non-empty bins)
    window = WINDOWS[2]
    outcome = run_window(
        events,
        SpyMethod(),
        window=window,
        window_index=0,
        efficiencies=(1e-4,),
        folds=np.arange(len(events)) % 2,
        seed=1,
        bin_width=0.05,
        n_params=3,
        min_sideband_events=0,
    )
    assert outcome.results == []
    assert "non-empty sideband bins" in outcome.skipped[0].reason


def test_an_entry_whose_fit_fails_the_gate_is_never_the_best() -> None:
    events = generate_toy(60_000, 700, seed=14)
    method = StripeOneWindow(center=WINDOWS[1].sr_center)
    ungated = sliding_window_search(events, method, windows=WINDOWS, folds=2, seed=1, **OPTIONS)
    assert ungated.best.window_index == 1 and ungated.best.significance > 10  # the sculpted bump
    scan = sliding_window_search(
        events, method, windows=WINDOWS, folds=2, seed=1, min_fit_p_value=0.01, **OPTIONS
    )
    records = scan.to_records()
    assert [r["fit_passed"] for r in records if r["window_index"] == 1] == [False, False]
    assert all(r["gate_p_value"] < 1e-6 for r in records if r["window_index"] == 1)
    assert scan.best.fit_passed and scan.best.window_index != 1
    assert scan.best.window.sr_low < 3.5 < scan.best.window.sr_high  # the injected resonance
    for r in scan.results:
        assert r.fit_passed == (r.gate_p_value >= 0.01) == r.hunt.fit_passed


def test_every_entry_of_the_scan_carries_the_systematics(signal_scan: ScanResult) -> None:
    from anomsearch.stats import Systematic

    bkg_norm = Systematic(name="bkg_norm", sample="background", up=0.1)
    events = generate_toy(60_000, 700, seed=14)
    with_syst = sliding_window_search(
        events, SpyMethod(), windows=WINDOWS, folds=2, seed=1, systematics=[bkg_norm], **OPTIONS
    )
    for syst in with_syst.results:
        modifiers = [
            m["name"] for s in syst.hunt.spec["channels"][0]["samples"] for m in s["modifiers"]
        ]
        assert "bkg_norm" in modifiers
    # the 10% background uncertainty weakens the injected resonance's excess
    assert with_syst.best.window == signal_scan.best.window
    assert with_syst.best.significance < signal_scan.best.significance - 0.1


def test_all_windows_skipped_gives_no_best() -> None:
    events = generate_toy(5_000, 0, seed=5)
    scan = sliding_window_search(
        events, SpyMethod(min_sr_events=10**9), windows=WINDOWS[:2], folds=2, seed=1, **OPTIONS
    )
    assert scan.results == [] and scan.best is None
    assert len(scan.skipped) == 2


def test_run_window_is_a_pure_per_window_function() -> None:
    events = generate_toy(20_000, 0, seed=6)
    folds = np.arange(len(events)) % 2
    kwargs = {"efficiencies": (0.3,), "folds": folds, "seed": 2, "bin_width": 0.05, "n_params": 3}
    a = run_window(events, SpyMethod(), window=WINDOWS[1], window_index=1, **kwargs)
    b = run_window(events, SpyMethod(), window=WINDOWS[1], window_index=1, **kwargs)
    assert len(a.results) == 1 and isinstance(a.results[0], WindowResult)
    assert a.results[0].significance == b.results[0].significance
    assert a.results[0].window_index == 1 and a.results[0].window == WINDOWS[1]


def test_scan_rejects_bad_options_before_training() -> None:
    events = generate_toy(5_000, 0, seed=7)
    spy = SpyMethod()
    base = {"windows": WINDOWS[:2], "folds": 2, "seed": 1, **OPTIONS}
    narrow = scan_windows(mjj_min=2.6, mjj_max=4.0, width=0.4, step=0.2, sideband_width=0.1)
    cases = [
        ({"efficiencies": (0.0,)}, ConfigError, "scan.efficiencies must lie in"),
        ({"efficiencies": ()}, ConfigError, "scan.efficiencies must name"),
        ({"efficiencies": (0.1, 0.1)}, ConfigError, "distinct"),
        ({"bin_width": 0.15}, ConfigError, "background.bin_width"),
        ({"n_params": 7}, ConfigError, "background.n_params"),
        ({"windows": narrow, "n_params": 4}, ConfigError, "4 sideband bins"),
        ({"windows": []}, ConfigError, "no windows"),
        ({"min_sideband_events": -1}, ConfigError, "scan.min_sideband_events"),
        ({"folds": np.zeros(3, int)}, DataFormatError, "folds must have shape"),
    ]
    for options, error, match in cases:
        with pytest.raises(error, match=match):
            sliding_window_search(events, spy, **{**base, **options})
    assert spy.calls == []


@pytest.mark.slow
def test_cwola_scan_finds_the_resonance() -> None:
    from anomsearch.methods.cwola import CWoLaHunting

    windows = scan_windows(mjj_min=2.6, mjj_max=4.4, width=0.4, step=0.4, sideband_width=0.3)
    assert [w.sr_center for w in windows] == pytest.approx([3.1, 3.5, 3.9])
    method = CWoLaHunting(
        hidden=(16,), max_epochs=2, patience=2, batch_size=256, lr=3e-3, accelerator="cpu"
    )
    events = generate_toy(12_000, 400, seed=5)
    start = time.perf_counter()
    scan = sliding_window_search(
        events,
        method,
        windows=windows,
        efficiencies=(0.5, 0.1),
        folds=2,
        seed=1,
        bin_width=0.05,
        n_params=3,
        progress=False,
    )
    elapsed = time.perf_counter() - start
    assert scan.best is not None and scan.best.window == windows[1]
    z = {(r.window_index, r.efficiency): r.significance for r in scan.results}
    assert len(z) == 6
    assert scan.best.significance > 3
    assert scan.best.significance > max(z[0, 0.1], z[2, 0.1], z[0, 0.5], z[2, 0.5]) + 2
    assert elapsed < 120
