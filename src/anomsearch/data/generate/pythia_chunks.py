"""Pythia chain at scale: parallel, resumable chunks, merged into LHC Olympics files.

:func:`generate_pythia_chunks` splits a request for ``n`` events of the Pythia 8 -> detector ->
fastjet chain (:func:`anomsearch.data.generate.pythia.generate_pythia`) into chunks of
``chunk_size`` events and runs them in a process pool (``spawn`` start method, so a calling script
needs the usual ``if __name__ == "__main__":`` guard):

* chunk ``i`` uses the Pythia seed ``SeedSequence([seed, i])`` reduced mod 900000001 (Pythia's
  ``Random:seed`` must lie in ``[0, 900000000]``), so a chunk's events depend only on
  ``(config, seed, chunk_size, i)`` -- never on ``n_jobs`` or on which worker ran it; a seed
  that an earlier chunk of the run already has is drawn again (``SeedSequence([seed, i, k])``,
  k = 1, 2, ...): two chunks with one seed would hold the same events (chunks 327 and 748 of
  the package's 1M-event QCD benchmark production did), and a chunk made before this rule with
  such a seed is generated again;
* every chunk is written atomically to ``out_dir/chunk_00012.h5`` (pandas HDF5, key ``features``:
  the LHCO features columns, with ``extra_features`` the extra per-jet columns computed from the
  constituents (``tau3_b05j1``, ..., :mod:`anomsearch.data.features.sets`), then ``label``; with
  ``raw=True`` also key ``raw``: the 2100 LHCO raw particle columns), then its JSON manifest
  ``out_dir/chunk_00012.json`` (config, run seed, chunk index and seed, events, tries, Pythia's
  cross section, seconds, events/s, extra features). A chunk is finished when its manifest
  exists; the run itself is described by ``out_dir/run.json``;
* a run that was killed and is restarted with the same arguments skips the finished chunks
  (after checking their manifests) and removes leftovers of the killed one (temporary files and
  chunk files without a manifest), so no partial chunk is ever used. Restarting with a different
  config, seed, ``chunk_size``, ``raw`` flag or ``extra_features`` in the same directory is a
  :class:`~anomsearch.exceptions.ConfigError` naming the differing fields (``extra_features`` is
  recorded as :func:`~anomsearch.data.generate.pythia.canonical_extra_features` spells it, so
  ``"kitchen_sink"`` and the list of its fields are the same run; a directory made before the
  option existed holds a run without extra features);
* another ``n`` in the same directory grows or shrinks the run: chunk ``i`` always holds the
  first events of its seed's sequence (Pythia generates event after event from the seed), so a
  finished chunk with at least the events now needed is reused (its first ones), and only a
  shorter one (the last chunk of a smaller run) is generated again, in full for its new size;
* a call that finds every chunk it needs finished writes nothing in the directory, so another
  process may read the first chunks of a run that is still generating its later ones; a call that
  generates holds an exclusive lock on ``out_dir/.lock`` and a second generating call in the same
  directory is a :class:`~anomsearch.exceptions.ConfigError` instead of a race.

:func:`merge_chunks` then concatenates the chunks in chunk order (the first ``n`` events) into the
final LHCO features file (R&D layout with ``label``, or the black-box layout plus a master key;
the extra columns of a run with ``extra_features`` after the 14 standard ones) and, optionally,
the LHCO raw-particle file (:func:`anomsearch.data.io.lhco_raw.write_raw_h5`).
Fixed arguments give identical files whatever ``n_jobs``. The merge holds the merged raw
particles in memory (16.8 kB per event: 1.7 GB for 100k events).

References:
    Pythia 8.3: arXiv:2203.11601. LHC Olympics 2020: arXiv:2101.08320. N-subjettiness:
    arXiv:1011.2268. EFPs: arXiv:1712.07124.

Examples:
    >>> chunk_seed(7, 0) == chunk_seed(7, 0), chunk_seed(7, 0) == chunk_seed(7, 1)
    (True, False)
    >>> 0 <= chunk_seed(123, 456) <= 900_000_000
    True
    >>> chunk_sizes(2500, 1000)
    [1000, 1000, 500]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from anomsearch._io import atomic_path, write_json_atomic
from anomsearch.data.events import JET_FIELDS, EventTable
from anomsearch.data.features.batch import resolve_extra_fields
from anomsearch.data.features.sets import file_column
from anomsearch.data.generate.pythia import (
    PythiaConfig,
    canonical_extra_features,
    generate_pythia,
)
from anomsearch.data.io.lhco import FEATURE_COLUMNS, write_features_h5, write_master_key
from anomsearch.data.io.lhco_raw import MAX_PARTICLES, N_PARTICLE_COLUMNS, write_raw_h5
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.progress import progress_bar

__all__ = [
    "ChunkedRun",
    "MergedFiles",
    "chunk_path",
    "chunk_seed",
    "chunk_sizes",
    "generate_pythia_chunks",
    "merge_chunks",
]

log = logging.getLogger(__name__)

_FORMAT = 1
_MAX_PYTHIA_SEED = 900_000_000
_RUN_MANIFEST = "run.json"
_LOCK = ".lock"
_FEATURES_KEY = "features"
_RAW_KEY = "raw"
#: The recorded ``extra_features`` of a run: None, a feature-set name or a list of field names.
_Extra = str | list[str] | None
#: A chunk to generate: (out_dir, config dict, run seed, chunk index, chunk seed, events, raw,
#: extra features).
_Task = tuple[str, dict[str, Any], int, int, int, int, bool, _Extra]


class ChunkedRun(NamedTuple):
    """Summary of :func:`generate_pythia_chunks`.

    Attributes:
        out_dir: the work directory holding the chunks and manifests.
        n_events: events in all chunks together (the requested ``n``).
        chunk_files: the chunk ``.h5`` files in chunk order.
        generated: indices of the chunks generated by this call.
        skipped: indices of the chunks found finished (resumed run) and reused.
        seconds: wall time of this call.
        events_per_s: events generated by this call per wall second (all workers together;
            ``nan`` when nothing was generated).
        sigma_gen_pb: Pythia's generated cross section (before the trigger, pb), averaged over
            the chunks weighted by their tried events.
        efficiency: accepted / tried events over the chunks (their manifests' events, which may
            exceed the events used from the last chunk).
    """

    out_dir: Path
    n_events: int
    chunk_files: list[Path]
    generated: tuple[int, ...]
    skipped: tuple[int, ...]
    seconds: float
    events_per_s: float
    sigma_gen_pb: float
    efficiency: float


class MergedFiles(NamedTuple):
    """Files written by :func:`merge_chunks`.

    Attributes:
        features_path: the LHCO features file.
        raw_path: the LHCO raw-particle file, or None.
        master_key: the master-key file (black-box layout), or None.
        n_events: events written.
    """

    features_path: Path
    raw_path: Path | None
    master_key: Path | None
    n_events: int


def _hashed_seed(seed: int, index: int, attempt: int) -> int:
    entropy = [seed, index] if attempt == 0 else [seed, index, attempt]
    word = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
    return int(word) % (_MAX_PYTHIA_SEED + 1)


#: The distinct chunk seeds of each run seed computed so far: in chunk order, and as a set.
_RUN_SEEDS: dict[int, tuple[list[int], set[int]]] = {}


def chunk_seed(seed: int, index: int) -> int:
    """Pythia seed of chunk ``index`` of a run with seed ``seed`` (in ``[0, 900000000]``).

    A 64-bit word of ``numpy.random.SeedSequence([seed, index])`` reduced modulo 900000001
    (not :func:`anomsearch.methods.base.derive_seed`, whose import pulls in torch: each spawned
    worker would pay it); where an earlier chunk of the run has that seed (about one run in
    2000 of 1000 chunks), the word of ``SeedSequence([seed, index, k])`` for the first
    ``k = 1, 2, ...`` that no earlier chunk has. A chunk's seed so depends on ``seed`` and
    ``index`` alone, and the seeds of a run's chunks differ.

    Examples:
        >>> chunk_seed(9100, 327) != chunk_seed(9100, 748)  # the same word mod 900000001
        True
    """
    seed, index = int(seed), int(index)
    seeds, used = _RUN_SEEDS.setdefault(seed, ([], set()))
    while len(seeds) <= index:
        i, attempt = len(seeds), 0
        candidate = _hashed_seed(seed, i, 0)
        while candidate in used:
            attempt += 1
            candidate = _hashed_seed(seed, i, attempt)
        seeds.append(candidate)
        used.add(candidate)
    return seeds[index]


def chunk_sizes(n: int, chunk_size: int) -> list[int]:
    """Events per chunk: ``chunk_size`` each, the last one takes the remainder."""
    return [min(chunk_size, n - lo) for lo in range(0, n, chunk_size)]


def chunk_path(out_dir: str | os.PathLike[str], index: int) -> Path:
    """The data file of chunk ``index`` (``out_dir/chunk_00012.h5``)."""
    return Path(out_dir) / f"chunk_{index:05d}.h5"


def _manifest_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"chunk_{index:05d}.json"


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"generate_pythia_chunks.{name} must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


def _run_spec(
    cfg: PythiaConfig, seed: int, n: int, chunk_size: int, raw: bool, extra: _Extra
) -> dict[str, Any]:
    return {
        "config": dataclasses.asdict(cfg),
        "seed": seed,
        "n": n,
        "chunk_size": chunk_size,
        "raw": raw,
        "extra_features": extra,
    }


def _recorded_extra(
    extra_features: str | Sequence[str] | None, option: str = "generate_pythia_chunks"
) -> _Extra:
    """``extra_features`` as manifests record it (JSON: a set name, a list of fields or None)."""
    canonical = canonical_extra_features(extra_features, option=f"{option}.extra_features")
    return list(canonical) if isinstance(canonical, tuple) else canonical


def _extra_fields(extra: _Extra) -> tuple[str, ...]:
    """The extra per-jet fields of a recorded ``extra_features``."""
    return resolve_extra_fields(extra, option="extra_features")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: a manifest must be a JSON object")
    return data


def _mismatch(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """``"name=found (requested want)"`` for each differing entry (config fields one by one)."""
    diffs = []
    for key, want in expected.items():
        have = found.get(key)
        if have == want:
            continue
        if key == "config" and isinstance(have, dict):
            diffs += [
                f"config.{k}={have.get(k)!r} (requested {want[k]!r})"
                for k in want
                if have.get(k) != want[k]
            ]
        else:
            diffs.append(f"{key}={have!r} (requested {want!r})")
    return diffs


def _run_chunk(task: _Task) -> dict[str, Any]:
    """Worker: generate one chunk and write its data file, then its manifest (both atomic)."""
    out_dir_s, cfg_dict, run_seed, index, seed, n_events, raw, extra = task
    out_dir = Path(out_dir_s)
    cfg = PythiaConfig(**cfg_dict)
    events, stats = generate_pythia(
        n_events, config=cfg, seed=seed, return_particles=raw, extra_features=extra
    )
    path = chunk_path(out_dir, index)
    with atomic_path(path) as tmp, pd.HDFStore(tmp, mode="w") as store:
        store.put(_FEATURES_KEY, _features_frame(events), track_times=False)
        if raw:
            store.put(
                _RAW_KEY,
                pd.DataFrame(stats["particles"].reshape(len(events), -1)),
                track_times=False,
            )
    manifest = {
        "format": _FORMAT,
        "config": cfg_dict,
        "seed": run_seed,
        "chunk_index": index,
        "chunk_seed": seed,
        "n_events": len(events),
        "raw": raw,
        "extra_features": extra,
        "file": path.name,
        "bytes": path.stat().st_size,
        "n_tried": stats["n_tried"],
        "sigma_gen_pb": stats["sigma_gen_pb"],
        "seconds": stats["seconds"],
        "events_per_s": stats["events_per_s"],
        "feature_seconds": stats["feature_seconds"],
        "n_truncated": stats.get("n_truncated", 0),
        "finished_at": time.time(),
    }
    write_json_atomic(_manifest_path(out_dir, index), manifest)
    return manifest


def _features_frame(events: EventTable) -> pd.DataFrame:
    """A chunk's features table: the 14 LHCO columns, the extra per-jet columns (every field of
    jet 1, then of jet 2, as :func:`~anomsearch.data.io.lhco.write_features_h5` orders them),
    then ``label``."""
    n = len(events)
    frame = pd.DataFrame(
        np.concatenate(
            [events.jets.reshape(n, -1), events.extra[:, 0, :], events.extra[:, 1, :]], axis=1
        ),
        columns=[
            *FEATURE_COLUMNS,
            *(file_column(f, j) for j in (1, 2) for f in events.extra_fields),
        ],
    )
    frame["label"] = events.label.astype(np.float64)
    return frame


def _finished(
    out_dir: Path, index: int, expected: dict[str, Any], size: int, *, repair: bool
) -> dict[str, Any] | None:
    """The manifest of a finished chunk with at least ``size`` events (checked against
    ``expected``), or None when it must be generated. With ``repair``, the files of a chunk
    that must be generated again (no manifest, a data file of the wrong size, fewer events than
    ``size``) are removed; without it nothing is touched."""
    mpath = _manifest_path(out_dir, index)
    dpath = chunk_path(out_dir, index)
    if not mpath.exists():
        if repair and dpath.exists():  # data written but the run died before its manifest
            log.info("chunk %d: %s has no manifest, regenerating it", index, dpath.name)
            dpath.unlink()
        return None
    manifest = _read_json(mpath)
    bad = _mismatch(expected, manifest)
    if bad:
        raise ConfigError(
            f"{mpath}: chunk {index} was generated with different settings: "
            f"{'; '.join(bad)}; use another work directory or delete this one"
        )
    n_events = manifest.get("n_events")
    if not dpath.exists() or dpath.stat().st_size != manifest.get("bytes"):
        reason = "data file missing or incomplete"
    elif not isinstance(n_events, int) or n_events < size:
        reason = f"holds {n_events} events, {size} needed"
    else:
        return manifest
    if repair:
        log.info("chunk %d: %s, regenerating it", index, reason)
        mpath.unlink()
        dpath.unlink(missing_ok=True)
    return None


@contextmanager
def _generation_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir/.lock`` (POSIX ``flock``; no lock elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = out_dir / _LOCK
    with open(path, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{out_dir}: another process is generating chunks in this directory (it holds "
                f"{path}); wait for it to finish, then run again"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(out_dir: Path) -> None:
    for tmp in out_dir.glob(".chunk_*.tmp"):
        log.info("removing %s left by an interrupted run", tmp.name)
        tmp.unlink()


def _checked_options(
    config: PythiaConfig | None, n: int, seed: int, chunk_size: int, n_jobs: int | None, raw: bool
) -> tuple[PythiaConfig, int, int, int, int]:
    """``(config, n, seed, chunk_size, n_jobs)`` of :func:`generate_pythia_chunks`, checked."""
    cfg = PythiaConfig() if config is None else config
    if not isinstance(cfg, PythiaConfig):
        raise ConfigError(
            f"generate_pythia_chunks.config must be a PythiaConfig, got {type(cfg).__name__}"
        )
    n = _check_int(n, "n", 1)
    seed = _check_int(seed, "seed", 0)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    n_jobs = _check_int((os.cpu_count() or 1) if n_jobs is None else n_jobs, "n_jobs", 1)
    if not isinstance(raw, bool):
        raise ConfigError(f"generate_pythia_chunks.raw must be True or False, got {raw!r}")
    return cfg, n, seed, chunk_size, n_jobs


def _check_run_manifest(run_path: Path, identity: dict[str, Any]) -> None:
    """Refuse a work directory whose ``run.json`` has other settings than ``identity``."""
    if run_path.exists():
        bad = _mismatch(identity, _read_json(run_path))
        if bad:
            raise ConfigError(
                f"{run_path}: this work directory holds a run with different settings: "
                f"{'; '.join(bad)}; use another work directory (--work-dir) or delete this one"
            )


def _scan_chunks(
    out: Path, sizes: list[int], spec: dict[str, Any], *, repair: bool
) -> tuple[dict[int, dict[str, Any]], list[_Task]]:
    """The manifests of the finished chunks by index, and the tasks of the others."""
    manifests: dict[int, dict[str, Any]] = {}
    todo: list[_Task] = []
    cfg_dict, seed, raw, extra = spec["config"], spec["seed"], spec["raw"], spec["extra_features"]
    for i, size in enumerate(sizes):
        expected = {
            "config": cfg_dict,
            "seed": seed,
            "chunk_index": i,
            "raw": raw,
            "extra_features": extra,
        }
        done = _finished(out, i, expected, size, repair=repair)
        pythia_seed = chunk_seed(seed, i)
        if done is not None and not _has_its_seed(out, done, pythia_seed, repair=repair):
            done = None
        if done is not None:
            manifests[i] = done
        else:
            todo.append((str(out), cfg_dict, seed, i, pythia_seed, size, raw, extra))
    return manifests, todo


def _has_its_seed(out: Path, manifest: dict[str, Any], expected_seed: int, *, repair: bool) -> bool:
    """Whether a finished chunk was generated with the seed :func:`chunk_seed` gives it now; a
    chunk of a run made before seeds were made distinct may repeat an earlier chunk's seed, and
    its events: with ``repair`` its files are removed so that it is generated again."""
    recorded = manifest.get("chunk_seed")
    if recorded is None or int(recorded) == expected_seed:
        return True
    index = int(manifest["chunk_index"])
    (log.warning if repair else log.info)(  # the scan under the generation lock warns once
        "chunk %d: generated with Pythia seed %d, which an earlier chunk of this run has too (the "
        "same events); generating it again with seed %d",
        index,
        int(recorded),
        expected_seed,
    )
    if repair:
        _manifest_path(out, index).unlink()
        chunk_path(out, index).unlink(missing_ok=True)
    return False


def _run_chunks(todo: list[_Task], n_jobs: int, done: Callable[[dict[str, Any]], None]) -> None:
    """Run the tasks here or in a ``spawn`` process pool; ``done(manifest)`` as each finishes."""
    if n_jobs == 1 or len(todo) <= 1:
        for task in todo:
            done(_run_chunk(task))
    elif todo:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        workers = min(n_jobs, len(todo))
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = [pool.submit(_run_chunk, task) for task in todo]
            for future in as_completed(futures):
                done(future.result())


def _summary(
    out: Path,
    n: int,
    used: list[dict[str, Any]],
    todo: list[_Task],
    skipped: tuple[int, ...],
    seconds: float,
    n_new: int,
) -> ChunkedRun:
    """The :class:`ChunkedRun` of a call from the manifests of its chunks, logged."""
    tried = np.array([m["n_tried"] for m in used], dtype=np.float64)
    sigma = np.array([m["sigma_gen_pb"] for m in used])
    accepted = sum(int(m["n_events"]) for m in used)
    rate = n_new / seconds if n_new and seconds > 0 else float("nan")
    log.info(
        "pythia chunks: %d events in %d chunk(s) (%d generated, %d reused) in %s, %.1f ev/s",
        n,
        len(used),
        len(todo),
        len(skipped),
        out,
        rate,
    )
    return ChunkedRun(
        out_dir=out,
        n_events=n,
        chunk_files=[chunk_path(out, i) for i in range(len(used))],
        generated=tuple(sorted(t[3] for t in todo)),
        skipped=skipped,
        seconds=seconds,
        events_per_s=rate,
        sigma_gen_pb=float(np.sum(sigma * tried) / np.sum(tried)),
        efficiency=float(accepted / np.sum(tried)),
    )


def generate_pythia_chunks(
    n: int,
    *,
    config: PythiaConfig | None = None,
    seed: int,
    out_dir: str | os.PathLike[str],
    chunk_size: int = 1000,
    n_jobs: int | None = None,
    progress: bool = True,
    raw: bool = False,
    extra_features: str | Sequence[str] | None = None,
) -> ChunkedRun:
    """Generate ``n`` events of the Pythia chain in parallel, resumable chunks.

    See the module docstring for the seeds, files and the resume rules.

    Args:
        n: total number of accepted events (another ``n`` than a previous call in ``out_dir``
            grows or shrinks its run, see the module docstring).
        config: the chain's settings (default :class:`PythiaConfig` ``()``).
        seed: run seed (a non-negative integer); chunk ``i`` uses :func:`chunk_seed`.
        out_dir: work directory for the chunks and manifests (created if needed).
        chunk_size: events per chunk (the last chunk takes the remainder).
        n_jobs: worker processes (None: ``os.cpu_count()``; 1 runs in this process).
        progress: show a bar over chunks with the events/s rate.
        raw: also store each event's detector-level particles (LHCO raw layout) for
            :func:`merge_chunks` ``raw_path``.
        extra_features: extra per-jet columns computed from the constituents of each chunk's
            accepted events (:func:`~anomsearch.data.generate.pythia.generate_pythia`
            ``extra_features``: None, a feature-set name such as ``"kitchen_sink"``, or field
            names); the events themselves do not change. Part of the run's identity.

    Returns:
        :class:`ChunkedRun`.

    Raises:
        ConfigError: a bad option (named as ``generate_pythia_chunks.<option>``), a work
            directory holding a run or chunks made with different settings, or another process
            generating in it.
        DataFormatError: an unreadable manifest.
        AnomsearchError: as :func:`~anomsearch.data.generate.pythia.generate_pythia`.

    References:
        Pythia 8.3: arXiv:2203.11601.
    """
    cfg, n, seed, chunk_size, n_jobs = _checked_options(config, n, seed, chunk_size, n_jobs, raw)
    extra = _recorded_extra(extra_features)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    spec = _run_spec(cfg, seed, n, chunk_size, raw, extra)
    run_path = out / _RUN_MANIFEST
    _check_run_manifest(run_path, {key: value for key, value in spec.items() if key != "n"})
    sizes = chunk_sizes(n, chunk_size)

    stack = ExitStack()
    # read-only: a reader of finished chunks writes nothing
    manifests, todo = _scan_chunks(out, sizes, spec, repair=False)
    if todo or not run_path.exists():
        stack.enter_context(_generation_lock(out))
        try:
            manifests, todo = _scan_chunks(out, sizes, spec, repair=True)
            write_json_atomic(run_path, {"format": _FORMAT, **spec})
            _remove_leftovers(out)
        except BaseException:
            stack.close()  # release the lock at once, not when the traceback is freed
            raise
    skipped = tuple(sorted(manifests))
    if skipped and todo:
        log.info(
            "resuming in %s: %d of %d chunk(s) already finished", out, len(skipped), len(sizes)
        )

    bar = stack.enter_context(
        progress_bar(
            len(sizes),
            initial=len(skipped),
            description="pythia chunks",
            unit="chunk",
            enabled=progress and bool(todo),
        )
    )
    t0 = time.perf_counter()
    n_new = 0

    def _done(manifest: dict[str, Any]) -> None:
        nonlocal n_new
        manifests[manifest["chunk_index"]] = manifest
        n_new += manifest["n_events"]
        log.info(
            "chunk %d: %d events in %.1f s (%.1f ev/s)",
            manifest["chunk_index"],
            manifest["n_events"],
            manifest["seconds"],
            manifest["events_per_s"],
        )
        elapsed = time.perf_counter() - t0
        bar.note(f"{n_new / max(elapsed, 1e-9):.1f} ev/s")
        bar.update(1)

    try:
        _run_chunks(todo, n_jobs, _done)
    finally:
        stack.close()
    seconds = time.perf_counter() - t0
    return _summary(
        out, n, [manifests[i] for i in range(len(sizes))], todo, skipped, seconds, n_new
    )


class _Chunk(NamedTuple):
    """The first events of one chunk, as :func:`merge_chunks` reads them."""

    jets: np.ndarray  # (size, 2, 7)
    labels: np.ndarray  # (size,) int8
    extra: np.ndarray  # (size, 2, len(fields))
    particles: np.ndarray | None  # (size, 700, 3) with raw, else None


def _run_extra_fields(run: dict[str, Any], run_path: Path) -> tuple[str, ...]:
    """The extra per-jet fields a run's manifest records (none for runs made before the option)."""
    try:
        return _extra_fields(run.get("extra_features"))
    except ConfigError as exc:
        raise DataFormatError(f"{run_path}: malformed extra_features ({exc})") from None


