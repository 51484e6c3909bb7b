"""Where a run writes, and writing it: staged in a temporary directory, published at once.

Everything a run writes -- ``report.json`` (checked against ``report.v1.json``), the pyhf
workspaces, the resolved ``config.yaml``, the selected events for ``anomsearch submit``, the
figures and ``report.html`` -- is written into a staging directory next to the output directory
and moved into place only when all of it is complete, so a failed or killed run never leaves a
half-written result.

A run replaces its output directory as a whole, so it only replaces what it may: nothing, an
empty directory, or a results directory of this package -- recognised by its marker file
:data:`RESULTS_MARKER`, which lists the files the run wrote -- holding nothing else than those
files and the answer of ``anomsearch submit``. Anything else (a directory of the user's, a
regular file) is refused with a :class:`~anomsearch.exceptions.ConfigError` unless the caller
passes ``overwrite=True`` (``anomsearch run --overwrite``); the filesystem root, the home
directory, the working directory, its parents and a directory holding an input of the run
(the config file, a data file) are refused even then. :func:`check_output_dir` makes these
checks, and checks that the output and cache locations are writable, before any work;
:func:`write_outputs` makes them again under a lock (``flock`` on the parent directory) while
it publishes, so two runs publishing the same directory at once cannot collide. Staging and
backup folders are named ``.<name>.anomsearch-staging-<host>-<pid>-<random>`` (and
``...anomsearch-old-...``): those of a run that was killed are removed by the next run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import numpy as np
import yaml

from anomsearch import __version__
from anomsearch._io import write_json_atomic
from anomsearch.compute import UnitCache
from anomsearch.exceptions import AnomsearchError, ConfigError
from anomsearch.report.html import write_html_report

if TYPE_CHECKING:
    from anomsearch.config import SearchConfig
    from anomsearch.search.scan import ScanResult
    from anomsearch.search.window import WindowSearch

__all__ = [
    "CACHE_DIRNAME",
    "RESULTS_MARKER",
    "check_output_dir",
    "is_results_dir",
    "output_dir",
    "report_schema",
    "unit_cache",
    "write_outputs",
    "write_selected_events",
]

log = logging.getLogger(__name__)

#: Directory, next to the output directory, of the default unit cache.
CACHE_DIRNAME = ".anomsearch-cache"
#: The marker file of every results directory a run publishes (format version, files written).
RESULTS_MARKER = ".anomsearch-results.json"
_RESULTS_FORMAT = 1
#: Files that ``anomsearch submit`` adds to a results directory (``anomsearch.answer``).
_ADDED_BY_SUBMIT = ("answer.json", "answer_details.json", "answer.txt")
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
_SCRATCH = re.compile(
    r"^\.(?P<name>.+)\.anomsearch-(?:staging|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]+$"
)
_OVERWRITE_HINT = (
    "choose another output directory (-o DIR / output.dir), or pass --overwrite "
    "(workflow.run(overwrite=True)) to replace it and everything in it"
)


@functools.cache
def report_schema() -> dict[str, Any]:
    """The JSON schema of ``report.json``."""
    text = resources.files("anomsearch.schemas").joinpath("report.v1.json").read_text()
    return json.loads(text)


def output_dir(config: SearchConfig, override: str | os.PathLike[str] | None = None) -> Path:
    """The output directory of a run: ``override``, else ``output.dir``, else
    ``results/<name>`` under the working directory."""
    if override is not None:
        return Path(override).resolve()
    if config.output.dir is not None:
        return Path(config.output.dir)
    return (Path.cwd() / "results" / config.name).resolve()


def unit_cache(config: SearchConfig, final_dir: Path, *, force: bool) -> UnitCache | None:
    """The cache of finished units of a run (None with ``compute.cache: false``).

    The default, ``.anomsearch-cache/<output dir name>`` next to the output directory, keeps the
    resume state of a failed or killed run out of the results directory (which exists only
    for a run that succeeded).

    Raises:
        ConfigError: ``compute.cache_dir`` is the output directory itself.
    """
    compute = config.compute
    if not compute.cache:
        return None
    directory = (
        Path(compute.cache_dir)
        if compute.cache_dir is not None
        else final_dir.parent / CACHE_DIRNAME / final_dir.name
    )
    if directory.resolve() == final_dir.resolve():
        raise ConfigError(
            "config field compute.cache_dir: must not be the output directory itself "
            f"({final_dir}), which each run replaces"
        )
    if force:
        log.info("--force: recomputing every unit (the cache %s is overwritten)", directory)
    return UnitCache(directory, force=force)


def write_selected_events(path: Path, window: WindowSearch) -> None:
    """Save the events passing the score cut (all mjj): what ``anomsearch submit`` needs to
    estimate the resonance and daughter-jet masses without retraining.

    With a spurious-signal reference (:attr:`WindowSearch.reference`), its events in the
    sidebands and the SR that pass the cut of at least one fold model are saved too
    (``reference_mjj``, ``reference_mj1``, ``reference_mj2``, ``reference_weight``: the fraction
    of the fold models whose cut the event passes), for the daughters' template correction.
    """
    mask = window.hunt.selection.mask
    selected = window.events.subset(mask)
    thresholds = np.asarray(window.hunt.selection.thresholds)
    arrays = {
        "mjj": selected.mjj,
        "mj1": selected.feature("mj1"),
        "mj2": selected.feature("mj2"),
        "score": window.scores[mask],
        "fold": window.folds[mask],
        "thresholds": thresholds,
    }
    if selected.label is not None:
        arrays["label"] = selected.label
    reference = window.reference
    if reference is not None and reference.jet_masses is not None:
        weights = reference.weights(thresholds)
        regions = window.regions
        keep = (weights > 0) & (reference.mjj >= regions.sb_low) & (reference.mjj < regions.sb_high)
        arrays["reference_mjj"] = reference.mjj[keep]
        arrays["reference_mj1"] = reference.jet_masses[keep, 0]
        arrays["reference_mj2"] = reference.jet_masses[keep, 1]
        arrays["reference_weight"] = weights[keep]
    np.savez_compressed(path, **arrays)


def _carry_cache(cache: UnitCache | None, final_dir: Path, staging: Path) -> None:
    """A cache inside the output directory moves into the new outputs (``_publish`` replaces the
    directory)."""
    if cache is None or not cache.directory.is_dir():
        return
    try:
        relative = cache.directory.resolve().relative_to(final_dir.resolve())
    except ValueError:
        return
    target = staging / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(cache.directory, target)


def _read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((directory / RESULTS_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("anomsearch_results"), int):
        return None
    return marker


def is_results_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a results directory published by a run (it holds
    :data:`RESULTS_MARKER`)."""
    path = Path(path)
    return path.is_dir() and _read_marker(path) is not None


