"""Executors (serial, dask LocalCluster) and the content-hash unit cache of anomsearch.compute."""

from __future__ import annotations

import dataclasses
import functools
import logging
import site
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from anomsearch import compute
from anomsearch.compute import (
    ComputeConfig,
    DaskExecutor,
    SerialExecutor,
    UnitCache,
    fingerprint,
    make_executor,
)
from anomsearch.data import EventTable, Regions, generate_toy
from anomsearch.exceptions import ConfigError
from anomsearch.methods import get_method
from anomsearch.search import scan as scan_module
from anomsearch.search.scan import scan_windows, sliding_window_search
from anomsearch.stats import run_pseudo_experiments

REPO = Path(__file__).resolve().parents[2]
WINDOWS = scan_windows(mjj_min=2.6, mjj_max=4.7, width=0.4, step=0.2, sideband_width=0.3)
SCAN = {"efficiencies": (0.2, 0.05), "bin_width": 0.05, "n_params": 3, "progress": False}


@dataclass(frozen=True)
class DeltaMjScorer:
    target: float

    def score(self, events: EventTable) -> np.ndarray:
        return -np.abs(events.feature("delta_mj") - self.target)


@dataclass(frozen=True)
class SeededMethod:
    """Training-free, but seed-dependent: the score target moves with the fold's seed."""

    name: str = "seeded"
    spread: float = 0.05

    def fit(self, events: EventTable, *, regions: Regions, seed: int) -> DeltaMjScorer:
        rng = np.random.default_rng(seed)
        return DeltaMjScorer(0.4 + self.spread * rng.standard_normal())


def _toy_max_z(toy_seed: int, *, template: np.ndarray) -> float:
    """A stand-in pseudo-experiment: Poisson counts on a template, max local Z over bins."""
    counts = np.random.default_rng(toy_seed).poisson(template)
    return float(np.max((counts - template) / np.sqrt(template)))


def _square(x: int, *, offset: np.ndarray) -> float:
    return float(x * x + offset.sum())


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("unit 3 failed")
    return x


def _thread_pools(_unit: int) -> dict[str, int]:
    """The OpenMP / BLAS pools and torch's threads as a worker sees them, after the tree
    ensemble's and the networks' libraries are loaded."""
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    import torch
    from threadpoolctl import threadpool_info

    pools = {f"{p['user_api']}:{p['internal_api']}": p["num_threads"] for p in threadpool_info()}
    return {**pools, "torch": torch.get_num_threads()}


@pytest.fixture(scope="module")
def dask_executor():
    pytest.importorskip("distributed")
    with DaskExecutor(n_workers=2, threads_per_worker=1) as executor:
        # the workers import this module's functions by name (tests.test_compute)
        executor.client.run(site.addsitedir, str(REPO))
        yield executor


@pytest.fixture(scope="module")
def scan_events() -> EventTable:
    return generate_toy(40_000, 500, seed=21)


# ------------------------------------------------------------------------------ executors
def test_serial_executor_maps_in_order_with_shared_arguments() -> None:
    seen = []
    out = SerialExecutor().map(
        _square,
        [3, 1, 2],
        shared={"offset": np.ones(2)},
        on_result=lambda i, r: seen.append((i, r)),
    )
    assert out == [11.0, 3.0, 6.0]
    assert seen == [(0, 11.0), (1, 3.0), (2, 6.0)]
    assert SerialExecutor().map(_square, [], shared={"offset": np.ones(1)}) == []


