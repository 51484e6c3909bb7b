"""Training of the DisCo classifier and of the Double DisCo pair.

:func:`train_disco_classifier` trains an :class:`~anomsearch.methods.nn.mlp.MLP` with the loss

    ``L = BCE + disco_lambda * dCor^2(sigmoid(logit), mjj)``;

:func:`train_double_disco` trains two MLPs ``f`` and ``g`` together with

    ``L = BCE(f) + BCE(g) + disco_lambda * dCor^2(sigmoid(f), sigmoid(g))``,

each penalty evaluated on the background-class (``y == 0``) events of each batch, with their event
weights (:mod:`anomsearch.methods.nn.disco_loss`). On background the two outputs of the pair are
then (close to) independent, so they span the plane of an ABCD estimate: ``N_A = N_B N_C / N_D``.
Both return :class:`~anomsearch.methods.nn.classifier_training.TrainedClassifier` s, as
:func:`~anomsearch.methods.nn.classifier_training.train_classifier` does, so the scorer machinery
(ensembles, save / load) is shared.

References:
    G. Kasieczka, D. Shih, "DisCo Fever: Robust Networks Through Distance Correlation",
    Phys. Rev. Lett. 125 (2020) 122001, arXiv:2001.05310.
    G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, "Automating the ABCD method with machine
    learning", Phys. Rev. D 103 (2021) 035021, arXiv:2007.14400.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning
import numpy as np

from anomsearch.exceptions import DataFormatError
from anomsearch.methods.nn.classifier_training import (
    TrainedClassifier,
    as_matrix,
    check_binary_labels,
    epoch_networks,
    split_labelled,
    trained_classifier,
)
from anomsearch.methods.nn.disco_loss import DiscoClassifierModule, DoubleDiscoModule
from anomsearch.methods.nn.mlp import MLP, TwinMLP
from anomsearch.methods.nn.training import check_sample_weight, fit_seeded
from anomsearch.methods.options import check_non_negative, check_training_options

__all__ = ["train_disco_classifier", "train_double_disco"]

log = logging.getLogger(__name__)

#: Minimum validation batch size (dCor^2 is a batch estimator; larger batches are less noisy).
MIN_VAL_BATCH = 2048


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


def _checked_inputs(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    disco_lambda: float,
    lr: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    val_fraction: float,
    top_epochs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The checked ``x``, ``y`` and ``sample_weight``, after checking the options."""
    x = as_matrix(x)
    n = x.shape[0]
    y = check_binary_labels(y, n)
    sample_weight = check_sample_weight(sample_weight, n)
    check_non_negative("disco_lambda", disco_lambda)
    check_training_options(
        lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, val_fraction=val_fraction, top_epochs=top_epochs, prefix="",
    )  # fmt: skip
    return x, y, sample_weight


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
    top_epochs: int = 1,
    val_fraction: float = 0.2,
    seed: int,
    accelerator: str = "auto",
    progress: bool = False,
) -> TrainedClassifier:
    """Train an MLP separating ``y == 1`` from ``y == 0`` with a DisCo penalty against ``mjj``.

    Same procedure as :func:`~anomsearch.methods.nn.classifier_training.train_classifier`
    (balanced classes, seeded stratified validation split, standardised inputs, Adam, early
    stopping on the validation loss, best weights kept in memory, global RNG states untouched),
    with the loss of :class:`~anomsearch.methods.nn.disco_loss.DiscoClassifierModule`. The
    validation batches hold at least 2048 events (more than a typical training batch), so that the
    batch estimate of ``dCor^2`` that enters the early stopping is less noisy.

    Args:
        x: features, shape ``(n_events, n_features)``; mjj should not be among them.
        y: 0/1 labels, shape ``(n_events,)``.
        mjj: the variable to decorrelate from, shape ``(n_events,)`` (any unit: dCor^2 is
            invariant under affine maps).
        disco_lambda: weight of the penalty, ``>= 0``.
        sample_weight: optional non-negative per-event weights.
        hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs, patience,
            top_epochs, val_fraction, seed, accelerator, progress: as in
            :func:`~anomsearch.methods.nn.classifier_training.train_classifier` (``top_epochs``
            defaults to 1 here: the best epoch alone).

    Returns:
        The :class:`~anomsearch.methods.nn.classifier_training.TrainedClassifier` with the weights
        of the lowest validation loss (BCE + penalty); ``history`` also holds ``val_bce`` and
        ``val_dcor`` of the epochs.

    Raises:
        DataFormatError: malformed inputs or fewer than 2 events of a class.
        ConfigError: invalid training options (e.g. a negative ``disco_lambda``).

    References:
        Kasieczka, Shih, arXiv:2001.05310.
    """
    x, y, sample_weight = _checked_inputs(
        x, y, sample_weight, disco_lambda=disco_lambda, lr=lr, weight_decay=weight_decay,
        batch_size=batch_size, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction, top_epochs=top_epochs,
    )  # fmt: skip
    n = x.shape[0]
    mjj = np.asarray(mjj, dtype=np.float64)
    if mjj.shape != (n,) or not np.all(np.isfinite(mjj)):
        raise DataFormatError(f"mjj must be finite with shape ({n},), got shape {mjj.shape}")

    rng = np.random.default_rng(seed)
    split = split_labelled(x, y, sample_weight, val_fraction=val_fraction, rng=rng)
    val = split.val
    train = ~val
    # mjj enters only through dCor^2 (affine invariant): centre it for float32 precision
    mjj_c = (mjj - mjj[train].mean()) / max(float(mjj[train].std()), 1e-12)
    val_parts: dict[str, list[float]] = {"val_bce": [], "val_dcor": []}
    module, fit = fit_seeded(
        lambda: DiscoClassifierModule(
            MLP(x.shape[1], hidden=hidden, dropout=dropout, batch_norm=batch_norm),
            lr=float(lr),
            weight_decay=float(weight_decay),
            disco_lambda=float(disco_lambda),
        ),
        (split.x[train], y[train], split.train_weight, mjj_c[train]),
        (split.x[val], y[val], split.val_weight, mjj_c[val]),
        seed=seed,
        rng=rng,
        batch_size=batch_size,
        val_batch_size=max(int(batch_size), MIN_VAL_BATCH),
        max_epochs=max_epochs,
        patience=patience,
        keep_top=top_epochs,
        accelerator=accelerator,
        progress=progress,
        callbacks=[_PartsRecorder(val_parts)],
    )
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
    return trained_classifier(
        module.net,
        split.standardizer,
        fit,
        val,
        history={**fit.history, **val_parts},
        extra_nets=epoch_networks(module, fit, lambda m: m.net),
    )


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
    top_epochs: int = 1,
    val_fraction: float = 0.2,
    seed: int,
    accelerator: str = "auto",
) -> tuple[TrainedClassifier, TrainedClassifier]:
    """Train the Double DisCo pair on labelled events.

    Same procedure as :func:`~anomsearch.methods.nn.classifier_training.train_classifier`
    (balanced classes, seeded stratified validation split, standardised inputs, Adam, early
    stopping on the validation loss, best weights kept, global RNG states untouched), with the
    loss of :class:`~anomsearch.methods.nn.disco_loss.DoubleDiscoModule` on a
    :class:`~anomsearch.methods.nn.mlp.TwinMLP`.

    Args:
        x: features ``(n_events, n_features)``.
        y: 0/1 labels ``(n_events,)``.
        disco_lambda: weight of the mutual decorrelation penalty, ``>= 0``.
        sample_weight, hidden, dropout, batch_norm, lr, weight_decay, batch_size, max_epochs,
            patience, top_epochs, val_fraction, seed, accelerator: as in ``train_classifier``
            (``top_epochs`` defaults to 1 here; with more, each of the pair averages the kept
            epochs).

    Returns:
        ``(first, second)``: the two classifiers (same standardiser, split and history).

    Raises:
        DataFormatError: malformed inputs or fewer than 2 events of a class.
        ConfigError: invalid options.

    References:
        arXiv:2007.14400.
    """
    x, y, sample_weight = _checked_inputs(
        x, y, sample_weight, disco_lambda=disco_lambda, lr=lr, weight_decay=weight_decay,
        batch_size=batch_size, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction, top_epochs=top_epochs,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    split = split_labelled(x, y, sample_weight, val_fraction=val_fraction, rng=rng)
    val = split.val
    train = ~val
    module, fit = fit_seeded(
        lambda: DoubleDiscoModule(
            TwinMLP(x.shape[1], hidden=hidden, dropout=dropout, batch_norm=batch_norm),
            lr=float(lr),
            weight_decay=float(weight_decay),
            disco_lambda=float(disco_lambda),
        ),
        (split.x[train], y[train], split.train_weight),
        (split.x[val], y[val], split.val_weight),
        seed=seed,
        rng=rng,
        batch_size=batch_size,
        val_batch_size=max(int(batch_size), MIN_VAL_BATCH),
        max_epochs=max_epochs,
        patience=patience,
        keep_top=top_epochs,
        accelerator=accelerator,
    )
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
    twin = module.net
    return (
        trained_classifier(
            twin.first,
            split.standardizer,
            fit,
            val,
            extra_nets=epoch_networks(module, fit, lambda m: m.net.first),
        ),
        trained_classifier(
            twin.second,
            split.standardizer,
            fit,
            val,
            extra_nets=epoch_networks(module, fit, lambda m: m.net.second),
        ),
    )
