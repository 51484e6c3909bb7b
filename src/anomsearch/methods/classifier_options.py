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
from anomsearch.exceptions import ConfigError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier_scorer import ClassifierScorer
from anomsearch.methods.nn.classifier import TrainedClassifier, train_classifier

__all__ = ["DEFAULT_FEATURES", "ClassifierOptions"]

log = logging.getLogger(__name__)

#: The standard LHCO R&D input features (CATHODE-family conventions, masses in TeV).
DEFAULT_FEATURES: tuple[str, ...] = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")


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
        val_fraction: fraction of the training events held out for early stopping.
        n_ensemble: number of classifiers (different seeds) whose outputs are averaged.
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
        if int(self.batch_size) < 2:
            raise ConfigError(f"method.batch_size must be >= 2, got {self.batch_size!r}")

    def train_members(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        sample_weight: np.ndarray | None,
        seed: int,
    ) -> tuple[TrainedClassifier, ...]:
        """Train ``n_ensemble`` classifiers on ``(x, y)``; member ``i`` uses seed
        ``derive_seed(seed, i)``.

        Args:
            x: inputs, shape ``(n, len(features))``.
            y: 0/1 labels, shape ``(n,)``.
            sample_weight: optional per-event weights.
            seed: the fit's seed.

        Returns:
            The trained ensemble members.
        """
        return tuple(
            train_classifier(
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
                seed=derive_seed(seed, i),
                accelerator=self.accelerator,
            )
            for i in range(int(self.n_ensemble))
        )

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
