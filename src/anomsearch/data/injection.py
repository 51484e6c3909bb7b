"""Signal injection: build a dataset with a chosen number of signal events."""

from __future__ import annotations

import logging

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = ["inject_signal", "split_by_label"]

log = logging.getLogger(__name__)


def split_by_label(events: EventTable, *, source: str = "data") -> tuple[EventTable, EventTable]:
    """Split labelled events into (background, signal).

    Raises:
        DataFormatError: the events carry no labels.
    """
    if events.label is None:
        raise DataFormatError(
            f"{source}: signal injection needs labelled events (no 'label' column)"
        )
    is_signal = events.label == 1
    return events.subset(~is_signal), events.subset(is_signal)


def inject_signal(
    background: EventTable, signal: EventTable, n_signal: int, *, seed: int
) -> EventTable:
    """Add ``n_signal`` events drawn without replacement from ``signal`` to ``background``.

    The result is shuffled; background events get label 0 and injected events label 1.

    Args:
        background: all background events (kept in full).
        signal: the pool of signal events to draw from.
        n_signal: number of signal events to inject (0 for background-only data).
        seed: seed of the draw and the shuffle.

    Raises:
        ConfigError: ``n_signal`` negative or larger than the signal pool (names
            ``injection.n_signal``).

    Examples:
        >>> from anomsearch.data.generate.toy import generate_toy_background, generate_toy_signal
        >>> background = generate_toy_background(100, seed=1)
        >>> data = inject_signal(background, generate_toy_signal(50, seed=2), 7, seed=3)
        >>> len(data), int(data.label.sum())
        (107, 7)
    """
    if int(n_signal) != n_signal or n_signal < 0:
        raise ConfigError(f"injection.n_signal must be a non-negative integer, got {n_signal!r}")
    if n_signal > len(signal):
        raise ConfigError(
            f"injection.n_signal={n_signal} exceeds the {len(signal)} signal events available"
        )
    rng = np.random.default_rng(seed)
    chosen = signal.subset(np.sort(rng.choice(len(signal), size=int(n_signal), replace=False)))
    combined = EventTable.concatenate([background.with_label(0), chosen.with_label(1)])
    log.info("injected %d signal events into %d background events", n_signal, len(background))
    return combined.subset(rng.permutation(len(combined)))
