"""One bump hunt in one signal-region window: score cut, sideband fit, pyhf model, discovery test.

This composes the selection (:mod:`anomsearch.search.selection`), the sideband background fit
(:mod:`anomsearch.background`) and the pyhf model and inference (:mod:`anomsearch.stats`).

References:
    J. H. Collins, K. Howe, B. Nachman, "Anomaly detection for resonant new physics with machine
    learning", arXiv:1805.02664; and arXiv:1902.02634.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from anomsearch.background import (
    BackgroundPrediction,
    FunctionChoice,
    SidebandFit,
    alternative_function_variation,
    choose_dijet_function,
    fit_binned_sideband,
    predict_background,
)
from anomsearch.data.regions import Regions
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.search.fit_gate import signal_plus_background_p_value
from anomsearch.search.selection import Selection, select_at_efficiency
from anomsearch.search.spurious import (
    SpuriousReference,
    SpuriousSignalCheck,
    try_spurious_signal_check,
)
from anomsearch.stats import (
    DiscoveryResult,
    Systematic,
    add_common_systematics,
    build_bumphunt_spec,
    discovery_test,
)
from anomsearch.stats.signal_shape import GAUSSIAN, SignalShape

__all__ = ["ASYMPTOTIC", "BumpHuntResult", "DiscoveryOptions", "aligned_bin_edges", "bump_hunt"]

log = logging.getLogger(__name__)


class DiscoveryOptions(NamedTuple):
    """How the local p-value of a bump hunt is computed (the config's ``stats`` section).

    Attributes:
        calculator: ``"asymptotics"`` (the q0 formulas of arXiv:1007.1727), ``"toybased"``
            (pseudo-experiments of the pyhf model, :func:`anomsearch.stats.discovery_test`), or
            ``"auto"``: toys where the background expected in the SR after the cut is below
            ``toys_below_background`` events, where the asymptotic formulas overstate the
            significance of an upward fluctuation.
        n_toys: pseudo-experiments of a toy-based p-value; the smallest p-value they can give is
            ``1 / (n_toys + 1)`` (Z = 3.1 for 1000), so a larger Z is reported as that bound.
        toys_below_background: the ``"auto"`` threshold (expected background events in the SR).
    """

    calculator: str = "asymptotics"
    n_toys: int = 1000
    toys_below_background: float = 20.0

    def calculator_for(self, expected_background: float) -> str:
        """``"toys"`` or ``"asymptotics"`` for a bump hunt expecting this SR background.

        Examples:
            >>> auto = DiscoveryOptions("auto")
            >>> auto.calculator_for(12.0), auto.calculator_for(50.0)
            ('toys', 'asymptotics')
        """
        if self.calculator == "toybased":
            return "toys"
        if self.calculator == "auto" and expected_background < self.toys_below_background:
            return "toys"
        return "asymptotics"


#: Asymptotic p-values: the default of the library functions (the config's default is "auto").
ASYMPTOTIC = DiscoveryOptions()


def _toy_seed(observed: np.ndarray) -> int:
    """A seed for the toys of one bump hunt, fixed by its observed counts (reruns repeat)."""
    entropy = [round(float(v)) for v in np.asarray(observed).ravel()]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class BumpHuntResult(NamedTuple):
    """Everything one bump hunt produced.

    Attributes:
        selection: the score cut.
        fit: the sideband fit of the selected mjj spectrum.
        prediction: the background predicted in the SR bins.
        observed_sr: selected events per SR bin.
        signal_template: signal shape over the SR bins (sums to 1).
        spec: the pyhf workspace specification.
        discovery: the discovery test.
        function_choice: the F-test choice of the dijet function (``n_params="auto"``), else None.
        min_fit_p_value: the fit-quality gate: a bump hunt whose ``gate_p_value`` is smaller
            fails (:attr:`fit_passed`), and its discovery test must not be read as an excess.
        spurious: the spurious-signal test on a background-only template
            (:mod:`anomsearch.search.spurious`; its systematic is in ``spec`` and ``discovery``),
            or None when there was no background-only sample or the test failed to run.
        gate_p_value: the fit-quality gate's statistic: the goodness of fit of signal +
            background over the whole fit range (:mod:`anomsearch.search.fit_gate`); NaN when
            the gate is off (``min_fit_p_value`` 0).
    """

    selection: Selection
    fit: SidebandFit
    prediction: BackgroundPrediction
    observed_sr: np.ndarray
    signal_template: np.ndarray
    spec: dict[str, Any]
    discovery: DiscoveryResult
    function_choice: FunctionChoice | None = None
    min_fit_p_value: float = 0.0
    spurious: SpuriousSignalCheck | None = None
    gate_p_value: float = float("nan")

    @property
    def fit_passed(self) -> bool:
        """Whether the search's model (dijet function + signal) describes the selected
        spectrum: :attr:`gate_p_value` is at least :attr:`min_fit_p_value` (always true with the
        gate off). A failed fit means that the dijet function does not describe the selected
        spectrum (often a score cut that sculpted it), so a deficit or an excess in the SR says
        nothing about a signal."""
        return self.min_fit_p_value <= 0 or bool(self.gate_p_value >= self.min_fit_p_value)


def aligned_bin_edges(
    *, signal_region: tuple[float, float], fit_range: tuple[float, float], bin_width: float
) -> np.ndarray:
    """Equal-width bin edges over (at most) ``fit_range`` with edges exactly on the SR boundaries.

    Examples:
        >>> edges = aligned_bin_edges(
        ...     signal_region=(3.3, 3.7), fit_range=(3.05, 4.0), bin_width=0.2
        ... )
        >>> edges.round(2)
        array([3.1, 3.3, 3.5, 3.7, 3.9])
    """
    sr_low, sr_high = signal_region
    n_sr = round((sr_high - sr_low) / bin_width)
    if n_sr < 1 or not math.isclose(n_sr * bin_width, sr_high - sr_low, rel_tol=1e-6):
        raise ConfigError(
            f"background.bin_width={bin_width} does not divide the signal region "
            f"[{sr_low}, {sr_high}] into whole bins"
        )
    n_below = math.floor((sr_low - fit_range[0]) / bin_width + 1e-9)
    n_above = math.floor((fit_range[1] - sr_high) / bin_width + 1e-9)
    if n_below < 1 or n_above < 1:
        raise ConfigError(
            f"background.fit_range {list(fit_range)} leaves no whole sideband bin of width "
            f"{bin_width} below or above the signal region"
        )
    return sr_low + bin_width * np.arange(-n_below, n_sr + n_above + 1)


def _fit_selected_spectrum(
    counts: np.ndarray,
    edges: np.ndarray,
    signal_region: tuple[float, float],
    n_params: int | str,
) -> tuple[SidebandFit, FunctionChoice | None, dict[str, np.ndarray]]:
    """The sideband fit of the selected spectrum (the F-test's choice for ``"auto"``, with the
    alternative function as a shape systematic)."""
    choice, shape_systematics = None, {}
    if n_params == "auto":
        choice = choose_dijet_function(counts, bin_edges=edges, signal_region=signal_region)
        fit = choice.fit
        if choice.alternative is not None:
            shape_systematics["bkg_function_choice"] = alternative_function_variation(
                fit, choice.fits[choice.alternative]
            )
        log.info("F-test chose the %d-parameter dijet function", fit.n_params)
    elif n_params in (3, 4, 5):
        fit = fit_binned_sideband(
            counts, bin_edges=edges, signal_region=signal_region, n_params=int(n_params)
        )
    else:
        raise ConfigError(f"background.n_params must be 3, 4, 5 or 'auto', got {n_params!r}")
    return fit, choice, shape_systematics


def _spurious_variation(expected: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The ``(down, up)`` background histosys of the spurious signal ``shift`` per SR bin."""
    expected = np.asarray(expected, dtype=float)
    return np.stack([np.clip(expected - shift, 1e-9, None), expected + shift])


def _fit_gate(
    counts: np.ndarray,
    edges: np.ndarray,
    signal_region: tuple[float, float],
    fit: SidebandFit,
    signal_shape: SignalShape,
    min_fit_p_value: float,
) -> float:
    """The fit-quality gate's statistic (:mod:`anomsearch.search.fit_gate`; NaN when off)."""
    if min_fit_p_value <= 0:
        return math.nan
    gate_p_value = signal_plus_background_p_value(
        counts,
        bin_edges=edges,
        signal_region=signal_region,
        n_params=fit.n_params,
        relative_width=signal_shape.width,
        signal_shape=signal_shape,
    )
    if gate_p_value < min_fit_p_value:
        log.info(
            "the fit fails the quality gate: signal + background describe the selected "
            "spectrum with p = %.2g < %g (sideband fit chi2/ndf = %.1f/%d); sculpted by the "
            "cut?, so the SR test below is not evidence of a signal",
            gate_p_value,
            min_fit_p_value,
            fit.chi2,
            fit.ndf,
        )
    return gate_p_value


def bump_hunt(
    mjj: np.ndarray,
    scores: np.ndarray,
    *,
    regions: Regions,
    efficiency: float,
    fit_range: tuple[float, float],
    bin_width: float,
    n_params: int | str = 4,
    signal_shape: SignalShape = GAUSSIAN,
    folds: np.ndarray | None = None,
    systematics: Sequence[Systematic] = (),
    min_fit_p_value: float = 0.0,
    spurious_reference: SpuriousReference | None = None,
    test_options: DiscoveryOptions = ASYMPTOTIC,
) -> BumpHuntResult:
    """Cut on the score, fit the sideband mjj spectrum, and test for a signal in the SR.

    Args:
        mjj: dijet masses (TeV) of all events.
        scores: anomaly scores (higher = more signal-like), cross-scored.
        regions: the SR (the sidebands of ``regions`` are not used here: the fit uses
            ``fit_range``).
        efficiency: fraction of SR events kept by the cut (per fold); 1 = no cut.
        fit_range: mjj range of the sideband fit (TeV).
        bin_width: mjj bin width (TeV); must divide the SR.
        n_params: number of parameters of the dijet function (3, 4 or 5), or ``"auto"``: chosen by
            the nested F-test (:func:`anomsearch.background.choose_dijet_function`), with the
            difference to the alternative order as a ``histosys`` (``bkg_function_choice``).
        signal_shape: the resonance's mjj shape (:class:`~anomsearch.stats.SignalShape`: a
            Gaussian of relative width 0.05 by default, or a crystal ball with a radiative low
            tail), placed at the SR centre: the template of the pyhf model, the gate's and the
            spurious-signal test's.
        folds: fold of each event, for per-fold thresholds (default: one threshold).
        systematics: common normalisation systematics (luminosity, signal efficiency, ...) added
            to the pyhf model (:func:`anomsearch.stats.add_common_systematics`).
        min_fit_p_value: the fit-quality gate (:attr:`BumpHuntResult.fit_passed`); the result
            records it, the caller decides what a failed fit means (the scan never picks one as
            its most significant entry; the report flags it).
        spurious_reference: a background-only sample scored by the fold models that scored
            ``scores``: the spurious-signal test (:mod:`anomsearch.search.spurious`) runs on it,
            and a spurious signal beyond the template's statistics enters the pyhf model as the
            background ``histosys`` ``spurious_signal`` before the discovery test.
        test_options: asymptotic or toy-based local p-value (:class:`DiscoveryOptions`); the
            result's ``discovery.calculator`` says which was used.

    Returns:
        The :class:`BumpHuntResult`.
    """
    mjj = np.asarray(mjj, dtype=np.float64)
    if mjj.shape != np.shape(scores):
        raise DataFormatError(f"mjj has shape {mjj.shape} but scores {np.shape(scores)}")
    signal_region = (regions.sr_low, regions.sr_high)
    edges = aligned_bin_edges(signal_region=signal_region, fit_range=fit_range, bin_width=bin_width)
    in_sr = regions.in_sr(mjj)
    selection = select_at_efficiency(scores, efficiency=efficiency, reference=in_sr, groups=folds)
    selected = mjj[selection.mask]
    selected = selected[(selected >= edges[0]) & (selected < edges[-1])]
    log.info(
        "selection at efficiency %.4g keeps %d events in the fit range [%.2f, %.2f] TeV",
        efficiency,
        selected.size,
        edges[0],
        edges[-1],
    )
    counts, _ = np.histogram(selected, bins=edges)
    fit, choice, shape_systematics = _fit_selected_spectrum(counts, edges, signal_region, n_params)
    prediction = predict_background(fit)
    sr_bins = (edges[:-1] >= regions.sr_low - 1e-9) & (edges[1:] <= regions.sr_high + 1e-9)
    observed_sr = np.asarray(fit.counts)[sr_bins]
    template = signal_shape.template(prediction.bin_edges, regions.sr_center)

    def model_and_test() -> tuple[dict[str, Any], DiscoveryResult]:
        spec = build_bumphunt_spec(
            observed=observed_sr,
            background=prediction,
            signal_template=template,
            shape_systematics=shape_systematics,
        )
        if systematics:
            spec = add_common_systematics(spec, systematics)
        calculator = test_options.calculator_for(float(np.sum(prediction.expected)))
        if calculator == "asymptotics":
            return spec, discovery_test(spec)
        seed = _toy_seed(observed_sr)
        return spec, discovery_test(spec, calculator="toys", n_toys=test_options.n_toys, seed=seed)

    spec, discovery = model_and_test()
    spurious = None
    if spurious_reference is not None:
        spurious = try_spurious_signal_check(
            spurious_reference,
            selection.thresholds,
            n_data=float(counts.sum()),
            bin_edges=edges,
            signal_region=signal_region,
            n_params=fit.n_params,
            signal_template=template,
            data_signal_error=float(discovery.mu_hat_error),
        )
        if spurious is not None and spurious.systematic > 0:
            shape_systematics["spurious_signal"] = _spurious_variation(
                prediction.expected, spurious.systematic * template
            )
            spec, discovery = model_and_test()
    gate_p_value = _fit_gate(counts, edges, signal_region, fit, signal_shape, min_fit_p_value)
    log.info(
        "bump hunt: observed %d, expected %.1f +- %.1f in the SR; Z = %.2f (p0 = %.3g), "
        "mu_hat = %.1f",
        observed_sr.sum(),
        prediction.expected.sum(),
        math.sqrt(float(np.sum(prediction.covariance))),
        discovery.significance,
        discovery.p0,
        discovery.mu_hat,
    )
    return BumpHuntResult(
        selection,
        fit,
        prediction,
        observed_sr,
        template,
        spec,
        discovery,
        choice,
        float(min_fit_p_value),
        spurious,
        float(gate_p_value),
    )
