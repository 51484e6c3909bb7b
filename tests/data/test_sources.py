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
