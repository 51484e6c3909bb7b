"""Benchmark: is the global p-value calibrated on Pythia background, and is Sidak?

``--subsets`` disjoint slices of ``--subset-size`` events of the ``qcd`` production (Pythia 8,
no signal), each written as an LHC Olympics features file, go through the blind search of
``analyses/blackbox/blind_search.yaml`` (CWoLa hunting with boosted trees, windows of 0.4 TeV
every 0.2 TeV, efficiencies 1, 0.1, 0.01) with ``scan.global_toys`` pseudo-datasets made from
the data (``scan.global_pseudo_donors``: ``smooth`` or ``blocks``), every pseudo-dataset
retrained through the whole scan. The subsets are exchangeable, so the largest local Z of the
*other* subsets is a sample of the true background-only distribution of the best entry: for every
subset the "true" global p-value is the fraction of the others at or above its own best local Z
(as in ``benchmarks/global_calibration.py`` for the toy). Compared with it:

* the data-driven global p (uniform on background-only data if calibrated; with few toys per
  subset the p-values are coarse, so the pooled toys' best local Z are also compared with the
  subsets' own: a two-sample KS test -- the pseudo-data must reproduce the null distribution of
  the best entry, which is what the global p reads off them; and each subset's p against the
  pooled toys of all subsets, ``p_pooled``, uniform if the pseudo-data are calibrated);
* Sidak's estimate (``N_eff`` from the window range, width, step and efficiencies), and the
  number of trials fitted to the pseudo-datasets' and to the subsets' maxima
  (:func:`anomsearch.stats.look_elsewhere.fit_effective_trials`);
* the local p-values of every (window, efficiency) against their asymptotic distribution
  (P(Z > z) = 1 - Phi(z), z > 0): the fraction above 1, 2, 3 sigma.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/pythia_global_calibration.py --out ~/pythia-nulls \\
        --subsets 20 --subset-size 50000 --toys 5 --donors smooth

Resumable: a subset whose results hold a report is read back, not searched again. Writes
``benchmarks/results/pythia_global_calibration_<donors>.json`` and prints the table.

Reference: a calibrated global p-value is uniform on background-only data, P(global Z > 2) =
2.3%; issue 20 asks >= 20 independent subsets of the Pythia stream.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from anomsearch import workflow
from anomsearch._io import write_json_atomic
from anomsearch.provenance import provenance
from anomsearch.stats.look_elsewhere import fit_effective_trials

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blind_boxes import RESULTS, TEMPLATE, BoxSpec, box_config, write_box
from global_calibration import (
    P_GLOBAL_Z2,
    exchangeable_p_values,
    fitted_trials_p_values,
    local_p_summary,
)


def _subset_config(stem: Path, toys: int, donors: str) -> dict[str, Any]:
    return box_config(
        stem,
        {
            "scan": {"global_toys": toys, "global_pseudo_donors": donors},
            "output": {"plots": False},
            "compute": {"cache": False},
        },
    )


def search_subset(index: int, args: argparse.Namespace) -> dict[str, Any]:
    """One background-only subset: written (once), searched (once), its global section read."""
    name = f"null_{args.subset_size // 1000}k_{index:02d}"
    stem = args.out / name
    results = args.out / f"{name}_{args.donors}_results"
    if not (results / "report.json").is_file():
        if not stem.with_suffix(".features.h5").is_file():
            spec = BoxSpec(name, index * args.subset_size, args.subset_size, None, 0, 0, index)
            write_box(spec, args.out)
        workflow.run(_subset_config(stem, args.toys, args.donors), output_dir=results)
    report = json.loads((results / "report.json").read_text())
    glob = report["global"]
    entries = [w for w in report["scan"]["windows"] if not w.get("skipped") and w["fit_passed"]]
    return {
        "subset": index,
        "events": [index * args.subset_size, (index + 1) * args.subset_size],
        "max_local_z": float(glob["local_significance"]),
        "p_data": float(glob["p_value"]),
        "toy_max_local_z": [float(z) for z in glob["toy_max_local_z"]],
        "sidak_p": float(glob["sidak"]["p_value"]),
        "n_trials_sidak": float(glob["n_trials_effective"]),
        "n_trials_measured": glob.get("n_trials_measured"),
        "local_z": [float(w["significance"]) for w in entries],
        "n_entries_failed_gate": sum(1 for w in report["scan"]["windows"] if not w["fit_passed"]),
        "best": {k: glob["window"][k] for k in ("sr_low", "sr_high")} | {"eff": glob["efficiency"]},
        "seconds": float(report["timing"]["total_seconds"]),  # the search (also when read back)
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Calibration figures of the data-driven p, Sidak and the local p-values."""
    z = np.array([r["max_local_z"] for r in rows])
    p_data = np.array([r["p_data"] for r in rows])
    sidak = np.array([r["sidak_p"] for r in rows])
    n = len(rows)
    p_true = exchangeable_p_values(z)
    toys = np.concatenate([r["toy_max_local_z"] for r in rows])
    p_pooled = np.array([(np.sum(toys >= zi) + 1) / (toys.size + 1) for zi in z])
    p_fitted = fitted_trials_p_values(rows)
    return {
        "n_subsets": n,
        "n_toys_pooled": int(toys.size),
        "median_data_max_z": float(np.median(z)),
        "median_toy_max_z": float(np.median(toys)),
        "ks_p_toys_vs_data_max_z": float(stats.ks_2samp(z, toys).pvalue),
        "ks_p_data_uniform": float(stats.kstest(p_data, "uniform").pvalue),
        "ks_p_pooled_uniform": float(stats.kstest(p_pooled, "uniform").pvalue),
        "ks_p_sidak_uniform": float(stats.kstest(sidak, "uniform").pvalue),
        "fraction_global_z_above_2_data": float(np.mean(p_data < P_GLOBAL_Z2)),
        "fraction_global_z_above_2_pooled": float(np.mean(p_pooled < P_GLOBAL_Z2)),
        "fraction_global_z_above_2_sidak": float(np.mean(sidak < P_GLOBAL_Z2)),
        "ks_p_fitted_uniform": float(stats.kstest(p_fitted, "uniform").pvalue),
        "mean_p_fitted": float(p_fitted.mean()),
        "fraction_global_z_above_2_fitted": float(np.mean(p_fitted < P_GLOBAL_Z2)),
        "fraction_max_local_z_above_3": float(np.mean(z > 3.0)),
        "mean_p_true": float(p_true.mean()),
        "mean_p_data": float(p_data.mean()),
        "mean_p_pooled": float(p_pooled.mean()),
        "mean_p_sidak": float(sidak.mean()),
        "fraction_p_data_below_p_true": float(np.mean(p_data < p_true)),
        "fraction_p_sidak_below_p_true": float(np.mean(sidak < p_true)),
        "n_trials_sidak": float(np.median([r["n_trials_sidak"] for r in rows])),
        "n_trials_fitted_toys": [
            (f := fit_effective_trials(toys)).n_trials,
            f.n_trials_error,
        ],
        "n_trials_fitted_subsets": [
            (f := fit_effective_trials(z)).n_trials,
            f.n_trials_error,
        ],
        **local_p_summary(rows),
        "p_true": [float(p) for p in p_true],
        "p_pooled": [float(p) for p in p_pooled],
        "p_fitted": [float(p) for p in p_fitted],
    }


