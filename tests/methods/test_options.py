"""The option checks of the methods, and building methods without importing torch."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods import METHODS, ClassifierOptions
from anomsearch.methods.options import (
    check_accelerator,
    check_event_table,
    check_features,
    check_non_negative,
    check_positive,
    check_simulation,
    check_training_options,
    check_widths,
    stratified_folds,
)

#: One invalid option per method: building the method must raise ConfigError naming it.
BAD_OPTION = {
    "autoencoder": ("latent_dim", 0),
    "cathode": ("flow_kind", "glow"),
    "cwola": ("max_epochs", 0),
    "disco": ("disco_lambda", -1.0),
    "double_disco": ("train_range", [4.0, 3.0]),
    "idealized": ("reference_background", "events.h5"),
    "sa_cwola": ("sim_lambda", -0.5),
    "salad": ("weight_clip", 0.5),
    "supervised": ("val_fraction", 1.0),
}


def test_building_and_checking_every_method_does_not_import_torch() -> None:
    """``import anomsearch.methods`` and ``get_method`` (what the config checks call), valid and
    invalid options, the exported scorer classes and ``load_scorer``: none imports torch,
    Lightning or zuko (checked in a fresh interpreter)."""
    assert sorted(BAD_OPTION) == sorted(METHODS)
    script = textwrap.dedent(
        f"""
        import sys
        import anomsearch.methods as m
        from anomsearch.exceptions import ConfigError

        for name in m.METHODS:
            m.get_method(name)
            m.get_method(name, max_epochs=3)
        for name, (option, value) in {BAD_OPTION!r}.items():
            try:
                m.get_method(name, **{{option: value}})
            except ConfigError as err:
                assert f"method.{{option}}" in str(err), (name, str(err))
            else:
                raise AssertionError(f"{{name}}: {{option}}={{value!r}} accepted")
        assert m.ClassifierScorer and m.AutoencoderScorer and m.PairScorer and m.load_scorer
        loaded = sorted(x for x in ("torch", "lightning", "zuko") if x in sys.modules)
        assert not loaded, loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("value", "integer", "ok"),
    [
        (1e-3, False, True),
        (3, True, True),
        (3.0, True, True),
        (2.5, True, False),
        (0, False, False),
        (-1, False, False),
        (float("inf"), False, False),
        (float("nan"), False, False),
        (True, True, False),
        ("3", True, False),
    ],
)
def test_check_positive(value: object, integer: bool, ok: bool) -> None:
    if ok:
        check_positive("x", value, integer=integer)
    else:
        with pytest.raises(ConfigError, match=r"^method\.x must be a positive"):
            check_positive("x", value, integer=integer)


def test_check_non_negative() -> None:
    assert check_non_negative("lam", 0) == 0.0
    assert isinstance(check_non_negative("lam", 2), float)
    for bad in (-0.1, float("nan"), float("inf"), True, "1", None):
        with pytest.raises(ConfigError, match=r"^method\.lam must be a finite number >= 0"):
            check_non_negative("lam", bad)


def test_check_widths() -> None:
    assert check_widths("hidden", [8, 4.0]) == (8, 4)
    assert check_widths("hidden", 16) == (16,)
    assert check_widths("hidden", ()) == ()
    with pytest.raises(ConfigError, match=r"method\.flow_hidden must list at least one"):
        check_widths("flow_hidden", [], allow_empty=False)
    with pytest.raises(ConfigError, match=r"method\.hidden must be a list of layer widths"):
        check_widths("hidden", "64")
    with pytest.raises(ConfigError, match=r"method\.hidden must be a positive integer"):
        check_widths("hidden", [8, 0])


def test_check_features() -> None:
    assert check_features(["mj1", "tau21_j1"], no_mjj_reason="x") == ("mj1", "tau21_j1")
    with pytest.raises(ConfigError, match="at least one"):
        check_features([], no_mjj_reason="x")
    with pytest.raises(ConfigError, match="unknown feature 'pt'"):
        check_features(["pt"], no_mjj_reason="x")
    with pytest.raises(ConfigError, match="'mjj' cannot be an input here"):
        check_features(["mjj"], no_mjj_reason="an input here")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("lr", 0.0),
        ("weight_decay", -1e-4),
        ("batch_size", 1),
        ("batch_size", 64.5),
        ("max_epochs", 0),
        ("patience", 0),
        ("top_epochs", 0),
        ("top_epochs", 1.5),
        ("val_fraction", 0.0),
        ("val_fraction", 1.0),
    ],
)
def test_check_training_options(option: str, value: object) -> None:
    good = {
        "lr": 1e-3,
        "weight_decay": 0.0,
        "batch_size": 64,
        "max_epochs": 2,
        "patience": 1,
        "val_fraction": 0.2,
    }
    check_training_options(**good)
    with pytest.raises(ConfigError, match=rf"^method\.{option} "):
        check_training_options(**{**good, option: value})
    with pytest.raises(ConfigError, match=rf"^{option} "):
        check_training_options(**{**good, option: value}, prefix="")


