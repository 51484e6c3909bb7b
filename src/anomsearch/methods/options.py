"""Method options: their checks, declared once, and the options of the MLP-classifier methods.

Everything here is torch-free, so building a method (``get_method(name, **options)``, which the
config checks call) validates its options without importing torch, Lightning or zuko.

* The checks (:func:`check_positive`, :func:`check_features`, :func:`check_training_options`,
  ...) raise :class:`~anomsearch.exceptions.ConfigError` naming the option as
  ``method.<option>``; every method class and every trainer of :mod:`anomsearch.methods.nn` uses
  them.
* :class:`ClassifierOptions` holds the network and training options of every method that trains
  an ensemble of MLP classifiers (CWoLa hunting, the idealized and supervised references, SALAD,
  SA-CWoLa, CATHODE, DisCo) and trains that ensemble into a
  :class:`~anomsearch.methods.classifier.ClassifierScorer` (torch is imported when it trains).

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (classifier training
    for CWoLa hunting, nested k-fold); A. Hallin et al., arXiv:2109.00546 (the same classifier
    trained in the idealized and supervised settings).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from anomsearch.data.events import DERIVED_FEATURES, EventTable
from anomsearch.data.features.sets import FEATURE_SETS, feature_set, is_extra_feature
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier import ClassifierScorer

if TYPE_CHECKING:
    from anomsearch.methods.nn.classifier_training import TrainedClassifier

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_FEATURES",
    "FLOW_KINDS",
    "SCORE_KINDS",
    "ClassifierOptions",
    "check_accelerator",
    "check_event_table",
    "check_features",
    "check_non_negative",
    "check_positive",
    "check_simulation",
    "check_training_options",
    "check_widths",
    "stratified_folds",
]

log = logging.getLogger(__name__)

#: The standard LHCO R&D input features (CATHODE-family conventions, masses in TeV).
DEFAULT_FEATURES: tuple[str, ...] = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")

#: The classifier back-ends of the classifier methods (``method.classifier``).
CLASSIFIERS: tuple[str, ...] = ("mlp", "hgb")

#: Flow architectures of CATHODE: ``"maf"`` (affine MAF) and ``"nsf"`` (rational-quadratic spline).
FLOW_KINDS: tuple[str, ...] = ("maf", "nsf")

#: The anomaly scores of the autoencoder (see
#: :meth:`~anomsearch.methods.nn.autoencoder_training.TrainedAutoencoder.score`).
SCORE_KINDS: tuple[str, ...] = ("mse", "normalized", "latent")


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------
def _real(value: object) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _check_positive(label: str, value: object, *, integer: bool) -> None:
    v = _real(value)
    if v is not None and math.isfinite(v) and v > 0 and (not integer or v.is_integer()):
        return
    kind = "a positive integer" if integer else "a positive number"
    raise ConfigError(f"{label} must be {kind}, got {value!r}")


def check_positive(name: str, value: object, *, integer: bool = False) -> None:
    """Raise unless ``value`` is a finite number > 0 (an integer value with ``integer``).

    Raises:
        ConfigError: naming ``method.<name>``.

    Examples:
        >>> check_positive("lr", 1e-3)
        >>> check_positive("max_epochs", 2.5, integer=True)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.max_epochs must be a positive integer, got 2.5
    """
    _check_positive(f"method.{name}", value, integer=integer)


def check_non_negative(name: str, value: object) -> float:
    """``value`` as a float, if it is a finite number >= 0 (a penalty weight such as a lambda).

    Raises:
        ConfigError: naming ``method.<name>``.

    Examples:
        >>> check_non_negative("disco_lambda", 3)
        3.0
        >>> check_non_negative("sim_lambda", -1.0)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.sim_lambda must be a finite number >= 0, got -1.0
    """
    v = _real(value)
    if v is not None and math.isfinite(v) and v >= 0:
        return v
    raise ConfigError(f"method.{name} must be a finite number >= 0, got {value!r}")


def check_widths(name: str, value: object, *, allow_empty: bool = True) -> tuple[int, ...]:
    """Hidden-layer widths as a tuple of positive ints (a single number is one layer).

    Raises:
        ConfigError: a string, a non-positive or non-integer width, or no width where
            ``allow_empty`` is false; the message names ``method.<name>``.

    Examples:
        >>> check_widths("hidden", [16, 8.0]), check_widths("flow_hidden", 4)
        ((16, 8), (4,))
    """
    if isinstance(value, str | bytes):
        raise ConfigError(f"method.{name} must be a list of layer widths, got {value!r}")
    widths: tuple[object, ...] = (value,) if isinstance(value, numbers.Number) else tuple(value)
    if not widths and not allow_empty:
        raise ConfigError(f"method.{name} must list at least one layer width")
    for w in widths:
        check_positive(name, w, integer=True)
    return tuple(int(w) for w in widths)


def check_features(features: str | Sequence[str], *, no_mjj_reason: str) -> tuple[str, ...]:
    """Input feature names as a tuple: a feature set's, or known features, at least one, and not
    ``mjj``.

    Args:
        features: a feature-set name (:data:`~anomsearch.data.features.sets.FEATURE_SETS`:
            ``standard``, ``subjettiness``, ``efp``, ``kitchen_sink``), or one name or a
            sequence of names of :data:`~anomsearch.data.events.DERIVED_FEATURES` and of the
            constituent features (``tau3_b05_j1``, ``efp2_1_j2``, ...).
        no_mjj_reason: completes "'mjj' cannot be ..." in the error message.

    Raises:
        ConfigError: naming ``method.features``.

    Examples:
        >>> check_features("mj1", no_mjj_reason="an input")
        ('mj1',)
    """
    if isinstance(features, str) and features in FEATURE_SETS:
        return feature_set(features, option="method.features")
    feats = (features,) if isinstance(features, str) else tuple(features)
    if not feats:
        raise ConfigError("method.features must name at least one feature")
    for f in feats:
        if f not in DERIVED_FEATURES and not is_extra_feature(f):
            raise ConfigError(
                f"method.features: unknown feature {f!r}; a feature set ("
                + ", ".join(FEATURE_SETS)
                + ") or names of: "
                + ", ".join(x for x in DERIVED_FEATURES if x != "mjj")
                + ", and the constituent features tau<N>_b<beta>_j<1|2>, efp<d>_<k>_j<1|2>"
            )
    if "mjj" in feats:
        raise ConfigError(f"method.features: 'mjj' cannot be {no_mjj_reason}")
    return feats


def check_sideband_features(
    method: str, features: Sequence[str], *, allow_mjj_correlated_features: object
) -> None:
    """Refuse constituent features for a method trained signal region against sidebands.

    The jet-constituent observables (tau_N^beta, EFPs) of QCD jets depend on the jet mass over
    the jet pT, hence on mjj; a classifier trained to tell the signal region from the sidebands
    learns that dependence and its cut sculpts a bump. Measured with ``benchmarks/sensitivity.py``
    on 200k background-only Pythia QCD events (CWoLa hunting, boosted trees, 3 folds): local Z
    9.2-12.3 at a 10% cut and 4.1-6.6 at 1% with the ``subjettiness`` and ``kitchen_sink`` sets,
    against 0-1.1 with the standard features.

    Args:
        method: the method's name, for the message.
        features: the resolved input feature names.
        allow_mjj_correlated_features: the user's override
            (``method.allow_mjj_correlated_features``).

    Raises:
        ConfigError: a constituent feature without the override.

    Examples:
        >>> check_sideband_features("cwola", ("mj1",), allow_mjj_correlated_features=False)
        >>> check_sideband_features("cwola", ("tau3_b1_j1",), allow_mjj_correlated_features=False)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.features: cwola trains the signal region ...
    """
    if not isinstance(allow_mjj_correlated_features, bool):
        raise ConfigError(
            "method.allow_mjj_correlated_features must be true or false, "
            f"got {allow_mjj_correlated_features!r}"
        )
    constituent = [f for f in features if is_extra_feature(f)]
    if constituent and not allow_mjj_correlated_features:
        raise ConfigError(
            f"method.features: {method} trains the signal region against the sidebands, and the "
            f"constituent features ({', '.join(constituent[:3])}"
            f"{', ...' if len(constituent) > 3 else ''}) depend on mjj for QCD jets: the "
            "classifier learns that dependence and its cut sculpts a bump (background-only Pythia "
            "QCD: local Z 9-12 at a 10% cut). Use them with method cathode, idealized or "
            "supervised, or set method.allow_mjj_correlated_features: true if your features are "
            "decorrelated from mjj"
        )


def check_training_options(
    *,
    lr: object,
    weight_decay: object,
    batch_size: object,
    max_epochs: object,
    patience: object,
    val_fraction: object,
    top_epochs: object = 1,
    prefix: str = "method.",
) -> None:
    """Check the options every network training takes.

    Args:
        lr: Adam learning rate (> 0).
        weight_decay: Adam weight decay (>= 0).
        batch_size: training batch size (an integer >= 2).
        max_epochs: maximum number of epochs (a positive integer).
        patience: early-stopping patience (a positive integer).
        val_fraction: fraction held out for validation, in ``(0, 1)``.
        top_epochs: number of epochs whose outputs a classifier averages (a positive integer;
            fewer are averaged when fewer epochs run).
        prefix: put before each option name in the messages: ``"method."`` for the options of a
            method, ``""`` for the arguments of a trainer of :mod:`anomsearch.methods.nn`.

    Raises:
        ConfigError: an invalid value; the message names the option.

    Examples:
        >>> check_training_options(lr=1e-3, weight_decay=0.0, batch_size=1, max_epochs=1,
        ...                        patience=1, val_fraction=0.2, prefix="")
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: batch_size must be >= 2, got 1
    """
    fraction = _real(val_fraction)
    if fraction is None or not 0.0 < fraction < 1.0:
        raise ConfigError(f"{prefix}val_fraction must be in (0, 1), got {val_fraction!r}")
    decay = _real(weight_decay)
    if decay is None or not decay >= 0:
        raise ConfigError(f"{prefix}weight_decay must be >= 0, got {weight_decay!r}")
    _check_positive(f"{prefix}lr", lr, integer=False)
    for name, value in (
        ("batch_size", batch_size),
        ("max_epochs", max_epochs),
        ("patience", patience),
        ("top_epochs", top_epochs),
    ):
        _check_positive(f"{prefix}{name}", value, integer=True)
    if _real(batch_size) < 2:
        raise ConfigError(f"{prefix}batch_size must be >= 2, got {batch_size!r}")


def check_accelerator(value: object) -> None:
    """Raise unless the Lightning accelerator is a non-empty string.

    Raises:
        ConfigError: naming ``method.accelerator``.
    """
    if not isinstance(value, str) or not value:
        raise ConfigError(f"method.accelerator must be a non-empty string, got {value!r}")


def check_event_table(name: str, value: object) -> None:
    """Raise unless a reference-sample option is an :class:`EventTable` or ``None``.

    Raises:
        ConfigError: naming ``method.<name>``.
    """
    if value is not None and not isinstance(value, EventTable):
        raise ConfigError(
            f"method.{name} must be an EventTable or None, got {type(value).__name__}"
        )


def check_simulation(method: str, simulation: EventTable | None) -> EventTable:
    """Return the background simulation of ``method``, or raise a clear error.

    Args:
        method: registry name of the method, for the message.
        simulation: the ``reference_simulation`` option.

    Raises:
        ConfigError: no simulation was given.
        DataFormatError: the simulation has events labelled signal.

    Examples:
        >>> check_simulation("sa_cwola", None)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method sa_cwola needs a background simulation \
