"""Tests of the LHCO raw-particle format reader/writer (anomsearch.data.io.lhco_raw)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomsearch.data.io.lhco_raw import (
    MAX_PARTICLES,
    N_PARTICLE_COLUMNS,
    iter_raw_h5,
    pack_particles,
    particles_to_raw_array,
    raw_h5_info,
    read_raw_h5,
    write_raw_h5,
)
from anomsearch.exceptions import ConfigError, DataFormatError


def _random_events(n: int, seed: int = 0, max_mult: int = 60) -> np.ndarray:
    """``(n, 700, 3)`` zero-padded events with a random number of particles each."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, MAX_PARTICLES, 3))
    for i in range(n):
        k = int(rng.integers(0, max_mult))
        out[i, :k, 0] = rng.exponential(20.0, k) + 0.5
        out[i, :k, 1] = rng.uniform(-2.5, 2.5, k)
        out[i, :k, 2] = rng.uniform(-np.pi, np.pi, k)
    return out


def test_write_then_plain_pandas_read_has_real_layout(tmp_path: Path) -> None:
    parts = _random_events(7)
    labels = np.array([0, 1, 0, 0, 1, 1, 0])
    write_raw_h5(parts, tmp_path / "rnd.h5", labels=labels)
    frame = pd.read_hdf(tmp_path / "rnd.h5", key="df")
    assert frame.shape == (7, 2101)
    assert list(frame.columns) == list(range(2101))
    assert (frame.dtypes == np.float64).all()
    values = frame.to_numpy()
    # Flattened as p0_pt, p0_eta, p0_phi, p1_pt, ...
    np.testing.assert_array_equal(values[:, :2100], parts.reshape(7, 2100))
    np.testing.assert_array_equal(values[3, 3:6], parts[3, 1])
    np.testing.assert_array_equal(values[:, 2100], labels)

    write_raw_h5(parts, tmp_path / "bb.h5")
    frame = pd.read_hdf(tmp_path / "bb.h5", key="df")
    assert frame.shape == (7, 2100)
    np.testing.assert_array_equal(frame.to_numpy(), parts.reshape(7, 2100))


@pytest.mark.parametrize("names", ["int", "str"])
def test_plain_pandas_written_file_reads_back(tmp_path: Path, names: str) -> None:
    parts = _random_events(5, seed=1)
    labels = np.array([1.0, 0.0, 0.0, 1.0, 0.0])
    data = np.concatenate([parts.reshape(5, -1), labels[:, None]], axis=1)
    cols = list(range(2101)) if names == "int" else [str(i) for i in range(2101)]
    pd.DataFrame(data, columns=cols).to_hdf(tmp_path / "x.h5", key="df", mode="w")
    info = raw_h5_info(tmp_path / "x.h5")
    assert info == (5, True, "df")
    got = read_raw_h5(tmp_path / "x.h5")
    np.testing.assert_array_equal(got.particles, parts)
    assert got.labels is not None
    np.testing.assert_array_equal(got.labels, labels.astype(int))
    assert got.labels.dtype == np.int8


def test_black_box_layout_has_no_labels(tmp_path: Path) -> None:
    parts = _random_events(4, seed=2)
    write_raw_h5(parts, tmp_path / "bb.h5")
    assert raw_h5_info(tmp_path / "bb.h5").has_labels is False
    got = read_raw_h5(tmp_path / "bb.h5")
    assert got.labels is None
    np.testing.assert_array_equal(got.particles, parts)


