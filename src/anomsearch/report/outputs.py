"""Where a run writes, and writing it: staged in a temporary directory, published at once.

Everything a run writes -- ``report.json`` (checked against ``report.v1.json``), the pyhf
workspaces, the resolved ``config.yaml``, the selected events for ``anomsearch submit``, the
figures and ``report.html`` -- is written into a staging directory next to the output directory
and moved into place only when all of it is complete, so a failed or killed run never leaves a
half-written result.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import numpy as np
import yaml

from anomsearch._io import make_shareable_dir, write_json_atomic
from anomsearch.compute import UnitCache
from anomsearch.exceptions import AnomsearchError, ConfigError
from anomsearch.report.html import write_html_report

if TYPE_CHECKING:
    from anomsearch.config import SearchConfig
    from anomsearch.search.scan import ScanResult
    from anomsearch.search.window import WindowSearch

__all__ = [
    "CACHE_DIRNAME",
    "output_dir",
    "report_schema",
    "unit_cache",
    "write_outputs",
    "write_selected_events",
]

log = logging.getLogger(__name__)

#: Directory, next to the output directory, of the default unit cache.
CACHE_DIRNAME = ".anomsearch-cache"


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
    estimate the resonance and daughter-jet masses without retraining."""
    mask = window.hunt.selection.mask
    selected = window.events.subset(mask)
    arrays = {
        "mjj": selected.mjj,
        "mj1": selected.feature("mj1"),
        "mj2": selected.feature("mj2"),
        "score": window.scores[mask],
        "fold": window.folds[mask],
        "thresholds": np.asarray(window.hunt.selection.thresholds),
    }
    if selected.label is not None:
        arrays["label"] = selected.label
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


def _publish(staging: Path, final: Path) -> None:
    """Replace ``final`` by the fully written ``staging`` directory."""
    backup = None
    if final.exists():
        backup = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, backup)
    os.replace(staging, final)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


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
) -> None:
    """Write every output of a run into ``final_dir``, all or nothing.

    Args:
        report: the report (:func:`anomsearch.report.sections.build_report`); checked against
            its schema before it is written.
        window: the headline window search (workspaces, selected events, figures).
        config: the resolved configuration (``config.yaml``; ``output.plots``).
        final_dir: the output directory (replaced as a whole).
        method_name: the method's name (ROC legend).
        background_like: the events of the decorrelation section (sculpting plot).
        scan: the scan, if any (its figures).
        cache: the unit cache (carried along when it lies inside ``final_dir``).
        timer: called with no argument just before the report is checked, it returns the run's
            total wall time for ``timing.total_seconds`` (None: left out).

    Raises:
        AnomsearchError: the report does not match its schema (a bug, not bad input).
    """
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", dir=final_dir.parent))
    make_shareable_dir(staging)
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
        _carry_cache(cache, final_dir, staging)
        _publish(staging, final_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
