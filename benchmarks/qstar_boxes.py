"""Excited-quark black boxes searched blind: does the inclusive trial find a resonance without
substructure, and is its mass right?

Each box is ``--n-background`` QCD events of the ``qcd`` production (a different slice of the
stream per box) plus ``n`` q* -> q g events of mass ``M`` (productions ``qstar_<M in GeV>`` of
:mod:`benchmarks.pythia_production`; seed ``s`` takes their ``s``-th slice of ``n`` events),
shuffled, in the LHC Olympics features layout without
labels, with its master key (labels, one per line) and a truth JSON for
``anomsearch score-submission``. Every box is searched with ``analyses/blackbox/blind_search.yaml``
(the scan does not know the mass; the inclusive bump hunt, efficiency 1, is one of its trials),
answered with ``anomsearch submit`` and scored. The table puts next to each other: the truth's
S/sqrt(B) in the best 0.4 TeV window of the scan's grid (before any cut), the inclusive trial's
local Z in that window, the scan's best entry (window, efficiency, local Z), the global p-value,
the trial that made the claim, and the answer's mass against the truth.

Usage:
    python benchmarks/qstar_boxes.py --out ~/qstar-boxes  # 3 masses x 3 seeds, 100k QCD each

Writes ``benchmarks/results/qstar_boxes.json`` and prints the table.

References:
    U. Baur, M. Spira, P. M. Zerwas, Phys. Rev. D 42 (1990) 815 (excited quarks); LHC Olympics
    2020 (black boxes, answers): arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blind_boxes import BoxSpec, add_box_arguments, search_boxes

#: (q* mass in GeV, signal events) of the default boxes, each with seeds 1-3.
DEFAULT_BOXES = ((3300, 1200), (3800, 1400), (4000, 1000))


def box_spec(index: int, text: str, n_background: int) -> BoxSpec:
    """``mass_gev:n_signal:seed`` -> the box: the ``index``-th QCD slice; seed ``s`` takes the
    ``s``-th slice of the signal production (boxes share no signal event)."""
    mass, n_signal, seed = (int(v) for v in text.split(":"))
    return BoxSpec(
        name=f"qstar_{mass}_seed{seed}",
        background_start=index * n_background,
        n_background=n_background,
        signal=f"qstar_{mass}",
        signal_start=(seed - 1) * n_signal,
        n_signal=n_signal,
        seed=(seed, mass),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_box_arguments(parser, json_name="qstar_boxes.json")
    parser.add_argument(
        "--boxes",
        nargs="+",
        default=[f"{m}:{n}:{s}" for s in (1, 2, 3) for m, n in DEFAULT_BOXES],
        help="mass_gev:n_signal:seed per box",
    )
    parser.add_argument("--n-background", type=int, default=100_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    specs = [box_spec(i, text, args.n_background) for i, text in enumerate(args.boxes)]
    search_boxes(specs, out=args.out, json_path=args.json, run_missing=args.run_missing)


if __name__ == "__main__":
    main()
