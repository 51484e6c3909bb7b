"""Calibration of the answer's total signal count on datasets that share no event.

The answer's ``n_signal`` is the yield of a signal + background fit of the *uncut* mjj spectrum
at the resonance mass (:func:`anomsearch.answer.total_signal.total_signal_in_spectrum`). Its
error is mostly the background's fluctuation, so pulls over injections into one background
(``signal_recovery.py --shared-backgrounds``, ``injection_scan.py``: the injections of a seed
share their background) are one measurement per background, however many injections. This
benchmark measures the fit alone at the true mass on ``--n-datasets`` independent datasets per
injection -- the known-answer check of the count's error, without the search in front of it:

* ``--source toy``: the built-in generator with ``--config``'s toy settings, each dataset its own
  seed (background and signal);
* ``--source pythia``: slices of ``--n-background`` (25k) events of the ``qcd`` production
  (:mod:`benchmarks.pythia_production`) plus disjoint W'(3.5 TeV) events of ``wprime``.

The binning, dijet function and signal shape are ``--config``'s (the quickstart's Gaussian for
the toy, the blind search's crystal ball for Pythia). Pulls ``(N - N_true) / error`` with the
statistical error alone and with the shape systematic added; a calibrated error gives mean ~0
and width ~1 (the width's standard error is ~1/sqrt(2(n-1))).

Usage:
    python benchmarks/count_calibration.py --source toy --inject 0 1000 --n-datasets 100
    python benchmarks/count_calibration.py --source pythia --config analyses/blackbox/\\
blind_search.yaml --inject 0 300 --n-datasets 57

Writes ``benchmarks/results/count_calibration_<source>.json`` (``--out``) and prints the table.

References:
    LHC Olympics 2020 (the answer's signal count): arXiv:2101.08320. G. Cowan, K. Cranmer,
    E. Gross, O. Vitells, arXiv:1007.1727 (pulls of a maximum-likelihood estimate).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch._io import write_json_atomic
from anomsearch.answer.total_signal import total_signal_in_spectrum
from anomsearch.config import load_config
from anomsearch.data.generate.toy import ToyConfig, generate_toy
from anomsearch.search.bump_hunt import aligned_bin_edges
from anomsearch.stats.signal_shape import SignalShape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sensitivity import production_events

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
#: The resonance mass of both sources' signals (TeV).
TRUE_MASS = 3.5


def spectrum_of(source: str, index: int, n_inject: int, args: Any) -> np.ndarray:
    """The mjj values of dataset ``index`` (0-based) with ``n_inject`` signal events."""
    if source == "toy":
        seed = int(np.random.SeedSequence([index, n_inject, 0xC0]).generate_state(1)[0] >> 1)
        return generate_toy(args.n_background, n_inject, seed=seed, config=args.toy).mjj
    start = index * args.n_background
    qcd = production_events("qcd", start, start + args.n_background, label=0)
    mjj = [qcd.mjj]
    if n_inject:
        sig = production_events("wprime", index * n_inject, (index + 1) * n_inject, label=1)
        mjj.append(sig.mjj)
    return np.concatenate(mjj)


def fit_dataset(
    mjj: np.ndarray, n_true: int, cfg: Any, *, shape: SignalShape, edges: np.ndarray
) -> dict[str, Any]:
    """The count's fit at the true mass and its pulls, in the search's own bins ``edges``."""
    counts = np.histogram(mjj, edges)[0].astype(float)
    tot = total_signal_in_spectrum(
        counts,
        edges,
        signal_region=tuple(cfg.regions.signal_region),
        mass=TRUE_MASS,
        shape=shape,
        n_params=cfg.background.n_params,
    )
    # the truth is the injected count; the signal's events outside the fit range are few
    return {
        "n_true": n_true,
        "n_signal": tot.n_signal,
        "stat_error": tot.n_signal_stat_error,
        "error": tot.n_signal_error,
        "pull_stat": (tot.n_signal - n_true) / tot.n_signal_stat_error,
        "pull": (tot.n_signal - n_true) / tot.n_signal_error,
        "chi2": tot.chi2,
        "ndf": tot.ndf,
    }


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and width of the pulls per injection."""
    out = []
    for n in sorted({r["n_true"] for r in rows}):
        sub = [r for r in rows if r["n_true"] == n]
        entry: dict[str, Any] = {"n_inject": n, "n_datasets": len(sub)}
        for key in ("pull_stat", "pull"):
            v = np.array([r[key] for r in sub])
            entry[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1))}
        entry["width_standard_error"] = 1.0 / math.sqrt(2 * (len(sub) - 1))
        entry["median_stat_error"] = float(np.median([r["stat_error"] for r in sub]))
        entry["median_error"] = float(np.median([r["error"] for r in sub]))
        out.append(entry)
    return out


def print_table(summary: list[dict[str, Any]], source: str) -> None:
    print(f"\ncount pulls ({source}, fit at the true mass): mean / width; goal ~0 / ~1")
    print(
        f"{'injected':>8s} {'datasets':>8s} {'stat error':>10s} {'stat pulls':>14s} "
        f"{'total error':>11s} {'total pulls':>14s} {'width s.e.':>10s}"
    )
    for e in summary:
        ps, p = e["pull_stat"], e["pull"]
        print(
            f"{e['n_inject']:8d} {e['n_datasets']:8d} {e['median_stat_error']:10.0f} "
            f"{ps['mean']:+6.2f} / {ps['std']:5.2f} {e['median_error']:11.0f} "
            f"{p['mean']:+6.2f} / {p['std']:5.2f} {e['width_standard_error']:10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("toy", "pythia"), default="toy")
    parser.add_argument("--config", type=Path, default=None, help="default: per source")
    parser.add_argument("--inject", type=int, nargs="+", default=[0, 1000])
    parser.add_argument("--n-datasets", type=int, default=100)
    parser.add_argument("--n-background", type=int, default=None, help="toy 1M, pythia 25k")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pythia = args.source == "pythia"
    if args.config is None:
        args.config = ROOT / (
            "analyses/blackbox/blind_search.yaml" if pythia else "configs/quickstart.yaml"
        )
    if args.n_background is None:
        args.n_background = 25_000 if pythia else 1_000_000
    cfg = load_config(args.config)
    shape = cfg.stats.shape()
    edges = aligned_bin_edges(  # the search's bins: edges on the SR boundaries, over the fit range
        signal_region=tuple(cfg.regions.signal_region),
        fit_range=cfg.background.fit_range,
        bin_width=cfg.background.bin_width,
    )
    args.toy = ToyConfig()
    out = args.out or RESULTS / f"count_calibration_{args.source}.json"
    rows = []
    start = time.perf_counter()
    for n_inject in args.inject:
        for index in range(args.n_datasets):
            mjj = spectrum_of(args.source, index, n_inject, args)
            rows.append(
                {"dataset": index, **fit_dataset(mjj, n_inject, cfg, shape=shape, edges=edges)}
            )
    summary = summarise(rows)
    write_json_atomic(
        out,
        {
            "samples": {
                "source": args.source,
                "config": str(args.config.resolve().relative_to(ROOT)),
                "n_background": args.n_background,
                "n_datasets": args.n_datasets,
                "inject": args.inject,
                "true_mass_tev": TRUE_MASS,
                "backgrounds_shared_across_injections": pythia,
                "seconds": time.perf_counter() - start,
            },
            "summary": summary,
            "rows": rows,
        },
    )
    print_table(summary, args.source)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
