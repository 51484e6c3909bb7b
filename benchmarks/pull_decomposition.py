"""Which part of the answer's errors the pulls over injected datasets can test.

Every error of the answer has parts that change from one dataset to the next (the fits'
statistics; for a daughter also the template and score-threshold variations, measured per
dataset) and parts that are the same for every dataset of one detector and one kind of signal:
the resonance-shape systematic of the count (the W'-to-q* tail envelope) and of the mass, and a
daughter's jet-mass scale and underlying-event offset. Pulls over datasets drawn from one
simulation scatter only by the first kind: a common systematic narrows them (it is in every
denominator and in no numerator's scatter) and can only be checked against the *mean* offset
of the measurements, which it should cover. This script splits them, per injection and
quantity, over the answers of ``benchmarks/injection_scan.py`` boxes (``<box>_results/
answer_details.json`` next to ``<box>.truth.json``):

* pulls with the full error (what ``injection_scan.py`` reports);
* pulls with the per-dataset error alone: mean and width (calibrated: ~0 and ~1);
* the mean offset (measured - truth) with its standard error, next to the median common
  systematic (covered where the offset is smaller).

The count is the fit of the uncut spectrum before the answer clips it at 0; the daughters are
paired with the true ones as ``anomsearch score-submission`` pairs them.

Usage:
    python benchmarks/pull_decomposition.py --boxes ~/injscan50k \\
        --json benchmarks/results/pull_decomposition_cwola_50k.json

References:
    LHC Olympics 2020 (answers and scoring): arXiv:2101.08320; pulls with common systematics:
    R. Barlow, arXiv:hep-ex/0207026.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch._io import write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blind_boxes import measured_pulls

QUANTITIES = ("n_signal", "resonance_mass", "daughter_mass_0", "daughter_mass_1")
BOX = re.compile(r"(?P<method>\w+?)_n(?P<n>\d+)_seed(?P<seed>\d+)$")


def _count(details: dict[str, Any], truth: dict[str, Any]) -> dict[str, float] | None:
    total = details.get("n_signal_total")
    if not total:
        return None
    return {
        "offset": total["n_signal"] - truth["n_signal"],
        "per_dataset": total["n_signal_stat_error"],
        "total": total["n_signal_error"],
        "common": total["n_signal_shape_error"],
    }


def _mass(details: dict[str, Any], truth: dict[str, Any]) -> dict[str, float] | None:
    mass = (details.get("measurements") or {}).get("resonance_mass_gev")
    if not mass or not mass.get("uncertainty"):
        return None
    common = float(details.get("mass_shape_systematic_gev") or 0.0)
    total = float(mass["uncertainty"])
    return {
        "offset": mass["value"] - truth["resonance_mass"],
        "per_dataset": math.sqrt(max(total**2 - common**2, 0.0)),
        "total": total,
        "common": common,
    }


def _daughters(details: dict[str, Any], truth: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per paired daughter: its components from ``daughter_mass_errors_gev`` (matched by the
    total error, which is the measurement's uncertainty)."""
    measured = details.get("measurements") or {}
    pulls = measured_pulls(measured, truth)
    answered = measured.get("daughter_masses_gev") or []
    out = {}
    for name, true_mass in zip(
        ("daughter_mass_0", "daughter_mass_1"), sorted(truth["daughter_masses"]), strict=False
    ):
        pull = pulls.get(name)
        if pull is None or not math.isfinite(pull):
            continue
        match = [
            d for d in answered if math.isclose((d["value"] - true_mass) / d["uncertainty"], pull)
        ]
        if not match:
            continue
        value, total = match[0]["value"], match[0]["uncertainty"]
        parts = [
            e
            for e in details.get("daughter_mass_errors_gev") or []
            if math.isclose(e["total"], total)
        ]
        if not parts:
            continue
        e = parts[0]
        out[name] = {
            "offset": value - true_mass,
            "per_dataset": math.sqrt(
                sum((e.get(k) or 0.0) ** 2 for k in ("statistical", "template", "threshold"))
            ),
            "total": total,
            "common": math.hypot(e.get("jet_mass_scale") or 0.0, e.get("underlying_event") or 0.0),
        }
    return out


