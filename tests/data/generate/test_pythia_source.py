"""``data.source: pythia``: configs whose datasets come from the Pythia chain, cached and resumable
(``anomsearch.data.generate.pythia_source`` and its wiring in the config layer and the pipeline)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from anomsearch.config import PythiaOptions, load_config
from anomsearch.data.events import EventTable
from anomsearch.data.generate import pythia_chunks, pythia_source
from anomsearch.data.generate.pythia_source import SampleSpec, pythia_sample_spec, sample_key
from anomsearch.data.io.lhco import read_features_h5
from anomsearch.data.sources import attach_reference_samples, load_events
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method

CONFIG = {
    "name": "p",
    "seed": 1,
    "data": {
        "source": "pythia",
        "n_background": 40,
        "n_signal_pool": 20,
        "pythia": {"n_jobs": 1, "chunk_size": 20},
    },
    "injection": {"n_signal": 5},
    "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    "method": {"name": "cwola"},
    "background": {"name": "bumphunt"},
}
VERSIONS = {"pythia8mc": "8", "fastjet": "3"}


def _with(path: str, value: object, base: dict | None = None) -> dict:
    cfg = copy.deepcopy(CONFIG if base is None else base)
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return cfg


def _opts(data: dict) -> PythiaOptions:
    """The typed ``data.pythia`` section of a ``data`` mapping."""
    return PythiaOptions(**data.get("pythia", {}))


def _load_events(cfg: dict) -> EventTable:
    """The events of a config mapping, as ``anomsearch run`` loads them."""
    config = load_config(cfg)
    return load_events(config.data, injection=config.injection, seeds=config.derived_seeds())


def _entries(cache: Path) -> set[str]:
    root = cache / "generated"
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


# ---------------------------------------------------------------- no Pythia needed
@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("data.pythia.signal_process", "ttbar", r"field data\.pythia\.signal_process"),
        ("data.pythia.masses", {"wprime": 3500, "x": 3000, "y": 600}, r"data\.pythia\.masses.*m_x"),
        ("data.pythia.masses", {"wprime": -1}, r"field data\.pythia\.masses\.wprime"),
        ("data.pythia.masses", {"z": 1}, r"field data\.pythia\.masses.*'z'"),
        ("data.pythia.n_jobs", 0, r"field data\.pythia\.n_jobs"),
        ("data.pythia.chunk_size", 0, r"field data\.pythia\.chunk_size"),
        ("data.pythia.pthat_min", -5, r"field data\.pythia\.pthat_min"),
        ("data.pythia.fsr_alpha_s_simulation", 0.7, r"data\.pythia\.fsr_alpha_s_simulation"),
        ("data.pythia.bogus", 1, r"field data\.pythia: Additional properties.*'bogus'"),
        ("data.n_signal_pool", 3, r"data\.n_signal_pool: 3 signal events cannot supply"),
        ("data.n_background", KeyError, r"data\.n_background: required when data\.source is 'pyt"),
        ("data.path", "x.h5", r"data\.path: not used when data\.source is 'pythia'"),
        ("data.toy", {"resonance_mass": 3.0}, r"data\.toy: not used when data\.source is 'pyth"),
        ("method.name", "salad", r"data\.n_reference_simulation: method 'salad' needs"),
        ("method.name", "idealized", r"data\.n_reference_background: method 'idealized' needs"),
    ],
)
def test_bad_pythia_settings_name_the_field(tmp_path, field, value, match) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_with(field, value)))
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_pythia_keys_elsewhere_are_errors() -> None:
    toy = _with("data", {"source": "toy", "n_background": 10, "n_signal_pool": 5})
    with pytest.raises(ConfigError, match=r"data\.n_signal_pool: not used when.*'toy'"):
        load_config(toy)
    lhco = _with("data", {"source": "lhco", "path": "x.h5", "pythia": {}})
    with pytest.raises(ConfigError, match=r"data\.pythia: only used when data\.source is 'pyth"):
        load_config(lhco)


def test_resolve_records_the_generator_settings() -> None:
    resolved = load_config(CONFIG).to_dict()
    options = resolved["data"]["pythia"]
    assert options["masses"] == {"wprime": 3500.0, "x": 500.0, "y": 100.0}
    assert options["signal_process"] == "wprime" and options["chunk_size"] == 20
    assert options["n_jobs"] == 1  # kept as given
    bare = load_config(_with("data.pythia", {})).to_dict()
    assert "n_jobs" not in bare["data"]["pythia"]  # machine-dependent: never filled in
    assert bare["data"]["n_signal_pool"] == 20  # as given
    no_pool = load_config(_with("data.n_signal_pool", KeyError)).to_dict()
    assert no_pool["data"]["n_signal_pool"] == 5  # default: injection.n_signal
    assert load_config(resolved) == load_config(CONFIG)  # a resolved config is still valid


def test_sample_specs_and_keys() -> None:
    data = CONFIG["data"]
    qcd = pythia_sample_spec(_opts(data), "background", 40, 7)
    assert qcd.config.process == "qcd" and qcd.config.variant == "data" and qcd.chunk_size == 20
    heavier = _with("data.pythia.masses", {"wprime": 4000})["data"]
    # the signal masses do not touch the QCD samples' identity, only the signal's
    assert pythia_sample_spec(_opts(heavier), "background", 40, 7) == qcd
    sig, sig4 = (pythia_sample_spec(_opts(d), "signal", 20, 7) for d in (data, heavier))
    assert sample_key(sig, versions=VERSIONS) != sample_key(sig4, versions=VERSIONS)
    sim = pythia_sample_spec(_opts(data), "simulation", 40, 7)
    assert sim.config.variant == "simulation"
    keys = {
        sample_key(s, versions=VERSIONS)
        for s in (qcd, qcd._replace(seed=8), qcd._replace(chunk_size=10), sim)
    }
    assert len(keys) == 4
    # samples of any size are prefixes of one stream: n is not part of the key
    assert sample_key(qcd._replace(n=41), versions=VERSIONS) == sample_key(qcd, versions=VERSIONS)
    assert sample_key(qcd, versions=VERSIONS) != sample_key(
        qcd, versions={**VERSIONS, "fastjet": "4"}
    )
    assert isinstance(qcd, SampleSpec)


def test_signal_processes_are_the_schema_enum() -> None:

    from anomsearch.config import config_schema
    from anomsearch.data.generate.pythia import PROCESSES

    schema = config_schema()  # the file's structure with the sections' defaults
    options = schema["properties"]["data"]["properties"]["pythia"]["properties"]
    assert options["signal_process"]["enum"] == list(pythia_source.SIGNAL_PROCESSES)
    assert options["signal_process"]["default"] == pythia_source.SIGNAL_PROCESSES[0]
    assert set(pythia_source.SIGNAL_PROCESSES) == set(PROCESSES) - {"qcd"}


@pytest.mark.parametrize("process", pythia_source.SIGNAL_PROCESSES)
def test_every_signal_process_maps_its_masses(process: str) -> None:
    masses = {"wprime": 3000, "x": 300, "y": 200}
    data = {"pythia": {"signal_process": process, "masses": masses}}
    cfg = pythia_sample_spec(_opts(data), "signal", 10, 3).config
    assert cfg.process == process and cfg.m_wprime == 3000.0
    if cfg.has_daughters:
        assert (cfg.m_x, cfg.m_y) == (300.0, 200.0)
    else:  # ignored: the defaults, whatever x and y say
        assert (cfg.m_x, cfg.m_y) == (500.0, 100.0)
    assert pythia_sample_spec(_opts(data), "background", 10, 3).config.process == "qcd"


@pytest.mark.parametrize("process", ["qstar", "wprime_qq"])
def test_masses_a_process_does_not_use_leave_its_cache_key(process: str) -> None:
    def key(masses: dict[str, float]) -> str:
        data = {"pythia": {"signal_process": process, "masses": masses}}
        return sample_key(pythia_sample_spec(_opts(data), "signal", 10, 3), versions=VERSIONS)

    base = key({})
    assert key({"x": 300, "y": 200}) == base
    assert key({"wprime": 3500, "x": 3000, "y": 900}) == base  # X + Y > W': irrelevant here
    assert key({"wprime": 3000}) != base


def test_signal_keys_differ_between_processes_and_daughter_masses() -> None:
    def key(process: str, **masses: float) -> str:
        data = {"pythia": {"signal_process": process, "masses": masses}}
        return sample_key(pythia_sample_spec(_opts(data), "signal", 10, 3), versions=VERSIONS)

    keys = {key(p) for p in pythia_source.SIGNAL_PROCESSES}
    assert len(keys) == len(pythia_source.SIGNAL_PROCESSES)
    assert key("wprime_3prong_both", x=300, y=200) != key("wprime_3prong_both")
    assert key("wprime", x=300, y=200) != key("wprime")


def test_the_existing_signal_specs_are_unchanged() -> None:
    """The wprime sample's spec (hence its cache key) is what it was before the other processes."""
    spec = pythia_sample_spec(_opts({"pythia": {"masses": {"x": 300, "y": 200}}}), "signal", 10, 3)
    assert spec.as_dict()["config"] == {
        "process": "wprime",
        "variant": "data",
        "sqrt_s": 13000.0,
        "pthat_min": 1100.0,
        "m_wprime": 3500.0,
        "m_x": 300.0,
        "m_y": 200.0,
        "jet_radius": 1.0,
        "eta_max": 2.5,
        "trigger_pt": 1200.0,
        "fsr_alpha_s_simulation": 0.118,
        "nsub_axes": "kt",
        "max_tries_factor": 200,
        "massless_objects": True,
    }


