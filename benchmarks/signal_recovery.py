"""Recovery of the black-box answer on injections: pulls of the signal count, the resonance mass
and the daughter masses.

Runs the whole chain (``anomsearch.workflow.run``, then the answer from its results as
``anomsearch submit`` makes it) on toy datasets with ``--injections`` signal events and seeds
``--seeds``, and compares the answer's measurements (``answer_details.json`` ``measurements``,
also where the answer withholds them) with the truth: the signal events in the data (the
report's ``truth.n_signal``), the toy's resonance and daughter masses. A pull is
``(measured - truth) / uncertainty``; an answer that covers the truth has pulls of mean ~0 and
width ~1. The base config is ``configs/quickstart.yaml`` (1M toy events, CWoLa, 1% cut in
3.3-3.7 TeV); ``--mass-mjj-power`` sets the toy's feature-mjj correlation, ``--method``
replaces the config's method (``cathode``: a method that models the features' mjj dependence
instead of learning it), ``--resume`` keeps the rows of ``--out`` and runs only the missing ones.
Each (injection, seed) is its own dataset: the toy's seed is drawn from both
(:func:`dataset_seed`), so the injections share no background events and their pulls are
independent; ``--shared-backgrounds`` gives every injection of one seed the same background (the
toy seeded with ``seed`` itself, as this benchmark did before: the count's error is mostly the
background's fluctuation, so its pulls at 300, 600 and 1000 injected were correlated 0.8-0.98).
``--keep-outputs DIR`` keeps each run's results folder (``DIR/n<injected>_seed<seed>``, a few MB
each); ``--reanswer DIR`` then answers those folders again with the current answer code (no
training: a change of the answer is measured on the same trainings in minutes).

Usage:
    python benchmarks/signal_recovery.py --injections 300 600 1000 --seeds 1 2 3 ... 20

Writes ``benchmarks/results/signal_recovery.json`` (``--out``), prints the table and plots the
pulls next to the JSON (``signal_recovery.png``: one panel per quantity, every dataset's pull
against the injection, claimed datasets filled, mean +- width per injection, the goal shaded).

References:
    LHC Olympics 2020 (answers and scoring): arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from anomsearch import workflow
from anomsearch._io import atomic_path, write_json_atomic
from anomsearch.answer import answer_from_results
from anomsearch.data.generate.toy import ToyConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blind_boxes import measured_pulls

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def dataset_seed(n_signal: int, seed: int, *, shared_backgrounds: bool = False) -> int:
    """The toy's seed of the dataset with ``n_signal`` injected events and seed ``seed``.

    Examples:
        >>> dataset_seed(300, 1) != dataset_seed(600, 1)
        True
        >>> dataset_seed(300, 1, shared_backgrounds=True)
        1
    """
    if shared_backgrounds:
        return seed
    return int(np.random.SeedSequence([seed, n_signal, 0x7EC0]).generate_state(1)[0] >> 1)


def run_one(base: dict[str, Any], n_signal: int, seed: int, args: Any) -> dict[str, Any]:
    """The chain and the answer on one injected toy dataset."""
    config = copy.deepcopy(base)
    config["seed"] = dataset_seed(n_signal, seed, shared_backgrounds=args.shared_backgrounds)
    config["name"] = f"recovery_{n_signal}_{seed}"
    if args.method:
        config["method"] = {**config["method"], "name": args.method}
    config["injection"] = {"n_signal": n_signal}
    config["data"]["n_background"] = args.n_background
    if args.n_reference_background is not None:
        config["data"]["n_reference_background"] = args.n_reference_background
    config["data"]["toy"] = {**config["data"].get("toy", {}), "mass_mjj_power": args.mass_mjj_power}
    config["output"] = {"plots": False}
    config.setdefault("compute", {})["cache"] = False
    start = time.perf_counter()
    kept = args.keep_outputs
    # a temporary folder only when the results are not kept
    with tempfile.TemporaryDirectory() if kept is None else nullcontext(None) as tmp:
        out = Path(tmp) / "out" if kept is None else _kept(kept, n_signal, seed)
        result = workflow.run(config, output_dir=out)
        row = _answer_row(out, result.report, n_signal, seed)
    return {**row, "data_seed": config["seed"], "seconds": time.perf_counter() - start}


def _kept(folder: Path, n_signal: int, seed: int) -> Path:
    """Where ``--keep-outputs`` keeps (and ``--reanswer`` finds) one run's results."""
    return folder / f"n{n_signal}_seed{seed}"


