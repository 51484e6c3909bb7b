"""Load any saved scorer: the format recorded in its ``scorer.json`` picks the class.

The formats are those of :class:`~anomsearch.methods.classifier.ClassifierScorer`,
:class:`~anomsearch.methods.autoencoder.AutoencoderScorer`,
:class:`~anomsearch.methods.disco.PairScorer` and
:class:`~anomsearch.methods.trees.TreeEnsembleScorer`; torch is imported only when a network
scorer is loaded.

Examples:
    >>> for name in sorted(SCORER_FORMATS):
    ...     print(name)
    anomsearch.autoencoder_scorer
    anomsearch.classifier_scorer
    anomsearch.pair_scorer
    anomsearch.tree_ensemble_scorer
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from anomsearch.exceptions import DataFormatError
from anomsearch.methods.autoencoder import AutoencoderScorer
from anomsearch.methods.base import Scorer
from anomsearch.methods.classifier import ClassifierScorer
from anomsearch.methods.disco import PAIR_SCORER_FORMAT, PairScorer
from anomsearch.methods.trees import TREE_SCORER_FORMAT, TreeEnsembleScorer

__all__ = ["SCORER_FORMATS", "load_scorer"]

log = logging.getLogger(__name__)

#: ``format`` value of ``scorer.json`` -> scorer class with a ``load(path)`` classmethod.
SCORER_FORMATS: dict[str, Any] = {
    "anomsearch.classifier_scorer": ClassifierScorer,
    "anomsearch.autoencoder_scorer": AutoencoderScorer,
    PAIR_SCORER_FORMAT: PairScorer,
    TREE_SCORER_FORMAT: TreeEnsembleScorer,
}


def load_scorer(path: str | os.PathLike[str]) -> Scorer:
    """Load a scorer saved by any method's ``save(path)`` (e.g. a fold checkpoint).

    Args:
        path: the scorer directory.

    Returns:
        The scorer, scoring exactly as the saved one did.

    Raises:
        DataFormatError: no ``scorer.json``, unreadable metadata, or an unknown format.
    """
    meta_path = Path(path) / "scorer.json"
    if not meta_path.is_file():
        raise DataFormatError(f"{path}: not a saved scorer (no scorer.json)")
    try:
        fmt = json.loads(meta_path.read_text(encoding="utf-8"))["format"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataFormatError(f"{meta_path}: unreadable scorer metadata ({exc})") from None
    if fmt not in SCORER_FORMATS:
        raise DataFormatError(
            f"{meta_path}: unknown scorer format {fmt!r}; known: "
            + ", ".join(sorted(SCORER_FORMATS))
        )
    return SCORER_FORMATS[fmt].load(path)
