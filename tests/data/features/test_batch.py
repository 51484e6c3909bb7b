"""Vectorised jet features (fastjet's awkward interface) against hand-computed values and against
the per-event code (one PseudoJet per particle) on a few hundred events."""

from __future__ import annotations

import numpy as np
import pytest

from anomsearch.data.features.batch import compute_jet_features, particles_to_awkward
from anomsearch.data.features.efp import efp_graphs, efp_values
from anomsearch.data.features.jets import (
    JetClusterer,
    nsubjettiness,
    particles_to_four_vectors,
)
from anomsearch.data.features.nsub import rapidity_azimuth
from anomsearch.data.features.sets import EXTRA_JET_FIELDS, NSUB_FIELDS, nsub_field
from anomsearch.data.io.lhco_raw import particles_to_raw_array
from anomsearch.exceptions import ConfigError, DataFormatError

fastjet = pytest.importorskip("fastjet")
ak = pytest.importorskip("awkward")

_KINEMATICS, _TAUS = slice(0, 4), slice(4, 7)


def _prongs(rng: np.random.Generator, eta0: float, phi0: float, pt: float) -> np.ndarray:
    """A jet of 1-4 prongs, each a spray of 1-25 particles."""
    parts = []
    for _ in range(int(rng.integers(1, 5))):
        n = int(rng.integers(1, 26))
        c_eta, c_phi = eta0 + rng.normal(0, 0.25), phi0 + rng.normal(0, 0.25)
        parts.append(
            np.stack(
                [
                    pt * rng.uniform(0.01, 0.2, n),
                    c_eta + rng.normal(0, 0.05, n),
                    c_phi + rng.normal(0, 0.05, n),
                ],
                axis=1,
            )
        )
    return np.concatenate(parts)


def _events(n: int, seed: int) -> np.ndarray:
    """Zero-padded ``(n, k, 3)`` events: two hard multi-prong jets, soft radiation, and the
    special cases (no particle, one particle, jets of two or three constituents)."""
    rng = np.random.default_rng(seed)
    events = []
    for _ in range(n):
        phi0 = rng.uniform(-np.pi, np.pi)
        parts = [
            _prongs(rng, rng.uniform(-1, 1), phi0, 600.0),
            _prongs(rng, rng.uniform(-1, 1), phi0 + np.pi, 300.0),
            np.stack(
                [rng.uniform(0.5, 20, 8), rng.uniform(-2.5, 2.5, 8), rng.uniform(-np.pi, np.pi, 8)],
                axis=1,
            ),
        ]
        p = np.concatenate(parts)
        p[:, 2] = np.mod(p[:, 2] + np.pi, 2 * np.pi) - np.pi
        events.append(p)
    events[3] = np.zeros((0, 3))
    events[4] = np.array([[250.0, 0.1, 0.2]])
    events[5] = np.array([[400.0, 0.0, 0.0], [300.0, 0.0, 0.3], [350.0, 0.2, 3.0]])
    events[6] = np.array([[400.0, 0.0, 0.0], [300.0, 0.0, 0.3], [200.0, 0.3, 0.1], [9, 1, -3]])
    return particles_to_raw_array(events)


def _per_event(particles: np.ndarray, nsub_axes: str, ptmin: float = 0.0):
    """The reference: the per-event fastjet code of the Pythia chain."""
    clusterer = JetClusterer(1.0, nsub_axes)
    jets = np.zeros((len(particles), 2, 7))
    n_jets = np.zeros(len(particles), dtype=np.int64)
    kept = []
    for i, ev in enumerate(particles):
        real = ev[ev[:, 0] > 0]
        if len(real) == 0:
            kept.append([])
            continue
        sequence, found = clusterer.cluster(particles_to_four_vectors(real), ptmin)
        n_jets[i] = len(found)
        for j, jet in enumerate(found[:2]):
            jets[i, j] = clusterer.jet_features(jet)
        kept.append([(sequence, jet) for jet in found[:2]])
    return jets, n_jets, kept, clusterer


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.abs(a), np.abs(b))
    return float(np.max(np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1), 0)))


@pytest.mark.parametrize("nsub_axes", ["kt", "wta_kt"])
def test_standard_columns_equal_the_per_event_code(nsub_axes: str) -> None:
    particles = _events(300, seed=1)
    ref, ref_n, _, _ = _per_event(particles, nsub_axes)
    got = compute_jet_features(particles, nsub_axes=nsub_axes, batch_events=128)
    np.testing.assert_array_equal(got.n_jets, ref_n)
    assert {0, 1, 2} <= set(ref_n.tolist()) and ref_n.max() > 3
    # the jets are the same fastjet objects: px, py, pz, m agree exactly
    np.testing.assert_array_equal(got.jets[:, :, _KINEMATICS], ref[:, :, _KINEMATICS])
    # tau_N: the same per-constituent arithmetic, summed in another order (seen: ~1e-15)
    assert _rel_diff(got.jets[:, :, _TAUS], ref[:, :, _TAUS]) < 1e-12
    np.testing.assert_array_equal(got.jets[:, :, _TAUS] == 0, ref[:, :, _TAUS] == 0)
    assert got.extra.shape == (300, 2, 0) and got.extra_fields == ()


def test_jet_ptmin_and_extra_fields_leave_the_standard_columns_alone() -> None:
    particles = _events(60, seed=2)
    ref, ref_n, _, _ = _per_event(particles, "kt", ptmin=50.0)
    got = compute_jet_features(particles, jet_ptmin=50.0, extra_features="kitchen_sink")
    np.testing.assert_array_equal(got.n_jets, ref_n)
    assert _rel_diff(got.jets, ref) < 1e-12
    plain = compute_jet_features(particles, jet_ptmin=50.0)
    np.testing.assert_array_equal(got.jets, plain.jets)
    assert got.extra_fields == EXTRA_JET_FIELDS
    missing = ref_n < 2
    assert missing.any() and not got.extra[missing, 1].any()


