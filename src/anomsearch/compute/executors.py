"""Where the independent units of a search run, and a content-hash cache of finished units.

A search has units of work that do not depend on each other: the windows of a sliding-window scan
(:func:`anomsearch.search.scan.sliding_window_search`), the batches of pseudo-experiments of the
global significance (:func:`anomsearch.stats.look_elsewhere.run_pseudo_experiments`), the folds of
the cross-scoring (:func:`anomsearch.methods.base.cross_score`). An *executor* maps a function over
such units and returns the results in input order:

- :class:`SerialExecutor`: one after the other in this process (the default);
- :class:`DaskExecutor`: on ``dask.distributed`` workers, a ``LocalCluster`` of worker processes
  on this machine by default, or any running scheduler by address (e.g. a ``dask-jobqueue``
  cluster on a batch system). Large inputs shared by all units (the events, the method with its
  reference samples) are scattered to the workers once, not sent with every task.

Every unit is a pure function of its inputs, so the results do not depend on the executor.

The unit cache of finished units is :mod:`anomsearch.compute.cache`.

``dask`` is an optional dependency (``pip install 'anomsearch[dask]'``), imported only when a
:class:`DaskExecutor` starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from anomsearch.exceptions import ConfigError

__all__ = [
    "EXECUTORS",
    "ComputeConfig",
    "DaskExecutor",
    "Executor",
    "SerialExecutor",
    "dask_available",
    "make_executor",
]

log = logging.getLogger(__name__)

#: The values of the ``compute.executor`` config field.
EXECUTORS = ("serial", "dask")

_DASK_HINT = "install the dask extra: pip install 'anomsearch[dask]'"
_SHARED_PREFIX = "_anomsearch_shared_"


@runtime_checkable
class Executor(Protocol):
    """Maps a function over independent units of work; results come back in input order."""

    @property
    def parallelism(self) -> int:
        """How many units run at the same time (1 for :class:`SerialExecutor`)."""
        ...

    def map(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        shared: Mapping[str, Any] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """``[fn(item, **shared) for item in items]``; ``on_result(i, result)`` as each finishes."""
        ...

    def close(self) -> None:
        """Release the workers (a no-op for :class:`SerialExecutor`)."""
        ...


class _ExecutorBase:
    """Context-manager support: ``with make_executor(cfg) as ex: ...`` closes the executor."""

    def close(self) -> None:
        """Release resources (nothing to release here)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(_ExecutorBase):
    """Run every unit in this process, one after the other.

    Examples:
        >>> SerialExecutor().map(pow, [1, 2, 3], shared={"exp": 2})
        [1, 4, 9]
        >>> done = []
        >>> SerialExecutor().map(abs, [-2, 5], on_result=lambda i, r: done.append((i, r)))
        [2, 5]
        >>> done
        [(0, 2), (1, 5)]
    """

    @property
    def parallelism(self) -> int:
        """Always 1."""
        return 1

    def map(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        shared: Mapping[str, Any] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """Call ``fn(item, **shared)`` for each item in order.

        Args:
            fn: the per-unit function.
            items: the units.
            shared: keyword arguments passed unchanged to every call (e.g. the events).
            on_result: called with ``(index, result)`` right after each unit finishes.

        Returns:
            The results, in the order of ``items``.
        """
        kwargs = dict(shared or {})
        out = []
        for i, item in enumerate(items):
            result = fn(item, **kwargs)
            if on_result is not None:
                on_result(i, result)
            out.append(result)
        return out

    def __repr__(self) -> str:
        return "SerialExecutor()"


def dask_available() -> bool:
    """Whether ``dask.distributed`` can be imported (without importing it).

    Examples:
        >>> isinstance(dask_available(), bool)
        True
    """
    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):  # pragma: no cover - broken installation
        return False


def _import_distributed(field: str = "compute.executor") -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"config field {field}: 'dask' needs dask.distributed, which is not installed; "
            f"{_DASK_HINT}"
        ) from exc
    return distributed


def _call_with_shared(fn: Callable[..., Any], item: Any, **kwargs: Any) -> Any:
    """Run on a worker: strip the prefix that keeps shared names clear of ``Client.map``'s own."""
    n = len(_SHARED_PREFIX)
    return fn(item, **{name[n:]: value for name, value in kwargs.items()})


def _set_log_level(name: str, level: int) -> None:
    """Run on each worker: give the package logger the client's level (records are forwarded)."""
    logging.getLogger(name).setLevel(level)


