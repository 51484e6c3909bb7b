"""Tests of the autoencoder anomaly method, its network, training loop and scorer."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.autoencoder import (
    AUTOENCODER_SCORER_FORMAT_VERSION,
    SCORE_KINDS,
    Autoencoder,
    AutoencoderScorer,
)
from anomsearch.methods.base import AnomalyMethod, Scorer
from anomsearch.methods.nn.autoencoder_net import AutoencoderNet
from anomsearch.methods.nn.autoencoder_training import AutoencoderModule, train_autoencoder
from anomsearch.metrics import auc

if TYPE_CHECKING:  # the fixture's type; conftest modules are not importable at run time
    from conftest import ToyDijets

#: Small, fast settings (the defaults are sized for LHCO-scale data).
FAST: dict[str, Any] = {
    "hidden": (16, 8),
    "batch_size": 128,
    "lr": 3e-3,
    "max_epochs": 4,
    "patience": 2,
    "accelerator": "cpu",
}
SEED = 11
#: The toy regions of ``conftest.REGIONS`` (SR [3.3, 3.7] TeV in a [3.0, 4.0] TeV fit range).
REGIONS = Regions(3.3, 3.7, 3.0, 4.0)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny networks: one intra-op thread is fastest, and avoids thread contention on a shared
    CPU (2 threads on a loaded 2-core machine made each fit 10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: Fitted model shared by the tests (training is the slow part); filled on first use.
_FITTED: dict[str, AutoencoderScorer] = {}


@pytest.fixture
def trained(toy: ToyDijets) -> tuple[EventTable, AutoencoderScorer]:
    """One SR-trained autoencoder on toy background (about 2100 SR events of 6000).

    The events are drawn on every use (so the ``toy`` stream after it is the same whether or not
    the model was cached); the model is trained once.
    """
    events = toy.background(6000)
    if "sr" not in _FITTED:
        _FITTED["sr"] = Autoencoder(**FAST).fit(events, regions=toy.regions, seed=SEED)
    return events, _FITTED["sr"]


def _with_kind(scorer: AutoencoderScorer, kind: str) -> AutoencoderScorer:
    """The same trained members scored with another score (training does not depend on it)."""
    return dataclasses.replace(scorer, kind=kind)


# ----------------------------------------------------------------------------------- network
def test_net_shapes_and_mirrored_decoder() -> None:
    net = AutoencoderNet(4, hidden=(16, 8), latent_dim=3)
    x = torch.randn(7, 4)
    assert tuple(net.encode(x).shape) == (7, 3)
    assert tuple(net(x).shape) == (7, 4)
    enc = [m.out_features for m in net.encoder if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in net.decoder if isinstance(m, torch.nn.Linear)]
    assert enc == [16, 8, 3] and dec == [8, 16, 4]
    with pytest.raises(ConfigError, match=r"method\.latent_dim"):
        AutoencoderNet(4, latent_dim=0)
    with pytest.raises(ConfigError, match=r"method\.hidden"):
        AutoencoderNet(4, hidden=(8, 0))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log:UserWarning")  # no Trainer here
def test_module_loss_is_weighted_mse_and_reaches_every_parameter() -> None:
    torch.manual_seed(3)
    module = AutoencoderModule(AutoencoderNet(4, hidden=(8, 6), latent_dim=2), lr=0.02)
    assert module.hparams.lr == 0.02 and "net" not in module.hparams
    x = torch.randn(64, 4)
    w = torch.rand(64) + 0.5
    loss = module._common_step((x, w), "train")
    expected = (w * (module(x).detach() - x).pow(2).mean(dim=1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) > 0, name


# ------------------------------------------------- known answers on a background manifold
#: Background features come in equal pairs (x1 = x3, x2 = x4: a plane in 4D, plus 5% noise);
#: "signal" breaks the pairing (x1 = -x3, x2 = -x4): off the plane, but with the same norm.
_PLANE = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]) / np.sqrt(2.0)
_PERP = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]) / np.sqrt(2.0)
_MANIFOLD_FIT: dict[str, Any] = {
    "hidden": (16, 8),
    "latent_dim": 2,
    "lr": 1e-2,
    "batch_size": 128,
    "max_epochs": 4,
    "patience": 3,
    "accelerator": "cpu",
}


def _on_plane(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, 2)) @ _PLANE.T + 0.05 * rng.normal(size=(n, 4))


def _off_plane(n: int, rng: np.random.Generator, size: np.ndarray) -> np.ndarray:
    d = rng.normal(size=(n, 2))
    d *= (size / np.linalg.norm(d, axis=1))[:, None]
    return d @ _PERP.T + 0.05 * rng.normal(size=(n, 4))


def test_reconstruction_scores_find_off_manifold_events() -> None:
    """Off-plane events are no farther from the mean than the background (an untrained net or a
    distance cut gives AUC ~ 0.5), so only a network that learnt the plane separates them."""
    rng = np.random.default_rng(7)
    model = train_autoencoder(_on_plane(3000, rng), seed=1, **_MANIFOLD_FIT)
    bkg = _on_plane(2000, rng)
    sig = _off_plane(400, rng, np.linalg.norm(rng.normal(size=(400, 2)), axis=1))
    labels = np.r_[np.zeros(2000), np.ones(400)]
    radius = np.linalg.norm(model.standardizer.transform(np.r_[bkg, sig]), axis=1)
    assert 0.4 < auc(radius, labels) < 0.6  # the construction: no separation by distance
    for kind in ("mse", "normalized"):  # measured: 0.994 and 0.993
        assert auc(np.r_[model.score(bkg, kind), model.score(sig, kind)], labels) > 0.95, kind


def test_normalized_score_is_not_swamped_by_a_noisy_feature() -> None:
    """A fifth, independent N(0, 1) feature cannot pass a 2-d bottleneck that encodes the plane:
    its reconstruction error dominates the plain MSE and hides a small off-plane shift, while the
    normalised score weighs each feature by its own error scale."""
    rng = np.random.default_rng(7)

    def sample(n: int, shift: float) -> np.ndarray:
        x = (
            _on_plane(n, rng) + _off_plane(n, rng, np.full(n, shift))
            if shift
            else _on_plane(n, rng)
        )
        return np.c_[x, rng.normal(size=n)]

    model = train_autoencoder(sample(3000, 0.0), seed=1, **_MANIFOLD_FIT)
    assert model.error_scale[4] > 20 * model.error_scale[:4].max()  # the noise is not encoded
    bkg, sig = sample(2000, 0.0), sample(400, 0.5)
    labels = np.r_[np.zeros(2000), np.ones(400)]
    auc_mse = auc(np.r_[model.score(bkg, "mse"), model.score(sig, "mse")], labels)
    auc_norm = auc(np.r_[model.score(bkg, "normalized"), model.score(sig, "normalized")], labels)
    assert auc_norm > 0.95 and auc_mse < 0.85  # measured: 0.988 and 0.684
    assert auc_norm - auc_mse > 0.15


# ------------------------------------------------------------------------------ fitted model
def test_protocols_and_name(trained: tuple[EventTable, AutoencoderScorer]) -> None:
    method = Autoencoder(**FAST)
    assert method.name == "autoencoder"
    assert isinstance(method, AnomalyMethod)
    assert isinstance(trained[1], Scorer)
    with pytest.raises(dataclasses.FrozenInstanceError):
        method.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_scores_shape_dtype_finite(
    kind: str, trained: tuple[EventTable, AutoencoderScorer], toy: ToyDijets
) -> None:
    events = toy.background(500, mjj_range=(2.5, 5.0))  # any mjj can be scored
    s = _with_kind(trained[1], kind).score(events)
    assert s.shape == (500,) and s.dtype == np.float64
    assert np.all(np.isfinite(s)) and np.all(s >= 0)
    assert np.unique(s).size > 450  # a continuous score, not a constant


def test_sr_training_uses_only_sr_events(trained: tuple[EventTable, AutoencoderScorer]) -> None:
    events, scorer = trained
    sr = REGIONS.in_sr(events.mjj)
    (member,) = scorer.members
    assert member.val_mask.size == int(sr.sum()) < len(events)
    x_sr = events.features(scorer.features)[sr]
    train = ~member.val_mask
    # the standardiser was fitted on exactly the SR training split
    np.testing.assert_allclose(member.standardizer.mean, x_sr[train].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(member.standardizer.std, x_sr[train].std(axis=0), rtol=1e-12)
    # ... and the latent statistics on the same events
    np.testing.assert_allclose(member.latent_mean, member.latent(x_sr[train]).mean(axis=0))


def test_score_definitions(trained: tuple[EventTable, AutoencoderScorer]) -> None:
    events, scorer = trained
    (member,) = scorer.members
    x = events.features(scorer.features)
    res, z = member.residuals(x), member.latent(x)
    np.testing.assert_allclose(member.score(x, "mse"), np.mean(res**2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(
        member.score(x, "normalized"), np.sum(res**2 / member.error_scale, axis=1), rtol=1e-12
    )
    d = z - member.latent_mean
    maha = np.sqrt(np.einsum("ni,ij,nj->n", d, np.linalg.inv(member.latent_cov), d))
    np.testing.assert_allclose(member.score(x, "latent"), maha, rtol=1e-6)
    # normalisation: on the validation split every feature's term averages to exactly 1
    x_val = x[REGIONS.in_sr(events.mjj)][member.val_mask]
    terms = member.residuals(x_val) ** 2 / member.error_scale
    np.testing.assert_allclose(terms.mean(axis=0), 1.0, rtol=1e-9)
    with pytest.raises(ConfigError, match=r"method\.score"):
        member.score(x, "l2")


@pytest.mark.parametrize(
    ("kind", "min_auc"), [("mse", 0.93), ("normalized", 0.93), ("latent", 0.97)]
)
def test_out_of_distribution_signal_scores_higher(
    kind: str, min_auc: float, trained: tuple[EventTable, AutoencoderScorer], toy: ToyDijets
) -> None:
    """Known answer: the toy signal (heavy X jet, large delta_mj, two-prong tau21) lies outside
    the background feature distribution the autoencoder learnt, so it must score higher.

    Measured AUCs (this seed): mse 0.968, normalized 0.967, latent 0.998; an untrained network
    gives latent AUCs of 0.13-0.80 (the reconstruction scores of such far-out events are high
    even untrained: the manifold tests above are the ones that need training)."""
    scorer = _with_kind(trained[1], kind)
    bkg, sig = toy.background(3000), toy.signal(600)
    scores = np.r_[scorer.score(bkg), scorer.score(sig)]
    labels = np.r_[np.zeros(len(bkg)), np.ones(len(sig))]
    assert auc(scores, labels) > min_auc
    assert np.median(scorer.score(sig)) > np.quantile(scorer.score(bkg), 0.9)


def test_same_seed_same_scores_other_seed_differs(
    trained: tuple[EventTable, AutoencoderScorer], toy: ToyDijets
) -> None:
    events, scorer = trained
    probe = toy.background(400, mjj_range=(2.5, 5.0))
    again = Autoencoder(**FAST).fit(events, regions=REGIONS, seed=SEED)
    np.testing.assert_array_equal(again.score(probe), scorer.score(probe))
    other = Autoencoder(**FAST).fit(events, regions=REGIONS, seed=SEED + 1)
    assert not np.array_equal(other.score(probe), scorer.score(probe))


def test_save_load_round_trip(
    trained: tuple[EventTable, AutoencoderScorer], toy: ToyDijets, tmp_path: Path
) -> None:
    _, scorer = trained
    probe = toy.background(800, mjj_range=(2.5, 5.0))
    for kind in SCORE_KINDS:
        target = tmp_path / kind
        assert _with_kind(scorer, kind).save(target) == target
        assert sorted(p.name for p in target.iterdir()) == ["scorer.json", "weights.pt"]
        loaded = AutoencoderScorer.load(target)
        assert (loaded.kind, loaded.features, loaded.method) == (
            kind,
            scorer.features,
            "autoencoder",
        )
        np.testing.assert_array_equal(loaded.score(probe), _with_kind(scorer, kind).score(probe))
        a, b = scorer.members[0], loaded.members[0]
        np.testing.assert_array_equal(a.val_mask, b.val_mask)
        assert a.history == b.history and not b.net.training
    meta = json.loads((tmp_path / "mse" / "scorer.json").read_text())
    assert meta["format_version"] == AUTOENCODER_SCORER_FORMAT_VERSION
    assert meta["members"][0]["architecture"]["hidden"] == [16, 8]
    with (tmp_path / "mse" / "weights.pt").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(DataFormatError, match=r"weights\.pt.*checksum"):
        AutoencoderScorer.load(tmp_path / "mse")
    with pytest.raises(DataFormatError, match=r"scorer\.json"):
        AutoencoderScorer.load(tmp_path / "nothing")


def test_train_all_and_ensemble_average(toy: ToyDijets) -> None:
    events = toy.background(1200)
    opts = {**FAST, "max_epochs": 1, "n_ensemble": 2, "train_region": "all", "score": "latent"}
    scorer = Autoencoder(**opts).fit(events, regions=REGIONS, seed=2)
    assert len(scorer.members) == 2 and scorer.kind == "latent"
    assert all(m.val_mask.size == len(events) for m in scorer.members)  # whole spectrum
    x = events.features(scorer.features)
    parts = [m.score(x, "latent") for m in scorer.members]
    assert not np.array_equal(parts[0], parts[1])  # independently seeded members
    np.testing.assert_allclose(scorer.score(events), (parts[0] + parts[1]) / 2, rtol=1e-12)


def test_too_few_training_events(toy: ToyDijets) -> None:
    events = toy.background(3000, mjj_range=(3.0, 3.3))  # nothing in the SR
    with pytest.raises(DataFormatError, match="min_region_events"):
        Autoencoder(**FAST).fit(events, regions=REGIONS, seed=0)


# ----------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("features", ()),
        ("features", ("mjj", "mj1")),
        ("features", ("nope",)),
        ("train_region", "sb"),
        ("hidden", (8, 0)),
        ("hidden", "16"),
        ("latent_dim", 0),
        ("latent_dim", 1.5),
        ("score", "l2"),
        ("lr", 0.0),
        ("weight_decay", -1.0),
        ("batch_size", 1),
        ("max_epochs", 0),
        ("patience", 0),
        ("val_fraction", 1.0),
        ("n_ensemble", 0),
        ("min_region_events", -3),
        ("accelerator", ""),
    ],
)
def test_invalid_options_name_the_field(option: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"method\.{option}"):
        Autoencoder(**{option: value})


def test_options_are_normalised() -> None:
    method = Autoencoder(features=["mj1", "tau21_j1"], hidden=[8, 4])
    assert method.features == ("mj1", "tau21_j1") and method.hidden == (8, 4)
    assert Autoencoder(features="mj1").features == ("mj1",)
