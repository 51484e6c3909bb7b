"""Binary classifier training with Lightning: one LightningModule for any logit network.

:func:`train_classifier` is the one entry point the classifier methods use: it balances the
classes, splits off a seeded validation set, standardises the inputs with statistics of the
training split only, trains with early stopping on the validation loss and returns the
best-validation-loss weights. The input handling (:func:`as_matrix`, :class:`Standardizer`,
:func:`split_labelled`) and the result (:class:`TrainedClassifier`) are shared by the other
classifier trainers (DisCo, Double DisCo, SA-CWoLa) and the flow.

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (classifier training
    with class balancing, a validation split and early stopping, as used for CWoLa hunting).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import lightning
import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from anomsearch.exceptions import DataFormatError
from anomsearch.methods.nn.mlp import MLP
from anomsearch.methods.nn.training import (
    AdamTrainedModule,
    LightningFit,
    check_sample_weight,
    fit_seeded,
)
from anomsearch.methods.options import check_training_options

__all__ = [
    "BinaryClassifierModule",
    "LabelledSplit",
    "Standardizer",
    "TrainedClassifier",
    "as_matrix",
    "balanced_weights",
    "check_binary_labels",
    "epoch_networks",
    "random_val_mask",
    "split_labelled",
    "stratified_val_mask",
    "train_classifier",
    "trained_classifier",
    "weighted_bce",
]

log = logging.getLogger(__name__)

#: Rows per forward pass in :meth:`TrainedClassifier.predict_proba`.
_PREDICT_BATCH = 65536


# --------------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------------
def as_matrix(x: np.ndarray, *, name: str = "x") -> np.ndarray:
    """``x`` as a finite float64 matrix ``(n_events, n_features)``.

    Raises:
        DataFormatError: another shape, or a non-finite value (the message names ``name``).
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise DataFormatError(f"{name} must have shape (n_events, n_features), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataFormatError(f"{name} has a non-finite value at row {bad[0]}, column {bad[1]}")
    return arr


@dataclass(frozen=True)
class Standardizer:
    """Per-feature affine map ``(x - mean) / std`` with statistics from the training data only.

    A feature with (numerically) zero spread gets ``std = 1`` so that it maps to a constant instead
    of dividing by zero.

    Attributes:
        mean: per-feature mean, shape ``(n_features,)``.
        std: per-feature standard deviation (guarded), shape ``(n_features,)``.

    Examples:
        >>> s = Standardizer.fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
        >>> s.mean.tolist(), s.std.tolist()
        ([1.0, 5.0], [1.0, 1.0])
        >>> s.transform(np.array([[3.0, 5.0]])).tolist()
        [[2.0, 0.0]]
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        """Compute the statistics of ``x`` (shape ``(n_events, n_features)``, ``n_events >= 1``)."""
        x = as_matrix(x)
        if x.shape[0] == 0:
            raise DataFormatError("cannot fit a Standardizer on zero events")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        tiny = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
        std = np.where(tiny, 1.0, std)
        return cls(mean=mean, std=std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Return the standardised float64 copy of ``x``."""
        x = as_matrix(x)
        if x.shape[1] != self.mean.shape[0]:
            raise DataFormatError(
                f"expected {self.mean.shape[0]} features, got {x.shape[1]} (columns of x)"
            )
        return (x - self.mean) / self.std


def balanced_weights(y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-event weights such that both classes have the same total, and the mean weight is 1.

    Args:
        y: 0/1 labels, shape ``(n,)``, both classes present.
        sample_weight: optional non-negative per-event weights multiplied in before balancing.

    Returns:
        float64 weights, shape ``(n,)``: each class sums to ``n / 2``.

    Examples:
        >>> balanced_weights(np.array([1, 0, 0, 0])).tolist()
        [2.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    """
    y = np.asarray(y)
    w = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    out = np.empty(y.shape[0], dtype=np.float64)
    for cls in (0, 1):
        sel = y == cls
        total = float(w[sel].sum())
        if total <= 0:
            raise DataFormatError(f"class {cls} has zero total weight; cannot balance the classes")
        out[sel] = w[sel] * (0.5 * y.shape[0] / total)
    return out


# --------------------------------------------------------------------------------------------------
# Lightning module
# --------------------------------------------------------------------------------------------------
class BinaryClassifierModule(AdamTrainedModule):
    """Lightning wrapper training any ``nn.Module`` that maps ``(batch, n_features)`` to logits.

    Batches are ``(x, y, w)``: inputs, 0/1 targets (float) and per-event weights. The loss is the
    weighted binary cross entropy with logits, ``mean(w * bce)``, so with weights of mean 1 the
    epoch average equals the weighted loss of the whole split.

    Args:
        net: the network, returning a logit per event (shape ``(batch,)``).
        lr: Adam learning rate.
        weight_decay: Adam weight decay (L2).
    """

    def __init__(self, net: nn.Module, *, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of ``x``."""
        return self.net(x)

    def _common_step(
        self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], stage: str
    ) -> torch.Tensor:
        x, y, w = batch
        logits = self(x)
        loss = binary_cross_entropy_with_logits(logits, y, weight=w)
        self._log_epoch(stage, x.shape[0], loss=loss)
        return loss


# --------------------------------------------------------------------------------------------------
# training entry point
# --------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class TrainedClassifier:
    """A trained binary classifier with its input standardisation.

    The classifier's output is the mean of the sigmoid outputs of its networks (:attr:`nets`):
    the best-validation-loss epoch alone, or with ``top_epochs > 1`` the ``top_epochs`` epochs with
    the lowest validation loss (their predictions averaged, as in the CATHODE reference code).

    Attributes:
        net: the network of the epoch with the lowest validation loss (CPU, eval mode after the
            first prediction).
        standardizer: input statistics of the training split.
        best_val_loss: weighted validation loss of ``net``.
        best_epoch: epoch (0-based) of ``net``.
        epochs_trained: number of epochs run before early stopping or ``max_epochs``.
        val_mask: boolean mask over the training inputs: ``True`` for the validation split.
        history: per-epoch ``train_loss`` and ``val_loss``.
        train_seconds: wall time of the Lightning fit.
        extra_nets: the networks of the other averaged epochs (same architecture as ``net``),
            in order of increasing validation loss; empty for a single epoch.
        averaged_epochs: the epochs of ``net`` and ``extra_nets``, in that order (empty: only
            ``best_epoch``, e.g. a scorer saved before epochs were averaged).
        averaged_val_loss: weighted validation loss of the averaged output (``None`` where it was
            not computed: then :attr:`val_loss` is ``best_val_loss``).
    """

    net: nn.Module
    standardizer: Standardizer
    best_val_loss: float
    best_epoch: int
    epochs_trained: int
    val_mask: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    extra_nets: tuple[nn.Module, ...] = ()
    averaged_epochs: tuple[int, ...] = ()
    averaged_val_loss: float | None = None

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.standardizer.mean.shape[0])

    @property
    def nets(self) -> tuple[nn.Module, ...]:
        """Every network whose output is averaged: ``(net, *extra_nets)``."""
        return (self.net, *self.extra_nets)

    @property
    def val_loss(self) -> float:
        """Validation loss of the classifier as it scores: ``averaged_val_loss`` when recorded,
        else ``best_val_loss`` (the statistic the nested k-fold selects candidates by)."""
        return self.best_val_loss if self.averaged_val_loss is None else self.averaged_val_loss

    def _net_logits(self, x: np.ndarray) -> np.ndarray:
        """Logits of every network of :attr:`nets` for ``x`` (raw features), float64
        ``(n_nets, n)``."""
        xs = self.standardizer.transform(x).astype(np.float32)
        nets = self.nets
        out = np.empty((len(nets), xs.shape[0]), dtype=np.float64)
        for i, net in enumerate(nets):
            net.eval()
            device = next(iter(net.parameters())).device
            with torch.inference_mode():
                for start in range(0, xs.shape[0], _PREDICT_BATCH):
                    stop = start + _PREDICT_BATCH
                    logits = net(torch.from_numpy(xs[start:stop]).to(device))
                    out[i, start:stop] = logits.double().cpu().numpy().reshape(-1)
        return out

    def predict_logit(self, x: np.ndarray) -> np.ndarray:
        """Return the logit of :meth:`predict_proba` for ``x`` (raw features), float64,
        shape ``(n,)``: the network's logit for a single network."""
        z = self._net_logits(x)
        if z.shape[0] == 1:
            return z[0]
        log_p = np.logaddexp.reduce(-np.logaddexp(0.0, -z), axis=0)
        log_q = np.logaddexp.reduce(-np.logaddexp(0.0, z), axis=0)
        return log_p - log_q

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Return the classifier output in ``[0, 1]``, float64, shape ``(n,)``: the mean of
        ``sigmoid(logit)`` over :attr:`nets`.

        The sigmoid is taken in float64 so that confident events keep distinct values.
        """
        z = self._net_logits(x)
        return np.exp(-np.logaddexp(0.0, -z)).mean(axis=0)


def stratified_val_mask(y: np.ndarray, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Seeded validation mask keeping the class fractions; at least one event of each class on
    each side.

    Raises:
        DataFormatError: a class has fewer than 2 events.
    """
    val = np.zeros(y.shape[0], dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        if idx.size < 2:
            raise DataFormatError(
                f"class {cls} has {idx.size} event(s); at least 2 are needed to train and validate"
            )
        n_val = min(idx.size - 1, max(1, round(val_fraction * idx.size)))
        val[rng.permutation(idx)[:n_val]] = True
    return val


def random_val_mask(n: int, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Seeded validation mask of ``n`` events (``n >= 4``): ``round(val_fraction * n)`` of them,
    at least 2, and at least 2 left for training.

    Examples:
        >>> int(random_val_mask(10, 0.2, np.random.default_rng(0)).sum())
        2
    """
    n_val = min(n - 2, max(2, round(float(val_fraction) * n)))
    val = np.zeros(n, dtype=bool)
    val[rng.permutation(n)[:n_val]] = True
    return val


def _check_val_mask(val_mask: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Validate an explicit validation split: boolean, right shape, both classes on both sides."""
    val = np.asarray(val_mask)
    if val.shape != y.shape or val.dtype != np.bool_:
        raise DataFormatError(
            f"val_mask must be a boolean array of shape {y.shape}, got {val.dtype} {val.shape}"
        )
    for cls in (0, 1):
        in_cls = y == cls
        if not np.any(val & in_cls) or not np.any(~val & in_cls):
            raise DataFormatError(
                f"val_mask must leave at least one event of class {cls} in the training and in "
                "the validation split"
            )
    return val


def check_binary_labels(y: np.ndarray, n: int, *, name: str = "y") -> np.ndarray:
    """``y`` as int8 0/1 labels of ``n`` events.

    Raises:
        DataFormatError: wrong shape or values other than 0 and 1 (the message names ``name``).
    """
    y = np.asarray(y)
    if y.shape != (n,):
        raise DataFormatError(f"{name} must have shape ({n},) (0/1 labels), got {y.shape}")
    if not np.all(np.isin(y, (0, 1))):
        raise DataFormatError(f"{name} must contain only 0 and 1 (0/1 labels)")
    return y.astype(np.int8)


class LabelledSplit(NamedTuple):
    """Training/validation split of labelled events, standardised, with class-balanced weights.

    Attributes:
        x: standardised features of all events.
        val: boolean validation mask (``~val`` is the training set).
        standardizer: fitted on the training events.
        train_weight: :func:`balanced_weights` of the training events.
        val_weight: :func:`balanced_weights` of the validation events.
    """

    x: np.ndarray
    val: np.ndarray
    standardizer: Standardizer
    train_weight: np.ndarray
    val_weight: np.ndarray


def split_labelled(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    val_fraction: float,
    rng: np.random.Generator,
    val_mask: np.ndarray | None = None,
) -> LabelledSplit:
    """The split every labelled trainer starts from (classifier, DisCo, Double DisCo).

    Args:
        x: checked features ``(n, d)``.
        y: checked 0/1 labels (:func:`check_binary_labels`).
        sample_weight: checked per-event weights or None.
        val_fraction: fraction of each class for validation (ignored with ``val_mask``).
        rng: draws the stratified split (its only use of ``rng``).
        val_mask: an explicit validation mask instead.
    """
    val = (
        stratified_val_mask(y, float(val_fraction), rng)
        if val_mask is None
        else _check_val_mask(val_mask, y)
    )
    train = ~val
    standardizer = Standardizer.fit(x[train])
    return LabelledSplit(
        x=standardizer.transform(x),
        val=val,
        standardizer=standardizer,
        train_weight=balanced_weights(
            y[train], None if sample_weight is None else sample_weight[train]
        ),
        val_weight=balanced_weights(y[val], None if sample_weight is None else sample_weight[val]),
    )


def epoch_networks(
    module: lightning.LightningModule,
    fit: LightningFit,
    net_of: Callable[[lightning.LightningModule], nn.Module],
) -> tuple[nn.Module, ...]:
    """CPU copies (eval mode) of the network ``net_of(module)`` with the weights of each kept
    epoch after the best one (``fit.top[1:]``); the module is left holding the best weights.

    Args:
        module: the trained module (its ``state_dict`` is what :class:`LightningFit` keeps).
        fit: the record of :func:`~anomsearch.methods.nn.training.fit_seeded`.
        net_of: picks the network out of the module (e.g. ``lambda m: m.net``).
    """
    if len(fit.top) <= 1:
        return ()
    nets = []
    for kept in fit.top[1:]:
        module.load_state_dict(kept.state)
        nets.append(copy.deepcopy(net_of(module)).cpu().eval())
    module.load_state_dict(fit.top[0].state)
    return tuple(nets)


def trained_classifier(
    net: nn.Module,
    standardizer: Standardizer,
    fit: LightningFit,
    val: np.ndarray,
    *,
    history: Mapping[str, list[float]] | None = None,
    extra_nets: Sequence[nn.Module] = (),
) -> TrainedClassifier:
    """The :class:`TrainedClassifier` of a finished fit: a CPU copy of ``net`` in eval mode.

    Args:
        net: the trained network (the module's, holding the best weights).
        standardizer: the input statistics of the training split.
        fit: the record of :func:`~anomsearch.methods.nn.training.fit_seeded`.
        val: the validation mask.
        history: the per-epoch history (default: the fit's).
        extra_nets: the networks of the further kept epochs (:func:`epoch_networks`), averaged
            with ``net``.
    """
    epochs = tuple(e.epoch for e in fit.top[: 1 + len(extra_nets)]) or (fit.best_epoch,)
    return TrainedClassifier(
        net=copy.deepcopy(net).cpu().eval(),
        standardizer=standardizer,
        best_val_loss=fit.best_loss,
        best_epoch=fit.best_epoch,
        epochs_trained=fit.epochs_trained,
        val_mask=val,
        history=dict(fit.history if history is None else history),
        train_seconds=fit.seconds,
        extra_nets=tuple(extra_nets),
        averaged_epochs=epochs,
    )


def weighted_bce(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """``mean(w * bce(p, y))`` of probabilities ``p`` (float64; ``p`` clipped to ``[1e-12,
    1 - 1e-12]``), the loss :class:`BinaryClassifierModule` trains on.

    Examples:
        >>> round(weighted_bce(np.array([0.5, 0.5]), np.array([1, 0]), np.ones(2)), 6)
        0.693147
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(w * -(y * np.log(p) + (1.0 - y) * np.log1p(-p))))


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    hidden: Sequence[int] = (64, 64, 64),
    dropout: float = 0.0,
    batch_norm: bool = False,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    max_epochs: int = 50,
    patience: int = 8,
    top_epochs: int = 5,
    val_fraction: float = 0.2,
    val_mask: np.ndarray | None = None,
    seed: int,
    accelerator: str = "auto",
    progress: bool = False,
) -> TrainedClassifier:
    """Train an :class:`~anomsearch.methods.nn.mlp.MLP` to separate ``y == 1`` from ``y == 0``.

    Steps: classes are balanced (each class gets the same total weight, in the training and the
    validation split separately); a stratified, seeded ``val_fraction`` of the events is held out;
    inputs are standardised with the training split's statistics; the network is trained with Adam
    and the weighted BCE loss by a :class:`lightning.Trainer`; the weights of the ``top_epochs``
    epochs with the lowest ``val_loss`` are kept (in memory; no files are written) and the
    classifier averages their outputs; training stops after ``patience`` epochs in which no epoch
    entered those ``top_epochs`` (or at ``max_epochs``). The run is seeded: identical inputs and
    ``seed`` give identical weights on the same hardware and thread count. The global RNG states
    are left untouched.

    Why several epochs: in weak supervision (SR vs SB, data vs a background template) the
    validation loss of a useful classifier differs from ``ln 2`` by ~1e-4 to 1e-3, about as much
    as its statistical noise on ~10^4 validation events, so the single best epoch is picked by
    noise (often an under-trained first epoch); averaging the best few epochs is not.

    Args:
        x: features, shape ``(n_events, n_features)``.
        y: 0/1 labels, shape ``(n_events,)``.
        sample_weight: optional non-negative per-event weights (multiplied with the class
            balancing).
        hidden: hidden-layer widths of the MLP.
        dropout: dropout probability of the MLP.
        batch_norm: use batch normalisation in the MLP.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size.
        max_epochs: maximum number of epochs.
        patience: early-stopping patience: epochs in which no epoch entered the ``top_epochs``
            lowest validation losses.
        top_epochs: number of epochs (lowest validation loss) whose outputs are averaged; 1:
            the best epoch alone.
        val_fraction: fraction of events held out for validation (ignored with ``val_mask``).
        val_mask: explicit validation split, boolean ``(n_events,)`` (``True`` = validation),
            e.g. one fold of a nested k-fold; each class needs at least one event on each side.
        seed: seed of the split, the initialisation, the shuffling and dropout.
        accelerator: Lightning accelerator (``"auto"`` uses a GPU when there is one).
        progress: show a bar over the epochs (on a terminal).

    Returns:
        The :class:`TrainedClassifier` with the weights of the kept epochs, its
        ``averaged_val_loss`` the validation loss of their averaged output.

    Raises:
        DataFormatError: malformed ``x``/``y``/``sample_weight`` or fewer than 2 events of a class.
        ConfigError: invalid training options.

    References:
        arXiv:1805.02664, arXiv:1902.02634; A. Hallin et al., arXiv:2109.00546 (CATHODE: the
        classifier outputs of the 10 epochs with the lowest validation loss averaged).
    """
    x = as_matrix(x)
    n = x.shape[0]
    y = check_binary_labels(y, n)
    sample_weight = check_sample_weight(sample_weight, n)
    check_training_options(
        lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, val_fraction=val_fraction, top_epochs=top_epochs, prefix="",
    )  # fmt: skip

    rng = np.random.default_rng(seed)
    split = split_labelled(
        x, y, sample_weight, val_fraction=val_fraction, rng=rng, val_mask=val_mask
    )
    val = split.val
    train = ~val
    module, fit = fit_seeded(
        lambda: BinaryClassifierModule(
            MLP(x.shape[1], hidden=hidden, dropout=dropout, batch_norm=batch_norm),
            lr=float(lr),
            weight_decay=float(weight_decay),
        ),
        (split.x[train], y[train], split.train_weight),
        (split.x[val], y[val], split.val_weight),
        seed=seed,
        rng=rng,
        batch_size=batch_size,
        val_batch_size=max(int(batch_size), 8192),
        max_epochs=max_epochs,
        patience=patience,
        keep_top=top_epochs,
        accelerator=accelerator,
        progress=progress,
    )
    extra = epoch_networks(module, fit, lambda m: m.net)
    clf = trained_classifier(module.net, split.standardizer, fit, val, extra_nets=extra)
    clf.averaged_val_loss = (
        weighted_bce(clf.predict_proba(x[val]), y[val], split.val_weight) if extra else None
    )
    log.info(
        "classifier: %d train / %d val events, %d epochs in %.1f s, best val_loss %.5f (epoch "
        "%d); %s",
        int(train.sum()),
        int(val.sum()),
        fit.epochs_trained,
        fit.seconds,
        fit.best_loss,
        fit.best_epoch,
        f"epochs {list(clf.averaged_epochs)} averaged: val_loss {clf.averaged_val_loss:.5f}"
        if extra
        else "best epoch kept",
    )
    return clf
