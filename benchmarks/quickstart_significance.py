"""Benchmark: local significance of the quickstart search with and without the score cut.

Runs the quickstart configuration (or another config) for several seeds with the injected signal
and with background only, and prints a table next to the published reference figures; writes JSON.

Usage:
    python benchmarks/quickstart_significance.py [--config configs/quickstart.yaml] \
        [--seeds 1 2 3] [--n-background N] [--out benchmarks/results/quickstart_significance.json]

Published reference (LHCO R&D, 1000 injected, SR [3.3, 3.7] TeV): S/B 0.636%, S/sqrt(B) 2.14;
cut-and-count with a sideband background (arXiv:2411.00085): 7.9 sigma idealized (no systematics),
~6 sigma CATHODE with systematics; CWoLa hunting max SIC 10.75 (arXiv:2109.00546).
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
import time
from pathlib import Path

from anomsearch import workflow
from anomsearch._io import write_json_atomic
from anomsearch.config import load_config
from anomsearch.provenance import provenance

PUBLISHED = {
    "S/B in SR (1000 injected)": 0.00636,
    "S/sqrt(B) in SR (1000 injected)": 2.14,
    "cut-and-count Z, idealized, no systematics (2411.00085)": 7.9,
    "cut-and-count Z, CATHODE, with systematics (2411.00085)": 6.0,
    "max SIC, CWoLa hunting (2109.00546)": 10.75,
}


def _run(config: dict, out: Path) -> dict:
    start = time.perf_counter()
    result = workflow.run(copy.deepcopy(config), output_dir=out)
    report = result.report
    truth = report["truth"] or {}
    n_b = truth.get("n_background_sr", 0)
    n_s = truth.get("n_signal_sr", 0)
    return {
        "seed": config["seed"],
        "n_signal": (config.get("injection") or {}).get("n_signal", 0),
        "Z_cut": report["significance"],
        "Z_no_cut": report["reference"]["no_cut"]["significance"],
        "mu_hat": report["mu_hat"],
        "mu_hat_error": report["mu_hat_error"],
        "n_signal_sr_selected": truth.get("n_signal_sr_selected"),
        "S/B_SR": n_s / n_b if n_b else None,
        "S/sqrtB_SR": n_s / n_b**0.5 if n_b else None,
        "max_sic": (report["metrics"] or {}).get("max_sic"),
        "auc": (report["metrics"] or {}).get("auc"),
        "wall_seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n-background", type=int, default=None)
    parser.add_argument("--no-background-only", action="store_true")
    parser.add_argument(
        "--out", default="benchmarks/results/quickstart_significance.json", type=Path
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = load_config(args.config).to_dict()
    base["output"]["plots"] = False
    if args.n_background:
        base["data"]["n_background"] = args.n_background
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            variants = [("signal", base.get("injection"))]
            if not args.no_background_only:
                variants.append(("background-only", {"n_signal": 0}))
            for label, injection in variants:
                cfg = copy.deepcopy(base)
                cfg["seed"] = seed
                cfg["injection"] = injection
                row = {"dataset": label, **_run(cfg, Path(tmp) / f"{label}-{seed}")}
                rows.append(row)
                print(
                    f"{label:16s} seed {seed}: Z(cut) = {row['Z_cut']:.2f}, "
                    f"Z(no cut) = {row['Z_no_cut']:.2f}, mu_hat = {row['mu_hat']:.0f} "
                    f"+- {row['mu_hat_error']:.0f} (true selected {row['n_signal_sr_selected']}), "
                    f"max SIC = {row['max_sic']}, {row['wall_seconds']:.0f} s",
                    flush=True,
                )
    print("\n| dataset | seed | Z with cut | Z without cut | mu_hat | max SIC | wall s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        sic = "-" if r["max_sic"] is None else f"{r['max_sic']:.1f}"
        print(
            f"| {r['dataset']} | {r['seed']} | {r['Z_cut']:.2f} | {r['Z_no_cut']:.2f} | "
            f"{r['mu_hat']:.0f} +- {r['mu_hat_error']:.0f} | {sic} | {r['wall_seconds']:.0f} |"
        )
    print("\nPublished figures (LHCO R&D):")
    for k, v in PUBLISHED.items():
        print(f"  {k}: {v}")
    write_json_atomic(
        args.out,
        {"config": args.config, "rows": rows, "published": PUBLISHED, "provenance": provenance()},
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
