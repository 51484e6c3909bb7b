"""Plots of a sliding-window scan and of the ABCD plane (matplotlib object API + mplhep style).

* :func:`plot_scan_significance`: local significance against the window centre, one line per
  selection efficiency (the usual summary of a CWoLa-hunting scan);
* :func:`plot_fits_per_efficiency`: for one window, the selected mjj spectrum with the sideband
  fit, its uncertainty band and the pulls, one row per efficiency;
* :func:`plot_abcd_plane`: the two ABCD observables with the cuts and the four regions.

References:
    J. H. Collins, K. Howe, B. Nachman, arXiv:1805.02664 and arXiv:1902.02634 (sliding-window
    CWoLa hunting); G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih, arXiv:2007.14400 (ABCD
    with decorrelated classifiers).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from anomsearch.background import abcd_counts, dijet_bin_integrals, predict_background
from anomsearch.exceptions import DataFormatError
from anomsearch.report.plots import _save
from anomsearch.search.scan import ScanResult, WindowResult

__all__ = ["plot_abcd_plane", "plot_fits_per_efficiency", "plot_scan_significance"]

log = logging.getLogger(__name__)

_COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def _color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def plot_scan_significance(
    scan: ScanResult, path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """Local significance against the SR centre, one line per efficiency.

    Skipped (window, efficiency) pairs leave gaps in their line.

    Args:
        scan: a :class:`~anomsearch.search.scan.ScanResult`.
        path: output image (``.png``/``.pdf``), written atomically.
        title: text written above the plot.

    Returns:
        ``path``.

    Raises:
        DataFormatError: ``scan`` is not a ScanResult or has no successful window.
    """
    if not isinstance(scan, ScanResult):
        raise DataFormatError(f"plot_scan_significance needs a ScanResult, got {type(scan)}")
    if not scan.results:
        raise DataFormatError("plot_scan_significance: the scan has no successful window")
    centers = np.array([w.sr_center for w in scan.windows])
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(9, 7))
        ax = fig.subplots()
        for i, eff in enumerate(scan.efficiencies):
            z = np.full(centers.size, np.nan)
            for r in scan.results:
                if r.efficiency == eff:
                    z[r.window_index] = r.significance
            ax.plot(centers, z, "o-", color=_color(i), label=f"efficiency {eff:g}")
        for level in (3.0, 5.0):
            ax.axhline(level, color="gray", ls="--", lw=1)
        best = scan.best
        if best is not None:
            ax.axvspan(best.window.sr_low, best.window.sr_high, color="tab:orange", alpha=0.15)
        ax.set_xlabel(r"signal-region centre $m_{jj}$ [TeV]")
        ax.set_ylabel(r"local significance $Z$")
        ax.set_ylim(bottom=0.0)
        ax.legend(fontsize=13)
        if title:
            ax.set_title(title, fontsize=14)
        fig.tight_layout()
        return _save(fig, path)


def plot_fits_per_efficiency(
    results: Sequence[WindowResult], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """The sideband fit of one window at each efficiency: spectrum, fit, band and pulls.

    Each efficiency gets a row of two panels: the selected mjj spectrum (points), the fitted dijet
    function with its uncertainty band (as in :func:`anomsearch.report.plots.plot_mjj_fit`), the
    SR shaded; and below it the pulls ``(n - b) / sqrt(b + sigma_b^2)``.

    Args:
        results: the :class:`~anomsearch.search.scan.WindowResult` of one window (e.g.
            ``scan.for_window(i)``).
        path: output image (``.png``/``.pdf``), written atomically.
        title: text written above the plot.

    Returns:
        ``path``.

    Raises:
        DataFormatError: no results, results that are not WindowResults, or results of more than
            one window.
    """
    results = list(results)
    if not results:
        raise DataFormatError("plot_fits_per_efficiency: no window results given")
    if not all(isinstance(r, WindowResult) for r in results):
        raise DataFormatError("plot_fits_per_efficiency needs WindowResult items (scan.results)")
    windows = {(r.window_index, r.window) for r in results}
    if len(windows) != 1:
        indices = sorted(i for i, _ in windows)
        raise DataFormatError(
            f"plot_fits_per_efficiency: results of one window expected, got windows {indices}"
        )
    window = results[0].window
    n = len(results)
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(9, 4.5 * n + 1))
        axes = fig.subplots(2 * n, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1] * n})
        for i, r in enumerate(results):
            _draw_fit(axes[2 * i], axes[2 * i + 1], r, _color(i))
        axes[-1].set_xlabel(r"$m_{jj}$ [TeV]")
        head = f"SR [{window.sr_low:g}, {window.sr_high:g}] TeV"
        fig.suptitle(f"{title}  {head}" if title else head, fontsize=15)
        fig.tight_layout()
        return _save(fig, path)


def _draw_fit(ax, pull_ax, r: WindowResult, color: str) -> None:
    fit = r.hunt.fit
    edges = np.asarray(fit.bin_edges)
    counts = np.asarray(fit.counts, dtype=float)
    full = predict_background(fit, edges)
    expected, sigma = np.asarray(full.expected), np.asarray(full.uncertainty)
    centers = 0.5 * (edges[1:] + edges[:-1])
    fine = np.linspace(edges[0], edges[-1], 300)
    step = fine[1] - fine[0]
    fine_edges = np.append(fine, fine[-1] + step)
    curve = dijet_bin_integrals(fine_edges, fit.params, sqrt_s=fit.sqrt_s) * (
        (edges[1] - edges[0]) / step
    )
    sr = (r.window.sr_low, r.window.sr_high)
    ax.fill_between(
        np.repeat(edges, 2)[1:-1],
        np.repeat(np.clip(expected - sigma, 1e-3, None), 2),
        np.repeat(expected + sigma, 2),
        color=color,
        alpha=0.25,
    )
    ax.plot(fine, curve, color=color, label=f"{fit.n_params}-par. fit, eff = {r.efficiency:g}")
    ax.errorbar(centers, counts, yerr=np.sqrt(counts), fmt="o", color="black", ms=3)
    ax.axvspan(*sr, color="tab:orange", alpha=0.15)
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(0.5, 0.3 * float(np.min(expected))))
    ax.set_ylabel("events / bin", fontsize=14)
    ax.legend(fontsize=11, title=f"Z = {r.significance:.2f}", title_fontsize=11)
    pulls = (counts - expected) / np.sqrt(np.clip(expected + sigma**2, 1e-9, None))
    pull_ax.bar(centers, pulls, width=edges[1] - edges[0], color=color, alpha=0.7)
    pull_ax.axvspan(*sr, color="tab:orange", alpha=0.15)
    pull_ax.axhline(0.0, color="black", lw=1)
    pull_ax.set_ylim(-4, 4)
    pull_ax.set_ylabel("pull", fontsize=14)
    pull_ax.tick_params(axis="y", labelsize=12)


def plot_abcd_plane(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_cut: float,
    y_cut: float,
    path: str | os.PathLike[str],
    labels: tuple[str, str] | None = None,
    bins: int = 50,
) -> Path:
    """2-d histogram of the two ABCD observables with the cuts, regions and their counts.

    Regions as in :mod:`anomsearch.background.abcd`: A (``x >= x_cut``, ``y >= y_cut``), B
    (``x >= x_cut``, ``y < y_cut``), C (``x < x_cut``, ``y >= y_cut``), D (the rest).

    Args:
        x: first observable, one value per event.
        y: second observable, same shape.
        x_cut: cut on ``x``.
        y_cut: cut on ``y``.
        path: output image (``.png``/``.pdf``), written atomically.
        labels: axis labels ``(x_label, y_label)`` (default ``"x"``, ``"y"``).
        bins: histogram bins per axis.

    Returns:
        ``path``.

    Raises:
        DataFormatError: ``x`` and ``y`` not 1-d of equal length, empty or non-finite, or
            ``labels`` not two strings.
        ConfigError: non-finite cuts.
    """
    counts = abcd_counts(x, y, x_cut=x_cut, y_cut=y_cut)  # validates shapes, values and cuts
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.size == 0:
        raise DataFormatError("plot_abcd_plane: no events")
    if labels is None:
        labels = ("x", "y")
    if len(labels) != 2 or not all(isinstance(s, str) for s in labels):
        raise DataFormatError(f"plot_abcd_plane: labels must be two strings, got {labels!r}")
    x_range = (min(xa.min(), x_cut), max(xa.max(), x_cut))
    y_range = (min(ya.min(), y_cut), max(ya.max(), y_cut))
    x_range = x_range if x_range[1] > x_range[0] else (x_range[0] - 0.5, x_range[0] + 0.5)
    y_range = y_range if y_range[1] > y_range[0] else (y_range[0] - 0.5, y_range[0] + 0.5)
    hist, xe, ye = np.histogram2d(xa, ya, bins=bins, range=(x_range, y_range))
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(9, 8))
        ax = fig.subplots()
        mesh = ax.pcolormesh(
            xe, ye, np.ma.masked_equal(hist.T, 0), norm=LogNorm(vmin=1, vmax=max(hist.max(), 2))
        )
        fig.colorbar(mesh, ax=ax, label="events")
        ax.axvline(x_cut, color="red", lw=2)
        ax.axhline(y_cut, color="red", lw=2)
        quadrants = {
            "A": (counts.a, x_cut, x_range[1], y_cut, y_range[1]),
            "B": (counts.b, x_cut, x_range[1], y_range[0], y_cut),
            "C": (counts.c, x_range[0], x_cut, y_cut, y_range[1]),
            "D": (counts.d, x_range[0], x_cut, y_range[0], y_cut),
        }
        for name, (n, x0, x1, y0, y1) in quadrants.items():
            ax.text(
                0.5 * (x0 + x1),
                0.5 * (y0 + y1),
                f"{name}\n{n:.0f}",
                ha="center",
                va="center",
                fontsize=16,
                color="black",
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.7},
            )
        ax.set_xlim(*x_range)
        ax.set_ylim(*y_range)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        fig.tight_layout()
        return _save(fig, path)
