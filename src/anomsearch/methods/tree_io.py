"""Boosted trees as plain arrays: scored, saved and loaded without pickle.

A fitted scikit-learn ``HistGradientBoostingClassifier`` (binary, numerical features) is a
baseline log-odds plus a sum of regression trees. :func:`export_hgb` reads the trees' node
records into flat numpy arrays; :class:`TreeArrays` rebuilds scikit-learn's own tree predictors
from them, so its probabilities are those of the fitted classifier bit for bit (checked in the
tests), and :func:`save_tree_arrays` / :func:`load_tree_arrays` write and read them as a ``.npz``
of numbers (``allow_pickle=False``): loading a saved scorer never unpickles or runs anything.

Examples:
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2)); y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    >>> model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)
    >>> arrays = TreeArrays.from_model(model)
    >>> bool(np.array_equal(arrays.predict_signal_proba(x), model.predict_proba(x)[:, 1]))
    True
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch.exceptions import DataFormatError

__all__ = ["NODE_FIELDS", "TreeArrays", "export_hgb", "load_tree_arrays", "save_tree_arrays"]

#: The node fields kept: enough to walk a tree on raw (unbinned) numerical features.
NODE_FIELDS: tuple[str, ...] = (
    "value",
    "feature_idx",
    "num_threshold",
    "missing_go_to_left",
    "left",
    "right",
    "is_leaf",
)


def export_hgb(model: Any) -> dict[str, np.ndarray]:
    """The trees of a fitted binary ``HistGradientBoostingClassifier`` as flat arrays.

    Returns:
        ``baseline`` (the initial log-odds), ``tree_sizes`` (nodes per tree, in boosting order)
        and one array per :data:`NODE_FIELDS` over the nodes of all trees (``left``/``right``
        index within their tree).

    Raises:
        DataFormatError: not a binary classifier on numerical features.
    """
    predictors = getattr(model, "_predictors", None)
    baseline = np.asarray(getattr(model, "_baseline_prediction", np.nan), dtype=np.float64)
    if predictors is None or baseline.size != 1:
        raise DataFormatError("only a fitted binary HistGradientBoostingClassifier can be exported")
    nodes = [p.nodes for (p,) in predictors]  # binary: one tree per boosting iteration
    if any(np.any(n["is_categorical"]) for n in nodes):
        raise DataFormatError("trees with categorical splits cannot be exported")
    flat = np.concatenate(nodes) if nodes else np.zeros(0, dtype=predictors_dtype())
    out = {field: np.ascontiguousarray(flat[field]) for field in NODE_FIELDS}
    out["tree_sizes"] = np.array([len(n) for n in nodes], dtype=np.int64)
    out["baseline"] = baseline.reshape(1)
    return out


def predictors_dtype() -> np.dtype:
    """scikit-learn's node record dtype (of the installed version)."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    return np.dtype(PREDICTOR_RECORD_DTYPE)


@dataclass(frozen=True, eq=False)
class TreeArrays:
    """A boosted-tree classifier rebuilt from the arrays of :func:`export_hgb`.

    Attributes:
        arrays: the exported arrays.
        n_features: the number of input columns the trees split on.
    """

    arrays: dict[str, np.ndarray]
    n_features: int

    def __post_init__(self) -> None:
        try:
            _check_arrays(self.arrays, self.n_features)
        except (TypeError, ValueError) as exc:  # arrays of strings, say, from a bad file
            raise DataFormatError(f"tree arrays: not numeric ({exc})") from exc
        object.__setattr__(self, "_predictors", _build_predictors(self.arrays))

    @classmethod
    def from_model(cls, model: Any) -> TreeArrays:
        """Export a fitted classifier (:func:`export_hgb`)."""
        return cls(export_hgb(model), int(model.n_features_in_))

    @property
    def n_trees(self) -> int:
        """Number of trees (boosting iterations)."""
        return int(self.arrays["tree_sizes"].size)

    def predict_signal_proba(self, x: np.ndarray) -> np.ndarray:
        """The class-1 probability of each row of ``x``, as scikit-learn's ``predict_proba``."""
        from scipy.special import expit

        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise DataFormatError(
                f"tree ensemble: expected inputs of shape (n, {self.n_features}), got {x.shape}"
            )
        raw = np.zeros(x.shape[0], dtype=np.float64) + self.arrays["baseline"][0]
        no_categories = np.zeros((0, 8), dtype=np.uint32)
        f_idx_map = np.zeros(self.n_features, dtype=np.uint32)
        threads = _openmp_threads()
        for predictor in self._predictors:  # type: ignore[attr-defined]
            raw += predictor.predict(x, no_categories, f_idx_map, threads)
        return expit(raw)


