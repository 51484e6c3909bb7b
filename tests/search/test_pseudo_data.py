"""Background-only pseudo-datasets made from the data (global p-values for any data source)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from anomsearch.data import generate_toy
from anomsearch.data.generate.toy import ToyConfig
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.search.pseudo_data import draw_pseudo_data, fit_data_resampler

RANGE = (2.7, 4.7)


@pytest.fixture(scope="module")
def with_signal():
    """200k toy events with 1500 W' (3.5 TeV) injected, and their resampler (the block scheme:
    the tests of the kernel, the default, name it)."""
    events = generate_toy(200_000, 1500, seed=3)
    resampler = fit_data_resampler(events, mjj_range=RANGE, block_width=0.25, donor_scheme="blocks")
    return events, resampler


def _signal_like(events) -> np.ndarray:
    """Jet masses near the toy signal's X (500 GeV) and Y (100 GeV)."""
    mj1, mj2 = events.feature("mj1"), events.feature("mj2")
    return (np.abs(mj1 - 0.1) < 0.03) & (np.abs(mj2 - 0.5) < 0.05)


def _substructure_rows(events) -> np.ndarray:
    return np.round(events.jets[:, :, 4:].reshape(len(events), -1), 12)


def _donors(data, toy, n: int) -> np.ndarray:
    """The data index whose substructure (tau's, kept exactly) each of the first ``n``
    pseudo-events carries."""
    donor_of = {tuple(row): k for k, row in enumerate(_substructure_rows(data))}
    return np.array([donor_of[tuple(row)] for row in _substructure_rows(toy)[:n]])


def test_pseudo_data_follow_the_fitted_spectrum_and_repeat_with_the_seed(with_signal) -> None:
    events, resampler = with_signal
    toy = draw_pseudo_data(resampler, seed=1)
    assert toy.label is None and toy.weight is None
    assert np.all((toy.mjj >= RANGE[0]) & (toy.mjj < RANGE[1]))
    n = len(resampler.events)
    assert abs(len(toy) - n) < 5 * np.sqrt(n)
    # the pseudo-data's spectrum matches the data's outside the resonance
    below = events.mjj[(events.mjj >= RANGE[0]) & (events.mjj < 3.2)]
    toy_below = toy.mjj[toy.mjj < 3.2]
    assert stats.ks_2samp(below, toy_below).pvalue > 0.001
    again = draw_pseudo_data(resampler, seed=1)
    np.testing.assert_array_equal(again.jets, toy.jets)
    assert not np.array_equal(draw_pseudo_data(resampler, seed=2).mjj[:100], toy.mjj[:100])


def test_pseudo_events_are_donor_events_boosted_to_their_new_mass(with_signal) -> None:
    _, resampler = with_signal
    toy = draw_pseudo_data(resampler, seed=4)
    data = resampler.events
    # the substructure of a pseudo-event is exactly that of some data event, its jet masses
    # the donor's scaled like mjj**gamma (the toy's jet masses do not depend on mjj: gamma ~ 0)
    donors = _donors(data, toy, 500)
    ratio = toy.mjj[:500] / data.mjj[donors]
    for j, gamma in enumerate(resampler.jet_mass_exponents):
        assert abs(gamma) < 0.1
        np.testing.assert_allclose(
            toy.jets[:500, j, 3], data.jets[donors, j, 3] * ratio**gamma, rtol=1e-9
        )
    # the momenta were scaled by one factor per event: the jets' directions are the donor's

    def directions(jets: np.ndarray) -> np.ndarray:
        p = jets[:, :, :3]
        return np.round((p / np.linalg.norm(p, axis=2, keepdims=True)).reshape(len(p), -1), 9)

    donor_directions = {tuple(row) for row in directions(data.jets)}
    assert all(tuple(row) in donor_directions for row in directions(toy.jets[:500]))
    # donors are rarely repeated
    _, counts = np.unique(_substructure_rows(toy), axis=0, return_counts=True)
    assert np.mean(counts > 1) < 0.1


def test_jet_masses_growing_with_mjj_keep_their_growth_across_the_donor_blocks() -> None:
    """QCD jet masses scaling like mjj: the fitted exponents are ~1, and the pseudo-data's
    median jet mass follows the data's in narrow mjj bins (with the donor's masses kept, it
    jumped by up to +-12% at every block edge: the steps a classifier learnt)."""
    events = generate_toy(200_000, 0, seed=6, config=ToyConfig(mass_mjj_power=1.0))
    resampler = fit_data_resampler(events, mjj_range=RANGE, block_width=0.25, donor_scheme="blocks")
    assert all(abs(g - 1.0) < 0.1 for g in resampler.jet_mass_exponents)
    toy = draw_pseudo_data(resampler, seed=7)
    stepped = draw_pseudo_data(resampler._replace(jet_mass_exponents=(0.0, 0.0)), seed=7)

    def mean_log_mass(sample, lo: float, hi: float) -> float:
        return float(np.mean(np.log(sample.jets[(sample.mjj >= lo) & (sample.mjj < hi), 0, 3])))

    offsets = {"scaled": [], "kept": []}
    for lo, hi in itertools.pairwise(np.linspace(2.8, 3.6, 9)):  # > 4000 events per bin
        ref = mean_log_mass(events, lo, hi)
        offsets["scaled"].append(abs(mean_log_mass(toy, lo, hi) - ref))
        offsets["kept"].append(abs(mean_log_mass(stepped, lo, hi) - ref))
    assert max(offsets["scaled"]) < 0.025 < 0.04 < max(offsets["kept"])


