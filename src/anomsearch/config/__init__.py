"""Search configurations: a YAML file read once into a frozen, typed :class:`SearchConfig`.

:func:`load_config` reads and checks a file (or a mapping); the sections
(:mod:`anomsearch.config.sections`) carry the defaults and check their values as they are built;
:class:`SearchConfig` relates them. Every stage of the search takes its section, never the raw
mapping. :mod:`anomsearch.config.reference` (imported on demand) renders ``docs/config.md``.
"""

from __future__ import annotations

from anomsearch.compute.executors import ComputeConfig
from anomsearch.config.loader import load_config
from anomsearch.config.search_config import SCHEMA_VERSION, SearchConfig, config_schema
from anomsearch.config.sections import (
    BackgroundConfig,
    DataConfig,
    InjectionConfig,
    MethodConfig,
    OutputConfig,
    PythiaMasses,
    PythiaOptions,
    RegionsConfig,
    ScanConfig,
    StatsConfig,
)

__all__ = [
    "SCHEMA_VERSION",
    "BackgroundConfig",
    "ComputeConfig",
    "DataConfig",
    "InjectionConfig",
    "MethodConfig",
    "OutputConfig",
    "PythiaMasses",
    "PythiaOptions",
    "RegionsConfig",
    "ScanConfig",
    "SearchConfig",
    "StatsConfig",
    "config_schema",
    "load_config",
]
