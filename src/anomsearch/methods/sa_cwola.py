"""Simulation-assisted CWoLa hunting (SA-CWoLa): CWoLa decorrelated from mjj with a simulation.

CWoLa hunting (:mod:`anomsearch.methods.cwola`) is only unbiased if the background features do
not depend on mjj: otherwise the SR-vs-SB classifier learns the background's mjj dependence and
sculpts the background. SA-CWoLa adds a background simulation, in which the same SR-vs-SB
classification is penalised: the classifier minimises

``BCE_data(SR vs SB) - sim_lambda * BCE_sim(SR vs SB)``,

so an SR-vs-SB difference the simulation also has (the background's mjj dependence, if the
simulation models it) weighs ``1 - sim_lambda`` times less in the loss, relative to a signal, which
the simulation does not contain: the classifier learns less of the background's mjj dependence and
more of the signal (see :mod:`anomsearch.methods.nn.sim_assisted_training` for the minimiser).
``sim_lambda = 0`` is plain CWoLa; values in ``(0, 1)`` are useful
(at ``sim_lambda >= 1`` the loss is unbounded below). The training itself is
:func:`~anomsearch.methods.nn.sim_assisted_training.train_sim_assisted_classifier`, imported (with
torch) when :meth:`SACWoLa.fit` runs.

References:
    K. Benkendorfer, L. Le Pottier, B. Nachman, "Simulation-Assisted Decorrelation for Resonant
    Anomaly Detection", Phys. Rev. D 104 (2021) 035003, arXiv:2009.02205.
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (CWoLa hunting).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.options import (
    ClassifierOptions,
    check_event_table,
    check_non_negative,
    check_sideband_features,
    check_simulation,
)

__all__ = ["SACWoLa"]

log = logging.getLogger(__name__)


def _region_counts(
    what: str, mjj: np.ndarray, regions: Regions, minimum: int, method: str
) -> tuple[np.ndarray, np.ndarray]:
    sr, sb = regions.in_sr(mjj), regions.in_sb(mjj)
    for name, mask in (("signal region", sr), ("sidebands", sb)):
        if int(mask.sum()) < minimum:
            raise DataFormatError(
                f"{method}: {int(mask.sum())} {what} events in the {name} "
                f"(SR [{regions.sr_low}, {regions.sr_high}) TeV, fit range "
                f"[{regions.sb_low}, {regions.sb_high}) TeV); at least {minimum} needed"
            )
    return sr, sb


@dataclass(frozen=True)
class SACWoLa(ClassifierOptions):
    """SA-CWoLa: CWoLa hunting with a simulation term that removes the background's mjj
    dependence.

    Args:
        features, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            val_fraction, n_ensemble, accelerator: the training options of
            :class:`ClassifierOptions`.
        min_region_events: minimum number of data and of simulation events in the SR and in the
            sidebands.
        sim_lambda: strength of the simulation term (>= 0; 0 is CWoLa; < 1 recommended).
        reference_simulation: background simulation (any mjj, covering SR and sidebands; labels,
            if any, all 0). Not in repr or equality. Required by :meth:`fit`.
        classifier: ``"mlp"`` only: the simulation term is part of the network's loss.
        allow_mjj_correlated_features: accept the constituent features (tau_N^beta, EFPs),
            which depend on mjj for QCD jets (refused by default, as for CWoLa hunting:
            :func:`~anomsearch.methods.options.check_sideband_features`).

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    Examples:
        >>> SACWoLa(sim_lambda=0.5).name
        'sa_cwola'
        >>> SACWoLa(sim_lambda=-1.0)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.ConfigError: method.sim_lambda must be a finite number >= 0, got -1.0

    References:
        arXiv:2009.02205.
    """

    needs_reference_simulation: ClassVar[bool] = True
    _no_mjj_reason: ClassVar[str] = "an SA-CWoLa input (it defines the SR/SB labels)"
    _network_loss_term: ClassVar[str | None] = "SA-CWoLa's simulation term"

    name: str = field(default="sa_cwola", init=False)
    sim_lambda: float = 0.5
    reference_simulation: EventTable | None = field(default=None, repr=False, compare=False)
    allow_mjj_correlated_features: bool = False
    classifier: str = "mlp"  # the simulation term is part of the network's loss

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sideband_features(
            "SA-CWoLa",
            self.features,
            allow_mjj_correlated_features=self.allow_mjj_correlated_features,
        )
        lam = check_non_negative("sim_lambda", self.sim_lambda)
        if lam >= 1:
            log.warning(
                "method.sim_lambda=%g >= 1: the SA-CWoLa loss is unbounded below where the "
                "simulation describes the data; values in (0, 1) are recommended",
                lam,
            )
        check_event_table("reference_simulation", self.reference_simulation)

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> ClassifierScorer:
        """Train SR vs SB on data, penalising SR vs SB in the simulation.

        Args:
            events: training events (any mjj; SR and SB events are used).
            regions: SR/SB definition.
            seed: seed; ensemble member ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            A :class:`ClassifierScorer` (method ``"sa_cwola"``) that scores events of any mjj.

        Raises:
            ConfigError: no ``reference_simulation`` was given.
            DataFormatError: the simulation contains signal, or fewer than ``min_region_events``
                data or simulation events in the SR or the sidebands.
        """
        sim = check_simulation(self.name, self.reference_simulation)
        d_sr, d_sb = _region_counts("data", events.mjj, regions, self.min_region_events, "SA-CWoLa")
        s_sr, s_sb = _region_counts(
            "simulation", sim.mjj, regions, self.min_region_events, "SA-CWoLa"
        )
        d_used, s_used = d_sr | d_sb, s_sr | s_sb
        xd = events.features(self.features)[d_used]
        xs = sim.features(self.features)[s_used]
        yd = d_sr[d_used].astype(np.int8)
        ys = s_sr[s_used].astype(np.int8)
        wd = None if events.weight is None else events.weight[d_used]
        ws = None if sim.weight is None else sim.weight[s_used]
        log.info(
            "SA-CWoLa (lambda=%g): data %d SR vs %d SB, simulation %d SR vs %d SB",
            float(self.sim_lambda),
            int(d_sr.sum()),
            int(d_sb.sum()),
            int(s_sr.sum()),
            int(s_sb.sum()),
        )
        from anomsearch.methods.nn.sim_assisted_training import train_sim_assisted_classifier

        members = [
            train_sim_assisted_classifier(
                xd,
                yd,
                xs,
                ys,
                sim_lambda=float(self.sim_lambda),
                data_weight=wd,
                sim_weight=ws,
                seed=derive_seed(seed, i),
                **self.training_options(),
            )
            for i in range(int(self.n_ensemble))
        ]
        return self.scorer(members)
