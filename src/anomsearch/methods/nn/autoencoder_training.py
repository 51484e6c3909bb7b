"""Autoencoder training with Lightning, and the trained model with its score statistics.

:func:`train_autoencoder` is the entry point the autoencoder method uses: it splits off a seeded
validation set, standardises the inputs with statistics of the training split only, trains an
:class:`~anomsearch.methods.nn.autoencoder_net.AutoencoderNet` on the (weighted) mean squared
reconstruction error with early stopping on the validation loss, keeps the best-validation-loss
weights, and measures what the three anomaly scores need: the per-feature reconstruction-error
scale on the validation split and the mean and covariance of the latent codes of the training
split.

References:
    M. Farina, Y. Nakai, D. Shih, "Searching for New Physics with Deep Autoencoders",
    Phys. Rev. D 101 (2020) 075021, arXiv:1808.08992.
    T. Heimel, G. Kasieczka, T. Plehn, J. M. Thompson, "QCD or What?", SciPost Phys. 6 (2019) 030,
    arXiv:1808.08979.
    G. Kasieczka et al., "The LHC Olympics 2020", Rep. Prog. Phys. 84 (2021) 124201,
    arXiv:2101.08320 (autoencoders on the R&D dataset).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn.autoencoder_net import AutoencoderNet
from anomsearch.methods.nn.classifier_training import Standardizer, as_matrix, random_val_mask
from anomsearch.methods.nn.training import AdamTrainedModule, check_sample_weight, fit_seeded
from anomsearch.methods.options import SCORE_KINDS, check_training_options

__all__ = [
    "SCORE_KINDS",
    "AutoencoderModule",
    "TrainedAutoencoder",
    "train_autoencoder",
]

log = logging.getLogger(__name__)

#: Rows per forward pass when scoring.
_PREDICT_BATCH = 65536


class AutoencoderModule(AdamTrainedModule):
    """Lightning wrapper training an autoencoder on the weighted mean squared error.

    Batches are ``(x, w)``: standardised inputs and per-event weights. The loss is
    ``mean_i(w_i * mean_j (x_ij - xhat_ij)^2)``, so with weights of mean 1 it is the weighted
    per-feature mean squared reconstruction error.

    Args:
        net: the autoencoder (input and output of the same shape).
        lr: Adam learning rate.
        weight_decay: Adam weight decay (L2).
    """

    def __init__(self, net: nn.Module, *, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction of ``x``."""
        return self.net(x)

    def _common_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, w = batch
        per_event = (self(x) - x).pow(2).mean(dim=1)
        loss = (w * per_event).mean()
        self._log_epoch(stage, x.shape[0], loss=loss)
        return loss


@dataclass(eq=False)
class TrainedAutoencoder:
    """A trained autoencoder with its input standardisation and score statistics.

    Attributes:
        net: the network (CPU, eval mode), best-validation-loss weights.
        standardizer: input statistics of the training split.
        error_scale: per-feature mean squared reconstruction error (standardised space) on the
            validation split, shape ``(n_features,)``: the variance of each feature's error about 0.
        latent_mean: mean latent code of the training split, shape ``(latent_dim,)``.
        latent_cov: covariance of the latent codes of the training split.
        best_val_loss: validation loss of the kept weights.
        best_epoch: epoch (0-based) of the kept weights.
        epochs_trained: number of epochs run before early stopping or ``max_epochs``.
        val_mask: boolean mask over the training inputs: ``True`` for the validation split.
        history: per-epoch ``train_loss`` and ``val_loss``.
        train_seconds: wall time of the Lightning fit.
    """

    net: AutoencoderNet
    standardizer: Standardizer
    error_scale: np.ndarray
    latent_mean: np.ndarray
    latent_cov: np.ndarray
    best_val_loss: float
    best_epoch: int
    epochs_trained: int
    val_mask: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.standardizer.mean.shape[0])

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised inputs and latent codes (float64) of raw features ``x``."""
        xs = self.standardizer.transform(x)
        xs32 = xs.astype(np.float32)
        self.net.eval()
        z = np.empty((xs.shape[0], self.net.latent_dim), dtype=np.float64)
        rec = np.empty(xs.shape, dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, xs.shape[0], _PREDICT_BATCH):
                stop = start + _PREDICT_BATCH
                code = self.net.encode(torch.from_numpy(xs32[start:stop]))
                z[start:stop] = code.double().numpy()
                rec[start:stop] = self.net.decode(code).double().numpy()
        return xs - rec, z

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Reconstruction residuals in standardised feature space, shape ``(n, n_features)``."""
        return self._forward(x)[0]

    def latent(self, x: np.ndarray) -> np.ndarray:
        """Latent codes of raw features ``x``, float64, shape ``(n, latent_dim)``."""
        return self._forward(x)[1]

    def score(self, x: np.ndarray, kind: str) -> np.ndarray:
        """Anomaly score of raw features ``x`` (higher = more anomalous), float64, shape ``(n,)``.

        Args:
            x: raw features, shape ``(n, n_features)``.
            kind: ``"mse"``: mean squared residual in standardised space; ``"normalized"``: sum
                over features of the squared residual divided by :attr:`error_scale` (each feature
                contributes comparably); ``"latent"``: Mahalanobis distance of the latent code from
                :attr:`latent_mean` with covariance :attr:`latent_cov`.

        Raises:
            ConfigError: unknown ``kind``.
        """
        if kind not in SCORE_KINDS:
            raise ConfigError(f"method.score must be one of {list(SCORE_KINDS)}, got {kind!r}")
        res, z = self._forward(x)
        if kind == "mse":
            return np.mean(res**2, axis=1)
        if kind == "normalized":
            return np.sum(res**2 / self.error_scale, axis=1)
        return _mahalanobis(z, self.latent_mean, self.latent_cov)


