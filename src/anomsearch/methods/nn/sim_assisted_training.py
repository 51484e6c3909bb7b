"""Training of the simulation-assisted CWoLa (SA-CWoLa) classifier.

The classifier ``f`` is trained to separate the signal region (label 1) from the sidebands
(label 0) in data while *failing* to do so in a background simulation: the loss is

``L[f] = BCE_data(f) - sim_lambda * BCE_sim(f)``,

each term a class-balanced weighted binary cross entropy averaged over its own events. For the
loss minimiser, ``f(x) / (1 - f(x)) = (p_data(x|SR) - lambda p_sim(x|SR)) /
(p_data(x|SB) - lambda p_sim(x|SB))``. Where the simulation equals the data background ``b``
and the data hold a signal ``s``, this is ``b(x|SR) / b(x|SB) + s(x) / ((1 - lambda) b(x|SB))``:
the signal term is enhanced by ``1 / (1 - lambda)`` relative to the background's mjj dependence,
and the loss gradient of the background part is scaled by ``1 - lambda``, so a finitely trained
classifier learns much less of the background's SR-vs-SB difference (for ``lambda < 1``; at
``lambda >= 1`` the loss is unbounded below where the simulation describes the data well). On
pure background the *exact* minimiser is unchanged, so the decorrelation is a matter of degree.
Every batch carries data and simulation events, flagged per event; the per-event
coefficients are scaled so that the expectation of a batch's loss is ``L[f]``.

References:
    K. Benkendorfer, L. Le Pottier, B. Nachman, "Simulation-Assisted Decorrelation for Resonant
    Anomaly Detection", Phys. Rev. D 104 (2021) 035003, arXiv:2009.02205.
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 (CWoLa hunting).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from anomsearch.exceptions import DataFormatError
from anomsearch.methods.nn.classifier_training import (
    Standardizer,
    TrainedClassifier,
    as_matrix,
    balanced_weights,
    check_binary_labels,
    epoch_networks,
    stratified_val_mask,
    trained_classifier,
)
from anomsearch.methods.nn.mlp import MLP
from anomsearch.methods.nn.training import AdamTrainedModule, check_sample_weight, fit_seeded
from anomsearch.methods.options import check_non_negative, check_training_options

__all__ = ["SimAssistedClassifierModule", "train_sim_assisted_classifier"]

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class SimAssistedClassifierModule(AdamTrainedModule):
    """Lightning module minimising ``BCE_data - sim_lambda * BCE_sim``.

    Batches are ``(x, y, w, is_sim)``: inputs, 0/1 targets (SR = 1), per-event weights and a 0/1
    flag marking simulation events. The weights must already carry the normalisation: the data
    term is ``mean(w * bce * (1 - is_sim))`` and the simulation term ``mean(w * bce * is_sim)``
    (see :func:`train_sim_assisted_classifier`).

    Args:
        net: network returning one logit per event.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        sim_lambda: strength of the simulation term (>= 0).

    Examples:
        >>> m = SimAssistedClassifierModule(MLP(2, hidden=(4,)), sim_lambda=0.5)
        >>> float(m.hparams.sim_lambda)
        0.5
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        sim_lambda: float = 0.5,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of ``x``."""
        return self.net(x)

    def _common_step(self, batch: Batch, stage: str) -> torch.Tensor:
        x, y, w, is_sim = batch
        bce = binary_cross_entropy_with_logits(self(x), y, reduction="none")
        data_loss = torch.mean(w * bce * (1.0 - is_sim))
        sim_loss = torch.mean(w * bce * is_sim)
        loss = data_loss - self.hparams.sim_lambda * sim_loss
        self._log_epoch(stage, x.shape[0], loss=loss, data_loss=data_loss, sim_loss=sim_loss)
        return loss


class _Sample(NamedTuple):
    """One checked sample (data or simulation): features, 0/1 labels, weights (ones if none)."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray


class _Joint(NamedTuple):
    """Data and simulation stacked (data first), split and standardised, with the per-event loss
    coefficients of the training and the validation events."""

    x: np.ndarray
    y: np.ndarray
    is_sim: np.ndarray
    val: np.ndarray
    standardizer: Standardizer
    c_train: np.ndarray
    c_val: np.ndarray


def _checked_sample(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, *, which: str, weight_name: str
) -> _Sample:
    xs = as_matrix(x, name=f"x_{which}")
    n = xs.shape[0]
    w = check_sample_weight(weight, n, name=weight_name)
    return _Sample(
        x=xs,
        y=check_binary_labels(y, n, name=f"y_{which}"),
        w=np.ones(n) if w is None else w,
    )


def _coefficients(y: np.ndarray, w: np.ndarray, is_sim: np.ndarray, n_total: int) -> np.ndarray:
    """Class-balanced weights per sample (data, simulation), scaled so that the mean over all
    ``n_total`` events of ``coef * bce`` restricted to one sample is that sample's balanced mean."""
    out = np.zeros(y.shape[0])
    for flag in (0, 1):
        sel = is_sim == flag
        out[sel] = balanced_weights(y[sel], w[sel]) * (n_total / int(sel.sum()))
    return out


