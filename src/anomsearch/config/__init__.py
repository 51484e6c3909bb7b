"""Search configurations: read, check and resolve a YAML config (:mod:`anomsearch.config.loader`);
render the config reference (:mod:`anomsearch.config.reference`, imported on demand)."""

from __future__ import annotations

from anomsearch.config.loader import (
    DATASET_KEYS,
    DEFAULTS,
    SCHEMA_VERSION,
    config_schema,
    load,
    resolve,
    validate,
)

__all__ = [
    "DATASET_KEYS",
    "DEFAULTS",
    "SCHEMA_VERSION",
    "config_schema",
    "load",
    "resolve",
    "validate",
]