def _listing(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _replace_refusal(final: Path, *, overwrite: bool, cache_dir: Path | None) -> str | None:
    """Why ``final`` must not be replaced without ``overwrite`` (None: it may be)."""
    if not final.exists() and not final.is_symlink():
        return None
    if not final.is_dir() or final.is_symlink():
        return None if overwrite else "exists and is not a directory"
    entries = os.listdir(final)
    if not entries or overwrite:
        return None
    marker = _read_marker(final)
    if marker is None:
        return (
            f"exists and is not a results directory of anomsearch (no {RESULTS_MARKER}); "
            f"it holds {_listing(entries)}"
        )
    allowed = {RESULTS_MARKER, *_ADDED_BY_SUBMIT, *map(str, marker.get("files") or [])}
    if cache_dir is not None and final in cache_dir.parents:
        allowed.add(cache_dir.relative_to(final).parts[0])
    unknown = [e for e in entries if e not in allowed]
    if unknown:
        return (
            f"is a results directory of anomsearch but also holds {_listing(unknown)}, "
            "which no run wrote"
        )
    return None


def _protected(final: Path, inputs: Sequence[str | os.PathLike[str]]) -> str | None:
    """Why ``final`` must never be replaced, even with ``overwrite`` (None: it may be)."""
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if final == Path(final.anchor):
        return "is the filesystem root"
    if final == home:
        return "is your home directory"
    if final == cwd:
        return "is the working directory"
    if final in cwd.parents:
        return "is a parent of the working directory"
    for item in inputs:
        path = Path(item).resolve()
        if path == final or final in path.parents:
            return f"holds {path}, an input of the run"
    return None


def _check_replaceable(
    final: Path,
    *,
    overwrite: bool,
    inputs: Sequence[str | os.PathLike[str]],
    cache_dir: Path | None,
) -> None:
    reason = _protected(final, inputs)
    if reason is not None:
        raise ConfigError(
            f"output directory {final} {reason}: a run replaces its output directory as a whole, "
            "so it is never used as one; choose another output directory (-o DIR / output.dir), "
            "e.g. results/<name>"
        )
    reason = _replace_refusal(final, overwrite=overwrite, cache_dir=cache_dir)
    if reason is not None:
        raise ConfigError(f"output directory {final} {reason}: {_OVERWRITE_HINT}")


def _check_writable(directory: Path, label: str) -> None:
    """Check that ``directory`` can be created and written, by writing (and removing) a file in
    its nearest existing ancestor; ``label`` starts the message."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{label}: {probe} is a file, not a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=".anomsearch-write-test-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise ConfigError(f"{label}: cannot write into {probe} ({exc.strerror or exc})") from None


def check_output_dir(
    final_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    cache_field: str | None = None,
) -> None:
    """Check, before any work, that a run may write its outputs into ``final_dir``.

    ``final_dir`` may be replaced when it does not exist, is empty, or is a results directory of
    this package holding only what runs and ``anomsearch submit`` wrote (see the module doc);
    anything else only with ``overwrite``; the filesystem root, the home directory, the working
    directory, its parents and a directory holding one of ``inputs`` never. The output
    directory's and the cache's locations must be writable. Staging folders beside
    ``final_dir`` left by runs that were killed are removed.

    Args:
        final_dir: the output directory (:func:`output_dir`).
        overwrite: replace an existing file or directory that is not a results directory.
        inputs: the files the run reads (config file, data files): never inside the output.
        cache_dir: the unit cache directory, or None (no cache).
        cache_field: the config field that set the cache directory, for the message.

    Raises:
        ConfigError: naming the directory and the reason.
    """
    final = Path(final_dir).resolve()
    cache = None if cache_dir is None else Path(cache_dir).resolve()
    _check_replaceable(final, overwrite=overwrite, inputs=inputs, cache_dir=cache)
    _check_writable(final.parent, f"output directory {final}")
    if cache is not None:
        label = f"config field {cache_field}: {cache}" if cache_field else f"unit cache {cache}"
        _check_writable(cache, label)
    _remove_stale(final.parent)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def _remove_stale(parent: Path) -> None:
    """Remove the staging / backup folders in ``parent`` of runs on this host that died."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = _SCRATCH.match(name)
        if match is None or match["host"] != _HOST:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        path = parent / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        log.info("removed %s, left behind by a run that was killed (pid %d)", path, pid)


def _scratch(final: Path, kind: str) -> Path:
    return final.with_name(
        f".{final.name}.anomsearch-{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
    )


@contextlib.contextmanager
def _publish_lock(parent: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the directory ``parent`` (a no-op where there is none)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # e.g. a filesystem without locks
            log.debug("no lock on %s (%s)", parent, exc)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM while the block runs (the two renames of publishing).

    A SIGTERM is delivered once the block is done; a Ctrl-C is not: it came while the results
    were being published, which then completed, so the run finishes normally (with a warning).
    Only the main thread can set signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if signal.SIGTERM in held:
            signal.raise_signal(signal.SIGTERM)
        elif held:
            log.warning("interrupted while publishing the results: they were published whole")


def _publish(
    staging: Path,
    final: Path,
    *,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Replace ``final`` by the fully written ``staging`` directory, under the parent's lock;
    ``final`` is checked again (:func:`check_output_dir`) once the lock is held."""
    with _publish_lock(final.parent):
        _check_replaceable(final, overwrite=overwrite, inputs=inputs, cache_dir=None)
        backup = None
        with _signals_deferred():
            if final.exists() or final.is_symlink():
                backup = _scratch(final, "old")
                os.replace(final, backup)
            try:
                os.replace(staging, final)
            except BaseException:
                if backup is not None:
                    os.replace(backup, final)
                raise
    if backup is not None:
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            backup.unlink()


def _write_marker(staging: Path, config: SearchConfig) -> None:
    files = sorted(os.listdir(staging))
    marker = {
        "anomsearch_results": _RESULTS_FORMAT,
        "anomsearch": __version__,
        "name": config.name,
        "files": files,
    }
    write_json_atomic(staging / RESULTS_MARKER, marker)


def write_outputs(
    report: dict[str, Any],
    window: WindowSearch,
    *,
    config: SearchConfig,
    final_dir: Path,
    method_name: str,
    background_like: np.ndarray,
    scan: ScanResult | None = None,
    cache: UnitCache | None = None,
    timer: Any = None,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Write every output of a run into ``final_dir``, all or nothing.

    Args:
        report: the report (:func:`anomsearch.report.sections.build_report`); checked against
            its schema before it is written.
        window: the headline window search (workspaces, selected events, figures).
        config: the resolved configuration (``config.yaml``; ``output.plots``).
        final_dir: the output directory (replaced as a whole, if it may be: see
            :func:`check_output_dir`).
        method_name: the method's name (ROC legend).
        background_like: the events of the decorrelation section (sculpting plot).
        scan: the scan, if any (its figures).
        cache: the unit cache (carried along when it lies inside ``final_dir``).
        timer: called with no argument just before the report is checked, it returns the run's
            total wall time for ``timing.total_seconds`` (None: left out).
        overwrite: replace ``final_dir`` even when it is not a results directory (see
            :func:`check_output_dir`).
        inputs: the files the run read (never inside ``final_dir``).

    Raises:
        AnomsearchError: the report does not match its schema (a bug, not bad input), or the
            outputs cannot be written (the message names the directory).
        ConfigError: ``final_dir`` may not be replaced (:func:`check_output_dir`).
    """
    final_dir = Path(final_dir).resolve()
    try:
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(final_dir.parent)
        staging = _scratch(final_dir, "staging")
        staging.mkdir()
    except OSError as exc:
        raise AnomsearchError(f"cannot write the results to {final_dir}: {exc}") from exc
    try:
        write_json_atomic(staging / "workspace.json", window.hunt.spec)
        write_json_atomic(staging / "workspace_no_cut.json", window.no_cut.spec)
        if window.abcd is not None:
            write_json_atomic(staging / "workspace_abcd.json", window.abcd.spec)
        (staging / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        write_selected_events(staging / "selected_events.npz", window)
        if config.output.plots:
            from anomsearch.report.figures import write_figures

            write_figures(
                staging,
                window,
                report,
                name=config.name,
                method_name=method_name,
                background_like=background_like,
                scan=scan,
            )
        if timer is not None:
            report["timing"]["total_seconds"] = timer()
        try:
            jsonschema.validate(report, report_schema())
        except jsonschema.ValidationError as exc:  # a bug, not bad input: fail loudly
            raise AnomsearchError(
                f"internal error: report does not match its schema: {exc.message}"
            ) from exc
        write_json_atomic(staging / "report.json", report)
        write_html_report(staging)
        _write_marker(staging, config)
        _carry_cache(cache, final_dir, staging)
        _publish(staging, final_dir, overwrite=overwrite, inputs=inputs)
    except OSError as exc:
        raise AnomsearchError(f"cannot write the results to {final_dir}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