def _answer_row(out: Path, report: dict[str, Any], n_signal: int, seed: int) -> dict[str, Any]:
    """The answer of one results folder and its pulls against the toy's truth."""
    _, details = answer_from_results(out)
    toy = ToyConfig()
    truth = {
        "n_signal": float(report["truth"]["n_signal"]),
        "resonance_mass_gev": 1000.0 * toy.resonance_mass,
        "daughter_masses_gev": sorted([1000.0 * toy.mass_x, 1000.0 * toy.mass_y]),
    }
    row = {
        "n_injected": n_signal,
        "seed": seed,
        "local_z": report["significance"],
        "claimed": details["claimed_signal"],
        "truth": truth,
        "measured": details["measurements"],
        "n_signal_selected_sr": details.get("n_signal_selected_sr"),
        "n_signal_total": details.get("n_signal_total"),
    }
    return {**row, "pulls": pulls_of(row)}


def reanswer(data: dict[str, Any], folders: Path) -> None:
    """Answer the kept results folders of ``data``'s rows again (in place)."""
    for row in data["rows"]:
        out = _kept(folders, row["n_injected"], row["seed"])
        if not (out / "report.json").is_file():
            sys.exit(f"--reanswer: {out} holds no results (run with --keep-outputs {folders})")
        report = json.loads((out / "report.json").read_text())
        row.update(_answer_row(out, report, row["n_injected"], row["seed"]))
    data["samples"]["answers"] = "re-made by --reanswer from the runs' kept results folders"


def pulls_of(row: dict[str, Any]) -> dict[str, float | None]:
    """The pulls of one row. The count's is that of the fit before the answer clips it at 0
    (``n_signal_total``: a downward fluctuation is a negative count, and clipping it would
    bias the pulls of small injections)."""
    truth, measured = row["truth"], row["measured"]
    total = row.get("n_signal_total")
    count = (
        {"value": total["n_signal"], "uncertainty": total["n_signal_error"]}
        if total
        else measured.get("n_signal")
    )
    pulls = {
        "n_signal": _pull(count, truth["n_signal"]),
        "resonance_mass": _pull(measured.get("resonance_mass_gev"), truth["resonance_mass_gev"]),
    }
    # answered daughters paired with the true ones as score-submission pairs them (the nearest
    # true daughter by pull where the answer gives fewer: one answered 500 GeV daughter is
    # scored against 500 GeV, not against the lighter 100 GeV)
    key = {
        "resonance_mass": truth["resonance_mass_gev"],
        "n_signal": truth["n_signal"],
        "daughter_masses": truth["daughter_masses_gev"],
    }
    for name, pull in measured_pulls(measured, key).items():
        if name.startswith("daughter_mass_"):
            pulls[name] = pull if math.isfinite(pull) else None
    return pulls


def _pull(measurement: dict[str, float] | None, truth: float) -> float | None:
    if not measurement or not measurement.get("uncertainty"):
        return None
    return (measurement["value"] - truth) / measurement["uncertainty"]


