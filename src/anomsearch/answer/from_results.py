"""The black-box answer of a finished run, from its results directory, without retraining.

:func:`answer_from_results` reads the run's ``report.json`` and ``selected_events.npz``, fits the
resonance mass and yield (:mod:`anomsearch.answer.resonance_fit`) and the daughter-jet masses
(:mod:`anomsearch.answer.daughter_masses`), and builds the answer and its details
(:mod:`anomsearch.answer.submission`); :func:`submit` also writes them into the directory.

References:
    G. Kasieczka et al., "The LHC Olympics 2020: a community challenge for anomaly detection in
    high energy physics", arXiv:2101.08320 (black-box challenge and answer format).
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from anomsearch.answer.daughter_masses import DaughterMass, daughter_mass_bins
from anomsearch.answer.daughter_systematics import (
    JET_MASS_SCALE_UNCERTAINTY,
    NO_JET_MASS_RESPONSE,
    PYTHIA_JET_MASS_RESPONSE,
    DaughterSystematics,
    JetMassResponse,
    daughter_masses_with_systematics,
)
from anomsearch.answer.mass_profile import MassProfile, mass_scan_range, profile_resonance_mass
from anomsearch.answer.resonance_fit import ResonanceFit, fit_resonance_mass
from anomsearch.answer.sculpting_closure import SculptingClosure, measure_sculpting_shift
from anomsearch.answer.sideband_template import ReferenceEvents
from anomsearch.answer.submission import (
    AnswerFiles,
    _read_json,
    build_answer,
    build_answer_details,
    write_answer,
)
from anomsearch.answer.total_signal import TotalSignal, total_signal_in_spectrum
from anomsearch.exceptions import ConfigError, DataFormatError, FitError
from anomsearch.stats.signal_shape import (
    DIJET_SHAPE_ENVELOPE,
    SignalShape,
    signal_shape_from_options,
)

__all__ = ["answer_from_results", "claiming_trial", "global_p_value", "submit"]

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"
EVENTS_FILE = "selected_events.npz"


def _require(mapping: Any, keys: Sequence[str], source: str) -> Any:
    value = mapping
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            raise DataFormatError(f"{source}: missing key {'.'.join(keys[: depth + 1])}")
        value = value[key]
    return value


class _SelectedSpectrum(NamedTuple):
    """The selected mjj spectrum over the fit range (``background.observed`` and ``bin_edges``)
    and the masses the answer's profile scans on it."""

    observed: np.ndarray
    edges: np.ndarray
    mass_range: tuple[float, float]


class _ReportInputs(NamedTuple):
    """What :func:`answer_from_results` takes from a run's ``report.json``."""

    p_value: float
    p_value_source: str
    best_window: Any
    edges: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    covariance: np.ndarray
    full_covariance: bool
    signal_region: list[float]
    sidebands: list[float]
    relative_width: float
    signal_shape: SignalShape
    n_params: int
    selected: _SelectedSpectrum | None