def _read_chunk(path: Path, size: int, fields: tuple[str, ...], *, raw: bool) -> _Chunk:
    """The first ``size`` events of a chunk file (it may hold more), checked."""
    try:
        frame = pd.read_hdf(path, key=_FEATURES_KEY)
        raw_frame = pd.read_hdf(path, key=_RAW_KEY) if raw else None
    except (OSError, KeyError, ValueError) as exc:
        raise DataFormatError(f"{path}: unreadable chunk ({exc})") from exc
    if not isinstance(frame, pd.DataFrame) or len(frame) < size:
        raise DataFormatError(f"{path}: expected {size} events in key {_FEATURES_KEY!r}")
    frame = frame.iloc[:size]  # the chunk's first events (it may hold more)
    columns = [file_column(f, j) for j in (1, 2) for f in fields]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{path}: missing extra column(s) {', '.join(missing[:5])}")
    extra = frame[columns].to_numpy(np.float64).reshape(size, 2, len(fields))
    particles = None
    if raw_frame is not None:
        values = raw_frame.iloc[:size].to_numpy(np.float64)
        if values.shape != (size, N_PARTICLE_COLUMNS):
            raise DataFormatError(f"{path}: raw particles of shape {values.shape}")
        particles = values.reshape(size, MAX_PARTICLES, 3)
    return _Chunk(
        frame[list(FEATURE_COLUMNS)].to_numpy(np.float64).reshape(size, 2, -1),
        frame["label"].to_numpy().astype(np.int8),
        extra,
        particles,
    )


