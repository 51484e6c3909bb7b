"""Jet-mass response of the Pythia chain: where the answer's estimator puts the reconstructed
jet-mass peak of a daughter, against the daughter's mass, and the response correction fitted to it.

The black-box answer gives particle masses, the daughter-mass fit measures the peak of a
reconstructed (R = 1.0, detector-level) jet mass. For every W' production of
:mod:`benchmarks.pythia_production` with daughters, the lighter and the heavier jet mass of the
signal events are fitted with the answer's own estimator
(:func:`anomsearch.answer.daughter_masses.estimate_daughter_masses`: its default peak shape and
the answer's 10 GeV bins, no background) and compared with the generated X and Y masses. The
form ``m_peak^2 = s^2 m^2 + delta`` (``JetMassResponse`` of
:mod:`anomsearch.answer.daughter_systematics`) is fitted to the calibration productions (the
``wprime*`` samples; the ``blackbox_*`` signals are listed but kept out of it, as a check) by
weighted least squares of ``m_peak^2`` against ``m^2``; the offset's error is the spread of the
light daughters' (<= 200 GeV) own offsets, where the underlying event dominates; the largest
deviation of a corrected peak from its particle's mass on the calibration productions bounds the
jet-mass-scale uncertainty. The package's defaults (``PYTHIA_JET_MASS_RESPONSE``,
``JET_MASS_SCALE_UNCERTAINTY``) are printed beside.

``--subsample-sizes`` measures the estimator at the statistics of a black box: the peaks of
``--n-subsamples`` random subsamples of each size (signal alone, drawn from the production's
first ``--subsample-pool`` events) against the whole pool's peak: mean offset, scatter,
median error and pulls.
The calibration is made at high statistics; a skewed peak fitted to ~100 events has tails the
data hardly constrain, which moves its mode (a low-statistics bias the answer states).

Usage:
    python benchmarks/jet_mass_response.py [--n-events 3000] [--subsample-sizes 100 200 400]

Writes ``benchmarks/results/jet_mass_response.json`` and prints the table.

References:
    LHC Olympics 2020 (daughter masses in the answer): arXiv:2101.08320. Underlying event in
    the jet mass: M. Dasgupta, L. Magnea, G. P. Salam, arXiv:0712.3014.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch._io import write_json_atomic
from anomsearch.answer.daughter_masses import daughter_mass_bins, estimate_daughter_masses
from anomsearch.answer.daughter_systematics import (
    JET_MASS_SCALE_UNCERTAINTY,
    PYTHIA_JET_MASS_RESPONSE,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pythia_production import SAMPLES, production_dir
from sensitivity import production_events

RESULTS = Path(__file__).resolve().parent / "results"
CALIBRATION = ("wprime", "wprime_x300_y200", "wprime_3prong", "wprime_3prong_both")
CHECKS = ("blackbox_a", "blackbox_b")
BIN_WIDTH = 0.01  # TeV: the answer's daughter_bin_width


def signal_jet_masses(name: str, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_events`` (at most those produced) signal events' jet masses (TeV;
    [lighter, heavier]) and the answer's own bins for them."""
    available = len(list(production_dir(name).glob("chunk_*.json"))) * 1000
    events = production_events(name, 0, min(n_events, available), label=1)
    masses = np.sort(events.jets[:, :, 3], axis=1) / 1000.0
    return masses, daughter_mass_bins(masses, BIN_WIDTH)


def signal_peaks(masses: np.ndarray, bins: np.ndarray) -> list[Any]:
    """The answer's estimator on the signal alone (a negligible background, one template
    event)."""
    return estimate_daughter_masses(masses, masses[:1], n_background_sr=1e-9, bins=bins)


def production_response(name: str, n_events: int) -> list[dict[str, Any]]:
    """The lighter and heavier daughters' peaks (the answer's estimator) of one production."""
    config = SAMPLES[name][0]
    masses, bins = signal_jet_masses(name, n_events)
    peaks = signal_peaks(masses, bins)
    rows = []
    for k, (truth, peak) in enumerate(zip(sorted([config.m_y, config.m_x]), peaks, strict=True)):
        rows.append(
            {
                "production": name,
                "process": config.process,
                "daughter": "lighter" if k == 0 else "heavier",
                "truth_gev": truth,
                "peak_gev": 1000.0 * peak.value,
                "peak_error_gev": 1000.0 * peak.error,
                "ratio": 1000.0 * peak.value / truth,
                "n_events": len(masses),
            }
        )
    return rows


def low_statistics(
    name: str, n_events: int, sizes: list[int], n_subsamples: int, seed: int = 1
) -> list[dict[str, Any]]:
    """The estimator's peaks on random subsamples of each size against the full sample's."""
    masses, bins = signal_jet_masses(name, n_events)
    full = signal_peaks(masses, bins)
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        found = [[] for _ in full]  # per daughter: (peak, error) in GeV
        for _ in range(n_subsamples):
            sub = masses[rng.choice(len(masses), size, replace=False)]
            peaks = signal_peaks(sub, bins)
            for k, peak in enumerate(peaks):
                if peak.converged:
                    found[k].append((1000.0 * peak.value, 1000.0 * peak.error))
        for k, daughter in enumerate(("lighter", "heavier")):
            values = np.array(found[k]).reshape(-1, 2)
            pulls = (values[:, 0] - 1000.0 * full[k].value) / values[:, 1]
            rows.append(
                {
                    "production": name,
                    "daughter": daughter,
                    "n_signal": size,
                    "n_fits": len(values),
                    "full_sample_peak_gev": 1000.0 * full[k].value,
                    "mean_offset_gev": float(values[:, 0].mean() - 1000.0 * full[k].value),
                    "mean_offset_error_gev": float(values[:, 0].std(ddof=1) / np.sqrt(len(values))),
                    "scatter_gev": float(values[:, 0].std(ddof=1)),
                    "median_error_gev": float(np.median(values[:, 1])),
                    "pull_mean": float(pulls.mean()),
                    "pull_width": float(pulls.std(ddof=1)),
                }
            )
    return rows


