"""Tests of raw particles -> LHCO jet features (anomsearch.data.features.raw_to_features)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomsearch.data.features.jets import particles_to_four_vectors
from anomsearch.data.features.raw_to_features import cluster_events, raw_to_features
from anomsearch.data.io.lhco import FEATURE_COLUMNS, read_features_h5
from anomsearch.data.io.lhco_raw import MAX_PARTICLES, particles_to_raw_array, write_raw_h5
from anomsearch.exceptions import AnomsearchError, ConfigError, DataFormatError

pytest.importorskip("fastjet")

_PX, _PY, _PZ, _M, _T1, _T2, _T3 = range(7)


def _massless_mass(parts: np.ndarray) -> float:
    """Invariant mass of massless (pT, eta, phi) particles from the pairwise formula
    ``m^2 = sum_{i<j} 2 pT_i pT_j (cosh(d_eta) - cos(d_phi))`` (independent of the 4-vectors)."""
    pt, eta, phi = parts[:, 0], parts[:, 1], parts[:, 2]
    m2 = 0.0
    for i in range(len(pt)):
        for j in range(i + 1, len(pt)):
            m2 += 2 * pt[i] * pt[j] * (np.cosh(eta[i] - eta[j]) - np.cos(phi[i] - phi[j]))
    return float(np.sqrt(m2))


def _spray(rng: np.random.Generator, n: int, eta0: float, phi0: float, pt_scale: float):
    """A narrow spray of ``n`` particles within 0.25 of ``(eta0, phi0)`` in eta and phi."""
    pt = pt_scale * rng.uniform(0.2, 1.0, n)
    eta = eta0 + rng.uniform(-0.25, 0.25, n)
    phi = phi0 + rng.uniform(-0.25, 0.25, n)
    return np.stack([pt, eta, phi], axis=1)


def _dijet_events(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Events made of two well-separated sprays (hard one first, softer one back to back)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        phi0 = rng.uniform(-np.pi, np.pi)
        hard = _spray(rng, int(rng.integers(5, 40)), rng.uniform(-1, 1), phi0, 300.0)
        soft = _spray(rng, int(rng.integers(5, 40)), rng.uniform(-1, 1), phi0 + np.pi, 30.0)
        out.append((hard, soft))
    return out


def test_sprays_give_known_jet_momenta_masses_and_mjj(tmp_path: Path) -> None:
    events = _dijet_events(6, seed=1)
    # interleave the two sprays' particles: the clustering, not the order, must find the jets
    raw = particles_to_raw_array(
        [
            np.concatenate([h, s])[np.random.default_rng(i).permutation(len(h) + len(s))]
            for i, (h, s) in enumerate(events)
        ]
    )
    labels = np.array([1, 0, 0, 1, 0, 1])
    write_raw_h5(raw, tmp_path / "raw.h5", labels=labels)
    res = raw_to_features(tmp_path / "raw.h5", tmp_path / "feat.h5", progress=False)
    assert (res.n_read, res.n_written, res.n_missing_jets, res.has_labels) == (6, 6, 0, True)
    assert res.events_per_s > 0

    table = read_features_h5(tmp_path / "feat.h5")
    np.testing.assert_array_equal(table.label, labels)
    mjj = table.feature("mjj")  # TeV
    for k, (hard, soft) in enumerate(events):
        for jet, parts in ((0, hard), (1, soft)):
            pt, eta, phi = parts.T
            got = table.jets[k, jet]
            np.testing.assert_allclose(got[_PX], np.sum(pt * np.cos(phi)), rtol=1e-9)
            np.testing.assert_allclose(got[_PY], np.sum(pt * np.sin(phi)), rtol=1e-9)
            np.testing.assert_allclose(got[_PZ], np.sum(pt * np.sinh(eta)), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(got[_M], _massless_mass(parts), rtol=1e-6)
            assert min(got[_T1], got[_T2], got[_T3]) > 0 and got[_T1] < 0.5
        expected_mjj = _massless_mass(np.concatenate([hard, soft])) / 1000.0
        np.testing.assert_allclose(mjj[k], expected_mjj, rtol=1e-6)


def test_features_file_layout_with_and_without_labels(tmp_path: Path) -> None:
    events = _dijet_events(3, seed=2)
    raw = particles_to_raw_array([np.concatenate(e) for e in events])
    write_raw_h5(raw, tmp_path / "rnd.h5", labels=np.array([0, 1, 1]))
    write_raw_h5(raw, tmp_path / "bb.h5")
    raw_to_features(tmp_path / "rnd.h5", tmp_path / "rnd_f.h5", progress=False)
    res = raw_to_features(tmp_path / "bb.h5", tmp_path / "bb_f.h5", progress=False)
    assert not res.has_labels
    rnd = pd.read_hdf(tmp_path / "rnd_f.h5", key="df")
    bb = pd.read_hdf(tmp_path / "bb_f.h5", key="df")
    assert list(rnd.columns) == [*FEATURE_COLUMNS, "label"]
    assert list(bb.columns) == list(FEATURE_COLUMNS)
    np.testing.assert_array_equal(rnd["label"].to_numpy(), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(rnd[list(FEATURE_COLUMNS)].to_numpy(), bb.to_numpy())


def _event(*particles: tuple[float, float, float]) -> np.ndarray:
    return particles_to_raw_array([np.array(particles, dtype=float)])


def test_single_particle_jet_is_massless_with_zero_taus() -> None:
    ev = _event((800.0, 0.2, 0.0), (700.0, 0.0, 0.1), (650.0, -0.3, 2.9))
    res = cluster_events(ev)
    assert res.n_jets.tolist() == [2]
    lead, single = res.jets[0]
    assert lead[_M] > 0 and lead[_T1] > 0
    assert single[_M] <= 1e-4  # 0 up to the rounding of E^2 - p^2 (sqrt(eps) * E)
    assert single[_T1] == single[_T2] == single[_T3] == 0.0
    np.testing.assert_allclose(np.hypot(single[_PX], single[_PY]), 650.0, rtol=1e-12)


@pytest.mark.parametrize("radius", [1.0, 0.8])
def test_two_prong_jet_known_mass_and_taus(radius: float) -> None:
    p, delta = 900.0, 0.15
    ev = _event((p, 0.0, 1.0 + delta), (p, 0.0, 1.0 - delta), (400.0, 0.5, 1.0 + np.pi))
    jets = cluster_events(ev, jet_radius=radius).jets[0]
    two = jets[0]
    np.testing.assert_allclose(two[_M], 2 * p * np.sin(delta), rtol=1e-9)
    np.testing.assert_allclose(two[_T1], delta / radius, rtol=1e-9)  # axis halfway between
    assert two[_T2] == 0.0 and two[_T3] == 0.0


def test_three_prong_jet_known_taus() -> None:
    p, d = 500.0, 0.2
    ev = _event((p, 0.0, -d), (p, 0.0, 0.0), (p, 0.0, d), (300.0, 0.0, np.pi))
    three = cluster_events(ev).jets[0, 0]
    np.testing.assert_allclose(three[_T1], 2 * d / 3, rtol=1e-9)  # axis on the middle particle
    np.testing.assert_allclose(three[_T2], d / 3, rtol=1e-9)  # a pair merged at d/2 + a single
    assert three[_T3] == 0.0
    np.testing.assert_allclose(three[_M], _massless_mass(np.array(ev[0, :3])), rtol=1e-9)


def test_nsubjettiness_axes_e_scheme_vs_winner_take_all() -> None:
    d = 0.2
    ev = _event((300.0, 0.0, 0.0), (100.0, 0.0, d), (100.0, 0.0, -d), (300.0, 0.0, np.pi))
    e_jet = cluster_events(ev, nsub_axes="kt").jets[0, 0]
    w_jet = cluster_events(ev, nsub_axes="wta_kt").jets[0, 0]
    # tau1: by symmetry both axes point at phi = 0.
    np.testing.assert_allclose([e_jet[_T1], w_jet[_T1]], 200 * d / 500, rtol=1e-9)
    # tau2: kT merges the 300 with one 100 first; E-scheme puts that axis at phi_a, WTA at 0.
    phi_a = np.arctan2(100 * np.sin(d), 300 + 100 * np.cos(d))
    np.testing.assert_allclose(e_jet[_T2], (300 * phi_a + 100 * (d - phi_a)) / 500, rtol=1e-9)
    np.testing.assert_allclose(w_jet[_T2], 100 * d / 500, rtol=1e-9)


def test_events_with_fewer_than_two_jets(tmp_path: Path) -> None:
    ((hard, soft),) = _dijet_events(1, seed=3)
    raw = particles_to_raw_array(
        [np.concatenate([hard, soft]), np.zeros((0, 3)), np.array([[250.0, 0.1, 0.2]])]
    )
    res = cluster_events(raw)
    assert res.n_jets.tolist() == [2, 0, 1]
    assert not res.jets[1].any()
    assert not res.jets[2, 1].any()
    np.testing.assert_allclose(res.jets[2, 0, :2], [250 * np.cos(0.2), 250 * np.sin(0.2)])

    write_raw_h5(raw, tmp_path / "raw.h5", labels=np.array([0, 1, 1]))
    kept = raw_to_features(tmp_path / "raw.h5", tmp_path / "zeros.h5", progress=False)
    assert (kept.n_read, kept.n_written, kept.n_missing_jets) == (3, 3, 2)
    table = read_features_h5(tmp_path / "zeros.h5")
    np.testing.assert_array_equal(table.jets, res.jets)
    dropped = raw_to_features(
        tmp_path / "raw.h5", tmp_path / "drop.h5", missing_jets="drop", progress=False
    )
    assert (dropped.n_read, dropped.n_written, dropped.n_missing_jets) == (3, 1, 2)
    table = read_features_h5(tmp_path / "drop.h5")
    np.testing.assert_array_equal(table.jets, res.jets[:1])
    np.testing.assert_array_equal(table.label, [0])


def test_chunking_and_ranges_do_not_change_the_result(tmp_path: Path) -> None:
    events = _dijet_events(7, seed=4)
    raw = particles_to_raw_array([np.concatenate(e) for e in events])
    write_raw_h5(raw, tmp_path / "raw.h5", labels=np.arange(7) % 2)
    raw_to_features(tmp_path / "raw.h5", tmp_path / "a.h5", chunk_size=100, progress=False)
    raw_to_features(tmp_path / "raw.h5", tmp_path / "b.h5", chunk_size=3, progress=True)
    part = raw_to_features(
        tmp_path / "raw.h5", tmp_path / "c.h5", chunk_size=2, start=2, stop=5, progress=False
    )
    assert part.n_read == 3
    a = pd.read_hdf(tmp_path / "a.h5", key="df")
    pd.testing.assert_frame_equal(a, pd.read_hdf(tmp_path / "b.h5", key="df"))
    np.testing.assert_array_equal(
        pd.read_hdf(tmp_path / "c.h5", key="df").to_numpy(), a.to_numpy()[2:5]
    )


@pytest.mark.slow
def test_worker_processes_give_the_serial_result(tmp_path: Path) -> None:
    events = _dijet_events(7, seed=6)
    raw = particles_to_raw_array([np.concatenate(e) for e in events])
    raw[3] = 0.0  # an empty event: zero jets, kept as zeros
    write_raw_h5(raw, tmp_path / "raw.h5", labels=np.arange(7) % 2)
    serial = raw_to_features(tmp_path / "raw.h5", tmp_path / "a.h5", progress=False)
    par = raw_to_features(
        tmp_path / "raw.h5", tmp_path / "b.h5", chunk_size=2, start=1, n_jobs=2, progress=True
    )
    assert (serial.n_missing_jets, par.n_read, par.n_missing_jets) == (1, 6, 1)
    a = pd.read_hdf(tmp_path / "a.h5", key="df")
    np.testing.assert_array_equal(pd.read_hdf(tmp_path / "b.h5", key="df").to_numpy(), a[1:])


def test_missing_fastjet_gives_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_raw_h5(_event((100.0, 0.0, 0.0)), tmp_path / "raw.h5")
    monkeypatch.setitem(sys.modules, "fastjet", None)  # makes `import fastjet` fail
    with pytest.raises(AnomsearchError, match=r"fastjet.*anomsearch\[generate\]"):
        raw_to_features(tmp_path / "raw.h5", tmp_path / "f.h5", progress=False)
    with pytest.raises(AnomsearchError, match=r"anomsearch\[generate\]"):
        cluster_events(np.zeros((1, MAX_PARTICLES, 3)))
    assert not (tmp_path / "f.h5").exists()


def test_bad_options_and_inputs(tmp_path: Path) -> None:
    raw = tmp_path / "raw.h5"
    write_raw_h5(_event((100.0, 0.0, 0.0)), raw)
    out = tmp_path / "f.h5"
    with pytest.raises(ConfigError, match=r"raw_to_features\.missing_jets"):
        raw_to_features(raw, out, missing_jets="pad")
    with pytest.raises(ConfigError, match=r"raw_to_features\.jet_radius"):
        raw_to_features(raw, out, jet_radius=0.0)
    with pytest.raises(ConfigError, match=r"raw_to_features\.jet_ptmin"):
        raw_to_features(raw, out, jet_ptmin=-1.0)
    with pytest.raises(ConfigError, match=r"raw_to_features\.nsub_axes"):
        raw_to_features(raw, out, nsub_axes="exclusive")
    with pytest.raises(ConfigError, match=r"raw_to_features\.n_jobs"):
        raw_to_features(raw, out, n_jobs=0)
    with pytest.raises(ConfigError, match=r"iter_raw_h5\.chunk_size"):
        raw_to_features(raw, out, chunk_size=0, progress=False)
    with pytest.raises(DataFormatError, match=r"raw file not found: .*missing\.h5"):
        raw_to_features(tmp_path / "missing.h5", out, progress=False)
    with pytest.raises(DataFormatError, match=r"shape \(n_events, n_particles, 3\)"):
        cluster_events(np.zeros((2, 2100)))
    with pytest.raises(DataFormatError, match="non-finite"):
        cluster_events(np.full((1, 3, 3), np.inf))
    assert not out.exists()


def test_jet_ptmin_removes_soft_jets() -> None:
    ev = _event((900.0, 0.0, 0.0), (15.0, 0.0, np.pi))
    assert cluster_events(ev).n_jets.tolist() == [2]
    res = cluster_events(ev, jet_ptmin=20.0)
    assert res.n_jets.tolist() == [1]
    assert not res.jets[0, 1].any()


def test_four_vectors_are_massless() -> None:
    rng = np.random.default_rng(5)
    parts = np.stack(
        [rng.uniform(1, 1000, 50), rng.uniform(-2.5, 2.5, 50), rng.uniform(-3, 3, 50)], axis=1
    )
    p4 = particles_to_four_vectors(parts)
    np.testing.assert_allclose(np.hypot(p4[:, 0], p4[:, 1]), parts[:, 0], rtol=1e-12)
    np.testing.assert_allclose(
        p4[:, 3], np.sqrt(p4[:, 0] ** 2 + p4[:, 1] ** 2 + p4[:, 2] ** 2), rtol=1e-12
    )
    np.testing.assert_allclose(np.arctanh(p4[:, 2] / p4[:, 3]), parts[:, 1], rtol=1e-9)


def test_cli_data_features(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from anomsearch.cli import app

    events = _dijet_events(4, seed=3)
    write_raw_h5(
        particles_to_raw_array([np.concatenate(e) for e in events]),
        tmp_path / "raw.h5",
        labels=np.array([0, 1, 0, 1]),
    )
    runner = CliRunner()
    out = tmp_path / "feat.h5"
    result = runner.invoke(
        app, ["data", "features", str(tmp_path / "raw.h5"), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 events" in result.output
    np.testing.assert_array_equal(read_features_h5(out).label, [0, 1, 0, 1])
    missing = runner.invoke(app, ["data", "features", str(tmp_path / "nope.h5"), "-o", str(out)])
    assert missing.exit_code == 2 and "nope.h5" in missing.output
