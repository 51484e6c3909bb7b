"""The Lightning fit every network of the package uses: early stopping, best weights in memory.

:func:`fit_with_early_stopping` runs a :class:`lightning.Trainer` on in-memory data loaders with
early stopping on ``val_loss``, keeps the weights of the ``keep_top`` epochs with the lowest
``val_loss`` in memory (no checkpoint files, no logs), loads the best of them back into the
module, and returns them with the loss history. Training stops after ``patience`` epochs in which
no epoch entered those ``keep_top`` (with ``keep_top = 1``: the classic patience on the lowest
``val_loss``). Lightning's INFO chatter and the warnings that do not apply to in-memory training
are silenced for the duration of the fit. :func:`fit_seeded` wraps it with the seeding and the data
loaders every trainer of the package uses.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import lightning
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from numpy.typing import ArrayLike
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)

from anomsearch.exceptions import DataFormatError, FitError
from anomsearch.progress import ProgressBar, progress_bar
from anomsearch.progress import active as progress_active

__all__ = [
    "AdamTrainedModule",
    "EpochState",
    "LightningFit",
    "check_sample_weight",
    "fit_seeded",
    "fit_with_early_stopping",
    "seeded_torch",
    "whole_batch_loader",
]

log = logging.getLogger(__name__)

#: Loggers through which Lightning prints device info and tips at ``INFO`` level during ``fit``.
_LIGHTNING_INFO_LOGGERS: tuple[str, ...] = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
)


class EpochState(NamedTuple):
    """The weights of one epoch kept by :func:`fit_with_early_stopping`.

    Attributes:
        epoch: the epoch (0-based).
        loss: its ``val_loss``.
        state: a CPU copy of the module's ``state_dict`` after that epoch.
    """

    epoch: int
    loss: float
    state: dict[str, torch.Tensor]


class _TopEpochs(Callback):
    """Keep in-memory copies of the weights of the ``keep`` epochs with the lowest ``val_loss``
    (no files), and stop training after ``patience`` epochs in which none entered them.

    With ``keep = 1`` this is classic early stopping on the lowest ``val_loss``. A larger ``keep``
    also makes the stopping rule less sensitive to the noise of ``val_loss``: on a flat but noisy
    loss a new epoch still enters the ``keep`` lowest now and then, so training goes on; it stops
    when the loss has risen (over-training) or stays above the kept epochs for ``patience``
    epochs. A non-finite ``val_loss`` stops training at once.
    """

    def __init__(self, *, keep: int, patience: int) -> None:
        self.keep = int(keep)
        self.patience = int(patience)
        self.top: list[EpochState] = []  # ascending loss (earlier epoch first among equals)
        self.last_entry = -1
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []

    def on_train_epoch_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        value = trainer.callback_metrics.get("train_loss")
        if value is not None:
            self.train_loss.append(float(value))

    def on_validation_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val_loss")
        if value is None:
            return
        loss = float(value)
        epoch = int(trainer.current_epoch)
        self.val_loss.append(loss)
        if not math.isfinite(loss):
            log.warning("val_loss is %s at epoch %d; training stops", loss, epoch)
            trainer.should_stop = True
            return
        if len(self.top) < self.keep or loss < self.top[-1].loss:
            state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()}
            self.top.append(EpochState(epoch, loss, state))
            self.top.sort(key=lambda e: (e.loss, e.epoch))
            del self.top[self.keep :]
            self.last_entry = epoch
        elif epoch - self.last_entry >= self.patience:
            trainer.should_stop = True


class _EpochProgress(Callback):
    """A bar over the epochs (with the latest ``val_loss``) in the live progress display."""

    def __init__(self, description: str, max_epochs: int) -> None:
        self._description = description
        self._max_epochs = max_epochs
        self._stack = contextlib.ExitStack()
        self._bar: ProgressBar | None = None

    def on_train_start(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        self._bar = self._stack.enter_context(
            progress_bar(self._max_epochs, description=self._description, unit="epoch")
        )

    def on_validation_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        value = trainer.callback_metrics.get("val_loss")
        if self._bar is not None and not trainer.sanity_checking and value is not None:
            self._bar.note(f"val_loss {float(value):.4g}")
            self._bar.update()

    def on_train_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        self._stack.close()

    def on_exception(
        self,
        trainer: lightning.Trainer,
        pl_module: lightning.LightningModule,
        exception: BaseException,
    ) -> None:
        self._stack.close()


@contextlib.contextmanager
def _quiet_lightning(*, accelerator: str) -> Iterator[None]:
    """Silence Lightning's INFO chatter and the warnings that do not apply to in-memory training."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_INFO_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Data are in-memory tensors indexed by whole batches: worker processes only add cost.
            warnings.filterwarnings(
                "ignore",
                message=r"The '\w+' does not have many workers",
                category=PossibleUserWarning,
            )
            # Lightning's batch-collection helper instantiates torch's LeafSpec, which newer torch
            # releases deprecate; harmless, and not ours to fix.
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
            )
            if accelerator == "cpu":  # an explicit request for the CPU is not a mistake
                warnings.filterwarnings(
                    "ignore", message="GPU available but not used", category=PossibleUserWarning
                )
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def check_sample_weight(
    sample_weight: ArrayLike | None, n: int, *, name: str = "sample_weight"
) -> np.ndarray | None:
    """Per-event training weights as float64 ``(n,)``, finite and non-negative (``None`` stays).

    Raises:
        DataFormatError: wrong shape, non-finite or negative weights (the message names ``name``).

    Examples:
        >>> check_sample_weight([1, 2], 2)
        array([1., 2.])
        >>> check_sample_weight([1.0, -1.0], 2)
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.DataFormatError: sample_weight must be finite and non-negative
    """
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.shape != (n,):
        raise DataFormatError(f"{name} must have shape ({n},), got {weight.shape}")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise DataFormatError(f"{name} must be finite and non-negative")
    return weight