def _joint_split(
    data: _Sample, sim: _Sample, *, val_fraction: float, rng: np.random.Generator
) -> _Joint:
    """Stratified validation split of each sample (data first, from ``rng``), inputs standardised
    with the data training split, coefficients of :func:`_coefficients`."""
    nd, ns = data.x.shape[0], sim.x.shape[0]
    val = np.concatenate(
        [
            stratified_val_mask(data.y, float(val_fraction), rng),
            stratified_val_mask(sim.y, float(val_fraction), rng),
        ]
    )
    y = np.concatenate([data.y, sim.y])
    w = np.concatenate([data.w, sim.w])
    is_sim = np.concatenate([np.zeros(nd, np.int8), np.ones(ns, np.int8)])
    train = ~val
    standardizer = Standardizer.fit(data.x[train[:nd]])
    return _Joint(
        x=standardizer.transform(np.concatenate([data.x, sim.x])),
        y=y,
        is_sim=is_sim,
        val=val,
        standardizer=standardizer,
        c_train=_coefficients(y[train], w[train], is_sim[train], int(train.sum())),
        c_val=_coefficients(y[val], w[val], is_sim[val], int(val.sum())),
    )


def train_sim_assisted_classifier(
    x_data: np.ndarray,
    y_data: np.ndarray,
    x_sim: np.ndarray,
    y_sim: np.ndarray,
    *,
    sim_lambda: float,
    data_weight: np.ndarray | None = None,
    sim_weight: np.ndarray | None = None,
    hidden: Sequence[int] = (64, 64, 64),
    dropout: float = 0.0,
    batch_norm: bool = False,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 1024,
    max_epochs: int = 15,
    patience: int = 4,
    top_epochs: int = 1,
    val_fraction: float = 0.2,
    seed: int,
    accelerator: str = "auto",
) -> TrainedClassifier:
    """Train an :class:`MLP` with the SA-CWoLa loss ``BCE_data - sim_lambda * BCE_sim``.

    Both samples are class balanced separately (SR and SB get equal total weight within data and
    within simulation). A stratified, seeded ``val_fraction`` of each sample is held out; the
    inputs are standardised with the data training split; early stopping watches the validation
    value of the full loss and the best weights are kept. Seeded like
    :func:`~anomsearch.methods.nn.classifier_training.train_classifier`.

    Args:
        x_data: data features, shape ``(n_data, n_features)``.
        y_data: 1 for SR, 0 for SB data events.
        x_sim: simulation features, shape ``(n_sim, n_features)``.
        y_sim: 1 for SR, 0 for SB simulation events.
        sim_lambda: strength of the simulation term, >= 0 (0 is plain CWoLa).
        data_weight: optional per-event weights of the data.
        sim_weight: optional per-event weights of the simulation.
        hidden, dropout, batch_norm: the MLP.
        lr, weight_decay, batch_size, max_epochs, patience, top_epochs, val_fraction: training
            options, as in :func:`~anomsearch.methods.nn.classifier_training.train_classifier`
            (``top_epochs`` defaults to 1 here: the best epoch alone).
        seed: seed of the split, the initialisation and the shuffling.
        accelerator: Lightning accelerator.

    Returns:
        The :class:`TrainedClassifier` (its ``val_mask`` covers the data events followed by the
        simulation events).

    Raises:
        ConfigError: ``sim_lambda`` negative or non-finite, or invalid training options.
        DataFormatError: malformed inputs or fewer than 2 events of a class in a sample.

    References:
        arXiv:2009.02205.
    """
    lam = check_non_negative("sim_lambda", sim_lambda)
    check_training_options(
        lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, val_fraction=val_fraction, top_epochs=top_epochs, prefix="",
    )  # fmt: skip
    data = _checked_sample(x_data, y_data, data_weight, which="data", weight_name="data_weight")
    sim = _checked_sample(x_sim, y_sim, sim_weight, which="sim", weight_name="sim_weight")
    if data.x.shape[1] != sim.x.shape[1]:
        raise DataFormatError(
            f"x_data has {data.x.shape[1]} features but x_sim has {sim.x.shape[1]}; they must agree"
        )

    rng = np.random.default_rng(seed)
    joint = _joint_split(data, sim, val_fraction=val_fraction, rng=rng)
    train, val = ~joint.val, joint.val
    module, fit = fit_seeded(
        lambda: SimAssistedClassifierModule(
            MLP(joint.x.shape[1], hidden=hidden, dropout=dropout, batch_norm=batch_norm),
            lr=float(lr),
            weight_decay=float(weight_decay),
            sim_lambda=lam,
        ),
        (joint.x[train], joint.y[train], joint.c_train, joint.is_sim[train]),
        (joint.x[val], joint.y[val], joint.c_val, joint.is_sim[val]),
        seed=seed,
        rng=rng,
        batch_size=batch_size,
        val_batch_size=max(int(batch_size), 8192),
        max_epochs=max_epochs,
        patience=patience,
        keep_top=top_epochs,
        accelerator=accelerator,
    )
    log.info(
        "SA-CWoLa classifier (lambda=%g): %d data + %d simulation events, %d epochs in %.1f s, "
        "best val_loss %.5f (epoch %d)",
        lam,
        data.x.shape[0],
        sim.x.shape[0],
        fit.epochs_trained,
        fit.seconds,
        fit.best_loss,
        fit.best_epoch,
    )
    extra = epoch_networks(module, fit, lambda m: m.net)
    return trained_classifier(module.net, joint.standardizer, fit, joint.val, extra_nets=extra)
