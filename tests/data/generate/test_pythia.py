"""Tests of the Pythia 8 -> detector -> fastjet generator chain
(``anomsearch.data.generate.pythia``)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from anomsearch.data.events import EventTable
from anomsearch.data.features.jets import nsubjettiness
from anomsearch.data.generate.pythia import PythiaConfig, generate_pythia
from anomsearch.exceptions import AnomsearchError, ConfigError, DataFormatError

TAU1, TAU2, TAU3 = 4, 5, 6


def _p4(pt: float, y: float, phi: float) -> list[float]:
    return [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(y), pt * np.cosh(y)]


def _two_prong_jet(rng: np.random.Generator) -> np.ndarray:
    """A toy jet: two tight clusters of 10 massless particles, 0.6 apart in phi."""
    parts = [
        _p4(50.0, y0 + 0.01 * rng.standard_normal(), phi0 + 0.01 * rng.standard_normal())
        for y0, phi0 in ((0.3, 1.0), (0.3, 1.6))
        for _ in range(10)
    ]
    return np.array(parts)


# ---------------------------------------------------------------- N-subjettiness (no Pythia)
def test_nsubjettiness_hand_computed() -> None:
    parts = np.array([_p4(100.0, 0.0, 0.0), _p4(300.0, 0.0, 0.4)])
    axis = np.array(_p4(1.0, 0.0, 0.1))[None, :]
    # dR = 0.1 and 0.3: (100 * 0.1 + 300 * 0.3) / (400 * R), R = 1 and R = 0.5.
    assert nsubjettiness(parts, axis) == pytest.approx(100.0 / 400.0)
    assert nsubjettiness(parts, axis, jet_radius=0.5) == pytest.approx(0.5)
    # beta = 2: (100 * 0.01 + 300 * 0.09) / (400 * 1)
    assert nsubjettiness(parts, axis, beta=2.0) == pytest.approx(28.0 / 400.0)
    # Azimuth wraps around: axes at phi = pi - 0.05 and particles at -pi + 0.05 are 0.1 apart.
    wrap = np.array([_p4(10.0, 0.0, -np.pi + 0.05)])
    assert nsubjettiness(wrap, np.array([_p4(1.0, 0.0, np.pi - 0.05)])) == pytest.approx(0.1)


def test_nsubjettiness_two_prong_toy_jet() -> None:
    rng = np.random.default_rng(0)
    jet = _two_prong_jet(rng)
    one_axis = jet.sum(axis=0)[None, :]
    two_axes = np.stack([jet[:10].sum(axis=0), jet[10:].sum(axis=0)])
    tau1 = nsubjettiness(jet, one_axis)
    tau2 = nsubjettiness(jet, two_axes)
    assert tau1 == pytest.approx(0.3, abs=0.02)  # every particle ~0.3 from the jet axis
    assert 0.0 <= tau2 < 0.1 * tau1
    assert nsubjettiness(jet, jet) == 0.0  # one axis per particle


def test_nsubjettiness_with_exclusive_kt_axes() -> None:
    fastjet = pytest.importorskip("fastjet")
    jet = _two_prong_jet(np.random.default_rng(1))
    consts = [fastjet.PseudoJet(*row) for row in jet.tolist()]
    cs = fastjet.ClusterSequence(consts, fastjet.JetDefinition(fastjet.kt_algorithm, 1.0))
    taus = [
        nsubjettiness(
            jet, np.array([[s.px(), s.py(), s.pz(), s.E()] for s in cs.exclusive_jets(n)])
        )
        for n in (1, 2, 3)
    ]
    assert taus[0] >= taus[1] >= taus[2] >= 0.0
    assert taus[1] / taus[0] < 0.1


def test_nsubjettiness_edge_cases() -> None:
    parts = np.array([_p4(10.0, 0.0, 0.0)])
    assert nsubjettiness(np.zeros((0, 4)), parts) == 0.0
    assert nsubjettiness(parts, np.zeros((0, 4))) == 0.0
    with pytest.raises(DataFormatError, match="constituents"):
        nsubjettiness(np.zeros((3, 3)), parts)
    with pytest.raises(DataFormatError, match="axes"):
        nsubjettiness(parts, np.zeros(4))


# ---------------------------------------------------------------- configuration (no Pythia)
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"process": "ttbar"}, "process"),
        ({"variant": "herwig"}, "variant"),
        ({"sqrt_s": -1.0}, "sqrt_s"),
        ({"jet_radius": 0.0}, "jet_radius"),
        ({"m_x": float("nan")}, "m_x"),
        ({"trigger_pt": -5.0}, "trigger_pt"),
        ({"pthat_min": "1100"}, "pthat_min"),
        ({"m_x": 3000.0, "m_y": 600.0}, "m_x \\+ m_y"),
        ({"m_wprime": 14000.0}, "m_wprime"),
        ({"fsr_alpha_s_simulation": 0.9}, "fsr_alpha_s_simulation"),
        ({"max_tries_factor": 0}, "max_tries_factor"),
        ({"nsub_axes": "onepass"}, "nsub_axes"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"PythiaConfig.{field}"):
        PythiaConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 900_000_001, 1.5, True])
def test_invalid_seed(seed: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        generate_pythia(1, seed=seed)  # type: ignore[arg-type]


def test_invalid_n_events_and_config_type() -> None:
    with pytest.raises(ConfigError, match="n_events"):
        generate_pythia(-1, seed=1)
    with pytest.raises(ConfigError, match="PythiaConfig"):
        generate_pythia(1, config={"process": "qcd"}, seed=1)  # type: ignore[arg-type]


def test_settings_document_the_processes_and_variants() -> None:
    qcd = PythiaConfig().pythia_settings(seed=5)
    assert "HardQCD:all = on" in qcd
    assert "PhaseSpace:pTHatMin = 1100" in qcd
    assert "Tune:pp = 14" in qcd
    assert {"Print:quiet = on", "Random:setSeed = on", "Random:seed = 5"} <= set(qcd)
    sim = PythiaConfig(variant="simulation").pythia_settings(seed=5)
    assert "Tune:pp = 21" in sim and "TimeShower:alphaSvalue = 0.118" in sim
    wp = PythiaConfig(process="wprime").pythia_settings(seed=5)
    assert "NewGaugeBoson:ffbar2Wprime = on" in wp and "34:m0 = 3500" in wp
    assert "34:onMode = off" in wp and "34:addChannel = 1 1.0 100 9000001 9000002" in wp
    assert not any(s.startswith("HardQCD") for s in wp)


def test_missing_generator_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pythia8mc", None)
    with pytest.raises(AnomsearchError, match=r"anomsearch\[generate\]"):
        generate_pythia(1, seed=1)


# ---------------------------------------------------------------- Pythia runs (slow)
@pytest.fixture(scope="module")
def qcd_sample() -> tuple[EventTable, dict[str, object]]:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    return generate_pythia(40, config=PythiaConfig(process="qcd"), seed=11)


@pytest.fixture(scope="module")
def wprime_sample() -> tuple[EventTable, dict[str, object]]:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    return generate_pythia(40, config=PythiaConfig(process="wprime"), seed=12)


def _pt(ev: EventTable) -> np.ndarray:
    return np.hypot(ev.jets[:, :, 0], ev.jets[:, :, 1])


@pytest.mark.slow
def test_fixed_seed_is_reproducible(qcd_sample: tuple[EventTable, dict[str, object]]) -> None:
    again, _ = generate_pythia(40, config=PythiaConfig(process="qcd"), seed=11)
    np.testing.assert_array_equal(again.jets, qcd_sample[0].jets)
    other, _ = generate_pythia(5, config=PythiaConfig(process="qcd"), seed=12)
    assert not np.array_equal(other.jets, qcd_sample[0].jets[:5])


@pytest.mark.slow
@pytest.mark.parametrize("sample", ["qcd_sample", "wprime_sample"])
def test_trigger_jets_and_stats(sample: str, request: pytest.FixtureRequest) -> None:
    ev, stats = request.getfixturevalue(sample)
    assert len(ev) == 40 and stats["n_accepted"] == 40
    assert stats["n_tried"] >= 40
    assert stats["sigma_gen_pb"] > 0 and stats["events_per_s"] > 0
    assert np.all(ev.label == (1 if sample == "wprime_sample" else 0))
    pt = _pt(ev)
    assert np.all(pt[:, 0] > 1200.0)
    assert np.all(pt[:, 0] >= pt[:, 1])  # file order = pT order
    taus = ev.jets[:, :, TAU1:]
    assert np.all(taus >= 0.0) and np.all(taus <= 1.0)
    # Exclusive-kT axes do not minimise tau_N: the ordering fails in a minority of collimated jets.
    ordered = (taus[..., 0] >= taus[..., 1]) & (taus[..., 1] >= taus[..., 2])
    assert ordered.mean() >= 0.7
    assert np.all(ev.jets[:, :, 3] >= 0.0)


@pytest.mark.slow
def test_wprime_resonance_and_daughter_masses(
    wprime_sample: tuple[EventTable, dict[str, object]],
) -> None:
    ev, _ = wprime_sample
    assert np.median(ev.mjj) == pytest.approx(3.5, rel=0.15)  # TeV
    assert np.median(ev.feature("mj2")) == pytest.approx(0.5, rel=0.25)  # heavier jet, TeV
    assert np.median(ev.feature("mj1")) < 0.3  # lighter jet: Y (100 GeV) or QCD-like


@pytest.mark.slow
def test_signal_jets_are_two_pronged(
    qcd_sample: tuple[EventTable, dict[str, object]],
    wprime_sample: tuple[EventTable, dict[str, object]],
) -> None:
    sig = np.mean(wprime_sample[0].feature("tau21_j2"))
    bkg = np.mean(qcd_sample[0].feature("tau21_j2"))
    assert sig < bkg - 0.05


@pytest.mark.slow
def test_simulation_variant_differs() -> None:
    data, _ = generate_pythia(10, config=PythiaConfig(variant="data"), seed=21)
    sim, stats = generate_pythia(10, config=PythiaConfig(variant="simulation"), seed=21)
    assert "Tune:pp = 21" in stats["settings"]
    assert np.all(_pt(sim)[:, 0] > 1200.0)
    assert not np.array_equal(data.jets, sim.jets)


@pytest.mark.slow
def test_wta_axes_keep_tau_ordering() -> None:
    pytest.importorskip("pythia8mc")
    ev, _ = generate_pythia(15, config=PythiaConfig(nsub_axes="wta_kt"), seed=31)
    taus = ev.jets[:, :, TAU1:]
    ordered = (taus[..., 0] >= taus[..., 1]) & (taus[..., 1] >= taus[..., 2])
    assert ordered.mean() >= 0.9
    assert np.all(taus >= 0.0) and np.all(taus <= 1.0)
