"""The data stage without training: events and the reference samples of the reference methods."""

from __future__ import annotations

import pytest

from anomsearch.config import DataConfig
from anomsearch.config.search_config import derive_seeds
from anomsearch.data.sources import attach_reference_samples, load_events
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method

SEEDS = derive_seeds(3)


def _attach(method, data):
    return attach_reference_samples(method, DataConfig(**data), SEEDS)


def test_toy_reference_samples_are_generated_independently():
    method = _attach(
        get_method("supervised"),
        {"source": "toy", "n_background": 500, "n_reference_signal": 40},
    )
    assert len(method.reference_background) == 500
    assert len(method.reference_signal) == 40
    assert int(method.reference_signal.label.sum()) == 40
    again = _attach(
        get_method("supervised"),
        {"source": "toy", "n_background": 500, "n_reference_signal": 40},
    )
    assert (again.reference_background.jets == method.reference_background.jets).all()
    data = load_events(DataConfig(source="toy", n_background=500), injection=None, seeds=SEEDS)
    assert not (data.jets[:10] == method.reference_background.jets[:10]).all()


def test_methods_without_reference_fields_are_untouched():
    cwola = get_method("cwola")
    assert _attach(cwola, {"source": "toy", "n_background": 10}) is cwola


def test_lhco_idealized_without_reference_path_names_the_field():
    with pytest.raises(ConfigError, match=r"data\.reference_background_path.*'idealized'"):
        _attach(get_method("idealized"), {"source": "lhco", "path": "/nonexistent.h5"})


@pytest.mark.parametrize("name", ["salad", "sa_cwola"])
def test_simulation_methods_get_a_mismodelled_toy_simulation(name):
    import numpy as np

    data = {"source": "toy", "n_background": 2000, "n_reference_simulation": 3000}
    method = _attach(get_method(name), data)
    sim = method.reference_simulation
    assert len(sim) == 3000 and int(sim.label.sum()) == 0
    exact = _attach(get_method(name),
        {**data, "simulation": {"jet_mass_scale": 1.0, "tau21_shift": 0.0,
                                "tau21_mjj_slope": 0.0, "dijet_p2_shift": 0.0}},
    )  # fmt: skip
    # same seed, the mismodelling alone moves the jet masses up by the default 7%
    ratio = np.median(sim.feature("mj2")) / np.median(exact.reference_simulation.feature("mj2"))
    assert ratio == pytest.approx(1.07, abs=0.03)
    with pytest.raises(ConfigError, match=r"data\.reference_simulation_path.*'salad'"):
        _attach(get_method("salad"), {"source": "lhco", "path": "/nonexistent.h5"})


# ---------------------------------------------------------------- LHCO raw files: extra features
def _raw_file(path, n: int = 6):
    """A small LHCO raw-particle file of two back-to-back sprays per event (no generator)."""
    import numpy as np

    from anomsearch.data.io.lhco_raw import particles_to_raw_array, write_raw_h5

    rng = np.random.default_rng(5)
    events = []
    for _ in range(n):
        phi0 = rng.uniform(-np.pi, np.pi)
        parts = []
        for phi, scale in ((phi0, 300.0), (phi0 + np.pi, 200.0)):
            k = int(rng.integers(6, 20))
            parts.append(
                np.stack(
                    [
                        scale * rng.uniform(0.2, 1.0, k),
                        rng.uniform(-0.3, 0.3, k),
                        phi + rng.uniform(-0.3, 0.3, k),
                    ],
                    axis=1,
                )
            )
        events.append(np.concatenate(parts))
    write_raw_h5(particles_to_raw_array(events), path, labels=np.zeros(n))
    return path


def _lhco_config(path, features, extra=None):
    from anomsearch.config import SearchConfig

    data = {"source": "lhco", "path": str(path)}
    if extra is not None:
        data["extra_features"] = extra
    return SearchConfig.from_mapping(
        {
            "name": "raw",
            "data": data,
            "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
            "method": {
                "name": "cwola",
                "features": features,
                "allow_mjj_correlated_features": True,
            },
            "background": {"name": "bumphunt"},
        }
    )


def test_a_raw_file_gets_the_constituent_features_the_method_reads(tmp_path, monkeypatch):
    pytest.importorskip("fastjet")
    import numpy as np

    from anomsearch.data.features.sets import NSUB_FIELDS

    monkeypatch.setenv("ANOMSEARCH_DATA", str(tmp_path / "cache"))
    raw = _raw_file(tmp_path / "raw.h5")
    config = _lhco_config(raw, ["mj1", "tau4_b05_j1"])
    assert config.data.extra_features == "subjettiness"  # derived from method.features
    events = load_events(config.data, injection=None, seeds=SEEDS)
    assert events.extra_fields == NSUB_FIELDS and len(events) == 6
    assert np.all(events.feature("tau4_b05_j1") >= 0)
    plain = load_events(_lhco_config(raw, "standard").data, injection=None, seeds=SEEDS)
    assert plain.extra_fields == () and np.array_equal(plain.jets, events.jets)
    listed = _lhco_config(raw, ["tau4_b05_j1"], extra=["tau4_b05", "efp2_1"])
    custom = load_events(listed.data, injection=None, seeds=SEEDS)
    assert custom.extra_fields == ("tau4_b05", "efp2_1")
    np.testing.assert_array_equal(custom.feature("tau4_b05_j1"), events.feature("tau4_b05_j1"))
    cached = sorted(p.name.split(".", 1)[1] for p in (tmp_path / "cache" / "features").iterdir())
    assert len(cached) == 3 and "features.h5" in cached  # one file per feature set
    assert "subjettiness.features.h5" in cached
    assert any(name.startswith("fields-") for name in cached)
    again = load_events(config.data, injection=None, seeds=SEEDS)  # read back from the cache
    np.testing.assert_array_equal(again.extra, events.extra)
