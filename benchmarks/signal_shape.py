"""Signal shape of dijet resonances: fitted crystal-ball parameters, and the resonance-mass bias of
each signal shape on generated W' and q* resonances of several masses.

For every signal production of :mod:`benchmarks.pythia_production` (W' -> X Y with two- and
three-prong daughters, W' -> q q', q* -> q g at 3.0, 3.5 and 4.0 TeV), this

1. fits a double-sided crystal ball and a Gaussian to ``mjj / mass``
   (:func:`anomsearch.stats.fit_signal_shape`), and the crystal ball to all 3.5 TeV samples
   pooled (the package default, :data:`anomsearch.stats.DIJET_CRYSTAL_BALL`);
2. measures the mass bias of the answer's resonance fit
   (:func:`anomsearch.answer.resonance_fit.fit_resonance_mass`) with each candidate shape: on an
   Asimov spectrum (the QCD background expectation of ``--n-background`` events from the whole
   ``qcd`` stream, plus ``--n-signal`` times the signal's mjj histogram from the whole sample)
   the fitted mass over the true mass is the shape's bias (and the fitted yield over the signal
   events in the fit range, its yield bias); ``--toys`` Poisson toys of the same expectation
   give the statistical spread and the pull width.

The fit range is ``[0.7, 1.2] x mass`` in bins of ``--bin-width`` TeV, wider than a 0.4 TeV SR,
so the radiative tail is inside it.

Usage:
    python benchmarks/signal_shape.py --n-background 30000 --n-signal 1000 --toys 20

Writes ``benchmarks/results/signal_shape.json``, ``signal_shape.png`` and prints the tables.

References:
    ATLAS Collaboration, arXiv:1407.3494 (double-sided crystal ball); CMS Collaboration,
    arXiv:1911.03947 (dijet resonance shapes); LHC Olympics 2020: arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch.answer.resonance_fit import fit_resonance_mass
from anomsearch.stats import DIJET_CRYSTAL_BALL, GAUSSIAN, SignalShape, fit_signal_shape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sensitivity import production_events

RESULTS = Path(__file__).resolve().parent / "results"

#: name -> (production, mass in TeV, description)
SIGNALS = {
    "wprime": ("wprime", 3.5, "W' -> X(500) Y(100), two-prong"),
    "wprime_3prong": ("wprime_3prong", 3.5, "W' -> X(500, 3-prong) Y(100)"),
    "wprime_3prong_both": ("wprime_3prong_both", 3.5, "W' -> X, Y three-prong"),
    "wprime_x300_y200": ("wprime_x300_y200", 3.5, "W' -> X(300) Y(200)"),
    "wprime_qq": ("wprime_qq", 3.5, "W' -> q q'"),
    "qstar_3000": ("qstar_3000", 3.0, "q* -> q g"),
    "qstar": ("qstar", 3.5, "q* -> q g"),
    "qstar_4000": ("qstar_4000", 4.0, "q* -> q g"),
}

N_SIGNAL_EVENTS = {"qstar_3000": 5000, "qstar_4000": 5000}


def candidate_shapes() -> dict[str, SignalShape]:
    """The shapes compared in the mass fit: Gaussians of 5% (the toy's default) and of the
    crystal ball's core width, the default crystal ball and the same with a 5% core."""
    core = DIJET_CRYSTAL_BALL.width
    return {
        "gaussian 5%": GAUSSIAN,
        f"gaussian {core:.1%}": GAUSSIAN._replace(width=core),
        "crystal ball 5%": DIJET_CRYSTAL_BALL._replace(width=0.05),
        "crystal ball (default)": DIJET_CRYSTAL_BALL,
    }


def signal_mjj(name: str) -> tuple[np.ndarray, float]:
    production, mass, _ = SIGNALS[name]
    events = production_events(production, 0, N_SIGNAL_EVENTS.get(name, 10_000), label=1)
    return events.mjj, mass


def fit_shapes(names: list[str]) -> tuple[list[dict[str, Any]], SignalShape]:
    """Crystal-ball and Gaussian fits per sample, and the pooled crystal ball at 3.5 TeV."""
    rows, pooled = [], []
    for name in names:
        mjj, mass = signal_mjj(name)
        cb = fit_signal_shape(mjj, mass)
        gauss = fit_signal_shape(mjj, mass, kind="gaussian")
        ratio = mjj / mass
        rows.append(
            {
                "signal": name,
                "mass_tev": mass,
                "n_events": int(mjj.size),
                "median_ratio": float(np.median(ratio)),
                "fraction_below_0.85": float(np.mean(ratio < 0.85)),
                "crystal_ball": cb.to_dict(),
                "gaussian": gauss.to_dict(),
            }
        )
        if mass == 3.5:
            pooled.append(ratio)
    pooled_fit = fit_signal_shape(np.concatenate(pooled), 1.0)
    return rows, pooled_fit


def _fit_mass(counts, edges, background, shape: SignalShape, mass: float):
    return fit_resonance_mass(
        counts,
        edges,
        background,
        relative_width=shape.width,
        mass_range=(0.8 * mass, 1.15 * mass),
        signal_shape=shape,
    )


def mass_bias(
    name: str, background_mjj: np.ndarray, shapes: dict[str, SignalShape], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Asimov bias and toy pulls of the fitted mass for each shape on one signal."""
    mjj, mass = signal_mjj(name)
    n_bins = round(0.5 * mass / args.bin_width)
    edges = np.linspace(0.7 * mass, 0.7 * mass + n_bins * args.bin_width, n_bins + 1)
    b_hist, _ = np.histogram(background_mjj, bins=edges)
    background = np.maximum(b_hist * args.n_background / background_mjj.size, 1e-3)
    s_hist, _ = np.histogram(mjj, bins=edges)
    in_range = s_hist.sum() / mjj.size
    signal = args.n_signal * s_hist / mjj.size  # events outside the range are lost, as in data
    asimov = background + signal
    rng = np.random.default_rng([args.seed, int(mass * 1000)])
    toys = rng.poisson(asimov, size=(args.toys, asimov.size)).astype(float)
    rows = []
    for label, shape in shapes.items():
        at_asimov = _fit_mass(asimov, edges, background, shape, mass)
        fitted = [_fit_mass(t, edges, background, shape, mass) for t in toys]
        masses = np.array([f.mass for f in fitted])
        errors = np.array([f.mass_error for f in fitted])
        pulls = (masses - mass) / errors
        rows.append(
            {
                "signal": name,
                "mass_tev": mass,
                "shape": label,
                "signal_in_range": float(in_range),
                "asimov_ratio": at_asimov.mass / mass,
                "asimov_error_ratio": at_asimov.mass_error / mass,
                "asimov_yield_ratio": at_asimov.n_signal / float(signal.sum()),
                "toy_mean_ratio": float(np.mean(masses) / mass),
                "toy_std_ratio": float(np.std(masses, ddof=1) / mass),
                "pull_mean": float(np.mean(pulls)),
                "pull_std": float(np.std(pulls, ddof=1)),
            }
        )
        logging.info("%s %s: asimov m/M = %.4f", name, label, at_asimov.mass / mass)
    return rows


def print_tables(fits: list[dict[str, Any]], pooled: SignalShape, bias: list[dict[str, Any]]):
    print("\nFitted shapes (mjj / mass; crystal ball: peak, width, alpha_lo, n_lo, alpha_hi, n_hi)")
    print(
        f"{'signal':20s} {'M':>4s} {'median':>7s} {'<0.85':>6s} {'CB':>42s} "
        f"{'gauss peak/width':>17s}"
    )
    for r in fits:
        cb, g = r["crystal_ball"], r["gaussian"]
        cb_txt = "{peak:.3f} {width:.3f} {alpha_low:.2f} {n_low:.1f} {alpha_high:.2f} {n_high:.1f}"
        print(
            f"{r['signal']:20s} {r['mass_tev']:4.1f} {r['median_ratio']:7.3f} "
            f"{r['fraction_below_0.85']:6.3f} {cb_txt.format(**cb):>42s} "
            f"{g['peak']:8.3f}/{g['width']:.3f}"
        )
    print(f"pooled 3.5 TeV crystal ball: {pooled}")
    print("\nResonance-mass fit: fitted / true mass (Asimov = the bias; toys: mean, spread, pulls)")
    print(
        f"{'signal':20s} {'M':>4s} {'shape':>20s} {'Asimov':>7s} {'toys':>7s} {'spread':>7s} "
        f"{'pull':>12s} {'yield':>6s}"
    )
    for r in bias:
        print(
            f"{r['signal']:20s} {r['mass_tev']:4.1f} {r['shape']:>20s} {r['asimov_ratio']:7.4f} "
            f"{r['toy_mean_ratio']:7.4f} {r['toy_std_ratio']:7.4f} "
            f"{r['pull_mean']:+5.2f}/{r['pull_std']:4.2f} {r['asimov_yield_ratio']:6.3f}"
        )


def plot(bias: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = list(dict.fromkeys(r["shape"] for r in bias))
    signals = list(dict.fromkeys(r["signal"] for r in bias))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, shape in enumerate(shapes):
        rows = [r for r in bias if r["shape"] == shape]
        x = np.arange(len(rows)) + 0.18 * (k - (len(shapes) - 1) / 2)
        ax.errorbar(
            x,
            [100 * (r["asimov_ratio"] - 1) for r in rows],
            yerr=[100 * r["toy_std_ratio"] for r in rows],
            fmt="o",
            label=shape,
        )
    ax.axhline(0, color="k", lw=0.8)
    ax.axhspan(-5, 5, color="0.9", zorder=0)
    ax.set_xticks(np.arange(len(signals)), signals, rotation=30, ha="right")
    ax.set_ylabel("fitted mass bias (%) [Asimov; bars: toy spread]")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", nargs="+", default=list(SIGNALS))
    parser.add_argument("--n-background", type=float, default=30_000)
    parser.add_argument("--n-signal", type=float, default=1000)
    parser.add_argument("--n-qcd", type=int, default=300_000, help="QCD events for the shape")
    parser.add_argument("--bin-width", type=float, default=0.05)
    parser.add_argument("--toys", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "signal_shape.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    fits, pooled = fit_shapes(args.signals)
    shapes = candidate_shapes()
    background_mjj = production_events("qcd", 0, args.n_qcd, label=0).mjj
    bias = [row for name in args.signals for row in mass_bias(name, background_mjj, shapes, args)]
    print_tables(fits, pooled, bias)
    out = {
        "samples": {
            "n_background_in_fit": args.n_background,
            "n_signal": args.n_signal,
            "qcd_events_for_shape": args.n_qcd,
            "toys": args.toys,
            "bin_width_tev": args.bin_width,
            "fit_range": "[0.7, 1.2] x mass; mass free in [0.8, 1.15] x mass",
        },
        "fits": fits,
        "pooled_crystal_ball_3p5tev": pooled.to_dict(),
        "package_default": DIJET_CRYSTAL_BALL.to_dict(),
        "bias": bias,
        "seconds": time.perf_counter() - start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2))
    tmp.replace(args.out)
    plot(bias, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out} ({out['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
