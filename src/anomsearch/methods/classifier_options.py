"""Options and ensemble training shared by every method that trains a classifier on fixed features.

:class:`ClassifierOptions` holds the network and training options of CWoLa hunting, the idealized
anomaly detector and the fully supervised classifier, validates them once (errors name
``method.<option>``), and trains the ensemble of :func:`~anomsearch.methods.nn.train_classifier`
members a method returns as a :class:`~anomsearch.methods.classifier_scorer.ClassifierScorer`.

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (classifier training
    for CWoLa hunting); A. Hallin et al., arXiv:2109.00546 (the same classifier trained in the
    idealized and supervised settings).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from anomsearch.data.events import DERIVED_FEATURES
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier_scorer import ClassifierScorer
from anomsearch.methods.nn.classifier import TrainedClassifier, train_classifier

__all__ = ["DEFAULT_FEATURES", "ClassifierOptions", "stratified_folds"]

log = logging.getLogger(__name__)

#: The standard LHCO R&D input features (CATHODE-family conventions, masses in TeV).
DEFAULT_FEATURES: tuple[str, ...] = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")


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


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"method.{name} must be {kind}, got {value!r}")


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
        batch_size: training batch size.
        max_epochs: maximum epochs per classifier.
        patience: early-stopping patience (epochs without a lower validation loss).
        val_fraction: fraction of the training events held out for early stopping (without
            ``inner_folds``).
        n_ensemble: without ``inner_folds``: number of classifiers (different seeds, each with
            its own random validation split) whose outputs are averaged. With ``inner_folds``:
            number of candidate classifiers (different seeds) trained per inner fold, of which
            the one with the lowest validation loss is kept.
        inner_folds: ``None`` (default) or ``k >= 2`` for the nested k-fold of CWoLa hunting:
            the training events are split into ``k`` stratified folds; for each inner fold the
            candidates train on the other ``k - 1`` folds and are validated (early stopping and
            selection) on it; the ``k`` selected classifiers are averaged.
        min_region_events: minimum number of events of each training class.
        accelerator: Lightning accelerator.

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

    name: str = field(default="classifier", init=False)
    features: Sequence[str] = DEFAULT_FEATURES
    hidden: Sequence[int] = (64, 64, 64)
    dropout: float = 0.0
    batch_norm: bool = False
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    max_epochs: int = 15
    patience: int = 4
    val_fraction: float = 0.2
    n_ensemble: int = 1
    inner_folds: int | None = None
    min_region_events: int = 100
    accelerator: str = "auto"

    def __post_init__(self) -> None:
        feats = (self.features,) if isinstance(self.features, str) else tuple(self.features)
        if not feats:
            raise ConfigError("method.features must name at least one feature")
        for f in feats:
            if f not in DERIVED_FEATURES:
                raise ConfigError(
                    f"method.features: unknown feature {f!r}; available: "
                    + ", ".join(x for x in DERIVED_FEATURES if x != "mjj")
                )
        if "mjj" in feats:
            raise ConfigError(f"method.features: 'mjj' cannot be {self._no_mjj_reason}")
        object.__setattr__(self, "features", feats)
        hidden = tuple(self.hidden)
        for h in hidden:
            _positive("hidden", h, integer=True)
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"method.dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ConfigError(f"method.val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if float(self.weight_decay) < 0:
            raise ConfigError(f"method.weight_decay must be >= 0, got {self.weight_decay!r}")
        _positive("lr", self.lr)
        for name in ("batch_size", "max_epochs", "patience", "n_ensemble", "min_region_events"):
            _positive(name, getattr(self, name), integer=True)
        if self.inner_folds is not None:
            _positive("inner_folds", self.inner_folds, integer=True)
            if int(self.inner_folds) < 2:
                raise ConfigError(
                    f"method.inner_folds must be >= 2 (or null), got {self.inner_folds!r}"
                )
        if int(self.batch_size) < 2:
            raise ConfigError(f"method.batch_size must be >= 2, got {self.batch_size!r}")

    def _train_one(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None,
        val_mask: np.ndarray | None,
        seed: int,
    ) -> TrainedClassifier:
        return train_classifier(
            x,
            y,
            sample_weight=sample_weight,
            hidden=self.hidden,
            dropout=float(self.dropout),
            batch_norm=bool(self.batch_norm),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            val_fraction=float(self.val_fraction),
            val_mask=val_mask,
            seed=seed,
            accelerator=self.accelerator,
        )

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
        lowest validation loss is kept; ``k`` members in total.

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
            best = min(candidates, key=lambda c: c.best_val_loss)
            log.info(
                "%s: inner fold %d/%d: kept candidate with val_loss %.5f (of %s)",
                self.name,
                j + 1,
                int(self.inner_folds),
                best.best_val_loss,
                ", ".join(f"{c.best_val_loss:.5f}" for c in candidates),
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
        """Train the ensemble (see :meth:`train_members`) and wrap it in a scorer on ``features``.

        The scorer records the method's ``name`` (written into saved scorers).
        """
        members = self.train_members(x, y, sample_weight=sample_weight, seed=seed)
        return ClassifierScorer(
            classifiers=members, features=tuple(self.features), method=self.name
        )