def print_low_statistics(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'production':12s} {'daughter':>8s} {'n':>5s} {'offset (GeV)':>13s} {'scatter':>7s}"
        f" {'error':>6s} {'pulls':>11s}"
    )
    for r in rows:
        print(
            f"{r['production']:12s} {r['daughter']:>8s} {r['n_signal']:5d} "
            f"{r['mean_offset_gev']:+6.1f} +- {r['mean_offset_error_gev']:3.1f} "
            f"{r['scatter_gev']:7.1f} {r['median_error_gev']:6.1f} "
            f"{r['pull_mean']:+5.2f}/{r['pull_width']:.2f}"
        )


def fit_response(rows: list[dict[str, Any]]) -> dict[str, float]:
    """``m_peak^2 = s^2 m^2 + delta`` by weighted least squares (GeV, GeV^2), the offset's error
    from the light daughters' spread."""
    m2 = np.array([r["truth_gev"] ** 2 for r in rows])
    p2 = np.array([r["peak_gev"] ** 2 for r in rows])
    sigma = np.array([2.0 * r["peak_gev"] * max(r["peak_error_gev"], 0.1) for r in rows])
    design = np.column_stack([m2, np.ones_like(m2)]) / sigma[:, None]
    (slope, offset), *_ = np.linalg.lstsq(design, p2 / sigma, rcond=None)
    light = [p - slope * m for p, m, r in zip(p2, m2, rows, strict=True) if r["truth_gev"] <= 200]
    return {
        "scale": float(np.sqrt(slope)),
        "offset_gev2": float(offset),
        "offset_error_gev2": float(np.std(light, ddof=1)) if len(light) > 1 else float("nan"),
        "n_light": len(light),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-events", type=int, default=3000)
    parser.add_argument("--json", type=Path, default=RESULTS / "jet_mass_response.json")
    parser.add_argument("--subsample-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--n-subsamples", type=int, default=60)
    parser.add_argument("--subsample-pool", type=int, default=20_000)
    parser.add_argument(
        "--subsample-productions", nargs="+", default=["wprime"], help="for --subsample-sizes"
    )
    args = parser.parse_args()
    rows = []
    for name in (*CALIBRATION, *CHECKS):
        if not (production_dir(name) / "chunk_00000.json").is_file():
            print(f"{name}: no production, skipped")
            continue
        rows += production_response(name, args.n_events)
    fit = fit_response([r for r in rows if r["production"] in CALIBRATION])
    default = PYTHIA_JET_MASS_RESPONSE
    for r in rows:
        corrected = default.particle_mass(r["peak_gev"] / 1000.0) * 1000.0
        r["corrected_gev"] = corrected
        r["corrected_ratio"] = corrected / r["truth_gev"]
    print(
        f"\n{'production':20s} {'daughter':>8s} {'truth':>6s} {'peak':>14s} {'peak/truth':>10s}"
        f" {'corrected':>9s} {'/truth':>7s}"
    )
    for r in rows:
        print(
            f"{r['production']:20s} {r['daughter']:>8s} {r['truth_gev']:6.0f} "
            f"{r['peak_gev']:7.1f} +- {r['peak_error_gev']:3.1f} {r['ratio']:10.3f}"
            f" {r['corrected_gev']:9.1f} {r['corrected_ratio']:7.3f}"
        )
    calibration = [r for r in rows if r["production"] in CALIBRATION]
    before = max((abs(r["ratio"] - 1) for r in calibration), default=float("nan"))
    after = max((abs(r["corrected_ratio"] - 1) for r in calibration), default=float("nan"))
    print(
        f"\nfit to the calibration productions: s = {fit['scale']:.4f}, delta = "
        f"{fit['offset_gev2']:.0f} +- {fit['offset_error_gev2']:.0f} GeV^2 (package default: "
        f"{default.scale}, {default.offset * 1e6:.0f} +- {default.offset_error * 1e6:.0f})"
    )
    print(
        f"largest |peak/truth - 1| on the calibration productions: {before:.3f} before, "
        f"{after:.3f} after the default correction (jet-mass-scale uncertainty: "
        f"{JET_MASS_SCALE_UNCERTAINTY})"
    )
    low = [
        row
        for name in args.subsample_productions
        for row in low_statistics(
            name, args.subsample_pool, args.subsample_sizes, args.n_subsamples
        )
    ]
    if low:
        print_low_statistics(low)
    write_json_atomic(
        args.json,
        {
            "samples": {
                "n_events_per_production": args.n_events,
                "calibration": CALIBRATION,
                "estimator": "estimate_daughter_masses (default peak shape), 10 GeV bins",
                "n_subsamples": args.n_subsamples if low else 0,
                "subsample_pool": args.subsample_pool if low else 0,
            },
            "low_statistics": low,
            "rows": rows,
            "fit": fit,
            "largest_calibration_deviation": before,
            "largest_calibration_deviation_corrected": after,
            "package_default": {
                "jet_mass_scale_uncertainty": JET_MASS_SCALE_UNCERTAINTY,
                "scale": default.scale,
                "offset_gev2": default.offset * 1e6,
                "offset_error_gev2": default.offset_error * 1e6,
            },
        },
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
