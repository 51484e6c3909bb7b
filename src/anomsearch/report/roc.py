"""ROC and SIC curves of several anomaly scores side by side (matplotlib object API + mplhep).

The benchmark figures of the LHC Olympics anomaly-detection papers: background rejection
``1 / eps_B`` (log scale) and significance improvement ``eps_S / sqrt(eps_B)`` as functions of the
signal efficiency ``eps_S``, one line per method, with the random classifier for reference.

References:
    A. Hallin et al., arXiv:2109.00546 (the rejection and SIC curves of the LHCO R&D benchmark).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.figure import Figure

from anomsearch._io import atomic_path
from anomsearch.exceptions import DataFormatError

__all__ = ["plot_roc_sic"]

log = logging.getLogger(__name__)


def _checked(name: str, curve: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    try:
        fpr, tpr = curve
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"curve {name!r}: expected a pair (fpr, tpr) of arrays") from exc
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.ndim != 1 or fpr.shape != tpr.shape or fpr.size == 0:
        raise DataFormatError(
            f"curve {name!r}: fpr and tpr must be non-empty 1-D arrays of one shape, "
            f"got {fpr.shape} and {tpr.shape}"
        )
    for label, arr in (("fpr", fpr), ("tpr", tpr)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
            raise DataFormatError(f"curve {name!r}: {label} must be finite and in [0, 1]")
    return fpr, tpr


def plot_roc_sic(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """Draw rejection ``1/fpr`` (log scale) and SIC ``tpr/sqrt(fpr)`` versus ``tpr``, per method.

    Points with ``fpr = 0`` or ``tpr = 0`` (infinite rejection, or nothing selected) are not
    drawn. The dotted line is a random classifier (``fpr = tpr``).

    Args:
        curves: method name -> ``(fpr, tpr)``, e.g. the first two fields of
            :func:`anomsearch.metrics.roc_curve`.
        path: output image (``.png``/``.pdf``); written atomically, parent directories created.
        title: text written above the plots.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        DataFormatError: no curves, or a curve that is not two equal-length 1-D arrays of
            efficiencies in ``[0, 1]``.
    """
    if not curves:
        raise DataFormatError("plot_roc_sic: no curves to draw")
    checked = {str(name): _checked(str(name), curve) for name, curve in curves.items()}
    with matplotlib.style.context(mplhep.style.CMS):
        fig = Figure(figsize=(16, 7))
        ax_rej, ax_sic = fig.subplots(1, 2)
        eff = np.linspace(1e-3, 1.0, 400)
        ax_rej.plot(eff, 1.0 / eff, ls=":", color="gray", label="random")
        ax_sic.plot(eff, np.sqrt(eff), ls=":", color="gray", label="random")
        for name, (fpr, tpr) in checked.items():
            keep = (fpr > 0) & (tpr > 0)
            if not np.any(keep):
                log.warning("plot_roc_sic: curve %r has no point with fpr > 0 and tpr > 0", name)
                continue
            (line,) = ax_rej.plot(tpr[keep], 1.0 / fpr[keep], label=name)
            ax_sic.plot(
                tpr[keep], tpr[keep] / np.sqrt(fpr[keep]), color=line.get_color(), label=name
            )
        ax_rej.set_yscale("log")
        ax_rej.set_xlabel(r"signal efficiency $\epsilon_S$")
        ax_rej.set_ylabel(r"background rejection $1/\epsilon_B$")
        ax_sic.set_xlabel(r"signal efficiency $\epsilon_S$")
        ax_sic.set_ylabel(r"SIC $\epsilon_S/\epsilon_B^{1/2}$")
        for ax in (ax_rej, ax_sic):
            ax.set_xlim(0.0, 1.0)
            ax.legend(fontsize=13)
        ax_sic.set_ylim(bottom=0.0)
        if title:
            fig.suptitle(title, fontsize=16)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    log.info("wrote ROC/SIC plot of %d curve(s) to %s", len(checked), path)
    return Path(path)