(method.reference_simulation: background-only simulated events covering the signal region and \
the sidebands); none was given
    """
    if simulation is None:
        raise ConfigError(
            f"method {method} needs a background simulation (method.reference_simulation: "
            "background-only simulated events covering the signal region and the sidebands); "
            "none was given"
        )
    if simulation.label is not None and np.any(simulation.label == 1):
        raise DataFormatError(
            f"method {method}: the reference simulation (method.reference_simulation) has "
            f"{int(simulation.label.sum())} events with 'label' 1 (signal); it must be "
            "background only"
        )
    return simulation


def stratified_folds(y: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """Seeded fold ids ``0..k-1`` with each class spread evenly over the folds.

    Args:
        y: class labels, shape ``(n,)``.
        k: number of folds.
        seed: seed of the shuffle.

    Returns:
        int64 array ``(n,)``.

    Raises:
        DataFormatError: a class has fewer than ``k`` events.

    Examples:
        >>> folds = stratified_folds(np.array([0] * 6 + [1] * 3), 3, seed=1)
        >>> [np.bincount(folds[:6]).tolist(), np.bincount(folds[6:]).tolist()]
        [[2, 2, 2], [1, 1, 1]]
    """
    folds = np.empty(y.shape[0], dtype=np.int64)
    rng = np.random.default_rng(seed)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        if idx.size < k:
            raise DataFormatError(
                f"class {cls} has {idx.size} event(s); nested k-fold needs at least {k}"
            )
        folds[rng.permutation(idx)] = np.arange(idx.size) % k
    return folds


# --------------------------------------------------------------------------------------------------
# the options of the MLP-classifier methods
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassifierOptions:
    """Validated options of a method that trains an ensemble of MLP classifiers.

    Not a method by itself: a method subclasses it (overriding ``name``) and calls
    :meth:`train_scorer` with its labelled training inputs. Sequences are normalised to tuples.

    Args:
        features: input features (names of :data:`~anomsearch.data.events.DERIVED_FEATURES`;
            ``mjj`` is not allowed: it defines the signal region the scores are used in).
        hidden: hidden-layer widths of the MLP.
        dropout: dropout probability.
        batch_norm: batch normalisation in the MLP.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size. Small batches give many optimiser steps per epoch at the
            ~10^4-10^5 training events of a search (weak supervision learns a small difference
            between two large samples). The defaults of ``batch_size``, ``max_epochs``,
            ``patience`` and ``top_epochs`` were measured on the toy from 5e4 to 1e6 events
            (``benchmarks/nn_training.py``).
        max_epochs: maximum epochs per classifier.
        patience: early-stopping patience: training stops after this many epochs in which no
            epoch entered the ``top_epochs`` lowest validation losses (with ``top_epochs: 1``,
            epochs without a lower validation loss).
        top_epochs: the classifier averages the outputs of the weights of this many epochs, those
            with the lowest validation loss (1: the best epoch alone). In weak supervision the
            validation loss of a useful classifier differs from ln 2 by ~1e-4 to 1e-3, about as
            much as its statistical noise on ~10^4 validation events, so the single best epoch is
            chosen by noise; the average of the best few is not (arXiv:2109.00546 averages 10).
            Fewer are averaged when fewer epochs run.
        val_fraction: fraction of the training events held out for early stopping (without
            ``inner_folds``).
        n_ensemble: without ``inner_folds``: number of classifiers (different seeds, each with
            its own random validation split) whose outputs are averaged (default 1 for ``mlp``,
            5 for ``hgb``). With ``inner_folds``:
            number of candidate classifiers (different seeds) trained per inner fold, of which
            the one with the lowest validation loss (of its averaged ``top_epochs``) is kept.
        inner_folds: ``None`` (default) or ``k >= 2`` for the nested k-fold of CWoLa hunting:
            the training events are split into ``k`` stratified folds; for each inner fold the
            candidates train on the other ``k - 1`` folds and are validated (early stopping and
            selection) on it; the ``k`` selected classifiers are averaged.
        min_region_events: minimum number of events of each training class.
        accelerator: Lightning accelerator.
        classifier: the back-end: ``"hgb"`` (the default: an ensemble of gradient-boosted
            trees, :mod:`anomsearch.methods.trees`; the network options are then unused) or
            ``"mlp"`` (the networks above). On Pythia QCD with 254 injected W' events (S/B 0.6%
            in the SR, 200k events, 5 seeds; ``benchmarks/sensitivity.py``) the trees reach a
            max SIC ~4x the MLP's for CWoLa hunting and ~1.6x for the idealized detector, in a
            fraction of the time. The methods whose loss is part of the network (DisCo,
            SA-CWoLa) train MLPs only.
        feature_fraction: hgb: the fraction of the features each ensemble member sees
            (attribute bagging; 1 = all).
        tree_max_iter: hgb: most boosting iterations per member (early stopping on
            ``val_fraction`` of the training events).
        tree_learning_rate: hgb: shrinkage of each boosting iteration.
        tree_max_leaf_nodes: hgb: leaves per tree.
        tree_min_samples_leaf: hgb: fewest events per leaf.
        tree_l2_regularization: hgb: L2 penalty on the leaf values.
        tree_n_iter_no_change: hgb: early-stopping patience in boosting iterations.

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    Examples:
        >>> ClassifierOptions(features=["mj1"], hidden=[8]).hidden
        (8,)
        >>> ClassifierOptions(lr=-1.0)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.lr must be a positive number, got -1.0
    """

    #: Whether ``fit`` needs a ``reference_background`` sample (the pipeline supplies it).
    needs_reference_background: ClassVar[bool] = False
    #: Whether ``fit`` needs truth labels on the training events.
    needs_labels: ClassVar[bool] = False
    #: Why ``mjj`` may not be an input, for the error message.
    _no_mjj_reason: ClassVar[str] = "a classifier input (it defines the signal region)"
    #: The term of the network's loss that makes a method train MLPs only (``None``: any back-end).
    _network_loss_term: ClassVar[str | None] = None
    #: The options only the MLP back-end reads (the ``tree_*`` options are the trees' own).
    MLP_ONLY_OPTIONS: ClassVar[tuple[str, ...]] = (
        "hidden",
        "dropout",
        "batch_norm",
        "lr",
        "weight_decay",
        "batch_size",
        "max_epochs",
        "patience",
        "top_epochs",
        "inner_folds",
    )

    name: str = field(default="classifier", init=False)
    features: Sequence[str] = DEFAULT_FEATURES
    hidden: Sequence[int] = (64, 64, 64)
    dropout: float = 0.0
    batch_norm: bool = False
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 8
    top_epochs: int = 5
    val_fraction: float = 0.2
    n_ensemble: int | None = None
    inner_folds: int | None = None
    min_region_events: int = 100
    accelerator: str = "auto"
    classifier: str = "hgb"
    feature_fraction: float = 1.0
    tree_max_iter: int = 200
    tree_learning_rate: float = 0.1
    tree_max_leaf_nodes: int = 31
    tree_min_samples_leaf: int = 20
    tree_l2_regularization: float = 0.0
    tree_n_iter_no_change: int = 10

    def __post_init__(self) -> None:
        features = check_features(self.features, no_mjj_reason=self._no_mjj_reason)
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "hidden", check_widths("hidden", self.hidden))
        dropout = _real(self.dropout)
        if dropout is None or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"method.dropout must be in [0, 1), got {self.dropout!r}")
        check_training_options(
            lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
            max_epochs=self.max_epochs, patience=self.patience, val_fraction=self.val_fraction,
            top_epochs=self.top_epochs,
        )  # fmt: skip
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(
                f"method.classifier must be one of {', '.join(CLASSIFIERS)}, "
                f"got {self.classifier!r}"
            )
        if self._network_loss_term is not None and self.classifier != "mlp":
            raise ConfigError(
                f"method.classifier: {self._network_loss_term} is part of the network's loss, "
                f"so it trains an MLP ('mlp'), not {self.classifier!r}"
            )
        if self.n_ensemble is None:
            object.__setattr__(self, "n_ensemble", 5 if self.classifier == "hgb" else 1)
        for name in ("n_ensemble", "min_region_events"):
            check_positive(name, getattr(self, name), integer=True)
        self._check_tree_options()
        if self.inner_folds is not None:
            check_positive("inner_folds", self.inner_folds, integer=True)
            if int(self.inner_folds) < 2:
                raise ConfigError(
                    f"method.inner_folds must be >= 2 (or null), got {self.inner_folds!r}"
                )
        check_accelerator(self.accelerator)

    def _check_tree_options(self) -> None:
        fraction = _real(self.feature_fraction)
        if fraction is None or not 0.0 < fraction <= 1.0:
            raise ConfigError(
                f"method.feature_fraction must be in (0, 1], got {self.feature_fraction!r}"
            )
        for name in ("tree_max_iter", "tree_max_leaf_nodes", "tree_min_samples_leaf"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("tree_n_iter_no_change", self.tree_n_iter_no_change, integer=True)
        check_positive("tree_learning_rate", self.tree_learning_rate)
        check_non_negative("tree_l2_regularization", self.tree_l2_regularization)
        if self.classifier == "hgb" and self.inner_folds is not None:
            raise ConfigError("method.inner_folds: only used with method.classifier 'mlp'")
        if self.classifier == "mlp" and fraction < 1.0:
            raise ConfigError("method.feature_fraction: only used with method.classifier 'hgb'")

    def unused_options(self, given: Iterable[str]) -> list[str]:
        """The option names among ``given`` that the chosen back-end does not read.

        Examples:
            >>> ClassifierOptions().unused_options(["max_epochs", "tree_max_iter", "features"])
            ['max_epochs']
            >>> ClassifierOptions(classifier="mlp").unused_options(["max_epochs", "tree_max_iter"])
            ['tree_max_iter']
        """
        if self.classifier == "hgb":
            return [k for k in given if k in self.MLP_ONLY_OPTIONS]
        return [k for k in given if k.startswith("tree_")]

    def tree_options(self) -> Any:
        """The :class:`~anomsearch.methods.trees.TreeEnsembleOptions` of the ``hgb`` back-end."""
        from anomsearch.methods.trees import TreeEnsembleOptions

        return TreeEnsembleOptions(
            n_members=int(self.n_ensemble or 1),
            max_iter=int(self.tree_max_iter),
            learning_rate=float(self.tree_learning_rate),
            max_leaf_nodes=int(self.tree_max_leaf_nodes),
            min_samples_leaf=int(self.tree_min_samples_leaf),
            l2_regularization=float(self.tree_l2_regularization),
            n_iter_no_change=int(self.tree_n_iter_no_change),
            val_fraction=float(self.val_fraction),
            feature_fraction=float(self.feature_fraction),
        )

    def training_options(self) -> dict[str, Any]:
        """The network and training keyword arguments of the trainers of
        :mod:`anomsearch.methods.nn` (``hidden`` ... ``top_epochs``, ``val_fraction``,
        ``accelerator``)."""
        return {
            "hidden": self.hidden,
            "dropout": float(self.dropout),
            "batch_norm": bool(self.batch_norm),
            "lr": float(self.lr),
            "weight_decay": float(self.weight_decay),
            "batch_size": int(self.batch_size),
            "max_epochs": int(self.max_epochs),
            "patience": int(self.patience),
            "top_epochs": int(self.top_epochs),
            "val_fraction": float(self.val_fraction),
            "accelerator": self.accelerator,
        }

    def _train_one(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None,
        val_mask: np.ndarray | None,
        seed: int,
    ) -> TrainedClassifier:
        from anomsearch.methods.nn.classifier_training import train_classifier

        return train_classifier(
            x, y, sample_weight=sample_weight, val_mask=val_mask, seed=seed,
            **self.training_options(),
        )  # fmt: skip

    def train_members(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None,
        seed: int,
    ) -> tuple[TrainedClassifier, ...]:
        """Train the ensemble whose outputs the scorer averages.

        Without ``inner_folds``: ``n_ensemble`` classifiers, member ``i`` with seed
        ``derive_seed(seed, i)``. With ``inner_folds = k``: the nested k-fold of
        arXiv:1902.02634: for inner fold ``j`` (validation set), ``n_ensemble`` candidates with
        seeds ``derive_seed(seed, j, i)`` are trained on the other folds and the one with the
        lowest validation loss (``val_loss``: that of its averaged ``top_epochs``) is kept; ``k``
        members in total. Each member averages its own ``top_epochs`` epochs.

        Args:
            x: inputs, shape ``(n, len(features))``.
            y: 0/1 labels, shape ``(n,)``.
            sample_weight: optional per-event weights.
            seed: the fit's seed.

        Returns:
            The trained ensemble members.

        References:
            J. H. Collins, K. Howe, B. Nachman, arXiv:1902.02634 (nested cross-validation with
            the best of several initialisations per validation fold).
        """
        if self.inner_folds is None:
            return tuple(
                self._train_one(
                    x, y, sample_weight=sample_weight, val_mask=None, seed=derive_seed(seed, i)
                )
                for i in range(int(self.n_ensemble))
            )
        inner = stratified_folds(np.asarray(y), int(self.inner_folds), seed=derive_seed(seed))
        members = []
        for j in range(int(self.inner_folds)):
            candidates = [
                self._train_one(
                    x,
                    y,
                    sample_weight=sample_weight,
                    val_mask=inner == j,
                    seed=derive_seed(seed, j, i),
                )
                for i in range(int(self.n_ensemble))
            ]
            best = min(candidates, key=lambda c: c.val_loss)
            log.info(
                "%s: inner fold %d/%d: kept candidate with val_loss %.5f (of %s)",
                self.name,
                j + 1,
                int(self.inner_folds),
                best.val_loss,
                ", ".join(f"{c.val_loss:.5f}" for c in candidates),
            )
            members.append(best)
        return tuple(members)

    def train_scorer(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None,
        seed: int,
    ) -> ClassifierScorer:
        """Train the ensemble and wrap it in a scorer on ``features``: the MLPs of
        :meth:`train_members` (``classifier: mlp``) or the boosted trees of
        :func:`~anomsearch.methods.trees.train_tree_ensemble` (``classifier: hgb``).

        The scorer records the method's ``name`` (written into saved scorers).
        """
        if self.classifier == "hgb":
            from anomsearch.methods.trees import train_tree_ensemble

            return train_tree_ensemble(
                x,
                y,
                features=tuple(self.features),
                options=self.tree_options(),
                seed=seed,
                sample_weight=sample_weight,
                method=self.name,
            )
        members = self.train_members(x, y, sample_weight=sample_weight, seed=seed)
        return self.scorer(members)

    def scorer(self, members: Sequence[TrainedClassifier]) -> ClassifierScorer:
        """The :class:`ClassifierScorer` of trained ``members`` on ``features``, named after the
        method."""
        return ClassifierScorer(
            classifiers=tuple(members), features=tuple(self.features), method=self.name
        )
