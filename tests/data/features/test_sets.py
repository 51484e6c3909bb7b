"""Named feature sets, their column names, and the extra columns through the features file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomsearch.data import EventTable, feature_set, raw_to_features, read_features_h5
from anomsearch.data.features.sets import (
    EFP_FIELDS,
    EXTRA_JET_FIELDS,
    FEATURE_SETS,
    NSUB_FIELDS,
    extra_jet_fields,
    is_extra_feature,
)
from anomsearch.data.io.lhco import FEATURE_COLUMNS
from anomsearch.data.io.lhco_raw import particles_to_raw_array, write_raw_h5
from anomsearch.exceptions import ConfigError

pytest.importorskip("fastjet")


def test_set_sizes_and_names() -> None:
    sizes = {name: len(feature_set(name)) for name in FEATURE_SETS}
    assert sizes == {"standard": 4, "subjettiness": 56, "efp": 108, "kitchen_sink": 166}
    assert feature_set("standard") == ("mj1", "delta_mj", "tau21_j1", "tau21_j2")
    sub = feature_set("subjettiness")
    assert sub[:2] == ("mj1", "delta_mj")
    assert sub[2:5] == ("tau1_b05_j1", "tau1_b1_j1", "tau1_b2_j1")
    assert sub[-1] == "tau9_b2_j2" and "tau3_b05_j1" in sub
    assert feature_set("efp")[2:4] == ("efp1_0_j1", "efp2_0_j1") and "efp5_32_j2" in feature_set(
        "efp"
    )
    sink = feature_set("kitchen_sink")
    assert len(set(sink)) == len(sink)
    assert set(sub) | set(feature_set("efp")) | set(feature_set("standard")) < set(sink)
    assert (len(NSUB_FIELDS), len(EFP_FIELDS), len(EXTRA_JET_FIELDS)) == (27, 53, 80)
    assert extra_jet_fields("standard") == () and extra_jet_fields(None) == ()
    assert extra_jet_fields("efp") == EFP_FIELDS
    assert is_extra_feature("tau9_b05_j2") and not is_extra_feature("tau21_j1")


def test_unknown_set_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^feature_set: unknown feature set 'all'; choose"):
        feature_set("all")
    with pytest.raises(ConfigError, match=r"^method\.features: unknown feature set"):
        feature_set("sink", option="method.features")
    with pytest.raises(ConfigError, match=r"EventTable\.features: unknown feature set 'nsub'"):
        EventTable(np.ones((2, 2, 7))).features("nsub")
    raw = tmp_path / "raw.h5"
    write_raw_h5(particles_to_raw_array([np.array([[100.0, 0.0, 0.0]])]), raw)
    with pytest.raises(ConfigError, match=r"raw_to_features\.extra_features: unknown feature set"):
        raw_to_features(raw, tmp_path / "f.h5", extra_features="everything", progress=False)
    assert not (tmp_path / "f.h5").exists()


def _raw_file(path: Path, n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(7)
    events = []
    for _ in range(n):
        phi0 = rng.uniform(-np.pi, np.pi)
        jets = []
        for k, pt in enumerate((500.0, 200.0)):
            m = int(rng.integers(2, 30))
            jets.append(
                np.stack(
                    [
                        pt * rng.uniform(0.02, 0.2, m),
                        rng.normal(0.0, 0.3, m),
                        phi0 + k * np.pi + rng.normal(0.0, 0.3, m),
                    ],
                    axis=1,
                )
            )
        events.append(np.concatenate(jets))
    raw = particles_to_raw_array(events)
    raw[:, :, 2] = np.where(raw[:, :, 0] > 0, np.mod(raw[:, :, 2] + np.pi, 2 * np.pi) - np.pi, 0)
    write_raw_h5(raw, path, labels=np.arange(n) % 2)
    return raw


def test_round_trip_through_the_features_file(tmp_path: Path) -> None:
    _raw_file(tmp_path / "raw.h5")
    plain = raw_to_features(tmp_path / "raw.h5", tmp_path / "plain.h5", progress=False)
    res = raw_to_features(
        tmp_path / "raw.h5", tmp_path / "sink.h5", extra_features="kitchen_sink", progress=False
    )
    assert plain.extra_fields == () and res.extra_fields == EXTRA_JET_FIELDS
    frame = pd.read_hdf(tmp_path / "sink.h5", key="df")
    columns = list(frame.columns)
    assert columns[:14] == list(FEATURE_COLUMNS) and columns[-1] == "label"
    assert len(columns) == 14 + 160 + 1
    assert columns[14:17] == ["tau1_b05j1", "tau1_b1j1", "tau1_b2j1"]
    assert columns[14 + 80] == "tau1_b05j2" and columns[-2] == "efp5_32j2"
    # the standard 14 columns and the label are those of a file without extras
    pd.testing.assert_frame_equal(
        frame[[*FEATURE_COLUMNS, "label"]], pd.read_hdf(tmp_path / "plain.h5", key="df")
    )
    # tau_N^1 for N <= 3 is the standard tau_N
    np.testing.assert_array_equal(frame["tau2_b1j2"], frame["tau2j2"])

    table = read_features_h5(tmp_path / "sink.h5")
    assert table.extra_fields == EXTRA_JET_FIELDS and table.extra.shape == (12, 2, 80)
    x = table.features("kitchen_sink")
    assert x.shape == (12, 166) and np.all(np.isfinite(x))
    # j1 = the lighter jet, as for the standard derived features
    light = np.where(frame["mj1"] <= frame["mj2"], 1, 2)
    want = np.where(light == 1, frame["efp3_1j1"], frame["efp3_1j2"])
    np.testing.assert_array_equal(table.feature("efp3_1_j1"), want)
    np.testing.assert_array_equal(
        table.feature("tau21_j1"), table.feature("tau2_b1_j1") / table.feature("tau1_b1_j1")
    )
    only = read_features_h5(tmp_path / "sink.h5", extra_fields=("tau4_b2",))
    assert only.extra_fields == ("tau4_b2",)
    np.testing.assert_array_equal(only.feature("tau4_b2_j2"), table.feature("tau4_b2_j2"))
    assert read_features_h5(tmp_path / "sink.h5", extra_fields=()).extra_fields == ()
    assert read_features_h5(tmp_path / "plain.h5").extra_fields == ()


def test_subset_of_fields_and_chunks(tmp_path: Path) -> None:
    _raw_file(tmp_path / "raw.h5", n=7)
    a = raw_to_features(
        tmp_path / "raw.h5",
        tmp_path / "a.h5",
        extra_features=["efp1_0", "tau9_b05"],
        chunk_size=3,
        progress=False,
    )
    assert a.extra_fields == ("tau9_b05", "efp1_0")  # EXTRA_JET_FIELDS order
    b = raw_to_features(tmp_path / "raw.h5", tmp_path / "b.h5", extra_features="kitchen_sink")
    fa = pd.read_hdf(tmp_path / "a.h5", key="df")
    fb = pd.read_hdf(tmp_path / "b.h5", key="df")
    assert b.n_read == 7
    pd.testing.assert_frame_equal(fa, fb[list(fa.columns)])
