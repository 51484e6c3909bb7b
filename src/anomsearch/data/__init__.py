"""Data layer: events, LHC Olympics I/O and downloads, the toy generator, signal injection,
regions."""

from __future__ import annotations

from anomsearch.data.events import DERIVED_FEATURES, JET_FIELDS, EventTable
from anomsearch.data.features import FEATURE_SETS, compute_jet_features, feature_set
from anomsearch.data.features.raw_to_features import raw_to_features
from anomsearch.data.generate.toy import (
    ToyConfig,
    generate_toy,
    generate_toy_background,
    generate_toy_signal,
)
from anomsearch.data.generate.toy_simulation import SimulationMismodelling, generate_toy_simulation
from anomsearch.data.injection import inject_signal, split_by_label
from anomsearch.data.io.download import DownloadError, download_dataset, list_datasets
from anomsearch.data.io.lhco import (
    FEATURE_COLUMNS,
    read_features_h5,
    read_master_key,
    write_features_h5,
    write_master_key,
)
from anomsearch.data.io.lhco_raw import iter_raw_h5, read_raw_h5, write_raw_h5
from anomsearch.data.regions import Regions, kfold_assignments

__all__ = [
    "DERIVED_FEATURES",
    "FEATURE_COLUMNS",
    "FEATURE_SETS",
    "JET_FIELDS",
    "DownloadError",
    "EventTable",
    "Regions",
    "SimulationMismodelling",
    "ToyConfig",
    "compute_jet_features",
    "download_dataset",
    "feature_set",
    "generate_toy",
    "generate_toy_background",
    "generate_toy_signal",
    "generate_toy_simulation",
    "inject_signal",
    "iter_raw_h5",
    "kfold_assignments",
    "list_datasets",
    "raw_to_features",
    "read_features_h5",
    "read_master_key",
    "read_raw_h5",
    "split_by_label",
    "write_features_h5",
    "write_master_key",
    "write_raw_h5",
]
