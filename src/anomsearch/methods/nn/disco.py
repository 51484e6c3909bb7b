"""DisCo: a differentiable distance-correlation penalty and the classifier trained with it.

:func:`distance_correlation_loss` is the weighted batch estimator of the squared distance
correlation ``dCor^2`` (same definition and normalisation as the numpy reference
:func:`anomsearch.metrics.decorrelation.distance_correlation`), written with tensor operations so
that it can be back-propagated. :func:`train_disco_classifier` trains an
:class:`~anomsearch.methods.nn.mlp.MLP` with the loss

    ``L = BCE + disco_lambda * dCor^2(sigmoid(logit), mjj)``,

where the penalty is evaluated on the background-class (``y == 0``) events of each batch, with
their event weights; it returns the same
:class:`~anomsearch.methods.nn.classifier.TrainedClassifier` as
:func:`~anomsearch.methods.nn.classifier.train_classifier`, so the scorer machinery (ensembles,
save / load) is shared.

References:
    G. Kasieczka, D. Shih, "DisCo Fever: Robust Networks Through Distance Correlation",
    Phys. Rev. Lett. 125 (2020) 122001, arXiv:2001.05310.
    G. J. Székely, M. L. Rizzo, N. K. Bakirov, Ann. Statist. 35 (2007) 2769, arXiv:0803.4101.
"""

from __future__ import annotations

import copy
import logging
import math
import numbers
from collections.abc import Sequence

import lightning
import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn.classifier import (
    TrainedClassifier,
    _as_matrix,
    _check_options,
    check_binary_labels,
    split_labelled,
)
from anomsearch.methods.nn.mlp import MLP
from anomsearch.methods.nn.training import (
    AdamTrainedModule,
    check_sample_weight,
    fit_with_early_stopping,
    seeded_torch,
    whole_batch_loader,
)

__all__ = ["DiscoClassifierModule", "distance_correlation_loss", "train_disco_classifier"]

log = logging.getLogger(__name__)

#: Minimum validation batch size (dCor^2 is a batch estimator; larger batches are less noisy).
_MIN_VAL_BATCH = 2048

#: One batch tensor tuple: inputs, 0/1 targets, event weights, mjj.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _double_centred(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``A_ij = a_ij - a_i. - a_.j + a_..`` of ``a_ij = |v_i - v_j|`` with weights ``p``."""
    a = torch.abs(v[:, None] - v[None, :])
    row = a @ p
    return a - row[:, None] - row[None, :] + p @ row


