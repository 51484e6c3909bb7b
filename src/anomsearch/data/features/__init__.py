"""Jet features from particles: clustering and substructure, and LHC Olympics raw particles turned
into the features layout (:mod:`~anomsearch.data.features.raw_to_features`)."""