@contextlib.contextmanager
def seeded_torch(
    seed: int, rng: np.random.Generator, *, cuda: bool = True
) -> Iterator[torch.Generator]:
    """Reproducible torch randomness for one training, without touching the caller's RNG state.

    Inside the block torch's global generators (CPU, and every CUDA device when ``cuda``) are
    seeded from ``seed`` (network initialisation, dropout); the yielded generator, seeded from
    ``rng``, shuffles the training batches. Torch's global state is restored afterwards.

    Examples:
        >>> with seeded_torch(3, np.random.default_rng(3)) as g:
        ...     a = torch.rand(2), torch.rand(2, generator=g)
        >>> with seeded_torch(3, np.random.default_rng(3)) as g:
        ...     b = torch.rand(2), torch.rand(2, generator=g)
        >>> all(torch.equal(x, y) for x, y in zip(a, b))
        True
    """
    devices = list(range(torch.cuda.device_count())) if cuda and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        yield torch.Generator().manual_seed(int(rng.integers(2**62)))


class AdamTrainedModule(lightning.LightningModule):
    """Base of the package's LightningModules: one ``_common_step(batch, stage)`` and Adam.

    A subclass computes (and logs) its loss for a batch in ``_common_step`` with ``stage`` in
    ``{"train", "val"}``, logging at least ``{stage}_loss``, and stores ``lr`` and
    ``weight_decay`` with ``save_hyperparameters``.
    """

    #: Defined by every subclass: the (logged) loss of ``batch`` at ``stage``.
    _common_step: Callable[[Any, str], torch.Tensor]

    def _log_epoch(self, stage: str, batch_size: int, **values: torch.Tensor) -> None:
        """Log each value as ``{stage}_{name}``, averaged over the epoch (``loss``: the
        ``{stage}_loss`` early stopping watches)."""
        for name, value in values.items():
            self.log(
                f"{stage}_{name}", value, on_step=False, on_epoch=True, batch_size=int(batch_size)
            )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Loss of one training batch."""
        return self._common_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Loss of one validation batch (logged as ``val_loss``)."""
        return self._common_step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with the module's learning rate and weight decay."""
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )


def whole_batch_loader(
    *arrays: np.ndarray, batch_size: int, generator: torch.Generator | None
) -> DataLoader:
    """A DataLoader yielding whole batches of float32 tensors by indexing (no per-event collation).

    Args:
        arrays: equally long arrays; each batch is a list of their float32 tensor slices.
        batch_size: events per batch.
        generator: shuffle with this seeded generator, dropping the ragged last batch when there
            is more than one (a size-1 batch breaks BatchNorm); ``None``: in order, all events
            (for validation and scoring).

    Returns:
        The DataLoader.

    Examples:
        >>> loader = whole_batch_loader(np.arange(5.0), np.ones(5), batch_size=2, generator=None)
        >>> [tuple(batch[0].tolist()) for batch in loader]
        [(0.0, 1.0), (2.0, 3.0), (4.0,)]
        >>> shuffled = whole_batch_loader(
        ...     np.arange(5.0), batch_size=2, generator=torch.Generator().manual_seed(0)
        ... )
        >>> [len(batch[0]) for batch in shuffled]
        [2, 2]
    """
    dataset = TensorDataset(*(torch.from_numpy(np.asarray(a).astype(np.float32)) for a in arrays))
    n = len(dataset)
    if generator is None:
        sampler = BatchSampler(SequentialSampler(dataset), int(batch_size), drop_last=False)
    else:
        sampler = BatchSampler(
            RandomSampler(dataset, generator=generator), int(batch_size), drop_last=n > batch_size
        )
    return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=0)


