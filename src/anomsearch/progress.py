"""Progress bars (``rich``) for the long steps: generation, conversion, scans, toys, training.

One :class:`rich.progress.Progress` display is live at a time in a process; a bar opened while
another is showing joins it as a further line (the training epochs of a fold under the scan's
windows, say) and disappears when it finishes. Bars are shown only when asked for *and* the
standard error stream is a terminal *and* ``$CI`` is not set: in CI logs, pipes and files the
steps are reported by the ``logging`` lines alone. Log records emitted while a bar is live go
through :func:`console` (the CLI installs a ``RichHandler`` on it) so that they print above the
bars instead of through them.

Example:
    >>> with progress_bar(3, description="windows", unit="window", enabled=False) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    >>> bar.completed
    3
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = [
    "ProgressBar",
    "active",
    "console",
    "format_bytes",
    "progress_bar",
    "terminal_progress",
    "track",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_lock = threading.RLock()
_console: Console | None = None
_display: Progress | None = None


def console() -> Console:
    """The process-wide ``rich`` console on standard error shared by bars and CLI log output."""
    global _console
    with _lock:
        if _console is None or _console.file is not sys.stderr:
            _console = Console(stderr=True)
        return _console


def terminal_progress(requested: bool = True) -> bool:
    """Whether to draw bars: ``requested``, stderr is a terminal and ``$CI`` is unset.

    Args:
        requested: the caller's ``progress`` option (``False``: never).

    Returns:
        True when bars should be drawn.
    """
    if not requested or os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        return False
    return _stderr_is_terminal()


def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def active() -> bool:
    """Whether a bar is showing in this process (training bars only join a live display)."""
    return _display is not None


class _CountColumn(ProgressColumn):
    """``done/total unit`` for counts, ``1.2/3.4 GiB`` for bytes."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if task.fields.get("bytes"):
            done = format_bytes(task.completed)
            total = "?" if task.total is None else format_bytes(task.total)
            return Text(f"{done}/{total}", style="progress.download")
        total = "?" if task.total is None else f"{int(task.total)}"
        return Text(f"{int(task.completed)}/{total} {unit}".rstrip(), style="progress.download")


class _RateColumn(ProgressColumn):
    """Units per second (or bytes per second) since the bar opened, then the bar's own note."""

    def render(self, task: Task) -> Text:
        note = task.fields.get("note", "")
        speed = task.finished_speed or task.speed
        rate = ""
        if speed:
            if task.fields.get("bytes"):
                rate = f"{format_bytes(speed)}/s"
            else:
                rate = f"{speed:.3g} {task.fields.get('unit', '')}/s".replace(" /s", "/s")
        return Text("  ".join(s for s in (rate, note) if s), style="progress.data.speed")


def format_bytes(n: float) -> str:
    """``n`` bytes as ``512 B``, ``1.5 KiB``, ``3.0 MiB`` or ``2.1 GiB``."""
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or suffix == "GiB":
            return f"{n:.0f} {suffix}" if suffix == "B" else f"{n:.1f} {suffix}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop returns


class ProgressBar:
    """One bar: :meth:`update` advances it, :meth:`note` sets the text after the rate.

    A disabled bar keeps the count (``completed``) and draws nothing.
    """

    def __init__(self, display: Progress | None, task: TaskID | None, completed: float) -> None:
        self._display = display
        self._task = task
        self.completed = completed

    def update(self, n: float = 1) -> None:
        """Advance the bar by ``n`` units."""
        self.completed += n
        if self._display is not None and self._task is not None:
            self._display.update(self._task, advance=n)

    def note(self, text: str) -> None:
        """Show ``text`` after the rate (a loss, a rate measured elsewhere, a window)."""
        if self._display is not None and self._task is not None:
            self._display.update(self._task, note=text, refresh=True)


def _new_display() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=30),
        _CountColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        _RateColumn(),
        console=console(),
        redirect_stdout=False,
        redirect_stderr=False,
    )


@contextmanager
def progress_bar(
    total: float | None,
    *,
    description: str,
    unit: str = "",
    initial: float = 0,
    enabled: bool = True,
    bytes_: bool = False,
) -> Iterator[ProgressBar]:
    """Open a bar for ``total`` units of work (drawn only where :func:`terminal_progress` allows).

    Args:
        total: the number of units (None: unknown).
        description: the text in front of the bar.
        unit: the unit's name (``"window"``, ``"ev"``).
        initial: units already done (resumed work).
        enabled: the caller's ``progress`` option.
        bytes_: the units are bytes (shown as KiB/MiB/GiB).

    Yields:
        The :class:`ProgressBar`.
    """
    global _display
    if not terminal_progress(enabled):
        yield ProgressBar(None, None, initial)
        return
    with _lock:
        owner = _display is None
        if owner:
            _display = _new_display()
            _display.start()
        display = _display
        assert display is not None
        fields: dict[str, Any] = {"unit": unit, "bytes": bytes_, "note": ""}
        task = display.add_task(description, total=total, completed=initial, **fields)
    try:
        yield ProgressBar(display, task, initial)
    finally:
        with _lock:
            if owner:
                display.stop()
                _display = None
            else:  # an inner bar (a fold's epochs under the scan) goes when it is done
                display.remove_task(task)


def track(
    items: Iterable[_T],
    *,
    description: str,
    unit: str = "",
    total: float | None = None,
    enabled: bool = True,
) -> Iterator[_T]:
    """Iterate over ``items`` with a bar that advances after each one (as ``rich``'s ``track``).

    Args:
        items: the work items.
        description: the text in front of the bar.
        unit: the unit's name.
        total: the number of items (default ``len(items)`` where it has one).
        enabled: the caller's ``progress`` option.

    Yields:
        The items.

    Examples:
        >>> [k for k in track(range(3), description="folds", enabled=False)]
        [0, 1, 2]
    """
    if total is None and isinstance(items, Sized):
        total = len(items)
    with progress_bar(total, description=description, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update()
