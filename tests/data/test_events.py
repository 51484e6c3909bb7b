"""EventTable: derived features against hand-computed values, validation errors."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.data import EventTable
from anomsearch.exceptions import DataFormatError


def _jets(rows):
    return np.asarray(rows, dtype=float).reshape(-1, 2, 7)


def test_mjj_matches_four_vector_sum():
    # jet 1: p = (1000, 0, 500), m = 300; jet 2: p = (-1000, 0, -200), m = 50 (GeV)
    ev = EventTable(_jets([[1000, 0, 500, 300, 0.5, 0.2, 0.1, -1000, 0, -200, 50, 0.4, 0.3, 0.2]]))
    e1 = np.sqrt(1000**2 + 500**2 + 300**2)
    e2 = np.sqrt(1000**2 + 200**2 + 50**2)
    expected = np.sqrt((e1 + e2) ** 2 - 300**2) / 1000
    assert ev.mjj[0] == pytest.approx(expected, rel=1e-12)


def test_mass_ordering_lighter_jet_is_j1():
    rows = [
        [1000, 0, 0, 300, 0.5, 0.2, 0.1, -1000, 0, 0, 50, 0.4, 0.3, 0.15],
        [1000, 0, 0, 40, 0.5, 0.25, 0.1, -1000, 0, 0, 450, 0.4, 0.1, 0.05],
    ]
    ev = EventTable(_jets(rows))
    np.testing.assert_allclose(ev.feature("mj1"), [0.05, 0.04])
    np.testing.assert_allclose(ev.feature("mj2"), [0.3, 0.45])
    np.testing.assert_allclose(ev.feature("delta_mj"), [0.25, 0.41])
    np.testing.assert_allclose(ev.feature("tau21_j1"), [0.75, 0.5])
    np.testing.assert_allclose(ev.feature("tau21_j2"), [0.4, 0.25])
    np.testing.assert_allclose(ev.feature("tau32_j1"), [0.5, 0.4])
    np.testing.assert_allclose(ev.feature("pt_j1"), [1.0, 1.0])


def test_tau_ratio_guarded_against_zero():
    ev = EventTable(_jets([[1000, 0, 0, 30, 0.0, 0.0, 0.0, -1000, 0, 0, 50, 0.4, 0.3, 0.0]]))
    assert ev.feature("tau21_j1")[0] == 0.0
    assert ev.feature("tau32_j2")[0] == 0.0


def test_features_stack_and_subset():
    rng = np.random.default_rng(0)
    ev = EventTable(np.abs(rng.normal(size=(10, 2, 7))) * 100, label=np.arange(10) % 2)
    x = ev.features(["mjj", "mj1"])
    assert x.shape == (10, 2)
    sub = ev.subset(ev.label == 1)
    assert len(sub) == 5 and set(sub.label.tolist()) == {1}
    both = EventTable.concatenate([sub, ev.subset(ev.label == 0)])
    assert len(both) == 10 and both.label.sum() == 5


@pytest.mark.parametrize(
    ("jets", "label", "match"),
    [
        (np.zeros((3, 2, 6)), None, "shape"),
        (np.zeros((3, 14)), None, "shape"),
        (np.full((3, 2, 7), np.nan), None, "non-finite.*'px'"),
        (np.zeros((3, 2, 7)), np.array([0, 1]), "label must have shape"),
        (np.zeros((3, 2, 7)), np.array([0, 1, 2]), "only 0 and 1"),
    ],
)
def test_invalid_input_is_named(jets, label, match):
    with pytest.raises(DataFormatError, match=match):
        EventTable(jets, label)


def test_unknown_feature_lists_available():
    ev = EventTable(np.ones((1, 2, 7)))
    with pytest.raises(DataFormatError, match=r"unknown feature 'mass'.*mjj"):
        ev.feature("mass")


def _with_extra(n: int = 6, seed: int = 1) -> EventTable:
    rng = np.random.default_rng(seed)
    jets = np.abs(rng.normal(size=(n, 2, 7))) * 100
    extra = rng.uniform(size=(n, 2, 3))
    return EventTable(
        jets, label=np.arange(n) % 2, extra=extra, extra_fields=("tau4_b05", "efp2_1", "my_obs")
    )


def test_extra_fields_are_mass_ordered_features():
    ev = _with_extra()
    m = ev.jets[:, :, 3]
    light = np.where(m[:, 0] <= m[:, 1], 0, 1)
    idx = np.arange(len(ev))
    np.testing.assert_array_equal(ev.feature("tau4_b05_j1"), ev.extra[idx, light, 0])
    np.testing.assert_array_equal(ev.feature("efp2_1_j2"), ev.extra[idx, 1 - light, 1])
    np.testing.assert_array_equal(ev.feature("my_obs_j1"), ev.extra[idx, light, 2])
    x = ev.features(["mj1", "tau4_b05_j2", "efp2_1_j1"])
    assert x.shape == (6, 3)
    assert ev.feature_names[-1] == "my_obs_j2" and len(ev.feature_names) == 10 + 6
    assert "extra_fields=3" in repr(ev)
    plain = EventTable(ev.jets)
    assert plain.extra.shape == (6, 2, 0) and plain.extra_fields == ()
    assert plain.features("standard").shape == (6, 4)


def test_extra_fields_follow_subset_concatenate_and_with_label():
    ev = _with_extra()
    sub = ev.subset(ev.label == 1)
    np.testing.assert_array_equal(sub.extra, ev.extra[1::2])
    assert sub.extra_fields == ev.extra_fields
    assert ev.with_label(1).extra_fields == ev.extra_fields
    both = EventTable.concatenate([sub, ev.subset(ev.label == 0)])
    np.testing.assert_array_equal(both.extra, np.concatenate([ev.extra[1::2], ev.extra[0::2]]))
    other = EventTable(ev.jets, extra=ev.extra[:, :, [2, 0]], extra_fields=("my_obs", "tau4_b05"))
    common = EventTable.concatenate([ev, other])
    assert common.extra_fields == ("tau4_b05", "my_obs")
    np.testing.assert_array_equal(common.feature("my_obs_j1")[6:], ev.feature("my_obs_j1"))
    assert EventTable.concatenate([ev, EventTable(ev.jets)]).extra_fields == ()


@pytest.mark.parametrize(
    ("extra", "fields", "match"),
    [
        (np.zeros((3, 2, 1)), (), r"extra must have shape \(3, 2, 0\)"),
        (np.zeros((3, 2, 2)), ("a",), r"shape \(3, 2, 1\)"),
        (np.zeros((3, 2, 2)), ("a", "a"), "duplicates"),
        (np.zeros((3, 2, 1)), ("tau21",), "clashes"),
        (np.zeros((3, 2, 1)), ("m",), "clashes"),
        (np.zeros((3, 2, 1)), ("bad name",), "bad field name"),
        (np.full((3, 2, 1), np.inf), ("efp1_0",), r"non-finite.*jet 1.*'efp1_0'"),
    ],
)
def test_invalid_extra_is_named(extra, fields, match):
    with pytest.raises(DataFormatError, match=match):
        EventTable(np.zeros((3, 2, 7)), extra=extra, extra_fields=fields)


def test_missing_extra_feature_says_how_to_make_it():
    with pytest.raises(
        DataFormatError, match=r"'tau3_b05_j1' is not in this table.*extra_features"
    ):
        EventTable(np.ones((1, 2, 7))).feature("tau3_b05_j1")
    with pytest.raises(DataFormatError, match=r"'efp9_0_j1' is not in this table.*tau4_b05"):
        _with_extra().feature("efp9_0_j1")
    with pytest.raises(DataFormatError, match=r"unknown feature 'mass'.*and 6 extra jet features"):
        _with_extra().feature("mass")
