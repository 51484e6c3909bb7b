"""A conditional normalizing flow ``p(x | mjj)`` trained with Lightning (the density of CATHODE).

:func:`train_flow` is the entry point: it splits off a seeded validation set, preprocesses the
features and the conditioning mass with statistics of the training split only, trains a masked
autoregressive flow (``zuko.flows.MAF``) or a neural spline flow (``zuko.flows.NSF``) by
maximum likelihood, stops early on the validation negative log-likelihood and keeps the
best-validation weights. The result, a :class:`TrainedFlow`, evaluates ``log p(x | mjj)`` and draws
samples in the *original* feature units.

Preprocessing (all from the training split):

* the context ``mjj`` is standardised (one feature, mean 0 / std 1);
* with ``logit=False`` (default) each feature is standardised;
* with ``logit=True`` each feature is first min-max scaled to ``(0, 1)`` using its training range
  widened by ``LOGIT_MARGIN`` of the range on both sides, then mapped through ``logit`` and then
  standardised. This removes the hard edges of bounded features (``tau21`` in ``[0, 1]``, jet
  masses ``>= 0``) that a flow with a Gaussian base models poorly, and guarantees that every sample
  lies inside the widened training range.

:meth:`TrainedFlow.log_prob` includes the Jacobian of the preprocessing, so it is a density in the
original units.

References:
    B. Nachman, D. Shih, "Anomaly Detection with Density Estimation" (ANODE), Phys. Rev. D 101
    (2020) 075042, arXiv:2001.04990 (conditional density estimation of the sidebands).
    A. Hallin et al., "Classifying Anomalies THrough Outer Density Estimation (CATHODE)",
    Phys. Rev. D 106 (2022) 055006, arXiv:2109.00546 (conditional MAF, logit preprocessing).
    G. Papamakarios, T. Pavlakou, I. Murray, "Masked Autoregressive Flow for Density Estimation",
    arXiv:1705.07057.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import zuko

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn.classifier_training import Standardizer, as_matrix, random_val_mask
from anomsearch.methods.nn.training import AdamTrainedModule, fit_seeded
from anomsearch.methods.options import FLOW_KINDS, check_training_options

__all__ = [
    "FLOW_KINDS",
    "LOGIT_MARGIN",
    "ConditionalFlowModule",
    "FeatureTransform",
    "TrainedFlow",
    "train_flow",
]

log = logging.getLogger(__name__)

#: Relative widening of each feature's training range before the logit transform.
LOGIT_MARGIN = 0.01

#: Rows per forward pass when evaluating or sampling.
_EVAL_BATCH = 65536


def _as_context(mjj: np.ndarray, n: int | None = None) -> np.ndarray:
    arr = np.asarray(mjj, dtype=np.float64).reshape(-1)
    if n is not None and arr.shape[0] != n:
        raise DataFormatError(f"mjj must have shape ({n},), got {np.shape(mjj)}")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(
            f"mjj has a non-finite value at row {np.flatnonzero(~np.isfinite(arr))[0]}"
        )
    return arr[:, None]


# --------------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureTransform:
    """Invertible per-feature map from original units to the flow's space (see module doc).

    Attributes:
        standardizer: statistics applied last (after the optional logit).
        low: lower edge of the widened range (logit only; ``None`` otherwise).
        high: upper edge of the widened range (logit only; ``None`` otherwise).

    Examples:
        >>> x = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
        >>> t = FeatureTransform.fit(x, logit=True)
        >>> bool(np.allclose(t.inverse(t.forward(x)), x))
        True
        >>> FeatureTransform.fit(x, logit=False).forward(x)[:, 0].tolist()
        [-1.224744871391589, 0.0, 1.224744871391589]
    """

    standardizer: Standardizer
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @property
    def logit(self) -> bool:
        """Whether the logit step is applied."""
        return self.low is not None

    @classmethod
    def fit(cls, x: np.ndarray, *, logit: bool) -> FeatureTransform:
        """Fit on training features ``x`` (shape ``(n, d)``)."""
        x = as_matrix(x, name="x")
        if not logit:
            return cls(Standardizer.fit(x))
        lo, hi = x.min(axis=0), x.max(axis=0)
        width = np.where(hi > lo, hi - lo, 1.0)
        low, high = lo - LOGIT_MARGIN * width, hi + LOGIT_MARGIN * width
        u = (x - low) / (high - low)
        return cls(Standardizer.fit(np.log(u) - np.log1p(-u)), low=low, high=high)

    def _unit(self, x: np.ndarray) -> np.ndarray:
        assert self.low is not None and self.high is not None
        u = (x - self.low) / (self.high - self.low)
        return np.clip(u, 1e-12, 1.0 - 1e-12)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Map original-unit features to the flow's space."""
        x = as_matrix(x, name="x")
        if self.logit:
            u = self._unit(x)
            x = np.log(u) - np.log1p(-u)
        return self.standardizer.transform(x)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Map flow-space values back to original units."""
        y = np.asarray(z, dtype=np.float64) * self.standardizer.std + self.standardizer.mean
        if self.logit:
            assert self.low is not None and self.high is not None
            u = np.exp(-np.logaddexp(0.0, -y))  # sigmoid, overflow-safe
            y = self.low + u * (self.high - self.low)
        return y

    def log_abs_det_jacobian(self, x: np.ndarray) -> np.ndarray:
        """``log |det dz/dx|`` of :meth:`forward` per event, shape ``(n,)``."""
        x = as_matrix(x, name="x")
        out = np.full(x.shape[0], -float(np.log(self.standardizer.std).sum()))
        if self.logit:
            assert self.low is not None and self.high is not None
            u = self._unit(x)
            out -= (np.log(u) + np.log1p(-u) + np.log(self.high - self.low)).sum(axis=1)
        return out


# --------------------------------------------------------------------------------------------------
# Lightning module
# --------------------------------------------------------------------------------------------------
class ConditionalFlowModule(AdamTrainedModule):
    """Lightning module holding a zuko conditional flow ``p(z | c)`` with a 1-d context.

    Batches are ``(z, c)``: preprocessed features ``(batch, n_features)`` and context
    ``(batch, 1)``. The loss is the mean negative log-likelihood, logged as ``train_loss`` /
    ``val_loss`` (the validation NLL that early stopping monitors). All constructor arguments are
    saved as hyperparameters, so ``ConditionalFlowModule(**module.hparams)`` rebuilds the
    architecture to load a ``state_dict`` into.

    Args:
        n_features: dimension of ``z``.
        kind: ``"maf"`` or ``"nsf"`` (see :data:`FLOW_KINDS`).
        transforms: number of autoregressive transforms.
        hidden: hidden-layer widths of each transform's MADE network.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.

    Examples:
        >>> m = ConditionalFlowModule(n_features=2, transforms=1, hidden=(8,))
        >>> m.log_prob(torch.zeros(3, 2), torch.zeros(3, 1)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        *,
        n_features: int,
        kind: str = "maf",
        transforms: int = 4,
        hidden: Sequence[int] = (64, 64),
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        self.save_hyperparameters()
        flow_cls = {"maf": zuko.flows.MAF, "nsf": zuko.flows.NSF}.get(kind)
        if flow_cls is None:
            raise ConfigError(f"flow kind must be one of {FLOW_KINDS}, got {kind!r}")
        self.flow = flow_cls(
            features=int(n_features),
            context=1,
            transforms=int(transforms),
            hidden_features=hidden,
        )

    def log_prob(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``log p(z | c)`` in the flow's space, shape ``(batch,)``."""
        return self.flow(c).log_prob(z)

    def sample(self, c: torch.Tensor) -> torch.Tensor:
        """One sample ``z ~ p(z | c)`` per context row (uses torch's global RNG)."""
        return self.flow(c).sample()

    def _common_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        z, c = batch
        loss = -self.log_prob(z, c).mean()
        self._log_epoch(stage, z.shape[0], loss=loss)
        return loss


# --------------------------------------------------------------------------------------------------
# trained flow
# --------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class TrainedFlow:
    """A trained conditional flow with its preprocessing; works in original units.

    Attributes:
        module: the Lightning module (CPU, eval mode) with the best-validation weights.
        transform: feature preprocessing fitted on the training split.
        context: ``mjj`` standardisation fitted on the training split.
        best_val_nll: mean validation NLL of the kept weights, in the flow's (preprocessed) space.
        best_epoch: epoch (0-based) of the kept weights.
        epochs_trained: number of epochs run.
        val_mask: boolean mask over the training inputs: ``True`` for the validation split.
        history: per-epoch ``train_loss`` and ``val_loss`` (mean NLL, preprocessed space).
        train_seconds: wall time of the Lightning fit.
    """

    module: ConditionalFlowModule
    transform: FeatureTransform
    context: Standardizer
    best_val_nll: float
    best_epoch: int
    epochs_trained: int
    val_mask: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0

    @property
    def n_features(self) -> int:
        """Number of modelled features."""
        return int(self.transform.standardizer.mean.shape[0])

    def _context(self, mjj: np.ndarray, n: int | None = None) -> np.ndarray:
        return self.context.transform(_as_context(mjj, n)).astype(np.float32)

    def log_prob(self, x: np.ndarray, mjj: np.ndarray) -> np.ndarray:
        """``log p(x | mjj)`` in original units (preprocessing Jacobian included), float64.

        With the logit preprocessing the density lives on the widened training range; values
        outside it are clipped to its edges, so their log-density is finite but meaningless.
        """
        x = as_matrix(x, name="x")
        if x.shape[1] != self.n_features:
            raise DataFormatError(f"expected {self.n_features} features, got {x.shape[1]}")
        c = self._context(mjj, x.shape[0])
        z = self.transform.forward(x).astype(np.float32)
        out = np.empty(x.shape[0], dtype=np.float64)
        self.module.eval()
        with torch.inference_mode():
            for start in range(0, x.shape[0], _EVAL_BATCH):
                stop = start + _EVAL_BATCH
                lp = self.module.log_prob(
                    torch.from_numpy(z[start:stop]), torch.from_numpy(c[start:stop])
                )
                out[start:stop] = lp.double().numpy()
        return out + self.transform.log_abs_det_jacobian(x)

    def sample(self, mjj: np.ndarray, *, seed: int) -> np.ndarray:
        """Draw one ``x ~ p(x | mjj)`` per entry of ``mjj``, in original units, float64.

        Seeded: the same ``mjj`` and ``seed`` give the same samples on the same hardware; torch's
        global RNG state is left untouched.
        """
        c = self._context(mjj)
        out = np.empty((c.shape[0], self.n_features), dtype=np.float64)
        self.module.eval()
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(int(np.random.SeedSequence(int(seed)).generate_state(1)[0]))
            for start in range(0, c.shape[0], _EVAL_BATCH):
                stop = start + _EVAL_BATCH
                z = self.module.sample(torch.from_numpy(c[start:stop]))
                out[start:stop] = z.double().numpy()
        return self.transform.inverse(out)


# --------------------------------------------------------------------------------------------------
# training entry point
# --------------------------------------------------------------------------------------------------


def _check_flow_options(
    *,
    kind: str,
    transforms: int,
    hidden: Sequence[int],
    lr: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    val_fraction: float,
) -> None:
    if kind not in FLOW_KINDS:
        raise ConfigError(f"kind must be one of {FLOW_KINDS}, got {kind!r}")
    if int(transforms) < 1:
        raise ConfigError(f"transforms must be >= 1, got {transforms}")
    if not hidden or any(int(h) < 1 for h in hidden):
        raise ConfigError(f"hidden must be a non-empty list of positive widths, got {hidden}")
    check_training_options(
        lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
        patience=patience, val_fraction=val_fraction, prefix="",
    )  # fmt: skip


def train_flow(
    x: np.ndarray,
    mjj: np.ndarray,
    *,
    kind: str = "maf",
    transforms: int = 4,
    hidden: Sequence[int] = (64, 64),
    logit: bool = False,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    max_epochs: int = 30,
    patience: int = 5,
    val_fraction: float = 0.2,
    seed: int,
    accelerator: str = "auto",
    progress: bool = False,
) -> TrainedFlow:
    """Fit ``p(x | mjj)`` by maximum likelihood with early stopping on the validation NLL.

    A seeded ``val_fraction`` of the events is held out; preprocessing (see module doc) uses the
    training split only; the weights of the epoch with the lowest validation NLL are kept (in
    memory). The run is seeded and leaves the global RNG states untouched.

    Args:
        x: features, shape ``(n_events, n_features)``.
        mjj: conditioning mass per event, shape ``(n_events,)``.
        kind: ``"maf"`` or ``"nsf"``.
        transforms: number of autoregressive transforms.
        hidden: hidden-layer widths of each transform.
        logit: apply the bounded-range logit preprocessing.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size.
        max_epochs: maximum number of epochs.
        patience: early-stopping patience in epochs.
        val_fraction: fraction of events held out for validation.
        seed: seed of the split, the initialisation and the shuffling.
        accelerator: Lightning accelerator.
        progress: show a bar over the epochs (on a terminal).

    Returns:
        The :class:`TrainedFlow` (on the CPU) with the best-validation weights.

    Raises:
        DataFormatError: malformed ``x``/``mjj`` or too few events to split.
        ConfigError: invalid training options.

    References:
        arXiv:2001.04990, arXiv:2109.00546.
    """
    x = as_matrix(x, name="x")
    n = x.shape[0]
    m = _as_context(mjj, n)
    _check_flow_options(
        kind=kind, transforms=transforms, hidden=hidden, lr=lr, weight_decay=weight_decay,
        batch_size=batch_size, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction,
    )  # fmt: skip
    if n < 4:
        raise DataFormatError(f"a flow needs at least 4 training events, got {n}")
    rng = np.random.default_rng(seed)
    val = random_val_mask(n, val_fraction, rng)
    train = ~val
    transform = FeatureTransform.fit(x[train], logit=logit)
    context = Standardizer.fit(m[train])
    z = transform.forward(x)
    c = context.transform(m)
    module, fit = fit_seeded(
        lambda: ConditionalFlowModule(
            n_features=x.shape[1],
            kind=kind,
            transforms=int(transforms),
            hidden=hidden,
            lr=float(lr),
            weight_decay=float(weight_decay),
        ),
        (z[train], c[train]),
        (z[val], c[val]),
        seed=seed,
        rng=rng,
        batch_size=batch_size,
        val_batch_size=max(int(batch_size), 8192),
        max_epochs=max_epochs,
        patience=patience,
        accelerator=accelerator,
        progress=progress,
        cuda=False,
    )
    # a fresh module (no reference to the trainer) with the best weights, on the CPU
    trained = ConditionalFlowModule(**module.hparams)
    trained.load_state_dict(module.state_dict())
    trained.eval()
    log.info(
        "flow: %d train / %d val events, %d epochs in %.1f s, best val NLL %.4f (epoch %d)",
        int(train.sum()),
        int(val.sum()),
        fit.epochs_trained,
        fit.seconds,
        fit.best_loss,
        fit.best_epoch,
    )
    return TrainedFlow(
        module=trained,
        transform=transform,
        context=context,
        best_val_nll=fit.best_loss,
        best_epoch=fit.best_epoch,
        epochs_trained=fit.epochs_trained,
        val_mask=val,
        history=fit.history,
        train_seconds=fit.seconds,
    )
