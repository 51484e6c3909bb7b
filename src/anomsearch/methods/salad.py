"""SALAD: Simulation Assisted Likelihood-free Anomaly Detection.

A background simulation is reweighted to the data with an mjj-parametrised classifier trained in
the sidebands, interpolated into the signal region, and used there as the background template of
a weakly supervised classifier:

1. in the sidebands, a classifier ``g(x, mjj)`` learns simulation (label 0) vs data (label 1);
   with balanced classes ``w(x, mjj) = g / (1 - g)`` is the data/simulation density ratio;
2. the weights are evaluated on the simulation in the signal region (the classifier interpolates
   in mjj), clipped to ``[1 / weight_clip, weight_clip]`` and normalised to mean 1;
3. SR data (label 1) are classified against the reweighted SR simulation (label 0). If the
   reweighting is exact the reweighted simulation is the SR background, and the classifier
   approaches the idealized anomaly detector.

The quality of step 1 is checked by :meth:`Salad.sideband_closure`: a *fresh* classifier trained
on held-out sideband events cannot tell the reweighted simulation from the data (AUC ~ 0.5), while
it can tell the unweighted simulation from it.

References:
    A. Andreassen, B. Nachman, D. Shih, "Simulation Assisted Likelihood-free Anomaly Detection",
    Phys. Rev. D 101 (2020) 095004, arXiv:2001.05001.
    A. Andreassen, B. Nachman, "Neural Networks for Full Phase-space Reweighting and Parameter
    Tuning", arXiv:1907.08209 (classifier-based reweighting, DCTR).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.options import (
    ClassifierOptions,
    check_event_table,
    check_positive,
    check_simulation,
    check_widths,
)
from anomsearch.metrics import auc

if TYPE_CHECKING:
    from anomsearch.methods.nn.classifier_training import TrainedClassifier

__all__ = ["Salad", "SaladClosure", "SaladReweighter"]

log = logging.getLogger(__name__)


def _with_mjj(events: EventTable, features: Sequence[str]) -> np.ndarray:
    """The reweighting classifier's inputs: the features and mjj (TeV) as the last column."""
    return np.column_stack([events.features(features), events.mjj])


@dataclass(frozen=True, eq=False)
class SaladReweighter:
    """The mjj-parametrised simulation-to-data reweighting of SALAD.

    Attributes:
        classifier: the classifier ``g(x, mjj)`` (simulation 0, data 1, balanced classes).
        features: the features ``x`` it reads (mjj is appended).
        weight_clip: weights are clipped to ``[1 / weight_clip, weight_clip]``.
    """

    classifier: TrainedClassifier
    features: tuple[str, ...]
    weight_clip: float

    def weights(self, events: EventTable) -> np.ndarray:
        """Per-event weights ``g / (1 - g) = exp(logit)``, clipped, *not* normalised (float64).

        Multiply simulated events by them to make them look like data at the same mjj.
        """
        logit = self.classifier.predict_logit(_with_mjj(events, self.features))
        bound = math.log(self.weight_clip)
        return np.exp(np.clip(logit, -bound, bound))


class SaladClosure(NamedTuple):
    """Result of a closure test of the SALAD reweighting (see :meth:`Salad.closure_auc`).

    Attributes:
        auc_weighted: AUC of a fresh classifier, data vs *reweighted* simulation, on its
            held-out events (0.5 = perfect closure).
        auc_unweighted: the same with the unweighted simulation (how different they were).
        n_data: data events used.
        n_simulation: simulation events used.
    """

    auc_weighted: float
    auc_unweighted: float
    n_data: int
    n_simulation: int


