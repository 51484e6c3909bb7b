"""Why the answer's resonance mass comes out low on the toy: sculpting and the template's width.

Reads the results folders that ``benchmarks/signal_recovery.py --keep-outputs DIR`` kept (their
``report.json`` and ``selected_events.npz``, whose labels come from the toy's master key) and
measures, per set of runs:

* the mass pulls of the answer's profile (:func:`~anomsearch.answer.mass_profile.
  profile_resonance_mass`, over the range the answer scans: the SR widened by half its width on
  either side), of two other background models for it -- one more dijet parameter, and a fit
  range that starts where the scanned range does instead of at the fit range's low end (a
  background that turns over below it no longer enters) -- and of the answer's profile with
  the template at the toy's own mjj resolution instead of the config's ``stats.signal_width``;
* the same estimator on the selected *background alone* (label 0): where the profile puts a
  resonance that is not there, and the signal that signal + background fits
  (:func:`~anomsearch.background.spurious_signal`) find at the SR's low edge, centre and high
  edge -- the cut's spurious signal, which an injected resonance's mass fit then shares.

A score whose cut is flat in mjj leaves the background smooth: those fits scatter around zero.
CWoLa hunting on features that depend on mjj learns the SR's own jets and leaves a bump, which no
smooth background model absorbs. A template wider than the resonance moves the mass low on a
falling background (the spectrum's larger errors below the peak make the template's surplus tail
cheaper there).

Usage::

    python benchmarks/sculpted_mass_bias.py --runs uncorrelated=~/toy_indep/runs \\
        correlated=~/toy_p05_indep/runs [--injected 300 600 1000] [--out FILE]

References:
    G. Kasieczka, B. Nachman, D. Shih et al., arXiv:2101.08320, section 5 (sculpting in LHCO);
    A. Hallin et al., arXiv:2109.00546 (CATHODE: CWoLa's sculpting with correlated features);
    ATLAS Collaboration, arXiv:1407.6583 (the spurious signal of a background model).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch._io import write_json_atomic
from anomsearch.answer.mass_profile import mass_scan_range, profile_resonance_mass, signal_window
from anomsearch.background import spurious_signal
from anomsearch.data.generate.toy import ToyConfig
from anomsearch.exceptions import FitError
from anomsearch.stats import signal_shape_from_options

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("answer", "n_params+1", "fit from the scanned range", "the toy's width")


def _run_inputs(folder: Path) -> dict[str, Any]:
    """The selected spectrum, the selected background alone and the search's settings."""
    report = json.loads((folder / "report.json").read_text())
    background = report["background"]
    edges = np.asarray(background["bin_edges"], dtype=float)
    events = np.load(folder / "selected_events.npz", allow_pickle=False)
    stats = report["config"]["stats"]
    signal_region = tuple(float(v) for v in report["config"]["regions"]["signal_region"])
    return {
        "edges": edges,
        "observed": np.asarray(background["observed"], dtype=float),
        "background_only": np.histogram(events["mjj"][events["label"] == 0], edges)[0].astype(
            float
        ),
        "n_params": int(background["n_params"]),
        "shape": signal_shape_from_options(
            str(stats.get("signal_shape", "gaussian")),
            float(stats["signal_width"]),
            stats.get("crystal_ball"),
        ),
        "signal_region": signal_region,
        "mass_range": mass_scan_range(signal_region, edges),
    }


def _mass_pull(
    counts: np.ndarray, edges: np.ndarray, inputs: dict[str, Any], n_params: int, truth: float
) -> float | None:
    """``(mass - truth) / error`` (the error on the truth's side), None without a mass."""
    try:
        prof = profile_resonance_mass(
            counts,
            edges,
            mass_range=mass_scan_range(inputs["signal_region"], edges),
            shape=inputs["shape"],
            n_params=n_params,
        )
    except FitError:
        return None
    error = prof.mass_errors[1] if prof.mass < truth else prof.mass_errors[0]
    return (prof.mass - truth) / error if error > 0 else None


