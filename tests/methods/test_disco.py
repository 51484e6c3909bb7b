"""Tests of the DisCo penalty (torch), the DisCo-decorrelated classifier method and Double DisCo
(two classifiers decorrelated on background give ABCD axes, arXiv:2007.14400)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from anomsearch.background.abcd import abcd_counts, abcd_estimate
from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.base import cross_score, derive_seed, trains_on_data
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.disco import DiscoClassifier
from anomsearch.methods.nn.disco_loss import DoubleDiscoModule, distance_correlation_loss
from anomsearch.methods.nn.disco_training import train_disco_classifier, train_double_disco
from anomsearch.methods.nn.mlp import TwinMLP
from anomsearch.metrics import auc
from anomsearch.metrics.decorrelation import distance_correlation, mjj_sculpting
from anomsearch.search.abcd_search import abcd_search
from anomsearch.stats import load_workspace

REGIONS = Regions(3.3, 3.7, 2.8, 4.4)

#: Small, fast training settings (the measured numbers in the physics test use these).
#: The unit tests fit labelled toy events directly (training_sample: data); the pipeline's
#: default trains on reference samples instead (test_trains_on_the_reference_samples_by_default).
FAST: dict[str, Any] = {
    "training_sample": "data",
    "hidden": (32, 32),
    "batch_size": 256,
    "max_epochs": 6,
    "patience": 2,
    "accelerator": "cpu",
}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny networks train much faster on one thread on a shared, loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------ toy events
def _jets(
    mjj: np.ndarray,
    m_a: np.ndarray,
    m_b: np.ndarray,
    t_a: np.ndarray,
    t_b: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Back-to-back jets of masses ``m_a, m_b`` (TeV) with invariant mass ``mjj`` (TeV), in the
    LHCO ``(n, 2, 7)`` layout (GeV); ``t_a, t_b`` are the jets' tau21."""
    n = mjj.size
    big, a, b = mjj * 1e3, m_a * 1e3, m_b * 1e3
    q = np.sqrt((big**2 - (a + b) ** 2) * (big**2 - (a - b) ** 2)) / (2 * big)
    cos_t = rng.uniform(-0.5, 0.5, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    p = np.stack([q * sin_t * np.cos(phi), q * sin_t * np.sin(phi), q * cos_t], axis=1)
    jets = np.zeros((n, 2, 7))
    jets[:, 0, :3], jets[:, 1, :3] = p, -p
    jets[:, 0, 3], jets[:, 1, 3] = a, b
    for k, t21 in enumerate((t_a, t_b)):
        tau1 = rng.uniform(0.2, 0.6, n)
        jets[:, k, 4], jets[:, k, 5], jets[:, k, 6] = tau1, t21 * tau1, 0.6 * t21 * tau1
    return jets


def _background(n: int, rng: np.random.Generator) -> EventTable:
    """Falling mjj on [2.8, 4.4] TeV; jet masses scale like (mjj / 3 TeV)^3: mass features are
    strongly correlated with mjj, tau21 is not."""
    u = rng.random(n)
    mjj = 2.8 - np.log(1 - u * (1 - np.exp(-2 * 1.6))) / 2
    scale = (mjj / 3.0) ** 3
    m_a = rng.gamma(2, 0.05, n) * scale + 0.01
    m_b = rng.gamma(2, 0.05, n) * scale + 0.01
    jets = _jets(mjj, m_a, m_b, rng.beta(6, 3, n), rng.beta(6, 3, n), rng)
    return EventTable(jets, label=np.zeros(n, dtype=np.int8))


def _signal(n: int, rng: np.random.Generator) -> EventTable:
    """Resonance at 3.5 TeV with 500 and 100 GeV two-prong (low tau21) jets."""
    mjj = rng.normal(3.5, 0.1, n)
    m_a, m_b = rng.normal(0.5, 0.03, n), rng.normal(0.1, 0.015, n)
    jets = _jets(mjj, m_a, m_b, rng.beta(3, 6, n), rng.beta(3, 6, n), rng)
    return EventTable(jets, label=np.ones(n, dtype=np.int8))


@functools.cache
def _toy() -> tuple[EventTable, EventTable, EventTable]:
    """(labelled training events, background test sample, signal test sample)."""
    rng = np.random.default_rng(7)
    train = EventTable.concatenate([_background(4000, rng), _signal(1500, rng)])
    return train, _background(8000, rng), _signal(2000, rng)


@functools.cache
def _fitted(disco_lambda: float) -> ClassifierScorer:
    return DiscoClassifier(disco_lambda=disco_lambda, **FAST).fit(
        _toy()[0], regions=REGIONS, seed=1
    )


# ------------------------------------------------------------------ the differentiable dCor^2
def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def test_torch_estimator_equals_the_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = np.exp(0.5 * x) + rng.normal(size=200)
    w = rng.uniform(0.2, 2.0, 200)
    assert float(distance_correlation_loss(_t(x), _t(y))) == pytest.approx(
        distance_correlation(x, y), abs=1e-6
    )
    with_w = float(distance_correlation_loss(_t(x), _t(y), _t(w)))
    assert with_w == pytest.approx(distance_correlation(x, y, weights=w), abs=1e-6)
    assert with_w != pytest.approx(distance_correlation(x, y), abs=1e-4)


def test_torch_estimator_linear_affine_and_independent() -> None:
    rng = np.random.default_rng(2)
    x = _t(rng.normal(size=300))
    y = _t(rng.normal(size=300)) + x
    assert float(distance_correlation_loss(x, 2.5 * x - 1.0)) == pytest.approx(1.0, abs=1e-12)
    assert float(distance_correlation_loss(x, -0.1 * x + 9.0)) == pytest.approx(1.0, abs=1e-12)
    base = float(distance_correlation_loss(x, y))
    assert float(distance_correlation_loss(-3.0 * x + 5.0, y)) == pytest.approx(base, rel=1e-10)
    assert float(distance_correlation_loss(x, 4.0 * y - 2.0)) == pytest.approx(base, rel=1e-10)

    def mean_independent(n: int) -> float:
        return float(
            np.mean(
                [float(distance_correlation_loss(*_t(rng.normal(size=(2, n))))) for _ in range(8)]
            )
        )

    small, large = mean_independent(64), mean_independent(1024)
    assert large < 0.01
    assert large < small / 4  # ~ 1/N


def test_torch_estimator_gradient() -> None:
    rng = np.random.default_rng(3)
    x = _t(rng.normal(size=7)).requires_grad_(True)
    y = _t(rng.normal(size=7)).requires_grad_(True)
    w = _t(rng.uniform(0.5, 2.0, 7))
    assert torch.autograd.gradcheck(lambda a, b: distance_correlation_loss(a, b, w), (x, y))
    # the gradient pushes a correlated output towards independence
    z = _t(rng.normal(size=64))
    out = (z + 0.5 * _t(rng.normal(size=64))).requires_grad_(True)
    loss = distance_correlation_loss(out, z)
    loss.backward()
    assert out.grad is not None and torch.all(torch.isfinite(out.grad))
    with torch.no_grad():
        stepped = out - 0.5 * out.grad / out.grad.norm()
    assert float(distance_correlation_loss(stepped, z)) < float(loss.detach())


def test_torch_estimator_constant_input_and_errors() -> None:
    x = torch.linspace(0, 1, 10, dtype=torch.float64, requires_grad=True)
    loss = distance_correlation_loss(x, torch.ones(10, dtype=torch.float64))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.all(x.grad == 0)
    with pytest.raises(DataFormatError, match="1-D tensors"):
        distance_correlation_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(DataFormatError, match="weights must have shape"):
        distance_correlation_loss(torch.zeros(3), torch.zeros(3), torch.ones(2))


# -------------------------------------------------------------------------------- options
def test_options_are_validated() -> None:
    m = DiscoClassifier(disco_lambda=3, train_range=[2.8, 4.4])
    assert (m.name, m.disco_lambda, m.train_range) == ("disco", 3.0, (2.8, 4.4))
    assert DiscoClassifier().needs_labels is False  # trains on reference samples by default
    assert DiscoClassifier(training_sample="data").needs_labels is True
    assert DiscoClassifier().needs_reference_signal and DiscoClassifier().needs_reference_background
    with pytest.raises(ConfigError, match=r"method\.training_sample"):
        DiscoClassifier(training_sample="labels")
    assert DiscoClassifier().disco_lambda == 10.0
    for bad in (-1.0, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ConfigError, match=r"method\.disco_lambda"):
            DiscoClassifier(disco_lambda=bad)
    for bad_range in ([4.0, 3.0], [3.0], [3.0, float("nan")], "3,4", [3.0, 4.0, 5.0]):
        with pytest.raises(ConfigError, match=r"method\.train_range"):
            DiscoClassifier(train_range=bad_range)
    with pytest.raises(ConfigError, match=r"method\.features"):
        DiscoClassifier(features=["mjj", "mj1"])
    with pytest.raises(ConfigError, match=r"method\.lr"):
        DiscoClassifier(lr=0.0)
    with pytest.raises(ConfigError, match=r"method\.disco_lambda"):
        train_disco_classifier(
            np.zeros((4, 1)), np.array([0, 0, 1, 1]), np.zeros(4), disco_lambda=-2.0, seed=0
        )


def test_fit_needs_labels_and_enough_events() -> None:
    train = _toy()[0]
    with pytest.raises(DataFormatError, match="no 'label'"):
        DiscoClassifier(**FAST).fit(train.with_label(None), regions=REGIONS, seed=0)
    # the signal sits at 3.5 TeV: a training window below it has no signal
    with pytest.raises(DataFormatError, match=r"0 signal .* train_range \[2.8, 3.1\]"):
        DiscoClassifier(train_range=[2.8, 3.1], **FAST).fit(train, regions=REGIONS, seed=0)


def test_trains_on_the_reference_samples_by_default() -> None:
    """The data are only scored: unlabelled data work, and the scorer is the one trained on the
    reference samples whatever the data hold."""
    train, background, signal = _toy()
    reference = {
        "reference_signal": train.subset(train.label == 1).with_label(None),
        "reference_background": train.subset(train.label == 0).with_label(None),
    }
    options = {**FAST, "training_sample": "reference", "max_epochs": 2, "hidden": (8,)}
    unlabelled = background.with_label(None)
    scorer = DiscoClassifier(**options, **reference).fit(unlabelled, regions=REGIONS, seed=3)
    again = DiscoClassifier(**options, **reference).fit(signal, regions=REGIONS, seed=3)
    np.testing.assert_array_equal(scorer.score(signal), again.score(signal))
    assert scorer.score(signal).mean() > scorer.score(background).mean()
    with pytest.raises(ConfigError, match="reference_signal"):
        DiscoClassifier(**options).fit(unlabelled, regions=REGIONS, seed=3)


def test_reference_training_is_done_once_per_cross_scoring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With reference samples the model does not depend on the fold: one training, with the run
    seed, scores every event; with ``training_sample: data`` each fold trains its own."""
    train, background, signal = _toy()
    reference = {
        "reference_signal": train.subset(train.label == 1).with_label(None),
        "reference_background": train.subset(train.label == 0).with_label(None),
    }
    options = {**FAST, "max_epochs": 1, "hidden": (8,), "n_ensemble": 1}
    seeds: list[int] = []
    fit = DiscoClassifier.fit

    def counting_fit(self: DiscoClassifier, events: EventTable, **kwargs: Any) -> ClassifierScorer:
        seeds.append(kwargs["seed"])
        return fit(self, events, **kwargs)

    monkeypatch.setattr(DiscoClassifier, "fit", counting_fit)
    events = EventTable.concatenate([background, signal])
    folds = np.arange(len(events)) % 3
    method = DiscoClassifier(**{**options, "training_sample": "reference"}, **reference)
    assert trains_on_data(method) is False
    crossed = cross_score(method, events, regions=REGIONS, folds=folds, seed=5)
    assert seeds == [5]
    assert crossed.scorers[0] is crossed.scorers[1] is crossed.scorers[2]
    np.testing.assert_array_equal(crossed.scores, crossed.scorers[0].score(events))
    seeds.clear()
    labelled = DiscoClassifier(**options)
    assert trains_on_data(labelled) is True
    cross_score(labelled, events, regions=REGIONS, folds=folds, seed=5)
    assert seeds == [derive_seed(5, k) for k in range(3)]


# ---------------------------------------------------------------- training and the scorer
def test_scores_shapes_determinism_and_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    train = EventTable.concatenate([_background(1200, rng), _signal(400, rng)])
    test = EventTable.concatenate([_background(300, rng), _signal(100, rng)])
    options = {**FAST, "max_epochs": 2, "hidden": (8,), "train_range": [3.0, 4.0]}
    first = DiscoClassifier(**options).fit(train, regions=REGIONS, seed=5)
    second = DiscoClassifier(**options).fit(train, regions=REGIONS, seed=5)
    scores = first.score(test)
    assert scores.shape == (len(test),) and scores.dtype == np.float64
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(scores, second.score(test))
    # train_range: only training events inside [3.0, 4.0) TeV were used (train + validation)
    in_range = int(np.count_nonzero((train.mjj >= 3.0) & (train.mjj < 4.0)))
    assert first.classifiers[0].val_mask.shape == (in_range,)
    history = first.classifiers[0].history
    assert (
        len(history["val_dcor"]) == len(history["val_loss"]) == first.classifiers[0].epochs_trained
    )
    # save / load round trip
    assert first.method == "disco"
    loaded = ClassifierScorer.load(first.save(tmp_path / "disco_scorer"))
    assert loaded.method == "disco"
    np.testing.assert_array_equal(loaded.score(test), scores)


def test_disco_removes_the_mjj_sculpting_of_a_plain_classifier() -> None:
    """The key physics test. The background jet masses grow with mjj, so a plain classifier
    (lambda = 0) that uses them selects high-mjj background and sculpts the mjj spectrum; DisCo
    (lambda = 10) must reduce both dCor^2(score, mjj) and the JSD of the background mjj shape,
    while still separating signal from background.

    Measured (seed 7 toy, seed 1 fit; seeds 8, 9 of the toy gave the same picture):
    plain: AUC 0.999, dCor^2 0.039, JSD 0.019 / 0.059 at 20% / 10% background efficiency;
    DisCo: AUC 0.92-0.99, dCor^2 0.001-0.002, JSD 0.004-0.005 / 0.008-0.013.
    """
    _, bkg, sig = _toy()
    test = EventTable.concatenate([bkg, sig])
    results = {}
    for lam in (0.0, 10.0):
        scorer = _fitted(lam)
        s_bkg = scorer.score(bkg)
        results[lam] = (
            auc(scorer.score(test), test.label),
            distance_correlation(s_bkg, bkg.mjj),
            mjj_sculpting(bkg.mjj, s_bkg, background_efficiencies=(0.2, 0.1), bins=30).jsd,
        )
    (auc_plain, dcor_plain, jsd_plain), (auc_disco, dcor_disco, jsd_disco) = (
        results[0.0],
        results[10.0],
    )
    # the plain classifier sculpts clearly
    assert auc_plain > 0.95
    assert dcor_plain > 0.015
    assert jsd_plain[0] > 0.01 and jsd_plain[1] > 0.025
    # DisCo: >= 13x less dCor^2 and >= 3x less JSD measured; asserted with margin
    assert dcor_disco < dcor_plain / 5
    assert np.all(jsd_disco < jsd_plain / 2)
    assert auc_disco > 0.75


# ------------------------------------------------------------------------------ Double DisCo
#: Double DisCo (arXiv:2007.14400): two classifiers decorrelated on background give ABCD axes.
PAIR_FAST = {"hidden": (32, 32), "batch_size": 512, "max_epochs": 8, "patience": 3}


def _pair_features(n_b: int, n_s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background: features 0 and 1 share a latent variable (strongly correlated), signal is
    shifted in all four features."""
    z = rng.normal(size=n_b)
    xb = np.column_stack(
        [z + 0.6 * rng.normal(size=n_b), z + 0.6 * rng.normal(size=n_b), *rng.normal(size=(2, n_b))]
    )
    xs = np.column_stack([rng.normal(1.5, 0.6, (2, n_s)).T, rng.normal(1.5, 1.0, (2, n_s)).T])
    return np.r_[xb, xs], np.r_[np.zeros(n_b), np.ones(n_s)]


def test_twin_gradients_reach_both_networks() -> None:
    module = DoubleDiscoModule(TwinMLP(4, hidden=(8,)), disco_lambda=5.0)
    module.log = lambda *args, **kwargs: None  # no Trainer attached: nothing to log to
    x = torch.randn(64, 4)
    y = (torch.rand(64) < 0.5).float()
    loss = module._common_step((x, y, torch.ones(64)), "train")
    loss.backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.any(p.grad != 0), name


def test_double_disco_decorrelation_makes_the_abcd_estimate_close() -> None:
    rng = np.random.default_rng(1)
    x, y = _pair_features(8000, 3000, rng)
    test_bkg, _ = _pair_features(20_000, 0, rng)
    test_sig, _ = _pair_features(0, 3000, rng)
    results = {}
    for lam in (0.0, 10.0):
        f, g = train_double_disco(x, y, disco_lambda=lam, seed=3, **PAIR_FAST)
        pf, pg = f.predict_proba(test_bkg), g.predict_proba(test_bkg)
        counts = abcd_counts(
            pf, pg, x_cut=float(np.quantile(pf, 0.8)), y_cut=float(np.quantile(pg, 0.8))
        )
        labels = np.r_[np.ones(3000), np.zeros(5000)]
        results[lam] = {
            "dcor": distance_correlation(pf, pg, max_events=5000),
            "closure": counts.a / abcd_estimate(counts).predicted,
            "auc": [
                auc(np.r_[clf.predict_proba(test_sig), p[:5000]], labels)
                for clf, p in ((f, pf), (g, pg))
            ],
        }
    plain, disco = results[0.0], results[10.0]
    # without the penalty both networks learn the same thing: ABCD fails by orders of magnitude
    assert plain["dcor"] > 0.5 and plain["closure"] > 5
    # with it the outputs are nearly independent on background and ABCD closes to ~25%
    # (measured: dCor^2 0.003, closure 1.25 at lambda 10; 0.94 at lambda 50)
    assert disco["dcor"] < 0.02 and abs(disco["closure"] - 1) < 0.4
    assert min(disco["auc"]) > 0.6 and max(disco["auc"]) > 0.9


def test_double_disco_bad_lambda_and_labels() -> None:
    x = np.zeros((10, 2))
    with pytest.raises(ConfigError, match=r"method\.disco_lambda"):
        train_double_disco(x, np.r_[np.zeros(5), np.ones(5)], disco_lambda=-1.0, seed=0)
    with pytest.raises(DataFormatError, match="0/1 labels"):
        train_double_disco(x, np.arange(10), disco_lambda=1.0, seed=0)


def test_abcd_search_recovers_an_injected_signal_in_region_a() -> None:
    rng = np.random.default_rng(4)
    n = 200_000
    mjj = rng.uniform(3.0, 4.0, n)
    pairs = rng.random((n, 2))  # independent axes on background: ABCD is exact
    regions = Regions(3.3, 3.7, 3.0, 4.0)
    in_sr = regions.in_sr(mjj)
    background_only = abcd_search(pairs, mjj, regions=regions, efficiency=0.01)
    assert background_only.discovery.significance < 3
    assert abs(background_only.closure.pull) < 3
    # 300 signal events in the SR, high in both scores
    signal = np.flatnonzero(in_sr)[:300]
    pairs[signal] = rng.uniform(0.95, 1.0, (300, 2))
    found = abcd_search(pairs, mjj, regions=regions, efficiency=0.01)
    load_workspace(found.spec)
    assert found.discovery.significance > 5
    # mu = signal events in A; all 300 are in A (above both ~0.9 cuts)
    assert abs(found.discovery.mu_hat - 300) < 2.5 * found.discovery.mu_hat_error
    with pytest.raises(ConfigError, match=r"background\.efficiency"):
        abcd_search(pairs, mjj, regions=regions, efficiency=1.0)
    with pytest.raises(DataFormatError, match="two scores"):
        abcd_search(pairs[:, :1], mjj, regions=regions, efficiency=0.01)
