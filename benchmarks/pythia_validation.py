"""Validation plots of the Pythia chain (``docs/validation.md``, PNGs in ``docs/img/``).

Generates a modest sample with :func:`anomsearch.data.generate.pythia_chunks.generate_pythia_chunks`
(default 2000 QCD + 1000 W' -> X(500) Y(100) events, "data" variant, 2 worker processes; the
chunks are kept in ``--work-dir`` so a rerun only redraws), then plots mjj, the two jet masses and
tau21 of both jets, and prints the numbers quoted on the validation page (W' mjj peak, jet-mass
peaks, median tau21).

Usage::

    python benchmarks/pythia_validation.py [--n-qcd 2000] [--n-wprime 1000] [--n-jobs 2]

References:
    Pythia 8.3: arXiv:2203.11601. LHC Olympics 2020: arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from anomsearch.data.events import EventTable
from anomsearch.data.generate.pythia import PythiaConfig
from anomsearch.data.generate.pythia_chunks import generate_pythia_chunks, merge_chunks
from anomsearch.data.io.lhco import read_features_h5

__all__ = ["histogram_peak", "main", "summarise"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"


def histogram_peak(values: np.ndarray, lo: float, hi: float, width: float) -> float:
    """Centre of the most populated bin of a histogram of ``values`` in ``[lo, hi)``.

    Examples:
        >>> histogram_peak(np.array([0.1, 0.52, 0.55, 0.58, 0.9]), 0.0, 1.0, 0.1)
        0.55
    """
    edges = np.arange(lo, hi + 0.5 * width, width)
    counts, edges = np.histogram(values, bins=edges)
    k = int(np.argmax(counts))
    return round(float(0.5 * (edges[k] + edges[k + 1])), 10)


def summarise(qcd: EventTable, wprime: EventTable) -> dict[str, float]:
    """The validation numbers (TeV for masses) of a QCD and a W' sample."""
    return {
        "n_qcd": len(qcd),
        "n_wprime": len(wprime),
        "wprime_mjj_peak_tev": histogram_peak(wprime.mjj, 2.0, 5.0, 0.1),
        "wprime_mjj_median_tev": float(np.median(wprime.mjj)),
        "wprime_mj1_peak_tev": histogram_peak(wprime.feature("mj1"), 0.0, 1.0, 0.02),
        "wprime_mj2_peak_tev": histogram_peak(wprime.feature("mj2"), 0.0, 1.0, 0.02),
        "qcd_mj1_median_tev": float(np.median(qcd.feature("mj1"))),
        "qcd_mj2_median_tev": float(np.median(qcd.feature("mj2"))),
        "qcd_mjj_median_tev": float(np.median(qcd.mjj)),
        "median_tau21_j1_qcd": float(np.median(qcd.feature("tau21_j1"))),
        "median_tau21_j1_wprime": float(np.median(wprime.feature("tau21_j1"))),
        "median_tau21_j2_qcd": float(np.median(qcd.feature("tau21_j2"))),
        "median_tau21_j2_wprime": float(np.median(wprime.feature("tau21_j2"))),
    }


def _sample(process: str, n: int, seed: int, work: Path, n_jobs: int) -> EventTable:
    out = work / process
    generate_pythia_chunks(
        n,
        config=PythiaConfig(process=process),
        seed=seed,
        out_dir=out,
        chunk_size=250,
        n_jobs=n_jobs,
        progress=True,
    )
    merged = merge_chunks(out, out / "features.h5")
    return read_features_h5(merged.features_path)


def _plot(qcd: EventTable, wprime: EventTable) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    plt.rcParams.update({"font.size": 13, "axes.labelsize": 15, "legend.fontsize": 10})
    IMG.mkdir(parents=True, exist_ok=True)
    panels = [
        ("pythia_mjj.png", "mjj", np.arange(2.0, 5.05, 0.1), r"$m_{jj}$ [TeV]"),
        ("pythia_mj1.png", "mj1", np.arange(0.0, 0.805, 0.02), r"$m_{j1}$ (lighter jet) [TeV]"),
        ("pythia_mj2.png", "mj2", np.arange(0.0, 0.805, 0.02), r"$m_{j2}$ (heavier jet) [TeV]"),
        ("pythia_tau21_j1.png", "tau21_j1", np.arange(0.0, 1.025, 0.05), r"$\tau_{21}^{j1}$"),
        ("pythia_tau21_j2.png", "tau21_j2", np.arange(0.0, 1.025, 0.05), r"$\tau_{21}^{j2}$"),
    ]
    written = []
    for name, feature, bins, xlabel in panels:
        fig, ax = plt.subplots(figsize=(6.0, 4.6))
        for ev, label in ((qcd, "QCD dijets"), (wprime, "W' -> X(500) Y(100)")):
            values = ev.mjj if feature == "mjj" else ev.feature(feature)
            counts, edges = np.histogram(values, bins=bins)
            mplhep.histplot(
                counts / max(counts.sum(), 1),
                edges,
                ax=ax,
                label=f"{label} ({len(ev)})",
                yerr=np.sqrt(counts) / max(counts.sum(), 1),
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of events")
        if feature == "mjj":
            ax.set_yscale("log")
            ax.set_ylim(5e-4, 1.0)
        ax.legend(loc="upper right", frameon=False)
        ax.set_title("anomsearch: Pythia 8 + detector + anti-kT R=1", fontsize=11, loc="left")
        fig.tight_layout()
        path = IMG / name
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Generate (or reuse) the samples, draw the plots, print and return the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qcd", type=int, default=2000)
    parser.add_argument("--n-wprime", type=int, default=1000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/anomsearch_pythia_validation"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    qcd = _sample("qcd", args.n_qcd, args.seed, args.work_dir, args.n_jobs)
    wprime = _sample("wprime", args.n_wprime, args.seed + 1, args.work_dir, args.n_jobs)
    numbers = summarise(qcd, wprime)
    for path in _plot(qcd, wprime):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} kB)")
    print(json.dumps(numbers, indent=2))
    return numbers


if __name__ == "__main__":
    main()
