"""Looking after a unit cache (:class:`~anomsearch.compute.UnitCache`): its size, and pruning it.

Entries are never removed by a run: every finished window, fold and pseudo-experiment stays until
it is pruned here (``anomsearch cache info DIR``, ``anomsearch cache prune DIR``). A hit refreshes
an entry's modification time, so pruning by age or by size removes the least recently *used*
entries first. Only files that look like cache entries (``<kind>/<kind>-<64 hex>.pkl``) are
touched.

Example:
    >>> import tempfile
    >>> from anomsearch.compute import UnitCache
    >>> cache = UnitCache(tempfile.mkdtemp())
    >>> cache.store(cache.key("demo", seed=1), [1.0] * 1000)
    >>> cache_usage(cache.directory).n_entries
    1
    >>> prune_cache(cache.directory, max_bytes=0).n_removed
    1
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import NamedTuple

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = ["CacheUsage", "PruneResult", "cache_usage", "parse_size", "prune_cache"]

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"^[0-9a-f]{64}\.pkl$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


class CacheUsage(NamedTuple):
    """What a cache directory holds.

    Attributes:
        n_entries: number of entries.
        n_bytes: their total size.
        by_kind: kind (``scan_window``, ``fold``, ``scan_toy``, ...) -> (entries, bytes).
        oldest: modification time (epoch seconds) of the least recently used entry, or None.
        newest: the same of the most recently used entry, or None.
    """

    n_entries: int
    n_bytes: int
    by_kind: dict[str, tuple[int, int]]
    oldest: float | None
    newest: float | None


class PruneResult(NamedTuple):
    """What :func:`prune_cache` removed (or would remove, with ``dry_run``)."""

    n_removed: int
    bytes_removed: int
    n_kept: int
    bytes_kept: int


class _Entry(NamedTuple):
    path: Path
    kind: str
    size: int
    mtime: float


def _entries(directory: str | os.PathLike[str]) -> list[_Entry]:
    root = Path(directory)
    if not root.is_dir():
        raise DataFormatError(f"{root}: no such cache directory")
    found = []
    for kind_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in kind_dir.iterdir():
            kind, _, digest = path.name.rpartition("-")
            if kind == kind_dir.name and _DIGEST.match(digest) and path.is_file():
                st = path.stat()
                found.append(_Entry(path, kind_dir.name, st.st_size, st.st_mtime))
    return found


def cache_usage(directory: str | os.PathLike[str]) -> CacheUsage:
    """Count the entries of the cache in ``directory``.

    Raises:
        DataFormatError: ``directory`` does not exist.
    """
    entries = _entries(directory)
    by_kind: dict[str, tuple[int, int]] = {}
    for e in entries:
        n, size = by_kind.get(e.kind, (0, 0))
        by_kind[e.kind] = (n + 1, size + e.size)
    times = [e.mtime for e in entries]
    return CacheUsage(
        n_entries=len(entries),
        n_bytes=sum(e.size for e in entries),
        by_kind=by_kind,
        oldest=min(times, default=None),
        newest=max(times, default=None),
    )


def parse_size(text: str) -> int:
    """Bytes of a size such as ``500M``, ``2G``, ``1.5GiB`` or ``1024`` (binary multiples).

    Raises:
        ConfigError: not a size.

    Examples:
        >>> parse_size("2G"), parse_size("500 MB"), parse_size("100")
        (2147483648, 524288000, 100)
    """
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(f"not a size: {text!r} (e.g. 500M, 2G)")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** "_kmgt".index(unit or "_"))


def prune_cache(
    directory: str | os.PathLike[str],
    *,
    older_than_days: float | None = None,
    max_bytes: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Remove entries unused for ``older_than_days``, then the least recently used ones until the
    cache holds at most ``max_bytes``.

    Args:
        directory: the cache directory (``compute.cache_dir``; default
            ``results/.anomsearch-cache/<run name>``).
        older_than_days: remove entries not used (stored or loaded) for this many days.
        max_bytes: then remove the least recently used entries until the rest fits.
        dry_run: only count what would be removed.
        now: the current time (epoch seconds; default: now).

    Returns:
        The :class:`PruneResult`.

    Raises:
        ConfigError: neither limit given, or a negative one.
        DataFormatError: ``directory`` does not exist.
    """
    if older_than_days is None and max_bytes is None:
        raise ConfigError("prune_cache needs older_than_days or max_bytes")
    if (older_than_days is not None and older_than_days < 0) or (
        max_bytes is not None and max_bytes < 0
    ):
        raise ConfigError("prune_cache limits must be >= 0")
    entries = sorted(_entries(directory), key=lambda e: e.mtime)  # least recently used first
    now = time.time() if now is None else float(now)
    remove: list[_Entry] = []
    keep: list[_Entry] = []
    for e in entries:
        too_old = older_than_days is not None and now - e.mtime > older_than_days * 86400.0
        (remove if too_old else keep).append(e)
    if max_bytes is not None:
        total = sum(e.size for e in keep)
        while keep and total > max_bytes:
            oldest = keep.pop(0)
            total -= oldest.size
            remove.append(oldest)
    if not dry_run:
        for e in remove:
            e.path.unlink(missing_ok=True)
        freed = _size(remove)
        log.info("pruned %d cache entries (%d bytes) in %s", len(remove), freed, directory)
    return PruneResult(
        n_removed=len(remove),
        bytes_removed=_size(remove),
        n_kept=len(keep),
        bytes_kept=_size(keep),
    )


def _size(entries: list[_Entry]) -> int:
    return sum(e.size for e in entries)