@pytest.mark.parametrize(
    ("pythia", "match"),
    [
        ({"signal_process": "qcd"}, r"config field data\.pythia\.signal_process: .*'qcd'"),
        ({"signal_process": "zprime"}, r"config field data\.pythia\.signal_process"),
        (
            {"signal_process": "qstar", "masses": {"wprime": 50}},
            r"config field data\.pythia\.masses: PythiaConfig\.m_wprime .*qstar",
        ),
        (
            {"signal_process": "wprime_3prong_both", "masses": {"x": 3000, "y": 600}},
            r"config field data\.pythia\.masses: PythiaConfig\.m_x \+ m_y",
        ),
        (
            {"signal_process": "wprime_qq", "masses": {"wprime": 20000}},
            r"config field data\.pythia\.masses: PythiaConfig\.m_wprime .*sqrt_s",
        ),
    ],
)
def test_bad_signal_settings_name_the_field(pythia: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        pythia_sample_spec(PythiaOptions(**pythia), "signal", 10, 3)


def test_missing_generator_names_data_source_and_the_extra(monkeypatch) -> None:
    real = pythia_source.importlib.util.find_spec
    monkeypatch.setattr(
        pythia_source.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pythia8mc" else real(name, *a),
    )
    with pytest.raises(ConfigError, match=r"data\.source.*pythia8mc is not installed.*generate"):
        _load_events(CONFIG)


# ---------------------------------------------------------------- Pythia runs (slow)
@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def in_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANOMSEARCH_DATA", str(cache))
    return cache


@pytest.fixture(scope="module")
def first(cache: Path) -> tuple[object, set[str]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANOMSEARCH_DATA", str(cache))
        events = _load_events(CONFIG)
    return events, _entries(cache)


@pytest.mark.slow
def test_counts_labels_and_cache_layout(first, cache: Path) -> None:
    events, entries = first
    assert len(events) == 45 and int(events.label.sum()) == 5
    assert len(entries) == 2  # the QCD background and the signal pool
    layout = {}
    for e in entries:
        spec = json.loads((cache / "generated" / e / "sample.json").read_text())
        assert "n" not in spec and spec["chunk_size"] == 20  # the stream, whatever the size
        files = sorted(p.name for p in (cache / "generated" / e).iterdir())
        layout[spec["config"]["process"]] = files
    assert layout == {
        "qcd": ["chunks", "features_40.h5", "sample.json"],
        "wprime": ["chunks", "features_20.h5", "sample.json"],
    }
    signal = events.subset(events.label == 1)
    assert np.median(signal.mjj) == pytest.approx(3.5, rel=0.2)  # TeV
    pt = np.hypot(events.jets[:, 0, 0], events.jets[:, 0, 1])
    assert np.all(pt > 1200.0)


@pytest.mark.slow
def test_second_run_reuses_the_cache(first, in_cache: Path, monkeypatch, caplog) -> None:
    def no_generation(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(pythia_chunks, "generate_pythia_chunks", no_generation)
    with caplog.at_level(logging.INFO, logger="anomsearch.data.generate.pythia_source"):
        again = _load_events(CONFIG)
    assert caplog.text.count("reusing generated sample") == 2
    np.testing.assert_array_equal(again.jets, first[0].jets)
    np.testing.assert_array_equal(again.label, first[0].label)
    assert _entries(in_cache) == first[1]


@pytest.mark.slow
def test_samples_grow_and_shrink_along_their_stream(first, in_cache: Path, monkeypatch) -> None:
    data = CONFIG["data"]
    seed = load_config(CONFIG).derived_seeds()["background"]
    forty = pythia_source.generated_sample(pythia_sample_spec(_opts(data), "background", 40, seed))

    def no_generation(*args, **kwargs):
        raise AssertionError("generated again")

    with monkeypatch.context() as mp:  # fewer events: the first ones of the cached chunks
        mp.setattr(pythia_chunks, "generate_pythia", no_generation)
        thirty = pythia_source.generated_sample(
            pythia_sample_spec(_opts(data), "background", 30, seed)
        )
    np.testing.assert_array_equal(thirty.jets, forty.jets[:30])
    # more events: only the missing chunk is generated, the first 40 events stay
    calls = []
    real = pythia_chunks.generate_pythia
    monkeypatch.setattr(
        pythia_chunks, "generate_pythia", lambda n, **kw: calls.append(n) or real(n, **kw)
    )
    fifty = pythia_source.generated_sample(pythia_sample_spec(_opts(data), "background", 50, seed))
    assert calls == [10]
    np.testing.assert_array_equal(fifty.jets[:40], forty.jets)
    key = sample_key(pythia_sample_spec(_opts(data), "background", 50, seed))
    assert key in first[1]  # the entry of the first run's background, no new one
    names = sorted(p.name for p in (in_cache / "generated" / key).glob("features_*.h5"))
    assert names == ["features_30.h5", "features_40.h5", "features_50.h5"]


@pytest.mark.slow
def test_same_seed_same_events_different_seed_new_entry(first, tmp_path, monkeypatch) -> None:
    # a fresh cache regenerates bit-identical events from the same config
    monkeypatch.setenv("ANOMSEARCH_DATA", str(tmp_path / "fresh"))
    fresh = _load_events(CONFIG)
    np.testing.assert_array_equal(fresh.jets, first[0].jets)
    assert _entries(tmp_path / "fresh") == first[1]
    # another master seed: new cache entries and other events (background only, to stay quick)
    other = _with("seed", 2, _with("injection", None, _with("data.n_background", 10)))
    events = _load_events(other)
    assert len(events) == 10 and int(events.label.sum()) == 0
    new = _entries(tmp_path / "fresh") - first[1]
    assert len(new) == 1
    assert not np.isin(events.jets[:, 0, 0], first[0].jets[:, 0, 0]).any()


@pytest.mark.slow
def test_reference_simulation_for_salad(first, in_cache: Path) -> None:
    cfg = _with("method.name", "salad", _with("data.n_reference_simulation", 8))
    config = load_config(cfg)
    method = attach_reference_samples(get_method("salad"), config.data, config.derived_seeds())
    sim = method.reference_simulation
    assert len(sim) == 8 and int(sim.label.sum()) == 0
    new = _entries(in_cache) - first[1]
    assert len(new) == 1
    spec = json.loads((in_cache / "generated" / new.pop() / "sample.json").read_text())
    assert spec["config"]["variant"] == "simulation" and spec["config"]["process"] == "qcd"
    assert not np.isin(sim.jets[:, 0, 0], first[0].jets[:, 0, 0]).any()


@pytest.mark.slow
def test_an_interrupted_generation_resumes(in_cache: Path, monkeypatch) -> None:
    spec = SampleSpec(pythia_source.PythiaConfig(process="qcd"), n=6, seed=99, chunk_size=3)
    calls: list[object] = []
    real_generate = pythia_chunks.generate_pythia_chunks

    def spy(*args, **kwargs):
        run = real_generate(*args, **kwargs)
        calls.append(run)
        return run

    def killed(*args, **kwargs):  # dies after the chunks, before the features file is written
        raise KeyboardInterrupt

    monkeypatch.setattr(pythia_chunks, "generate_pythia_chunks", spy)
    monkeypatch.setattr(pythia_chunks, "merge_chunks", killed)
    with pytest.raises(KeyboardInterrupt):
        pythia_source.generated_sample(spec, n_jobs=1)
    monkeypatch.undo()
    monkeypatch.setenv("ANOMSEARCH_DATA", str(in_cache))
    monkeypatch.setattr(pythia_chunks, "generate_pythia_chunks", spy)
    events = pythia_source.generated_sample(spec, n_jobs=1)
    assert len(events) == 6
    assert calls[0].generated == (0, 1)
    assert calls[1].generated == () and calls[1].skipped == (0, 1)  # nothing generated twice


@pytest.mark.slow
def test_a_raw_particle_file_is_read_through_its_features(in_cache: Path, tmp_path) -> None:
    """An LHCO raw file (e.g. a black box as downloaded) as data.path: its features are computed
    once with fastjet, cached, and equal those of the generator that wrote it."""
    run_dir = tmp_path / "run"
    pythia_chunks.generate_pythia_chunks(
        6, seed=5, out_dir=run_dir, chunk_size=6, n_jobs=1, progress=False, raw=True
    )
    merged = pythia_chunks.merge_chunks(
        run_dir, tmp_path / "f.h5", raw_path=tmp_path / "raw.h5", master_key=tmp_path / "key.txt"
    )
    cfg = _with(
        "data",
        {"source": "lhco", "path": str(merged.raw_path), "master_key": str(merged.master_key)},
    )
    cfg["injection"] = None
    events = _load_events(cfg)
    direct = read_features_h5(merged.features_path, master_key=merged.master_key)
    np.testing.assert_allclose(events.jets, direct.jets, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(events.label, direct.label)
    assert len(list((in_cache / "features").glob("raw-*.features.h5"))) == 1
    again = _load_events(cfg)
    np.testing.assert_array_equal(again.jets, events.jets)


# ---------------------------------------------------------------- extra (constituent) features
def test_extra_features_enter_the_spec_and_key_only_when_set() -> None:
    """Streams without extra features keep the keys they had before the option existed."""
    import hashlib

    from anomsearch.data.features.sets import EXTRA_JET_FIELDS

    assert pythia_source.CHAIN_VERSION == 1
    data = CONFIG["data"]
    plain = pythia_sample_spec(_opts(data), "background", 40, 7)
    assert plain.extra_features is None and "extra_features" not in plain.as_dict()
    old_payload = {
        "config": plain.as_dict()["config"],
        "seed": 7,
        "chunk_size": 20,
        "chain_version": 1,
        "versions": VERSIONS,
    }  # what sample_key hashed before the option
    text = json.dumps(old_payload, sort_keys=True, separators=(",", ":"))
    assert sample_key(plain, versions=VERSIONS) == hashlib.sha256(text.encode()).hexdigest()

    def spec(extra: object, kind: str = "background") -> SampleSpec:
        return pythia_sample_spec(
            _opts(_with("data.pythia.extra_features", extra)["data"]), kind, 40, 7
        )

    def key(extra: object, kind: str = "background") -> str:
        return sample_key(spec(extra, kind), versions=VERSIONS)

    assert spec("standard") == plain and key("standard") == key(None)  # no extra fields
    rich = spec("kitchen_sink")
    assert rich.as_dict()["extra_features"] == "kitchen_sink"
    assert rich.config == plain.config  # the same events ...
    assert key("kitchen_sink") != key(None)  # ... in a stream of their own
    assert key(list(EXTRA_JET_FIELDS)) == key("kitchen_sink")  # one spelling
    assert key(["efp3_2", "tau4_b05"]) == key(["tau4_b05", "efp3_2"]) != key("subjettiness")
    assert spec(["efp3_2", "tau4_b05"]).as_dict()["extra_features"] == ["tau4_b05", "efp3_2"]
    for kind in ("signal", "simulation"):  # every sample of the config carries them
        assert spec("efp", kind).extra_features == "efp" and key("efp", kind) != key(None, kind)
    assert "kitchen_sink" in rich.describe()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("kitchen", r"config field data\.pythia\.extra_features: unknown feature set 'kitchen'"),
        (["tau0_b1"], r"config field data\.pythia\.extra_features: unknown extra jet field"),
        ([1, 2], r"config field data\.pythia\.extra_features: field names must be strings"),
        (5, r"config field data\.pythia\.extra_features: must be a feature-set name"),
    ],
)
def test_bad_extra_features_name_the_field(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PythiaOptions(extra_features=value)  # type: ignore[arg-type]


@pytest.mark.slow
def test_samples_with_extra_features_are_their_own_stream(first, in_cache: Path) -> None:
    """``config_sample`` with ``data.pythia.extra_features``: the same events as the stream
    without, with the extra columns, in a cache entry of their own."""
    data = _with("data.pythia.extra_features", ["tau4_b05", "efp2_1"])["data"]
    seed = load_config(CONFIG).derived_seeds()["background"]
    events = pythia_source.config_sample(_opts(data), "background", 6, seed)
    assert events.extra_fields == ("tau4_b05", "efp2_1") and events.extra.shape == (6, 2, 2)
    plain = pythia_source.config_sample(_opts(CONFIG["data"]), "background", 6, seed)
    np.testing.assert_array_equal(events.jets, plain.jets)
    key = sample_key(pythia_sample_spec(_opts(data), "background", 6, seed))
    assert key not in first[1] and key in _entries(in_cache)
    spec = json.loads((in_cache / "generated" / key / "sample.json").read_text())
    assert spec["extra_features"] == ["tau4_b05", "efp2_1"]
    again = pythia_source.config_sample(_opts(data), "background", 6, seed)  # read back
    np.testing.assert_array_equal(again.extra, events.extra)