@pytest.fixture(scope="module")
def raw20(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 20-event R&D-layout file, its particles and labels."""
    parts = _random_events(20, seed=4)
    labels = (np.arange(20) % 3 == 0).astype(int)
    path = tmp_path_factory.mktemp("raw") / "r.h5"
    write_raw_h5(parts, path, labels=labels)
    return path, parts, labels


@pytest.mark.parametrize("chunk_size", [1, 7, 20, 1000])
def test_chunked_read_equals_full_read(
    raw20: tuple[Path, np.ndarray, np.ndarray], chunk_size: int
) -> None:
    path, parts, labels = raw20
    full = read_raw_h5(path)
    np.testing.assert_array_equal(full.particles, parts)
    chunks = list(iter_raw_h5(path, chunk_size=chunk_size))
    assert [c.start for c in chunks] == list(range(0, 20, chunk_size))
    assert all(len(c.particles) <= chunk_size for c in chunks)
    np.testing.assert_array_equal(np.concatenate([c.particles for c in chunks]), full.particles)
    np.testing.assert_array_equal(np.concatenate([c.labels for c in chunks]), full.labels)
    np.testing.assert_array_equal(full.labels, labels)


def test_start_stop_select_rows(raw20: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, parts, labels = raw20
    chunks = list(iter_raw_h5(path, chunk_size=4, start=5, stop=14))
    assert [c.start for c in chunks] == [5, 9, 13]
    np.testing.assert_array_equal(np.concatenate([c.particles for c in chunks]), parts[5:14])
    np.testing.assert_array_equal(np.concatenate([c.labels for c in chunks]), labels[5:14])
    # stop beyond the end is clipped; start beyond the end gives nothing.
    assert sum(len(c.particles) for c in iter_raw_h5(path, start=15, stop=99)) == 5
    assert list(iter_raw_h5(path, start=30)) == []
    assert read_raw_h5(path, start=30).particles.shape == (0, 700, 3)


def test_pack_pads_and_compacts() -> None:
    ev = np.zeros((2, 4, 3))
    ev[0, 1] = [5.0, 0.1, 0.2]  # a gap before it: moved to the front, order kept
    ev[0, 3] = [7.0, 0.3, 0.4]
    ev[0, 2] = [0.0, 1.0, 1.0]  # pT = 0 is padding even with non-zero eta/phi: zeroed
    out = pack_particles(ev)
    assert out.shape == (2, MAX_PARTICLES, 3)
    np.testing.assert_array_equal(out[0, :2], [[5.0, 0.1, 0.2], [7.0, 0.3, 0.4]])
    assert not out[0, 2:].any()
    assert not out[1].any()


def test_pack_over_full_event_needs_truncate_and_keeps_hardest() -> None:
    rng = np.random.default_rng(5)
    n_part = MAX_PARTICLES + 50
    ev = np.zeros((2, n_part, 3))
    ev[0, :, 0] = rng.permutation(np.arange(1, n_part + 1, dtype=float))  # distinct pT
    ev[0, :, 1] = np.arange(n_part)  # eta = original position, to check the order
    ev[1, :3] = [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    with pytest.raises(DataFormatError, match=r"event 0 has 750 particles.*truncate=True"):
        pack_particles(ev)
    out = pack_particles(ev, truncate=True)
    kept = out[0]
    assert (kept[:, 0] > 50).all()  # the 50 softest (pT 1..50) are the ones dropped
    np.testing.assert_array_equal(np.sort(kept[:, 0]), np.arange(51, n_part + 1))
    assert (np.diff(kept[:, 1]) > 0).all()  # original order kept
    np.testing.assert_array_equal(out[1, :3], ev[1, :3])


def test_write_rejects_over_full_events_unless_truncate(tmp_path: Path) -> None:
    ev = np.ones((1, MAX_PARTICLES + 1, 3))
    with pytest.raises(DataFormatError, match="701 particles"):
        write_raw_h5(ev, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    write_raw_h5(ev, tmp_path / "x.h5", truncate=True)
    assert pd.read_hdf(tmp_path / "x.h5", key="df").shape == (1, 2100)


def test_particles_to_raw_array() -> None:
    events = [np.array([[10.0, 0.5, 1.0], [3.0, -0.2, -1.0]]), np.zeros((0, 3))]
    raw = particles_to_raw_array(events)
    assert raw.shape == (2, MAX_PARTICLES, 3)
    np.testing.assert_array_equal(raw[0, :2], events[0])
    assert not raw[0, 2:].any() and not raw[1].any()
    with pytest.raises(DataFormatError, match="event 1 must have shape"):
        particles_to_raw_array([np.zeros((2, 3)), np.zeros((2, 2))])


def test_compressed_write_reads_back(tmp_path: Path) -> None:
    parts = _random_events(6, seed=6)
    write_raw_h5(parts, tmp_path / "c.h5", complevel=5)
    np.testing.assert_array_equal(read_raw_h5(tmp_path / "c.h5").particles, parts)
    with pytest.raises(ConfigError, match=r"write_raw_h5\.complevel"):
        write_raw_h5(parts, tmp_path / "c.h5", complevel=11)


# ------------------------------------------------------------------------------------- errors
def _write_frame(path: Path, data: np.ndarray, columns: list | None = None) -> Path:
    pd.DataFrame(data, columns=columns).to_hdf(path, key="df", mode="w")
    return path


def test_missing_file_and_not_hdf(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="raw file not found"):
        raw_h5_info(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataFormatError, match=r"bad\.h5: not a readable pandas HDF5"):
        iter_raw_h5(bad)


def test_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "k.h5"
    pd.DataFrame(np.zeros((2, 2100))).to_hdf(path, key="events", mode="w")
    pd.DataFrame(np.zeros((2, 2100))).to_hdf(path, key="other", mode="a")
    with pytest.raises(DataFormatError, match=r"k\.h5: no key 'df'"):
        raw_h5_info(path)
    with pytest.raises(DataFormatError, match=r"no key 'x'"):
        raw_h5_info(path, key="x")
    assert raw_h5_info(path, key="events").n_events == 2


def test_wrong_column_count(tmp_path: Path) -> None:
    path = _write_frame(tmp_path / "w.h5", np.zeros((3, 14)))
    with pytest.raises(DataFormatError, match=r"w\.h5: key 'df' has 14 columns.*2100"):
        iter_raw_h5(path)


def test_wrong_column_names(tmp_path: Path) -> None:
    cols = [str(i) for i in range(2100)]
    cols[5] = "eta1"
    path = _write_frame(tmp_path / "n.h5", np.zeros((2, 2100)), cols)
    with pytest.raises(DataFormatError, match=r"column 5 is named 'eta1'"):
        raw_h5_info(path)
    # a final column named "label" is accepted as the label column
    cols = [*map(str, range(2100)), "label"]
    path = _write_frame(tmp_path / "l.h5", np.zeros((2, 2101)), cols)
    assert raw_h5_info(path).has_labels


def test_nan_negative_pt_and_bad_label(tmp_path: Path) -> None:
    data = np.zeros((4, 2101))
    data[2, 7] = np.nan
    path = _write_frame(tmp_path / "nan.h5", data)
    with pytest.raises(DataFormatError, match=r"nan\.h5: non-finite.*event 2, column 7"):
        list(iter_raw_h5(path))
    # the bad row in a later chunk: the message gives the file's event index
    with pytest.raises(DataFormatError, match=r"event 2, column 7"):
        list(iter_raw_h5(path, chunk_size=2))
    data = np.zeros((4, 2101))
    data[3, 6] = -1.5  # particle 2's pT
    path = _write_frame(tmp_path / "neg.h5", data)
    with pytest.raises(DataFormatError, match=r"neg\.h5: negative pT -1\.5 in event 3, particle 2"):
        list(iter_raw_h5(path, chunk_size=3))
    data = np.zeros((4, 2101))
    data[1, 2100] = 2.0
    path = _write_frame(tmp_path / "lab.h5", data)
    with pytest.raises(DataFormatError, match=r"lab\.h5: label column 2100 must be 0 or 1"):
        list(iter_raw_h5(path))


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"iter_raw_h5\.chunk_size"):
        iter_raw_h5("whatever.h5", chunk_size=0)
    with pytest.raises(ConfigError, match=r"iter_raw_h5\.start"):
        iter_raw_h5("whatever.h5", start=-1)
    with pytest.raises(DataFormatError, match=r"shape \(n_events, n_particles, 3\)"):
        pack_particles(np.zeros((3, 2100)))
    with pytest.raises(DataFormatError, match="non-finite"):
        pack_particles(np.full((1, 2, 3), np.nan))
    with pytest.raises(DataFormatError, match="negative pT"):
        pack_particles(np.array([[[-1.0, 0.0, 0.0]]]))


def test_bad_labels_on_write(tmp_path: Path) -> None:
    parts = _random_events(3)
    with pytest.raises(DataFormatError, match=r"labels must have shape \(3,\)"):
        write_raw_h5(parts, tmp_path / "x.h5", labels=np.array([0, 1]))
    with pytest.raises(DataFormatError, match="only 0 and 1"):
        write_raw_h5(parts, tmp_path / "x.h5", labels=np.array([0, 1, 2]))
    assert not (tmp_path / "x.h5").exists()


def test_column_count_constant() -> None:
    assert N_PARTICLE_COLUMNS == 2100
