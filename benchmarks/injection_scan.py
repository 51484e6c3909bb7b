"""Injection scan on Pythia data: local and global Z of the blind window scan against the injected
signal, per method, with the inclusive bump hunt (no score cut) of the same scans, and the
answer's pulls (count, mass, daughters) on every injection.

Each dataset is ``--n-background`` QCD events of the ``qcd`` production plus ``n`` W'(3.5 TeV)
-> X(500) Y(100) events of the ``wprime`` production. Seed ``s`` takes the ``s``-th slice of both
(the QCD slices start at ``--background-start``): the injections of one seed share their
background, as a physicist injects into one dataset, and different seeds share no event, so the
spread over seeds is the statistical one the answer's errors must cover.
Every dataset is searched with ``analyses/blackbox/blind_search.yaml`` (windows of 0.4 TeV every
0.2 TeV, trials: no cut, 10% and 1% of the SR, Sidak over all; ``--method`` replaces CWoLa
hunting), answered with ``anomsearch submit`` and scored against the truth. Per injection the table
gives the median over seeds (16-84% range) of: the local Z in the truth window [3.3, 3.7] TeV at
each efficiency (efficiency 1 is the inclusive bump hunt), the global Z of the scan's best entry,
how often the best entry is the truth window and how often the answer claims a signal; then the
injection at which the medians reach 3 and 5 sigma (linear interpolation), and the answer's pulls
(mean and width over the seeds whose best window holds the resonance).

Usage:
    python benchmarks/injection_scan.py --out ~/injection-scan \
        [--method cwola] [--inject 0 150 300 600 1000] [--seeds 1 2 3] [--n-background 100000]

Writes ``benchmarks/results/injection_scan_<method>.json`` and prints the tables.

References:
    LHC Olympics 2020: arXiv:2101.08320; CWoLa hunting: arXiv:1902.02634; CATHODE: arXiv:2109.00546.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from anomsearch._io import jsonable, write_json_atomic
from anomsearch.data.io.lhco import write_features_h5

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blind_boxes import BoxSpec, jets_only, run_box, summarise, write_box
from sensitivity import production_events

RESULTS = Path(__file__).resolve().parent / "results"
TRUTH_WINDOW = (3.3, 3.7)


def _z_of_p(p: float | None) -> float:
    if p is None or not math.isfinite(p):
        return math.nan
    return max(0.0, -NormalDist().inv_cdf(min(max(p, 1e-300), 1.0)))


def method_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config changes for ``--method`` (the idealized detector gets an SR-only QCD sample
    from the stream after the data's slice)."""
    if args.method == "cwola":
        return {}
    overrides: dict[str, Any] = {"method": {"name": args.method}}
    if args.method == "idealized":
        start = args.background_start + max(args.seeds) * args.n_background
        extra = production_events("qcd", start, start + args.n_idealized_reference, label=0)
        path = args.out / "idealized_reference.features.h5"
        if not path.is_file():
            write_features_h5(jets_only(extra), path)
        overrides["data"] = {"reference_background_path": str(path)}
    return overrides


