"""Dense autoencoder, its Lightning training loop and the trained model with its score statistics.

:func:`train_autoencoder` is the entry point the autoencoder method uses: it splits off a seeded
validation set, standardises the inputs with statistics of the training split only, trains an
:class:`AutoencoderNet` on the (weighted) mean squared reconstruction error with early stopping on
the validation loss, keeps the best-validation-loss weights, and measures what the three anomaly
scores need: the per-feature reconstruction-error scale on the validation split and the mean and
covariance of the latent codes of the training split.

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
from itertools import pairwise

import numpy as np
import torch
from torch import nn

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn.classifier import (
    Standardizer,
    _as_matrix,
    _check_options,
)
from anomsearch.methods.nn.training import (
    AdamTrainedModule,
    check_sample_weight,
    fit_with_early_stopping,
    seeded_torch,
    whole_batch_loader,
)

__all__ = [
    "SCORE_KINDS",
    "AutoencoderModule",
    "AutoencoderNet",
    "TrainedAutoencoder",
    "train_autoencoder",
]

log = logging.getLogger(__name__)

#: The anomaly scores a :class:`TrainedAutoencoder` computes (see :meth:`TrainedAutoencoder.score`).
SCORE_KINDS: tuple[str, ...] = ("mse", "normalized", "latent")

#: Rows per forward pass when scoring.
_PREDICT_BATCH = 65536


def _dense(widths: Sequence[int]) -> nn.Sequential:
    """Linear layers ``widths[0] -> ... -> widths[-1]`` with ReLU between them (none at the end)."""
    layers: list[nn.Module] = []
    steps = list(pairwise(widths))
    for i, (a, b) in enumerate(steps):
        layers.append(nn.Linear(a, b))
        if i < len(steps) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AutoencoderNet(nn.Module):
    """Dense autoencoder ``n_inputs -> hidden... -> latent_dim -> reversed(hidden)... -> n_inputs``.

    ReLU activations between layers; the latent code and the reconstruction are linear.

    Args:
        n_inputs: number of input features.
        hidden: encoder hidden-layer widths (the decoder mirrors them); may be empty.
        latent_dim: size of the bottleneck.

    Raises:
        ConfigError: non-positive sizes.

    Examples:
        >>> net = AutoencoderNet(4, hidden=(8,), latent_dim=2)
        >>> x = torch.zeros(5, 4)
        >>> tuple(net.encode(x).shape), tuple(net(x).shape)
        ((5, 2), (5, 4))
    """

    def __init__(
        self, n_inputs: int, *, hidden: Sequence[int] = (32, 16), latent_dim: int = 2
    ) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if int(n_inputs) < 1:
            raise ConfigError(f"AutoencoderNet n_inputs must be >= 1, got {n_inputs}")
        if any(h < 1 for h in hidden):
            raise ConfigError(f"method.hidden: layer widths must be >= 1, got {list(hidden)}")
        if int(latent_dim) < 1:
            raise ConfigError(f"method.latent_dim must be >= 1, got {latent_dim}")
        self.n_inputs = int(n_inputs)
        self.hidden = hidden
        self.latent_dim = int(latent_dim)
        self.encoder = _dense((self.n_inputs, *hidden, self.latent_dim))
        self.decoder = _dense((self.latent_dim, *reversed(hidden), self.n_inputs))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent code of ``x``, shape ``(batch, latent_dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the latent code ``z``, shape ``(batch, n_inputs)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x``, shape ``(batch, n_inputs)``."""
        return self.decode(self.encode(x))


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
    """Train an :class:`AutoencoderNet` to reconstruct ``x``.

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
    x = _as_matrix(x)
    n = x.shape[0]
    if n < 4:
        raise DataFormatError(f"x has {n} event(s); at least 4 are needed to train and validate")
    checked = check_sample_weight(sample_weight, n)
    w = np.ones(n) if checked is None else checked
    _check_options(
        lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction,
    )  # fmt: skip

    rng = np.random.default_rng(seed)
    n_val = min(n - 2, max(2, round(float(val_fraction) * n)))
    val = np.zeros(n, dtype=bool)
    val[rng.permutation(n)[:n_val]] = True
    train = ~val
    standardizer = Standardizer.fit(x[train])
    xs = standardizer.transform(x)
    w_train = _unit_mean(w[train], "training")
    w_val = _unit_mean(w[val], "validation")

    with seeded_torch(seed, rng) as generator:
        net = AutoencoderNet(x.shape[1], hidden=hidden, latent_dim=latent_dim)
        module = AutoencoderModule(net, lr=float(lr), weight_decay=float(weight_decay))
        train_dl = whole_batch_loader(
            xs[train], w_train, batch_size=int(batch_size), generator=generator
        )
        val_dl = whole_batch_loader(
            xs[val], w_val, batch_size=max(int(batch_size), 8192), generator=None
        )
        fit = fit_with_early_stopping(
            module,
            train_dl,
            val_dl,
            max_epochs=int(max_epochs),
            patience=int(patience),
            accelerator=accelerator,
            progress=progress,
        )
    net = copy.deepcopy(module.net).cpu().eval()

    model = TrainedAutoencoder(
        net=net,
        standardizer=standardizer,
        error_scale=np.ones(x.shape[1]),
        latent_mean=np.zeros(net.latent_dim),
        latent_cov=np.eye(net.latent_dim),
        best_val_loss=fit.best_loss,
        best_epoch=fit.best_epoch,
        epochs_trained=fit.epochs_trained,
        val_mask=val,
        history=fit.history,
        train_seconds=fit.seconds,
    )
    res_val = model.residuals(x[val])
    scale = np.average(res_val**2, axis=0, weights=w_val)
    model.error_scale = np.maximum(scale, 1e-12 * max(float(scale.max()), 1e-300))
    z_train = model.latent(x[train])
    model.latent_mean = np.average(z_train, axis=0, weights=w_train)
    model.latent_cov = np.atleast_2d(np.cov(z_train, rowvar=False, aweights=w_train))
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
