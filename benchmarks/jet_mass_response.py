"""Jet-mass response of the Pythia chain: where the reconstructed jet mass of a daughter peaks,
against the daughter's mass.

The black-box answer gives particle masses, the daughter-mass fit measures the peak of a
reconstructed (R = 1.0, detector-level) jet mass. For every W' production of
:mod:`benchmarks.pythia_production` with daughters, the peak of the lighter and of the heavier jet
mass of the signal events (a Gaussian fit within +-10% of the histogram's mode) is compared with
the generated X and Y masses. The largest deviation on the calibration productions (the
``wprime*`` samples; the ``blackbox_*`` signals are listed but kept out of it, as a check) is the
default jet-mass-scale uncertainty of the answer
(:data:`anomsearch.answer.daughter_systematics.JET_MASS_SCALE_UNCERTAINTY`).

Usage:
    python benchmarks/jet_mass_response.py [--n-events 3000]

Writes ``benchmarks/results/jet_mass_response.json`` and prints the table.

References:
    LHC Olympics 2020 (daughter masses in the answer): arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import curve_fit

from anomsearch._io import write_json_atomic
from anomsearch.answer.daughter_systematics import JET_MASS_SCALE_UNCERTAINTY

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pythia_production import SAMPLES, production_dir
from sensitivity import production_events

RESULTS = Path(__file__).resolve().parent / "results"
CALIBRATION = ("wprime", "wprime_x300_y200", "wprime_3prong", "wprime_3prong_both")
CHECKS = ("blackbox_a", "blackbox_b")


def _gauss(x: np.ndarray, amplitude: float, mean: float, sigma: float) -> np.ndarray:
    return amplitude * np.exp(-0.5 * ((x - mean) / sigma) ** 2)


def jet_mass_peak(masses: np.ndarray, guess: float) -> tuple[float, float]:
    """Peak of a jet-mass distribution near ``guess`` (GeV): a Gaussian fit within +-10% of the
    mode of the histogram between 0.7 and 1.3 x ``guess``; (mean, error)."""
    near = masses[(masses > 0.7 * guess) & (masses < 1.3 * guess)]
    counts, edges = np.histogram(near, bins=60)
    mode = 0.5 * (edges[:-1] + edges[1:])[np.argmax(counts)]
    core = masses[(masses > 0.9 * mode) & (masses < 1.1 * mode)]
    counts, edges = np.histogram(core, bins=30)
    centres = 0.5 * (edges[:-1] + edges[1:])
    popt, pcov = curve_fit(_gauss, centres, counts, p0=[counts.max(), mode, 0.05 * mode])
    return float(popt[1]), float(np.sqrt(pcov[1, 1]))


def production_response(name: str, n_events: int) -> list[dict[str, Any]]:
    """The lighter and heavier daughters' peak / truth of one production."""
    config = SAMPLES[name][0]
    available = len(list(production_dir(name).glob("chunk_*.json"))) * 1000
    events = production_events(name, 0, min(n_events, available), label=1)
    masses = np.sort(events.jets[:, :, 3], axis=1)  # GeV; [lighter, heavier]
    rows = []
    for k, truth in enumerate(sorted([config.m_y, config.m_x])):
        peak, error = jet_mass_peak(masses[:, k], truth)
        rows.append(
            {
                "production": name,
                "process": config.process,
                "daughter": "lighter" if k == 0 else "heavier",
                "truth_gev": truth,
                "peak_gev": peak,
                "peak_error_gev": error,
                "ratio": peak / truth,
                "n_events": len(events),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-events", type=int, default=3000)
    parser.add_argument("--json", type=Path, default=RESULTS / "jet_mass_response.json")
    args = parser.parse_args()
    rows = []
    for name in (*CALIBRATION, *CHECKS):
        if not (production_dir(name) / "chunk_00000.json").is_file():
            print(f"{name}: no production, skipped")
            continue
        rows += production_response(name, args.n_events)
    print(f"\n{'production':20s} {'daughter':>8s} {'truth':>6s} {'peak':>12s} {'peak/truth':>10s}")
    for r in rows:
        print(
            f"{r['production']:20s} {r['daughter']:>8s} {r['truth_gev']:6.0f} "
            f"{r['peak_gev']:6.1f} +- {r['peak_error_gev']:3.1f} {r['ratio']:10.3f}"
        )
    calibration = [abs(r["ratio"] - 1) for r in rows if r["production"] in CALIBRATION]
    largest = max(calibration) if calibration else float("nan")
    print(
        f"\nlargest |peak/truth - 1| on the calibration productions: {largest:.3f} "
        f"(package default {JET_MASS_SCALE_UNCERTAINTY})"
    )
    write_json_atomic(
        args.json,
        {
            "samples": {"n_events_per_production": args.n_events, "calibration": CALIBRATION},
            "rows": rows,
            "largest_calibration_deviation": largest,
            "package_default": JET_MASS_SCALE_UNCERTAINTY,
        },
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
