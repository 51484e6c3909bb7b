"""Tests of the Pythia 8 -> detector -> fastjet generator chain
(``anomsearch.data.generate.pythia``)."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from anomsearch.data.events import EventTable
from anomsearch.data.features.jets import nsubjettiness
from anomsearch.data.generate.pythia import PROCESSES, PythiaConfig, generate_pythia
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
        ({"process": "wprime", "m_x": 3000.0, "m_y": 600.0}, "m_x \\+ m_y"),
        ({"m_wprime": 14000.0}, "m_wprime"),
        ({"fsr_alpha_s_simulation": 0.9}, "fsr_alpha_s_simulation"),
        ({"max_tries_factor": 0}, "max_tries_factor"),
        ({"nsub_axes": "onepass"}, "nsub_axes"),
        ({"process": "wprime_3prong_both", "m_x": 3000.0, "m_y": 600.0}, "m_x \\+ m_y"),
        ({"process": "qstar", "m_wprime": 50.0}, "m_wprime"),
        ({"process": "wprime_qq", "m_wprime": 13000.0}, "m_wprime"),
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


#: The exact settings of the "wprime" process (seed 5): its events, and those of the cached samples
#: and productions, must not change without a CHAIN_VERSION bump (pythia_source).
WPRIME_SETTINGS = [
    "Beams:eCM = 13000",
    "Print:quiet = on",
    "Next:numberCount = 0",
    "Random:setSeed = on",
    "Random:seed = 5",
    "Tune:pp = 14",
    "NewGaugeBoson:ffbar2Wprime = on",
    "34:m0 = 3500",
    "9000001:new = Xwp Xwpbar 1 3 0 500 0.5 495 505 0.",
    "9000001:isResonance = on",
    "9000001:oneChannel = 1 0.5 100 2 -1",
    "9000001:addChannel = 1 0.5 100 4 -3",
    "9000002:new = Ywp void 1 0 0 100 0.1 99 101 0.",
    "9000002:isResonance = on",
    "9000002:oneChannel = 1 0.3333333 100 2 -2",
    "9000002:addChannel = 1 0.3333333 100 1 -1",
    "9000002:addChannel = 1 0.3333334 100 3 -3",
    "34:onMode = off",
    "34:addChannel = 1 1.0 100 9000001 9000002",
]
_THREE_PRONG_X = {
    "9000001:oneChannel = 1 0.5 100 2 -1 21",
    "9000001:addChannel = 1 0.5 100 4 -3 21",
}
_THREE_PRONG_Y = {
    "9000002:oneChannel = 1 0.3333333 100 2 -2 21",
    "9000002:addChannel = 1 0.3333333 100 1 -1 21",
    "9000002:addChannel = 1 0.3333334 100 3 -3 21",
}


def test_settings_of_the_existing_processes_are_pinned() -> None:
    assert PythiaConfig(process="wprime").pythia_settings(seed=5) == WPRIME_SETTINGS
    three = PythiaConfig(process="wprime_3prong").pythia_settings(seed=5)
    assert three == [
        s + " 21" if s.startswith("9000001:") and "Channel" in s else s for s in WPRIME_SETTINGS
    ]
    qcd = PythiaConfig().pythia_settings(seed=5)
    assert qcd == [*WPRIME_SETTINGS[:6], "HardQCD:all = on", "PhaseSpace:pTHatMin = 1100"]


def test_three_prong_both_settings() -> None:
    both = PythiaConfig(process="wprime_3prong_both", m_x=300.0, m_y=200.0).pythia_settings(5)
    assert set(both) >= _THREE_PRONG_X | _THREE_PRONG_Y
    assert "9000001:new = Xwp Xwpbar 1 3 0 300 0.3 297 303 0." in both
    assert "9000002:new = Ywp void 1 0 0 200 0.2 198 202 0." in both
    assert "34:addChannel = 1 1.0 100 9000001 9000002" in both
    # apart from the Y -> q qbar g channels, the same as the unequal-prong process
    three = PythiaConfig(process="wprime_3prong", m_x=300.0, m_y=200.0).pythia_settings(5)
    assert set(three) - set(both) == {s.removesuffix(" 21") for s in _THREE_PRONG_Y}


def test_two_body_resonance_settings() -> None:
    qq = PythiaConfig(process="wprime_qq", m_wprime=4000.0).pythia_settings(seed=5)
    assert qq[6:] == [
        "NewGaugeBoson:ffbar2Wprime = on",
        "34:m0 = 4000",
        "34:onMode = off",
        "34:onIfAny = 1 2 3 4",
        "34:offIfAny = 5 6",
    ]
    qstar = PythiaConfig(process="qstar", m_wprime=2500.0).pythia_settings(seed=5)
    assert qstar[:6] == WPRIME_SETTINGS[:6]
    assert qstar[6:] == [
        "ExcitedFermion:dg2dStar = on",
        "ExcitedFermion:ug2uStar = on",
        "ExcitedFermion:Lambda = 2500",
        "4000001:m0 = 2500",
        "4000002:m0 = 2500",
        "4000001:onMode = off",
        "4000001:onIfMatch = 1 21",
        "4000002:onMode = off",
        "4000002:onIfMatch = 2 21",
    ]
    sim = PythiaConfig(process="qstar", variant="simulation").pythia_settings(seed=5)
    assert "Tune:pp = 21" in sim and "ExcitedFermion:Lambda = 3500" in sim


@pytest.mark.parametrize("process", ["qcd", "qstar", "wprime_qq"])
def test_processes_without_daughters_ignore_their_masses(process: str) -> None:
    cfg = PythiaConfig(process=process, m_wprime=1000.0, m_x=3000.0, m_y=600.0)  # X + Y > m: ok
    assert not cfg.has_daughters
    default = PythiaConfig(process=process, m_wprime=1000.0)
    assert cfg.pythia_settings(seed=3) == default.pythia_settings(seed=3)
    assert not any(s.startswith(("9000001", "9000002")) for s in cfg.pythia_settings(seed=3))


def test_process_lists() -> None:
    assert set(PythiaConfig.DAUGHTER_PROCESSES) < set(PROCESSES)
    assert {"qcd", "wprime", "wprime_3prong", "wprime_3prong_both", "wprime_qq", "qstar"} == set(
        PROCESSES
    )
    assert PythiaConfig(process="wprime_3prong_both").has_daughters
    assert not PythiaConfig(process="qcd").has_daughters
    # a class constant, not a field: it does not enter the sample specs (cache keys)
    assert "DAUGHTER_PROCESSES" not in dataclasses.asdict(PythiaConfig())


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


# ---------------------------------------------------------------- the other signal processes (slow)
@pytest.fixture(scope="module")
def two_body_samples() -> dict[str, tuple[EventTable, dict[str, object]]]:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    return {
        "qstar": generate_pythia(60, config=PythiaConfig(process="qstar"), seed=13),
        "wprime_qq": generate_pythia(60, config=PythiaConfig(process="wprime_qq"), seed=14),
    }


@pytest.mark.slow
@pytest.mark.parametrize("process", ["qstar", "wprime_qq"])
def test_two_body_resonances_peak_below_the_mass_with_qcd_like_jets(
    process: str,
    two_body_samples: dict[str, tuple[EventTable, dict[str, object]]],
    qcd_sample: tuple[EventTable, dict[str, object]],
) -> None:
    ev, stats = two_body_samples[process]
    assert len(ev) == 60 and np.all(ev.label == 1) and np.all(_pt(ev)[:, 0] > 1200.0)
    assert stats["sigma_gen_pb"] > 0
    mjj = ev.mjj  # TeV; m = 3.5 TeV
    # peaked near the mass, the median pulled a little below it by the low-mass tail (FSR out of
    # the jets, the PDF-enhanced off-shell Breit-Wigner tail)
    assert 0.9 * 3.5 < np.median(mjj) < 3.5
    assert np.quantile(mjj, 0.75) == pytest.approx(3.5, rel=0.05)
    assert np.quantile(mjj, 0.1) < 0.9 * 3.5
    # no daughter resonances: QCD-like jet masses and N-subjettiness (the two-prong wprime jets
    # have tau21 ~ 0.25-0.4)
    assert np.median(ev.jets[:, 0, 3]) < 300.0  # leading-jet mass, GeV
    assert np.median(ev.feature("mj2")) < 0.4  # heavier jet, TeV (wprime: X at 0.5)
    qcd_tau21 = np.mean(qcd_sample[0].feature("tau21_j2"))
    assert np.mean(ev.feature("tau21_j2")) > qcd_tau21 - 0.1


@pytest.mark.slow
def test_qstar_is_an_excited_quark_decaying_to_a_quark_and_a_gluon() -> None:
    pytest.importorskip("pythia8mc")
    from anomsearch.data.generate.pythia import _make_pythia

    pythia = _make_pythia(PythiaConfig(process="qstar"), seed=1)
    data = pythia.particleData
    for pid in (4000001, 4000002):
        assert data.m0(pid) == pytest.approx(3500.0)
        assert 0.02 < data.mWidth(pid) / 3500.0 < 0.05  # Lambda = m: a ~3.5% width
    decays = set()
    for _ in range(10):
        assert pythia.next()
        for q in pythia.process.particles():
            if abs(q.id()) in (4000001, 4000002):
                kids = range(q.daughter1(), q.daughter2() + 1)
                decays.add(tuple(sorted(abs(pythia.process[k].id()) for k in kids)))
    assert decays and decays <= {(1, 21), (2, 21)}


@pytest.mark.slow
def test_three_prong_both_daughters(qcd_sample: tuple[EventTable, dict[str, object]]) -> None:
    pytest.importorskip("pythia8mc")
    ev, _ = generate_pythia(40, config=PythiaConfig(process="wprime_3prong_both"), seed=15)
    assert np.median(ev.mjj) == pytest.approx(3.5, rel=0.1)
    assert np.median(ev.feature("mj2")) == pytest.approx(0.5, rel=0.15)  # X, TeV
    assert np.median(ev.feature("mj1")) == pytest.approx(0.1, rel=0.3)  # Y, TeV
    qcd = qcd_sample[0]
    for jet in ("j1", "j2"):  # lighter (Y) and heavier (X) jet: both three-prong
        assert np.mean(ev.feature(f"tau32_{jet}")) < np.mean(qcd.feature(f"tau32_{jet}")) - 0.05


# ---------------------------------------------------------------- extra (constituent) features
def test_canonical_extra_features_spells_a_field_set_one_way() -> None:
    from anomsearch.data.features.sets import EFP_FIELDS, EXTRA_JET_FIELDS, NSUB_FIELDS
    from anomsearch.data.generate.pythia import canonical_extra_features

    assert canonical_extra_features(None) is None
    assert canonical_extra_features("standard") is None
    assert canonical_extra_features([]) is None
    assert canonical_extra_features("kitchen_sink") == "kitchen_sink"
    assert canonical_extra_features(list(reversed(EXTRA_JET_FIELDS))) == "kitchen_sink"
    assert canonical_extra_features(list(NSUB_FIELDS)) == "subjettiness"
    assert canonical_extra_features(list(EFP_FIELDS)) == "efp"
    assert canonical_extra_features(["efp3_2", "tau4_b05"]) == ("tau4_b05", "efp3_2")
    with pytest.raises(ConfigError, match=r"^opt: unknown feature set 'kitchen'"):
        canonical_extra_features("kitchen", option="opt")
    with pytest.raises(ConfigError, match=r"unknown extra jet field\(s\) 'tau10_b1'"):
        canonical_extra_features(["tau10_b1"])


def test_bad_extra_features_are_refused_before_generating() -> None:
    with pytest.raises(ConfigError, match=r"generate_pythia\.extra_features: unknown feature set"):
        generate_pythia(1, seed=1, extra_features="everything")


@pytest.mark.parametrize("process", ["qcd", "wprime"])
def test_extra_features_leave_the_events_unchanged(process: str) -> None:
    """The option only adds columns: the same events, standard columns and random sequence; and
    the vectorised call's own 7 standard columns are the chain's per-event ones."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from anomsearch.data.features.batch import compute_jet_features
    from anomsearch.data.features.sets import EXTRA_JET_FIELDS

    cfg = PythiaConfig(process=process)
    plain, plain_stats = generate_pythia(5, config=cfg, seed=5)
    rich, stats = generate_pythia(
        5, config=cfg, seed=5, extra_features="kitchen_sink", return_particles=True
    )
    assert np.array_equal(rich.jets, plain.jets) and np.array_equal(rich.label, plain.label)
    assert stats["n_tried"] == plain_stats["n_tried"] and plain.extra_fields == ()
    assert rich.extra_fields == EXTRA_JET_FIELDS and rich.extra.shape == (5, 2, 80)
    assert stats["feature_seconds"] > 0 and plain_stats["feature_seconds"] == 0
    # the same fields from the raw (pT, eta, phi) particles of the events: the massless
    # four-vectors the chain clustered
    again = compute_jet_features(stats["particles"], extra_features="kitchen_sink")
    np.testing.assert_allclose(again.jets, plain.jets, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(again.extra, rich.extra, rtol=1e-9, atol=1e-12)
    assert np.all(rich.feature("tau3_b05_j1") > 0)


def test_extra_features_with_massive_objects_and_wta_axes() -> None:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    cfg = PythiaConfig(process="qcd", massless_objects=False, nsub_axes="wta_kt")
    plain, _ = generate_pythia(3, config=cfg, seed=2)
    rich, _ = generate_pythia(3, config=cfg, seed=2, extra_features=["tau4_b05", "efp2_1"])
    assert np.array_equal(rich.jets, plain.jets)
    assert rich.extra_fields == ("tau4_b05", "efp2_1") and np.all(rich.extra > 0)


def test_vectorised_jets_that_differ_from_the_chain_are_an_error(monkeypatch) -> None:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    import anomsearch.data.generate.pythia as mod

    real = mod.compute_jet_features

    def shifted(*args, **kwargs):
        result = real(*args, **kwargs)
        return result._replace(jets=result.jets * 1.01)

    monkeypatch.setattr(mod, "compute_jet_features", shifted)
    with pytest.raises(AnomsearchError, match="differ from the Pythia chain's own"):
        generate_pythia(2, seed=3, extra_features="subjettiness")
