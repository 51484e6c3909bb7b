"""LHC Olympics features format: exact layout, round trips with plain pandas, bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomsearch.data import (
    FEATURE_COLUMNS,
    EventTable,
    generate_toy,
    read_features_h5,
    read_master_key,
    write_features_h5,
    write_master_key,
)
from anomsearch.data.io.lhco import extra_columns
from anomsearch.exceptions import DataFormatError

LHCO_COLUMNS = [
    "pxj1",
    "pyj1",
    "pzj1",
    "mj1",
    "tau1j1",
    "tau2j1",
    "tau3j1",
    "pxj2",
    "pyj2",
    "pzj2",
    "mj2",
    "tau1j2",
    "tau2j2",
    "tau3j2",
]


@pytest.fixture(scope="module")
def events():
    return generate_toy(300, 30, seed=5)


def test_column_names_are_the_lhco_ones():
    assert list(FEATURE_COLUMNS) == LHCO_COLUMNS


def test_written_file_loads_with_plain_pandas(tmp_path, events):
    path = write_features_h5(events, tmp_path / "ours.features.h5")
    frame = pd.read_hdf(path)
    assert list(frame.columns) == [*LHCO_COLUMNS, "label"]
    assert frame.shape == (len(events), 15)
    np.testing.assert_array_equal(frame[LHCO_COLUMNS].to_numpy(), events.jets.reshape(-1, 14))
    np.testing.assert_array_equal(frame["label"].to_numpy(), events.label)
    assert (frame.dtypes == np.float64).all()
    with pd.HDFStore(path, "r") as store:
        assert store.keys() == ["/df"]
        # pandas "fixed" layout, as the real files: one float block
        assert store.get_storer("df").format_type == "fixed"


def test_file_written_by_pandas_loads_here(tmp_path, events):
    frame = pd.DataFrame(events.jets.reshape(-1, 14), columns=LHCO_COLUMNS)
    frame["label"] = events.label.astype(float)
    frame.to_hdf(tmp_path / "theirs.h5", key="df")
    back = read_features_h5(tmp_path / "theirs.h5")
    np.testing.assert_array_equal(back.jets, events.jets)
    np.testing.assert_array_equal(back.label, events.label)
    np.testing.assert_allclose(back.mjj, events.mjj)


def test_round_trip_and_slicing(tmp_path, events):
    path = write_features_h5(events, tmp_path / "x.h5")
    back = read_features_h5(path, start=10, stop=20)
    np.testing.assert_array_equal(back.jets, events.jets[10:20])


def test_black_box_layout_with_master_key(tmp_path, events):
    h5 = write_features_h5(events, tmp_path / "bb.features.h5", include_label=False)
    key = write_master_key(events.label, tmp_path / "bb.masterkey.txt")
    assert "label" not in pd.read_hdf(h5).columns
    assert key.read_text().splitlines()[:3] == [str(v) for v in events.label[:3]]
    unlabeled = read_features_h5(h5)
    assert unlabeled.label is None
    labelled = read_features_h5(h5, master_key=key)
    np.testing.assert_array_equal(labelled.label, events.label)
    np.testing.assert_array_equal(read_master_key(key), events.label)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataFormatError, match=r"not found: .*nope\.h5"):
        read_features_h5(tmp_path / "nope.h5")


def test_missing_column_is_named(tmp_path, events):
    frame = pd.DataFrame(events.jets.reshape(-1, 14), columns=LHCO_COLUMNS).drop(columns="tau2j2")
    frame.to_hdf(tmp_path / "bad.h5", key="df")
    with pytest.raises(DataFormatError, match=r"bad\.h5: missing column\(s\) tau2j2"):
        read_features_h5(tmp_path / "bad.h5")


def test_nan_is_named(tmp_path, events):
    frame = pd.DataFrame(events.jets.reshape(-1, 14), columns=LHCO_COLUMNS)
    frame.loc[7, "mj2"] = np.nan
    frame.to_hdf(tmp_path / "nan.h5", key="df")
    with pytest.raises(
        DataFormatError, match=r"nan\.h5: column 'mj2' has a non-finite value .* row 7"
    ):
        read_features_h5(tmp_path / "nan.h5")


def test_not_hdf5_is_named(tmp_path):
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DataFormatError, match=r"text\.h5: not a readable pandas HDF5 file"):
        read_features_h5(tmp_path / "text.h5")


def test_bad_master_key(tmp_path, events):
    h5 = write_features_h5(events, tmp_path / "bb.h5", include_label=False)
    (tmp_path / "short.txt").write_text("0\n1\n")
    with pytest.raises(DataFormatError, match=r"short\.txt: 2 labels for 330 events"):
        read_features_h5(h5, master_key=tmp_path / "short.txt")
    for junk in ("-1", "0.5", "x"):
        (tmp_path / "junk.txt").write_text(f"0\n{junk}\n")
        with pytest.raises(DataFormatError, match=r"junk\.txt:2: expected a label 0"):
            read_master_key(tmp_path / "junk.txt")


def test_master_key_with_two_signal_processes(tmp_path):
    """Black box 3 labels its second signal 2: signal for the binary labels, kept on request."""
    (tmp_path / "bb3.txt").write_text("0\n1\n2\n0\n")
    np.testing.assert_array_equal(read_master_key(tmp_path / "bb3.txt"), [0, 1, 1, 0])
    np.testing.assert_array_equal(read_master_key(tmp_path / "bb3.txt", binary=False), [0, 1, 2, 0])


def test_write_is_atomic_on_failure(tmp_path, monkeypatch, events):
    target = tmp_path / "out.h5"
    write_features_h5(events, target)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_hdf", boom)
    with pytest.raises(OSError, match="disk full"):
        write_features_h5(EventTable(events.jets[:5]), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def _with_extra(events: EventTable) -> EventTable:
    rng = np.random.default_rng(3)
    extra = rng.uniform(size=(len(events), 2, 2))
    return EventTable(events.jets, events.label, extra=extra, extra_fields=("tau4_b05", "efp1_0"))


def test_extra_columns_after_the_standard_ones(tmp_path, events):
    ev = _with_extra(events)
    path = write_features_h5(ev, tmp_path / "extra.h5")
    frame = pd.read_hdf(path)
    assert list(frame.columns) == [
        *LHCO_COLUMNS,
        "tau4_b05j1",
        "efp1_0j1",
        "tau4_b05j2",
        "efp1_0j2",
        "label",
    ]
    np.testing.assert_array_equal(frame["efp1_0j2"], ev.extra[:, 1, 1])
    with pd.HDFStore(path, "r") as store:
        assert store.get_storer("df").format_type == "fixed"
    back = read_features_h5(path, start=5, stop=50)
    assert back.extra_fields == ev.extra_fields
    np.testing.assert_array_equal(back.extra, ev.extra[5:50])
    np.testing.assert_array_equal(back.jets, ev.jets[5:50])
    np.testing.assert_array_equal(back.label, ev.label[5:50])
    assert extra_columns(list(frame.columns)) == ("tau4_b05", "efp1_0")
    odd = ["a bj1", "a bj2", "tau21_j1", "tau21_j2", "tau21j1", "tau21j2", "j1", "j2", "xj1", "xj2"]
    assert extra_columns([*LHCO_COLUMNS, *odd]) == ("x",)
    assert read_features_h5(path, extra_fields=["efp1_0"]).extra_fields == ("efp1_0",)


def test_missing_or_bad_extra_columns_are_named(tmp_path, events):
    path = write_features_h5(_with_extra(events), tmp_path / "extra.h5")
    with pytest.raises(DataFormatError, match=r"extra\.h5: missing extra column\(s\) efp2_0j1"):
        read_features_h5(path, extra_fields=["efp2_0"])
    frame = pd.read_hdf(path)
    frame.loc[7, "tau4_b05j2"] = np.nan
    frame["unpaired_j1"] = 1.0  # no j2 partner: not an extra field, ignored
    frame.to_hdf(tmp_path / "nan.h5", key="df")
    with pytest.raises(DataFormatError, match=r"'tau4_b05j2' has a non-finite value.*row 7"):
        read_features_h5(tmp_path / "nan.h5")
    ok = read_features_h5(tmp_path / "nan.h5", extra_fields=["efp1_0"])
    assert ok.extra_fields == ("efp1_0",)
