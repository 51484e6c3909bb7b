"""The signal count in the uncut spectrum: exact on Asimov data, calibrated pulls on toys."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.answer.total_signal import total_signal_in_spectrum
from anomsearch.background.dijet import dijet_bin_integrals
from anomsearch.stats import DIJET_CRYSTAL_BALL, DIJET_SHAPE_ENVELOPE, GAUSSIAN

EDGES = np.round(np.arange(2.7, 5.101, 0.1), 6)
BACKGROUND = dijet_bin_integrals(EDGES, [np.log(3e3), 10.0, 5.0, 0.0])  # 285k events


@pytest.mark.parametrize("shape", [GAUSSIAN, DIJET_CRYSTAL_BALL], ids=["gauss", "cb"])
def test_asimov_spectrum_gives_back_the_injected_total(shape) -> None:
    counts = BACKGROUND + 1500.0 * np.diff(shape.cdf(EDGES / 3.6))
    total = total_signal_in_spectrum(
        counts, EDGES, signal_region=(3.4, 3.8), mass=3.6, shape=shape, n_params=4
    )
    assert total.n_signal == pytest.approx(1500.0, rel=1e-3)
    assert total.n_signal_sr == pytest.approx(1500.0 * total.sr_fraction, rel=1e-3)
    assert 0.5 < total.sr_fraction < 1.0 and total.n_signal_error > 0
    assert total.to_dict()["n_params"] == 4


def test_toy_pulls_of_the_total_are_calibrated() -> None:
    """Poisson toys with a crystal-ball resonance: the count's pulls have mean ~0, width ~1; the
    count in the SR bins alone would be 1 - sr_fraction low."""
    rng = np.random.default_rng(5)
    expected = BACKGROUND + 2000.0 * np.diff(DIJET_CRYSTAL_BALL.cdf(EDGES / 3.5))
    pulls, fractions = [], []
    for toy in rng.poisson(expected, size=(40, expected.size)):
        total = total_signal_in_spectrum(
            toy,
            EDGES,
            signal_region=(3.3, 3.7),
            mass=3.5,
            shape=DIJET_CRYSTAL_BALL,
            n_params=4,
            shape_envelope=(),  # the statistical error alone: the shape is the true one
        )
        pulls.append((total.n_signal - 2000.0) / total.n_signal_error)
        fractions.append(total.sr_fraction)
    assert abs(np.mean(pulls)) < 0.4 and 0.7 < np.std(pulls, ddof=1) < 1.3
    assert np.mean(fractions) == pytest.approx(0.63, abs=0.02)


def test_a_mass_outside_the_signal_region_is_clipped_into_it() -> None:
    total = total_signal_in_spectrum(
        BACKGROUND, EDGES, signal_region=(3.3, 3.7), mass=3.9, shape=GAUSSIAN, n_params=3
    )
    assert total.mass == 3.7 and abs(total.n_signal) < 5 * total.n_signal_error


@pytest.mark.parametrize("mass", [3.1, 3.9])
def test_a_mass_is_clipped_onto_bin_edges_with_rounding_noise(mass: float) -> None:
    """Edges from arithmetic (3.6999999999999997 for the config's 3.7): the mass is clipped to
    the SR as the bins see it, not to the config's numbers that lie just outside it (a fitted
    mass above the SR once lost the count of a whole dataset this way)."""
    edges = EDGES.copy()
    edges[6], edges[10] = np.nextafter(3.3, 4.0), np.nextafter(3.7, 0.0)
    total = total_signal_in_spectrum(
        BACKGROUND, edges, signal_region=(3.3, 3.7), mass=mass, shape=GAUSSIAN, n_params=3
    )
    assert total.mass == (edges[6] if mass < 3.3 else edges[10])
    assert abs(total.n_signal) < 5 * total.n_signal_error


def test_the_shape_envelope_covers_a_resonance_with_a_longer_tail() -> None:
    """A q*-like resonance counted with the default crystal ball: the SR fraction is too high, the
    count too low; the envelope's systematic covers the difference."""
    qstar = DIJET_SHAPE_ENVELOPE[1]._replace(width=DIJET_CRYSTAL_BALL.width)
    counts = BACKGROUND + 2000.0 * np.diff(qstar.cdf(EDGES / 3.5))
    options = {"signal_region": (3.3, 3.7), "mass": 3.5, "n_params": 4}
    default = total_signal_in_spectrum(counts, EDGES, shape=DIJET_CRYSTAL_BALL, **options)
    assert default.n_signal < 0.9 * 2000.0
    assert abs(default.n_signal - 2000.0) < default.n_signal_shape_error
    assert default.n_signal_error == pytest.approx(
        np.hypot(default.n_signal_stat_error, default.n_signal_shape_error)
    )
    exact = total_signal_in_spectrum(counts, EDGES, shape=qstar, shape_envelope=(), **options)
    assert exact.n_signal == pytest.approx(2000.0, rel=0.02) and exact.n_signal_shape_error == 0
    gauss = total_signal_in_spectrum(counts, EDGES, shape=GAUSSIAN, **options)
    assert gauss.n_signal_shape_error == 0.0  # no envelope for a Gaussian