def run_dataset(n_inject: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One dataset: written, searched, answered, scored; its row."""
    spec = BoxSpec(
        name=f"{args.method}_n{n_inject}_seed{seed}",
        background_start=args.background_start + (seed - 1) * args.n_background,
        n_background=args.n_background,
        signal="wprime" if n_inject else None,
        signal_start=(seed - 1) * n_inject,
        n_signal=n_inject,
        seed=(seed, n_inject),
    )
    box = write_box(spec, args.out)
    return summarise(
        box, run_box(box, run_missing=args.run_missing, overrides=method_overrides(args))
    )


def _truth_window_z(scan_rows: list[dict[str, Any]]) -> dict[str, float]:
    return {
        f"{r['efficiency']:g}": float(r["significance"])
        for r in scan_rows
        if (r["sr_low"], r["sr_high"]) == TRUTH_WINDOW and r["significance"] is not None
    }


def _band(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"median": math.nan, "lo": math.nan, "hi": math.nan}
    lo, med, hi = np.percentile(finite, [16, 50, 84])
    return {"median": float(med), "lo": float(lo), "hi": float(hi)}


def crossing(injections: list[int], medians: list[float], level: float) -> float | None:
    """The injection where the medians first reach ``level`` (linear interpolation)."""
    for (n0, z0), (n1, z1) in zip(
        zip(injections, medians, strict=True),
        zip(injections[1:], medians[1:], strict=True),
        strict=False,
    ):
        if math.isfinite(z0) and math.isfinite(z1) and z0 < level <= z1:
            return n0 + (level - z0) / (z1 - z0) * (n1 - n0)
    if medians and math.isfinite(medians[0]) and medians[0] >= level:
        return float(injections[0])
    return None


def summarise_injection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians, ranges, rates and pulls over the seeds of one injection."""
    efficiencies = sorted({e for r in rows for e in r["truth_window_z"]}, key=float, reverse=True)
    right = [r for r in rows if r["right_window"]]
    pulls: dict[str, dict[str, float]] = {}
    for name in ("n_signal", "resonance_mass", "daughter_mass_0", "daughter_mass_1"):
        values = [r["measured_pulls"][name] for r in right if name in r["measured_pulls"]]
        values = [v for v in values if math.isfinite(v)]
        if values:
            pulls[name] = {
                "mean": float(np.mean(values)),
                "width": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                "n": len(values),
            }
    return {
        "n_datasets": len(rows),
        "local_z_truth_window": {
            e: _band([r["truth_window_z"].get(e, math.nan) for r in rows]) for e in efficiencies
        },
        "global_z": _band([r["global_z"] for r in rows]),
        "fraction_right_window": len(right) / len(rows),
        "fraction_claimed": float(np.mean([r["claimed"] for r in rows])),
        "pulls_right_window": pulls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--method", default="cwola", choices=("cwola", "cathode", "idealized"))
    parser.add_argument("--inject", type=int, nargs="+", default=[0, 150, 300, 600, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n-background", type=int, default=100_000)
    parser.add_argument("--background-start", type=int, default=0)
    parser.add_argument("--n-idealized-reference", type=int, default=100_000)
    parser.add_argument("--run-missing", action="store_true", help="resume a stopped run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.json or RESULTS / f"injection_scan_{args.method}.json"
    per_injection: dict[str, Any] = {}
    all_rows = []
    for n_inject in args.inject:
        rows = []
        for seed in args.seeds:
            row = run_dataset(n_inject, seed, args)
            row["truth_window_z"] = _truth_window_z(row.pop("scan_windows"))
            row.pop("score_text", None)  # the pulls are in measured_pulls
            row["global_z"] = _z_of_p((row["global"] or {}).get("p_value"))
            rows.append(row)
        per_injection[str(n_inject)] = summarise_injection(rows)
        all_rows += [{"n_inject": n_inject, **r} for r in rows]
        print_tables(per_injection, args)
    levels = {}
    injections = [int(n) for n in per_injection]
    for what, get in [
        *(
            (f"local Z, eff {e}", lambda s, e=e: s["local_z_truth_window"].get(e, {}))
            for e in ("1", "0.1", "0.01")
        ),
        ("global Z", lambda s: s["global_z"]),
    ]:
        medians = [get(per_injection[str(n)]).get("median", math.nan) for n in injections]
        levels[what] = {
            "3 sigma": crossing(injections, medians, 3.0),
            "5 sigma": crossing(injections, medians, 5.0),
        }
    print("\ninjection at which the median reaches 3 / 5 sigma:")
    for what, v in levels.items():
        print(f"  {what:16s} {v['3 sigma']!s:>10s} {v['5 sigma']!s:>10s}")
    write_json_atomic(
        json_path,
        jsonable(
            {
                "samples": {
                    "method": args.method,
                    "n_background": args.n_background,
                    "background_start": args.background_start,
                    "signal": "wprime (3.5 TeV -> X 500, Y 100 GeV)",
                    "injections": args.inject,
                    "seeds": args.seeds,
                    "config": "analyses/blackbox/blind_search.yaml",
                },
                "per_injection": per_injection,
                "crossings": levels,
                "datasets": all_rows,
            }
        ),
    )
    print(f"wrote {json_path}")


def print_tables(per_injection: dict[str, Any], args: argparse.Namespace) -> None:
    """Z table and pull table so far."""
    print(
        f"\n{args.method}: {'inject':>6s} {'Z incl.':>16s} {'Z 10%':>16s} {'Z 1%':>16s} "
        f"{'global Z':>16s} {'right':>5s} {'claim':>5s}"
    )

    def cell(b: dict[str, float]) -> str:
        med, lo, hi = (b.get(k, math.nan) for k in ("median", "lo", "hi"))
        return f"{med:4.1f} ({lo:.1f}-{hi:.1f})"

    for n, s in per_injection.items():
        z = s["local_z_truth_window"]
        print(
            f"{'':{len(args.method) + 1}s} {n:>6s} {cell(z.get('1', {})):>16s} "
            f"{cell(z.get('0.1', {})):>16s} {cell(z.get('0.01', {})):>16s} "
            f"{cell(s['global_z']):>16s} {s['fraction_right_window']:5.2f} "
            f"{s['fraction_claimed']:5.2f}"
        )
    print("pulls (right windows): mean / width (n)")
    for n, s in per_injection.items():
        text = "  ".join(
            f"{k} {v['mean']:+.2f}/{v['width']:.2f} ({v['n']})"
            for k, v in s["pulls_right_window"].items()
        )
        print(f"  {n:>6s} {text}")


if __name__ == "__main__":
    main()
