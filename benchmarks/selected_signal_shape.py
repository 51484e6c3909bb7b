"""How the anomaly-score cut reshapes a resonance: the signal's mjj after the cut against before.

The answer measures the resonance mass in the *selected* spectrum with a shape whose radiative
tail was measured on *all* signal events (:data:`anomsearch.stats.DIJET_CRYSTAL_BALL`). Events in
the low tail lost radiation out of their jets, and their jets look less like the daughters the
score learned: the cut keeps fewer of them. This script measures that on the boxes of
``benchmarks/injection_scan.py`` (labels from their master keys; the selected events' labels are
in ``selected_events.npz``): per box the signal's fraction in the truth window [3.3, 3.7] TeV and
the selection efficiency in and below it, and the mass fitted to the signal alone before and
after the cut (binned maximum likelihood, 10 GeV bins over 2.9-4.0 TeV, the shape fixed, the mass
free) with the answer's default shape and with the W' -> X Y tail
(:data:`anomsearch.stats.DIJET_SHAPE_ENVELOPE` ``[0]``, measured on this signal); next to it
the answer's own mass and its pull. Only boxes whose best window is the truth window.

Usage:
    python benchmarks/selected_signal_shape.py --boxes ~/injscan50k [--inject 600 1000]

Writes ``benchmarks/results/selected_signal_shape.json`` and prints the table.

References:
    CWoLa hunting: J. H. Collins, K. Howe, B. Nachman, arXiv:1902.02634; dijet resonance shapes
    with radiative tails: CMS Collaboration, arXiv:1911.03947.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch._io import jsonable, write_json_atomic
from anomsearch.data.io.lhco import read_features_h5, read_master_key
from anomsearch.stats import DIJET_CRYSTAL_BALL, DIJET_SHAPE_ENVELOPE, SignalShape

RESULTS = Path(__file__).resolve().parent / "results"
TRUTH_WINDOW = (3.3, 3.7)
FIT_EDGES = np.round(np.arange(2.9, 4.0001, 0.01), 6)
SHAPES = {"default": DIJET_CRYSTAL_BALL, "wprime_tail": DIJET_SHAPE_ENVELOPE[0]}


def fitted_mass(mjj: np.ndarray, shape: SignalShape) -> float:
    """The mass (TeV) maximising the binned likelihood of ``mjj`` under ``shape`` (1 GeV grid
    over 3.40-3.60 TeV, normalised over the fitted range)."""
    counts = np.histogram(mjj, FIT_EDGES)[0]
    masses = np.round(np.arange(3.40, 3.6005, 0.001), 6)
    log_l = []
    for mass in masses:
        p = np.diff(shape.cdf(FIT_EDGES / mass))
        log_l.append(float(np.sum(counts * np.log(np.maximum(p / p.sum(), 1e-300)))))
    best = int(np.argmax(log_l))
    if best in (0, masses.size - 1):
        return math.nan
    return float(masses[best])


def box_row(stem: Path) -> dict[str, Any] | None:
    """One box's numbers, or None where it has no labelled selection or a wrong best window."""
    results = stem.parent / f"{stem.name}_results"
    details_path = results / "answer_details.json"
    if not details_path.is_file():
        return None
    details = json.loads(details_path.read_text())
    window = details["source"]["signal_region_gev"]
    if not np.allclose(window, [1000 * v for v in TRUTH_WINDOW], atol=1e-6):
        return None
    with np.load(results / "selected_events.npz") as npz:
        if "label" not in npz.files:
            return None
        selected = np.asarray(npz["mjj"])[np.asarray(npz["label"]) == 1]
    events = read_features_h5(stem.with_suffix(".features.h5"), extra_fields=())
    everything = events.mjj[read_master_key(stem.with_suffix(".masterkey.txt")) == 1]
    truth = json.loads(stem.with_suffix(".truth.json").read_text())

    def in_window(m: np.ndarray) -> np.ndarray:
        return (m >= TRUTH_WINDOW[0]) & (m < TRUTH_WINDOW[1])

    measured = details["measurements"]["resonance_mass_gev"]
    row: dict[str, Any] = {
        "box": stem.name,
        "n_signal": int(everything.size),
        "n_selected_signal": int(selected.size),
        "window_fraction_all": float(in_window(everything).mean()),
        "window_fraction_selected": float(in_window(selected).mean()),
        "efficiency_in_window": float(
            in_window(selected).sum() / max(in_window(everything).sum(), 1)
        ),
        "efficiency_below_window": float(
            (selected < TRUTH_WINDOW[0]).sum() / max((everything < TRUTH_WINDOW[0]).sum(), 1)
        ),
        "answer_mass_gev": measured,
        "answer_mass_pull": (measured["value"] - truth["resonance_mass"]) / measured["uncertainty"],
        "truth_mass_gev": truth["resonance_mass"],
    }
    for name, shape in SHAPES.items():
        shape = shape._replace(width=DIJET_CRYSTAL_BALL.width)
        row[f"mass_all_{name}_gev"] = 1000 * fitted_mass(everything, shape)
        row[f"mass_selected_{name}_gev"] = 1000 * fitted_mass(selected, shape)
    return row