def _mahalanobis(z: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of the rows of ``z``; a tiny ridge keeps a degenerate covariance usable.

    Examples:
        >>> _mahalanobis(np.array([[2.0, 0.0], [0.0, 3.0]]), np.zeros(2), np.diag([4.0, 9.0]))
        array([1., 1.])
    """
    k = mean.shape[0]
    ridge = 1e-9 * max(float(np.trace(cov)) / k, 1e-12)
    chol = np.linalg.cholesky(cov + ridge * np.eye(k))
    u = np.linalg.solve(chol, (z - mean).T)
    return np.sqrt(np.sum(u**2, axis=0))


def _measure_score_statistics(
    model: TrainedAutoencoder,
    x_train: np.ndarray,
    x_val: np.ndarray,
    *,
    w_train: np.ndarray,
    w_val: np.ndarray,
) -> None:
    """Set the statistics the scores need: the per-feature error scale on the validation split,
    the latent mean and covariance on the training split (weighted)."""
    res_val = model.residuals(x_val)
    scale = np.average(res_val**2, axis=0, weights=w_val)
    model.error_scale = np.maximum(scale, 1e-12 * max(float(scale.max()), 1e-300))
    z_train = model.latent(x_train)
    model.latent_mean = np.average(z_train, axis=0, weights=w_train)
    model.latent_cov = np.atleast_2d(np.cov(z_train, rowvar=False, aweights=w_train))


def _unit_mean(w: np.ndarray, split: str) -> np.ndarray:
    total = float(w.sum())
    if total <= 0:
        raise DataFormatError(f"the {split} split has zero total sample_weight")
    return w * (w.shape[0] / total)


def train_autoencoder(
    x: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    hidden: Sequence[int] = (32, 16),
    latent_dim: int = 2,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 1024,
    max_epochs: int = 30,
    patience: int = 5,
    val_fraction: float = 0.2,
    seed: int,
    accelerator: str = "auto",
    progress: bool = False,
) -> TrainedAutoencoder:
    """Train an :class:`~anomsearch.methods.nn.autoencoder_net.AutoencoderNet` to reconstruct
    ``x``.

    A seeded ``val_fraction`` of the events is held out; inputs are standardised with the training
    split's statistics; the network is trained with Adam on the weighted mean squared
    reconstruction error by a :class:`lightning.Trainer` with early stopping on ``val_loss``, and
    the weights of the epoch with the lowest ``val_loss`` are kept. The run is seeded: identical
    inputs and ``seed`` give identical weights on the same hardware and thread count; the global
    RNG states are left untouched.

    Args:
        x: features, shape ``(n_events, n_features)``, at least 4 events.
        sample_weight: optional non-negative per-event weights.
        hidden: encoder hidden-layer widths (decoder mirrored).
        latent_dim: bottleneck size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size.
        max_epochs: maximum number of epochs.
        patience: early-stopping patience in epochs.
        val_fraction: fraction of events held out for validation.
        seed: seed of the split, the initialisation and the shuffling.
        accelerator: Lightning accelerator (``"auto"`` uses a GPU when there is one).
        progress: show a bar over the epochs (on a terminal).

    Returns:
        The :class:`TrainedAutoencoder` with the best-validation-loss weights.

    Raises:
        DataFormatError: malformed ``x``/``sample_weight`` or too few events.
        ConfigError: invalid training options.

    References:
        arXiv:1808.08992, arXiv:1808.08979.
    """
    x = as_matrix(x)
    n = x.shape[0]
    if n < 4:
        raise DataFormatError(f"x has {n} event(s); at least 4 are needed to train and validate")
    checked = check_sample_weight(sample_weight, n)
    w = np.ones(n) if checked is None else checked
    check_training_options(
        lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, val_fraction=val_fraction, prefix="",
    )  # fmt: skip

    rng = np.random.default_rng(seed)
    val = random_val_mask(n, val_fraction, rng)
    train = ~val
    standardizer = Standardizer.fit(x[train])
    xs = standardizer.transform(x)
    w_train = _unit_mean(w[train], "training")
    w_val = _unit_mean(w[val], "validation")
    module, fit = fit_seeded(
        lambda: AutoencoderModule(
            AutoencoderNet(x.shape[1], hidden=hidden, latent_dim=latent_dim),
            lr=float(lr),
            weight_decay=float(weight_decay),
        ),
        (xs[train], w_train),
        (xs[val], w_val),
        seed=seed,
        rng=rng,
        batch_size=batch_size,
        val_batch_size=max(int(batch_size), 8192),
        max_epochs=max_epochs,
        patience=patience,
        accelerator=accelerator,
        progress=progress,
    )
    model = TrainedAutoencoder(
        net=copy.deepcopy(module.net).cpu().eval(),
        standardizer=standardizer,
        error_scale=np.ones(x.shape[1]),
        latent_mean=np.zeros(int(latent_dim)),
        latent_cov=np.eye(int(latent_dim)),
        best_val_loss=fit.best_loss,
        best_epoch=fit.best_epoch,
        epochs_trained=fit.epochs_trained,
        val_mask=val,
        history=fit.history,
        train_seconds=fit.seconds,
    )
    _measure_score_statistics(model, x[train], x[val], w_train=w_train, w_val=w_val)
    log.info(
        "autoencoder: %d train / %d val events, %d epochs in %.1f s, best val_loss %.5f (epoch %d)",
        int(train.sum()),
        int(val.sum()),
        fit.epochs_trained,
        fit.seconds,
        fit.best_loss,
        fit.best_epoch,
    )
    return model
