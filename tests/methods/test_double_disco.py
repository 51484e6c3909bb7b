"""Double DisCo (arXiv:2007.14400): two classifiers decorrelated on background give ABCD axes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from anomsearch.background.abcd import abcd_counts, abcd_estimate
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.methods.nn.double_disco import DoubleDiscoModule, TwinMLP, train_double_disco
from anomsearch.metrics import auc
from anomsearch.metrics.decorrelation import distance_correlation
from anomsearch.search.abcd_search import abcd_search
from anomsearch.stats import load_workspace

FAST = {"hidden": (32, 32), "batch_size": 512, "max_epochs": 8, "patience": 3}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _features(n_b: int, n_s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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


def test_decorrelation_makes_the_abcd_estimate_close() -> None:
    rng = np.random.default_rng(1)
    x, y = _features(8000, 3000, rng)
    test_bkg, _ = _features(20_000, 0, rng)
    test_sig, _ = _features(0, 3000, rng)
    results = {}
    for lam in (0.0, 10.0):
        f, g = train_double_disco(x, y, disco_lambda=lam, seed=3, **FAST)
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


def test_bad_lambda_and_labels() -> None:
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
