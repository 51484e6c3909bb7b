"""Boosted trees as plain arrays: exact scores, and saved scorers that never unpickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from anomsearch.exceptions import DataFormatError
from anomsearch.methods.tree_io import TreeArrays, export_hgb, load_tree_arrays, save_tree_arrays
from anomsearch.methods.trees import TreeEnsembleOptions, TreeEnsembleScorer, train_tree_ensemble


def _model(seed: int = 0) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 4))
    y = (x[:, 0] * x[:, 1] + 0.5 * rng.normal(size=3000) > 0).astype(int)
    x[::97, 2] = np.nan  # missing values take the side learned for them
    return HistGradientBoostingClassifier(max_iter=40, random_state=seed).fit(x, y), x


def test_exported_trees_reproduce_scikit_learn_bit_for_bit() -> None:
    model, x = _model()
    arrays = TreeArrays.from_model(model)
    assert arrays.n_trees == model.n_iter_
    np.testing.assert_array_equal(arrays.predict_signal_proba(x), model.predict_proba(x)[:, 1])
    with pytest.raises(DataFormatError, match=r"shape \(n, 4\)"):
        arrays.predict_signal_proba(x[:, :3])


def test_saved_arrays_round_trip_and_are_numbers_only(tmp_path: Path) -> None:
    model, x = _model(1)
    path = tmp_path / "trees.npz"
    save_tree_arrays(path, [export_hgb(model)])
    (loaded,) = load_tree_arrays(path, 1)
    assert all(v.dtype != object for v in loaded.values())
    np.testing.assert_array_equal(
        TreeArrays(loaded, 4).predict_signal_proba(x), model.predict_proba(x)[:, 1]
    )
    with pytest.raises(DataFormatError, match="no arrays of ensemble member 1"):
        load_tree_arrays(path, 2)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, m0_value=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFormatError, match="unreadable tree arrays"):
        load_tree_arrays(pickled, 1)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("left", 10**6, "'left' reference points outside its tree"),
        ("feature_idx", 7, "split on a feature outside 0..3"),
        ("value", np.nan, "non-finite leaf values"),
    ],
)
def test_corrupt_trees_are_refused(field: str, value: float, match: str) -> None:
    arrays = {k: v.copy() for k, v in export_hgb(_model()[0]).items()}
    if field == "value":
        arrays["value"] = arrays["value"].astype(np.float64)
        arrays["value"][3] = value
    else:
        inner = np.flatnonzero(arrays["is_leaf"] == 0)[0]
        arrays[field] = arrays[field].astype(np.int64)
        arrays[field][inner] = value
    with pytest.raises(DataFormatError, match=match):
        TreeArrays(arrays, 4)
    with pytest.raises(DataFormatError, match="missing baseline"):
        TreeArrays({k: v for k, v in arrays.items() if k != "baseline"}, 4)


def test_a_tampered_saved_scorer_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, (800, 2)), rng.normal(1, 1, (800, 2))])
    y = np.repeat([0, 1], 800)
    scorer = train_tree_ensemble(
        x, y, features=("mj1", "tau21_j1"), options=TreeEnsembleOptions(n_members=2), seed=3
    )
    target = scorer.save(tmp_path / "scorer")
    meta = json.loads((target / "scorer.json").read_text())
    assert meta["format"] == "anomsearch.tree_ensemble_scorer" and len(meta["members"]) == 2
    loaded = TreeEnsembleScorer.load(target)
    assert [m.columns for m in loaded.members] == [m.columns for m in scorer.members]
    with (target / "trees.npz").open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(DataFormatError, match="checksum does not match"):
        TreeEnsembleScorer.load(target)
    (target / "scorer.json").write_text("{}")
    with pytest.raises(DataFormatError, match="malformed scorer metadata"):
        TreeEnsembleScorer.load(target)
