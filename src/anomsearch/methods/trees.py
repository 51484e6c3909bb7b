"""The tree back-end of the classifier methods: a seeded ensemble of gradient-boosted trees.

With ``method.classifier: hgb`` every classifier-based method (CWoLa hunting, the idealized and
supervised references, CATHODE's and SALAD's final classifier) trains, instead of MLPs, an
ensemble of scikit-learn ``HistGradientBoostingClassifier`` s: member ``i`` is seeded with
``derive_seed(seed, i)``, stops early on its own random validation split (``val_fraction``), and
-- with ``feature_fraction < 1`` -- sees its own random subset of the features (attribute
bagging). The score is the mean of the members' probabilities. The classes are not reweighted to
equal sizes: the classifier then estimates the same likelihood ratio up to a constant factor,
which changes no selection at a fixed efficiency, while scikit-learn's weighted binning (used as
soon as any weight is given) costs about four times the training time; event weights, where the
method has them (SALAD), are used. Like every method it is cross-scored by
:func:`~anomsearch.methods.base.cross_score`, so no event is scored by a model that saw it.

Tree ensembles are insensitive to the scale and to monotonic transformations of the inputs and
robust to uninformative ones, which is what lets them use the many-observable feature sets
(:func:`anomsearch.data.features.sets.feature_set`): on LHC Olympics R&D they reach a max SIC of
~16 on the four standard features and ~35 with 56 N-subjettiness features.

References:
    T. Finke, M. Hein, G. Kasieczka, M. Krämer, A. Mück, P. Prangchaikul, T. Quadfasel,
    D. Shih, M. Sommerhalder, "Back to the roots: tree-based algorithms for weakly supervised
    anomaly detection", arXiv:2309.13111.
    G. Ke et al., "LightGBM" (histogram gradient boosting), NeurIPS 2017.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

import anomsearch
from anomsearch._io import atomic_path, write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import derive_seed
from anomsearch.methods.classifier import file_sha256
from anomsearch.methods.tree_io import TreeArrays, load_tree_arrays, save_tree_arrays

__all__ = [
    "TREE_SCORER_FORMAT",
    "TreeEnsembleOptions",
    "TreeEnsembleScorer",
    "TreeMember",
    "train_tree_ensemble",
]

log = logging.getLogger(__name__)

#: ``format`` of a saved :class:`TreeEnsembleScorer`'s ``scorer.json``.
TREE_SCORER_FORMAT = "anomsearch.tree_ensemble_scorer"
_TREES = "trees.npz"


class TreeMember(NamedTuple):
    """One member of a tree ensemble.

    Attributes:
        model: the member's trees (:class:`~anomsearch.methods.tree_io.TreeArrays`, exported
            from the fitted ``HistGradientBoostingClassifier``: the same probabilities, saved
            and loaded as plain arrays).
        columns: indices of the scorer's features this member was trained on.
        n_iter: boosting iterations kept (after early stopping).
        best_val_loss: the member's validation loss at ``n_iter`` (NaN without early stopping).
    """

    model: TreeArrays
    columns: tuple[int, ...]
    n_iter: int
    best_val_loss: float


@dataclass(frozen=True, eq=False)
class TreeEnsembleScorer:
    """An ensemble of boosted-tree classifiers on fixed features; the score is the mean of the
    members' probabilities.

    Attributes:
        members: the ensemble members.
        features: names of the :class:`~anomsearch.data.events.EventTable` features.
        method: name of the method that trained it.
    """

    members: tuple[TreeMember, ...]
    features: tuple[str, ...]
    method: str = ""

    def score(self, events: EventTable) -> np.ndarray:
        """The ensemble-averaged probability in ``[0, 1]`` of every event (any mjj), float64."""
        x = events.features(self.features)
        out = np.zeros(len(events), dtype=np.float64)
        for member in self.members:
            out += member.model.predict_signal_proba(x[:, list(member.columns)])
        return out / len(self.members)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the scorer to the directory ``path``: ``scorer.json`` and the trees as numbers
        in ``trees.npz`` (its SHA-256 in the metadata).

        Raises:
            DataFormatError: ``path`` exists and is not a directory.
        """
        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise DataFormatError(f"{directory}: exists and is not a directory; cannot save")
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / _TREES) as tmp:
            save_tree_arrays(tmp, [m.model.arrays for m in self.members])
            digest = file_sha256(tmp)
        meta = {
            "format": TREE_SCORER_FORMAT,
            "format_version": 1,
            "anomsearch_version": anomsearch.__version__,
            "method": self.method,
            "features": list(self.features),
            "members": [
                {
                    "columns": list(m.columns),
                    "n_iter": m.n_iter,
                    "best_val_loss": m.best_val_loss if np.isfinite(m.best_val_loss) else None,
                }
                for m in self.members
            ],
            "trees_file": _TREES,
            "trees_sha256": digest,
        }
        write_json_atomic(directory / "scorer.json", meta)
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TreeEnsembleScorer:
        """Read a scorer written by :meth:`save` (numbers only: nothing is unpickled).

        Raises:
            DataFormatError: a missing, unreadable, corrupt or malformed file, named.
        """
        directory = Path(path)
        meta_path = directory / "scorer.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta["format"] != TREE_SCORER_FORMAT or meta["format_version"] != 1:
                raise DataFormatError(
                    f"{meta_path}: not a {TREE_SCORER_FORMAT} scorer of format version 1"
                )
            features = tuple(str(f) for f in meta["features"])
            infos = list(meta["members"])
            trees = directory / str(meta["trees_file"])
            digest = str(meta["trees_sha256"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFormatError(f"{meta_path}: unreadable scorer metadata ({exc})") from exc
        except (KeyError, TypeError) as exc:
            raise DataFormatError(f"{meta_path}: malformed scorer metadata ({exc!r})") from exc
        if not trees.is_file() or file_sha256(trees) != digest:
            raise DataFormatError(f"{trees}: missing, or its checksum does not match {meta_path}")
        members = []
        for info, arrays in zip(infos, load_tree_arrays(trees, len(infos)), strict=True):
            try:
                columns = tuple(int(c) for c in info["columns"])
                loss = info["best_val_loss"]
                member = TreeMember(
                    model=TreeArrays(arrays, len(columns)),
                    columns=columns,
                    n_iter=int(info["n_iter"]),
                    best_val_loss=float("nan") if loss is None else float(loss),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise DataFormatError(f"{meta_path}: malformed member ({exc!r})") from exc
            if not columns or min(columns) < 0 or max(columns) >= len(features):
                raise DataFormatError(f"{meta_path}: member columns outside the features")
            members.append(member)
        if not members:
            raise DataFormatError(f"{meta_path}: no ensemble members")
        return cls(members=tuple(members), features=features, method=str(meta.get("method", "")))


@dataclass(frozen=True)
class TreeEnsembleOptions:
    """Options of one tree ensemble (see the module docstring).

    Attributes:
        n_members: ensemble members.
        max_iter: most boosting iterations per member.
        learning_rate: shrinkage of each iteration.
        max_leaf_nodes: leaves per tree.
        min_samples_leaf: fewest events per leaf.
        l2_regularization: L2 penalty on the leaf values.
        n_iter_no_change: early stopping: iterations without a lower validation loss.
        val_fraction: each member's random validation split for early stopping.
        feature_fraction: fraction of the features each member sees (1: all).
    """

    n_members: int = 5
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    n_iter_no_change: int = 10
    val_fraction: float = 0.2
    feature_fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < float(self.feature_fraction) <= 1.0:
            raise ConfigError(
                f"method.feature_fraction must be in (0, 1], got {self.feature_fraction!r}"
            )


def _member_columns(n_features: int, fraction: float, seed: int) -> tuple[int, ...]:
    """The feature indices of one member: all, or a seeded random subset of ``fraction``."""
    if fraction >= 1.0:
        return tuple(range(n_features))
    k = max(1, round(fraction * n_features))
    rng = np.random.default_rng(seed)
    return tuple(int(i) for i in np.sort(rng.choice(n_features, size=k, replace=False)))


def _train_member(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    options: TreeEnsembleOptions,
    seed: int,
) -> TreeMember:
    from sklearn.ensemble import HistGradientBoostingClassifier

    columns = _member_columns(x.shape[1], float(options.feature_fraction), derive_seed(seed, 1))
    model = HistGradientBoostingClassifier(
        learning_rate=float(options.learning_rate),
        max_iter=int(options.max_iter),
        max_leaf_nodes=int(options.max_leaf_nodes),
        min_samples_leaf=int(options.min_samples_leaf),
        l2_regularization=float(options.l2_regularization),
        early_stopping=True,
        scoring="loss",
        validation_fraction=float(options.val_fraction),
        n_iter_no_change=int(options.n_iter_no_change),
        random_state=derive_seed(seed, 0) % (2**31),
    )
    model.fit(x[:, list(columns)], y, sample_weight=sample_weight)
    val = getattr(model, "validation_score_", np.array([]))
    best = float(-np.max(val)) if len(val) else float("nan")  # scores are negative losses
    return TreeMember(
        model=TreeArrays.from_model(model),
        columns=columns,
        n_iter=int(model.n_iter_),
        best_val_loss=best,
    )


def train_tree_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    *,
    features: tuple[str, ...],
    options: TreeEnsembleOptions,
    seed: int,
    sample_weight: np.ndarray | None = None,
    method: str = "",
) -> TreeEnsembleScorer:
    """Train the members of a tree ensemble and wrap them in a scorer.

    Args:
        x: inputs, shape ``(n, len(features))``.
        y: 0/1 labels, shape ``(n,)``.
        features: the names of the columns of ``x`` (the scorer reads them from events).
        options: the ensemble's options.
        seed: member ``i`` trains with ``derive_seed(seed, i)``.
        sample_weight: optional per-event weights (None, or all equal: unweighted).
        method: the method's name (recorded in the scorer).

    Returns:
        The :class:`TreeEnsembleScorer`.

    Raises:
        ConfigError: only one class in ``y``, or invalid options.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(1, 1, (500, 2))])
        >>> y = np.repeat([0, 1], 500)
        >>> scorer = train_tree_ensemble(
        ...     x, y, features=("a", "b"), options=TreeEnsembleOptions(n_members=2), seed=1)
        >>> len(scorer.members), scorer.members[0].columns
        (2, (0, 1))
    """
    y = np.asarray(y)
    if np.unique(y).size != 2:
        raise ConfigError("a tree ensemble needs events of both classes (0 and 1)")
    x = np.asarray(x, dtype=np.float64)
    if sample_weight is not None and np.all(sample_weight == sample_weight[0]):
        sample_weight = None  # equal weights change nothing but make the binning weighted
    members = []
    for i in range(int(options.n_members)):
        member = _train_member(x, y, sample_weight, options, derive_seed(seed, i))
        members.append(member)
        log.info(
            "%s: tree member %d/%d: %d iterations, %d features, val_loss %.5f",
            method or "hgb",
            i + 1,
            int(options.n_members),
            member.n_iter,
            len(member.columns),
            member.best_val_loss,
        )
    return TreeEnsembleScorer(members=tuple(members), features=tuple(features), method=method)
