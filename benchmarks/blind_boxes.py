"""Black boxes searched blind (analyses/blackbox/): a resonance with two-prong daughters, one with a
three-prong daughter, and one box with no signal, each searched with the same config and scored
against its master key.

A box is ``n_background`` QCD events of the ``qcd`` production (a slice of the stream no other box
of the run uses) plus ``n_signal`` events of a signal production of
:mod:`benchmarks.pythia_production` (none for the null box), shuffled, in the LHC Olympics
features layout without labels, with its master key (labels, one per line) and a truth JSON for
``anomsearch score-submission``. The signal productions are named ``blackbox_a`` and
``blackbox_b`` so that nothing the search reads says what they hold; their parameters are in
``pythia_production.SAMPLES`` and in the truth files the search never reads. Every box is searched
with ``analyses/blackbox/blind_search.yaml`` (the data path filled in), answered with
``anomsearch submit`` and scored with ``anomsearch score-submission``; the measurements behind an
answer that withholds them (no claim) are scored as well, to show what the search saw.

This module is also the library of ``benchmarks/qstar_boxes.py`` (:class:`BoxSpec`,
:func:`write_box`, :func:`run_box`, :func:`summarise`).

Usage:
    nice -n 19 python benchmarks/pythia_production.py --samples blackbox_a:3000 blackbox_b:3000
    python benchmarks/blind_boxes.py --out ~/blind-boxes    # three boxes of 300k QCD, ~3 min each
    python benchmarks/blind_boxes.py --out ~/blind-boxes --boxes box1   # one box; the others
        # keep their rows of the JSON

Writes ``benchmarks/results/blind_boxes.json`` and prints the table.

References:
    LHC Olympics 2020 (black boxes, answers, scoring): arXiv:2101.08320.
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
from typing import Any, NamedTuple

import numpy as np
import yaml

from anomsearch.answer.scoring import score_submission
from anomsearch.data.events import EventTable
from anomsearch.data.io.lhco import write_features_h5, write_master_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pythia_production import SAMPLES
from sensitivity import production_events

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "analyses" / "blackbox" / "blind_search.yaml"
RESULTS = Path(__file__).resolve().parent / "results"


class BoxSpec(NamedTuple):
    """One black box.

    Attributes:
        name: file stem of the box.
        background_start: first event of the box's slice of the ``qcd`` production.
        n_background: QCD events in the box.
        signal: signal production (``None``: a box without signal).
        signal_start: first event of the box's slice of the signal production.
        n_signal: signal events in the box.
        seed: seed (or seed sequence) of the shuffle.
    """

    name: str
    background_start: int
    n_background: int
    signal: str | None
    signal_start: int
    n_signal: int
    seed: int | tuple[int, ...]


def jets_only(events: EventTable) -> EventTable:
    """The 14 LHC Olympics feature columns and the labels (the productions carry constituent
    features the LHCO files do not have)."""
    return EventTable(events.jets, label=events.label)


def truth_of(spec: BoxSpec) -> dict[str, Any] | None:
    """The master key's truth: resonance mass and daughters (GeV) from the production's
    Pythia settings, or ``None`` for a box without signal."""
    if spec.signal is None or spec.n_signal == 0:
        return None
    config = SAMPLES[spec.signal][0]
    daughters = sorted([config.m_x, config.m_y]) if config.has_daughters else []
    return {
        "resonance_mass": float(config.m_wprime),
        "n_signal": int(spec.n_signal),
        "daughter_masses": [float(m) for m in daughters],
    }


def _windows(mjj: np.ndarray, is_signal: np.ndarray) -> list[dict[str, Any]]:
    """Truth S, B and S/sqrt(B) in every SR window of the blind search's scan."""
    config = yaml.safe_load(TEMPLATE.read_text())["scan"]
    windows = []
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
    return windows


