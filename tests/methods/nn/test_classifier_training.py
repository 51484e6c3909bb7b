"""Tests of the MLP, the Lightning classifier module and train_classifier."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch

from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.methods.nn import (
    MLP,
    BinaryClassifierModule,
    Standardizer,
    TrainedClassifier,
    balanced_weights,
    train_classifier,
)
from anomsearch.methods.nn.classifier_training import weighted_bce
from anomsearch.methods.nn.training import fit_seeded
from anomsearch.metrics import auc

FAST = {"hidden": (16, 16), "batch_size": 256, "max_epochs": 4, "patience": 2}


def _gaussian_toy(
    n: int, rng: np.random.Generator, *, shift: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < 0.3).astype(np.int8)
    x = rng.normal(size=(n, 3)) * np.array([1.0, 50.0, 0.01]) + np.array([0.0, 200.0, 5.0])
    x[y == 1, 0] += shift  # separable along the first feature only
    return x, y


# --------------------------------------------------------------------------------------- MLP
@pytest.mark.parametrize(("dropout", "batch_norm"), [(0.0, False), (0.2, True)])
def test_mlp_output_shape_and_finite(dropout: float, batch_norm: bool) -> None:
    torch.manual_seed(0)
    net = MLP(5, hidden=(8, 4), dropout=dropout, batch_norm=batch_norm)
    out = net(torch.randn(11, 5))
    assert out.shape == (11,)
    assert torch.isfinite(out).all()
    assert MLP(2, hidden=())(torch.zeros(3, 2)).shape == (3,)


def test_mlp_gradients_reach_all_parameters() -> None:
    torch.manual_seed(1)
    net = MLP(4, hidden=(8, 8), dropout=0.1, batch_norm=True)
    net.train()
    loss = net(torch.randn(32, 4)).pow(2).mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) > 0, name


def test_mlp_eval_mode_is_deterministic() -> None:
    torch.manual_seed(2)
    net = MLP(4, hidden=(32, 32), dropout=0.5)
    x = torch.randn(64, 4)
    net.train()
    assert not torch.equal(net(x), net(x))  # dropout active
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_mlp_state_dict_round_trip() -> None:
    torch.manual_seed(3)
    net = MLP(3, hidden=(8, 8), batch_norm=True, dropout=0.1)
    net.train()
    net(torch.randn(50, 3))  # update batch-norm running statistics
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    other = MLP(3, hidden=(8, 8), batch_norm=True, dropout=0.1)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    net.eval()
    other.eval()
    x = torch.randn(20, 3)
    with torch.no_grad():
        assert torch.equal(net(x), other(x))


def test_mlp_bad_options() -> None:
    with pytest.raises(ConfigError, match="dropout"):
        MLP(3, dropout=1.0)
    with pytest.raises(ConfigError, match="hidden"):
        MLP(3, hidden=(8, 0))


# ------------------------------------------------------------------------- module, helpers
@pytest.mark.filterwarnings("ignore:You are trying to `self.log:UserWarning")  # no Trainer here
def test_module_common_step_is_weighted_bce() -> None:
    torch.manual_seed(4)
    module = BinaryClassifierModule(MLP(2, hidden=(4,)), lr=0.01)
    assert module.hparams.lr == 0.01
    assert "net" not in module.hparams
    x = torch.randn(6, 2)
    y = torch.tensor([1.0, 0, 1, 0, 0, 1])
    w = torch.tensor([1.0, 2, 0, 1, 1, 3])
    loss = module._common_step((x, y, w), "train")
    logits = module(x).detach()
    p = torch.sigmoid(logits)
    expected = -(w * (y * torch.log(p) + (1 - y) * torch.log(1 - p))).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_standardizer_guards_constant_columns() -> None:
    x = np.array([[1.0, 3.0, -2.0], [3.0, 3.0, 2.0]])
    s = Standardizer.fit(x)
    np.testing.assert_allclose(s.transform(x), [[-1, 0, -1], [1, 0, 1]])
    with pytest.raises(DataFormatError, match="features"):
        s.transform(np.zeros((2, 2)))


def test_balanced_weights() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    sw = np.array([1.0, 3.0, 1, 1, 1, 1, 1, 1])
    w = balanced_weights(y, sw)
    assert w[y == 1].sum() == pytest.approx(4.0)
    assert w[y == 0].sum() == pytest.approx(4.0)
    assert w[1] / w[0] == pytest.approx(3.0)


# ------------------------------------------------------------------------ train_classifier
@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray]:
    return _gaussian_toy(4000, np.random.default_rng(7))


def test_classifier_learns_separable_toy(toy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = toy
    clf = train_classifier(x, y, seed=1, **FAST)
    xt, yt = _gaussian_toy(4000, np.random.default_rng(8))
    p = clf.predict_proba(xt)
    assert p.shape == (4000,) and p.dtype == np.float64
    assert np.all((p >= 0) & (p <= 1))
    assert auc(p, yt) > 0.9
    assert clf.history["val_loss"] and len(clf.history["val_loss"]) == clf.epochs_trained
    assert clf.best_val_loss == min(clf.history["val_loss"])


def test_same_seed_same_scores_different_seed_different(
    toy: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = toy
    options = {**FAST, "max_epochs": 2, "dropout": 0.1}
    a = train_classifier(x, y, seed=5, **options).predict_proba(x)
    b = train_classifier(x, y, seed=5, **options).predict_proba(x)
    c = train_classifier(x, y, seed=6, **options).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_training_leaves_global_rng_and_cwd_alone(
    toy: tuple[np.ndarray, np.ndarray], tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    x, y = toy
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002 - the legacy global state is what must stay untouched
    train_classifier(x[:1000], y[:1000], seed=1, **{**FAST, "max_epochs": 1})
    assert os.listdir(tmp_path) == []  # no checkpoints or logs left behind
    after_torch, after_np = torch.rand(1), np.random.random()  # noqa: NPY002
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    assert torch.equal(after_torch, torch.rand(1))
    assert after_np == np.random.random()  # noqa: NPY002


def test_standardizer_fitted_on_training_split_only() -> None:
    rng = np.random.default_rng(9)
    x, y = _gaussian_toy(2000, rng)
    x[:, 2] = np.arange(2000.0) ** 2  # a feature whose mean differs strongly between subsets
    clf = train_classifier(x, y, seed=3, **{**FAST, "max_epochs": 1}, val_fraction=0.3)
    train = ~clf.val_mask
    assert 0.25 < clf.val_mask.mean() < 0.35
    # stratified: both splits keep the class fraction
    assert y[clf.val_mask].mean() == pytest.approx(y[train].mean(), abs=0.01)
    np.testing.assert_allclose(clf.standardizer.mean, x[train].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(clf.standardizer.std, x[train].std(axis=0), rtol=1e-12)
    assert not np.allclose(clf.standardizer.mean[2], x[:, 2].mean(), rtol=1e-3)


def test_early_stopping_keeps_best_weights() -> None:
    rng = np.random.default_rng(10)
    # pure noise labels: validation loss stops improving quickly
    x = rng.normal(size=(600, 3))
    y = (rng.random(600) < 0.5).astype(int)
    clf = train_classifier(
        x,
        y,
        seed=2,
        hidden=(64, 64),
        lr=0.02,
        batch_size=64,
        max_epochs=30,
        patience=2,
        top_epochs=1,
    )
    assert clf.epochs_trained < 30
    assert clf.epochs_trained == clf.best_epoch + 1 + 2
    assert clf.best_val_loss == pytest.approx(min(clf.history["val_loss"]))
    assert clf.nets == (clf.net,) and clf.averaged_epochs == (clf.best_epoch,)
    assert clf.averaged_val_loss is None and clf.val_loss == clf.best_val_loss


# ------------------------------------------------------------------------ top_epochs
@pytest.fixture(scope="module")
def noise_fit() -> TrainedClassifier:
    """Noise labels: a flat, noisy validation loss (the weak-supervision regime)."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(600, 3))
    y = (rng.random(600) < 0.5).astype(int)
    return train_classifier(
        x, y, seed=2, hidden=(16,), lr=0.02, batch_size=64, max_epochs=30, patience=2,
        top_epochs=3,
    )  # fmt: skip