def test_make_executor_serial_and_dask_without_starting() -> None:
    assert isinstance(make_executor(None), SerialExecutor)
    assert isinstance(make_executor(ComputeConfig(cache=False)), SerialExecutor)
    pytest.importorskip("distributed")
    ex = make_executor(ComputeConfig(executor="dask", n_workers=2, threads_per_worker=1))
    assert isinstance(ex, DaskExecutor) and ex._client is None  # started on first map only
    assert (ex.n_workers, ex.threads_per_worker) == (2, 1)
    ex.close()
    remote = make_executor(ComputeConfig(executor="dask", scheduler_address="tcp://10.0.0.1:8786"))
    assert remote.address == "tcp://10.0.0.1:8786"


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"executor": "serial", "n_workers": 2}, "compute.n_workers"),
        ({"executor": "serial", "scheduler_address": "tcp://h:1"}, "compute.scheduler_address"),
        (
            {"executor": "dask", "scheduler_address": "tcp://h:1", "n_workers": 2},
            "compute.n_workers",
        ),
        ({"executor": "spark"}, "compute.executor"),
    ],
)
def test_compute_config_errors_name_the_field(section: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ComputeConfig(**section)


def test_dask_executor_without_dask_names_the_field_and_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    monkeypatch.setattr(compute.executors, "dask_available", lambda: False)
    with pytest.raises(ConfigError, match=r"compute\.executor.*anomsearch\[dask\]"):
        ComputeConfig(executor="dask")
    with pytest.raises(ConfigError, match=r"compute\.executor.*anomsearch\[dask\]"):
        DaskExecutor()
    from anomsearch.config import load_config

    cfg = {
        "name": "t",
        "data": {"source": "toy", "n_background": 1000},
        "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
        "method": {"name": "cwola"},
        "background": {"name": "bumphunt"},
        "compute": {"executor": "dask"},
    }
    with pytest.raises(ConfigError, match=r"config field compute\.executor.*'anomsearch\[dask\]'"):
        load_config(cfg)


def test_dask_executor_maps_in_order_and_scatters_shared_data(dask_executor) -> None:
    assert dask_executor.parallelism == 2
    done = []
    out = dask_executor.map(
        _square,
        list(range(6)),
        shared={"offset": np.ones(1000)},
        on_result=lambda i, _: done.append(i),
    )
    assert out == [float(x * x + 1000) for x in range(6)]
    assert sorted(done) == list(range(6))
    with pytest.raises(ValueError, match="unit 3 failed"):
        dask_executor.map(_fail_on_three, [1, 2, 3, 4])
    assert dask_executor.map(abs, [-1, -2]) == [1, 2]  # usable after a failure


def test_dask_workers_run_one_thread_per_worker_thread(dask_executor) -> None:
    """Two processes with the default OpenMP pool (one thread per core) each made the tree
    ensemble ~100x slower on 2 cores (measured, issue 20): every pool in a local cluster's
    worker is capped at ``threads_per_worker`` (the executor's env, and dask's nanny default)."""
    for pools in dask_executor.map(_thread_pools, [0, 1]):
        assert "openmp" in " ".join(pools), pools  # scikit-learn's OpenMP runtime was found
        assert set(pools.values()) == {1}, pools


def test_pseudo_experiments_on_dask_equal_the_serial_run(dask_executor) -> None:
    template = np.linspace(50.0, 5.0, 40)
    make_toy = functools.partial(_toy_max_z, template=template)
    serial = run_pseudo_experiments(make_toy, n_toys=50, seed=4, progress=False)
    batched = run_pseudo_experiments(
        make_toy, n_toys=50, seed=4, progress=False, executor=SerialExecutor(), batch_size=7
    )
    on_dask = run_pseudo_experiments(
        make_toy, n_toys=50, seed=4, progress=False, executor=dask_executor, batch_size=7
    )
    default_batches = run_pseudo_experiments(
        make_toy, n_toys=50, seed=4, progress=False, executor=dask_executor
    )
    np.testing.assert_array_equal(serial, batched)
    np.testing.assert_array_equal(serial, on_dask)
    np.testing.assert_array_equal(serial, default_batches)
    with pytest.raises(ConfigError, match="either n_jobs"):
        run_pseudo_experiments(make_toy, n_toys=2, seed=4, n_jobs=2, executor=SerialExecutor())


def test_scan_on_dask_gives_the_serial_records(dask_executor, scan_events, caplog) -> None:
    method = SeededMethod()
    t0 = time.perf_counter()
    serial = sliding_window_search(scan_events, method, windows=WINDOWS, folds=2, seed=5, **SCAN)
    t1 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="anomsearch"):
        on_dask = sliding_window_search(
            scan_events, method, windows=WINDOWS, folds=2, seed=5, executor=dask_executor, **SCAN
        )
    t2 = time.perf_counter()
    print(
        f"scan of {len(WINDOWS)} windows: serial {t1 - t0:.2f} s, dask (2 workers) {t2 - t1:.2f} s"
    )
    assert serial.to_records() == on_dask.to_records()
    assert serial.best is not None and on_dask.best is not None
    assert serial.best.window_index == on_dask.best.window_index
    for a, b in zip(serial.results, on_dask.results, strict=True):
        np.testing.assert_array_equal(a.hunt.selection.mask, b.hunt.selection.mask)
        assert a.hunt.spec == b.hunt.spec


def test_cwola_scan_on_dask_gives_the_serial_records(dask_executor, scan_events) -> None:
    """Real torch trainings in the worker processes reproduce the in-process ones exactly."""
    method = get_method("cwola", hidden=[8], max_epochs=1, batch_size=4096)
    windows = WINDOWS[1:4]
    options = {**SCAN, "efficiencies": (0.2,)}
    serial = sliding_window_search(scan_events, method, windows=windows, folds=2, seed=2, **options)
    on_dask = sliding_window_search(
        scan_events, method, windows=windows, folds=2, seed=2, executor=dask_executor, **options
    )
    assert serial.to_records() == on_dask.to_records()


def test_scan_on_dask_fills_the_cache_that_a_serial_rerun_loads(
    dask_executor, scan_events, tmp_path, monkeypatch
) -> None:
    method = SeededMethod(spread=0.02)
    cache = UnitCache(tmp_path / "cache")
    first = sliding_window_search(
        scan_events,
        method,
        windows=WINDOWS,
        folds=2,
        seed=8,
        executor=dask_executor,
        cache=cache,
        **SCAN,
    )
    assert cache.stores == len(WINDOWS)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached window was recomputed")

    monkeypatch.setattr(scan_module, "run_window", no_training)
    again = sliding_window_search(
        scan_events,
        method,
        windows=WINDOWS,
        folds=2,
        seed=8,
        cache=UnitCache(cache.directory),
        **SCAN,
    )
    assert again.to_records() == first.to_records()