def mean_and_error(values: list[float]) -> dict[str, float]:
    """Mean and its standard error over the finite values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"mean": math.nan, "error": math.nan, "n": 0}
    error = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return {"mean": float(v.mean()), "error": error, "n": int(v.size)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the boxes of the differences after - before the cut."""
    summary: dict[str, Any] = {
        "n_boxes": len(rows),
        "window_fraction_all": mean_and_error([r["window_fraction_all"] for r in rows]),
        "window_fraction_selected": mean_and_error([r["window_fraction_selected"] for r in rows]),
        "efficiency_in_window": mean_and_error([r["efficiency_in_window"] for r in rows]),
        "efficiency_below_window": mean_and_error([r["efficiency_below_window"] for r in rows]),
        "answer_mass_pull": mean_and_error([r["answer_mass_pull"] for r in rows]),
        "answer_mass_minus_truth_gev": mean_and_error(
            [r["answer_mass_gev"]["value"] - r["truth_mass_gev"] for r in rows]
        ),
    }
    for name in SHAPES:
        summary[f"mass_all_minus_truth_{name}_gev"] = mean_and_error(
            [r[f"mass_all_{name}_gev"] - r["truth_mass_gev"] for r in rows]
        )
        summary[f"mass_shift_by_cut_{name}_gev"] = mean_and_error(
            [r[f"mass_selected_{name}_gev"] - r[f"mass_all_{name}_gev"] for r in rows]
        )
    return summary


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """One line per box, then the means."""
    print(
        f"{'box':24s} {'n sel':>6s} {'win all':>8s} {'win sel':>8s} {'eff in':>7s} "
        f"{'eff below':>9s} {'M all':>7s} {'M sel':>7s} {'M answer':>13s} {'pull':>6s}"
    )
    for r in rows:
        m = r["answer_mass_gev"]
        print(
            f"{r['box']:24s} {r['n_selected_signal']:6d} {r['window_fraction_all']:8.2f} "
            f"{r['window_fraction_selected']:8.2f} {r['efficiency_in_window']:7.2f} "
            f"{r['efficiency_below_window']:9.2f} {r['mass_all_wprime_tail_gev']:7.0f} "
            f"{r['mass_selected_wprime_tail_gev']:7.0f} {m['value']:7.0f} "
            f"+-{m['uncertainty']:3.0f} {r['answer_mass_pull']:+6.2f}"
        )
    print(f"\nmeans over {summary['n_boxes']} boxes (+- standard error):")
    for key, value in summary.items():
        if isinstance(value, dict):
            print(f"  {key:38s} {value['mean']:+9.3f} +- {value['error']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=Path, required=True, help="an injection-scan --out")
    parser.add_argument("--inject", type=int, nargs="+", default=[600, 1000])
    parser.add_argument("--json", type=Path, default=RESULTS / "selected_signal_shape.json")
    args = parser.parse_args()
    pattern = re.compile(r"^[a-z]+_n(\d+)_seed(\d+)$")
    stems = []
    for truth in sorted(args.boxes.glob("*.truth.json")):
        stem = truth.with_name(truth.name.removesuffix(".truth.json"))
        match = pattern.match(stem.name)
        if match and int(match.group(1)) in args.inject:
            stems.append((int(match.group(1)), int(match.group(2)), stem))
    rows = [r for *_, stem in sorted(stems) if (r := box_row(stem)) is not None]
    if not rows:
        raise SystemExit(f"{args.boxes}: no answered box with labels in the truth window")
    summary = summarise(rows)
    print_table(rows, summary)
    write_json_atomic(
        args.json,
        jsonable(
            {"boxes": str(args.boxes), "inject": args.inject, "summary": summary, "rows": rows}
        ),
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