def _report_inputs(report: Any, src: str) -> _ReportInputs:
    """The p-value, the SR background, the regions and the signal width of ``report.json``."""
    p0, p_source = float(_require(report, ["p0"], src)), "p0"
    best_window = None
    if report.get("global"):  # a window scan: the look-elsewhere-corrected p-value
        p0, p_source = global_p_value(report["global"])
        best_window = (report.get("scan") or {}).get("best")
    bkg = _require(report, ["background"], src)
    if bkg.get("fit_passed") is False:
        log.warning(
            "%s: the headline fit failed the fit-quality gate (p = %.3g < %g): its "
            "signal-region test is no evidence of a signal, so the answer's p-value is 1",
            src,
            float(bkg.get("gate_p_value") or math.nan),
            float(bkg.get("min_fit_p_value", math.nan)),
        )
        p0 = 1.0
    edges = np.asarray(_require(report, ["background", "sr_bin_edges"], src), dtype=float)
    observed = np.asarray(_require(report, ["background", "observed_sr"], src), dtype=float)
    expected = np.asarray(_require(report, ["background", "expected_sr"], src), dtype=float)
    if "expected_sr_covariance" in bkg:
        cov = np.asarray(bkg["expected_sr_covariance"], dtype=float)
    else:
        sigma = np.asarray(
            _require(report, ["background", "expected_sr_uncertainty"], src), dtype=float
        )
        cov = np.diag(sigma**2)
    if "headline" in report:  # with a scan: the most significant window
        sr = [float(v) for v in _require(report, ["headline", "signal_region"], src)]
        sb = [float(v) for v in _require(report, ["headline", "sidebands"], src)]
    else:
        sr = [float(v) for v in _require(report, ["config", "regions", "signal_region"], src)]
        sb = [float(v) for v in _require(report, ["config", "regions", "sidebands"], src)]
    stats = report["config"].get("stats", {})
    rel_width = float(stats.get("signal_width", 0.05))
    try:  # reports written before the crystal ball have no signal_shape: Gaussian
        shape = signal_shape_from_options(
            str(stats.get("signal_shape", "gaussian")), rel_width, stats.get("crystal_ball")
        )
    except ConfigError as exc:
        raise DataFormatError(f"{src}: config.stats: {exc}") from None
    selected = None
    if "observed" in bkg and "bin_edges" in bkg:
        selected_edges = np.asarray(bkg["bin_edges"], dtype=float)
        selected = _SelectedSpectrum(
            np.asarray(bkg["observed"], dtype=float),
            selected_edges,
            mass_scan_range((sr[0], sr[1]), selected_edges),
        )
    return _ReportInputs(
        p_value=p0,
        p_value_source=p_source,
        best_window=best_window,
        edges=edges,
        observed=observed,
        expected=expected,
        covariance=cov,
        full_covariance="expected_sr_covariance" in bkg,
        signal_region=sr,
        sidebands=sb,
        relative_width=rel_width,
        signal_shape=shape,
        n_params=int(bkg.get("n_params", 4)),
        selected=selected,
    )


def global_p_value(section: Mapping[str, Any]) -> tuple[float, str]:
    """The look-elsewhere-corrected p-value an answer rests on, and where it comes from.

    * With pseudo-experiments (``global.method`` ``*_toys``): their fraction at or above the
      observed largest local Z. Where none reached it that fraction is only the floor
      ``1 / (n_toys + 1)``; the extrapolation with the effective trials fitted to their maxima
      (``global.fitted_trials``) is logged and kept in ``answer_details.json``, not used to
      claim: on 20 Pythia QCD slices without signal it put one slice's 4.15 sigma local excess
      at global Z 3.2 (~1% for one of 20 under the fitted law) -- the tail beyond the
      pseudo-experiments is a model, and a claim needs pseudo-experiments that reach it.
    * Without pseudo-experiments: Sidak's approximation (``method: sidak``), which undercounted
      the trials of overlapping windows on Pythia QCD (p below the true ranks in 20 of 20
      background-only scans): a warning says so.

    Returns:
        ``(p, method)``: ``global.p_value`` and ``global.method``.

    Examples:
        >>> global_p_value({"method": "data_toys", "p_value": 0.05, "n_exceeding": 1})
        (0.05, 'data_toys')
    """
    p, method = float(section["p_value"]), str(section.get("method", "sidak"))
    if method == "sidak":
        log.warning(
            "the answer's p-value is Sidak's approximation of the look-elsewhere effect, "
            "optimistic on overlapping windows (p below the true ranks in 20 of 20 Pythia QCD "
            "scans): set scan.global_toys before claiming a signal"
        )
        return p, method
    fitted = section.get("fitted_trials")
    if section.get("n_exceeding") == 0 and fitted and fitted.get("p_value") is not None:
        log.warning(
            "no pseudo-experiment of %d reached the observed local Z: the answer's global p "
            "is their floor %.3g; extrapolated with %.1f +- %.1f fitted trials it would be %.3g "
            "(Z = %.2f), a model of the tail, not a measurement: run more pseudo-experiments "
            "(scan.global_toys) to claim",
            int(section.get("n_toys", 0)),
            p,
            float(fitted["n_trials"]),
            float(fitted.get("n_trials_error") or 0.0),
            float(fitted["p_value"]),
            float(fitted.get("significance") or 0.0),
        )
    return p, method