def merge_chunks(
    out_dir: str | os.PathLike[str],
    features_path: str | os.PathLike[str],
    raw_path: str | os.PathLike[str] | None = None,
    master_key: str | os.PathLike[str] | None = None,
    *,
    n: int | None = None,
) -> MergedFiles:
    """Concatenate the first events of a run's chunks, in chunk order, into LHC Olympics files.

    Args:
        out_dir: the work directory of :func:`generate_pythia_chunks`.
        features_path: the features file to write (R&D layout with ``label``, or without it when
            ``master_key`` is given).
        raw_path: also write the raw-particle file here (needs a run with ``raw=True``).
        master_key: black-box layout: no label columns; the labels go to this master-key file.
        n: events to merge (the first ``n``, from the first chunks; default: the ``n`` of the
            directory's latest generating call). Pass it when other processes may use the same
            directory with another ``n``.

    Returns:
        :class:`MergedFiles`.

    Raises:
        ConfigError: a bad ``n``.
        DataFormatError: no run in ``out_dir``, an unfinished, short or malformed chunk (named),
            or ``raw_path`` for a run without raw particles.

    The features file holds the extra per-jet columns of a run with ``extra_features`` (after
    the 14 standard ones, as :func:`~anomsearch.data.io.lhco.write_features_h5` writes them).
    """
    out = Path(out_dir)
    run_path = out / _RUN_MANIFEST
    if not run_path.exists():
        raise DataFormatError(f"{run_path}: not found; run generate_pythia_chunks first")
    run = _read_json(run_path)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1):
        raise ConfigError(f"merge_chunks.n must be an integer >= 1, got {n!r}")
    try:
        sizes = chunk_sizes(int(run["n"]) if n is None else int(n), int(run["chunk_size"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFormatError(f"{run_path}: malformed run manifest ({exc})") from exc
    if raw_path is not None and not run.get("raw"):
        raise DataFormatError(
            f"{run_path}: the run has no raw particles; generate it with raw=True (--raw)"
        )
    missing = [i for i in range(len(sizes)) if not _manifest_path(out, i).exists()]
    if missing:
        raise DataFormatError(
            f"{out}: chunk(s) {missing[:10]} not finished; rerun generate_pythia_chunks with the "
            "same arguments to complete them"
        )
    fields = _run_extra_fields(run, run_path)
    parts = [
        _read_chunk(chunk_path(out, i), size, fields, raw=raw_path is not None)
        for i, size in enumerate(sizes)
    ]
    all_labels = np.concatenate([p.labels for p in parts])
    events = EventTable(
        np.concatenate([p.jets for p in parts]).reshape(-1, 2, len(JET_FIELDS)),
        label=all_labels,
        extra=np.concatenate([p.extra for p in parts]),
        extra_fields=fields,
    )
    black_box = master_key is not None
    write_features_h5(events, features_path, include_label=not black_box)
    if black_box:
        write_master_key(all_labels, master_key)
    if raw_path is not None:
        particles = np.concatenate([p.particles for p in parts])
        write_raw_h5(particles, raw_path, labels=None if black_box else all_labels)
    log.info("merged %d chunk(s), %d events, from %s", len(sizes), len(events), out)
    return MergedFiles(
        Path(features_path),
        None if raw_path is None else Path(raw_path),
        None if master_key is None else Path(master_key),
        len(events),
    )
