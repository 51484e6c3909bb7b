"""Plots of a bump hunt (matplotlib object API + mplhep style; no global pyplot state)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.figure import Figure

from anomsearch._io import atomic_path
from anomsearch.background import dijet_bin_integrals, predict_background

__all__ = ["plot_mjj_fit", "plot_score_distribution"]

log = logging.getLogger(__name__)


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    return Path(path)


def plot_mjj_fit(result, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Selected mjj spectrum, sideband fit with its uncertainty band, SR shaded, pull panel.

    Args:
        result: a :class:`anomsearch.search.bump_hunt.BumpHuntResult`.
        path: output image (``.png``/``.pdf``).
        title: text written above the plot.
    """
    fit = result.fit
    edges = np.asarray(fit.bin_edges)
    counts = np.asarray(fit.counts, dtype=float)
    full = predict_background(fit, edges)
    expected = np.asarray(full.expected)
    sigma = np.asarray(full.uncertainty)
    centers = 0.5 * (edges[1:] + edges[:-1])
    fine = np.linspace(edges[0], edges[-1], 400)
    fine_edges = np.concatenate([fine, [fine[-1] + fine[1] - fine[0]]])
    widths_ratio = (edges[1] - edges[0]) / (fine_edges[1] - fine_edges[0])
    curve = dijet_bin_integrals(fine_edges, fit.params, sqrt_s=fit.sqrt_s) * widths_ratio
    sr = (result.prediction.bin_edges[0], result.prediction.bin_edges[-1])
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(9, 8))
        ax, pull_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        ax.fill_between(
            np.repeat(edges, 2)[1:-1],
            np.repeat(np.clip(expected - sigma, 1e-3, None), 2),
            np.repeat(expected + sigma, 2),
            color="tab:blue",
            alpha=0.3,
            label="fit uncertainty",
        )
        ax.plot(fine, curve, color="tab:blue", label=f"{fit.n_params}-parameter dijet fit")
        ax.errorbar(
            centers,
            counts,
            yerr=np.sqrt(counts),
            fmt="o",
            color="black",
            ms=4,
            label="selected data",
        )
        ax.axvspan(*sr, color="tab:orange", alpha=0.15, label="signal region")
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        ax.set_ylabel(f"Events / {1000 * (edges[1] - edges[0]):.0f} GeV")
        ax.legend(fontsize=13)
        z = result.discovery.significance
        ax.set_title(
            f"{title}  eff = {result.selection.efficiency:g}, local Z = {z:.2f}", fontsize=14
        )
        pulls = (counts - expected) / np.sqrt(np.clip(expected + sigma**2, 1e-9, None))
        pull_ax.bar(centers, pulls, width=edges[1] - edges[0], color="tab:gray")
        pull_ax.axvspan(*sr, color="tab:orange", alpha=0.15)
        pull_ax.axhline(0.0, color="black", lw=1)
        pull_ax.set_ylabel("pull")
        pull_ax.set_xlabel(r"$m_{jj}$ [TeV]")
        pull_ax.set_ylim(-4, 4)
        fig.tight_layout()
        return _save(fig, path)


def plot_score_distribution(
    scores: np.ndarray,
    in_sr: np.ndarray,
    path: str | os.PathLike[str],
    *,
    labels: np.ndarray | None = None,
) -> Path:
    """Distribution of the anomaly score in the SR, outside it, and for true signal (if labelled).

    The score is shown as ``-log10(fraction of all events scoring at least as high)``, so keeping
    the top 1% of all events is a cut at 2, and the tail that matters for the selection is spread
    out whatever the classifier's output scale.
    """
    scores = np.asarray(scores)
    rank = np.empty(scores.size)
    rank[np.argsort(-scores, kind="stable")] = np.arange(1, scores.size + 1)
    x = -np.log10(rank / scores.size)
    bins = np.linspace(0.0, float(x.max()) + 1e-9, 41)
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(9, 7))
        ax = fig.subplots()
        groups = [("signal region", in_sr), ("outside SR", ~in_sr)]
        if labels is not None and np.any(labels == 1):
            groups.append(("true signal", labels == 1))
        for name, mask in groups:
            hist, _ = np.histogram(x[mask], bins=bins)
            mplhep.histplot(hist / max(1, int(mask.sum())), bins, ax=ax, label=name)
        ax.set_yscale("log")
        ax.set_xlabel(r"$-\log_{10}$(fraction of events with a higher score)")
        ax.set_ylabel("fraction of events")
        ax.legend(fontsize=13)
        fig.tight_layout()
        return _save(fig, path)