def _openmp_threads() -> int:
    """The threads scikit-learn's own prediction would use (``OMP_NUM_THREADS``, cgroups)."""
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    return int(_openmp_effective_n_threads())


def _check_arrays(arrays: dict[str, np.ndarray], n_features: int) -> None:
    """Shapes, dtypes and node references of exported trees (a saved file may be corrupt)."""
    missing = [k for k in (*NODE_FIELDS, "tree_sizes", "baseline") if k not in arrays]
    if missing:
        raise DataFormatError(f"tree arrays: missing {', '.join(missing)}")
    sizes = np.asarray(arrays["tree_sizes"])
    n_nodes = int(sizes.sum()) if sizes.size else 0
    if sizes.ndim != 1 or np.any(sizes < 1) or arrays["baseline"].shape != (1,):
        raise DataFormatError("tree arrays: malformed tree sizes or baseline")
    if any(np.asarray(arrays[f]).shape != (n_nodes,) for f in NODE_FIELDS):
        raise DataFormatError(f"tree arrays: every node field must hold {n_nodes} values")
    if not np.all(np.isfinite(arrays["value"])) or not np.isfinite(arrays["baseline"][0]):
        raise DataFormatError("tree arrays: non-finite leaf values")
    local_size = np.repeat(sizes, sizes)
    inner = np.asarray(arrays["is_leaf"]) == 0
    for side in ("left", "right"):
        ref = np.asarray(arrays[side]).astype(np.int64)
        if np.any(inner & ((ref < 1) | (ref >= local_size))):
            raise DataFormatError(f"tree arrays: a '{side}' reference points outside its tree")
    feats = np.asarray(arrays["feature_idx"]).astype(np.int64)
    if np.any(inner & ((feats < 0) | (feats >= n_features))):
        raise DataFormatError(f"tree arrays: a split on a feature outside 0..{n_features - 1}")


def _build_predictors(arrays: dict[str, np.ndarray]) -> list[Any]:
    """scikit-learn ``TreePredictor`` s over the exported nodes (its compiled tree walk)."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    dtype = predictors_dtype()
    bitsets = np.zeros((0, 8), dtype=np.uint32)
    predictors, start = [], 0
    for size in np.asarray(arrays["tree_sizes"], dtype=np.int64):
        nodes = np.zeros(int(size), dtype=dtype)
        for field in NODE_FIELDS:
            nodes[field] = arrays[field][start : start + size]
        predictors.append(TreePredictor(nodes, bitsets, bitsets))
        start += int(size)
    return predictors


def save_tree_arrays(path: Path, members: list[dict[str, np.ndarray]]) -> None:
    """Write the arrays of several members to one ``.npz`` (keys ``m<i>_<name>``)."""
    flat = {f"m{i}_{k}": v for i, arrays in enumerate(members) for k, v in arrays.items()}
    with path.open("wb") as fh:
        np.savez(fh, **flat)


def load_tree_arrays(path: Path, n_members: int) -> list[dict[str, np.ndarray]]:
    """Read the arrays written by :func:`save_tree_arrays` (numbers only: no pickle).

    Raises:
        DataFormatError: an unreadable file or a missing member; the message names the file.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFormatError(f"{path}: unreadable tree arrays ({exc})") from exc
    members = []
    for i in range(n_members):
        prefix = f"m{i}_"
        arrays = {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}
        if not arrays:
            raise DataFormatError(f"{path}: no arrays of ensemble member {i}")
        members.append(arrays)
    return members
