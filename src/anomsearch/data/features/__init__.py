"""Jet features from particles: clustering and substructure, and LHC Olympics raw particles turned
into the features layout (:mod:`~anomsearch.data.features.raw_to_features`).

- :func:`compute_jet_features` (:mod:`~anomsearch.data.features.batch`): a chunk of events'
  particles -> the 7 standard columns per jet and the extra per-jet fields, clustered with
  fastjet's awkward interface;
- :func:`feature_set` (:mod:`~anomsearch.data.features.sets`): the named feature sets
  ``standard``, ``subjettiness``, ``efp``, ``kitchen_sink`` and the extra field names;
- :mod:`~anomsearch.data.features.nsub`, :mod:`~anomsearch.data.features.efp`: tau_N^beta and
  energy flow polynomials of many jets at once;
- :mod:`~anomsearch.data.features.jets`: the per-event fastjet code of the Pythia chain.
"""

from __future__ import annotations

from anomsearch.data.features.batch import JetFeatures, compute_jet_features
from anomsearch.data.features.sets import (
    EXTRA_JET_FIELDS,
    FEATURE_SETS,
    extra_jet_fields,
    feature_set,
)

__all__ = [
    "EXTRA_JET_FIELDS",
    "FEATURE_SETS",
    "JetFeatures",
    "compute_jet_features",
    "extra_jet_fields",
    "feature_set",
]