def decompose(boxes: Path) -> list[dict[str, Any]]:
    """One row per answered box: per quantity its offset and its errors' parts."""
    rows = []
    for details_path in sorted(boxes.glob("*_results/answer_details.json")):
        box = details_path.parent.name.removesuffix("_results")
        match = BOX.match(box)
        truth_path = boxes / f"{box}.truth.json"
        if not match or not truth_path.is_file():
            continue
        truth = json.loads(truth_path.read_text())
        if not truth.get("n_signal"):
            continue  # background only: nothing to pull against
        details = json.loads(details_path.read_text())
        parts = {"n_signal": _count(details, truth), "resonance_mass": _mass(details, truth)}
        parts.update(_daughters(details, truth))
        rows.append(
            {
                "box": box,
                "method": match["method"],
                "n_injected": int(match["n"]),
                "seed": int(match["seed"]),
                "claimed": bool(details.get("claimed_signal")),
                "parts": {q: p for q, p in parts.items() if p is not None},
            }
        )
    return rows


def _mean_width(values: list[float]) -> dict[str, float | None]:
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(a.mean()) if a.size else None,
        "width": float(a.std(ddof=1)) if a.size > 1 else None,
    }


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per injection and quantity: the pulls with the full and the per-dataset error, the mean
    offset with its standard error and the median common systematic."""
    out = []
    for n in sorted({r["n_injected"] for r in rows}):
        for q in QUANTITIES:
            parts = [r["parts"][q] for r in rows if r["n_injected"] == n and q in r["parts"]]
            if len(parts) < 2:
                continue
            offsets = np.array([p["offset"] for p in parts])
            out.append(
                {
                    "n_injected": n,
                    "quantity": q,
                    "n": len(parts),
                    "pull_full": _mean_width([p["offset"] / p["total"] for p in parts]),
                    "pull_per_dataset": _mean_width(
                        [p["offset"] / p["per_dataset"] for p in parts if p["per_dataset"] > 0]
                    ),
                    "mean_offset": float(offsets.mean()),
                    "mean_offset_error": float(offsets.std(ddof=1) / math.sqrt(len(parts))),
                    "median_common_systematic": float(np.median([p["common"] for p in parts])),
                    "median_per_dataset_error": float(np.median([p["per_dataset"] for p in parts])),
                }
            )
    return out


def print_table(summary: list[dict[str, Any]]) -> None:
    print(
        f"{'injected':>8s} {'quantity':>16s} {'n':>3s} {'pull, full error':>17s} "
        f"{'pull, per-dataset':>18s} {'mean offset':>16s} {'common syst.':>12s}"
    )
    for e in summary:
        full, per = e["pull_full"], e["pull_per_dataset"]
        print(
            f"{e['n_injected']:8d} {e['quantity']:>16s} {e['n']:3d} "
            f"{full['mean']:+8.2f} / {full['width']:.2f} {per['mean']:+9.2f} / {per['width']:.2f} "
            f"{e['mean_offset']:+9.1f} +- {e['mean_offset_error']:4.1f} "
            f"{e['median_common_systematic']:12.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=Path, required=True, help="injection_scan.py --out DIR")
    parser.add_argument("--json", type=Path, default=None, help="write the rows and summary")
    args = parser.parse_args()
    rows = decompose(args.boxes)
    if not rows:
        sys.exit(f"{args.boxes}: no answered boxes with signal (<box>_results/answer_details.json)")
    summary = summarise(rows)
    print_table(summary)
    if args.json is not None:
        methods = sorted({r["method"] for r in rows})
        write_json_atomic(
            args.json,
            {
                "samples": {
                    "boxes": args.boxes.name,
                    "methods": methods,
                    "n_boxes": len(rows),
                    "seeds": sorted({r["seed"] for r in rows}),
                },
                "summary": summary,
                "rows": rows,
            },
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
