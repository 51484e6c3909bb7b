"""Autoencoder anomaly detection: events the network reconstructs badly are anomalous.

An autoencoder trained to reconstruct the data (dominated by background) through a narrow
bottleneck learns the background's feature distribution; rare events with out-of-distribution
features reconstruct worse. Unlike CWoLa this needs no sideband: it is trained on the data in the
signal region (``train_region="sr"``) or on the whole spectrum (``"all"``), and its score is the
reconstruction error (``"mse"``), the error with every feature normalised to its validation error
scale (``"normalized"``), or the Mahalanobis distance of the latent code (``"latent"``). It is
fully unsupervised and therefore weak against signals that look like plausible background (on the
LHCO R&D features its sensitivity is modest; see arXiv:2101.08320).

:class:`Autoencoder` (registry name ``"autoencoder"``) returns an :class:`AutoencoderScorer`, an
averaged ensemble of trained autoencoders, which saves to and loads from a directory holding

* ``weights.pt``: per ensemble member the network's ``state_dict``, the input standardisation,
  the score statistics (per-feature validation error scale, latent mean and covariance; all
  float64) and the training record, written with :func:`torch.save` and read back with
  ``weights_only=True`` (no pickled code is executed on load);
* ``scorer.json``: metadata: format version, anomsearch and torch versions, method name, score
  kind, creation time (UTC), the feature names, each member's architecture and the SHA-256 of
  ``weights.pt``.

Each file is written atomically, ``scorer.json`` last. A loaded scorer gives bit-identical scores
on the same hardware. The network and its training are in
:mod:`anomsearch.methods.nn.autoencoder_net` and :mod:`anomsearch.methods.nn.autoencoder_training`
(imported, with torch, when the method trains or the scorer scores).

References:
    M. Farina, Y. Nakai, D. Shih, "Searching for New Physics with Deep Autoencoders",
    Phys. Rev. D 101 (2020) 075021, arXiv:1808.08992.
    T. Heimel, G. Kasieczka, T. Plehn, J. M. Thompson, "QCD or What?", SciPost Phys. 6 (2019) 030,
    arXiv:1808.08979.
    G. Kasieczka et al., "The LHC Olympics 2020", Rep. Prog. Phys. 84 (2021) 124201,
    arXiv:2101.08320.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

import anomsearch
from anomsearch._io import atomic_path, write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier import file_sha256
from anomsearch.methods.options import (
    DEFAULT_FEATURES,
    SCORE_KINDS,
    check_accelerator,
    check_features,
    check_positive,
    check_training_options,
    check_widths,
)

if TYPE_CHECKING:
    from anomsearch.methods.nn.autoencoder_training import TrainedAutoencoder

__all__ = [
    "AUTOENCODER_SCORER_FORMAT_VERSION",
    "SCORE_KINDS",
    "TRAIN_REGIONS",
    "Autoencoder",
    "AutoencoderScorer",
]

log = logging.getLogger(__name__)

#: Which events the autoencoder trains on: the signal region only, or the whole spectrum.
TRAIN_REGIONS: tuple[str, ...] = ("sr", "all")


@dataclass(frozen=True)
class Autoencoder:
    """Autoencoder anomaly method (reconstruction-based, unsupervised).

    Args:
        features: input features (names of :data:`~anomsearch.data.events.DERIVED_FEATURES`;
            ``mjj`` is not allowed: it defines the signal region the scores are used in).
        train_region: ``"sr"``: train on the events in the signal region; ``"all"``: on every
            event passed to :meth:`fit` (the whole spectrum).
        hidden: encoder hidden-layer widths (the decoder mirrors them).
        latent_dim: bottleneck size.
        score: ``"mse"``, ``"normalized"`` or ``"latent"`` (see
            :meth:`~anomsearch.methods.nn.autoencoder_training.TrainedAutoencoder.score`).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training batch size.
        max_epochs: maximum epochs per autoencoder.
        patience: early-stopping patience (epochs without a lower validation loss).
        val_fraction: fraction of the training events held out for early stopping and for the
            ``"normalized"`` error scales.
        n_ensemble: number of autoencoders (different seeds) whose scores are averaged.
        min_region_events: minimum number of training events.
        accelerator: Lightning accelerator.

    Raises:
        ConfigError: an invalid option; the message names it as ``method.<option>``.

    Examples:
        >>> Autoencoder(hidden=[8], score="latent").hidden
        (8,)
        >>> try:
        ...     Autoencoder(train_region="sb")
        ... except ConfigError as err:
        ...     print(err)
        method.train_region must be one of ['sr', 'all'], got 'sb'

    References:
        arXiv:1808.08992, arXiv:1808.08979, arXiv:2101.08320.
    """

    #: Whether ``fit`` needs a ``reference_background`` sample (the pipeline supplies it).
    needs_reference_background: ClassVar[bool] = False
    #: Whether ``fit`` needs truth labels on the training events.
    needs_labels: ClassVar[bool] = False

    name: str = field(default="autoencoder", init=False)
    features: Sequence[str] = DEFAULT_FEATURES
    train_region: str = "sr"
    hidden: Sequence[int] = (32, 16)
    latent_dim: int = 2
    score: str = "mse"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 512
    max_epochs: int = 30
    patience: int = 5
    val_fraction: float = 0.2
    n_ensemble: int = 1
    min_region_events: int = 100
    accelerator: str = "auto"

    def __post_init__(self) -> None:
        features = check_features(
            self.features, no_mjj_reason="an autoencoder input (it defines the signal region)"
        )
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "hidden", check_widths("hidden", self.hidden))
        for name, allowed in (("train_region", TRAIN_REGIONS), ("score", SCORE_KINDS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"method.{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        check_training_options(
            lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
            max_epochs=self.max_epochs, patience=self.patience, val_fraction=self.val_fraction,
        )  # fmt: skip
        for name in ("latent_dim", "n_ensemble", "min_region_events"):
            check_positive(name, getattr(self, name), integer=True)
        check_accelerator(self.accelerator)

    def training_mask(self, events: EventTable, regions: Regions) -> np.ndarray:
        """Boolean mask of the events :meth:`fit` trains on (the SR, or all events)."""
        if self.train_region == "sr":
            return regions.in_sr(events.mjj)
        return np.ones(len(events), dtype=bool)

    def _train_one(
        self, x: np.ndarray, weight: np.ndarray | None, *, seed: int
    ) -> TrainedAutoencoder:
        from anomsearch.methods.nn.autoencoder_training import train_autoencoder

        return train_autoencoder(
            x,
            sample_weight=weight,
            hidden=self.hidden,
            latent_dim=int(self.latent_dim),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            val_fraction=float(self.val_fraction),
            seed=seed,
            accelerator=self.accelerator,
        )

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> AutoencoderScorer:
        """Train the autoencoder(s) on the events of ``train_region``.

        Args:
            events: training events (all mjj; with ``train_region="sr"`` only SR events are used).
            regions: SR/SB definition.
            seed: seed; ensemble member ``i`` trains with ``derive_seed(seed, i)``.

        Returns:
            An :class:`AutoencoderScorer` that scores events of any mjj.

        Raises:
            DataFormatError: fewer than ``min_region_events`` training events.
        """
        used = self.training_mask(events, regions)
        n_used = int(used.sum())
        if n_used < self.min_region_events:
            where = (
                f"the signal region [{regions.sr_low}, {regions.sr_high}) TeV"
                if self.train_region == "sr"
                else "the events"
            )
            raise DataFormatError(
                f"autoencoder: {n_used} training events in {where}; at least "
                f"{self.min_region_events} needed (method.min_region_events)"
            )
        x = events.features(self.features)[used]
        w = None if events.weight is None else events.weight[used]
        log.info("autoencoder: training on %d events (train_region=%s)", n_used, self.train_region)
        members = tuple(
            self._train_one(x, w, seed=derive_seed(seed, i)) for i in range(int(self.n_ensemble))
        )
        return AutoencoderScorer(
            members=members, features=tuple(self.features), kind=self.score, method=self.name
        )


# --------------------------------------------------------------------------------------------------
# the scorer and its on-disk format
# --------------------------------------------------------------------------------------------------
#: Version of the saved-scorer layout; :meth:`AutoencoderScorer.load` reads this version only.
AUTOENCODER_SCORER_FORMAT_VERSION = 1

_FORMAT = "anomsearch.autoencoder_scorer"
_META = "scorer.json"
_WEIGHTS = "weights.pt"
_ARRAYS = ("mean", "std", "error_scale", "latent_mean", "latent_cov")


@dataclass(frozen=True, eq=False)
class AutoencoderScorer:
    """Ensemble of trained autoencoders; the score is the mean of the members' anomaly scores.

    Attributes:
        members: the ensemble members.
        features: names of the :class:`~anomsearch.data.events.EventTable` features fed to them.
        kind: the score, one of :data:`~anomsearch.methods.options.SCORE_KINDS`.
        method: name of the method that trained it (recorded when saved).

    Raises:
        ConfigError: unknown ``kind`` or no members.
    """

    members: tuple[TrainedAutoencoder, ...]
    features: tuple[str, ...]
    kind: str = "mse"
    method: str = "autoencoder"

    def __post_init__(self) -> None:
        if self.kind not in SCORE_KINDS:
            raise ConfigError(f"method.score must be one of {list(SCORE_KINDS)}, got {self.kind!r}")
        if not self.members:
            raise ConfigError("method.n_ensemble: an AutoencoderScorer needs at least one member")

    def score(self, events: EventTable) -> np.ndarray:
        """Return the ensemble-averaged anomaly score of every event (any mjj), float64."""
        x = events.features(self.features)
        out = np.zeros(len(events), dtype=np.float64)
        for member in self.members:
            out += member.score(x, self.kind)
        return out / len(self.members)

    # ------------------------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the scorer to the directory ``path`` (created if needed; replaces a saved one).

        Raises:
            DataFormatError: ``path`` exists and is not a directory.
        """
        import torch

        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise DataFormatError(
                f"{directory}: exists and is not a directory; cannot save a scorer"
            )
        payload = {"members": [_member_payload(m) for m in self.members]}
        architectures = [
            {
                "type": "AutoencoderNet",
                "n_inputs": m.net.n_inputs,
                "hidden": list(m.net.hidden),
                "latent_dim": m.net.latent_dim,
            }
            for m in self.members
        ]
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / _WEIGHTS) as tmp:
            torch.save(payload, tmp)
            digest = file_sha256(tmp)
        meta = {
            "format": _FORMAT,
            "format_version": AUTOENCODER_SCORER_FORMAT_VERSION,
            "anomsearch_version": anomsearch.__version__,
            "torch_version": torch.__version__,
            "method": self.method,
            "score": self.kind,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "features": list(self.features),
            "members": [{"architecture": a} for a in architectures],
            "weights_file": _WEIGHTS,
            "weights_sha256": digest,
        }
        write_json_atomic(directory / _META, meta)
        log.info("saved autoencoder scorer (%d member(s)) to %s", len(self.members), directory)
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AutoencoderScorer:
        """Read a scorer written by :meth:`save`.

        Raises:
            DataFormatError: the directory or a file is missing, unreadable, corrupt, of another
                format or version, or the weights do not match the metadata; the message names
                the file.
        """
        directory = Path(path)
        meta_path = directory / _META
        if not meta_path.is_file():
            raise DataFormatError(f"{meta_path}: missing; {directory} holds no saved scorer")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            fmt, version = meta["format"], meta["format_version"]
            features = tuple(str(f) for f in meta["features"])
            architectures = [m["architecture"] for m in meta["members"]]
            weights_path = directory / str(meta["weights_file"])
            digest, kind = meta["weights_sha256"], str(meta["score"])
            method = str(meta.get("method", "autoencoder"))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise DataFormatError(f"{meta_path}: unreadable scorer metadata ({exc!r})") from exc
        if fmt != _FORMAT or version != AUTOENCODER_SCORER_FORMAT_VERSION:
            raise DataFormatError(
                f"{meta_path}: unsupported format {fmt!r} version {version!r}; this anomsearch "
                f"reads {_FORMAT!r} version {AUTOENCODER_SCORER_FORMAT_VERSION}"
            )
        if kind not in SCORE_KINDS or not features or not architectures:
            raise DataFormatError(
                f"{meta_path}: malformed scorer metadata (score/features/members)"
            )
        if not weights_path.is_file():
            raise DataFormatError(f"{weights_path}: missing (named by {meta_path})")
        if file_sha256(weights_path) != digest:
            raise DataFormatError(
                f"{weights_path}: checksum does not match {meta_path}; the file is corrupt or "
                "belongs to another scorer"
            )
        import torch

        try:
            payload = torch.load(weights_path, map_location="cpu", weights_only=True)
            members = payload["members"]
            if len(members) != len(architectures):
                raise ValueError(f"{len(members)} members, {len(architectures)} in the metadata")
            restored = tuple(
                _restore_member(m, a, n_features=len(features))
                for m, a in zip(members, architectures, strict=True)
            )
        except Exception as exc:  # torch raises many types on a bad file; all mean "corrupt"
            raise DataFormatError(f"{weights_path}: cannot restore the networks ({exc})") from exc
        log.info("loaded autoencoder scorer (%d member(s)) from %s", len(restored), directory)
        return cls(members=restored, features=features, kind=kind, method=method)


