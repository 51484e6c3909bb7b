"""The LHC Olympics R&D benchmark for every method, through the whole chain (analyses/lhco_rnd/).

Each config of ``analyses/lhco_rnd/`` (one per method) runs with ``anomsearch run``; the table
puts the method's max SIC in the signal region, its local Z after the 1% cut (sideband fit +
pyhf) and its wall time next to the published max SIC (arXiv:2109.00546: median of 10
trainings on the R&D set with 1000 injected events, from its SIC curves and code).

Data:

* **The real R&D file** when ``lhco-rnd-features`` is in the cache (``anomsearch data download
  lhco-rnd-features``; the idealized detector also needs ``lhco-extra-qcd-features``): the
  configs run unchanged (SALAD and SA-CWoLa only with ``--simulation FILE``, a simulated QCD
  sample in the features layout, which the R&D set does not have).
* **The Pythia R&D-like set** otherwise (``--pythia`` forces it): the package's own Pythia 8 chain,
  productions of :mod:`benchmarks.pythia_production` (``qcd``, ``wprime`` = W'(3.5 TeV) ->
  X(500) Y(100), ``simulation`` = QCD with the A14 tune and a softer FSR). The data file holds the
  first ``--n-background`` QCD events and the first 10k W' events, labelled like the R&D file;
  ``--n-inject`` of the W' are injected (default: the R&D's S/B, 1000 per 1M QCD). The rest of
  the QCD stream inside the SR is the idealized detector's extra sample (as Zenodo 5759087 is),
  the next 10k W' the supervised classifier's signal sample, and ``--n-simulation`` events of the
  ``simulation`` production SALAD's and SA-CWoLa's simulation (those two are skipped, and said so,
  without that production).

Usage:
    nice -n 19 python benchmarks/pythia_production.py --samples qcd:1000000 wprime:20000 \
        simulation:60000
    python benchmarks/lhco_rnd.py --out ~/lhco-rnd [--methods cwola cathode ...]

Writes ``benchmarks/results/lhco_rnd.json`` (``--json``) and prints the table.

References:
    LHC Olympics 2020: arXiv:2101.08320. CATHODE and the published max SIC: A. Hallin et al.,
    Phys. Rev. D 106 (2022) 055006, arXiv:2109.00546.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from anomsearch.data.events import EventTable
from anomsearch.data.io.download import dataset_paths
from anomsearch.data.io.lhco import write_features_h5

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blind_boxes import jets_only, merge_config
from pythia_production import production_dir
from sensitivity import production_events

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "analyses" / "lhco_rnd"
RESULTS = Path(__file__).resolve().parent / "results"

METHODS = ("supervised", "idealized", "cwola", "cathode", "salad", "sa_cwola")
NEEDS_SIMULATION = ("salad", "sa_cwola")

#: Max SIC on the R&D set, 1000 injected, median of 10 trainings (arXiv:2109.00546 and its
#: code); None where that paper has no number.
PUBLISHED_MAX_SIC: dict[str, float | None] = {
    "supervised": 17.65,
    "idealized": 15.08,
    "cwola": 10.75,
    "cathode": 13.99,
    "salad": None,
    "sa_cwola": None,
}

SIGNAL_POOL = 10_000  # W' events in the data file (the injection pool), then the supervised ones


def pythia_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """Write the Pythia R&D-like files into ``args.out``; the config overrides per method."""
    out = args.out / "inputs"
    out.mkdir(parents=True, exist_ok=True)
    n_qcd_total = len(list(production_dir("qcd").glob("chunk_*.json"))) * 1000
    if args.n_background >= n_qcd_total:
        raise SystemExit(f"--n-background must leave QCD events for the reference ({n_qcd_total})")
    data = EventTable.concatenate(
        [
            production_events("qcd", 0, args.n_background, label=0),
            production_events("wprime", 0, SIGNAL_POOL, label=1),
        ]
    )
    data_path = out / "rnd_like.features.h5"
    write_features_h5(jets_only(data), data_path)
    extra = production_events("qcd", args.n_background, n_qcd_total, label=0)
    inner = (extra.mjj >= 3.3) & (extra.mjj < 3.7)
    extra_path = out / "extra_qcd_inneronly.features.h5"
    write_features_h5(jets_only(extra.subset(np.flatnonzero(inner))), extra_path)
    signal = production_events("wprime", SIGNAL_POOL, 2 * SIGNAL_POOL, label=1)
    signal_path = out / "signal_reference.features.h5"
    write_features_h5(jets_only(signal), signal_path)
    n_inject = args.n_inject or round(1000 * args.n_background / 1_000_000)
    common = {"data": {"path": str(data_path)}, "injection": {"n_signal": n_inject}}
    overrides = {m: json.loads(json.dumps(common)) for m in METHODS}
    overrides["idealized"]["data"]["reference_background_path"] = str(extra_path)
    overrides["supervised"]["data"]["reference_signal_path"] = str(signal_path)
    n_sim = len(list(production_dir("simulation").glob("chunk_*.json"))) * 1000
    if n_sim >= args.n_simulation:
        simulation = production_events("simulation", 0, args.n_simulation, label=0)
        sim_path = out / "simulation.features.h5"
        write_features_h5(jets_only(simulation), sim_path)
        for m in NEEDS_SIMULATION:
            overrides[m]["data"]["reference_simulation_path"] = str(sim_path)
    else:
        for m in NEEDS_SIMULATION:
            overrides[m] = None
            print(f"{m}: skipped, the simulation production has {n_sim} < {args.n_simulation}")
    in_sr = (data.mjj >= 3.3) & (data.mjj < 3.7) & (data.label == 0)
    samples = {
        "data": "pythia",
        "n_background": args.n_background,
        "n_inject": n_inject,
        "n_background_sr": int(in_sr.sum()),
        "n_idealized_reference_sr": int(inner.sum()),
        "n_supervised_reference": len(signal),
        "n_simulation": args.n_simulation if n_sim >= args.n_simulation else 0,
    }
    return {"overrides": overrides, "samples": samples}


def real_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The configs as they are, on the cached R&D file."""
    overrides: dict[str, Any] = {m: {} for m in METHODS}
    if not all(p.is_file() for p in dataset_paths("lhco-extra-qcd-features")):
        overrides["idealized"] = None
        print("idealized: skipped, lhco-extra-qcd-features is not in the cache")
    for m in NEEDS_SIMULATION:
        overrides[m] = (
            {"data": {"reference_simulation_path": str(args.simulation)}}
            if args.simulation
            else None
        )
    return {"overrides": overrides, "samples": {"data": "lhco-rnd-features", "n_inject": 1000}}


