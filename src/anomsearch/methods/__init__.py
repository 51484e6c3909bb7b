"""Anomaly-score methods behind one interface, and the registry the config resolves names with.

Every method is a dataclass of options with a ``name`` and a ``fit(events, *, regions, seed)`` that
returns a :class:`Scorer`; :func:`cross_score` applies a method with k-fold cross-scoring.

One file per method, holding the method and its scorer: :mod:`~anomsearch.methods.cwola`,
:mod:`~anomsearch.methods.reference` (idealized and supervised), :mod:`~anomsearch.methods.salad`,
:mod:`~anomsearch.methods.sa_cwola`, :mod:`~anomsearch.methods.cathode`,
:mod:`~anomsearch.methods.disco` (DisCo and Double DisCo) and
:mod:`~anomsearch.methods.autoencoder`; beside them :mod:`~anomsearch.methods.base` (the
interface, cross-scoring), :mod:`~anomsearch.methods.options` (the option checks and the
classifier options), :mod:`~anomsearch.methods.classifier` (the classifier methods' scorer) and
:mod:`~anomsearch.methods.scorer_io`. Importing this package, building a method and checking its
options (:func:`get_method`) does not import torch: the networks and training loops of
:mod:`anomsearch.methods.nn` are imported when a method trains or a scorer scores.

Examples:
    >>> print(*sorted(METHODS))
    autoencoder cathode cwola disco double_disco idealized sa_cwola salad supervised
    >>> get_method("cwola", max_epochs=3).max_epochs
    3
"""

from __future__ import annotations

import dataclasses
from typing import Any

from anomsearch.exceptions import ConfigError
from anomsearch.methods.autoencoder import Autoencoder, AutoencoderScorer
from anomsearch.methods.base import (
    AnomalyMethod,
    CrossScores,
    PrefittedMethod,
    Scorer,
    cross_score,
    derive_seed,
    fit_once,
    trains_on_data,
)
from anomsearch.methods.cathode import Cathode
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.cwola import CWoLaHunting
from anomsearch.methods.disco import DEFAULT_DISCO_LAMBDA, DiscoClassifier, DoubleDisco, PairScorer
from anomsearch.methods.options import ClassifierOptions
from anomsearch.methods.reference import IdealizedAnomalyDetector, SupervisedClassifier
from anomsearch.methods.sa_cwola import SACWoLa
from anomsearch.methods.salad import Salad
from anomsearch.methods.scorer_io import load_scorer

__all__ = [
    "DEFAULT_DISCO_LAMBDA",
    "METHODS",
    "AnomalyMethod",
    "Autoencoder",
    "AutoencoderScorer",
    "CWoLaHunting",
    "Cathode",
    "ClassifierOptions",
    "ClassifierScorer",
    "CrossScores",
    "DiscoClassifier",
    "DoubleDisco",
    "IdealizedAnomalyDetector",
    "PairScorer",
    "PrefittedMethod",
    "SACWoLa",
    "Salad",
    "Scorer",
    "SupervisedClassifier",
    "cross_score",
    "derive_seed",
    "fit_once",
    "get_method",
    "load_scorer",
    "trains_on_data",
]

#: Method name (as written in a config's ``method.name``) -> method class.
METHODS: dict[str, type[Any]] = {
    "autoencoder": Autoencoder,
    "cathode": Cathode,
    "cwola": CWoLaHunting,
    "disco": DiscoClassifier,
    "double_disco": DoubleDisco,
    "idealized": IdealizedAnomalyDetector,
    "sa_cwola": SACWoLa,
    "salad": Salad,
    "supervised": SupervisedClassifier,
}


def get_method(name: str, /, **options: Any) -> AnomalyMethod:
    """Build a method from its registry name and options.

    Args:
        name: a key of :data:`METHODS`.
        **options: the method's options (dataclass fields).

    Returns:
        The configured method.

    Raises:
        ConfigError: unknown ``name`` (message names ``method.name`` and lists the available
            methods), unknown option (names ``method.<option>`` and lists the valid ones), or an
            invalid option value.
    """
    if name not in METHODS:
        raise ConfigError(
            f"method.name: unknown method {name!r}; available: {', '.join(sorted(METHODS))}"
        )
    cls = METHODS[name]
    valid = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"method.{unknown[0]}: unknown option for method {name!r}; valid options: "
            + ", ".join(valid)
        )
    return cls(**options)
