"""A scorer with two outputs: the two axes of an ABCD plane (Double DisCo).

:class:`PairScorer` wraps two :class:`~anomsearch.methods.classifier_scorer.ClassifierScorer` s.
``score_pair`` gives both outputs (for the ABCD estimate), ``score`` their product (a single
anomaly score, monotonic in each output, for the bump hunt and the metrics).

References:
    G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, arXiv:2007.14400.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anomsearch._io import write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.exceptions import DataFormatError
from anomsearch.methods.classifier_scorer import ClassifierScorer

__all__ = ["PAIR_SCORER_FORMAT", "PairScorer"]

log = logging.getLogger(__name__)

#: ``format`` of a saved pair scorer's ``scorer.json``.
PAIR_SCORER_FORMAT = "anomsearch.pair_scorer"
_VERSION = 1


@dataclass(frozen=True)
class PairScorer:
    """Two scores per event.

    Attributes:
        first: scorer of the first axis.
        second: scorer of the second axis.
        method: the method that trained them (written into saved scorers).
    """

    first: ClassifierScorer
    second: ClassifierScorer
    method: str = "double_disco"

    def score_pair(self, events: EventTable) -> np.ndarray:
        """Both outputs, float64 ``(n_events, 2)``."""
        return np.column_stack([self.first.score(events), self.second.score(events)])

    def score(self, events: EventTable) -> np.ndarray:
        """The product of the two outputs (each in ``[0, 1]``), float64 ``(n_events,)``."""
        pair = self.score_pair(events)
        return pair[:, 0] * pair[:, 1]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write both scorers under ``path`` (``first/``, ``second/``, ``scorer.json``)."""
        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise DataFormatError(f"{directory}: exists and is not a directory; cannot save")
        directory.mkdir(parents=True, exist_ok=True)
        self.first.save(directory / "first")
        self.second.save(directory / "second")
        write_json_atomic(
            directory / "scorer.json",
            {"format": PAIR_SCORER_FORMAT, "format_version": _VERSION, "method": self.method},
        )
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PairScorer:
        """Read a scorer written by :meth:`save`.

        Raises:
            DataFormatError: missing or foreign files.
        """
        directory = Path(path)
        meta_path = directory / "scorer.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataFormatError(
                f"{meta_path}: cannot read pair-scorer metadata ({exc})"
            ) from None
        if meta.get("format") != PAIR_SCORER_FORMAT or meta.get("format_version") != _VERSION:
            raise DataFormatError(
                f"{meta_path}: not a pair scorer of version {_VERSION} ({meta.get('format')!r})"
            )
        return cls(
            ClassifierScorer.load(directory / "first"),
            ClassifierScorer.load(directory / "second"),
            str(meta.get("method", "double_disco")),
        )
