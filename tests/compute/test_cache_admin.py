"""Unit-cache maintenance: usage per kind, pruning by age and by size (least recently used)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anomsearch.cli import app
from anomsearch.compute import UnitCache
from anomsearch.compute.cache_admin import cache_usage, parse_size, prune_cache
from anomsearch.exceptions import ConfigError, DataFormatError

DAY = 86400.0


@pytest.fixture
def cache(tmp_path: Path) -> tuple[UnitCache, dict[str, str]]:
    """Four entries last used 10, 5, 2 and 0 days ago, plus a file that is not an entry."""
    c = UnitCache(tmp_path / "cache")
    now = time.time()
    keys = {}
    for name, age, kind in (
        ("a", 10, "fold"),
        ("b", 5, "fold"),
        ("c", 2, "scan_window"),
        ("d", 0, "scan_toy"),
    ):
        key = c.key(kind, name=name)
        assert key is not None
        c.store(key, b"x" * 1000)
        os.utime(c.path(key), (now - age * DAY, now - age * DAY))
        keys[name] = key
    (c.directory / "fold" / "notes.txt").write_text("keep me")
    return c, keys


def _alive(c: UnitCache, keys: dict[str, str]) -> set[str]:
    return {name for name, key in keys.items() if c.path(key).exists()}


def test_usage_counts_entries_per_kind(cache: tuple[UnitCache, dict[str, str]]) -> None:
    c, _ = cache
    usage = cache_usage(c.directory)
    assert usage.n_entries == 4
    assert set(usage.by_kind) == {"fold", "scan_window", "scan_toy"}
    assert usage.by_kind["fold"][0] == 2
    assert usage.n_bytes == sum(size for _, size in usage.by_kind.values())
    assert usage.oldest is not None and usage.newest is not None
    assert usage.newest - usage.oldest == pytest.approx(10 * DAY, abs=60)


def test_prune_by_age(cache: tuple[UnitCache, dict[str, str]]) -> None:
    c, keys = cache
    dry = prune_cache(c.directory, older_than_days=3, dry_run=True)
    assert dry.n_removed == 2 and _alive(c, keys) == {"a", "b", "c", "d"}
    result = prune_cache(c.directory, older_than_days=3)
    assert result.n_removed == 2 and result.n_kept == 2
    assert _alive(c, keys) == {"c", "d"}
    assert (c.directory / "fold" / "notes.txt").exists()


def test_prune_by_size_removes_least_recently_used(cache: tuple[UnitCache, dict[str, str]]) -> None:
    c, keys = cache
    size = c.path(keys["a"]).stat().st_size + c.path(keys["d"]).stat().st_size
    assert c.load(keys["a"]) == b"x" * 1000  # a hit: "a" becomes the most recently used
    result = prune_cache(c.directory, max_bytes=size)
    assert result.n_removed == 2 and result.bytes_kept == size
    assert _alive(c, keys) == {"a", "d"}
    assert c.load(keys["b"]) is None  # a pruned unit is simply recomputed


def test_bad_prune_requests(tmp_path: Path, cache: tuple[UnitCache, dict[str, str]]) -> None:
    c, _ = cache
    with pytest.raises(ConfigError, match="older_than_days or max_bytes"):
        prune_cache(c.directory)
    with pytest.raises(ConfigError, match=">= 0"):
        prune_cache(c.directory, max_bytes=-1)
    with pytest.raises(DataFormatError, match="no such cache directory"):
        cache_usage(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100", 100), ("1k", 1024), ("500M", 500 * 1024**2), ("1.5GiB", int(1.5 * 1024**3))],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="not a size"):
        parse_size("lots")


def test_cli(cache: tuple[UnitCache, dict[str, str]]) -> None:
    c, keys = cache
    runner = CliRunner()
    info = runner.invoke(app, ["cache", "info", str(c.directory)])
    assert info.exit_code == 0, info.output
    assert "4 entries" in info.output and "scan_toy" in info.output
    dry = runner.invoke(app, ["cache", "prune", str(c.directory), "--older-than", "3", "--dry-run"])
    assert dry.exit_code == 0 and "would remove 2 entries" in dry.output
    pruned = runner.invoke(app, ["cache", "prune", str(c.directory), "--max-size", "0"])
    assert pruned.exit_code == 0 and "removed 4 entries" in pruned.output
    assert _alive(c, keys) == set()
    nothing = runner.invoke(app, ["cache", "prune", str(c.directory)])
    assert nothing.exit_code == 2 and "--older-than" in nothing.output
    missing = runner.invoke(app, ["cache", "info", str(c.directory / "nope")])
    assert missing.exit_code == 2 and "no such cache directory" in missing.output
