"""The two reference classifiers that bound every anomaly-detection benchmark from above.

* :class:`IdealizedAnomalyDetector` (``"idealized"``): the weakly supervised classifier of CWoLa /
  CATHODE with a *perfect* background template: data in the signal region (label 1) against a
  sample of background-only events in the signal region (label 0). It is the limit that
  background-template methods (CATHODE, SALAD, ...) approach as their template becomes exact.
* :class:`SupervisedClassifier` (``"supervised"``): the fully supervised signal-vs-background
  classifier in the signal region, trained from truth labels. No anomaly-detection method trained
  on the same features and network can be expected to beat it.

Both train the same MLP ensemble as CWoLa hunting (:class:`ClassifierOptions`), so their scores
are directly comparable, and return a :class:`ClassifierScorer`.

References:
    A. Hallin, J. Isaacson, G. Kasieczka, C. Krause, B. Nachman, T. Quadfasel, M. Schlaffer,
    D. Shih, M. Sommerhalder, "Classifying Anomalies THrough Outer Density Estimation (CATHODE)",
    Phys. Rev. D 106 (2022) 055006, arXiv:2109.00546 (idealized anomaly detector and supervised
    classifier as the benchmarks' upper bounds).
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 (classification without labels).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.options import ClassifierOptions, check_event_table

__all__ = ["IdealizedAnomalyDetector", "SupervisedClassifier"]

log = logging.getLogger(__name__)


def _sr_window(regions: Regions) -> str:
    return f"[{regions.sr_low}, {regions.sr_high}) TeV"


def _stack(
    tables: Sequence[EventTable], labels: Sequence[np.ndarray], features: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Concatenate features and labels; weights are kept if any table has them (1 elsewhere)."""
    x = np.concatenate([t.features(features) for t in tables])
    y = np.concatenate([np.asarray(lab, dtype=np.int8) for lab in labels])
    if all(t.weight is None for t in tables):
        return x, y, None
    w = np.concatenate([np.ones(len(t)) if t.weight is None else t.weight for t in tables])
    return x, y, w


@dataclass(frozen=True)
class IdealizedAnomalyDetector(ClassifierOptions):
    """Idealized anomaly detector: SR data (label 1) vs a perfect SR background sample (label 0).

    If the background sample follows the true background distribution exactly, the optimal
    classifier is monotonic in the signal-vs-background likelihood ratio, with the data's signal
    fraction; this is the best any background-template method can do on the same features. Only
    the training events and the reference events inside the signal region are used.

    Args:
        features, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            val_fraction, n_ensemble, inner_folds, accelerator: the training options of
            :class:`ClassifierOptions`.
        min_region_events: minimum number of SR data events and of SR reference events.
        reference_background: background-only events (any mjj; labels, if any, must all be 0),
            e.g. the SR-only QCD sample of the LHCO R&D set or the generator's equivalent. Not part
            of the method's repr or equality. Required by :meth:`fit`.

    Raises:
        ConfigError: an invalid option (named ``method.<option>``).

    References:
        arXiv:2109.00546.
    """

    needs_reference_background: ClassVar[bool] = True
    _no_mjj_reason: ClassVar[str] = (
        "an input of the idealized detector (it defines the signal region)"
    )

    name: str = field(default="idealized", init=False)
    reference_background: EventTable | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_event_table("reference_background", self.reference_background)

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> ClassifierScorer:
        """Train SR data vs SR reference background.

        Args:
            events: training events (any mjj; only SR events are used).
            regions: SR definition.
            seed: seed; ensemble member ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            A :class:`ClassifierScorer` that scores events of any mjj.

        Raises:
            ConfigError: no ``reference_background`` was given.
            DataFormatError: the reference contains events labelled signal, or fewer than
                ``min_region_events`` data or reference events in the SR.
        """
        ref = self.reference_background
        if ref is None:
            raise ConfigError(
                "method idealized needs a reference background sample "
                "(method.reference_background: background-only events covering the signal "
                "region, e.g. the SR-only QCD sample of the LHCO R&D set or one from the "
                "generator); none was given"
            )
        if ref.label is not None and np.any(ref.label == 1):
            raise DataFormatError(
                f"method idealized: the reference background has {int(ref.label.sum())} events "
                "with 'label' 1 (signal); it must be background only"
            )
        data_sr = events.subset(regions.in_sr(events.mjj))
        ref_sr = ref.subset(regions.in_sr(ref.mjj))
        for what, table in (("training", data_sr), ("reference background", ref_sr)):
            if len(table) < self.min_region_events:
                raise DataFormatError(
                    f"idealized anomaly detector: {len(table)} {what} events in the signal region "
                    f"{_sr_window(regions)}; at least {self.min_region_events} needed"
                )
        x, y, w = _stack(
            [data_sr, ref_sr], [np.ones(len(data_sr)), np.zeros(len(ref_sr))], self.features
        )
        log.info(
            "idealized anomaly detector: training on %d SR data vs %d SR reference events",
            len(data_sr),
            len(ref_sr),
        )
        return self.train_scorer(x, y, sample_weight=w, seed=seed)


