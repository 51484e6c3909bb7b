"""Nuisance-parameter pulls, constraints and impacts on the POI of a pyhf workspace.

For every constrained nuisance parameter (every component of a multi-bin parameter set such as
``staterror`` or ``shapesys``, named ``name[i]`` as in pyhf's ``model.config.par_names``):

- the best-fit value ``theta_hat`` and its post-fit error ``sigma_postfit`` from the
  unconditional MINUIT fit (POI lower bound relaxed below 0, as in
  :func:`~anomsearch.stats.inference.discovery_test`), with HESSE evaluated at the minimum
  without parameter bounds (MINUIT's bounded-parameter transformation shrinks the error of a
  unit-width parameter bounded to ``[-5, 5]`` by 0.7%);
- the pull ``(theta_hat - theta_0) / sigma_prefit`` and the constraint
  ``sigma_postfit / sigma_prefit``, with ``theta_0`` the nominal value (pyhf's suggested init: 0
  for ``normsys`` / ``histosys``, 1 for ``staterror`` / ``shapesys``) and ``sigma_prefit`` the width
  of its constraint term (1 for ``normsys`` / ``histosys``, the relative uncertainty for
  ``staterror``, ``1 / sqrt(tau)`` for the Poisson-constrained ``shapesys``);
- the impact on the POI: the change ``mu_hat' - mu_hat`` when the parameter is fixed at
  ``theta_0 +- sigma_prefit`` (pre-fit impact) or at ``theta_hat +- sigma_postfit`` (post-fit
  impact) and every other free parameter is fitted again.

Unconstrained parameters (normfactors, shapefactors, the POI) and fixed parameters have no
constraint width and are not listed. Fixed values are clipped to the parameter's bounds.

**Known answers.** In a one-bin model ``n = mu s + b`` with a free ``mu`` the bin is saturated by
``mu``: a nuisance parameter sees only its constraint, so its pull is 0 and its constraint 1; a
``normsys`` of relative size ``delta`` on the signal, fixed at ``+-1``, scales the signal by
``kappa = 1 +- delta``, so ``mu_hat' = mu_hat / kappa`` and the impact is
``mu_hat (1 / kappa - 1) = -+ mu_hat delta + O(delta^2)``; a ``normsys`` on the background shifts
``mu_hat`` by ``-+ b delta / s``.

All fits use MINUIT through :func:`~anomsearch.stats.inference.minuit_backend` (which restores
pyhf's previous backend afterwards) with a MIGRAD tolerance of ``1e-6``: an impact is the
difference of two fitted ``mu``, so the fits must be converged well below the impacts' size.

References:
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727 (profile likelihood);
    ROOT/HistFactory, CERN-OPEN-2012-016 (constraint terms of normsys, histosys, staterror,
    shapesys); L. Heinrich, M. Feickert, G. Stark, K. Cranmer, pyhf, JOSS 6 (2021) 2823. The
    pull / constraint / impact ranking follows the customary ATLAS and CMS presentation.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyhf

from anomsearch._io import atomic_path
from anomsearch.exceptions import ConfigError, FitError
from anomsearch.stats.inference import (
    _model_and_data,
    _relaxed_bounds,
    _relaxed_fit,
    load_workspace,
    minuit_backend,
)

__all__ = ["NuisanceImpact", "nuisance_impacts", "plot_impacts"]

log = logging.getLogger(__name__)

_TOLERANCE = 1e-6  # MIGRAD tolerance of every fit here (pyhf's default 0.1, discovery_test 1e-4)


class NuisanceImpact(NamedTuple):
    """Pull, constraint and impact on the POI of one constrained nuisance parameter.

    Attributes:
        name: parameter name; ``name[i]`` for component ``i`` of a multi-bin parameter set.
        value: best-fit value ``theta_hat``.
        error: post-fit (HESSE) error ``sigma_postfit``.
        nominal: nominal value ``theta_0`` (centre of the constraint).
        prefit_error: width of the constraint ``sigma_prefit``.
        pull: ``(theta_hat - theta_0) / sigma_prefit``.
        constraint: ``sigma_postfit / sigma_prefit`` (< 1: the data constrain the parameter).
        prefit_impact_up: ``mu_hat' - mu_hat`` with the parameter fixed at
            ``theta_0 + sigma_prefit``.
        prefit_impact_down: the same at ``theta_0 - sigma_prefit``.
        postfit_impact_up: ``mu_hat' - mu_hat`` with the parameter fixed at
            ``theta_hat + sigma_postfit``.
        postfit_impact_down: the same at ``theta_hat - sigma_postfit``.
        pdf_type: constraint type, ``"normal"`` or ``"poisson"``.
    """

    name: str
    value: float
    error: float
    nominal: float
    prefit_error: float
    pull: float
    constraint: float
    prefit_impact_up: float
    prefit_impact_down: float
    postfit_impact_up: float
    postfit_impact_down: float
    pdf_type: str

    @property
    def postfit_impact(self) -> float:
        """Size of the post-fit impact, ``max(|up|, |down|)`` (the ranking key)."""
        return max(abs(self.postfit_impact_up), abs(self.postfit_impact_down))

    @property
    def prefit_impact(self) -> float:
        """Size of the pre-fit impact, ``max(|up|, |down|)``."""
        return max(abs(self.prefit_impact_up), abs(self.prefit_impact_down))


class _Component(NamedTuple):
    name: str
    index: int
    nominal: float
    width: float
    pdf_type: str


def _constrained_components(model: Any) -> list[_Component]:
    """Free constrained parameters of ``model``, one per component, in parameter order."""
    names = list(model.config.par_names)
    fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
    init = np.asarray(model.config.suggested_init(), dtype=float)
    out: list[_Component] = []
    for par_name in model.config.par_order:
        paramset = model.config.par_map[par_name]["paramset"]
        sl = model.config.par_map[par_name]["slice"]
        if not getattr(paramset, "constrained", False) or par_name == model.config.poi_name:
            continue
        widths = np.asarray(paramset.width(), dtype=float)
        for k, idx in enumerate(range(sl.start, sl.stop)):
            if fixed[idx]:
                continue
            if not (math.isfinite(widths[k]) and widths[k] > 0):
                log.debug("skipping %s: constraint width %r", names[idx], widths[k])
                continue
            out.append(
                _Component(names[idx], idx, float(init[idx]), float(widths[k]), paramset.pdf_type)
            )
    return out


def _unbounded_hesse_errors(minuit: Any, fallback: np.ndarray) -> np.ndarray:
    """HESSE errors at the minimum without MINUIT's transformation of bounded parameters.

    MINUIT computes the errors of bounded parameters in its internal (sine-transformed)
    coordinates; mapped back they come out too small -- by 0.7% for a unit-width nuisance
    parameter bounded to ``[-5, 5]``, pyhf's default. The errors here are from HESSE at the same
    minimum with the bounds lifted, i.e. from the Hessian of ``-2 ln L`` itself; ``fallback`` (the
    bounded errors) is returned when that HESSE does not give a valid covariance.
    """
    minuit.limits = (-math.inf, math.inf)
    try:
        minuit.hesse()
    except RuntimeError as exc:  # pragma: no cover - depends on MINUIT internals
        log.warning("HESSE without bounds failed (%s); using the bounded errors", exc)
        return fallback
    if minuit.covariance is None or not minuit.fmin.has_accurate_covar:
        log.warning("HESSE without bounds gave no accurate covariance; using the bounded errors")
        return fallback
    errors = np.array([float(e) for e in minuit.errors])
    fixed = np.array([bool(f) for f in minuit.fixed])
    return np.where(fixed, fallback, errors)


def nuisance_impacts(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    *,
    data: Sequence[float] | np.ndarray | None = None,
    measurement: str | None = None,
) -> list[NuisanceImpact]:
    """Pulls, constraints and pre-/post-fit impacts on the POI of every constrained nuisance.

    One unconditional fit, then four fits per nuisance-parameter component, each with that
    component fixed (at ``theta_0 +- sigma_prefit`` and at ``theta_hat +- sigma_postfit``) and
    every other free parameter, the POI included, refitted from the unconditional minimum.

    Args:
        workspace: pyhf spec (dict) or :class:`pyhf.Workspace`.
        data: main-bin observations (auxiliary data appended from the model) or the full data
            vector; default: the workspace's observations.
        measurement: measurement name; default: the workspace's first.

    Returns:
        One :class:`NuisanceImpact` per constrained, non-fixed nuisance-parameter component,
        sorted by decreasing post-fit impact (``max(|up|, |down|)``); ties keep the model's
        parameter order, so the order is reproducible. Empty when the model has none.

    Raises:
        ConfigError: invalid spec or measurement.
        DataFormatError: bad ``data``.
        FitError: a fit failed.

    References:
        arXiv:1007.1727; CERN-OPEN-2012-016; pyhf, JOSS 6 (2021) 2823.

    Examples:
        >>> from anomsearch.stats.inference import counting_experiment_spec
        >>> spec = counting_experiment_spec(10.0, 100.0, observed=120.0)
        >>> spec["channels"][0]["samples"][0]["modifiers"].append(
        ...     {"name": "sig_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}})
        >>> (imp,) = nuisance_impacts(spec)
        >>> imp.name, round(imp.pull, 3), round(imp.constraint, 2)
        ('sig_norm', 0.0, 1.0)
        >>> round(imp.prefit_impact_up, 3), round(2.0 * (1 / 1.1 - 1), 3)
        (-0.182, -0.182)
    """
    ws = load_workspace(workspace)
    # impacts are differences of two fitted mu's: a tight MIGRAD tolerance keeps their noise small
    with minuit_backend(tolerance=_TOLERANCE):
        model, full = _model_and_data(ws, data, measurement)
        poi = model.config.poi_index
        res, result = _relaxed_fit(model, full, return_uncertainties=True, return_result_obj=True)
        res = np.asarray(res)
        best = res[:, 0].astype(float)
        errors = _unbounded_hesse_errors(result.minuit, res[:, 1].astype(float))
        mu_hat = float(best[poi])
        bounds = _relaxed_bounds(model)
        fixed = [bool(f) for f in model.config.suggested_fixed()]
        components = _constrained_components(model)

        def refit_mu(index: int, value: float) -> float:
            lo, hi = bounds[index]
            clipped = min(max(value, lo), hi)
            if clipped != value:
                log.debug(
                    "%s fixed at its bound %.4g instead of %.4g",
                    model.config.par_names[index],
                    clipped,
                    value,
                )
            init = best.copy()
            init[index] = clipped
            fix = list(fixed)
            fix[index] = True
            try:
                fit = pyhf.infer.mle.fit(
                    full, model, init_pars=init.tolist(), par_bounds=bounds, fixed_params=fix
                )
            except pyhf.exceptions.FailedMinimization as exc:
                raise FitError(
                    f"pyhf fit with {model.config.par_names[index]} fixed at {clipped:g} "
                    f"failed: {exc}"
                ) from exc
            return float(np.asarray(fit)[poi]) - mu_hat

        impacts: list[NuisanceImpact] = []
        for comp in components:
            value, error = float(best[comp.index]), float(errors[comp.index])
            impacts.append(
                NuisanceImpact(
                    name=comp.name,
                    value=value,
                    error=error,
                    nominal=comp.nominal,
                    prefit_error=comp.width,
                    pull=(value - comp.nominal) / comp.width,
                    constraint=error / comp.width,
                    prefit_impact_up=refit_mu(comp.index, comp.nominal + comp.width),
                    prefit_impact_down=refit_mu(comp.index, comp.nominal - comp.width),
                    postfit_impact_up=refit_mu(comp.index, value + error),
                    postfit_impact_down=refit_mu(comp.index, value - error),
                    pdf_type=comp.pdf_type,
                )
            )
    impacts.sort(key=lambda imp: -imp.postfit_impact)  # stable: ties keep the model order
    if impacts:
        log.info(
            "impacts of %d nuisance parameters on mu_hat = %.4g; largest: %s (%.3g)",
            len(impacts),
            mu_hat,
            impacts[0].name,
            impacts[0].postfit_impact,
        )
    return impacts


def plot_impacts(
    impacts: Sequence[NuisanceImpact], path: str | os.PathLike[str], *, top: int = 15
) -> Path:
    """Ranking plot: pulls with constraints (bottom axis) and impacts on ``mu`` (top axis).

    The ``top`` parameters of ``impacts`` (in the given order, i.e. the ranking of
    :func:`nuisance_impacts`) are drawn top to bottom: open bars the pre-fit, filled bars the
    post-fit impacts (up variation blue, down variation orange), black points the pulls with error
    bars the constraints. Uses matplotlib's object API only (no pyplot state; safe under Agg) and
    writes the image atomically.

    Args:
        impacts: ranked impacts from :func:`nuisance_impacts`.
        path: output image (``.png`` / ``.pdf`` / ``.svg``).
        top: number of parameters to draw (>= 1).

    Returns:
        The written path.

    Raises:
        ConfigError: ``top`` is not a positive integer, or ``impacts`` is empty.
    """
    from matplotlib.figure import Figure

    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ConfigError(f"plot_impacts.top must be a positive integer, got {top!r}")
    shown = list(impacts)[: int(top)]
    if not shown:
        raise ConfigError("plot_impacts.impacts is empty: nothing to plot")
    n = len(shown)
    y = np.arange(n)[::-1].astype(float)
    fig = Figure(figsize=(9.0, 1.9 + 0.42 * n))
    ax_pull = fig.subplots()
    ax_imp = ax_pull.twiny()
    pre_up = np.array([i.prefit_impact_up for i in shown])
    pre_dn = np.array([i.prefit_impact_down for i in shown])
    post_up = np.array([i.postfit_impact_up for i in shown])
    post_dn = np.array([i.postfit_impact_down for i in shown])
    h = 0.7
    ax_imp.barh(y, pre_up, height=h, fill=False, edgecolor="tab:blue", label="pre-fit +1 sigma")
    ax_imp.barh(y, pre_dn, height=h, fill=False, edgecolor="tab:orange", label="pre-fit -1 sigma")
    ax_imp.barh(y, post_up, height=h, color="tab:blue", alpha=0.5, label="post-fit +1 sigma")
    ax_imp.barh(y, post_dn, height=h, color="tab:orange", alpha=0.5, label="post-fit -1 sigma")
    limit = float(np.max(np.abs(np.concatenate([pre_up, pre_dn, post_up, post_dn]))))
    limit = 1.15 * limit if limit > 0 else 1.0
    ax_imp.set_xlim(-limit, limit)
    ax_imp.set_xlabel(r"$\Delta\hat{\mu}$")
    pulls = np.array([i.pull for i in shown])
    constraints = np.array([i.constraint for i in shown])
    ax_pull.set_zorder(ax_imp.get_zorder() + 1)  # pulls drawn over the impact bars
    ax_pull.patch.set_visible(False)
    ax_pull.errorbar(pulls, y, xerr=constraints, fmt="o", color="black", label="pull")
    span = float(np.max(np.abs(pulls) + constraints))
    span = max(2.0, 1.15 * span) if math.isfinite(span) else 2.0
    ax_pull.set_xlim(-span, span)
    ax_pull.axvline(0.0, color="grey", lw=0.8)
    for edge in (-1.0, 1.0):
        ax_pull.axvline(edge, color="grey", lw=0.8, ls="--")
    ax_pull.set_yticks(y)
    ax_pull.set_yticklabels([i.name for i in shown])
    ax_pull.set_ylim(-0.7, n - 0.3)
    ax_pull.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
    handles = [*ax_pull.get_legend_handles_labels()[0], *ax_imp.get_legend_handles_labels()[0]]
    labels = [*ax_pull.get_legend_handles_labels()[1], *ax_imp.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0.0, 0.35 / fig.get_figheight(), 1.0, 1.0))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    return Path(path)
