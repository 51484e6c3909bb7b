"""Global significance of a window scan from background-only pseudo-experiments of the whole chain.

With ``scan.global_toys: N`` the pipeline replaces the Sidak approximation by N pseudo-experiments:
each draws a background-only dataset from the generator with its own seed, retrains the method
in every window, redoes every (window, efficiency) bump hunt, and keeps the largest local Z. The
global p-value of the observed best local Z is the fraction of toys reaching it. The toys run in
batches on the configured executor (``compute.executor: dask`` spreads them over a cluster),
merged in toy order, so the result does not depend on where they ran; finished batches go into
the unit cache, so a killed run resumes at the first unfinished batch.

Only generated data can be thrown again: ``data.source: toy``.

"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import numpy as np

from anomsearch.compute import Executor, UnitCache
from anomsearch.exceptions import ConfigError
from anomsearch.progress import progress_bar
from anomsearch.stats.look_elsewhere import (
    GlobalSignificance,
    global_significance_from_toys,
    run_pseudo_experiments,
)

__all__ = ["TOY_SOURCES", "scan_global_significance", "scan_toy_max_z"]

log = logging.getLogger(__name__)

#: Data sources whose background-only pseudo-datasets can be drawn anew for the toys.
TOY_SOURCES = ("toy",)

#: Smallest number of toys handed to the executor at a time (at least its parallelism).
BATCH_SIZE = 4


def _runs(indices: list[int], size: int) -> list[tuple[int, int]]:
    """``(first, n)`` of runs of consecutive ``indices``, each at most ``size`` long.

    Example:
        >>> _runs([0, 1, 2, 5, 6, 9], 2)
        [(0, 2), (2, 1), (5, 2), (9, 1)]
    """
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][0] + runs[-1][1] == i and runs[-1][1] < size:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _toy_config(config: dict[str, Any]) -> dict[str, Any]:
    """The resolved config of a pseudo-experiment: same data settings, no signal, no outputs."""
    source = config["data"]["source"]
    if source not in TOY_SOURCES:
        raise ConfigError(
            f"config field scan.global_toys: pseudo-datasets are drawn from the generator, so "
            f"they need data.source: toy, not {source!r}; leave global_toys at 0 for the "
            "Sidak approximation"
        )
    toy = copy.deepcopy(config)
    toy["injection"] = None
    toy["scan"]["global_toys"] = 0
    toy["output"] = {**toy["output"], "plots": False}
    toy["compute"] = {"executor": "serial", "cache": False}
    return toy


def scan_toy_max_z(config: dict[str, Any], toy_seed: int) -> float:
    """The largest local Z of the scan of ``config`` on one background-only pseudo-dataset.

    Args:
        config: a resolved pipeline config with a ``scan`` section (the toy settings of
            :func:`_toy_config` are applied here: no injection, no cache).
        toy_seed: the pseudo-experiment's seed; it replaces ``config["seed"]``, so the data,
            the folds and the training of the toy all derive from it.

    Returns:
        The maximum local significance over every (window, efficiency) (0 when every entry
        was skipped).
    """
    from anomsearch import workflow

    toy = _toy_config(config)
    toy["seed"] = int(toy_seed)
    seeds = workflow._seeds(toy["seed"])
    events = workflow.load_dataset(toy)
    method = workflow._build_method(toy)
    result = workflow._run_scan(events, method, toy, seeds, progress=False)
    return max((float(r.significance) for r in result.results), default=0.0)


def scan_global_significance(
    config: dict[str, Any],
    local_z: float,
    *,
    seed: int,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
    progress: bool = False,
) -> tuple[GlobalSignificance, np.ndarray]:
    """Global significance of the scan's best ``local_z`` from ``scan.global_toys`` toys.

    Args:
        config: the resolved pipeline config (``scan.global_toys`` >= 1, ``data.source: toy``).
        local_z: the observed best local significance of the scan.
        seed: master seed of the toys (toy ``i`` gets
            :func:`~anomsearch.stats.look_elsewhere.derive_toy_seeds` ``(seed, ...)[i]``).
        executor: where the batches run (None: this process).
        cache: keep each finished toy's value, keyed by the config (without its name, output
            and compute settings), the seed and the toy index; cached toys are not rerun.
        progress: a bar over the toys.

    Returns:
        The :class:`~anomsearch.stats.look_elsewhere.GlobalSignificance` and the toys' maximum
        local Z in toy order.

    Raises:
        ConfigError: a data source that cannot be thrown again, or ``global_toys`` < 1.

    References:
        arXiv:1805.02664 (pseudo-experiments of the whole CWoLa hunt); arXiv:1005.1891.
    """
    n_toys = int(config["scan"].get("global_toys", 0))
    if n_toys < 1:
        raise ConfigError("config field scan.global_toys: needs at least 1 pseudo-experiment")
    toy = _toy_config(config)  # checks the data source before any work
    make_toy = functools.partial(scan_toy_max_z, toy)
    identity = {k: v for k, v in toy.items() if k not in ("name", "output", "compute", "seed")}
    keys: list[str | None] = [None] * n_toys
    values = np.full(n_toys, np.nan)
    if cache is not None:
        for i in range(n_toys):
            keys[i] = cache.key("scan_toy", config=identity, seed=int(seed), toy=i)
            hit = cache.load(keys[i])
            if hit is not None:
                values[i] = float(hit)
    todo = [i for i in range(n_toys) if np.isnan(values[i])]
    if len(todo) < n_toys:
        log.info("scan pseudo-experiments: %d of %d from the cache", n_toys - len(todo), n_toys)
    size = max(BATCH_SIZE, executor.parallelism if executor is not None else 1)
    with progress_bar(
        n_toys,
        initial=n_toys - len(todo),
        description="scan pseudo-experiments",
        unit="toy",
        enabled=progress,
    ) as bar:
        for first, n in _runs(todo, size):
            batch = run_pseudo_experiments(
                make_toy,
                n_toys=n,
                seed=int(seed),
                first_toy=first,
                batch_size=1,
                executor=executor,
                progress=False,
            )
            for i, value in enumerate(batch, start=first):
                values[i] = float(value)
                if cache is not None:
                    cache.store(keys[i], float(value))
            bar.update(n)
            log.info(
                "pseudo-experiments %d..%d of %d: max local Z %s",
                first,
                first + n - 1,
                n_toys,
                ", ".join(f"{z:.2f}" for z in batch),
            )
    return global_significance_from_toys(max(float(local_z), 0.0), values), values
