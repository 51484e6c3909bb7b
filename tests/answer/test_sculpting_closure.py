"""The sculpting closure of the answer's mass: a known sculpted bump's shift is measured and
undone; a smooth template makes none; the error follows the template's size."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.answer.mass_profile import profile_resonance_mass
from anomsearch.answer.sculpting_closure import (
    SculptingClosure,
    _replicas,
    measure_sculpting_shift,
)
from anomsearch.background.dijet import dijet_bin_integrals
from anomsearch.exceptions import DataFormatError
from anomsearch.stats import GAUSSIAN

EDGES = np.round(np.arange(2.7, 5.101, 0.1), 6)
SHAPE = GAUSSIAN._replace(width=0.05)
SMOOTH = dijet_bin_integrals(EDGES, [np.log(3e2), 10.0, 5.0])  # ~28k events
SCAN = (3.1, 3.9)


def _sculpted(n_bump: float) -> np.ndarray:
    """The smooth background with a bump at 3.25 TeV below the SR centre, as CWoLa's cut
    leaves on a background whose jet masses follow mjj."""
    return SMOOTH + n_bump * GAUSSIAN._replace(width=0.03).template(EDGES, 3.25)


def _closure(template: np.ndarray, data: np.ndarray, **options) -> tuple[float, SculptingClosure]:
    profile = profile_resonance_mass(data, EDGES, mass_range=SCAN, shape=SHAPE, n_params=3)
    closure = measure_sculpting_shift(
        template,
        options.pop("sumw2", template),
        observed=data,
        bin_edges=EDGES,
        mass=profile.mass,
        n_signal_window=profile.n_signal_sr,
        shape=SHAPE,
        n_params=3,
        mass_range=SCAN,
        **options,
    )
    return profile.mass, closure


@pytest.mark.parametrize("n_bump", [50.0, 100.0, 200.0])
def test_a_sculpted_bump_pulls_the_mass_and_the_closure_undoes_it(n_bump: float) -> None:
    """Asimov: 400 signal events at 3.5 TeV on the sculpted background; the template is the
    sculpted background itself."""
    background = _sculpted(n_bump)
    mass, closure = _closure(background, background + 400.0 * SHAPE.template(EDGES, 3.5))
    assert mass < 3.5 - 0.01  # pulled towards the bump (-0.016 to -0.076 TeV)
    assert closure.shift < 0
    assert abs(mass - closure.shift - 3.5) < 0.25 * abs(mass - 3.5)
    assert closure.injected_mass == pytest.approx(mass - closure.shift, abs=0.01)
    assert closure.scale == pytest.approx(1.0, abs=0.02)
    assert closure.n_replicas == 16 and closure.shift_error > 0


def test_a_smooth_template_makes_no_shift() -> None:
    data = SMOOTH + 400.0 * SHAPE.template(EDGES, 3.5)
    mass, closure = _closure(SMOOTH, data)
    assert mass == pytest.approx(3.5, abs=0.005)
    assert abs(closure.shift) < 0.005


def test_a_larger_template_gives_a_smaller_shift_error() -> None:
    """Four times the background-only events, scaled down to the data: the replicas' spread
    shrinks (about twice)."""
    background = _sculpted(100.0)
    data = background + 400.0 * SHAPE.template(EDGES, 3.5)
    _, small = _closure(background, data)
    _, large = _closure(4.0 * background, data)
    assert large.scale == pytest.approx(small.scale / 4.0)
    assert 0.2 < large.shift_error / small.shift_error < 0.8


def test_replicas_of_a_weighted_template_have_its_counts_and_variance() -> None:
    """Effective counts ``c^2 / w2`` drawn and weighted back: mean ``c``, variance ``w2``."""
    counts = np.array([400.0, 100.0, 30.0, 0.0])
    sumw2 = np.array([100.0, 100.0, 60.0, 0.0])  # weights 1/4, 1 and 2
    replicas = np.array(_replicas(counts, sumw2, 4000))
    np.testing.assert_allclose(replicas.mean(axis=0), counts, rtol=0.03, atol=1e-12)
    np.testing.assert_allclose(replicas.var(axis=0), sumw2, rtol=0.1, atol=1e-12)


def test_the_closure_is_reproducible_and_checks_its_inputs() -> None:
    background = _sculpted(100.0)
    data = background + 400.0 * SHAPE.template(EDGES, 3.5)
    assert _closure(background, data, n_replicas=4) == _closure(background, data, n_replicas=4)
    kw = {
        "observed": data,
        "bin_edges": EDGES,
        "mass": 3.5,
        "n_signal_window": 380.0,
        "shape": SHAPE,
        "n_params": 3,
        "mass_range": SCAN,
    }
    with pytest.raises(DataFormatError, match="one value per bin"):
        measure_sculpting_shift(background[:-1], background[:-1], **kw)
    with pytest.raises(DataFormatError, match="empty"):
        measure_sculpting_shift(0.0 * background, 0.0 * background, **kw)
    with pytest.raises(DataFormatError, match="at least 4 replicas"):
        measure_sculpting_shift(background, background, n_replicas=3, **kw)
    record = _closure(background, data, n_replicas=4)[1].to_dict()
    assert set(record) == set(SculptingClosure._fields) and isinstance(record["n_replicas"], int)


def test_the_corrected_mass_stays_in_the_scanned_range() -> None:
    """A signal at the range's low end with a sculpted bump above it: the shift would put the
    corrected mass below the scanned masses, where nothing was measured; it stops at the end."""
    background = SMOOTH + 300.0 * GAUSSIAN._replace(width=0.03).template(EDGES, 3.35)
    data = background + 400.0 * SHAPE.template(EDGES, 3.12)
    closure = measure_sculpting_shift(
        background,
        background,
        observed=data,
        bin_edges=EDGES,
        mass=3.12,
        n_signal_window=380.0,
        shape=SHAPE,
        n_params=3,
        mass_range=SCAN,
        n_replicas=4,
    )
    assert closure.shift > 0
    assert 3.12 - closure.shift == pytest.approx(SCAN[0])