@dataclass(frozen=True)
class SupervisedClassifier(ClassifierOptions):
    """Fully supervised classifier: true signal (label 1) vs true background (label 0) in the SR.

    The training events' truth ``label`` is used, with the optional reference samples appended
    (every ``reference_signal`` event as signal, every ``reference_background`` event as
    background, whatever their own labels). Only events inside the signal region are used. The
    classes are balanced in training, so the signal fraction does not matter.

    Args:
        features, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            val_fraction, n_ensemble, inner_folds, accelerator: the training options of
            :class:`ClassifierOptions`.
        min_region_events: minimum number of signal and of background events in the SR.
        reference_signal: optional extra signal events (any mjj). Not in repr or equality.
        reference_background: optional extra background events (any mjj). Not in repr or
            equality.

    Raises:
        ConfigError: an invalid option (named ``method.<option>``).

    References:
        arXiv:2109.00546.
    """

    needs_labels: ClassVar[bool] = True
    _no_mjj_reason: ClassVar[str] = (
        "an input of the supervised classifier (it defines the signal region)"
    )

    name: str = field(default="supervised", init=False)
    reference_signal: EventTable | None = field(default=None, repr=False, compare=False)
    reference_background: EventTable | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_event_table("reference_signal", self.reference_signal)
        check_event_table("reference_background", self.reference_background)

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> ClassifierScorer:
        """Train signal vs background in the SR from truth labels.

        Args:
            events: labelled training events (any mjj; only SR events are used).
            regions: SR definition.
            seed: seed; ensemble member ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            A :class:`ClassifierScorer` that scores events of any mjj.

        Raises:
            DataFormatError: the events carry no ``label``; no signal at all, or fewer than
                ``min_region_events`` signal or background events, in the SR.
        """
        if events.label is None:
            raise DataFormatError(
                "method supervised: the training events carry no 'label' (truth labels, 1 signal "
                "/ 0 background, are required to train the supervised classifier)"
            )
        tables = [events]
        labels = [events.label]
        for ref, value in ((self.reference_signal, 1), (self.reference_background, 0)):
            if ref is not None:
                tables.append(ref)
                labels.append(np.full(len(ref), value, dtype=np.int8))
        in_sr = [regions.in_sr(t.mjj) for t in tables]
        tables = [t.subset(m) for t, m in zip(tables, in_sr, strict=True)]
        labels = [lab[m] for lab, m in zip(labels, in_sr, strict=True)]
        x, y, w = _stack(tables, labels, self.features)
        n_sig = int(np.count_nonzero(y == 1))
        n_bkg = int(y.size - n_sig)
        if n_sig == 0:
            raise DataFormatError(
                f"method supervised: no signal events ('label' 1) in the signal region "
                f"{_sr_window(regions)} to train on (training events and reference_signal)"
            )
        for what, count in (("signal ('label' 1)", n_sig), ("background ('label' 0)", n_bkg)):
            if count < self.min_region_events:
                raise DataFormatError(
                    f"supervised classifier: {count} {what} events in the signal region "
                    f"{_sr_window(regions)}; at least {self.min_region_events} needed"
                )
        log.info(
            "supervised classifier: training on %d signal vs %d background SR events", n_sig, n_bkg
        )
        return self.train_scorer(x, y, sample_weight=w, seed=seed)