def _pull_summary(rows: list[dict[str, Any]], quantity: str) -> dict[str, Any]:
    values = [r["pulls"].get(quantity) for r in rows]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return {
        "n": len(values),
        "mean": float(np.mean(values)) if values else None,
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
    }


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pull mean, width and count per injection and quantity."""
    out = []
    for n in sorted({r["n_injected"] for r in rows}):
        subset = [r for r in rows if r["n_injected"] == n]
        entry: dict[str, Any] = {"n_injected": n, "n_datasets": len(subset)}
        entry["median_local_z"] = float(np.median([r["local_z"] for r in subset]))
        entry["fraction_claimed"] = float(np.mean([r["claimed"] for r in subset]))
        for q in ("n_signal", "resonance_mass", "daughter_mass_0", "daughter_mass_1"):
            entry[q] = _pull_summary(subset, q)
            # the winner's curse: the pulls of the datasets the answer claims, against all
            entry[q]["claimed"] = _pull_summary([r for r in subset if r["claimed"]], q)
        out.append(entry)
    return out


def print_table(summary: list[dict[str, Any]]) -> None:
    quantities = ("n_signal", "resonance_mass", "daughter_mass_0", "daughter_mass_1")
    print("\npulls (measured - truth) / uncertainty: mean / width (n); goal |mean| < 0.2, 0.8-1.2")
    print(
        f"{'injected':>8s} {'datasets':>8s} {'med. Z':>6s} {'claimed':>7s} "
        + " ".join(f"{q:>20s}" for q in quantities)
    )
    for e in summary:
        cells = []
        for q in quantities:
            c = e[q]
            cells.append(
                f"{c['mean']:+.2f} / {c['std']:.2f} ({c['n']})" if c["std"] is not None else "-"
            )
        print(
            f"{e['n_injected']:8d} {e['n_datasets']:8d} {e['median_local_z']:6.2f} "
            f"{e['fraction_claimed']:7.2f} " + " ".join(f"{c:>20s}" for c in cells)
        )
    print("\nthe claimed datasets alone (the winner's curse: an excess chosen for its size)")
    for e in summary:
        cells = []
        for q in quantities:
            c = e[q]["claimed"]
            cells.append(f"{c['mean']:+.2f} ({c['n']})" if c["mean"] is not None else "-")
        print(f"{e['n_injected']:8d} " + " ".join(f"{c:>20s}" for c in cells))


QUANTITIES = {
    "n_signal": "total signal count",
    "resonance_mass": "resonance mass",
    "daughter_mass_0": "lighter daughter",
    "daughter_mass_1": "heavier daughter",
}


def plot_pulls(data: dict[str, Any], path: Path) -> None:
    """Every dataset's pull per quantity against its injection (claimed: filled; beyond +-5 at
    the edge), the mean +- width per injection, the goal (|mean| < 0.2, width 0.8-1.2) shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    injections = sorted({r["n_injected"] for r in rows})
    fig, axes = plt.subplots(1, len(QUANTITIES), figsize=(13, 3.4), sharey=True)
    rng = np.random.default_rng(0)  # horizontal jitter only
    for ax, (quantity, label) in zip(axes, QUANTITIES.items(), strict=True):
        ax.axhspan(-1.2, 1.2, color="0.93", zorder=0)
        ax.axhspan(-0.8, 0.8, color="white", zorder=0)
        ax.axhspan(-0.2, 0.2, color="#cde5cd", zorder=0)
        for i, n in enumerate(injections):
            subset = [r for r in rows if r["n_injected"] == n]
            for claimed in (False, True):
                pulls = [
                    r["pulls"][quantity]
                    for r in subset
                    if r["claimed"] == claimed and r["pulls"].get(quantity) is not None
                ]
                x = i + rng.uniform(-0.18, 0.18, len(pulls))
                ax.scatter(
                    x,
                    np.clip(pulls, -5, 5),
                    s=14,
                    facecolors="C0" if claimed else "none",
                    edgecolors="C0",
                    linewidths=0.8,
                    zorder=2,
                )
            stats = _pull_summary(subset, quantity)
            if stats["std"] is not None:
                ax.errorbar(
                    i + 0.3, stats["mean"], yerr=stats["std"], fmt="s", color="C3", ms=4, zorder=3
                )
                ax.annotate(f"{stats['n']}", (i + 0.36, stats["mean"]), fontsize=7, color="C3")
        ax.axhline(0.0, color="0.4", lw=0.6)
        ax.set_xticks(range(len(injections)), [str(n) for n in injections])
        ax.set_xlim(-0.5, len(injections) - 0.3)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("injected signal events")
    axes[0].set_ylabel("pull (measured - truth) / error")
    axes[0].set_ylim(-5.3, 5.3)
    samples = data["samples"]
    fig.suptitle(
        f"recovery, {samples.get('method', 'cwola')} on the toy "
        f"(feature-mjj power {samples['mass_mjj_power']:g}): filled = claimed, "
        "red = mean +- width (n datasets); goal: mean in green, the width's ends in grey",
        fontsize=9,
    )
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    finally:
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    parser.add_argument("--injections", type=int, nargs="+", default=[300, 600, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 21)))
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--mass-mjj-power", type=float, default=0.0)
    parser.add_argument(
        "--n-reference-background",
        type=int,
        help="size of the background-only reference of the spurious-signal test and the "
        "daughters' template correction (default: the config's, i.e. --n-background)",
    )
    parser.add_argument("--method", help="replace the config's method.name (e.g. cathode)")
    parser.add_argument(
        "--shared-backgrounds",
        action="store_true",
        help="seed the toy with --seeds alone: every injection of a seed has the same background",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "signal_recovery.json")
    parser.add_argument(
        "--resume", action="store_true", help="keep the rows of --out, run the missing ones"
    )
    parser.add_argument(
        "--summarise-only", action="store_true", help="recompute the pulls and summary of --out"
    )
    parser.add_argument(
        "--keep-outputs", type=Path, help="keep each run's results folder under this folder"
    )
    parser.add_argument(
        "--reanswer",
        type=Path,
        metavar="DIR",
        help="answer the results folders kept in DIR again (rows of --out), no training",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.summarise_only or args.reanswer:
        data = json.loads(args.out.read_text())
        if args.reanswer:
            reanswer(data, args.reanswer)
        for row in data["rows"]:
            row["pulls"] = pulls_of(row)
        data["summary"] = summarise(data["rows"])
        write_json_atomic(args.out, data)
        plot_pulls(data, args.out.with_suffix(".png"))
        print_table(data["summary"])
        return
    base = yaml.safe_load(args.config.read_text())
    rows: list[dict[str, Any]] = []
    kept: dict[str, Any] = {}  # what a resumed file says beyond the samples (its "note")
    method = args.method or base["method"]["name"]
    if args.resume and args.out.exists():
        earlier = json.loads(args.out.read_text())
        same = (
            earlier["samples"].get("method", "cwola") == method
            and earlier["samples"].get("shared_backgrounds", True) == args.shared_backgrounds
            and all(
                earlier["samples"][k] == getattr(args, k)
                for k in ("n_background", "mass_mjj_power")
            )
            and earlier["samples"].get("n_reference_background") == args.n_reference_background
        )
        if not same:
            sys.exit(f"--resume: {args.out} holds other samples: {earlier['samples']}")
        rows = earlier["rows"]
        kept = {k: v for k, v in earlier["samples"].items() if k == "note"}
    done = {(r["n_injected"], r["seed"]) for r in rows}
    for seed in args.seeds:
        for n_signal in args.injections:
            if (n_signal, seed) in done:
                continue
            rows.append(run_one(base, n_signal, seed, args))
            summary = summarise(rows)
            write_json_atomic(
                args.out,
                {
                    "samples": {
                        "config": str(
                            args.config.resolve().relative_to(ROOT)
                            if args.config.resolve().is_relative_to(ROOT)
                            else args.config
                        ),
                        "n_background": args.n_background,
                        "mass_mjj_power": args.mass_mjj_power,
                        **(
                            {"n_reference_background": args.n_reference_background}
                            if args.n_reference_background is not None
                            else {}
                        ),
                        "method": method,
                        "shared_backgrounds": args.shared_backgrounds,
                        "injections": sorted({r["n_injected"] for r in rows}),
                        "seeds": sorted({r["seed"] for r in rows}),
                        **kept,
                    },
                    "summary": summary,
                    "rows": rows,
                },
            )
        print_table(summarise(rows))
    plot_pulls(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
