"""Where the units of a search run (executors) and the cache of finished units.

- :mod:`anomsearch.compute.executors`: the serial and dask executors, ``compute`` config checks;
- :mod:`anomsearch.compute.cache`: :class:`UnitCache`, keyed by :func:`fingerprint`;
- :mod:`anomsearch.compute.cache_admin`: the cache's size per kind and its pruning.
"""

from __future__ import annotations

from anomsearch.compute.cache import UnitCache, fingerprint
from anomsearch.compute.executors import (
    EXECUTORS,
    ComputeConfig,
    DaskExecutor,
    Executor,
    SerialExecutor,
    dask_available,
    make_executor,
)

__all__ = [
    "EXECUTORS",
    "ComputeConfig",
    "DaskExecutor",
    "Executor",
    "SerialExecutor",
    "UnitCache",
    "dask_available",
    "fingerprint",
    "make_executor",
]
