"""Exceptions raised by anomsearch.

Every error a user can provoke with bad input derives from :class:`AnomsearchError`, so a caller can
catch the package's errors without catching programming errors.
"""

from __future__ import annotations

__all__ = ["AnomsearchError", "ConfigError", "DataFormatError", "FitError"]


class AnomsearchError(Exception):
    """Base class of every error anomsearch raises on bad input or a failed stage."""


class ConfigError(AnomsearchError, ValueError):
    """A configuration is invalid; the message names the offending field (e.g.
    ``regions.signal_region``)."""


class DataFormatError(AnomsearchError, ValueError):
    """A data file or array is not in the expected layout; the message names the file and column."""


class FitError(AnomsearchError, RuntimeError):
    """A likelihood fit did not converge to a valid minimum."""