def test_top_epochs_keeps_the_lowest_validation_losses(noise_fit: TrainedClassifier) -> None:
    clf = noise_fit
    losses = np.array(clf.history["val_loss"])
    assert len(clf.averaged_epochs) == 3 == len(clf.nets)
    assert clf.averaged_epochs[0] == clf.best_epoch == int(np.argmin(losses))
    assert sorted(losses[list(clf.averaged_epochs)]) == sorted(losses)[:3]
    assert list(losses[list(clf.averaged_epochs)]) == sorted(losses[list(clf.averaged_epochs)])
    # training stops `patience` epochs after the last epoch that entered the kept three
    assert clf.epochs_trained == max(clf.averaged_epochs) + 1 + 2 < 30


def test_top_epochs_average_the_networks_outputs(noise_fit: TrainedClassifier) -> None:
    clf = noise_fit
    x = np.random.default_rng(3).normal(size=(50, 3))
    xs = torch.from_numpy(clf.standardizer.transform(x).astype(np.float32))
    with torch.no_grad():
        outputs = [torch.sigmoid(net(xs).double()).numpy() for net in clf.nets]
    assert not np.allclose(outputs[0], outputs[1])  # different epochs, different weights
    p = clf.predict_proba(x)
    np.testing.assert_allclose(p, np.mean(outputs, axis=0), rtol=1e-6)
    np.testing.assert_allclose(clf.predict_logit(x), np.log(p / (1 - p)), rtol=1e-9, atol=1e-9)


def test_averaged_val_loss_is_that_of_the_averaged_output(noise_fit: TrainedClassifier) -> None:
    rng = np.random.default_rng(10)
    x = rng.normal(size=(600, 3))
    y = (rng.random(600) < 0.5).astype(int)
    val = noise_fit.val_mask
    expected = weighted_bce(noise_fit.predict_proba(x[val]), y[val], balanced_weights(y[val]))
    assert noise_fit.averaged_val_loss == pytest.approx(expected, rel=1e-12)
    assert noise_fit.val_loss == noise_fit.averaged_val_loss


def test_top_epochs_training_is_deterministic(toy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = toy
    options = {**FAST, "max_epochs": 4, "top_epochs": 3}
    a = train_classifier(x[:1500], y[:1500], seed=5, **options)
    b = train_classifier(x[:1500], y[:1500], seed=5, **options)
    assert a.averaged_epochs == b.averaged_epochs and len(a.nets) == 3
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


def test_fewer_epochs_than_top_epochs_averages_all_of_them(
    toy: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = toy
    clf = train_classifier(x[:1000], y[:1000], seed=1, **{**FAST, "max_epochs": 2, "top_epochs": 5})
    assert sorted(clf.averaged_epochs) == [0, 1] and clf.epochs_trained == 2


@pytest.mark.parametrize("value", [0, 2.5, "3", True])
def test_top_epochs_must_be_a_positive_integer(value: object) -> None:
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match=r"^top_epochs must be a positive integer"):
        train_classifier(x, y, seed=0, top_epochs=value)


def test_keep_top_of_the_lightning_fit() -> None:
    rng = np.random.default_rng(4)
    x, y = _gaussian_toy(800, rng)
    xs = Standardizer.fit(x).transform(x)
    w = np.ones(len(y))
    module, fit = fit_seeded(
        lambda: BinaryClassifierModule(MLP(3, hidden=(8,)), lr=0.01),
        (xs[:600], y[:600], w[:600]),
        (xs[600:], y[600:], w[600:]),
        seed=1,
        rng=np.random.default_rng(1),
        batch_size=64,
        val_batch_size=256,
        max_epochs=5,
        patience=5,
        keep_top=2,
        accelerator="cpu",
    )
    assert [e.loss for e in fit.top] == sorted(fit.history["val_loss"])[:2]
    assert (fit.top[0].epoch, fit.top[0].loss) == (fit.best_epoch, fit.best_loss)
    held = module.state_dict()
    assert all(torch.equal(held[k].cpu(), v) for k, v in fit.top[0].state.items())


class _NanModule(BinaryClassifierModule):
    """A classifier whose validation loss is NaN."""

    def _common_step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        x, y, w = batch
        loss = torch.nn.functional.binary_cross_entropy_with_logits(self(x), y, weight=w)
        if stage == "val":
            loss = loss * float("nan")
        self._log_epoch(stage, x.shape[0], loss=loss)
        return loss


def test_a_non_finite_validation_loss_stops_training_with_a_clear_error() -> None:
    x, y = _gaussian_toy(300, np.random.default_rng(2))
    w = np.ones(len(y))
    with pytest.raises(FitError, match="without a finite validation loss"):
        fit_seeded(
            lambda: _NanModule(MLP(3, hidden=(4,))),
            (x[:200], y[:200], w[:200]),
            (x[200:], y[200:], w[200:]),
            seed=1,
            rng=np.random.default_rng(1),
            batch_size=64,
            val_batch_size=256,
            max_epochs=5,
            patience=2,
            accelerator="cpu",
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y": np.array([0, 1, 2, 1])}, DataFormatError, "only 0 and 1"),
        ({"y": np.array([0, 1, 1, 1])}, DataFormatError, "class 0"),
        ({"x": np.full((4, 2), np.nan)}, DataFormatError, "non-finite"),
        ({"val_fraction": 1.0}, ConfigError, "val_fraction"),
        ({"lr": -1.0}, ConfigError, "lr"),
    ],
)
def test_train_classifier_bad_input(kwargs: dict, error: type, match: str) -> None:
    args = {"x": np.zeros((4, 2)), "y": np.array([0, 1, 0, 1]), "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        train_classifier(**args)


def test_explicit_val_mask_is_used(toy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = toy
    mask = np.zeros(len(y), dtype=bool)
    mask[::4] = True
    clf = train_classifier(x, y, seed=1, val_mask=mask, **{**FAST, "max_epochs": 1})
    np.testing.assert_array_equal(clf.val_mask, mask)
    np.testing.assert_allclose(clf.standardizer.mean, x[~mask].mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (np.ones(4, dtype=int), "boolean"),
        (np.array([True, True, False]), "shape"),
        (np.array([True, False, True, True]), "class 0"),
    ],
)
def test_explicit_val_mask_is_validated(mask: np.ndarray, match: str) -> None:
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(DataFormatError, match=match):
        train_classifier(x, y, seed=0, val_mask=mask)
