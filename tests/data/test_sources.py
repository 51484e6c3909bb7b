"""Pipeline pieces that need no training: reference samples for the reference methods."""

from __future__ import annotations

import pytest

from anomsearch import workflow
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method


def _config(data):
    return {"seed": 3, "data": data}


def test_toy_reference_samples_are_generated_independently():
    method = workflow.attach_reference_samples(
        get_method("supervised"),
        _config({"source": "toy", "n_background": 500, "n_reference_signal": 40}),
    )
    assert len(method.reference_background) == 500
    assert len(method.reference_signal) == 40
    assert int(method.reference_signal.label.sum()) == 40
    again = workflow.attach_reference_samples(
        get_method("supervised"),
        _config({"source": "toy", "n_background": 500, "n_reference_signal": 40}),
    )
    assert (again.reference_background.jets == method.reference_background.jets).all()
    data = workflow.load_dataset(
        {**_config({"source": "toy", "n_background": 500}), "injection": None}
    )
    assert not (data.jets[:10] == method.reference_background.jets[:10]).all()


def test_methods_without_reference_fields_are_untouched():
    cwola = get_method("cwola")
    assert (
        workflow.attach_reference_samples(cwola, _config({"source": "toy", "n_background": 10}))
        is cwola
    )


def test_lhco_idealized_without_reference_path_names_the_field():
    with pytest.raises(ConfigError, match=r"data\.reference_background_path.*'idealized'"):
        workflow.attach_reference_samples(
            get_method("idealized"), _config({"source": "lhco", "path": "/nonexistent.h5"})
        )


@pytest.mark.parametrize("name", ["salad", "sa_cwola"])
def test_simulation_methods_get_a_mismodelled_toy_simulation(name):
    import numpy as np

    data = {"source": "toy", "n_background": 2000, "n_reference_simulation": 3000}
    method = workflow.attach_reference_samples(get_method(name), _config(data))
    sim = method.reference_simulation
    assert len(sim) == 3000 and int(sim.label.sum()) == 0
    exact = workflow.attach_reference_samples(
        get_method(name),
        _config({**data, "simulation": {"jet_mass_scale": 1.0, "tau21_shift": 0.0,
                                        "tau21_mjj_slope": 0.0, "dijet_p2_shift": 0.0}}),
    )  # fmt: skip
    # same seed, the mismodelling alone moves the jet masses up by the default 7%
    ratio = np.median(sim.feature("mj2")) / np.median(exact.reference_simulation.feature("mj2"))
    assert ratio == pytest.approx(1.07, abs=0.03)
    with pytest.raises(ConfigError, match=r"data\.reference_simulation_path.*'salad'"):
        workflow.attach_reference_samples(
            get_method("salad"), _config({"source": "lhco", "path": "/nonexistent.h5"})
        )
