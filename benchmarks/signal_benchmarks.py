"""Signal benchmarks in the LHC Olympics format: one background stream, several signal types.

For each signal production of :mod:`benchmarks.pythia_production` (W' -> X(500) Y(100) with
two-prong daughters, the same with a three-prong X, with both daughters three-prong, with
X(300) Y(200); W' -> q q' without substructure; an excited quark q* -> q g), this writes a
black-box-style dataset: the first ``--n-background`` events of the ``qcd`` stream (the same for
every signal) and ``--n-signal`` events of the signal, shuffled with a seeded permutation, in the
features layout without labels (``<signal>.features.h5``: the 14 LHCO columns plus, with
``--extra-features``, the constituent features) and the master key beside it
(``<signal>.masterkey.txt``, one 0/1 per line). ``anomsearch run`` reads them with
``data.source: lhco``, ``data.path`` and ``data.master_key``; ``anomsearch score-submission``
scores an answer against the key.

Usage:
    python benchmarks/signal_benchmarks.py --out ~/lhco-signals --n-background 300000 \\
        --n-signal 1000 --signals wprime wprime_3prong wprime_3prong_both wprime_x300_y200 \\
        wprime_qq qstar

References:
    LHC Olympics 2020 (formats, black boxes): arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.io.lhco import write_features_h5, write_master_key

try:
    from sensitivity import production_events
except ImportError:  # pragma: no cover - imported from the repository root
    from benchmarks.sensitivity import production_events

#: What each signal production holds (for the printed table).
SIGNALS = {
    "wprime": "W'(3.5 TeV) -> X(500) Y(100), X, Y -> qq (two-prong, the LHCO R&D signal)",
    "wprime_3prong": "W'(3.5 TeV) -> X(500) Y(100), X -> qqg, Y -> qq (unequal prongs)",
    "wprime_3prong_both": "W'(3.5 TeV) -> X(500) Y(100), X, Y -> qqg (three-prong)",
    "wprime_x300_y200": "W'(3.5 TeV) -> X(300) Y(200), X, Y -> qq (other daughter masses)",
    "wprime_qq": "W'(3.5 TeV) -> q q' (no jet substructure)",
    "qstar": "q*(3.5 TeV) -> q g (no jet substructure, radiative tail)",
}


def write_benchmark(
    signal: str,
    background: EventTable,
    *,
    n_signal: int,
    out: Path,
    seed: int,
    extra: bool,
) -> tuple[Path, Path]:
    """Write one signal benchmark (features file without labels + master key)."""
    pool = production_events(signal, 0, n_signal, label=1)
    events = EventTable.concatenate([background, pool])
    order = np.random.default_rng([seed, len(events)]).permutation(len(events))
    events = events.subset(order)
    if not extra:
        events = EventTable(events.jets, label=events.label)
    features = write_features_h5(events, out / f"{signal}.features.h5", include_label=False)
    key = write_master_key(events.label, out / f"{signal}.masterkey.txt")
    return features, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--signals", nargs="+", default=list(SIGNALS))
    parser.add_argument("--n-background", type=int, default=300_000)
    parser.add_argument("--n-signal", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--extra-features", action="store_true", help="add the kitchen sink")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    background = production_events("qcd", 0, args.n_background, label=0)
    for signal in args.signals:
        features, key = write_benchmark(
            signal,
            background,
            n_signal=args.n_signal,
            out=args.out,
            seed=args.seed,
            extra=args.extra_features,
        )
        print(f"{signal}: {features} + {key} ({SIGNALS.get(signal, '')})")


if __name__ == "__main__":
    main()