@dataclass(frozen=True)
class Salad(ClassifierOptions):
    """SALAD anomaly method: SR data vs a sideband-reweighted SR background simulation.

    Args:
        features, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            val_fraction, n_ensemble, accelerator: the options of the final SR classifier
            (:class:`ClassifierOptions`).
        min_region_events: minimum number of data and simulation events in the SR and in the
            sidebands.
        reference_simulation: background simulation (any mjj, covering SR and sidebands; labels,
            if any, all 0). Not in repr or equality. Required by :meth:`fit`.
        reweight_hidden: hidden layers of the reweighting classifier ``g(x, mjj)``.
        reweight_epochs: its maximum number of epochs.
        reweight_patience: its early-stopping patience.
        reweight_lr: its learning rate.
        weight_clip: weights are clipped to ``[1 / weight_clip, weight_clip]`` (> 1).

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    Examples:
        >>> Salad(reweight_hidden=[16, 16]).reweight_hidden
        (16, 16)
        >>> Salad(weight_clip=0.5)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.weight_clip must be a number > 1, got 0.5

    References:
        arXiv:2001.05001.
    """

    needs_reference_simulation: ClassVar[bool] = True
    _no_mjj_reason: ClassVar[str] = (
        "an input of the SALAD SR classifier (it defines the signal region)"
    )

    name: str = field(default="salad", init=False)
    reference_simulation: EventTable | None = field(default=None, repr=False, compare=False)
    reweight_hidden: Sequence[int] = (64, 64, 64)
    reweight_epochs: int = 20
    reweight_patience: int = 4
    reweight_lr: float = 1e-3
    weight_clip: float = 20.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_event_table("reference_simulation", self.reference_simulation)
        object.__setattr__(
            self, "reweight_hidden", check_widths("reweight_hidden", self.reweight_hidden)
        )
        check_positive("reweight_epochs", self.reweight_epochs, integer=True)
        check_positive("reweight_patience", self.reweight_patience, integer=True)
        check_positive("reweight_lr", self.reweight_lr)
        clip = self.weight_clip
        if not (
            isinstance(clip, numbers.Real)
            and not isinstance(clip, bool)
            and math.isfinite(clip)
            and clip > 1
        ):
            raise ConfigError(f"method.weight_clip must be a number > 1, got {clip!r}")

    # ------------------------------------------------------------------------------ pieces
    def _train_pair(
        self,
        x_data: np.ndarray,
        x_sim: np.ndarray,
        w_data: np.ndarray | None,
        w_sim: np.ndarray | None,
        *,
        seed: int,
    ) -> TrainedClassifier:
        """Train a reweighting-sized classifier simulation (0) vs data (1)."""
        from anomsearch.methods.nn.classifier_training import train_classifier

        x = np.concatenate([x_data, x_sim])
        y = np.concatenate([np.ones(len(x_data), np.int8), np.zeros(len(x_sim), np.int8)])
        w = None
        if w_data is not None or w_sim is not None:
            w = np.concatenate(
                [
                    np.ones(len(x_data)) if w_data is None else w_data,
                    np.ones(len(x_sim)) if w_sim is None else w_sim,
                ]
            )
        return train_classifier(
            x,
            y,
            sample_weight=w,
            hidden=self.reweight_hidden,
            lr=float(self.reweight_lr),
            batch_size=int(self.batch_size),
            max_epochs=int(self.reweight_epochs),
            patience=int(self.reweight_patience),
            val_fraction=float(self.val_fraction),
            seed=seed,
            accelerator=self.accelerator,
        )

    def _sideband_events(self, what: str, table: EventTable, regions: Regions) -> EventTable:
        """The sideband events of ``table``, at least ``min_region_events`` of them."""
        sb = table.subset(regions.in_sb(table.mjj))
        if len(sb) < self.min_region_events:
            raise DataFormatError(
                f"SALAD: {len(sb)} {what} events in the sidebands [{regions.sb_low}, "
                f"{regions.sr_low}) + [{regions.sr_high}, {regions.sb_high}) TeV; at least "
                f"{self.min_region_events} needed"
            )
        return sb

    def _sr_simulation(self, regions: Regions) -> EventTable:
        """The simulation's signal-region events, at least ``min_region_events`` of them."""
        sim = check_simulation(self.name, self.reference_simulation)
        sim_sr = sim.subset(regions.in_sr(sim.mjj))
        if len(sim_sr) < self.min_region_events:
            raise DataFormatError(
                f"SALAD: {len(sim_sr)} simulation events (method.reference_simulation) in the "
                f"signal region [{regions.sr_low}, {regions.sr_high}) TeV; at least "
                f"{self.min_region_events} needed"
            )
        return sim_sr

    def fit_reweighter(
        self,
        events: EventTable,
        *,
        regions: Regions,
        seed: int,
        simulation: EventTable | None = None,
    ) -> SaladReweighter:
        """Train the sideband reweighting classifier ``g(x, mjj)`` (SALAD step 1).

        Args:
            events: data (any mjj; sideband events are used).
            regions: SR/SB definition.
            seed: seed of the training.
            simulation: simulation to use instead of ``reference_simulation`` (any mjj; its
                sideband events are used; :meth:`sideband_closure` passes a subset).

        Returns:
            The :class:`SaladReweighter`.

        Raises:
            ConfigError: no ``reference_simulation``.
            DataFormatError: too few sideband events.
        """
        simulation = check_simulation(
            self.name, self.reference_simulation if simulation is None else simulation
        )
        data_sb = self._sideband_events("data", events, regions)
        sim_sb = self._sideband_events("simulation", simulation, regions)
        log.info(
            "SALAD: reweighting %d sideband simulation events to %d sideband data events",
            len(sim_sb),
            len(data_sb),
        )
        clf = self._train_pair(
            _with_mjj(data_sb, self.features),
            _with_mjj(sim_sb, self.features),
            data_sb.weight,
            sim_sb.weight,
            seed=seed,
        )
        return SaladReweighter(
            classifier=clf, features=tuple(self.features), weight_clip=float(self.weight_clip)
        )

    def closure_auc(
        self,
        data: EventTable,
        simulation: EventTable,
        *,
        simulation_weight: np.ndarray,
        seed: int,
    ) -> SaladClosure:
        """Train fresh classifiers data vs (reweighted / unweighted) simulation on the features
        and mjj and return their AUCs on their held-out validation events.

        Args:
            data: data events (e.g. sideband data not used for the reweighting).
            simulation: simulation events at the same mjj.
            simulation_weight: the SALAD weights of ``simulation`` (data events keep their
                own ``weight``, if any).
            seed: seed of the two trainings.

        Returns:
            :class:`SaladClosure`; ``auc_weighted`` near 0.5 means the reweighting closes.
        """
        w = np.asarray(simulation_weight, dtype=np.float64)
        if w.shape != (len(simulation),):
            raise DataFormatError(
                f"simulation_weight must have shape ({len(simulation)},), got {w.shape}"
            )
        xd, xs = _with_mjj(data, self.features), _with_mjj(simulation, self.features)
        y = np.concatenate([np.ones(len(data), np.int8), np.zeros(len(simulation), np.int8)])
        x = np.concatenate([xd, xs])
        wd = np.ones(len(data)) if data.weight is None else data.weight
        aucs = []
        for i, ws in enumerate((w, np.ones(len(simulation)))):
            clf = self._train_pair(xd, xs, wd, ws, seed=derive_seed(seed, i))
            val = clf.val_mask
            weight = np.concatenate([wd, ws])
            aucs.append(auc(clf.predict_proba(x[val]), y[val], weights=weight[val]))
        return SaladClosure(
            auc_weighted=float(aucs[0]),
            auc_unweighted=float(aucs[1]),
            n_data=len(data),
            n_simulation=len(simulation),
        )

    def sideband_closure(self, events: EventTable, *, regions: Regions, seed: int) -> SaladClosure:
        """Closure of the reweighting in the sidebands, on events it was not trained on.

        The sideband data and simulation are split in halves (seeded); the reweighter is trained
        on the first halves and applied to the second, where :meth:`closure_auc` compares them.

        Args:
            events: data (any mjj).
            regions: SR/SB definition.
            seed: seed of the split and the trainings.

        Returns:
            :class:`SaladClosure` of the held-out sideband halves.
        """
        sim = check_simulation(self.name, self.reference_simulation)
        data_sb = self._sideband_events("data", events, regions)
        sim_sb = self._sideband_events("simulation", sim, regions)
        rng = np.random.default_rng(derive_seed(seed, 0))
        half_d = rng.random(len(data_sb)) < 0.5
        half_s = rng.random(len(sim_sb)) < 0.5
        reweighter = self.fit_reweighter(
            data_sb.subset(half_d),
            regions=regions,
            seed=derive_seed(seed, 1),
            simulation=sim_sb.subset(half_s),
        )
        sim_test = sim_sb.subset(~half_s)
        w = reweighter.weights(sim_test)
        closure = self.closure_auc(
            data_sb.subset(~half_d),
            sim_test,
            simulation_weight=w / w.mean(),
            seed=derive_seed(seed, 2),
        )
        log.info(
            "SALAD sideband closure: AUC data vs simulation %.4f unweighted, %.4f reweighted",
            closure.auc_unweighted,
            closure.auc_weighted,
        )
        return closure

    # ------------------------------------------------------------------------------ fit
    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> ClassifierScorer:
        """Reweight the simulation in the sidebands, then train SR data vs reweighted SR
        simulation.

        Args:
            events: training events (any mjj; SB events for the reweighting, SR events for the
                classifier).
            regions: SR/SB definition.
            seed: seed; the reweighter uses ``derive_seed(seed, 1_000_003)``, ensemble member
                ``i`` of the SR classifier ``derive_seed(seed, i)``.

        Returns:
            A :class:`ClassifierScorer` (method ``"salad"``) that scores events of any mjj.

        Raises:
            ConfigError: no ``reference_simulation`` was given.
            DataFormatError: the simulation contains signal, or fewer than ``min_region_events``
                data or simulation events in the SR or the sidebands.
        """
        data_sr = events.subset(regions.in_sr(events.mjj))
        if len(data_sr) < self.min_region_events:
            raise DataFormatError(
                f"SALAD: {len(data_sr)} training events in the signal region [{regions.sr_low}, "
                f"{regions.sr_high}) TeV; at least {self.min_region_events} needed"
            )
        sim_sr = self._sr_simulation(regions)
        reweighter = self.fit_reweighter(events, regions=regions, seed=derive_seed(seed, 1_000_003))
        w = reweighter.weights(sim_sr)
        if sim_sr.weight is not None:
            w = w * sim_sr.weight
        w = w / w.mean()
        log.info(
            "SALAD: SR simulation weights: mean 1, max %.3g, effective events %.0f of %d",
            float(w.max()),
            float(w.sum() ** 2 / np.sum(w**2)),
            len(w),
        )
        x = np.concatenate([data_sr.features(self.features), sim_sr.features(self.features)])
        y = np.concatenate([np.ones(len(data_sr), np.int8), np.zeros(len(sim_sr), np.int8)])
        wd = np.ones(len(data_sr)) if data_sr.weight is None else data_sr.weight
        log.info(
            "SALAD: training %d SR data vs %d reweighted SR simulation events",
            len(data_sr),
            len(sim_sr),
        )
        return self.train_scorer(x, y, sample_weight=np.concatenate([wd, w]), seed=seed)
