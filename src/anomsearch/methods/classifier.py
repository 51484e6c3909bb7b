"""The scorer every MLP-classifier method returns (an averaged ensemble) and its on-disk format.

CWoLa hunting, the idealized and supervised references, SALAD, SA-CWoLa, CATHODE and DisCo all
return a :class:`ClassifierScorer` (Double DisCo two of them). Torch is imported only when a
scorer scores, is saved or is loaded.

A saved scorer is a directory holding

* ``weights.pt``: per ensemble member the network's ``state_dict`` (of its best epoch), the
  ``state_dict`` of each further averaged epoch (``epoch_state_dicts``, format version 2), the
  input standardisation (float64 mean and std) and the training record (best validation loss,
  epochs, averaged epochs and their validation loss, loss history, validation mask), written with
  :func:`torch.save` and read back with ``weights_only=True`` (no pickled code is executed on
  load);
* ``scorer.json``: metadata: format version, anomsearch and torch versions, method name, creation
  time (UTC, ISO 8601), the feature names, each member's MLP architecture, and the SHA-256 of
  ``weights.pt``.

Each file is written atomically and ``scorer.json`` last, so a reader sees either the previous
scorer, or the new one complete; the checksum detects a ``weights.pt`` that does not belong to the
metadata. A loaded scorer gives bit-identical scores on the same hardware. Scorers of format
version 1 (one network per member, written before epochs were averaged) still load.

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (the ensemble of
    classifiers averaged into one anomaly score).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import anomsearch
from anomsearch._io import atomic_path, write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.exceptions import DataFormatError

if TYPE_CHECKING:
    from torch import nn

    from anomsearch.methods.nn.classifier_training import TrainedClassifier

__all__ = ["READABLE_FORMAT_VERSIONS", "SCORER_FORMAT_VERSION", "ClassifierScorer", "file_sha256"]

log = logging.getLogger(__name__)

#: Version of the saved-scorer layout :meth:`ClassifierScorer.save` writes (2: a member may average
#: the networks of several epochs).
SCORER_FORMAT_VERSION = 2

#: The versions :meth:`ClassifierScorer.load` reads (1: one network per member).
READABLE_FORMAT_VERSIONS: tuple[int, ...] = (1, 2)

_FORMAT = "anomsearch.classifier_scorer"
_META = "scorer.json"
_WEIGHTS = "weights.pt"


@dataclass(frozen=True, eq=False)
class ClassifierScorer:
    """Ensemble of trained classifiers on fixed features; the score is the mean classifier output
    (each member's output is itself the mean over its averaged epochs).

    Attributes:
        classifiers: the ensemble members.
        features: names of the :class:`~anomsearch.data.events.EventTable` features fed to them.
        method: name of the method that trained it (recorded when saved; may be empty).
    """

    classifiers: tuple[TrainedClassifier, ...]
    features: tuple[str, ...]
    method: str = ""

    def score(self, events: EventTable) -> np.ndarray:
        """Return the ensemble-averaged output in ``[0, 1]`` for every event (any mjj), float64."""
        x = events.features(self.features)
        out = np.zeros(len(events), dtype=np.float64)
        for clf in self.classifiers:
            out += clf.predict_proba(x)
        return out / len(self.classifiers)

    # ------------------------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the scorer to the directory ``path`` (created if needed; a saved scorer there is
        replaced).

        Args:
            path: output directory.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.

        Raises:
            DataFormatError: ``path`` exists and is not a directory.
            TypeError: a member's network is not an :class:`~anomsearch.methods.nn.mlp.MLP`.
        """
        import torch

        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise DataFormatError(
                f"{directory}: exists and is not a directory; cannot save a scorer"
            )
        architectures = [_member_architecture(c) for c in self.classifiers]
        payload = {
            "members": [
                {
                    "state_dict": _cpu_state(c.net),
                    "epoch_state_dicts": [_cpu_state(net) for net in c.extra_nets],
                    "averaged_epochs": [int(e) for e in c.averaged_epochs],
                    "averaged_val_loss": (
                        None if c.averaged_val_loss is None else float(c.averaged_val_loss)
                    ),
                    "mean": torch.from_numpy(np.array(c.standardizer.mean, dtype=np.float64)),
                    "std": torch.from_numpy(np.array(c.standardizer.std, dtype=np.float64)),
                    "best_val_loss": float(c.best_val_loss),
                    "best_epoch": int(c.best_epoch),
                    "epochs_trained": int(c.epochs_trained),
                    "train_seconds": float(c.train_seconds),
                    "history": {k: [float(v) for v in vs] for k, vs in c.history.items()},
                    "val_mask": torch.from_numpy(np.packbits(np.asarray(c.val_mask, dtype=bool))),
                    "val_mask_size": int(np.asarray(c.val_mask).size),
                }
                for c in self.classifiers
            ]
        }
        directory.mkdir(parents=True, exist_ok=True)
        weights = directory / _WEIGHTS
        with atomic_path(weights) as tmp:
            torch.save(payload, tmp)
            digest = file_sha256(tmp)
        meta = {
            "format": _FORMAT,
            "format_version": SCORER_FORMAT_VERSION,
            "anomsearch_version": anomsearch.__version__,
            "torch_version": torch.__version__,
            "method": self.method,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "features": list(self.features),
            "members": [{"architecture": a} for a in architectures],
            "weights_file": _WEIGHTS,
            "weights_sha256": digest,
        }
        write_json_atomic(directory / _META, meta)
        log.info(
            "saved %s scorer (%d member(s)) to %s",
            self.method or "classifier",
            len(self.classifiers),
            directory,
        )
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClassifierScorer:
        """Read a scorer written by :meth:`save`.

        Args:
            path: the directory passed to :meth:`save`.

        Returns:
            The scorer; its networks are on the CPU, in eval mode.

        Raises:
            DataFormatError: the directory or a file is missing, unreadable, corrupt, of another
                format version, or the weights do not match the metadata; the message names the
                file.
        """
        directory = Path(path)
        meta_path = directory / _META
        if not directory.is_dir():
            raise DataFormatError(f"{directory}: no saved scorer here (not a directory)")
        if not meta_path.is_file():
            raise DataFormatError(f"{meta_path}: missing; {directory} holds no saved scorer")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFormatError(f"{meta_path}: unreadable scorer metadata ({exc})") from exc
        try:
            fmt, version = meta["format"], meta["format_version"]
            features = tuple(meta["features"])
            architectures = [m["architecture"] for m in meta["members"]]
            weights_name = meta["weights_file"]
            digest = meta["weights_sha256"]
            method = str(meta.get("method", ""))
        except (KeyError, TypeError) as exc:
            raise DataFormatError(f"{meta_path}: malformed scorer metadata ({exc!r})") from exc
        if fmt != _FORMAT or version not in READABLE_FORMAT_VERSIONS:
            raise DataFormatError(
                f"{meta_path}: unsupported format {fmt!r} version {version!r}; this anomsearch "
                f"reads {_FORMAT!r} versions " + ", ".join(str(v) for v in READABLE_FORMAT_VERSIONS)
            )
        if not features or not all(isinstance(f, str) for f in features) or not architectures:
            raise DataFormatError(f"{meta_path}: malformed scorer metadata (features or members)")
        weights_path = directory / str(weights_name)
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
                raise ValueError(
                    f"{len(members)} members in the weights, {len(architectures)} in the metadata"
                )
            classifiers = tuple(
                _restore_member(m, a, n_features=len(features))
                for m, a in zip(members, architectures, strict=True)
            )
        except Exception as exc:  # torch raises many types on a bad file; all mean "corrupt"
            raise DataFormatError(f"{weights_path}: cannot restore the networks ({exc})") from exc
        log.info(
            "loaded %s scorer (%d member(s)) from %s",
            method or "classifier",
            len(classifiers),
            directory,
        )
        return cls(classifiers=classifiers, features=features, method=method)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the checksum of a saved scorer's weights)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cpu_state(net: nn.Module) -> dict[str, Any]:
    """A CPU copy of a network's ``state_dict``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _member_architecture(member: TrainedClassifier) -> dict[str, Any]:
    """The architecture of a member's networks (every averaged epoch has the same)."""
    architecture = _mlp_architecture(member.net)
    for net in member.extra_nets:
        if _mlp_architecture(net) != architecture:
            raise TypeError("the averaged epochs of a member must share one MLP architecture")
    return architecture


def _mlp_architecture(net: nn.Module) -> dict[str, Any]:
    """The constructor arguments of an :class:`MLP`, read off its layers."""
    from torch import nn

    from anomsearch.methods.nn.mlp import MLP

    if not isinstance(net, MLP):
        raise TypeError(f"only MLP networks can be saved, got {type(net).__name__}")
    linears = [m for m in net.layers if isinstance(m, nn.Linear)]
    dropouts = [m.p for m in net.layers if isinstance(m, nn.Dropout)]
    return {
        "type": "MLP",
        "n_inputs": int(net.n_inputs),
        "hidden": [int(m.out_features) for m in linears[:-1]],
        "dropout": float(dropouts[0]) if dropouts else 0.0,
        "batch_norm": any(isinstance(m, nn.BatchNorm1d) for m in net.layers),
    }


def _restore_member(
    member: dict[str, Any], architecture: dict[str, Any], *, n_features: int
) -> TrainedClassifier:
    """A member of a saved scorer (format version 1: no ``epoch_state_dicts``, one network)."""
    from anomsearch.methods.nn.classifier_training import Standardizer, TrainedClassifier
    from anomsearch.methods.nn.mlp import MLP

    if architecture.get("type") != "MLP" or int(architecture["n_inputs"]) != n_features:
        raise ValueError(f"architecture {architecture!r} does not fit {n_features} features")

    def network(state: dict[str, Any]) -> MLP:
        net = MLP(
            int(architecture["n_inputs"]),
            hidden=[int(h) for h in architecture["hidden"]],
            dropout=float(architecture["dropout"]),
            batch_norm=bool(architecture["batch_norm"]),
        )
        net.load_state_dict(state, strict=True)
        return net.eval()

    mean = member["mean"].numpy().astype(np.float64)
    std = member["std"].numpy().astype(np.float64)
    if mean.shape != (n_features,) or std.shape != (n_features,):
        raise ValueError(f"standardizer shapes {mean.shape}, {std.shape} for {n_features} features")
    size = int(member["val_mask_size"])
    val_mask = np.unpackbits(member["val_mask"].numpy(), count=size).astype(bool)
    extra = tuple(network(state) for state in member.get("epoch_state_dicts", []))
    epochs = tuple(int(e) for e in member.get("averaged_epochs", []))
    if epochs and len(epochs) != 1 + len(extra):
        raise ValueError(f"{len(epochs)} averaged epochs for {1 + len(extra)} networks")
    averaged_loss = member.get("averaged_val_loss")
    return TrainedClassifier(
        net=network(member["state_dict"]),
        standardizer=Standardizer(mean=mean, std=std),
        best_val_loss=float(member["best_val_loss"]),
        best_epoch=int(member["best_epoch"]),
        epochs_trained=int(member["epochs_trained"]),
        val_mask=val_mask,
        history={str(k): [float(v) for v in vs] for k, vs in member["history"].items()},
        train_seconds=float(member["train_seconds"]),
        extra_nets=extra,
        averaged_epochs=epochs,
        averaged_val_loss=None if averaged_loss is None else float(averaged_loss),
    )