def measure_run(folder: Path, truth: float, true_width: float) -> dict[str, Any]:
    """The mass pulls of the answer's profile, of two other background models for it and of the
    template at the resonance's true relative width; the background-only fits of one run."""
    inputs = _run_inputs(folder)
    at_true_width = {**inputs, "shape": inputs["shape"]._replace(width=true_width)}
    edges, n_params = inputs["edges"], inputs["n_params"]
    start = int(np.searchsorted(edges, inputs["mass_range"][0] - 1e-9))
    pulls = {
        "answer": _mass_pull(inputs["observed"], edges, inputs, n_params, truth),
        "n_params+1": _mass_pull(inputs["observed"], edges, inputs, n_params + 1, truth),
        "fit from the scanned range": _mass_pull(
            inputs["observed"][start:], edges[start:], inputs, n_params, truth
        ),
        "the toy's width": _mass_pull(inputs["observed"], edges, at_true_width, n_params, truth),
    }
    try:
        fake = profile_resonance_mass(
            inputs["background_only"],
            edges,
            mass_range=inputs["mass_range"],
            shape=inputs["shape"],
            n_params=n_params,
        )
        fake_mass = fake.mass
    except FitError:  # no mass with a positive signal: nothing made up
        fake_mass = None
    low, high = inputs["signal_region"]
    spurious = {}
    for mass in (low, 0.5 * (low + high), high):
        width = inputs["shape"].width * mass
        window = signal_window(edges, mass, 2.0 * width)  # +-2 widths, as the profile's fits
        fit = spurious_signal(
            inputs["background_only"],
            bin_edges=edges,
            signal_region=window,
            n_params=n_params,
            signal_mass=mass,
            signal_width=width,
            signal_shape=inputs["shape"],
        )
        spurious[f"{mass:.4g}"] = [float(fit.signal), float(fit.signal_error)]
    return {
        "run": folder.name,
        "mass_pulls": pulls,
        "background_only_mass": fake_mass,
        "spurious": spurious,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pull means / widths, where the background alone puts a resonance, the mean spurious
    signals with their standard errors."""
    out: dict[str, Any] = {"n_runs": len(rows), "mass_pulls": {}}
    for variant in VARIANTS:
        values = np.array(
            [r["mass_pulls"][variant] for r in rows if r["mass_pulls"][variant] is not None]
        )
        out["mass_pulls"][variant] = {
            "mean": float(values.mean()),
            "width": float(values.std(ddof=1)),
            "n": int(values.size),
        }
    masses = np.array(
        [r["background_only_mass"] for r in rows if r["background_only_mass"] is not None]
    )
    out["background_only_mass"] = {
        "n_with_positive_signal": int(masses.size),
        "quantiles_16_50_84": np.percentile(masses, [16, 50, 84]).tolist() if masses.size else None,
    }
    out["spurious"] = {}
    for mass in rows[0]["spurious"]:
        signal = np.array([r["spurious"][mass][0] for r in rows])
        out["spurious"][mass] = {
            "mean": float(signal.mean()),
            "standard_error": float(signal.std(ddof=1) / math.sqrt(signal.size)),
            "mean_fit_error": float(np.mean([r["spurious"][mass][1] for r in rows])),
        }
    return out


def print_table(results: dict[str, Any]) -> None:
    print("\nresonance mass pulls (mean / width, n): variants of the answer's mass profile")
    print(f"{'runs, injected':>20} " + " ".join(f"{v:>28}" for v in VARIANTS))
    for name, res in results.items():
        cells = [
            f"{p['mean']:+.2f} / {p['width']:.2f} ({p['n']})" for p in res["mass_pulls"].values()
        ]
        print(f"{name:>20} " + " ".join(f"{c:>28}" for c in cells))
    print(
        "\nthe selected background alone (labels): spurious signal, mean +- s.e. (mean fit error)"
    )
    for name, res in results.items():
        where = res["background_only_mass"]
        q = where["quantiles_16_50_84"]
        span = f", 16/50/84% {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}" if q else ""
        print(
            f"{name:>20}: a positive signal's profile minimum in {where['n_with_positive_signal']}"
            f" of {res['n_runs']}{span}"
        )
        for mass, s in res["spurious"].items():
            print(
                f"{'':>22}at {mass}: {s['mean']:+.1f} +- {s['standard_error']:.1f} "
                f"({s['mean_fit_error']:.1f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", nargs="+", required=True, metavar="NAME=DIR", help="kept results folders"
    )
    parser.add_argument("--injected", type=int, nargs="+", default=[600])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "sculpted_mass_bias.json"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    toy = ToyConfig()
    results: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    for spec in args.runs:
        name, _, folder = spec.partition("=")
        pooled: list[dict[str, Any]] = []
        for injected in args.injected:
            folders = sorted(Path(folder).expanduser().glob(f"n{injected}_seed*"))
            if not folders:
                parser.error(f"--runs {spec}: no n{injected}_seed* folders there")
            key = f"{name}, {injected}"
            runs[key] = [
                measure_run(f, toy.resonance_mass, toy.resonance_resolution) for f in folders
            ]
            results[key] = summarise(runs[key])
            pooled += runs[key]
        if len(args.injected) > 1:
            results[f"{name}, all"] = summarise(pooled)
    print_table(results)
    write_json_atomic(
        args.out,
        {
            "samples": {
                "injected": args.injected,
                "truth_mass": toy.resonance_mass,
                "truth_relative_width": toy.resonance_resolution,
                "runs": {s.partition("=")[0]: s.partition("=")[2] for s in args.runs},
                "note": "signal_recovery.py runs (quickstart config, 1M toy background each)",
            },
            "summary": results,
            "rows": runs,
        },
    )


if __name__ == "__main__":
    main()
