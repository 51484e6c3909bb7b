"""Pipeline pieces that need no training: reference samples for the reference methods."""

from __future__ import annotations

import pytest

from anomsearch import pipeline
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method


def _config(data):
    return {"seed": 3, "data": data}


def test_toy_reference_samples_are_generated_independently():
    method = pipeline.attach_reference_samples(
        get_method("supervised"),
        _config({"source": "toy", "n_background": 500, "n_reference_signal": 40}),
    )
    assert len(method.reference_background) == 500
    assert len(method.reference_signal) == 40
    assert int(method.reference_signal.label.sum()) == 40
    again = pipeline.attach_reference_samples(
        get_method("supervised"),
        _config({"source": "toy", "n_background": 500, "n_reference_signal": 40}),
    )
    assert (again.reference_background.jets == method.reference_background.jets).all()
    data = pipeline.load_dataset(
        {**_config({"source": "toy", "n_background": 500}), "injection": None}
    )
    assert not (data.jets[:10] == method.reference_background.jets[:10]).all()


def test_methods_without_reference_fields_are_untouched():
    cwola = get_method("cwola")
    assert (
        pipeline.attach_reference_samples(cwola, _config({"source": "toy", "n_background": 10}))
        is cwola
    )


def test_lhco_idealized_without_reference_path_names_the_field():
    with pytest.raises(ConfigError, match=r"data\.reference_background_path.*'idealized'"):
        pipeline.attach_reference_samples(
            get_method("idealized"), _config({"source": "lhco", "path": "/nonexistent.h5"})
        )