def distance_correlation_loss(
    x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Differentiable weighted squared distance correlation ``dCor^2(x, y)`` of a batch.

    With the normalised weights ``p = w / sum(w)``, the distance matrices ``|x_i - x_j|`` and
    ``|y_i - y_j|`` are double-centred with weighted means (``A``, ``B``), and
    ``dCor^2 = sum p_i p_j A_ij B_ij / sqrt(sum p_i p_j A_ij^2 * sum p_i p_j B_ij^2)``, the
    estimator of the DisCo paper; it equals
    :func:`anomsearch.metrics.decorrelation.distance_correlation`. Memory and time are ``O(N^2)`` in
    the batch size. A (numerically) constant ``x`` or ``y`` gives 0 (no gradient through the guard).

    Args:
        x: first variable, shape ``(n,)`` (e.g. the classifier output), ``n >= 2``.
        y: second variable, shape ``(n,)`` (e.g. mjj).
        weights: optional non-negative event weights, shape ``(n,)``.

    Returns:
        A scalar tensor in ``[0, 1]`` with the dtype of ``x``.

    Raises:
        DataFormatError: inputs of the wrong shape or fewer than 2 events.

    References:
        Kasieczka, Shih, arXiv:2001.05310; Székely, Rizzo, Bakirov, Ann. Statist. 35 (2007) 2769.

    Examples:
        >>> x = torch.tensor([0.0, 1.0, 2.0, 5.0], dtype=torch.float64)
        >>> round(float(distance_correlation_loss(x, -2.0 * x + 3.0)), 12)
        1.0
    """
    if x.ndim != 1 or y.shape != x.shape or x.shape[0] < 2:
        raise DataFormatError(
            f"distance_correlation_loss needs two 1-D tensors of one length >= 2, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    y = y.to(x.dtype)
    if weights is None:
        p = torch.full_like(x, 1.0 / x.shape[0])
    else:
        if weights.shape != x.shape:
            raise DataFormatError(
                f"weights must have shape {tuple(x.shape)}, got {tuple(weights.shape)}"
            )
        w = weights.to(x.dtype)
        p = w / w.sum()
    a = _double_centred(x, p)
    b = _double_centred(y, p)
    dcov_xy = p @ (a * b) @ p
    dcov_xx = p @ (a * a) @ p
    dcov_yy = p @ (b * b) @ p
    denom_sq = dcov_xx * dcov_yy
    tiny = torch.finfo(x.dtype).tiny
    if float(denom_sq.detach()) <= tiny:
        return (x * 0.0).sum()  # constant input: zero, and keeps the graph connected
    return dcov_xy / torch.sqrt(denom_sq)


class DiscoClassifierModule(AdamTrainedModule):
    """Lightning module for a binary classifier with a DisCo penalty against mjj.

    Batches are ``(x, y, w, mjj)``. The loss is ``mean(w * bce) + disco_lambda * dCor^2``, with
    ``dCor^2`` (see :func:`distance_correlation_loss`) between the classifier output
    ``sigmoid(logit)`` and ``mjj`` of the batch's background-class (``y == 0``) events, weighted by
    their ``w``. Batches with fewer than 2 background events get no penalty. The logged
    ``{stage}_loss`` is the total, ``{stage}_bce`` and ``{stage}_dcor`` its parts.

    Args:
        net: network mapping ``(batch, n_features)`` to logits ``(batch,)``.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        disco_lambda: weight of the dCor^2 penalty (0: a plain classifier).

    References:
        Kasieczka, Shih, arXiv:2001.05310.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        disco_lambda: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of ``x``."""
        return self.net(x)

    def _common_step(self, batch: Batch, stage: str) -> torch.Tensor:
        x, y, w, mjj = batch
        logits = self(x)
        bce = binary_cross_entropy_with_logits(logits, y, weight=w)
        bkg = y < 0.5
        if int(bkg.sum()) >= 2:
            dcor = distance_correlation_loss(torch.sigmoid(logits[bkg]), mjj[bkg], w[bkg])
        else:
            dcor = torch.zeros((), dtype=bce.dtype, device=bce.device)
        loss = bce + self.hparams.disco_lambda * dcor
        self._log_epoch(stage, x.shape[0], loss=loss, bce=bce, dcor=dcor)
        return loss


def train_disco_classifier(
    x: np.ndarray,
    y: np.ndarray,
    mjj: np.ndarray,
    *,
    disco_lambda: float,
    sample_weight: np.ndarray | None = None,
    hidden: Sequence[int] = (64, 64, 64),
    dropout: float = 0.0,
    batch_norm: bool = False,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 1024,
    max_epochs: int = 15,
    patience: int = 4,
    val_fraction: float = 0.2,
    seed: int,
    accelerator: str = "auto",
    progress: bool = False,
) -> TrainedClassifier:
    """Train an MLP separating ``y == 1`` from ``y == 0`` with a DisCo penalty against ``mjj``.

    Same procedure as :func:`~anomsearch.methods.nn.classifier.train_classifier` (balanced
    classes, seeded stratified validation split, standardised inputs, Adam, early stopping on the
    validation loss, best weights kept in memory, global RNG states untouched), with the loss of
    :class:`DiscoClassifierModule`. The validation batches hold at least 2048 events (more than a
    typical training batch), so that the batch estimate of ``dCor^2`` that enters the early
    stopping is less noisy.

    Args:
        x: features, shape ``(n_events, n_features)``; mjj should not be among them.
        y: 0/1 labels, shape ``(n_events,)``.
        mjj: the variable to decorrelate from, shape ``(n_events,)`` (any unit: dCor^2 is
            invariant under affine maps).
        disco_lambda: weight of the penalty, ``>= 0``.
        sample_weight: optional non-negative per-event weights.
        hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            val_fraction, seed, accelerator, progress: as in
            :func:`~anomsearch.methods.nn.classifier.train_classifier`.

    Returns:
        The :class:`~anomsearch.methods.nn.classifier.TrainedClassifier` with the weights of the
        lowest validation loss (BCE + penalty); ``history`` also holds ``val_bce`` and
        ``val_dcor`` of the epochs.

    Raises:
        DataFormatError: malformed inputs or fewer than 2 events of a class.
        ConfigError: invalid training options (e.g. a negative ``disco_lambda``).

    References:
        Kasieczka, Shih, arXiv:2001.05310.
    """
    x = _as_matrix(x)
    n = x.shape[0]
    y = check_binary_labels(y, n)
    mjj = np.asarray(mjj, dtype=np.float64)
    if mjj.shape != (n,) or not np.all(np.isfinite(mjj)):
        raise DataFormatError(f"mjj must be finite with shape ({n},), got shape {mjj.shape}")
    sample_weight = check_sample_weight(sample_weight, n)
    if (
        isinstance(disco_lambda, bool)
        or not isinstance(disco_lambda, numbers.Real)
        or not math.isfinite(disco_lambda)
        or disco_lambda < 0
    ):
        raise ConfigError(f"method.disco_lambda must be a number >= 0, got {disco_lambda!r}")
    _check_options(
        lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction,
    )  # fmt: skip

    rng = np.random.default_rng(seed)
    split = split_labelled(x, y, sample_weight, val_fraction=val_fraction, rng=rng)
    xs, val, standardizer = split.x, split.val, split.standardizer
    train, w_train, w_val = ~val, split.train_weight, split.val_weight
    # mjj enters only through dCor^2 (affine invariant): centre it for float32 precision
    mjj_c = (mjj - mjj[train].mean()) / max(float(mjj[train].std()), 1e-12)

    with seeded_torch(seed, rng) as generator:
        net = MLP(x.shape[1], hidden=hidden, dropout=dropout, batch_norm=batch_norm)
        module = DiscoClassifierModule(
            net, lr=float(lr), weight_decay=float(weight_decay), disco_lambda=float(disco_lambda)
        )
        train_dl = whole_batch_loader(
            xs[train],
            y[train],
            w_train,
            mjj_c[train],
            batch_size=int(batch_size),
            generator=generator,
        )
        val_dl = whole_batch_loader(
            xs[val],
            y[val],
            w_val,
            mjj_c[val],
            batch_size=max(int(batch_size), _MIN_VAL_BATCH),
            generator=None,
        )
        val_parts: dict[str, list[float]] = {"val_bce": [], "val_dcor": []}
        recorder = _PartsRecorder(val_parts)
        fit = fit_with_early_stopping(
            module,
            train_dl,
            val_dl,
            max_epochs=int(max_epochs),
            patience=int(patience),
            accelerator=accelerator,
            progress=progress,
            callbacks=[recorder],
        )
    net = copy.deepcopy(module.net).cpu().eval()
    log.info(
        "disco classifier (lambda=%g): %d train / %d val events, %d epochs in %.1f s, "
        "best val_loss %.5f (epoch %d)",
        float(disco_lambda),
        int(train.sum()),
        int(val.sum()),
        fit.epochs_trained,
        fit.seconds,
        fit.best_loss,
        fit.best_epoch,
    )
    return TrainedClassifier(
        net=net,
        standardizer=standardizer,
        best_val_loss=fit.best_loss,
        best_epoch=fit.best_epoch,
        epochs_trained=fit.epochs_trained,
        val_mask=val,
        history={**fit.history, **val_parts},
        train_seconds=fit.seconds,
    )


class _PartsRecorder(lightning.Callback):
    """Record the per-epoch validation BCE and dCor^2 parts of the loss."""

    def __init__(self, store: dict[str, list[float]]) -> None:
        self.store = store

    def on_validation_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        if trainer.sanity_checking:
            return
        for key, values in self.store.items():
            value = trainer.callback_metrics.get(key)
            if value is not None:
                values.append(float(value))
