"""Provenance: the git commit of the code, package versions, checksums."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import anomsearch
from anomsearch.provenance import array_checksum, git_state, provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(directory), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@needs_git
def test_git_state_reports_commit_and_dirty_flag(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("two\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}
    (tmp_path / "untracked.txt").write_text("ignored for the dirty flag\n")
    _git(tmp_path, "checkout", "-q", "a.txt")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}


def test_git_state_outside_a_checkout_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


@needs_git
def test_provenance_records_the_package_checkout_commit() -> None:
    package_dir = Path(anomsearch.__file__).resolve().parent
    record = provenance()
    assert {"python", "platform", "packages", "git"} <= set(record)
    try:
        head = _git(package_dir, "rev-parse", "HEAD")
    except subprocess.CalledProcessError:  # installed from a wheel, not a checkout
        assert record["git"] is None
    else:
        assert record["git"]["commit"] == head
        assert isinstance(record["git"]["dirty"], bool)


def test_array_checksum_depends_on_values_dtype_and_shape() -> None:
    a = np.arange(6, dtype=np.float64)
    assert array_checksum(a) == array_checksum(a.copy())
    assert array_checksum(a) != array_checksum(a.astype(np.float32))
    assert array_checksum(a) != array_checksum(a.reshape(2, 3))
    assert array_checksum(a, None) != array_checksum(a)
