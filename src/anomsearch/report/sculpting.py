"""The mjj sculpting plot of a score: the background mjj shape after cuts at some efficiencies."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.figure import Figure

from anomsearch._io import atomic_path
from anomsearch.exceptions import ConfigError
from anomsearch.metrics.decorrelation import mjj_sculpting

__all__ = ["plot_mjj_sculpting"]

log = logging.getLogger(__name__)


def plot_mjj_sculpting(
    mjj: np.ndarray,
    scores: np.ndarray,
    *,
    background_efficiencies: Sequence[float] = (1.0, 0.5, 0.1, 0.01),
    bins: int | Sequence[float] = 40,
    weights: np.ndarray | None = None,
    title: str = "",
    xlabel: str = r"$m_{jj}$ [TeV]",
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Plot the normalised (background) mjj shape after cuts at several efficiencies.

    Uses the matplotlib object API (no pyplot state, safe with the Agg backend) and the mplhep CMS
    style; the JSD with respect to the uncut shape (:func:`~anomsearch.metrics.mjj_sculpting`) is
    given in the legend.

    Args:
        mjj: dijet invariant mass per event, shape ``(n,)``.
        scores: anomaly score per event, shape ``(n,)``.
        background_efficiencies: efficiencies to draw, each in ``(0, 1]`` (1 = no cut).
        bins: number of equal-width bins or explicit edges.
        weights: optional non-negative event weights.
        title: text above the plot.
        xlabel: x-axis label.
        path: optional output image (``.png``/``.pdf``), written atomically.

    Returns:
        The :class:`~matplotlib.figure.Figure` (not closed; saving is optional).

    Raises:
        DataFormatError: malformed inputs (see :func:`~anomsearch.metrics.mjj_sculpting`).
        ConfigError: invalid ``background_efficiencies`` or ``bins``.

    References:
        Kasieczka, Shih, arXiv:2001.05310 (background mass shapes at fixed efficiency).
    """
    effs = np.atleast_1d(np.asarray(background_efficiencies, dtype=np.float64))
    if effs.ndim != 1 or effs.size == 0 or not np.all(np.isfinite(effs) & (effs > 0) & (effs <= 1)):
        raise ConfigError(f"background_efficiencies must lie in (0, 1], got {effs.tolist()}")
    mjj_v = np.asarray(mjj, dtype=np.float64)
    score_v = np.asarray(scores, dtype=np.float64)
    cut = effs[effs < 1.0]
    # with no cut to measure, one with a tiny efficiency only fixes the validated bin edges
    res = mjj_sculpting(
        mjj_v,
        score_v,
        background_efficiencies=cut if cut.size else [0.5],
        bins=bins,
        weights=weights,
    )
    edges = res.bin_edges
    w = np.ones_like(mjj_v) if weights is None else np.asarray(weights, dtype=np.float64)
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(9, 7))
        ax = fig.subplots()
        widths = np.diff(edges)
        k = 0
        for eff in effs:
            if eff >= 1.0:
                mask = np.ones(mjj_v.shape[0], dtype=bool)
                label = "no cut"
            else:
                mask = score_v >= res.thresholds[k]
                label = rf"$\epsilon_B$ = {eff:g} (JSD = {res.jsd[k]:.2g})"
                k += 1
            hist, _ = np.histogram(mjj_v[mask], bins=edges, weights=w[mask])
            total = hist.sum()
            density = hist / (total * widths) if total > 0 else hist
            mplhep.histplot(density, edges, ax=ax, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised events / bin width")
        ax.set_yscale("log")
        ax.legend(fontsize=13)
        if title:
            ax.set_title(title, fontsize=16)
        fig.tight_layout()
        if path is not None:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
            log.info("wrote mjj sculpting plot to %s", path)
    return fig