def _source_record(
    report: Mapping[str, Any],
    inputs: _ReportInputs,
    out: Path,
    mass_unit_gev: float,
    selected: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """``answer_details.json`` ``source``: where the answer's inputs came from."""
    in_sr, in_sb = selected
    return {
        "results_dir": str(out),
        "signal_region_gev": [v * mass_unit_gev for v in inputs.signal_region],
        "trial": claiming_trial(report),
        "p_value_source": inputs.p_value_source,
        "global_fitted_trials": (report.get("global") or {}).get("fitted_trials"),
        "fit_passed": (report.get("background") or {}).get("fit_passed"),
        "n_selected_sr": int(in_sr.sum()),
        "n_selected_sidebands": int(in_sb.sum()),
        "n_background_sr": float(inputs.expected.sum()),
        "relative_mass_width": inputs.relative_width,
        "signal_shape": inputs.signal_shape.to_dict(),
        "background_covariance": "full" if inputs.full_covariance else "diagonal",
    }


class _SelectedEvents(NamedTuple):
    """The arrays of ``selected_events.npz``: the selected events' ``mjj`` and jet masses
    ``(n, 2)``, their scores and folds (None when the file has none), and the reference's
    events under the cut (None without a spurious-signal reference)."""

    mjj: np.ndarray
    jets: np.ndarray
    scores: np.ndarray | None
    folds: np.ndarray | None
    reference: ReferenceEvents | None


_REFERENCE_KEYS = ("reference_mjj", "reference_mj1", "reference_mj2", "reference_weight")


def _selected_events(events_path: Path) -> _SelectedEvents:
    """The arrays of ``selected_events.npz``, checked (:class:`_SelectedEvents`)."""
    reference = None
    try:
        with np.load(events_path) as npz:
            missing = [k for k in ("mjj", "mj1", "mj2") if k not in npz.files]
            if missing:
                raise DataFormatError(f"{events_path}: missing array(s) {missing}")
            mjj = np.asarray(npz["mjj"], dtype=float)
            jets = np.column_stack([npz["mj1"], npz["mj2"]]).astype(float)
            scores = np.asarray(npz["score"], dtype=float) if "score" in npz.files else None
            folds = np.asarray(npz["fold"]) if "fold" in npz.files else None
            present = [k for k in _REFERENCE_KEYS if k in npz.files]
            if present and len(present) < len(_REFERENCE_KEYS):
                missing = sorted(set(_REFERENCE_KEYS) - set(present))
                raise DataFormatError(f"{events_path}: missing array(s) {missing}")
            if present:
                ref_mjj, ref_j1, ref_j2, ref_w = (
                    np.asarray(npz[k], dtype=float) for k in _REFERENCE_KEYS
                )
                if not (ref_mjj.shape == ref_j1.shape == ref_j2.shape == ref_w.shape):
                    raise DataFormatError(
                        f"{events_path}: {', '.join(_REFERENCE_KEYS)} must have the same length"
                    )
                reference = ReferenceEvents(ref_mjj, np.column_stack([ref_j1, ref_j2]), ref_w)
                reference.check(f"{events_path}: reference_*")
    except FileNotFoundError as exc:
        raise DataFormatError(f"{events_path}: file not found") from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{events_path}: not a readable .npz file ({exc})") from exc
    if jets.shape[0] != mjj.size:
        raise DataFormatError(f"{events_path}: mjj, mj1 and mj2 must have the same length")
    if scores is None or folds is None or scores.shape != mjj.shape or folds.shape != mjj.shape:
        scores = folds = None
    return _SelectedEvents(mjj, jets, scores, folds, reference)


def _reference_record(reference: ReferenceEvents | None) -> dict[str, float] | None:
    """The details' record of the reference the daughters' template was corrected on."""
    if reference is None:
        return None
    return {"n_events": int(reference.mjj.size), "weight_sum": float(np.sum(reference.weights))}


def answer_from_results(
    results_dir: str | os.PathLike[str],
    *,
    significance_threshold: float = 3.0,
    daughter_bin_width: float = 0.01,
    signal_efficiency: float = 1.0,
    mass_unit_gev: float = 1000.0,
    most_significant_window: Mapping[str, Any] | None = None,
    jet_mass_scale: float | None = None,
    jet_mass_response: JetMassResponse | None = None,
    min_daughter_significance: float = 3.0,
    max_daughter_relative_error: float = 0.1,
    max_daughter_relative_width: float = 0.25,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build the answer and its details from a finished run's results, without retraining.

    Reads ``report.json`` (``p0``, or ``global.p_value`` after a window scan, whose best entry
    then goes into the details -- 1 when ``background.fit_passed`` is false: a sideband fit that
    failed the fit-quality gate is no evidence; ``background.sr_bin_edges``, ``observed_sr``,
    ``expected_sr``, and ``expected_sr_covariance`` when present, else the diagonal from
    ``expected_sr_uncertainty``; the regions of ``headline`` -- after a scan its most significant
    window -- or else ``config.regions``; ``config.stats.signal_width``) and
    ``selected_events.npz`` (``mjj``, ``mj1``, ``mj2`` of the events passing the score cut, TeV).
    Fits the resonance mass and yield in the SR bins (:func:`fit_resonance_mass`, background
    profiled with its covariance, mass free over the SR) and the daughter-jet masses from the
    selected SR events minus the selected sideband events' jet-mass spectra morphed to the SR
    centre and scaled to the predicted SR background
    (:func:`~anomsearch.answer.daughter_systematics.daughter_masses_with_systematics`), the
    template corrected by what the morph misses on the run's background-only reference when
    ``selected_events.npz`` holds its events under the cut (``reference_*``; details
    ``daughter_template_reference``).

    Args:
        results_dir: the run's results directory.
        significance_threshold: see :func:`build_answer`.
        daughter_bin_width: jet-mass bin width (TeV) of the daughter-mass histograms, which
            span 0 to the largest selected jet mass.
        signal_efficiency: see :func:`build_answer`.
        mass_unit_gev: GeV per unit of the results' masses (TeV: 1000).
        most_significant_window: informational entry for the details (e.g. from a window scan).
        jet_mass_scale: relative jet-mass-scale uncertainty of the daughter masses (see
            :mod:`anomsearch.answer.daughter_systematics`); None: 0 for the toy generator, whose
            jets have no detector response, else
            :data:`~anomsearch.answer.daughter_systematics.JET_MASS_SCALE_UNCERTAINTY`.
        jet_mass_response: the jet-mass response the daughters' peaks are corrected for
            (:class:`~anomsearch.answer.daughter_systematics.JetMassResponse`, TeV); None: none
            for the toy generator, else the package's Pythia chain's
            (:data:`~anomsearch.answer.daughter_systematics.PYTHIA_JET_MASS_RESPONSE`).
        min_daughter_significance: a daughter mass is answered only when its fit converged, its
            jet-mass peak holds an excess of at least this many standard deviations (fitted
            events over their error) and ...
        max_daughter_relative_error: ... its total error (statistics and systematics) is at
            most this fraction of the mass and ...
        max_daughter_relative_width: ... the peak's fitted Gaussian width is at most this
            fraction of the mass (a particle's jet-mass peak is as narrow as the jet-mass
            resolution, ~2-12% on the package's generators; a resonance decaying to QCD-like
            jets leaves a broad excess). A resonance without daughters (q* -> qg) leaves peaks
            fitted to fluctuations, up to 3.8 sigma in the package's q* boxes, whose template
            and threshold variations move them far (19 of 20 such fits fail these tests); true
            daughters had 3.7-9 sigma, errors of 2-5% and widths of 2-12%. Every fit stays in
            the details (``daughter_peaks``).

    Returns:
        ``(answer, details)`` ready for :func:`write_answer`.

    Raises:
        DataFormatError: a file or a key is missing or malformed (named).
        ConfigError: bad options.
    """
    out = Path(results_dir)
    if not out.is_dir():
        what = "does not exist" if not out.exists() else "is not a directory"
        raise DataFormatError(
            f"{out}: {what}; give the results directory of `anomsearch run` (it holds "
            f"{REPORT_FILE} and {EVENTS_FILE})"
        )
    report_path, events_path = out / REPORT_FILE, out / EVENTS_FILE
    report = _read_json(report_path)
    inputs = _report_inputs(report, str(report_path))
    if most_significant_window is None and inputs.best_window:
        most_significant_window = inputs.best_window
    if not (math.isfinite(daughter_bin_width) and daughter_bin_width > 0):
        raise ConfigError(f"answer.daughter_bin_width must be > 0, got {daughter_bin_width}")
    selected = _selected_events(events_path)
    mjj = selected.mjj
    sr, sb = inputs.signal_region, inputs.sidebands

    sr_fit, resonance, mass_method = _resonance(report, inputs, str(report_path))
    in_sr = (mjj >= sr[0]) & (mjj < sr[1])
    in_sb = (mjj >= sb[0]) & (mjj < sb[1]) & ~in_sr
    calibration = _jet_mass_calibration(report, jet_mass_scale, jet_mass_response)
    fitted, daughter_errors = _daughters(report, inputs, selected, daughter_bin_width, calibration)
    daughters, daughter_peaks = _daughters_with_evidence(
        fitted,
        (min_daughter_significance, max_daughter_relative_error, max_daughter_relative_width),
        mass_unit_gev,
    )
    options = {
        "p_value": inputs.p_value,
        "resonance": resonance,
        "daughter_masses": daughters,
        "significance_threshold": significance_threshold,
        "mass_unit_gev": mass_unit_gev,
        "signal_efficiency": signal_efficiency,
    }
    total = _total_signal(report, inputs, resonance.mass, str(report_path))
    if total is not None and signal_efficiency == 1.0:
        options["n_signal"] = (max(total.n_signal, 0.0), total.n_signal_error)
    answer = build_answer(**options)
    details = build_answer_details(
        **options,
        most_significant_window=most_significant_window,
        extra={
            "source": _source_record(report, inputs, out, mass_unit_gev, (in_sr, in_sb)),
            "n_signal_method": (
                "selected yield in the SR bins / signal_efficiency"
                if "n_signal" not in options
                else "signal + background fit of the uncut spectrum at the fitted mass, "
                "divided by the signal shape's fraction in the SR bins"
            ),
            "n_signal_total": None if total is None else total.to_dict(),
            "jet_mass_scale_uncertainty": calibration[0],
            "jet_mass_response": {
                "scale": calibration[1].scale,
                "offset_gev2": calibration[1].offset * mass_unit_gev**2,
                "offset_error_gev2": calibration[1].offset_error * mass_unit_gev**2,
            },
            "daughter_peaks": daughter_peaks,
            "daughter_template_reference": _reference_record(selected.reference),
            "daughter_mass_errors_gev": [
                {
                    k: (v * mass_unit_gev if isinstance(v, float) else v)
                    for k, v in e._asdict().items()
                }
                for e in daughter_errors
            ],
            "mass_method": mass_method["method"],
            "mass_shape_systematic_gev": mass_method.get("shape_systematic", 0.0) * mass_unit_gev,
            "mass_sculpting_closure_gev": _closure_record(
                mass_method.get("sculpting_closure"), mass_unit_gev
            ),
            "mass_sr_fit_gev": {
                "value": sr_fit.mass * mass_unit_gev,
                "uncertainty": sr_fit.mass_error * mass_unit_gev,
            },
            "n_signal_selected_sr": {
                "value": resonance.n_signal,
                "uncertainty": resonance.n_signal_error,
            },
        },
    )
    return answer, details


def _daughters(
    report: dict[str, Any],
    inputs: _ReportInputs,
    selected: _SelectedEvents,
    bin_width: float,
    calibration: tuple[float, JetMassResponse],
) -> tuple[list[DaughterMass], list[DaughterSystematics]]:
    """The daughter masses of the selected events with their systematic errors (the threshold
    variation only where the trial cut on the score), the template corrected on the run's
    reference when it kept one."""
    mjj, jets, scores, folds = selected.mjj, selected.jets, selected.scores, selected.folds
    cov = inputs.covariance
    with_cut = float((report.get("selection") or {}).get("efficiency", 0.0)) < 1.0
    return daughter_masses_with_systematics(
        mjj,
        jets,
        signal_region=(inputs.signal_region[0], inputs.signal_region[1]),
        sidebands=(inputs.sidebands[0], inputs.sidebands[1]),
        n_background_sr=float(inputs.expected.sum()),
        n_background_sr_error=float(math.sqrt(max(float(cov.sum()), 0.0))),
        bins=daughter_mass_bins(jets, bin_width),
        scores=scores if with_cut else None,
        folds=folds if with_cut else None,
        jet_mass_scale=calibration[0],
        response=calibration[1],
        reference=selected.reference,
    )


#: A mass profile with more failed fits than this fraction is not used (the SR fit is).
MAX_FAILED_PROFILE_FRACTION = 0.2


def _jet_mass_calibration(
    report: dict[str, Any], scale: float | None, response: JetMassResponse | None
) -> tuple[float, JetMassResponse]:
    """The jet-mass-scale uncertainty and response, each the given one or the default for the
    report's data: none for the toy generator (its jet masses are the particles' smeared
    symmetrically), :data:`JET_MASS_SCALE_UNCERTAINTY` and :data:`PYTHIA_JET_MASS_RESPONSE`
    otherwise."""
    toy = ((report.get("config") or {}).get("data") or {}).get("source") == "toy"
    if scale is None:
        scale = 0.0 if toy else JET_MASS_SCALE_UNCERTAINTY
    if response is None:
        response = NO_JET_MASS_RESPONSE if toy else PYTHIA_JET_MASS_RESPONSE
    return scale, response


def _daughters_with_evidence(
    fitted: list[DaughterMass],
    limits: tuple[float, float, float],
    mass_unit_gev: float,
) -> tuple[list[DaughterMass], list[dict[str, Any]]]:
    """The daughters whose jet-mass peak has the evidence to be answered, and every fit's record
    (mass, excess significance, relative error and width, whether it is answered); ``limits``:
    the minimum significance, the largest relative error and width."""
    min_significance, max_relative_error, max_relative_width = limits
    if not (math.isfinite(min_significance) and min_significance >= 0):
        raise ConfigError(f"answer.min_daughter_significance must be >= 0, got {min_significance}")
    for name, value in (("error", max_relative_error), ("width", max_relative_width)):
        if not value > 0:
            raise ConfigError(f"answer.max_daughter_relative_{name} must be > 0, got {value}")
    kept, peaks = [], []
    for d in fitted:
        z = d.n_excess / d.n_excess_error if d.n_excess_error > 0 else 0.0
        relative = d.error / abs(d.value) if d.value else math.inf
        width = abs(d.width) / abs(d.value) if d.value else math.inf
        answered = bool(
            d.converged
            and d.value > 0  # a peak below the jet-mass response's offset is no particle
            and z >= min_significance
            and relative <= max_relative_error
            and width <= max_relative_width
        )
        if answered:
            kept.append(d)
        peaks.append(
            {
                "name": d.name,
                "mass_gev": d.value * mass_unit_gev,
                "excess_significance": z,
                "relative_error": relative,
                "relative_width": width,
                "converged": bool(d.converged),
                "answered": answered,
            }
        )
    return kept, peaks


def _resonance(
    report: dict[str, Any], inputs: _ReportInputs, src: str
) -> tuple[ResonanceFit, ResonanceFit, dict[str, Any]]:
    """``(SR fit, the answer's resonance, how its mass was measured)``: the SR-bins fit gives the
    selected yield; the mass comes from the profile over the whole selected spectrum where the
    report has it (else from the SR fit), corrected by the shift the cut's sculpting makes on the
    spurious-signal test's template where the report has one, with the shape systematic and the
    shift's error in quadrature."""
    sr_fit = fit_resonance_mass(
        inputs.observed,
        inputs.edges,
        inputs.expected,
        relative_width=inputs.relative_width,
        mass_range=(float(inputs.edges[0]), float(inputs.edges[-1])),
        background_covariance=inputs.covariance,
        signal_shape=inputs.signal_shape,
    )
    profile = _mass_profile(inputs, src)
    if profile is None:
        return sr_fit, sr_fit, {"method": "fit of the SR bins on the sideband-fit background"}
    shift = _mass_shape_shift(inputs, profile, src)
    closure = _sculpting_closure(report, inputs, profile, src)
    sculpting = (0.0, 0.0) if closure is None else (closure.shift, closure.shift_error)
    errors = (
        math.hypot(profile.mass_errors[0], shift, sculpting[1]),
        math.hypot(profile.mass_errors[1], shift, sculpting[1]),
    )
    resonance = sr_fit._replace(
        mass=profile.mass - sculpting[0],
        mass_error=0.5 * (errors[0] + errors[1]),
        mass_errors=errors,
        mass_at_limit=profile.mass_at_limit,
    )
    return (
        sr_fit,
        resonance,
        {
            "method": "profile of signal + background fits over the selected spectrum",
            "shape_systematic": shift,
            "sculpting_closure": closure,
        },
    )


def _sculpting_closure(
    report: dict[str, Any], inputs: _ReportInputs, profile: MassProfile, src: str
) -> SculptingClosure | None:
    """The mass shift the cut's sculpting makes on the spurious-signal test's template
    (``background.spurious_template``, :mod:`anomsearch.answer.sculpting_closure`); None (logged)
    for a report without one, a profile whose mass or interval reaches the scanned range's end
    (no mass measured there) or a closure whose fits fail."""
    background = report.get("background") or {}
    record = background.get("spurious_template")
    if record is None or inputs.selected is None:
        log.info(
            "%s: no background-only template (spurious-signal test): mass not closure-tested", src
        )
        return None
    if profile.mass_at_limit:  # no mass measured inside the range: nothing to correct
        log.info("%s: the mass profile reaches the scanned range's end: no sculpting closure", src)
        return None
    edges = inputs.selected.edges
    try:
        counts, sumw2 = (
            np.asarray(_require(background, ("spurious_template", key), src), dtype=float)
            for key in ("counts", "sumw2")
        )
    except (ValueError, TypeError) as exc:
        raise DataFormatError(f"{src}: background.spurious_template is malformed: {exc}") from exc
    if not counts.shape == sumw2.shape == (edges.size - 1,):
        raise DataFormatError(
            f"{src}: background.spurious_template needs counts and sumw2 for each of the "
            f"{edges.size - 1} bins of background.bin_edges, got {counts.size} and {sumw2.size}"
        )
    try:
        return measure_sculpting_shift(
            counts,
            sumw2,
            observed=inputs.selected.observed,
            bin_edges=edges,
            mass=profile.mass,
            n_signal_window=profile.n_signal_sr,
            shape=inputs.signal_shape,
            n_params=inputs.n_params,
            mass_range=inputs.selected.mass_range,
        )
    except (FitError, DataFormatError, ConfigError) as exc:
        log.warning("%s: no sculpting closure of the mass (%s): mass not corrected", src, exc)
        return None


def _closure_record(closure: SculptingClosure | None, unit: float) -> dict[str, Any] | None:
    """The sculpting closure for ``answer_details.json``, masses in GeV."""
    if closure is None:
        return None
    gev = ("shift", "shift_error", "injected_mass")
    return {k: (v * unit if k in gev else v) for k, v in closure.to_dict().items()}


def _mass_shape_shift(inputs: _ReportInputs, profile: MassProfile, src: str) -> float:
    """The largest change of the profiled mass with another shape of the envelope
    (:data:`~anomsearch.stats.DIJET_SHAPE_ENVELOPE`, the W' and q* tails, at the report's core
    width; none for a Gaussian): the mass of a resonance with a radiative tail depends on the
    tail assumed, and at a few hundred selected events that dominates the error (on Pythia W'
    injections of 1000 events the statistical errors alone were ~2.5 times too small)."""
    if inputs.signal_shape.kind != "crystal_ball":
        return 0.0
    shifts = []
    for other in DIJET_SHAPE_ENVELOPE:
        varied = _mass_profile(
            inputs._replace(signal_shape=other._replace(width=inputs.signal_shape.width)),
            src,
        )
        if varied is not None:
            shifts.append(abs(varied.mass - profile.mass))
    return max(shifts, default=0.0)


def _mass_profile(inputs: _ReportInputs, src: str) -> MassProfile | None:
    """The mass profile over the selected spectrum (``background.observed``) from half an SR
    width below the SR to half above (inside the fit range); None without that spectrum or
    without a positive signal anywhere in the range."""
    selected = inputs.selected
    if selected is None:
        return None
    try:
        profile = profile_resonance_mass(
            selected.observed,
            selected.edges,
            mass_range=selected.mass_range,
            shape=inputs.signal_shape,
            n_params=inputs.n_params,
        )
    except (FitError, ConfigError, DataFormatError) as exc:
        log.warning("%s: no mass profile of the selected spectrum (%s); SR fit used", src, exc)
        return None
    if profile.n_failed > MAX_FAILED_PROFILE_FRACTION * (profile.n_failed + profile.masses.size):
        log.warning(
            "%s: %d of %d signal + background fits of the mass profile did not converge (a "
            "profile with holes has false minima at their edges); SR fit used",
            src,
            profile.n_failed,
            profile.n_failed + profile.masses.size,
        )
        return None
    return profile


def _total_signal(
    report: dict[str, Any], inputs: _ReportInputs, mass: float, src: str
) -> TotalSignal | None:
    """The signal count in the uncut spectrum (``reference.no_cut``); None for a report without
    that spectrum (written before it was recorded) or a fit that does not converge."""
    no_cut = (report.get("reference") or {}).get("no_cut") or {}
    if "observed" not in no_cut or "bin_edges" not in no_cut:
        log.warning(
            "%s: no uncut spectrum (reference.no_cut.observed): n_signal is the selected yield "
            "in the SR bins, not the signal events in the data",
            src,
        )
        return None
    try:
        return total_signal_in_spectrum(
            np.asarray(no_cut["observed"], dtype=float),
            np.asarray(no_cut["bin_edges"], dtype=float),
            signal_region=(inputs.signal_region[0], inputs.signal_region[1]),
            mass=mass,
            shape=inputs.signal_shape,
            n_params=inputs.n_params,
        )
    except (FitError, DataFormatError, ConfigError) as exc:
        log.warning("%s: no signal count from the uncut spectrum (%s)", src, exc)
        return None


def claiming_trial(report: dict[str, Any]) -> str:
    """Which trial made the headline: the inclusive bump hunt or an anomaly-score cut.

    Examples:
        >>> claiming_trial({"selection": {"efficiency": 1.0}})
        'inclusive bump hunt (no score cut)'
        >>> claiming_trial({"selection": {"efficiency": 0.01}})
        'anomaly-score cut keeping 0.01 of the signal region'
    """
    efficiency = (report.get("selection") or {}).get("efficiency")
    if efficiency is None:
        return "unknown (no selection in the report)"
    if float(efficiency) >= 1.0:
        return "inclusive bump hunt (no score cut)"
    return f"anomaly-score cut keeping {float(efficiency):g} of the signal region"


def submit(results_dir: str | os.PathLike[str], **options: Any) -> AnswerFiles:
    """:func:`answer_from_results` then :func:`write_answer` into the same directory."""
    answer, details = answer_from_results(results_dir, **options)
    return write_answer(results_dir, answer, details)