def write_box(spec: BoxSpec, out: Path) -> dict[str, Any]:
    """The box's features file, master key and truth; the truth S/sqrt(B) per scan window."""
    stop = spec.background_start + spec.n_background
    parts = [production_events("qcd", spec.background_start, stop, label=0)]
    if spec.signal is not None and spec.n_signal > 0:
        end = spec.signal_start + spec.n_signal
        parts.append(production_events(spec.signal, spec.signal_start, end, label=1))
    events = EventTable.concatenate(parts)
    events = events.subset(np.random.default_rng(spec.seed).permutation(len(events)))
    stem = out / spec.name
    write_features_h5(jets_only(events), stem.with_suffix(".features.h5"), include_label=False)
    write_master_key(events.label, stem.with_suffix(".masterkey.txt"))
    truth = truth_of(spec)
    if truth is not None:  # the signal events in the box (events with < 2 jets were dropped)
        truth["n_signal"] = int((events.label == 1).sum())
    stem.with_suffix(".truth.json").write_text(json.dumps(truth))
    return {
        "stem": str(stem),
        "spec": spec._asdict(),
        "n_events": len(events),
        "truth": truth,
        "windows": _windows(events.mjj, events.label == 1),
    }


def merge_config(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` merged into ``base`` (nested mappings key by key)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value
    return base


def box_config(stem: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The blind search's config for the box ``stem`` (its name and features file), with
    ``overrides`` merged in."""
    config = merge_config(yaml.safe_load(TEMPLATE.read_text()), overrides or {})
    config["name"] = stem.name
    config["data"]["path"] = str(stem.with_suffix(".features.h5"))
    return config


def run_box(
    box: dict[str, Any], *, run_missing: bool = False, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``anomsearch run``, ``submit`` and ``score-submission`` on one box (with
    ``run_missing``, a box whose results hold a report is not searched again, only answered;
    ``overrides`` are merged into the blind search's config, e.g. another method)."""
    stem = Path(box["stem"])
    config = box_config(stem, overrides)
    config["data"]["master_key"] = str(stem.with_suffix(".masterkey.txt"))
    config["output"] = {"dir": str(stem.parent / f"{stem.name}_results")}
    cfg_path = stem.with_suffix(".yaml")
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    exe = Path(sys.executable).parent / "anomsearch"
    results = Path(config["output"]["dir"])
    started = time.perf_counter()
    if not (run_missing and (results / "report.json").is_file()):
        subprocess.run([str(exe), "run", str(cfg_path)], check=True)
    subprocess.run([str(exe), "submit", str(results)], check=True)  # answers from this code
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
    return {
        "report": json.loads((results / "report.json").read_text()),
        "answer": json.loads((results / "answer.json").read_text()),
        "details": json.loads((results / "answer_details.json").read_text()),
        "seconds": seconds,
        "score_text": scored.stdout,
        "score_passed": scored.returncode == 0,
    }


def measured_pulls(measured: dict[str, Any], truth: dict[str, Any] | None) -> dict[str, Any]:
    """Pulls of the measurements behind the answer (also where the answer withholds them), the
    daughters paired with the true ones as ``anomsearch score-submission`` pairs them."""
    if truth is None or not measured.get("resonance_mass_gev"):
        return {}
    as_answer = {
        "p_value": 0.0,
        "resonance_mass": measured["resonance_mass_gev"],
        "n_signal": measured["n_signal"],
        "daughter_masses": measured.get("daughter_masses_gev") or [],
    }
    score = score_submission(as_answer, truth)
    return {q.name: q.pull for q in score.quantities}


def summarise(box: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """One table row."""
    truth = box["truth"]
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
    truth_mass = truth["resonance_mass"] if truth else math.nan
    mass_ratio = mass.get("value", math.nan) / truth_mass if mass and truth else math.nan
    return {
        "box": Path(box["stem"]).name,
        "spec": box["spec"],
        "n_events": box["n_events"],
        "truth": truth or {"n_signal": 0},
        "truth_window": truth_window,
        "inclusive_local_z_truth_window": inclusive[0]["significance"] if inclusive else None,
        "best": {
            k: best.get(k)
            for k in ("sr_low", "sr_high", "efficiency", "significance", "fit_passed")
        },
        "scan_windows": [
            {k: r.get(k) for k in ("sr_low", "sr_high", "efficiency", "significance", "fit_passed")}
            for r in rows
        ],
        "right_window": bool(best and truth)
        and best["sr_low"] < truth_mass / 1000 < best["sr_high"],
        "global": run["report"].get("global"),
        "claiming_trial": run["details"].get("source", {}).get("trial"),
        "answer": run["answer"],
        "claimed": "resonance_mass" in run["answer"],
        "detection_correct": ("resonance_mass" in run["answer"]) == (truth is not None),
        "measured": measured,
        "measured_pulls": measured_pulls(measured, truth),
        "mass_ratio": mass_ratio,
        "mass_within_5_percent": bool(abs(mass_ratio - 1) <= 0.05),
        "score_passed": run["score_passed"],
        "score_text": run["score_text"],
        "seconds": (run["report"].get("timing") or {}).get("total_seconds", run["seconds"]),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """The boxes as a text table."""
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


def search_boxes(
    specs: list[BoxSpec],
    *,
    out: Path,
    json_path: Path,
    run_missing: bool = False,
    only: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Write, search, answer and score every box; the rows go to ``json_path`` (atomically).

    With ``only`` (box names) just those boxes run; the other boxes' rows are kept from
    ``json_path`` (a box whose events are not generated yet keeps its earlier answer)."""
    out.mkdir(parents=True, exist_ok=True)
    earlier = {}
    if only is not None:
        unknown = sorted(set(only) - {s.name for s in specs})
        if unknown:
            raise SystemExit(f"unknown boxes {unknown}; the boxes are {[s.name for s in specs]}")
        if json_path.is_file():
            earlier = {r["box"]: r for r in json.loads(json_path.read_text())["boxes"]}
    rows = []
    for spec in specs:
        if only is not None and spec.name not in only:
            if spec.name in earlier:
                rows.append(earlier[spec.name])
            continue
        box = write_box(spec, out)
        rows.append(summarise(box, run_box(box, run_missing=run_missing)))
        print_table(rows)
    sizes = sorted({s.n_background for s in specs})
    result = {
        "samples": {
            "n_background_per_box": sizes[0] if len(sizes) == 1 else sizes,
            "boxes": [s._asdict() for s in specs],
            "config": str(TEMPLATE.relative_to(ROOT)),
        },
        "boxes": rows,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(json_path)
    print(f"\nwrote {json_path}")
    return rows


#: The three boxes of analyses/blackbox/: disjoint QCD slices; the parameters of the signals are
#: in ``pythia_production.SAMPLES`` (``blackbox_a``, ``blackbox_b``).
BLIND_BOXES = (
    BoxSpec("box1", 0, 300_000, "blackbox_a", 0, 700, seed=101),
    BoxSpec("box2", 300_000, 300_000, None, 0, 0, seed=102),
    BoxSpec("box3", 600_000, 300_000, "blackbox_b", 0, 1100, seed=103),
)


def add_box_arguments(parser: argparse.ArgumentParser, *, json_name: str) -> None:
    """``--out``, ``--json`` (default ``results/<json_name>``) and ``--run-missing``."""
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=RESULTS / json_name)
    parser.add_argument(
        "--run-missing",
        action="store_true",
        help="search only the boxes without a report in --out (resume a stopped run; every "
        "box is answered again)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_box_arguments(parser, json_name="blind_boxes.json")
    parser.add_argument(
        "--boxes",
        nargs="+",
        default=None,
        help="run only these boxes (e.g. box1); the others keep their rows of --json",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    search_boxes(
        list(BLIND_BOXES),
        out=args.out,
        json_path=args.json,
        run_missing=args.run_missing,
        only=args.boxes,
    )


if __name__ == "__main__":
    main()
