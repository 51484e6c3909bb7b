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
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import DataFormatError
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.options import (
    DEFAULT_FEATURES,
    ClassifierOptions,
    check_sideband_features,
)

__all__ = ["DEFAULT_FEATURES", "CWoLaHunting", "ClassifierScorer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CWoLaHunting(ClassifierOptions):
    """CWoLa hunting anomaly method (classifier SR vs SB).

    The defaults are sized for the LHCO R&D scale on a laptop CPU: about 400k events in the fit
    range cross-scored in 5 folds train in a few minutes in total (batch 256, up to 50 epochs,
    the outputs of the 5 best epochs averaged); ``classifier: hgb`` trains boosted trees instead.
    The options and their validation are those of
    :class:`~anomsearch.methods.options.ClassifierOptions`.

    Args:
        features, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience:
            the training options of :class:`ClassifierOptions` (``mjj`` is not a feature: it
            defines the SR/SB labels).
        val_fraction: fraction of the SR+SB events held out for early stopping.
        n_ensemble: number of classifiers (different seeds) whose outputs are averaged; with
            ``inner_folds``, the number of candidates per inner fold of which the best is kept.
        inner_folds: ``k >= 2`` for the nested k-fold of arXiv:1902.02634 (each inner fold in
            turn validates; ``k`` selected classifiers are averaged); ``None`` for one random
            validation split per member.
        min_region_events: minimum number of events required in the SR and in the SB to train.
        accelerator: Lightning accelerator.
        allow_mjj_correlated_features: accept the constituent features (tau_N^beta, EFPs),
            which depend on mjj for QCD jets, so that the SR-vs-SB classifier sculpts a bump
            (refused by default; :func:`~anomsearch.methods.options.check_sideband_features`).

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    References:
        arXiv:1805.02664, arXiv:1902.02634.
    """

    _no_mjj_reason: ClassVar[str] = "a CWoLa input (it defines the SR/SB labels)"

    name: str = field(default="cwola", init=False)
    allow_mjj_correlated_features: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sideband_features(
            "CWoLa hunting",
            self.features,
            allow_mjj_correlated_features=self.allow_mjj_correlated_features,
        )

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
        return self.train_scorer(x, y, sample_weight=w, seed=seed)