def print_table(summary: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Per-subset lines, then the calibration figures."""
    print("| subset | max local Z | best SR, eff | p data (toys) | p pooled | p Sidak | p true |")
    print("|---|---|---|---|---|---|---|")
    for r, p, pp in zip(rows, summary["p_true"], summary["p_pooled"], strict=True):
        b = r["best"]
        print(
            f"| {r['subset']} | {r['max_local_z']:.2f} | {b['sr_low']:.1f}-{b['sr_high']:.1f}, "
            f"{b['eff']:g} | {r['p_data']:.3f} | {pp:.3f} | {r['sidak_p']:.3f} | {p:.3f} |"
        )
    for key, value in summary.items():
        if key not in ("p_true", "p_pooled", "p_fitted"):
            print(f"{key:34s} {value:.4g}" if isinstance(value, float) else f"{key:34s} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="boxes and results (outside git)")
    parser.add_argument("--subsets", type=int, default=20)
    parser.add_argument("--subset-size", type=int, default=50_000)
    parser.add_argument("--toys", type=int, default=5)
    parser.add_argument("--donors", choices=("smooth", "blocks"), default="smooth")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--summarise-only",
        action="store_true",
        help="recompute the summary of the results JSON from its rows (nothing is searched)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    json_path = args.json or RESULTS / f"pythia_global_calibration_{args.donors}.json"
    if args.summarise_only:
        data = json.loads(json_path.read_text())
        data["summary"] = summarise(data["rows"])
        print_table(data["summary"], data["rows"])
        write_json_atomic(json_path, data)
        print(f"wrote {json_path}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(args.subsets):
        rows.append(search_subset(index, args))
        r = rows[-1]
        print(
            f"subset {index}: max local Z {r['max_local_z']:.2f}, global p {r['p_data']:.3f} "
            f"(toys' max Z {', '.join(f'{z:.2f}' for z in r['toy_max_local_z'])}), Sidak p "
            f"{r['sidak_p']:.3f} ({r['seconds']:.0f} s)",
            flush=True,
        )
    summary = summarise(rows)
    print_table(summary, rows)
    write_json_atomic(
        json_path,
        {
            "benchmark": "global_calibration_pythia",
            "subset_size": args.subset_size,
            "n_toys": args.toys,
            "donors": args.donors,
            "config": str(TEMPLATE.relative_to(TEMPLATE.parents[2])),
            "summary": summary,
            "rows": rows,
            "provenance": provenance(),
        },
    )
    print(f"wrote {json_path}")
    if not all(math.isfinite(r["max_local_z"]) for r in rows):
        raise SystemExit("a subset has no finite local Z")


if __name__ == "__main__":
    main()
