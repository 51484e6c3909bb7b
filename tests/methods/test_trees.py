"""The tree back-end (method.classifier: hgb): a seeded ensemble of boosted trees."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method
from anomsearch.methods.trees import TreeEnsembleOptions, TreeEnsembleScorer, train_tree_ensemble
from anomsearch.metrics import auc, max_sic

if TYPE_CHECKING:  # the fixture's type; conftest modules are not importable at run time
    from conftest import ToyDijets

FAST = {"classifier": "hgb", "n_ensemble": 2, "tree_max_iter": 60}


def test_hgb_cwola_finds_a_localised_signal(toy: ToyDijets) -> None:
    train = EventTable.concatenate([toy.background(20_000), toy.signal(300)])
    scorer = get_method("cwola", **FAST).fit(train, regions=toy.regions, seed=1)
    assert isinstance(scorer, TreeEnsembleScorer) and len(scorer.members) == 2
    test_bkg = toy.background(30_000)
    test_bkg = test_bkg.subset(toy.regions.in_sr(test_bkg.mjj))
    test = EventTable.concatenate([test_bkg, toy.signal(2_000)])
    scores = scorer.score(test)
    assert scores.shape == (len(test),) and np.all((scores >= 0) & (scores <= 1))
    assert auc(scores, test.label) > 0.9
    assert max_sic(scores, test.label).sic > 3.0


def test_hgb_cwola_without_signal_learns_nothing(toy: ToyDijets) -> None:
    scorer = get_method("cwola", **FAST).fit(toy.background(20_000), regions=toy.regions, seed=4)
    test = toy.background(30_000)
    scores = scorer.score(test)
    in_sr, in_sb = toy.regions.in_sr(test.mjj), toy.regions.in_sb(test.mjj)
    used = in_sr | in_sb
    assert abs(auc(scores[used], in_sr[used].astype(int)) - 0.5) < 0.03


def test_tree_ensemble_is_seeded_and_averages_its_members() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (2000, 3)), rng.normal(0.7, 1, (2000, 3))])
    y = np.repeat([0, 1], 2000)
    options = TreeEnsembleOptions(n_members=3, max_iter=40, feature_fraction=0.67)
    a = train_tree_ensemble(x, y, features=("f0", "f1", "f2"), options=options, seed=5)
    b = train_tree_ensemble(x, y, features=("f0", "f1", "f2"), options=options, seed=5)
    events_x = rng.normal(0.3, 1, (500, 3))
    members = [m.model.predict_signal_proba(events_x[:, list(m.columns)]) for m in a.members]
    for ma, mb in zip(a.members, b.members, strict=True):
        assert ma.columns == mb.columns and len(ma.columns) == 2  # attribute bagging: 2 of 3
        np.testing.assert_array_equal(
            ma.model.predict_signal_proba(events_x[:, list(ma.columns)]),
            mb.model.predict_signal_proba(events_x[:, list(mb.columns)]),
        )
    assert len({m.columns for m in a.members}) > 1  # members see different subsets
    assert all(m.n_iter <= 40 and np.isfinite(m.best_val_loss) for m in a.members)
    np.testing.assert_allclose(np.mean(members, axis=0), _score(a, events_x))


def _score(scorer: TreeEnsembleScorer, x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x))
    for m in scorer.members:
        out += m.model.predict_signal_proba(x[:, list(m.columns)])
    return out / len(scorer.members)


@pytest.mark.parametrize("name", ["cwola", "idealized", "supervised", "cathode", "salad"])
def test_every_classifier_method_takes_the_tree_back_end(name: str) -> None:
    method = get_method(name)  # hgb is the default back-end
    assert method.classifier == "hgb" and method.n_ensemble == 5
    assert get_method(name, classifier="mlp").n_ensemble == 1  # one network by default


@pytest.mark.parametrize("name", ["sa_cwola", "disco", "double_disco"])
def test_methods_whose_loss_is_the_network_train_mlps(name: str) -> None:
    assert get_method(name).classifier == "mlp"
    with pytest.raises(ConfigError, match=r"method\.classifier: .* part of the network's loss"):
        get_method(name, classifier="hgb")


def test_tree_options_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match=r"method\.classifier must be one of mlp, hgb"):
        get_method("cwola", classifier="xgboost")
    with pytest.raises(ConfigError, match=r"method\.feature_fraction must be in \(0, 1\]"):
        get_method("cwola", classifier="hgb", feature_fraction=0)
    with pytest.raises(ConfigError, match=r"method\.feature_fraction: only used with .*'hgb'"):
        get_method("cwola", classifier="mlp", feature_fraction=0.5)
    with pytest.raises(ConfigError, match=r"method\.inner_folds: only used with .*'mlp'"):
        get_method("cwola", inner_folds=3)
    with pytest.raises(ConfigError, match=r"method\.tree_max_iter must be a positive integer"):
        get_method("cwola", classifier="hgb", tree_max_iter=0)
    with pytest.raises(ConfigError, match=r"method\.classifier: SA-CWoLa's simulation term"):
        get_method("sa_cwola", classifier="hgb")
    with pytest.raises(ConfigError, match="both classes"):
        train_tree_ensemble(
            np.zeros((10, 1)), np.zeros(10), features=("a",), options=TreeEnsembleOptions(), seed=1
        )


def test_feature_sets_and_constituent_features_are_accepted() -> None:
    assert get_method("cwola", features="standard").features == (
        "mj1",
        "delta_mj",
        "tau21_j1",
        "tau21_j2",
    )
    assert len(get_method("idealized", classifier="hgb", features="kitchen_sink").features) == 166
    allowed = get_method(
        "cwola", features=["mj1", "tau3_b05_j2"], allow_mjj_correlated_features=True
    )
    assert allowed.features[1] == "tau3_b05_j2"
    with pytest.raises(ConfigError, match=r"method\.features: unknown feature 'tau99_j1'"):
        get_method("cwola", features=["tau99_j1"])


@pytest.mark.parametrize("name", ["cwola", "sa_cwola"])
def test_sideband_trained_methods_refuse_mjj_correlated_features(name: str) -> None:
    """SR-vs-SB training on constituent features sculpts a bump: refused unless allowed."""
    with pytest.raises(ConfigError, match=r"method\.features: .* depend on mjj .*allow_mjj"):
        get_method(name, features="subjettiness")
    with pytest.raises(ConfigError, match=r"allow_mjj_correlated_features must be true or false"):
        get_method(name, features="standard", allow_mjj_correlated_features="yes")
    assert get_method(name, features="standard").allow_mjj_correlated_features is False
    assert get_method("cathode", features="kitchen_sink").features[-1].startswith("efp")
