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
import json
import logging
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from anomsearch.data.events import EventTable
from anomsearch.data.io.lhco import write_features_h5, write_master_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sensitivity import production_events

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "analyses" / "blackbox" / "blind_search.yaml"
RESULTS = Path(__file__).resolve().parent / "results"

#: (q* mass in GeV, signal events) of the default boxes, each with seeds 1-3.
DEFAULT_BOXES = ((3300, 1200), (3800, 1400), (4000, 1000))


def parse_box(text: str) -> tuple[int, int, int]:
    """``mass_gev:n_signal:seed``."""
    mass, n_signal, seed = (int(v) for v in text.split(":"))
    return mass, n_signal, seed


def write_box(index: int, mass: int, n_signal: int, seed: int, args: Any) -> dict[str, Any]:
    """The box's features file, master key and truth; the truth S/sqrt(B) per scan window."""
    start = index * args.n_background
    background = production_events("qcd", start, start + args.n_background, label=0)
    # seed s takes the s-th slice of the signal production: boxes share no signal event
    signal = production_events(f"qstar_{mass}", (seed - 1) * n_signal, seed * n_signal, label=1)
    rng = np.random.default_rng([seed, mass])
    events = EventTable.concatenate([background, signal])
    events = events.subset(rng.permutation(len(events)))
    stem = args.out / f"qstar_{mass}_seed{seed}"
    write_features_h5(
        EventTable(events.jets, label=events.label),
        stem.with_suffix(".features.h5"),
        include_label=False,
    )
    write_master_key(events.label, stem.with_suffix(".masterkey.txt"))
    truth = {"resonance_mass": float(mass), "n_signal": int(n_signal), "daughter_masses": []}
    stem.with_suffix(".truth.json").write_text(json.dumps(truth))
    mjj, is_signal = events.mjj, events.label == 1
    windows = []
    config = yaml.safe_load(TEMPLATE.read_text())["scan"]
    low = config["mjj_min"] + config["sideband_width"]
    while low + config["width"] <= config["mjj_max"] - config["sideband_width"] + 1e-9:
        high = low + config["width"]
        inside = (mjj >= low) & (mjj < high)
        s, b = int((inside & is_signal).sum()), int((inside & ~is_signal).sum())
        windows.append(
            {
                "sr": [round(low, 3), round(high, 3)],
                "s": s,
                "b": b,
                "s_over_sqrt_b": s / math.sqrt(max(b, 1)),
            }
        )
        low = round(low + config["step"], 9)
    return {"stem": str(stem), "n_events": len(events), "truth": truth, "windows": windows}


def run_box(box: dict[str, Any], args: Any) -> dict[str, Any]:
    """``anomsearch run``, ``submit`` and ``score-submission`` on one box (with
    ``--run-missing``, a box whose results hold an answer is only read back)."""
    stem = Path(box["stem"])
    config = yaml.safe_load(TEMPLATE.read_text())
    config["name"] = stem.name
    config["data"]["path"] = str(stem.with_suffix(".features.h5"))
    config["data"]["master_key"] = str(stem.with_suffix(".masterkey.txt"))
    config["output"] = {"dir": str(stem.parent / f"{stem.name}_results")}
    cfg_path = stem.with_suffix(".yaml")
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    exe = Path(sys.executable).parent / "anomsearch"
    results = Path(config["output"]["dir"])
    started = time.perf_counter()
    if not (args.run_missing and (results / "answer.json").is_file()):
        subprocess.run([str(exe), "run", str(cfg_path)], check=True)
        subprocess.run([str(exe), "submit", str(results)], check=True)
    seconds = time.perf_counter() - started
    scored = subprocess.run(
        [
            str(exe),
            "score-submission",
            str(results / "answer.json"),
            str(stem.with_suffix(".truth.json")),
        ],
        capture_output=True,
        text=True,
    )
    report = json.loads((results / "report.json").read_text())
    answer = json.loads((results / "answer.json").read_text())
    details = json.loads((results / "answer_details.json").read_text())
    return {
        "report": report,
        "answer": answer,
        "details": details,
        "seconds": seconds,
        "score_text": scored.stdout,
        "score_passed": scored.returncode == 0,
    }