class LightningFit(NamedTuple):
    """Result of :func:`fit_with_early_stopping` (the module holds the best weights).

    Attributes:
        best_loss: the lowest ``val_loss``.
        best_epoch: its epoch (0-based).
        epochs_trained: epochs run before early stopping or ``max_epochs``.
        history: per-epoch ``train_loss`` and ``val_loss``.
        seconds: wall time of the fit.
        top: the kept epochs (``keep_top`` of them, fewer if fewer ran), lowest ``val_loss``
            first; ``top[0]`` is the best epoch, whose weights the module holds.
    """

    best_loss: float
    best_epoch: int
    epochs_trained: int
    history: dict[str, list[float]]
    seconds: float
    top: tuple[EpochState, ...] = ()


def fit_with_early_stopping(
    module: lightning.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    max_epochs: int,
    patience: int,
    keep_top: int = 1,
    accelerator: str = "auto",
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
) -> LightningFit:
    """Train ``module`` with early stopping on ``val_loss`` and load its best weights into it.

    Args:
        module: a LightningModule logging ``train_loss`` and ``val_loss`` per epoch.
        train_loader: training batches.
        val_loader: validation batches (evaluated after every epoch).
        max_epochs: maximum number of epochs.
        patience: epochs in which no epoch entered the ``keep_top`` lowest ``val_loss`` before
            stopping (``keep_top = 1``: epochs without a lower ``val_loss``).
        keep_top: keep the weights of this many epochs with the lowest ``val_loss``
            (:attr:`LightningFit.top`).
        accelerator: Lightning accelerator.
        progress: show a bar over the epochs (:mod:`anomsearch.progress`: only on a terminal);
            one is also shown, under the others, whenever a bar is already showing (the
            pipeline's scan or folds).
        callbacks: further callbacks.

    Returns:
        The :class:`LightningFit`.
    """
    best = _TopEpochs(keep=int(keep_top), patience=int(patience))
    if progress or progress_active():
        description = f"{type(module).__name__} epochs"
        callbacks = [*callbacks, _EpochProgress(description, int(max_epochs))]
    start = time.perf_counter()
    with _quiet_lightning(accelerator=accelerator):
        trainer = lightning.Trainer(
            accelerator=accelerator,
            devices=1,
            max_epochs=int(max_epochs),
            callbacks=[best, *callbacks],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=max(1, len(train_loader)),
        )
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
    seconds = time.perf_counter() - start
    if not best.top:
        raise FitError(
            f"{type(module).__name__}: training stopped without a finite validation loss "
            f"(val_loss {best.val_loss}); check the inputs and the learning rate"
        )
    module.load_state_dict(best.top[0].state)
    return LightningFit(
        best_loss=best.top[0].loss,
        best_epoch=best.top[0].epoch,
        epochs_trained=len(best.val_loss),
        history={"train_loss": list(best.train_loss), "val_loss": list(best.val_loss)},
        seconds=seconds,
        top=tuple(best.top),
    )


def fit_seeded(
    build_module: Callable[[], lightning.LightningModule],
    train_arrays: Sequence[np.ndarray],
    val_arrays: Sequence[np.ndarray],
    *,
    seed: int,
    rng: np.random.Generator,
    batch_size: int,
    val_batch_size: int,
    max_epochs: int,
    patience: int,
    keep_top: int = 1,
    accelerator: str = "auto",
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
    cuda: bool = True,
) -> tuple[lightning.LightningModule, LightningFit]:
    """Build a module and train it reproducibly on in-memory arrays (the package's one fit).

    Inside :func:`seeded_torch` ``(seed, rng, cuda=cuda)``: ``build_module()`` creates the module
    (its initialisation draws from the seeded global generator), the training batches are
    shuffled with the seeded generator (:func:`whole_batch_loader`), the validation batches are
    taken in order, and :func:`fit_with_early_stopping` trains it.

    Args:
        build_module: creates the LightningModule (called inside the seeded block).
        train_arrays: equally long arrays of the training events, one batch tensor each.
        val_arrays: the same for the validation events.
        seed: seed of the initialisation and dropout.
        rng: the trainer's generator; draws the seed of the shuffling.
        batch_size: training batch size.
        val_batch_size: validation batch size.
        max_epochs: maximum number of epochs.
        patience: early-stopping patience in epochs.
        keep_top: epochs whose weights are kept (see :func:`fit_with_early_stopping`).
        accelerator: Lightning accelerator.
        progress: show a bar over the epochs.
        callbacks: further callbacks.
        cuda: also seed (and restore) the CUDA generators.

    Returns:
        ``(module, fit)``: the module holding the best weights, and the :class:`LightningFit`.
    """
    with seeded_torch(seed, rng, cuda=cuda) as generator:
        module = build_module()
        train_loader = whole_batch_loader(
            *train_arrays, batch_size=int(batch_size), generator=generator
        )
        val_loader = whole_batch_loader(*val_arrays, batch_size=int(val_batch_size), generator=None)
        fit = fit_with_early_stopping(
            module,
            train_loader,
            val_loader,
            max_epochs=int(max_epochs),
            patience=int(patience),
            keep_top=int(keep_top),
            accelerator=accelerator,
            progress=progress,
            callbacks=callbacks,
        )
    return module, fit
