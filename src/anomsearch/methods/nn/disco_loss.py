"""DisCo: a differentiable distance-correlation penalty and the losses of the DisCo classifiers.

:func:`distance_correlation_loss` is the weighted batch estimator of the squared distance
correlation ``dCor^2`` (same definition and normalisation as the numpy reference
:func:`anomsearch.metrics.decorrelation.distance_correlation`), written with tensor operations so
that it can be back-propagated. Two Lightning modules train with it:

* :class:`DiscoClassifierModule`: ``BCE + disco_lambda * dCor^2(sigmoid(logit), mjj)`` (DisCo);
* :class:`DoubleDiscoModule`: ``BCE(f) + BCE(g) + disco_lambda * dCor^2(sigmoid(f), sigmoid(g))``
  (Double DisCo),

each penalty evaluated on the background-class (``y == 0``) events of a batch, with their event
weights. The trainers are in :mod:`anomsearch.methods.nn.disco_training`.

References:
    G. Kasieczka, D. Shih, "DisCo Fever: Robust Networks Through Distance Correlation",
    Phys. Rev. Lett. 125 (2020) 122001, arXiv:2001.05310.
    G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, "Automating the ABCD method with machine
    learning", Phys. Rev. D 103 (2021) 035021, arXiv:2007.14400.
    G. J. Székely, M. L. Rizzo, N. K. Bakirov, Ann. Statist. 35 (2007) 2769, arXiv:0803.4101.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from anomsearch.exceptions import DataFormatError
from anomsearch.methods.nn.training import AdamTrainedModule

__all__ = ["DiscoClassifierModule", "DoubleDiscoModule", "distance_correlation_loss"]

log = logging.getLogger(__name__)

#: One DisCo batch: inputs, 0/1 targets, event weights, mjj.
DiscoBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

#: One Double DisCo batch: inputs, 0/1 targets, event weights.
DoubleDiscoBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


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

    def _common_step(self, batch: DiscoBatch, stage: str) -> torch.Tensor:
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


class DoubleDiscoModule(AdamTrainedModule):
    """Lightning module of two classifiers with a mutual DisCo penalty on background.

    Batches are ``(x, y, w)``; the loss is ``BCE(f) + BCE(g) + disco_lambda * dCor^2`` with the
    weighted ``dCor^2`` between ``sigmoid(f)`` and ``sigmoid(g)`` of the batch's background-class
    events. Logged: ``{stage}_loss`` (total), ``{stage}_bce`` (sum of both), ``{stage}_dcor``.

    Args:
        net: a :class:`~anomsearch.methods.nn.mlp.TwinMLP` (or any module giving logits
            ``(batch, 2)``).
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

    def _common_step(self, batch: DoubleDiscoBatch, stage: str) -> torch.Tensor:
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