def summarise(box: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """One table row."""
    truth_window = max(box["windows"], key=lambda w: w["s_over_sqrt_b"])
    rows = run["report"]["scan"]["windows"]
    inclusive = [
        r
        for r in rows
        if r["efficiency"] == 1.0 and [r["sr_low"], r["sr_high"]] == truth_window["sr"]
    ]
    best = run["report"]["scan"]["best"] or {}
    # the measurements even where the answer withholds them (no claim below 3 sigma global)
    measured = run["details"].get("measurements") or {}
    mass = measured.get("resonance_mass_gev") or {}
    truth_mass = box["truth"]["resonance_mass"]
    mass_ratio = mass.get("value", math.nan) / truth_mass if mass else math.nan
    return {
        "box": Path(box["stem"]).name,
        "n_events": box["n_events"],
        "truth": box["truth"],
        "truth_window": truth_window,
        "inclusive_local_z_truth_window": inclusive[0]["significance"] if inclusive else None,
        "best": {
            k: best.get(k)
            for k in ("sr_low", "sr_high", "efficiency", "significance", "fit_passed")
        },
        "right_window": bool(best) and best["sr_low"] < truth_mass / 1000 < best["sr_high"],
        "global": run["report"].get("global"),
        "claiming_trial": run["details"].get("source", {}).get("trial"),
        "answer": run["answer"],
        "claimed": "resonance_mass" in run["answer"],
        "measured": measured,
        "mass_ratio": mass_ratio,
        "mass_within_5_percent": bool(abs(mass_ratio - 1) <= 0.05),
        "score_passed": run["score_passed"],
        "score_text": run["score_text"],
        "seconds": run["seconds"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'box':22s} {'truth SR':>11s} {'S/sqrtB':>7s} {'incl. Z':>7s} {'best entry':>22s} "
        f"{'global p':>8s} {'claim':>5s} {'trial':>10s} {'m / M':>6s} {'n_sig':>12s}"
    )
    for r in rows:
        best = r["best"]
        entry = (
            (
                f"[{best['sr_low']:.1f},{best['sr_high']:.1f}] e={best['efficiency']:g} "
                f"Z={best['significance']:.1f}"
            )
            if best.get("sr_low") is not None
            else "-"
        )
        n_sig = r["measured"].get("n_signal") or {}
        n_txt = (
            f"{n_sig.get('value', math.nan):.0f}+-{n_sig.get('uncertainty', math.nan):.0f}"
            if n_sig
            else "-"
        )
        g = (r["global"] or {}).get("p_value", math.nan)
        incl = r["inclusive_local_z_truth_window"]
        trial = "inclusive" if str(r["claiming_trial"]).startswith("inclusive") else "score cut"
        print(
            f"{r['box']:22s} {r['truth_window']['sr']!s:>11s} "
            f"{r['truth_window']['s_over_sqrt_b']:7.2f} "
            f"{incl if incl is None else round(incl, 2)!s:>7s} {entry:>22s} {g:8.3g} "
            f"{'yes' if r['claimed'] else 'no':>5s} "
            f"{trial:>10s} {r['mass_ratio']:6.3f} {n_txt:>12s}"
            f" (truth {r['truth']['n_signal']})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--boxes",
        nargs="+",
        default=[f"{m}:{n}:{s}" for s in (1, 2, 3) for m, n in DEFAULT_BOXES],
        help="mass_gev:n_signal:seed per box",
    )
    parser.add_argument("--n-background", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=RESULTS / "qstar_boxes.json")
    parser.add_argument(
        "--run-missing",
        action="store_true",
        help="search only the boxes without an answer in --out (resume a stopped run)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, text in enumerate(args.boxes):
        mass, n_signal, seed = parse_box(text)
        box = write_box(index, mass, n_signal, seed, args)
        rows.append(summarise(box, run_box(box, args)))
        print_table(rows)
    out = {
        "samples": {
            "n_background_per_box": args.n_background,
            "boxes": args.boxes,
            "config": str(TEMPLATE.relative_to(ROOT)),
        },
        "boxes": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2, default=str))
    tmp.replace(args.json)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
