"""Tests of ClassifierScorer.save / ClassifierScorer.load."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from torch import nn

import anomsearch
from anomsearch.exceptions import DataFormatError
from anomsearch.methods import ClassifierScorer
from anomsearch.methods.classifier import SCORER_FORMAT_VERSION
from anomsearch.methods.nn import MLP, train_classifier

if TYPE_CHECKING:  # the fixture's type; conftest modules are not importable at run time
    from conftest import ToyDijets

FEATURES = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")


#: A scorer saved in format version 1 (one network per member) by the code before top_epochs, and
#: the mean of its members' outputs on fixed inputs.
V1_SCORER = Path(__file__).parent / "data" / "scorer_v1"
V1_EXPECTED = Path(__file__).parent / "data" / "scorer_v1_expected.json"


@pytest.fixture(scope="module")
def scorer() -> ClassifierScorer:
    """Two tiny members with dropout and batch norm (every layer type the MLP can have), each
    averaging its three best epochs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, len(FEATURES))) * [0.05, 0.1, 0.2, 0.2] + [0.1, 0.2, 0.6, 0.6]
    y = (rng.random(600) < 0.4).astype(np.int8)
    x[y == 1, 2] -= 0.2
    members = tuple(
        train_classifier(
            x,
            y,
            hidden=(8, 4),
            dropout=0.1,
            batch_norm=True,
            batch_size=64,
            max_epochs=3,
            patience=1,
            top_epochs=3,
            seed=s,
        )
        for s in (1, 2)
    )
    assert all(len(m.nets) == 3 for m in members)
    return ClassifierScorer(classifiers=members, features=FEATURES, method="cwola")


def test_round_trip_is_bit_identical(
    scorer: ClassifierScorer, toy: ToyDijets, tmp_path: Path
) -> None:
    events = toy.background(3000, mjj_range=(2.5, 5.0))
    target = tmp_path / "models" / "fold0"
    assert scorer.save(target) == target
    assert sorted(p.name for p in target.iterdir()) == ["scorer.json", "weights.pt"]  # no temps
    loaded = ClassifierScorer.load(target)
    np.testing.assert_array_equal(loaded.score(events), scorer.score(events))
    assert loaded.features == FEATURES and loaded.method == "cwola"
    for a, b in zip(scorer.classifiers, loaded.classifiers, strict=True):
        assert str(a.net) == str(b.net)  # same architecture, rebuilt from the metadata
        assert not b.net.training
        np.testing.assert_array_equal(a.standardizer.mean, b.standardizer.mean)
        np.testing.assert_array_equal(a.standardizer.std, b.standardizer.std)
        assert b.standardizer.mean.dtype == np.float64
        np.testing.assert_array_equal(a.val_mask, b.val_mask)
        assert (a.best_val_loss, a.best_epoch, a.epochs_trained) == (
            b.best_val_loss,
            b.best_epoch,
            b.epochs_trained,
        )
        assert a.history == b.history
        assert a.averaged_epochs == b.averaged_epochs and len(b.extra_nets) == 2
        assert a.averaged_val_loss == b.averaged_val_loss
        for net_a, net_b in zip(a.nets, b.nets, strict=True):
            for (ka, va), (kb, vb) in zip(
                net_a.state_dict().items(), net_b.state_dict().items(), strict=True
            ):
                assert ka == kb and torch.equal(va, vb)


def test_a_scorer_of_format_version_1_still_loads() -> None:
    meta = json.loads((V1_SCORER / "scorer.json").read_text())
    assert meta["format_version"] == 1  # the fixture really is an old file
    expected = json.loads(V1_EXPECTED.read_text())
    loaded = ClassifierScorer.load(V1_SCORER)
    assert loaded.method == "cwola" and loaded.features == FEATURES
    for member in loaded.classifiers:
        assert member.nets == (member.net,) and member.averaged_epochs == ()
        assert member.averaged_val_loss is None and member.val_loss == member.best_val_loss
    x = np.array(expected["inputs"])
    scores = np.mean([m.predict_proba(x) for m in loaded.classifiers], axis=0)
    np.testing.assert_allclose(scores, expected["scores"], rtol=1e-6)