# ------------------------------------------------------------------------------ fingerprint
def test_fingerprint_is_deterministic_and_sees_options_and_data() -> None:
    a = get_method("cwola", lr=1e-3)
    assert fingerprint(a) == fingerprint(get_method("cwola", lr=1e-3))
    assert fingerprint(a) != fingerprint(get_method("cwola", lr=2e-3))
    assert fingerprint(a)["__class__"].endswith("CWoLaHunting")
    events = generate_toy(200, 0, seed=1)
    assert fingerprint(events) == fingerprint(generate_toy(200, 0, seed=1))
    assert fingerprint(events) != fingerprint(generate_toy(200, 0, seed=2))
    assert fingerprint(Regions(3.3, 3.7, 2.9, 4.1)) != fingerprint(Regions(3.3, 3.7, 2.9, 4.2))
    assert fingerprint({"x": np.arange(3)}) == fingerprint({"x": np.arange(3)})
    with pytest.raises(TypeError, match="cannot fingerprint"):
        fingerprint(lambda x: x)
    # a method's reference sample is part of its identity (it is not compared by ==)
    idealized = get_method("idealized")
    with_a = dataclasses.replace(idealized, reference_background=events)
    with_b = dataclasses.replace(idealized, reference_background=generate_toy(200, 0, seed=2))
    assert fingerprint(with_a) != fingerprint(with_b)
    assert fingerprint(with_a) == fingerprint(
        dataclasses.replace(idealized, reference_background=events)
    )
    # an EventTable's cache of derived features is not
    before = fingerprint(events)
    events.feature("mjj")
    assert fingerprint(events) == before


# ------------------------------------------------------------------------------ unit cache
def test_unit_cache_round_trip_force_and_disabled(tmp_path, caplog) -> None:
    cache = UnitCache(tmp_path / "c")
    key = cache.key("unit", seed=1, data=np.arange(4))
    assert key is not None and key.startswith("unit-")
    assert cache.key("unit", seed=1, data=np.arange(4)) == key
    assert cache.key("unit", seed=2, data=np.arange(4)) != key
    assert cache.key("other", seed=1, data=np.arange(4)) != key
    assert cache.load(key) is None
    cache.store(key, {"z": np.array([1.5, 2.5])})
    assert cache.path(key).is_file()
    assert not list(cache.path(key).parent.glob("*.tmp"))  # atomic: no temporary left
    with caplog.at_level(logging.INFO, logger="anomsearch.compute"):
        value = cache.load(key, label="unit 1/1")
    np.testing.assert_array_equal(value["z"], [1.5, 2.5])
    assert "cached: unit 1/1" in caplog.text
    assert UnitCache(tmp_path / "c", force=True).load(key) is None
    off = UnitCache(tmp_path / "off", enabled=False)
    assert off.key("unit", seed=1) is None
    off.store("unit-abc", 1)
    assert not (tmp_path / "off").exists()
    with pytest.raises(ValueError, match="None"):
        cache.store(key, None)


def test_unit_cache_key_depends_on_the_package_version(tmp_path, monkeypatch) -> None:
    cache = UnitCache(tmp_path)
    key = cache.key("unit", seed=1)
    monkeypatch.setattr(compute.cache, "__version__", "999.0")
    assert cache.key("unit", seed=1) != key


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_cache_entries_are_recomputed_with_a_warning(tmp_path, caplog, damage) -> None:
    cache = UnitCache(tmp_path)
    key = cache.key("unit", seed=1)
    cache.store(key, list(range(100)))
    path = cache.path(key)
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "flip":
        path.write_bytes(blob[:-3] + bytes([blob[-3] ^ 0xFF]) + blob[-2:])
    elif damage == "garbage":
        path.write_bytes(b"not a cache entry")
    else:
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="anomsearch.compute"):
        assert cache.load(key) is None
    assert "corrupt cache entry" in caplog.text
    cache.store(key, [1])  # the recomputed unit overwrites it
    assert cache.load(key) == [1]


def test_an_entry_under_the_wrong_key_is_not_used(tmp_path, caplog) -> None:
    cache = UnitCache(tmp_path)
    a, b = cache.key("unit", seed=1), cache.key("unit", seed=2)
    cache.store(a, "value of a")
    cache.path(b).write_bytes(cache.path(a).read_bytes())
    with caplog.at_level(logging.WARNING, logger="anomsearch.compute"):
        assert cache.load(b) is None
    assert "corrupt cache entry" in caplog.text


def test_unpicklable_values_and_unfingerprintable_inputs_are_not_cached(tmp_path, caplog) -> None:
    cache = UnitCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="anomsearch.compute"):
        assert cache.key("unit", fn=lambda x: x) is None
        key = cache.key("unit", seed=1)
        cache.store(key, lambda x: x)
    assert "not cached" in caplog.text
    assert not cache.path(key).exists()
