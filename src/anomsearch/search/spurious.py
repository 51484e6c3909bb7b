"""The spurious-signal test of a bump hunt: the data's cut and fit function on background alone.

A score that has learnt mjj -- directly, or through features correlated with it, as CWoLa
hunting does when the SR and sideband jets differ -- sculpts the selected mjj spectrum, and the
sculpted shape can look like a resonance in the signal region while the sideband fit still
looks fine (a goodness-of-fit gate cannot see it when the sidebands hold few events). The test
builds a *background-only template of the selected spectrum*: an independent background sample
(the config's reference background, else its background simulation) scored by the data's fold
models and cut at the data's per-fold thresholds, each event counting ``1/k`` for each of the
``k`` fold models whose cut it passes. The chosen dijet function is fitted to
that template by the bump hunt's own procedure (sideband fit, interpolation into the SR,
:func:`spurious_signal_check`); the SR excess it finds, projected on the signal shape and scaled
to the data's selected yield, is the signal that the score and the function together make up
from background. It enters the bump hunt's pyhf model as a background ``histosys``
(``spurious_signal``) of size ``sqrt(max(S^2 - dS^2, 0))`` times the signal shape (``dS`` the
template's own statistical error, so a template fluctuation does not count), and the test passes
when ``|S|`` is below ``max_relative`` times the statistical error of the data's signal yield or
consistent with zero within two ``dS``.

References:
    ATLAS Collaboration, arXiv:1407.6583 and arXiv:1910.08447 (spurious-signal test);
    G. Kasieczka, B. Nachman, D. Shih et al., arXiv:2101.08320, section 5 (sculpting in LHCO);
    A. Hallin et al., arXiv:2109.00546 (CATHODE: CWoLa's sculpting with correlated features).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from anomsearch.background import fit_binned_sideband, predict_background
from anomsearch.data.events import EventTable
from anomsearch.exceptions import DataFormatError, FitError
from anomsearch.methods.base import Scorer

__all__ = [
    "SpuriousReference",
    "SpuriousSignalCheck",
    "selected_template",
    "selected_template_sumw2",
    "spurious_signal_check",
    "try_spurious_signal_check",
]

log = logging.getLogger(__name__)

#: The test passes when |S| is below this fraction of the data's signal-yield error (ATLAS uses
#: 20-50%; arXiv:1407.6583).
DEFAULT_MAX_RELATIVE = 0.5


class SpuriousReference(NamedTuple):
    """A background-only sample scored by each of the data's fold models (scored once, cut at
    any efficiency).

    Attributes:
        mjj: dijet masses of the sample's events (TeV).
        fold_scores: ``(n_folds, n_events)``: the score of every event by every fold model, in
            the order of the selection's per-fold thresholds.
        jet_masses: ``(n_events, 2)`` the events' jet masses ``mj1``, ``mj2`` (TeV; None: not
            kept): the answer corrects the daughters' background template with the reference's
            selected jet masses (:mod:`anomsearch.answer.sideband_template`).
    """

    mjj: np.ndarray
    fold_scores: np.ndarray
    jet_masses: np.ndarray | None = None

    @classmethod
    def score(
        cls,
        events: EventTable,
        scorers: Sequence[Scorer],
        *,
        mjj_range: tuple[float, float] | None = None,
        keep_jet_masses: bool = False,
    ) -> SpuriousReference:
        """Score ``events`` (those in ``mjj_range`` only, when given) with every fold model;
        ``keep_jet_masses``: keep their ``mj1``, ``mj2`` too (the headline window, whose
        reference the answer uses; the scan's windows need only the scores)."""
        if not len(scorers):
            raise DataFormatError("the spurious-signal test needs the data's fold models")
        if mjj_range is not None:
            mjj = events.mjj
            events = events.subset((mjj >= mjj_range[0]) & (mjj < mjj_range[1]))
        scores = np.stack([np.asarray(s.score(events), dtype=float) for s in scorers])
        jets = np.asarray(events.features(["mj1", "mj2"]), dtype=float) if keep_jet_masses else None
        return cls(np.asarray(events.mjj, dtype=float), scores, jets)

    def weights(self, thresholds: np.ndarray) -> np.ndarray:
        """Each event's weight under the data's cut: the fraction of the fold models whose
        per-fold threshold (``-inf``: no cut) its score reaches.

        Raises:
            DataFormatError: not one threshold per fold model.

        Examples:
            >>> ref = SpuriousReference(np.array([3.0, 3.5]), np.array([[0.2, 0.9], [0.6, 0.8]]))
            >>> ref.weights(np.array([0.5, 0.5])).tolist()
            [0.5, 1.0]
        """
        thresholds = np.asarray(thresholds, dtype=float)
        if thresholds.shape != self.fold_scores.shape[:1]:
            raise DataFormatError(
                f"{self.fold_scores.shape[0]} fold models for {thresholds.size} thresholds: "
                "need one per fold"
            )
        return (self.fold_scores >= thresholds[:, None]).mean(axis=0)


class SpuriousSignalCheck(NamedTuple):
    """Result of :func:`spurious_signal_check`.

    Attributes:
        signal: spurious signal in the SR, in events of the data's selected spectrum.
        signal_error: its statistical error from the template's size (same units).
        data_signal_error: the statistical error of the data's fitted signal yield.
        relative: ``signal / data_signal_error``.
        systematic: the background ``histosys`` size in events, ``sqrt(max(S^2 - dS^2, 0))``.
        n_template: weighted template events in the fit range (before scaling).
        scale: data selected events / template events in the fit range.
        max_relative: the pass criterion on ``|relative|``.
        passed: ``|S| <= max_relative * data_signal_error`` or ``|S| <= 2 dS``.
        template: the background-only template per bin of the data's spectrum (weighted
            events, before scaling); the answer measures with it how the cut's sculpting moves
            the fitted resonance mass (:mod:`anomsearch.answer.sculpting_closure`).
        template_sumw2: the template's sum of squared weights per bin (its variance).
    """

    signal: float
    signal_error: float
    data_signal_error: float
    relative: float
    systematic: float
    n_template: float
    scale: float
    max_relative: float
    passed: bool
    template: np.ndarray | None = None
    template_sumw2: np.ndarray | None = None

    def to_dict(self) -> dict[str, float | bool]:
        """The JSON-ready record of the test (``report.json``; the template is in
        :meth:`template_dict`)."""
        return {
            k: (bool(v) if k == "passed" else float(v))
            for k, v in self._asdict().items()
            if k not in ("template", "template_sumw2")
        }

    def template_dict(self) -> dict[str, list[float]] | None:
        """``{"counts": ..., "sumw2": ...}`` of the template (``report.json``
        ``background.spurious_template``), None without one."""
        if self.template is None:
            return None
        sumw2 = self.template if self.template_sumw2 is None else self.template_sumw2
        return {
            "counts": np.asarray(self.template, dtype=float).tolist(),
            "sumw2": np.asarray(sumw2, dtype=float).tolist(),
        }


def selected_template(
    reference: SpuriousReference, thresholds: np.ndarray, *, bin_edges: np.ndarray
) -> np.ndarray:
    """The selected mjj spectrum of a background-only sample under the data's cut.

    Args:
        reference: the scored background-only sample.
        thresholds: the per-fold score thresholds of the data's selection (``-inf``: no cut).
        bin_edges: mjj bin edges (TeV).

    Returns:
        Weighted events per bin: each event counts ``1/k`` for each of the ``k`` fold models
        whose threshold its score reaches.
    """
    return _template_and_sumw2(reference, thresholds, bin_edges)[0]


def selected_template_sumw2(
    reference: SpuriousReference, thresholds: np.ndarray, *, bin_edges: np.ndarray
) -> np.ndarray:
    """The variance of :func:`selected_template` per bin: the sum of its squared weights."""
    return _template_and_sumw2(reference, thresholds, bin_edges)[1]


def _template_and_sumw2(
    reference: SpuriousReference, thresholds: np.ndarray, bin_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`selected_template` and :func:`selected_template_sumw2` from one pass over the
    reference's scores: each event weighs its fraction of the fold models whose threshold its
    score reaches."""
    weights = reference.weights(thresholds)
    edges = np.asarray(bin_edges)
    counts, _ = np.histogram(reference.mjj, bins=edges, weights=weights)
    sumw2, _ = np.histogram(reference.mjj, bins=edges, weights=weights**2)
    return counts, sumw2


def spurious_signal_check(
    template: np.ndarray,
    *,
    n_data: float,
    bin_edges: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int,
    signal_template: np.ndarray,
    data_signal_error: float,
    max_relative: float = DEFAULT_MAX_RELATIVE,
    template_sumw2: np.ndarray | None = None,
) -> SpuriousSignalCheck:
    """The bump hunt's own background estimate on the template, and the signal it makes up.

    The template's sidebands are fitted with the data's dijet function
    (:func:`anomsearch.background.fit_binned_sideband`), the fit is interpolated into the SR, and
    the template's SR excess over it is projected on the signal shape (the least-squares signal
    amplitude with the Poisson variance of the prediction, ``S = sum_i w_i (n_i - b_i)`` with
    ``w_i = (t_i / b_i) / sum_j t_j^2 / b_j``); its error adds the template's Poisson error and
    the fit's covariance, ``dS^2 = 1 / sum t^2 / b + w^T C w``. A fit of signal + background over
    all bins (the ATLAS recipe, :func:`anomsearch.background.spurious_signal`) would not do here:
    the dijet function can bend round a sculpted peak once the SR is in the fit, while the bump
    hunt never fits the SR. Template, ``S`` and ``dS`` are scaled to the data's selected yield.

    Args:
        template: the selected background-only spectrum (:func:`selected_template`).
        n_data: the data's selected events in the same bins (the template is scaled to them).
        bin_edges: mjj bin edges (TeV), with edges on the SR boundaries.
        signal_region: the SR (TeV).
        n_params: parameters of the dijet function the data's fit uses.
        signal_template: the bump hunt's signal shape over the SR bins (sums to one).
        data_signal_error: statistical error of the data's fitted signal yield (``mu_hat``).
        max_relative: pass criterion on ``|S| / data_signal_error``.
        template_sumw2: the template's sum of squared weights per bin
            (:func:`selected_template_sumw2`), kept in the result; default: unit weights.

    Returns:
        The :class:`SpuriousSignalCheck`.

    Raises:
        DataFormatError: an empty template or too few non-empty sideband bins.
        FitError: the template's sideband fit did not converge.

    References:
        ATLAS Collaboration, arXiv:1407.6583 (spurious signal).
    """
    template = np.asarray(template, dtype=float)
    n_template = float(template.sum())
    if n_template <= 0:
        raise DataFormatError("the background-only template is empty after the cut")
    fit = fit_binned_sideband(
        template, bin_edges=bin_edges, signal_region=signal_region, n_params=n_params
    )
    prediction = predict_background(fit)
    b = np.maximum(np.asarray(prediction.expected, dtype=float), 1e-9)
    t = np.asarray(signal_template, dtype=float)
    in_sr = ~np.asarray(fit.fit_mask)
    observed = template[in_sr]
    if t.shape != b.shape or observed.shape != b.shape:
        raise DataFormatError(
            f"signal_template has {t.size} SR bins, the template {observed.size}, the "
            f"prediction {b.size}"
        )
    information = float(np.sum(t**2 / b))
    w = (t / b) / information
    signal_t = float(w @ (observed - b))
    error_t = math.sqrt(1.0 / information + float(w @ np.asarray(prediction.covariance) @ w))
    scale = float(n_data) / n_template
    signal, error = signal_t * scale, error_t * scale
    relative = signal / data_signal_error if data_signal_error > 0 else math.inf
    passed = abs(signal) <= max_relative * data_signal_error or abs(signal) <= 2.0 * error
    check = SpuriousSignalCheck(
        signal=float(signal),
        signal_error=float(error),
        data_signal_error=float(data_signal_error),
        relative=float(relative),
        systematic=float(math.sqrt(max(signal**2 - error**2, 0.0))),
        n_template=n_template,
        scale=scale,
        max_relative=float(max_relative),
        passed=bool(passed),
        template=template,
        template_sumw2=None if template_sumw2 is None else np.asarray(template_sumw2, float),
    )
    log.info(
        "spurious-signal test on %.0f background-only template events (scaled x%.3g): S = %.1f "
        "+- %.1f events, %.2f of the data's signal error %.1f: %s",
        n_template,
        scale,
        signal,
        error,
        relative,
        data_signal_error,
        "passed" if passed else "FAILED",
    )
    return check


def try_spurious_signal_check(
    reference: SpuriousReference, thresholds: np.ndarray, **options: Any
) -> SpuriousSignalCheck | None:
    """:func:`spurious_signal_check` on the template of ``reference`` under the cut at
    ``thresholds`` (:func:`selected_template`), or None (logged) when the template is empty or
    its fit fails (a test that cannot be done is reported as missing, not as passed)."""
    try:
        template, sumw2 = _template_and_sumw2(reference, thresholds, options["bin_edges"])
        return spurious_signal_check(template, template_sumw2=sumw2, **options)
    except (DataFormatError, FitError) as exc:
        log.warning("no spurious-signal test: %s", exc)
        return None
