"""CWoLa hunting: a classifier trained to tell the signal region from the sidebands.

Classification Without Labels (CWoLa) applied to a resonance search: events in the mjj signal
region (label 1) are classified against events in the sidebands (label 0) using features that, for
the background, do not depend on mjj (here jet substructure). If the SR contains a localised excess
with distinct features, the optimal SR-vs-SB classifier is a monotonic function of the
signal-vs-background likelihood ratio; without signal it learns nothing and its output is flat.
Cutting on the classifier output then enhances the signal in the SR relative to a sideband-fitted
background.

References:
    J. H. Collins, K. Howe, B. Nachman, "Anomaly Detection for Resonant New Physics with Machine
    Learning", Phys. Rev. Lett. 121 (2018) 241803, arXiv:1805.02664.
    J. H. Collins, K. Howe, B. Nachman, "Extending the search for new resonances with machine
    learning", Phys. Rev. D 99 (2019) 014038, arXiv:1902.02634.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from anomsearch.data.events import DERIVED_FEATURES, EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.nn.classifier import TrainedClassifier, train_classifier

__all__ = ["DEFAULT_FEATURES", "CWoLaHunting", "ClassifierScorer"]

log = logging.getLogger(__name__)

#: The standard LHCO R&D input features (CATHODE-family conventions, masses in TeV).
DEFAULT_FEATURES: tuple[str, ...] = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")


@dataclass(frozen=True, eq=False)
class ClassifierScorer:
    """Ensemble of trained classifiers on fixed features; the score is the mean classifier output.

    Attributes:
        classifiers: the ensemble members.
        features: names of the :class:`~anomsearch.data.events.EventTable` features fed to them.
    """

    classifiers: tuple[TrainedClassifier, ...]
    features: tuple[str, ...]

    def score(self, events: EventTable) -> np.ndarray:
        """Return the ensemble-averaged output in ``[0, 1]`` for every event (any mjj), float64."""
        x = events.features(self.features)
        out = np.zeros(len(events), dtype=np.float64)
        for clf in self.classifiers:
            out += clf.predict_proba(x)
        return out / len(self.classifiers)


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"method.{name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class CWoLaHunting:
    """CWoLa hunting anomaly method (classifier SR vs SB).

    The defaults are sized for the LHCO R&D scale on a laptop CPU: about 400k events in the fit
    range, cross-scored in 5 folds, train in a few minutes in total; use ``n_ensemble > 1`` and more
    epochs (on a GPU) for the best sensitivity.

    Args:
        features: input features (names of :data:`~anomsearch.data.events.DERIVED_FEATURES`; ``mjj``
            is not allowed since it defines the labels).
        hidden: hidden-layer widths of the MLP.
        dropout: dropout probability.
        batch_norm: batch normalisation in the MLP.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size.
        max_epochs: maximum epochs per classifier.
        patience: early-stopping patience (epochs without a lower validation loss).
        val_fraction: fraction of the SR+SB events held out for early stopping.
        n_ensemble: number of classifiers (different seeds) whose outputs are averaged.
        min_region_events: minimum number of events required in the SR and in the SB to train.
        accelerator: Lightning accelerator.

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    References:
        arXiv:1805.02664, arXiv:1902.02634.
    """

    name: str = field(default="cwola", init=False)
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
            raise ConfigError(
                "method.features: 'mjj' cannot be a CWoLa input (it defines the SR/SB labels)"
            )
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

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> ClassifierScorer:
        """Train the SR-vs-SB classifier(s) on the SR and SB events; other events are ignored.

        Args:
            events: training events (all mjj; only SR and SB events are used).
            regions: SR/SB definition.
            seed: seed; ensemble member ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            A :class:`ClassifierScorer` that scores events of any mjj.

        Raises:
            DataFormatError: fewer than ``min_region_events`` events in the SR or in the sidebands.
        """
        mjj = events.mjj
        sr = regions.in_sr(mjj)
        sb = regions.in_sb(mjj)
        n_sr, n_sb = int(sr.sum()), int(sb.sum())
        if n_sr < self.min_region_events:
            raise DataFormatError(
                f"CWoLa hunting: {n_sr} training events in the signal region "
                f"[{regions.sr_low}, {regions.sr_high}) TeV; "
                f"at least {self.min_region_events} needed"
            )
        if n_sb < self.min_region_events:
            raise DataFormatError(
                f"CWoLa hunting: {n_sb} training events in the sidebands [{regions.sb_low}, "
                f"{regions.sr_low}) + [{regions.sr_high}, {regions.sb_high}) TeV; at least "
                f"{self.min_region_events} needed"
            )
        used = sr | sb
        x = events.features(self.features)[used]
        y = sr[used].astype(np.int8)
        w = None if events.weight is None else events.weight[used]
        log.info("CWoLa hunting: training on %d SR vs %d SB events", n_sr, n_sb)
        members = tuple(
            train_classifier(
                x,
                y,
                sample_weight=w,
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
        return ClassifierScorer(classifiers=members, features=tuple(self.features))