class DaskExecutor(_ExecutorBase):
    """Run units as ``dask.distributed`` tasks, on a local cluster or on any scheduler.

    The cluster starts on the first :meth:`map` (a run without parallel work costs nothing) and
    stops in :meth:`close` (or at the end of a ``with`` block). Without ``address`` a
    ``distributed.LocalCluster`` of ``n_workers`` worker *processes* (so that torch trainings run
    in parallel, not behind the GIL) with ``threads_per_worker`` threads each is started; with
    ``address`` the executor connects to a running scheduler (``tcp://host:8786``, e.g. of a
    ``dask-jobqueue`` cluster; the workers must have the same anomsearch installed) and leaves it
    running when closed. Log records of the ``anomsearch`` loggers on the workers are forwarded
    to this process.

    Args:
        address: scheduler address; None starts a ``LocalCluster``.
        n_workers: worker processes of the local cluster (default: CPU cores /
            ``threads_per_worker``).
        threads_per_worker: threads per local worker (each worker also limits its BLAS / OpenMP /
            torch threads to this number).
        processes: local workers as processes (default) or threads of this process.

    Raises:
        ConfigError: ``dask.distributed`` is not installed (names ``compute.executor`` and the
            ``dask`` extra), or an address combined with local-cluster options.

    Examples:
        >>> with DaskExecutor(n_workers=2) as ex:  # doctest: +SKIP
        ...     ex.map(pow, [1, 2, 3], shared={"exp": 2})
        [1, 4, 9]
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        processes: bool = True,
    ) -> None:
        if address is not None and n_workers is not None:
            raise ConfigError(
                "config field compute.n_workers: only used for a local cluster, not with "
                "compute.scheduler_address (the scheduler's workers are what they are)"
            )
        for name, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"config field compute.{name}: must be an integer >= 1")
        _import_distributed()
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = int(threads_per_worker)
        self.processes = bool(processes)
        self._client: Any = None
        self._cluster: Any = None
        #: Seconds local worker processes get to exit in :meth:`close` before they are killed.
        self.close_timeout = 20.0

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (the cluster is started or connected on first use)."""
        if self._client is None:
            distributed = _import_distributed()
            if self.address is None:
                extra = {}
                if self.processes:  # worker processes: BLAS / OpenMP / torch threads per worker
                    threads = str(self.threads_per_worker)
                    extra["env"] = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
                self._cluster = distributed.LocalCluster(
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=self.processes,
                    dashboard_address="127.0.0.1:0",  # a free port: no clash with other clusters
                    **extra,
                )
                self._client = distributed.Client(self._cluster)
                where = f"local cluster of {len(self._cluster.workers)} worker(s)"
            else:
                self._client = distributed.Client(self.address)
                where = f"scheduler {self.address}"
            level = logging.getLogger("anomsearch").getEffectiveLevel()
            try:
                self._client.run(_set_log_level, "anomsearch", level)
                self._client.forward_logging("anomsearch", level=level)
            except Exception as exc:  # pragma: no cover - logging is a convenience
                log.debug("worker logs are not forwarded: %s", exc)
            log.info(
                "dask: %s, %d thread(s) in all (dashboard %s)",
                where,
                self.parallelism,
                self._client.dashboard_link,
            )
        return self._client

    @property
    def parallelism(self) -> int:
        """Total worker threads (starts the cluster)."""
        return max(1, int(sum(self.client.nthreads().values())))

    def map(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        shared: Mapping[str, Any] | None = None,
        on_result: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """Submit ``fn(item, **shared)`` for every item; gather the results in input order.

        Each value of ``shared`` is scattered to every worker once (``broadcast=True``) and the
        tasks refer to it, instead of being serialised into every task. ``on_result`` runs in
        this process as the units finish (in completion order). If a unit raises, the
        remaining ones are cancelled and the exception is re-raised here.

        Args:
            fn: the per-unit function (picklable with cloudpickle: module-level functions are
                sent by reference, so the workers must have anomsearch installed).
            items: the units (each is pickled into its task: keep them small).
            shared: keyword arguments common to all units.
            on_result: called with ``(index, result)`` as each unit finishes.

        Returns:
            The results, in the order of ``items``.
        """
        items = list(items)
        if not items:
            return []
        client = self.client
        kwargs = {}
        for name, value in (shared or {}).items():
            [future] = client.scatter([value], broadcast=True, hash=False)
            kwargs[_SHARED_PREFIX + name] = future
        task = functools.partial(_call_with_shared, fn)
        prefix = getattr(fn, "__name__", "unit")
        futures = client.map(task, items, key=prefix, pure=False, **kwargs)
        position = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(items)
        distributed = _import_distributed()
        try:
            for future in distributed.as_completed(futures):
                i = position[future.key]
                result = future.result()  # raises the unit's error (or CancelledError)
                results[i] = result
                if on_result is not None:
                    on_result(i, result)
        except BaseException:
            client.cancel(futures)
            raise
        finally:
            del futures
            kwargs.clear()  # the last references: the scheduler releases the shared data
        return results

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started one.

        Local worker processes get up to :attr:`close_timeout` seconds to exit on their own
        (a worker that imported torch and Lightning can take several seconds on a busy machine;
        dask's default would kill it after 4 s, with a warning).
        """
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            if self.processes:
                timeout = self.close_timeout / 0.8  # a nanny waits 0.8 x its timeout, then kills

                async def close_workers() -> None:
                    nannies = list(cluster.workers.values())
                    await asyncio.gather(*(w.close(timeout=timeout) for w in nannies))

                try:
                    cluster.sync(close_workers)
                except Exception as exc:  # pragma: no cover - cluster.close() still cleans up
                    log.debug("dask: graceful worker shutdown failed: %s", exc)
            cluster.close()

    def __repr__(self) -> str:
        if self.address is not None:
            return f"DaskExecutor(address={self.address!r})"
        return (
            f"DaskExecutor(n_workers={self.n_workers}, "
            f"threads_per_worker={self.threads_per_worker})"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ComputeConfig:
    """The ``compute`` config section: where the units of work run, and the unit cache.

    Attributes:
        executor: ``"serial"`` (this process) or ``"dask"`` (dask.distributed).
        scheduler_address: dask: a running scheduler's address (else a local cluster).
        n_workers: dask, local cluster: worker processes (default: the cores).
        threads_per_worker: dask, local cluster: threads per worker.
        cache: keep finished units in the unit cache (:mod:`anomsearch.compute.cache`).
        cache_dir: the cache directory (default: next to the output directory).

    Raises:
        ConfigError: naming the field: an unknown executor, ``executor: dask`` without dask
            installed, dask options with the serial executor, or ``n_workers`` /
            ``threads_per_worker`` together with ``scheduler_address``.

    Examples:
        >>> ComputeConfig().executor
        'serial'
        >>> try:
        ...     ComputeConfig(n_workers=2)
        ... except ConfigError as exc:
        ...     print(exc)
        config field compute.n_workers: only used when compute.executor is 'dask'
    """

    executor: str = "serial"
    scheduler_address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    cache: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"config field compute.executor: must be one of {', '.join(EXECUTORS)}, "
                f"got {self.executor!r}"
            )
        for name, minimum in (("n_workers", 1), ("threads_per_worker", 1)):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < minimum
            ):
                raise ConfigError(
                    f"config field compute.{name}: must be an integer >= {minimum}, got {value!r}"
                )
        if not isinstance(self.cache, bool):
            raise ConfigError(
                f"config field compute.cache: must be true or false, got {self.cache!r}"
            )
        dask_only = {
            "scheduler_address": self.scheduler_address is not None,
            "n_workers": self.n_workers is not None,
            "threads_per_worker": self.threads_per_worker != 1,
        }
        if self.executor == "serial":
            for key, given in dask_only.items():
                if given:
                    raise ConfigError(
                        f"config field compute.{key}: only used when compute.executor is 'dask'"
                    )
            return
        if self.scheduler_address is not None:
            for key in ("n_workers", "threads_per_worker"):
                if dask_only[key]:
                    raise ConfigError(
                        f"config field compute.{key}: only used for a local cluster, not with "
                        "compute.scheduler_address"
                    )
        if not dask_available():
            raise ConfigError(
                f"config field compute.executor: 'dask' needs dask.distributed, which is not "
                f"installed; {_DASK_HINT}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The section as the resolved config writes it (unset optional fields left out)."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        if self.executor == "serial" or self.scheduler_address is not None:
            del out["threads_per_worker"]
        return out


def make_executor(compute: ComputeConfig | None = None) -> Executor:
    """The executor of a ``compute`` config section.

    Args:
        compute: the section (None: serial).

    Returns:
        A :class:`SerialExecutor` or a (not yet started) :class:`DaskExecutor`; use it as a
        context manager so that a local cluster is shut down.

    Examples:
        >>> make_executor(ComputeConfig(cache=False))
        SerialExecutor()
        >>> make_executor(None).map(len, ["ab", "c"])
        [2, 1]
    """
    if compute is None or compute.executor == "serial":
        return SerialExecutor()
    return DaskExecutor(
        address=compute.scheduler_address,
        n_workers=compute.n_workers,
        threads_per_worker=compute.threads_per_worker,
    )