def test_check_accelerator_and_tables() -> None:
    check_accelerator("cpu")
    with pytest.raises(ConfigError, match=r"method\.accelerator"):
        check_accelerator("")
    check_event_table("reference_background", None)
    with pytest.raises(ConfigError, match=r"method\.reference_background must be an EventTable"):
        check_event_table("reference_background", [1, 2])


def test_check_simulation() -> None:
    jets = np.zeros((3, 2, 7))
    with pytest.raises(ConfigError, match=r"method\.reference_simulation"):
        check_simulation("salad", None)
    with pytest.raises(DataFormatError, match="background only"):
        check_simulation("salad", EventTable(jets, label=np.array([0, 1, 0], dtype=np.int8)))
    sim = EventTable(jets, label=np.zeros(3, dtype=np.int8))
    assert check_simulation("salad", sim) is sim


def test_stratified_folds_needs_k_events_per_class() -> None:
    with pytest.raises(DataFormatError, match="class 1 has 2 event"):
        stratified_folds(np.array([0, 0, 0, 1, 1]), 3, seed=0)


def test_classifier_options_feed_every_trainer() -> None:
    """``training_options()`` are keyword arguments of every MLP trainer (checked by signature,
    without training)."""
    from anomsearch.methods.nn.classifier_training import train_classifier
    from anomsearch.methods.nn.disco_training import train_disco_classifier, train_double_disco
    from anomsearch.methods.nn.sim_assisted_training import train_sim_assisted_classifier

    options = ClassifierOptions(hidden=[8], batch_size=64).training_options()
    assert options["hidden"] == (8,) and options["batch_size"] == 64
    for trainer in (
        train_classifier,
        train_disco_classifier,
        train_double_disco,
        train_sim_assisted_classifier,
    ):
        assert set(options) <= set(inspect.signature(trainer).parameters), trainer.__name__


def test_mlp_training_defaults() -> None:
    """The MLP defaults for weak supervision at 5e4-1e6 events (benchmarks/nn_training.py), the
    same in :func:`train_classifier`; DisCo keeps large batches and the best epoch."""
    from anomsearch.methods import DiscoClassifier, DoubleDisco
    from anomsearch.methods.nn.classifier_training import train_classifier

    opts = ClassifierOptions()
    assert (opts.batch_size, opts.max_epochs, opts.patience, opts.top_epochs) == (256, 50, 8, 5)
    defaults = inspect.signature(train_classifier).parameters
    for name, value in opts.training_options().items():
        if name != "accelerator":
            assert defaults[name].default == value, name
    assert opts.training_options()["top_epochs"] == 5
    for disco in (DiscoClassifier(), DoubleDisco()):
        kept = (disco.batch_size, disco.max_epochs, disco.patience, disco.top_epochs)
        assert kept == (1024, 15, 4, 1)


@pytest.mark.parametrize("value", [0, -3, 2.5, "5", None, True])
def test_top_epochs_errors_name_the_option(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^method\.top_epochs must be a positive integer"):
        ClassifierOptions(top_epochs=value)
    with pytest.raises(ConfigError, match=r"method\.top_epochs"):
        METHODS["cwola"](top_epochs=value)


def test_classifier_options_accept_a_valid_set_and_reject_bad_ones() -> None:
    opts = ClassifierOptions(
        features="mj1", hidden=(16,), inner_folds=2, dropout=0.1, classifier="mlp"
    )
    assert opts.features == ("mj1",) and opts.inner_folds == 2
    for option, value in (("dropout", 1.0), ("inner_folds", 1), ("accelerator", 3)):
        with pytest.raises(ConfigError, match=rf"method\.{option}"):
            ClassifierOptions(**{option: value, "classifier": "mlp"})