def run_method(method: str, override: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``anomsearch run`` of one config; the row of the table."""
    config = yaml.safe_load((CONFIGS / f"{method}.yaml").read_text())
    for key in override.get("data", {}):  # a path replaces the config's dataset name
        if key.endswith("path"):
            config["data"].pop(key[: -len("path")] + "dataset", None)
    merge_config(config, override)
    config["output"] = {"dir": str(args.out / method)}
    config_path = args.out / f"{method}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    exe = Path(sys.executable).parent / "anomsearch"
    started = time.perf_counter()
    if not (args.run_missing and (args.out / method / "report.json").is_file()):
        subprocess.run([str(exe), "run", str(config_path)], check=True)
    seconds = time.perf_counter() - started
    report = json.loads((args.out / method / "report.json").read_text())
    metrics = report.get("metrics") or {}
    return {
        "method": method,
        "max_sic": metrics.get("max_sic"),
        "auc": metrics.get("auc"),
        "local_z": report["significance"],
        "mu_hat": report["mu_hat"],
        "mu_hat_error": report["mu_hat_error"],
        "truth": report.get("truth"),
        "inverse_jsd": (report.get("decorrelation") or {}).get("inverse_jsd"),
        "published_max_sic": PUBLISHED_MAX_SIC[method],
        "seconds": (report.get("timing") or {}).get("total_seconds", seconds),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a text table."""
    print(
        f"\n{'method':11s} {'max SIC':>8s} {'AUC':>6s} {'local Z':>8s} {'fitted S':>12s} "
        f"{'true S sel.':>11s} {'1/JSD':>7s} {'wall':>7s} {'published':>9s}"
    )
    for r in rows:
        truth = r["truth"] or {}
        published = r["published_max_sic"]
        print(
            f"{r['method']:11s} {r['max_sic']:8.2f} {r['auc']:6.3f} {r['local_z']:8.2f} "
            f"{r['mu_hat']:6.0f}+-{r['mu_hat_error']:<5.0f} "
            f"{truth.get('n_signal_sr_selected', '-')!s:>11s} {r['inverse_jsd'] or 0:7.0f} "
            f"{r['seconds']:6.0f}s {'-' if published is None else published:>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--pythia", action="store_true", help="the Pythia set even if real")
    parser.add_argument("--n-background", type=int, default=700_000)
    parser.add_argument("--n-inject", type=int, default=None)
    parser.add_argument("--n-simulation", type=int, default=60_000)
    parser.add_argument("--simulation", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=RESULTS / "lhco_rnd.json")
    parser.add_argument(
        "--run-missing", action="store_true", help="read back the methods already run in --out"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    real = all(p.is_file() for p in dataset_paths("lhco-rnd-features"))
    inputs = real_inputs(args) if real and not args.pythia else pythia_inputs(args)
    rows = []
    for method in args.methods:
        override = inputs["overrides"][method]
        if override is None:
            continue
        rows.append(run_method(method, override, args))
        print_table(rows)
    result = {"samples": inputs["samples"], "methods": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(args.json)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
