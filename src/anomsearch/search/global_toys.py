"""Global significance of a window scan from background-only pseudo-experiments of the whole chain.

With ``scan.global_toys: N`` the pipeline replaces the Sidak approximation by N pseudo-experiments:
each draws a background-only dataset from the generator with its own seed, retrains the method
in every window, redoes every (window, efficiency) bump hunt, and keeps the largest local Z. The
global p-value of the observed best local Z is the fraction of toys reaching it. The toys run in
batches on the configured executor (``compute.executor: dask`` spreads them over a cluster),
merged in toy order, so the result does not depend on where they ran; finished batches go into
the unit cache, so a killed run resumes at the first unfinished batch.

What one toy is -- the chain's own stages on a background-only dataset of the toy's seed -- is
:func:`anomsearch.workflow.scan_toy_max_z` (a new dataset of the toy generator) or
:func:`anomsearch.workflow.data_toy_max_z` (a pseudo-dataset made from the data,
:mod:`anomsearch.search.pseudo_data`, for any data source); this module runs any such function
over the toys.

"""

from __future__ import annotations

import logging
from collections.abc import Callable
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

__all__ = ["TOY_SOURCES", "scan_global_significance"]

log = logging.getLogger(__name__)

#: Data sources whose generator can draw new background-only datasets for the toys.
TOY_SOURCES = ("toy",)

#: Smallest number of toys handed to the executor at a time (at least its parallelism).
BATCH_SIZE = 4


def _runs(indices: list[int], size: int) -> list[tuple[int, int]]:
    """``(first, n)`` of runs of consecutive ``indices``, each at most ``size`` long.

    Examples:
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


def scan_global_significance(
    make_toy: Callable[[int], float],
    local_z: float,
    *,
    n_toys: int,
    seed: int,
    identity: Any,
    executor: Executor | None = None,
    cache: UnitCache | None = None,
    progress: bool = False,
) -> tuple[GlobalSignificance, np.ndarray]:
    """Global significance of the scan's best ``local_z`` from ``n_toys`` pseudo-experiments.

    Args:
        make_toy: one pseudo-experiment: its seed -> the largest local Z of its scan (a picklable
            function, e.g. ``functools.partial(anomsearch.workflow.scan_toy_max_z, config)``).
        local_z: the observed best local significance of the scan.
        n_toys: number of pseudo-experiments (>= 1).
        seed: master seed of the toys (toy ``i`` gets
            :func:`~anomsearch.stats.look_elsewhere.derive_toy_seeds` ``(seed, ...)[i]``).
        executor: where the batches run (None: this process).
        identity: what the toys depend on besides their seed (e.g. the resolved config without
            its name, output and compute settings): with ``seed`` and the toy index, the key of
            each toy in ``cache``.
        cache: keep each finished toy's value; cached toys are not rerun.
        progress: a bar over the toys.

    Returns:
        The :class:`~anomsearch.stats.look_elsewhere.GlobalSignificance` and the toys' maximum
        local Z in toy order.

    Raises:
        ConfigError: ``n_toys`` < 1.

    References:
        arXiv:1805.02664 (pseudo-experiments of the whole CWoLa hunt); arXiv:1005.1891.
    """
    n_toys = int(n_toys)
    if n_toys < 1:
        raise ConfigError("config field scan.global_toys: needs at least 1 pseudo-experiment")
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