def test_extra_fields_equal_per_jet_definitions() -> None:
    particles = _events(25, seed=3)
    _, _, kept, clusterer = _per_event(particles, "kt")
    got = compute_jet_features(particles, extra_features="kitchen_sink")
    f = got.extra_fields
    graphs = efp_graphs(5)
    worst = 0.0
    for i, jets in enumerate(kept):
        for j, (_sequence, jet) in enumerate(jets):
            consts = list(jet.constituents())
            cmat = np.array([[c.px(), c.py(), c.pz(), c.E()] for c in consts])
            kt = fastjet.ClusterSequence(consts, clusterer.jet_def_kt)
            for n in range(1, 10):
                axes = kt.exclusive_jets(n) if len(consts) > n else []
                amat = np.array([[a.px(), a.py(), a.pz(), a.E()] for a in axes]).reshape(-1, 4)
                for beta in (0.5, 1.0, 2.0):
                    want = nsubjettiness(cmat, amat, beta=beta) if len(consts) > n else 0.0
                    have = got.extra[i, j, f.index(nsub_field(n, beta))]
                    assert have == pytest.approx(want, rel=1e-12, abs=1e-300)
            y, phi = rapidity_azimuth(cmat)
            dphi = np.abs(phi[:, None] - phi[None, :])
            dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
            pt = np.hypot(cmat[:, 0], cmat[:, 1])
            theta = np.sqrt((y[:, None] - y[None, :]) ** 2 + dphi**2)
            want_efp = efp_values((pt / pt.sum())[None], theta[None], graphs)[0]
            have_efp = got.extra[i, j, len(NSUB_FIELDS) :]
            worst = max(worst, _rel_diff(have_efp, want_efp))
    assert worst < 1e-12


def test_hand_computed_three_prong_taus_for_several_betas() -> None:
    p, d, radius = 500.0, 0.2, 0.8
    ev = particles_to_raw_array(
        [np.array([[p, 0.0, -d], [p, 0.0, 0.0], [p, 0.0, d], [300.0, 0.0, np.pi]])]
    )
    got = compute_jet_features(ev, extra_features="subjettiness", jet_radius=radius)
    three = got.extra[0, 0]
    for beta in (0.5, 1.0, 2.0):
        tau = {n: three[got.extra_fields.index(nsub_field(n, beta))] for n in range(1, 10)}
        # tau1: axis on the middle particle; tau2: a pair merged at its midpoint + a single
        assert tau[1] == pytest.approx(2 * d**beta / 3 / radius**beta, rel=1e-9)
        assert tau[2] == pytest.approx(2 * (d / 2) ** beta / 3 / radius**beta, rel=1e-9)
        assert all(tau[n] == 0.0 for n in range(3, 10))  # N >= number of constituents
    np.testing.assert_allclose(got.jets[0, 0, 4:6], [2 * d / 3 / radius, d / 3 / radius])
    assert not got.extra[0, 1].any()  # a one-particle jet: every tau_N and EFP is 0


def test_awkward_input_and_massive_particles() -> None:
    particles = _events(40, seed=4)
    from_numpy = compute_jet_features(particles, extra_features="subjettiness")
    from_ak = compute_jet_features(particles_to_awkward(particles), extra_features="subjettiness")
    np.testing.assert_array_equal(from_ak.jets, from_numpy.jets)
    np.testing.assert_array_equal(from_ak.extra, from_numpy.extra)
    # massive constituents: two particles of mass 10 at rest relative to each other
    p4 = np.array([[[100.0, 0.0, 0.0, np.hypot(100.0, 10.0)]] * 2])
    massive = ak.zip(
        {k: p4[:, :, i] for i, k in enumerate(("px", "py", "pz", "E"))}, with_name="Momentum4D"
    )
    jet = compute_jet_features(massive).jets[0, 0]
    assert jet[3] == pytest.approx(20.0, rel=1e-9) and jet[4] == 0.0


def test_bad_inputs_and_options() -> None:
    with pytest.raises(ConfigError, match=r"compute_jet_features\.extra_features.*unknown"):
        compute_jet_features(np.zeros((1, 2, 3)), extra_features="everything")
    with pytest.raises(ConfigError, match=r"compute_jet_features\.extra_features.*tau10_b1"):
        compute_jet_features(np.zeros((1, 2, 3)), extra_features=["tau1_b1", "tau10_b1"])
    with pytest.raises(ConfigError, match=r"compute_jet_features\.batch_events"):
        compute_jet_features(np.zeros((1, 2, 3)), batch_events=0)
    with pytest.raises(ConfigError, match=r"compute_jet_features\.nsub_axes"):
        compute_jet_features(np.zeros((1, 2, 3)), nsub_axes="anti_kt")
    with pytest.raises(DataFormatError, match=r"shape \(n_events, n_particles, 3\)"):
        compute_jet_features(np.zeros((2, 6)))
    with pytest.raises(DataFormatError, match="px, py, pz, E"):
        compute_jet_features(ak.Array([[{"x": 1.0}]]))
    with pytest.raises(DataFormatError, match="list per event"):
        compute_jet_features(ak.Array([{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}]))
    empty = compute_jet_features(np.zeros((0, 5, 3)), extra_features="efp")
    assert empty.jets.shape == (0, 2, 7) and empty.extra.shape == (0, 2, 53)
