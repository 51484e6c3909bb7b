"""Calibration of the window scan on background-only data: local p-values and the global p-value.

Runs the pipeline's own scan (the same code as ``scan.global_toys``) on N background-only toy
datasets and compares

* every (window, efficiency) local significance with its asymptotic distribution under the
  background-only hypothesis (Z = 0 with probability 1/2, P(Z > z) = 1 - Phi(z) above), and
* the largest local Z per dataset with the Sidak approximation the pipeline uses without toys,
  P(max Z > z) = 1 - Phi(z)^N_eff (for z > 0),

printing a table and writing JSON to ``benchmarks/results/scan_calibration.json``.

Usage::

    python benchmarks/scan_calibration.py --n-datasets 40 --n-background 120000
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from anomsearch import workflow
from anomsearch.config import load_config
from anomsearch.data.sources import load_events
from anomsearch.stats.look_elsewhere import derive_toy_seeds

CONFIG: dict[str, Any] = {
    "name": "scan_calibration",
    "seed": 0,
    "data": {"source": "toy", "n_background": 120_000},
    "injection": None,
    "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
    "scan": {
        "mjj_min": 2.7,
        "mjj_max": 5.1,
        "width": 0.4,
        "step": 0.4,
        "sideband_width": 0.4,
        "efficiencies": [0.1, 0.02],
    },
    "method": {"name": "cwola", "n_folds": 2, "max_epochs": 3},
    "background": {"name": "bumphunt", "efficiency": 0.02, "fit_range": [2.7, 5.5]},
    "stats": {"limit_cl": None},
    "compute": {"cache": False},
    "output": {"plots": False},
}
THRESHOLDS = (1.0, 2.0, 3.0)


def _scan_zs(config: dict[str, Any], seed: int) -> list[float]:
    toy = load_config({**config, "seed": int(seed)})
    seeds = toy.derived_seeds()
    events = load_events(toy.data, injection=toy.injection, seeds=seeds)
    scan = workflow.scan_stage(events, workflow.build_method(toy, seeds), toy, seeds)
    return [float(r.significance) for r in scan.results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-datasets", type=int, default=40)
    parser.add_argument("--n-background", type=int, default=CONFIG["data"]["n_background"])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    raw = copy.deepcopy(CONFIG)
    raw["data"]["n_background"] = args.n_background
    config = load_config(raw).to_dict()
    start = time.perf_counter()
    per_dataset: list[list[float]] = []
    for i, seed in enumerate(derive_toy_seeds(args.seed, args.n_datasets)):
        per_dataset.append(_scan_zs(config, int(seed)))
        print(f"dataset {i + 1}/{args.n_datasets}: max local Z {max(per_dataset[-1]):.2f}")
    wall = time.perf_counter() - start

    local = np.concatenate([np.asarray(z) for z in per_dataset])
    best = np.array([max(z) for z in per_dataset])
    n_entries = len(per_dataset[0])
    scan = config["scan"]
    n_eff = (scan["mjj_max"] - scan["mjj_min"] - 2 * scan["sideband_width"]) / scan["width"]
    n_eff = max(1.0, n_eff) * len(scan["efficiencies"])
    rows = []
    for z in THRESHOLDS:
        p_local = float(stats.norm.sf(z))
        p_sidak = 1.0 - (1.0 - p_local) ** n_eff
        rows.append(
            {
                "z": z,
                "local_fraction": float(np.mean(local > z)),
                "local_expected": p_local,
                "local_error": math.sqrt(p_local * (1 - p_local) / local.size),
                "max_fraction": float(np.mean(best > z)),
                "max_sidak": p_sidak,
                "max_error": math.sqrt(p_sidak * (1 - p_sidak) / best.size),
            }
        )
    positive = local[local > 0]
    ks = stats.kstest(stats.norm.sf(positive) * 2.0, "uniform") if positive.size else None
    result = {
        "config": config,
        "n_datasets": args.n_datasets,
        "entries_per_dataset": n_entries,
        "n_trials_effective_sidak": n_eff,
        "fraction_zero": float(np.mean(local == 0)),
        "ks_local_p_given_positive": None if ks is None else float(ks.pvalue),
        "thresholds": rows,
        "local_z": [list(z) for z in per_dataset],
        "wall_seconds": wall,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "scan_calibration.json"
    path.write_text(json.dumps(result, indent=1))

    print(
        f"\n{args.n_datasets} background-only datasets x {n_entries} (window, efficiency) entries, "
        f"{wall:.0f} s; Z = 0 in {result['fraction_zero']:.2f} of the entries (expected 0.50); "
        f"KS of 2*(1-Phi(Z)) for Z > 0 against uniform: p = {result['ks_local_p_given_positive']}"
    )
    print("| z | P(local Z > z) measured | asymptotic | P(max Z > z) measured | Sidak |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['z']:g} | {r['local_fraction']:.4f} | {r['local_expected']:.4f} "
            f"+- {r['local_error']:.4f} | {r['max_fraction']:.3f} | {r['max_sidak']:.3f} "
            f"+- {r['max_error']:.3f} |"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
