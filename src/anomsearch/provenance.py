"""Provenance of a run: package versions, platform, data checksums."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import sys
from typing import Any

import numpy as np

__all__ = ["array_checksum", "package_versions", "provenance"]

_PACKAGES = (
    "anomsearch",
    "numpy",
    "scipy",
    "pandas",
    "tables",
    "torch",
    "lightning",
    "iminuit",
    "pyhf",
    "jsonschema",
    "pyyaml",
    "matplotlib",
    "mplhep",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (None if not installed)."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def array_checksum(*arrays: np.ndarray | None) -> str:
    """SHA-256 over the bytes (and shapes/dtypes) of the arrays, ``None`` entries included.

    Examples:
        >>> array_checksum(np.zeros(3)) == array_checksum(np.zeros(3))
        True
        >>> array_checksum(np.zeros(3)) == array_checksum(np.zeros(4))
        False
    """
    digest = hashlib.sha256()
    for arr in arrays:
        if arr is None:
            digest.update(b"none")
            continue
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def provenance() -> dict[str, Any]:
    """Versions and platform of the current process."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }
