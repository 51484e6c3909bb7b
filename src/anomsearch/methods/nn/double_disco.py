"""Double DisCo: two classifiers trained together, decorrelated from each other on background.

:func:`train_double_disco` trains two :class:`~anomsearch.methods.nn.mlp.MLP` s ``f`` and ``g`` on
the same labelled events with the loss

    ``L = BCE(f) + BCE(g) + disco_lambda * dCor^2(sigmoid(f), sigmoid(g))``,

the penalty evaluated on the background-class (``y == 0``) events of each batch. On background
the two outputs are then (close to) independent, so they span the plane of an ABCD estimate:
``N_A = N_B N_C / N_D``. Each trained network is returned as its own
:class:`~anomsearch.methods.nn.classifier.TrainedClassifier` (sharing the input standardisation).

References:
    G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, "Automating the ABCD method with machine
    learning", Phys. Rev. D 103 (2021) 035021, arXiv:2007.14400.
    G. Kasieczka, D. Shih, arXiv:2001.05310 (the DisCo penalty).
"""

from __future__ import annotations

import copy
import logging
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from anomsearch.exceptions import ConfigError
from anomsearch.methods.nn.classifier import (
    TrainedClassifier,
    _as_matrix,
    _check_options,
    check_binary_labels,
    split_labelled,
)
from anomsearch.methods.nn.disco import _MIN_VAL_BATCH, distance_correlation_loss
from anomsearch.methods.nn.mlp import MLP
from anomsearch.methods.nn.training import (
    AdamTrainedModule,
    check_sample_weight,
    fit_with_early_stopping,
    seeded_torch,
    whole_batch_loader,
)

__all__ = ["DoubleDiscoModule", "TwinMLP", "train_double_disco"]

log = logging.getLogger(__name__)


class TwinMLP(nn.Module):
    """Two independent MLPs on the same inputs; ``forward`` returns logits ``(batch, 2)``.

    Args:
        n_inputs: number of input features.
        hidden, dropout, batch_norm: as in :class:`~anomsearch.methods.nn.mlp.MLP`.

    Examples:
        >>> twin = TwinMLP(3, hidden=(8,))
        >>> tuple(twin(torch.zeros(5, 3)).shape)
        (5, 2)
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        hidden: Sequence[int] = (64, 64, 64),
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.first = MLP(n_inputs, hidden=hidden, dropout=dropout, batch_norm=batch_norm)
        self.second = MLP(n_inputs, hidden=hidden, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of both networks, shape ``(batch, 2)``."""
        return torch.stack([self.first(x), self.second(x)], dim=1)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class DoubleDiscoModule(AdamTrainedModule):
    """Lightning module of two classifiers with a mutual DisCo penalty on background.

    Batches are ``(x, y, w)``; the loss is ``BCE(f) + BCE(g) + disco_lambda * dCor^2`` with the
    weighted ``dCor^2`` between ``sigmoid(f)`` and ``sigmoid(g)`` of the batch's background-class
    events. Logged: ``{stage}_loss`` (total), ``{stage}_bce`` (sum of both), ``{stage}_dcor``.

    Args:
        net: a :class:`TwinMLP` (or any module giving logits ``(batch, 2)``).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        disco_lambda: weight of the penalty.

    References:
        arXiv:2007.14400.
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
        """Logits ``(batch, 2)``."""
        return self.net(x)

    def _common_step(self, batch: Batch, stage: str) -> torch.Tensor:
        x, y, w = batch
        logits = self(x)
        bce = binary_cross_entropy_with_logits(
            logits[:, 0], y, weight=w
        ) + binary_cross_entropy_with_logits(logits[:, 1], y, weight=w)
        bkg = y < 0.5
        if int(bkg.sum()) >= 2:
            p = torch.sigmoid(logits[bkg])
            dcor = distance_correlation_loss(p[:, 0], p[:, 1], w[bkg])
        else:
            dcor = torch.zeros((), dtype=bce.dtype, device=bce.device)
        loss = bce + self.hparams.disco_lambda * dcor
        self._log_epoch(stage, x.shape[0], loss=loss, bce=bce, dcor=dcor)
        return loss


def train_double_disco(
    x: np.ndarray,
    y: np.ndarray,
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
) -> tuple[TrainedClassifier, TrainedClassifier]:
    """Train the Double DisCo pair on labelled events.

    Same procedure as :func:`~anomsearch.methods.nn.classifier.train_classifier` (balanced
    classes, seeded stratified validation split, standardised inputs, Adam, early stopping on the
    validation loss, best weights kept, global RNG states untouched).

    Args:
        x: features ``(n_events, n_features)``.
        y: 0/1 labels ``(n_events,)``.
        disco_lambda: weight of the mutual decorrelation penalty, ``>= 0``.
        sample_weight, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs,
            patience, val_fraction, seed, accelerator: as in ``train_classifier``.

    Returns:
        ``(first, second)``: the two classifiers (same standardiser, split and history).

    Raises:
        DataFormatError: malformed inputs or fewer than 2 events of a class.
        ConfigError: invalid options.

    References:
        arXiv:2007.14400.
    """
    x = _as_matrix(x)
    n = x.shape[0]
    y = check_binary_labels(y, n)
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

    with seeded_torch(seed, rng) as generator:
        twin = TwinMLP(x.shape[1], hidden=hidden, dropout=dropout, batch_norm=batch_norm)
        module = DoubleDiscoModule(
            twin, lr=float(lr), weight_decay=float(weight_decay), disco_lambda=float(disco_lambda)
        )
        train_dl = whole_batch_loader(
            xs[train], y[train], w_train, batch_size=int(batch_size), generator=generator
        )
        val_dl = whole_batch_loader(
            xs[val],
            y[val],
            w_val,
            batch_size=max(int(batch_size), _MIN_VAL_BATCH),
            generator=None,
        )
        fit = fit_with_early_stopping(
            module,
            train_dl,
            val_dl,
            max_epochs=int(max_epochs),
            patience=int(patience),
            accelerator=accelerator,
            progress=False,
        )
    trained = copy.deepcopy(module.net).cpu().eval()
    log.info(
        "double disco (lambda=%g): %d train / %d val events, %d epochs in %.1f s, best val_loss "
        "%.5f (epoch %d)",
        float(disco_lambda),
        int(train.sum()),
        int(val.sum()),
        fit.epochs_trained,
        fit.seconds,
        fit.best_loss,
        fit.best_epoch,
    )
    history = fit.history
    return tuple(  # type: ignore[return-value]
        TrainedClassifier(
            net=sub,
            standardizer=standardizer,
            best_val_loss=fit.best_loss,
            best_epoch=fit.best_epoch,
            epochs_trained=fit.epochs_trained,
            val_mask=val,
            history=dict(history),
            train_seconds=fit.seconds,
        )
        for sub in (trained.first, trained.second)
    )
