"""Read a search configuration: ``load_config(path)`` = ``yaml.safe_load`` + :class:`SearchConfig`.

Reading never runs code from the file (``yaml.safe_load``); every error names the file and the
offending field, e.g. ``my.yaml: config field regions.signal_region: need low < high``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from anomsearch.config.search_config import SearchConfig
from anomsearch.exceptions import ConfigError

__all__ = ["load_config"]

log = logging.getLogger(__name__)


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | SearchConfig,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> SearchConfig:
    """Read, check and resolve a configuration.

    Args:
        source: a YAML file, a configuration mapping, or a :class:`SearchConfig` (returned as
            it is).
        base_dir: for a mapping, the directory relative paths resolve against (default: the
            working directory); a file's own directory for a file.

    Returns:
        The :class:`SearchConfig` (defaults filled in, paths absolute). ``output.dir`` is unset
        unless given: the run then writes to ``results/<name>`` under the working directory.

    Raises:
        ConfigError: missing/unreadable file, invalid YAML, or an invalid field (named in the
            message, prefixed by the file).
    """
    if isinstance(source, SearchConfig):
        return source
    if isinstance(source, Mapping):
        return SearchConfig.from_mapping(source, base_dir=base_dir)
    path = Path(source)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
    try:
        config = SearchConfig.from_mapping(raw, base_dir=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    log.debug("loaded config %s", path)
    return config
