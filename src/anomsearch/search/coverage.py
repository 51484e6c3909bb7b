"""Do the data cover the search? The signal region, the sidebands and the scan's windows against
the events' mjj, checked before any training.

A signal region outside the data, or a scan whose windows hold no events, fails only deep in a
run otherwise (``cannot split 0 events into 2 folds``), or -- a scan whose every window is
skipped -- not at all. :func:`check_mjj_coverage` runs right after the events are loaded (with
their mjj) and, for toy data, already when the config is checked (with the generator's mjj range:
``anomsearch validate``).

Examples:
    >>> import numpy as np
    >>> from anomsearch.config import load_config
    >>> config = load_config({
    ...     "name": "demo",
    ...     "data": {"source": "toy", "n_background": 1000},
    ...     "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    ...     "method": {"name": "cwola"},
    ...     "background": {"name": "bumphunt"},
    ... })
    >>> check_mjj_coverage(config, np.array([3.0, 3.4, 3.5, 4.5]), source="my.h5")
    Traceback (most recent call last):
    ...
    anomsearch.exceptions.ConfigError: config field regions.sidebands: no events of my.h5 in the upper sideband [3.7, 4.1) TeV (my.h5 span mjj [3, 4.5] TeV)
"""  # noqa: E501

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError

if TYPE_CHECKING:
    from anomsearch.config import SearchConfig

__all__ = ["check_mjj_coverage"]

log = logging.getLogger(__name__)

#: ``count(low, high)``: how many events lie in ``[low, high)`` (inf: some, for a bare range).
Counter = Callable[[float, float], float]


def _counter(mjj: np.ndarray | None, mjj_range: tuple[float, float] | None) -> Counter:
    if mjj is not None:
        ordered = np.sort(np.asarray(mjj, dtype=float))

        def count(low: float, high: float) -> float:
            return float(np.searchsorted(ordered, high) - np.searchsorted(ordered, low))

        return count
    assert mjj_range is not None
    lo, hi = mjj_range
    return lambda low, high: float("inf") if min(high, hi) > max(low, lo) else 0.0


def _check_regions(
    regions: Regions,
    n_folds: int,
    span: tuple[float, float],
    count: Counter,
    source: str,
    where: str,
) -> None:
    """The config's signal region and sidebands (the run without a scan)."""
    lo, hi = span
    where = f"({where})"
    sr = f"[{regions.sr_low:g}, {regions.sr_high:g}]"
    if lo >= regions.sr_low and hi < regions.sr_high:
        raise ConfigError(
            f"config field regions.signal_region: every event of {source} lies inside the signal "
            f"region {sr} TeV {where}, so none is left for the sidebands"
        )
    if regions.sr_low < lo or regions.sr_high > hi or count(regions.sr_low, regions.sr_high) == 0:
        raise ConfigError(
            f"config field regions.signal_region: {sr} TeV is not inside the mjj range of "
            f"{source} {where}"
        )
    for side, low, high in (
        ("lower", regions.sb_low, regions.sr_low),
        ("upper", regions.sr_high, regions.sb_high),
    ):
        if count(low, high) == 0:
            raise ConfigError(
                f"config field regions.sidebands: no events of {source} in the {side} sideband "
                f"[{low:g}, {high:g}) TeV {where}"
            )
    n = count(regions.sb_low, regions.sb_high)
    if n < n_folds:
        raise ConfigError(
            f"config field regions.sidebands: only {n:.0f} events of {source} in "
            f"[{regions.sb_low:g}, {regions.sb_high:g}) TeV, fewer than method.n_folds = {n_folds}"
        )


def _check_scan(config: SearchConfig, count: Counter, source: str, where: str) -> None:
    """The scanned range and its windows: an error when no window holds events in its signal
    region and both sidebands, a warning naming those that do not."""
    scan = config.scan
    assert scan is not None
    n = count(scan.mjj_min, scan.mjj_max)
    if n < config.method.n_folds:
        raise ConfigError(
            f"config field scan: the scanned range [{scan.mjj_min:g}, {scan.mjj_max:g}) TeV holds "
            f"{n:.0f} events of {source} ({where}); at least method.n_folds = "
            f"{config.method.n_folds} are needed, and many more for a search"
        )
    windows = scan.windows()
    empty = [
        w
        for w in windows
        if min(count(w.sr_low, w.sr_high), count(w.sb_low, w.sr_low), count(w.sr_high, w.sb_high))
        == 0
    ]
    if len(empty) == len(windows):
        raise ConfigError(
            f"config field scan: none of the {len(windows)} windows (signal regions from "
            f"{windows[0].sr_low:g} to {windows[-1].sr_high:g} TeV) has events of {source} in its "
            f"signal region and both sidebands ({where})"
        )
    if empty:
        log.warning(
            "%d of %d scan windows have no events of %s in their signal region or a sideband "
            "(%s); they will be skipped: SR %s",
            len(empty),
            len(windows),
            source,
            where,
            ", ".join(f"[{w.sr_low:g}, {w.sr_high:g}]" for w in empty[:6])
            + (" ..." if len(empty) > 6 else ""),
        )


def check_mjj_coverage(
    config: SearchConfig,
    mjj: np.ndarray | None = None,
    *,
    mjj_range: tuple[float, float] | None = None,
    source: str = "data",
    range_note: str = "",
) -> None:
    """Check that the data cover what the run will search, before any training.

    Without a scan: the signal region lies inside the data's mjj range, with events in it, in
    each sideband, and at least ``method.n_folds`` in all. With a scan: the scanned range holds
    events, and at least one window has events in its signal region and both sidebands (the
    others are named in a warning: they will be skipped).

    Args:
        config: the search configuration.
        mjj: the dijet masses (TeV) of the events; or
        mjj_range: only the range of the data (e.g. a generator's), when the events are not
            known yet: only the ranges are checked.
        source: what the data are, for the messages.
        range_note: where the range comes from, for the messages (e.g. the config fields).

    Raises:
        ConfigError: naming the config field (``regions.signal_region``, ``regions.sidebands``,
            ``scan``), the data's mjj range and what is missing.
        DataFormatError: there are no events at all.
    """
    if mjj is not None:
        mjj = np.asarray(mjj, dtype=float)
        if mjj.size == 0:
            raise DataFormatError(f"{source}: no events")
        span = (float(mjj.min()), float(mjj.max()))
    elif mjj_range is not None:
        span = (float(mjj_range[0]), float(mjj_range[1]))
    else:
        raise ValueError("check_mjj_coverage needs mjj or mjj_range")
    count = _counter(mjj, mjj_range)
    where = f"{source} span mjj [{span[0]:.4g}, {span[1]:.4g}] TeV{range_note}"
    if config.scan is not None:
        _check_scan(config, count, source, where)
    else:
        regions = config.regions.regions
        _check_regions(regions, config.method.n_folds, span, count, source, where)
