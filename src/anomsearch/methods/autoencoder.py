"""Autoencoder anomaly detection: events the network reconstructs badly are anomalous.

An autoencoder trained to reconstruct the data (dominated by background) through a narrow
bottleneck learns the background's feature distribution; rare events with out-of-distribution
features reconstruct worse. Unlike CWoLa this needs no sideband: it is trained on the data in the
signal region (``train_region="sr"``) or on the whole spectrum (``"all"``), and its score is the
reconstruction error (``"mse"``), the error with every feature normalised to its validation error
scale (``"normalized"``), or the Mahalanobis distance of the latent code (``"latent"``). It is
fully unsupervised and therefore weak against signals that look like plausible background (on the
LHCO R&D features its sensitivity is modest; see arXiv:2101.08320).

References:
    M. Farina, Y. Nakai, D. Shih, "Searching for New Physics with Deep Autoencoders",
    Phys. Rev. D 101 (2020) 075021, arXiv:1808.08992.
    T. Heimel, G. Kasieczka, T. Plehn, J. M. Thompson, "QCD or What?", SciPost Phys. 6 (2019) 030,
    arXiv:1808.08979.
    G. Kasieczka et al., "The LHC Olympics 2020", Rep. Prog. Phys. 84 (2021) 124201,
    arXiv:2101.08320.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from anomsearch.data.events import DERIVED_FEATURES, EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.autoencoder_scorer import AutoencoderScorer
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier_options import DEFAULT_FEATURES, _positive
from anomsearch.methods.nn.autoencoder import SCORE_KINDS, train_autoencoder

__all__ = ["SCORE_KINDS", "TRAIN_REGIONS", "Autoencoder", "AutoencoderScorer"]

log = logging.getLogger(__name__)

#: Which events the autoencoder trains on: the signal region only, or the whole spectrum.
TRAIN_REGIONS: tuple[str, ...] = ("sr", "all")


@dataclass(frozen=True)
class Autoencoder:
    """Autoencoder anomaly method (reconstruction-based, unsupervised).

    Args:
        features: input features (names of :data:`~anomsearch.data.events.DERIVED_FEATURES`;
            ``mjj`` is not allowed: it defines the signal region the scores are used in).
        train_region: ``"sr"``: train on the events in the signal region; ``"all"``: on every
            event passed to :meth:`fit` (the whole spectrum).
        hidden: encoder hidden-layer widths (the decoder mirrors them).
        latent_dim: bottleneck size.
        score: ``"mse"``, ``"normalized"`` or ``"latent"`` (see
            :meth:`~anomsearch.methods.nn.autoencoder.TrainedAutoencoder.score`).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size.
        max_epochs: maximum epochs per autoencoder.
        patience: early-stopping patience (epochs without a lower validation loss).
        val_fraction: fraction of the training events held out for early stopping and for the
            ``"normalized"`` error scales.
        n_ensemble: number of autoencoders (different seeds) whose scores are averaged.
        min_region_events: minimum number of training events.
        accelerator: Lightning accelerator.

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    Examples:
        >>> Autoencoder(hidden=[8], score="latent").hidden
        (8,)
        >>> try:
        ...     Autoencoder(train_region="sb")
        ... except ConfigError as err:
        ...     print(err)
        method.train_region must be one of ['sr', 'all'], got 'sb'

    References:
        arXiv:1808.08992, arXiv:1808.08979, arXiv:2101.08320.
    """

    #: Whether ``fit`` needs a ``reference_background`` sample (the pipeline supplies it).
    needs_reference_background: ClassVar[bool] = False
    #: Whether ``fit`` needs truth labels on the training events.
    needs_labels: ClassVar[bool] = False

    name: str = field(default="autoencoder", init=False)
    features: Sequence[str] = DEFAULT_FEATURES
    train_region: str = "sr"
    hidden: Sequence[int] = (32, 16)
    latent_dim: int = 2
    score: str = "mse"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 512
    max_epochs: int = 30
    patience: int = 5
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
                "method.features: 'mjj' cannot be an autoencoder input (it defines the signal "
                "region)"
            )
        object.__setattr__(self, "features", feats)
        if isinstance(self.hidden, str | bytes):
            raise ConfigError(f"method.hidden must be a list of layer widths, got {self.hidden!r}")
        hidden = tuple(self.hidden)
        for h in hidden:
            _positive("hidden", h, integer=True)
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        for name, allowed in (("train_region", TRAIN_REGIONS), ("score", SCORE_KINDS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"method.{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ConfigError(f"method.val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if float(self.weight_decay) < 0:
            raise ConfigError(f"method.weight_decay must be >= 0, got {self.weight_decay!r}")
        _positive("lr", self.lr)
        for name in (
            "latent_dim", "batch_size", "max_epochs", "patience", "n_ensemble",
            "min_region_events",
        ):  # fmt: skip
            _positive(name, getattr(self, name), integer=True)
        if int(self.batch_size) < 2:
            raise ConfigError(f"method.batch_size must be >= 2, got {self.batch_size!r}")
        if not isinstance(self.accelerator, str) or not self.accelerator:
            raise ConfigError(
                f"method.accelerator must be a non-empty string, got {self.accelerator!r}"
            )

    def training_mask(self, events: EventTable, regions: Regions) -> np.ndarray:
        """Boolean mask of the events :meth:`fit` trains on (the SR, or all events)."""
        if self.train_region == "sr":
            return regions.in_sr(events.mjj)
        return np.ones(len(events), dtype=bool)

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> AutoencoderScorer:
        """Train the autoencoder(s) on the events of ``train_region``.

        Args:
            events: training events (all mjj; with ``train_region="sr"`` only SR events are used).
            regions: SR/SB definition.
            seed: seed; ensemble member ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            An :class:`AutoencoderScorer` that scores events of any mjj.

        Raises:
            DataFormatError: fewer than ``min_region_events`` training events.
        """
        used = self.training_mask(events, regions)
        n_used = int(used.sum())
        if n_used < self.min_region_events:
            where = (
                f"the signal region [{regions.sr_low}, {regions.sr_high}) TeV"
                if self.train_region == "sr"
                else "the events"
            )
            raise DataFormatError(
                f"autoencoder: {n_used} training events in {where}; at least "
                f"{self.min_region_events} needed (method.min_region_events)"
            )
        x = events.features(self.features)[used]
        w = None if events.weight is None else events.weight[used]
        log.info("autoencoder: training on %d events (train_region=%s)", n_used, self.train_region)
        members = tuple(
            train_autoencoder(
                x,
                sample_weight=w,
                hidden=self.hidden,
                latent_dim=int(self.latent_dim),
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
        return AutoencoderScorer(
            members=members, features=tuple(self.features), kind=self.score, method=self.name
        )
