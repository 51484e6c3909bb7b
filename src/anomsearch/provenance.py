"""Provenance of a run: package versions, platform, the code's git commit, data checksums."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["array_checksum", "git_state", "package_versions", "provenance"]

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


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state(directory: str | Path | None = None) -> dict[str, Any] | None:
    """The git commit of the code that ran, and whether it had uncommitted changes.

    Args:
        directory: a directory inside the checkout; default the installed ``anomsearch`` package
            (an editable install from a git clone). ``None`` is returned for an installed wheel,
            a directory outside any git checkout, or when ``git`` is not available.

    Returns:
        ``{"commit": sha, "dirty": bool}`` or ``None``.

    Examples:
        >>> import tempfile
        >>> git_state(tempfile.gettempdir()) is None
        True
    """
    if directory is None:
        directory = Path(__file__).resolve().parent
    directory = Path(directory)
    commit = _git(directory, "rev-parse", "HEAD")
    if not commit:
        return None
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def provenance() -> dict[str, Any]:
    """Versions and platform of the current process, and the git commit of the package code."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_state(),
    }
