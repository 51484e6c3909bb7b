"""Tests of the conditional normalizing flow p(x | mjj) used by CATHODE."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn.flow import (
    ConditionalFlowModule,
    FeatureTransform,
    TrainedFlow,
    train_flow,
)

#: Truth of the known-answer conditional Gaussian: mean(mjj) = A + B (mjj - 3.5), fixed widths S.
A = np.array([0.5, -0.3])
B = np.array([1.0, 2.0])
S = np.array([0.2, 0.1])


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Small nets on a shared, loaded CPU train an order of magnitude faster on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gaussian(mjj: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return A + (mjj[:, None] - 3.5) * B + S * rng.standard_normal((mjj.size, 2))


def _true_log_prob(x: np.ndarray, mjj: np.ndarray) -> np.ndarray:
    z = (x - A - (mjj[:, None] - 3.5) * B) / S
    return (-0.5 * z**2 - np.log(S) - 0.5 * np.log(2 * np.pi)).sum(axis=1)


@pytest.fixture(scope="module")
def tiny_flow() -> TrainedFlow:
    rng = np.random.default_rng(1)
    mjj = rng.uniform(3.0, 4.0, 600)
    return train_flow(
        _gaussian(mjj, rng), mjj, transforms=2, hidden=(16,), max_epochs=2, seed=3,
        batch_size=128, accelerator="cpu",
    )  # fmt: skip


@pytest.fixture(scope="module")
def sideband_flow() -> TrainedFlow:
    """Trained on the 'sidebands' mjj in [3.0, 3.3) + [3.7, 4.0) only; tested in between."""
    rng = np.random.default_rng(7)
    mjj = rng.uniform(3.0, 4.0, 5000)
    mjj = mjj[(mjj < 3.3) | (mjj >= 3.7)]
    return train_flow(
        _gaussian(mjj, rng), mjj, transforms=2, hidden=(32, 32), lr=3e-3, batch_size=128,
        max_epochs=10, patience=3, seed=11, accelerator="cpu",
    )  # fmt: skip


# ------------------------------------------------------------------------ module properties
@pytest.mark.parametrize("kind", ["maf", "nsf"])
def test_module_log_prob_shape_finite_and_gradients_reach_every_parameter(kind: str) -> None:
    torch.manual_seed(0)
    module = ConditionalFlowModule(n_features=3, kind=kind, transforms=2, hidden=(8, 8))
    z, c = torch.randn(17, 3), torch.randn(17, 1)
    lp = module.log_prob(z, c)
    assert lp.shape == (17,)
    assert torch.all(torch.isfinite(lp))
    (-lp.mean()).backward()
    params = dict(module.named_parameters())
    assert params
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.any(p.grad != 0), name
    assert module.sample(c).shape == (17, 3)


def test_module_hparams_rebuild_the_architecture_and_state_dict_round_trips(
    tmp_path: pytest.TempPathFactory,
) -> None:
    torch.manual_seed(1)
    module = ConditionalFlowModule(n_features=2, transforms=2, hidden=(8,), lr=0.01)
    path = tmp_path / "flow.pt"  # type: ignore[operator]
    torch.save(module.state_dict(), path)
    again = ConditionalFlowModule(**module.hparams)
    assert dict(again.hparams) == dict(module.hparams)
    again.load_state_dict(torch.load(path, weights_only=True))
    z, c = torch.randn(9, 2), torch.randn(9, 1)
    with torch.no_grad():
        torch.testing.assert_close(again.log_prob(z, c), module.log_prob(z, c), rtol=0, atol=0)
        fresh = ConditionalFlowModule(**module.hparams)  # different init: must differ
        assert not torch.allclose(fresh.log_prob(z, c), module.log_prob(z, c))


def test_module_rejects_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="kind"):
        ConditionalFlowModule(n_features=2, kind="glow")


# ------------------------------------------------------------------------ preprocessing
@pytest.mark.parametrize("logit", [False, True])
def test_feature_transform_round_trip_and_jacobian(logit: bool) -> None:
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.gamma(2.0, 0.1, 300), rng.beta(5.0, 2.0, 300)])
    t = FeatureTransform.fit(x, logit=logit)
    assert t.logit is logit
    np.testing.assert_allclose(t.inverse(t.forward(x)), x, rtol=1e-9, atol=1e-12)
    z = t.forward(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)  # training statistics
    # the transform is per feature: log|det| = sum of log derivatives (central differences)
    h = 1e-6
    numeric = np.zeros(x.shape[0])
    for j in range(2):
        dx = np.zeros(2)
        dx[j] = h
        numeric += np.log((t.forward(x + dx)[:, j] - t.forward(x - dx)[:, j]) / (2 * h))
    np.testing.assert_allclose(t.log_abs_det_jacobian(x), numeric, rtol=1e-5, atol=1e-5)
    if logit:  # anything from the flow maps back inside the (widened) training range
        far = t.inverse(np.array([[-50.0, 50.0], [50.0, -50.0]]))
        assert np.all(far >= t.low) and np.all(far <= t.high)


# ------------------------------------------------------------------------ trained flow
def test_trained_flow_log_prob_and_samples(tiny_flow: TrainedFlow) -> None:
    rng = np.random.default_rng(4)
    mjj = rng.uniform(3.0, 4.0, 50)
    x = _gaussian(mjj, rng)
    lp = tiny_flow.log_prob(x, mjj)
    assert lp.shape == (50,) and np.all(np.isfinite(lp))
    s1 = tiny_flow.sample(mjj, seed=5)
    assert s1.shape == (50, 2) and s1.dtype == np.float64
    np.testing.assert_array_equal(s1, tiny_flow.sample(mjj, seed=5))
    assert not np.array_equal(s1, tiny_flow.sample(mjj, seed=6))
    # sampling leaves the global torch RNG alone
    state = torch.random.get_rng_state()
    tiny_flow.sample(mjj, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())
    assert tiny_flow.epochs_trained == 2 and len(tiny_flow.history["val_loss"]) == 2
    assert tiny_flow.best_val_nll == min(tiny_flow.history["val_loss"])
    assert tiny_flow.val_mask.sum() == 120


def test_training_is_seeded(tiny_flow: TrainedFlow) -> None:
    rng = np.random.default_rng(1)
    mjj = rng.uniform(3.0, 4.0, 600)
    x = _gaussian(mjj, rng)
    opts = {"transforms": 2, "hidden": (16,), "max_epochs": 2, "batch_size": 128}
    again = train_flow(x, mjj, **opts, seed=3, accelerator="cpu")
    probe_m = np.linspace(3.0, 4.0, 20)
    probe_x = _gaussian(probe_m, np.random.default_rng(9))
    np.testing.assert_array_equal(
        again.log_prob(probe_x, probe_m), tiny_flow.log_prob(probe_x, probe_m)
    )
    np.testing.assert_array_equal(again.val_mask, tiny_flow.val_mask)


def test_known_answer_conditional_gaussian_interpolated_into_held_out_mjj(
    sideband_flow: TrainedFlow,
) -> None:
    # Measured (8 epochs, best at epoch 4): |mean error| <= 0.023, relative std error <= 9%, mean
    # log-likelihood 0.03 below the truth (per event, 2-d); the limits leave about 2x margin.
    rng = np.random.default_rng(123)
    for m in (3.5, 3.4, 3.6):  # never seen in training
        mjj = np.full(20000, m)
        s = sideband_flow.sample(mjj, seed=1)
        np.testing.assert_allclose(s.mean(axis=0), A + (m - 3.5) * B, atol=0.04)
        np.testing.assert_allclose(s.std(axis=0), S, rtol=0.2)
        x = _gaussian(mjj[:5000], rng)
        learned = sideband_flow.log_prob(x, mjj[:5000]).mean()
        true = _true_log_prob(x, mjj[:5000]).mean()
        assert abs(learned - true) < 0.06, (m, learned, true)
    # the learned density is normalised: it is below the truth on average (Gibbs' inequality
    # up to noise), and a wrong conditioning mass is clearly worse
    x = _gaussian(np.full(5000, 3.5), rng)
    good = sideband_flow.log_prob(x, np.full(5000, 3.5)).mean()
    wrong = sideband_flow.log_prob(x, np.full(5000, 3.2)).mean()
    assert wrong < good - 2.0


def test_train_flow_rejects_bad_options_and_data() -> None:
    x, m = np.zeros((10, 2)), np.linspace(3, 4, 10)
    for bad in (
        {"transforms": 0},
        {"hidden": ()},
        {"lr": -1.0},
        {"batch_size": 1},
        {"max_epochs": 0},
        {"patience": 0},
        {"val_fraction": 1.0},
        {"kind": "real-nvp"},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            train_flow(x, m, seed=0, **bad)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="mjj must have shape"):
        train_flow(x, m[:5], seed=0)
    with pytest.raises(DataFormatError, match="non-finite"):
        train_flow(np.full((10, 2), np.nan), m, seed=0)
    with pytest.raises(DataFormatError, match="shape"):
        train_flow(np.zeros(10), m, seed=0)