def test_averaged_epochs_must_match_the_saved_networks(
    scorer: ClassifierScorer, tmp_path: Path
) -> None:
    import hashlib

    scorer.save(tmp_path)
    payload = torch.load(tmp_path / "weights.pt", weights_only=True)
    payload["members"][0]["averaged_epochs"] = [0]
    torch.save(payload, tmp_path / "weights.pt")
    meta = json.loads((tmp_path / "scorer.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((tmp_path / "weights.pt").read_bytes()).hexdigest()
    (tmp_path / "scorer.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match="1 averaged epochs for 3 networks"):
        ClassifierScorer.load(tmp_path)


def test_metadata(scorer: ClassifierScorer, tmp_path: Path) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    scorer.save(tmp_path)
    meta = json.loads((tmp_path / "scorer.json").read_text())
    assert meta["format_version"] == SCORER_FORMAT_VERSION == 2
    assert meta["anomsearch_version"] == anomsearch.__version__
    assert meta["method"] == "cwola"
    assert meta["features"] == list(FEATURES)
    assert datetime.datetime.fromisoformat(meta["created"]) >= before
    arch = meta["members"][0]["architecture"]
    assert arch == {
        "type": "MLP",
        "n_inputs": 4,
        "hidden": [8, 4],
        "dropout": 0.1,
        "batch_norm": True,
    }
    assert len(meta["members"]) == 2


def test_save_replaces_a_previous_save(
    scorer: ClassifierScorer, toy: ToyDijets, tmp_path: Path
) -> None:
    other = ClassifierScorer(classifiers=scorer.classifiers[:1], features=FEATURES)
    other.save(tmp_path)
    scorer.save(tmp_path)
    events = toy.background(500)
    np.testing.assert_array_equal(
        ClassifierScorer.load(tmp_path).score(events), scorer.score(events)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorer.json", "weights.pt"]


def test_save_errors(scorer: ClassifierScorer, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(DataFormatError, match=r"file.*not a directory"):
        scorer.save(a_file)
    member = scorer.classifiers[0]
    odd = type(member)(
        net=nn.Linear(4, 1),
        standardizer=member.standardizer,
        best_val_loss=0.0,
        best_epoch=0,
        epochs_trained=1,
        val_mask=np.zeros(0, bool),
    )
    with pytest.raises(TypeError, match="MLP"):
        ClassifierScorer(classifiers=(odd,), features=FEATURES).save(tmp_path / "odd")
    mixed = dataclasses.replace(member, extra_nets=(MLP(4, hidden=(2,)),))
    with pytest.raises(TypeError, match="share one MLP architecture"):
        ClassifierScorer(classifiers=(mixed,), features=FEATURES).save(tmp_path / "mixed")


def _corrupt_json(d: Path) -> None:
    (d / "scorer.json").write_text("{not json")


def _drop_weights(d: Path) -> None:
    (d / "weights.pt").unlink()


def _drop_meta(d: Path) -> None:
    (d / "scorer.json").unlink()


def _truncate_weights(d: Path) -> None:
    data = (d / "weights.pt").read_bytes()
    (d / "weights.pt").write_bytes(data[: len(data) // 2])


def _edit_meta(**changes: object):
    def edit(d: Path) -> None:
        meta = json.loads((d / "scorer.json").read_text())
        meta.update(changes)
        (d / "scorer.json").write_text(json.dumps(meta))

    return edit


def _garbage_weights_with_matching_checksum(d: Path) -> None:
    import hashlib

    torch.save({"members": [{"state_dict": {}}]}, d / "weights.pt")
    meta = json.loads((d / "scorer.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((d / "weights.pt").read_bytes()).hexdigest()
    (d / "scorer.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "culprit", "match"),
    [
        (_drop_meta, "scorer.json", "missing"),
        (_corrupt_json, "scorer.json", "unreadable"),
        (_drop_weights, "weights.pt", "missing"),
        (_truncate_weights, "weights.pt", "checksum"),
        (_edit_meta(format_version=99), "scorer.json", "version 99"),
        (_edit_meta(features=None), "scorer.json", "malformed"),
        (_edit_meta(members=[]), "scorer.json", "malformed"),
        (_garbage_weights_with_matching_checksum, "weights.pt", "cannot restore"),
    ],
)
def test_load_errors_name_the_file(
    scorer: ClassifierScorer, tmp_path: Path, damage, culprit: str, match: str
) -> None:
    target = tmp_path / "saved"
    scorer.save(target)
    damage(target)
    with pytest.raises(DataFormatError, match=match) as info:
        ClassifierScorer.load(target)
    assert str(target / culprit) in str(info.value)


def test_load_from_nowhere(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not a directory") as info:
        ClassifierScorer.load(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)


def test_load_scorer_dispatches_on_the_saved_format(tmp_path: Path, toy: ToyDijets) -> None:
    from anomsearch.data.events import EventTable
    from anomsearch.methods import Autoencoder, CWoLaHunting, load_scorer

    events = EventTable.concatenate([toy.background(3000), toy.signal(100)])
    fast = {"hidden": (8,), "max_epochs": 1, "batch_size": 256}
    methods = (
        CWoLaHunting(**fast, classifier="mlp"),
        CWoLaHunting(n_ensemble=2),
        Autoencoder(**fast),
    )
    for method in methods:
        scorer = method.fit(events, regions=toy.regions, seed=1)
        target = tmp_path / f"{method.name}_{type(scorer).__name__}"
        scorer.save(target)
        loaded = load_scorer(target)
        assert type(loaded) is type(scorer)
        np.testing.assert_array_equal(loaded.score(events), scorer.score(events))
    with pytest.raises(DataFormatError, match=r"no scorer\.json"):
        load_scorer(tmp_path / "nothing")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "scorer.json").write_text('{"format": "mystery"}')
    with pytest.raises(DataFormatError, match="unknown scorer format 'mystery'"):
        load_scorer(tmp_path / "odd")