def test_a_resonance_in_the_data_is_smeared_in_the_pseudo_data(with_signal) -> None:
    """The signal-like events of the SR are spread over their block: fewer remain in the SR and
    more appear in its neighbourhood (conservative, not removed: see the module docstring)."""
    _, resampler = with_signal
    data = resampler.events
    in_sr = (data.mjj >= 3.3) & (data.mjj < 3.7)
    truth_signal_sr = int(np.sum((data.label == 1) & in_sr))
    excess_data = int(np.sum(_signal_like(data) & in_sr))
    fractions = []
    for seed in range(3):
        toy = draw_pseudo_data(resampler, seed=seed)
        toy_sr = (toy.mjj >= 3.3) & (toy.mjj < 3.7)
        fractions.append(np.sum(_signal_like(toy) & toy_sr) / excess_data)
    assert truth_signal_sr > 200
    assert np.mean(fractions) < 0.85


def test_the_excluded_signal_region_gives_no_donors(with_signal) -> None:
    events, _ = with_signal
    resampler = fit_data_resampler(
        events, mjj_range=RANGE, exclude=(3.3, 3.7), donor_scheme="blocks"
    )
    data = resampler.events
    excluded = {tuple(r) for r in data.jets[~resampler.donors, :, 4:].reshape(-1, 6)}
    toy = draw_pseudo_data(resampler, seed=5)
    assert not any(tuple(r) in excluded for r in toy.jets[:, :, 4:].reshape(-1, 6))
    in_sr = (toy.mjj >= 3.3) & (toy.mjj < 3.7)
    assert in_sr.sum() > 1000  # the SR is filled from the rest of its block
    assert np.sum((data.label == 1) & ~resampler.donors) > 200  # the signal was there


def test_bad_options_are_named() -> None:
    events = generate_toy(5_000, 0, seed=1)
    with pytest.raises(ConfigError, match="block_width"):
        fit_data_resampler(events, mjj_range=RANGE, block_width=0.0)
    with pytest.raises(ConfigError, match="mjj range"):
        fit_data_resampler(events, mjj_range=(4.0, 3.0))
    with pytest.raises(DataFormatError, match="too few"):
        fit_data_resampler(events, mjj_range=(6.0, 6.5))
    with pytest.raises(ConfigError, match="orders"):
        fit_data_resampler(events, mjj_range=RANGE, n_params=6)


def test_the_spectrum_takes_the_fewest_parameters_that_describe_it() -> None:
    """The toy's spectrum needs 3 (a 5-parameter function would follow the data's own
    fluctuations into every pseudo-dataset: see the module docstring); a fixed order is kept."""
    events = generate_toy(60_000, 0, seed=11)
    assert fit_data_resampler(events, mjj_range=RANGE, bin_width=0.1).n_params == 3
    fixed = fit_data_resampler(events, mjj_range=RANGE, bin_width=0.1, n_params=5)
    assert fixed.n_params == 5 and fixed.fit_ndf == 15


def test_smooth_donors_lie_around_each_pseudo_event_without_edges(with_signal) -> None:
    """The smooth scheme: every donor within +-block_width of its pseudo-event in ln mjj, the
    offsets centred and concentrated (no block edges), donors rarely repeated."""
    events, _ = with_signal
    resampler = fit_data_resampler(events, mjj_range=RANGE)  # the default
    assert resampler.donor_scheme == "smooth"
    toy = draw_pseudo_data(resampler, seed=8)
    data = resampler.events
    donors = _donors(data, toy, 5000)
    offset = np.log(toy.mjj[:5000]) - np.log(data.mjj[donors])
    assert np.all(np.abs(offset) <= resampler.block_width + 1e-9)
    # centred over all pairs (at a given pseudo-event mass the falling spectrum puts more
    # donors below it, as within a block)
    assert abs(np.mean(offset)) < 0.01
    # concentrated near the pseudo-event (half within +-5%; a uniform block offset: +-6%, with
    # a quarter beyond half the width -- here ~13%)
    assert np.median(np.abs(offset)) < 0.06
    assert 0.05 < np.mean(np.abs(offset) > 0.5 * resampler.block_width) < 0.2
    _, counts = np.unique(_substructure_rows(toy), axis=0, return_counts=True)
    assert np.mean(counts > 1) < 0.1
    with pytest.raises(ConfigError, match="donor scheme"):
        fit_data_resampler(events, mjj_range=RANGE, donor_scheme="nearest")


def test_a_spectrum_the_chosen_function_does_not_describe_takes_a_better_higher_order() -> None:
    """The consecutive F-test stops at 3 when 4 does not help; if the 3-parameter fit is bad
    and 5 improves it significantly (chi2 as on a Pythia slice), 5 is used."""
    from anomsearch.background import fit_binned_spectrum
    from anomsearch.background.function_choice import FunctionChoice
    from anomsearch.search.pseudo_data import _described_spectrum

    edges = np.linspace(2.7, 4.9, 23)
    counts, _ = np.histogram(generate_toy(20_000, 0, seed=2).mjj, bins=edges)
    fits = {n: fit_binned_spectrum(counts, bin_edges=edges, n_params=n) for n in (3, 4, 5)}
    bad = {3: fits[3]._replace(chi2=50.8), 4: fits[4]._replace(chi2=49.0)}
    bad[5] = fits[5]._replace(chi2=28.4)

    def choice(f: dict) -> FunctionChoice:
        return FunctionChoice(3, f[3], f, (), (), "f", 0.05, 4)

    assert _described_spectrum(choice(bad)).n_params == 5
    good = {n: f._replace(chi2=20.0 - n) for n, f in fits.items()}
    assert _described_spectrum(choice(good)).n_params == 3
