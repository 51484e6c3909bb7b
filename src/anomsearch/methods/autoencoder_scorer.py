"""The scorer of the autoencoder method (an averaged autoencoder ensemble) and its on-disk format.

A saved scorer is a directory holding

* ``weights.pt``: per ensemble member the network's ``state_dict``, the input standardisation,
  the score statistics (per-feature validation error scale, latent mean and covariance; all
  float64) and the training record, written with :func:`torch.save` and read back with
  ``weights_only=True`` (no pickled code is executed on load);
* ``scorer.json``: metadata: format version, anomsearch and torch versions, method name, score
  kind, creation time (UTC), the feature names, each member's architecture and the SHA-256 of
  ``weights.pt``.

Each file is written atomically, ``scorer.json`` last. A loaded scorer gives bit-identical scores
on the same hardware.

References:
    M. Farina, Y. Nakai, D. Shih, arXiv:1808.08992; T. Heimel et al., arXiv:1808.08979
    (autoencoder reconstruction error as an anomaly score).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import anomsearch
from anomsearch._io import atomic_path, write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.classifier_scorer import _sha256
from anomsearch.methods.nn.autoencoder import SCORE_KINDS, AutoencoderNet, TrainedAutoencoder
from anomsearch.methods.nn.classifier import Standardizer

__all__ = ["AUTOENCODER_SCORER_FORMAT_VERSION", "AutoencoderScorer"]

log = logging.getLogger(__name__)

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
        kind: the score, one of :data:`~anomsearch.methods.nn.autoencoder.SCORE_KINDS`.
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
            digest = _sha256(tmp)
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
        if _sha256(weights_path) != digest:
            raise DataFormatError(
                f"{weights_path}: checksum does not match {meta_path}; the file is corrupt or "
                "belongs to another scorer"
            )
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