def _member_payload(m: TrainedAutoencoder) -> dict[str, Any]:
    import torch

    arrays = {
        "mean": m.standardizer.mean,
        "std": m.standardizer.std,
        "error_scale": m.error_scale,
        "latent_mean": m.latent_mean,
        "latent_cov": m.latent_cov,
    }
    return {
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in m.net.state_dict().items()},
        **{k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in arrays.items()},
        "best_val_loss": float(m.best_val_loss),
        "best_epoch": int(m.best_epoch),
        "epochs_trained": int(m.epochs_trained),
        "train_seconds": float(m.train_seconds),
        "history": {k: [float(v) for v in vs] for k, vs in m.history.items()},
        "val_mask": torch.from_numpy(np.packbits(np.asarray(m.val_mask, dtype=bool))),
        "val_mask_size": int(np.asarray(m.val_mask).size),
    }


def _restore_member(
    member: dict[str, Any], architecture: dict[str, Any], *, n_features: int
) -> TrainedAutoencoder:
    from anomsearch.methods.nn.autoencoder_net import AutoencoderNet
    from anomsearch.methods.nn.autoencoder_training import TrainedAutoencoder
    from anomsearch.methods.nn.classifier_training import Standardizer

    if architecture.get("type") != "AutoencoderNet" or int(architecture["n_inputs"]) != n_features:
        raise ValueError(f"architecture {architecture!r} does not fit {n_features} features")
    net = AutoencoderNet(
        n_features,
        hidden=[int(h) for h in architecture["hidden"]],
        latent_dim=int(architecture["latent_dim"]),
    )
    net.load_state_dict(member["state_dict"], strict=True)
    net.eval()
    arrays = {k: member[k].numpy().astype(np.float64) for k in _ARRAYS}
    k = net.latent_dim
    expected = {
        "mean": (n_features,),
        "std": (n_features,),
        "error_scale": (n_features,),
        "latent_mean": (k,),
        "latent_cov": (k, k),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
    size = int(member["val_mask_size"])
    return TrainedAutoencoder(
        net=net,
        standardizer=Standardizer(mean=arrays["mean"], std=arrays["std"]),
        error_scale=arrays["error_scale"],
        latent_mean=arrays["latent_mean"],
        latent_cov=arrays["latent_cov"],
        best_val_loss=float(member["best_val_loss"]),
        best_epoch=int(member["best_epoch"]),
        epochs_trained=int(member["epochs_trained"]),
        val_mask=np.unpackbits(member["val_mask"].numpy(), count=size).astype(bool),
        history={str(k): [float(v) for v in vs] for k, vs in member["history"].items()},
        train_seconds=float(member["train_seconds"]),
    )
