"""Signal region / sideband definitions in mjj and k-fold splits for cross-scoring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = ["Regions", "kfold_assignments"]


@dataclass(frozen=True)
class Regions:
    """A signal region (SR) window in mjj and the sidebands (SB) around it, all in TeV.

    The sidebands are ``[sb_low, sr_low)`` and ``[sr_high, sb_high)``; with the SR they form
    the *fit range* ``[sb_low, sb_high)`` used by the background estimate.

    Args:
        sr_low: lower SR edge.
        sr_high: upper SR edge.
        sb_low: lower edge of the lower sideband.
        sb_high: upper edge of the upper sideband.

    Raises:
        ConfigError: edges not ordered ``sb_low < sr_low < sr_high < sb_high``.

    Examples:
        >>> r = Regions(3.3, 3.7, 2.8, 5.5)
        >>> r.in_sr(np.array([3.0, 3.5, 4.0])).tolist(), r.in_sb(np.array([3.0, 3.5, 6.0])).tolist()
        ([False, True, False], [True, False, False])
    """

    sr_low: float
    sr_high: float
    sb_low: float
    sb_high: float

    def __post_init__(self) -> None:
        if not (self.sb_low < self.sr_low < self.sr_high < self.sb_high):
            raise ConfigError(
                "regions must satisfy sb_low < sr_low < sr_high < sb_high, got "
                f"sb_low={self.sb_low}, signal_region=[{self.sr_low}, {self.sr_high}], "
                f"sb_high={self.sb_high}"
            )

    @property
    def sr_center(self) -> float:
        """Centre of the SR window (TeV)."""
        return 0.5 * (self.sr_low + self.sr_high)

    def in_sr(self, mjj: np.ndarray) -> np.ndarray:
        """Boolean mask of events inside the SR."""
        mjj = np.asarray(mjj)
        return (mjj >= self.sr_low) & (mjj < self.sr_high)

    def in_sb(self, mjj: np.ndarray) -> np.ndarray:
        """Boolean mask of events in either sideband."""
        mjj = np.asarray(mjj)
        return ((mjj >= self.sb_low) & (mjj < self.sr_low)) | (
            (mjj >= self.sr_high) & (mjj < self.sb_high)
        )

    def in_fit_range(self, mjj: np.ndarray) -> np.ndarray:
        """Boolean mask of events in SR or SB."""
        mjj = np.asarray(mjj)
        return (mjj >= self.sb_low) & (mjj < self.sb_high)

    def check_covered_by(self, mjj: np.ndarray, *, source: str = "data") -> None:
        """Raise :class:`ConfigError` if the SR or sidebands lie outside the range of ``mjj``.

        Args:
            mjj: dijet masses (TeV) of the dataset.
            source: name of the dataset, used in the message.
        """
        mjj = np.asarray(mjj)
        if mjj.size == 0:
            raise DataFormatError(f"{source}: no events")
        lo, hi = float(mjj.min()), float(mjj.max())
        if lo >= self.sr_low and hi < self.sr_high:
            raise ConfigError(
                f"regions.signal_region [{self.sr_low}, {self.sr_high}] TeV holds every event of "
                f"{source} (mjj range [{lo:.3f}, {hi:.3f}] TeV): none is left for the sidebands"
            )
        if self.sr_low < lo or self.sr_high > hi:
            raise ConfigError(
                f"regions.signal_region [{self.sr_low}, {self.sr_high}] TeV lies outside the mjj "
                f"range of {source} [{lo:.3f}, {hi:.3f}] TeV"
            )
        if not np.any(self.in_sb(mjj)):
            raise ConfigError(f"regions: no events of {source} fall in the sidebands")


def kfold_assignments(n_events: int, n_folds: int, *, seed: int) -> np.ndarray:
    """Assign each event to one of ``n_folds`` folds, balanced and shuffled.

    Args:
        n_events: number of events.
        n_folds: number of folds (>= 2).
        seed: seed of the shuffle.

    Returns:
        int array of shape ``(n_events,)`` with values in ``[0, n_folds)``; fold sizes differ by at
        most 1.

    Examples:
        >>> np.bincount(kfold_assignments(10, 3, seed=1)).tolist()
        [4, 3, 3]
    """
    if n_folds < 2:
        raise ConfigError(f"n_folds must be >= 2, got {n_folds}")
    if n_events < n_folds:
        raise DataFormatError(f"cannot split {n_events} events into {n_folds} folds")
    rng = np.random.default_rng(seed)
    folds = np.arange(n_events) % n_folds
    rng.shuffle(folds)
    return folds
