"""The LHC Olympics 2020 black-box answer: build, validate, write and score it.

``answer.json`` has exactly the LHCO keys (masses in GeV)::

    {"p_value": p,
     "resonance_mass": {"value": GeV, "uncertainty": GeV},
     "n_signal": {"value": n, "uncertainty": dn},
     "daughter_masses": [{"value": GeV, "uncertainty": GeV}, ...]}

When the excess is not significant (``p_value`` above the one-sided p-value of
``significance_threshold`` sigma, 1.35e-3 for the default Z = 3), the answer is ``{"p_value": p}``
alone: no signal is claimed. Everything else -- the measurements even when withheld, asymmetric
errors, fit diagnostics and the informational ``most_significant_window`` (the mjj window with
the smallest local p-value of a scan, as given by the caller) -- goes into
``answer_details.json``, whose content is free-form JSON. ``answer.txt`` is a one-line human
summary. The three files are written all-or-nothing.

Masses: :class:`~anomsearch.answer.resonance_fit.ResonanceFit` and
:class:`~anomsearch.answer.daughter_masses.DaughterMass` carry the package's unit (TeV) and are
converted with ``mass_unit_gev`` (default 1000); plain :class:`Measurement` values and ``(value,
uncertainty)`` pairs are taken as GeV.

Scoring (:func:`score_submission`) compares an answer with the master key ``{"resonance_mass":
GeV, "n_signal": n, "daughter_masses": [GeV, ...]}`` (or ``None``: the box has no signal): the
detection must be right, and each measured quantity must satisfy ``|answer - truth| <= max_pull *
uncertainty`` (daughter masses are matched in ascending order).

References:
    G. Kasieczka et al., "The LHC Olympics 2020: a community challenge for anomaly detection in
    high energy physics", arXiv:2101.08320 (black-box challenge and answer format).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import numpy as np
from scipy.stats import norm

from anomsearch._io import atomic_path
from anomsearch.answer.daughter_masses import DaughterMass, estimate_daughter_masses
from anomsearch.answer.resonance_fit import ResonanceFit, fit_resonance_mass
from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "ANSWER_SCHEMA_VERSION",
    "AnswerFiles",
    "Measurement",
    "QuantityScore",
    "SubmissionScore",
    "answer_from_results",
    "answer_schema",
    "build_answer",
    "build_answer_details",
    "format_answer_text",
    "format_submission_score",
    "load_answer",
    "load_key",
    "p_value_threshold",
    "score_submission",
    "submit",
    "validate_answer",
    "validate_key",
    "write_answer",
]

log = logging.getLogger(__name__)

#: Version of ``schemas/answer.v{N}.json``.
ANSWER_SCHEMA_VERSION = "1"

ANSWER_FILE = "answer.json"
DETAILS_FILE = "answer_details.json"
TEXT_FILE = "answer.txt"


class Measurement(NamedTuple):
    """A value with its 1-sigma uncertainty (masses in GeV)."""

    value: float
    uncertainty: float


class AnswerFiles(NamedTuple):
    """Paths written by :func:`write_answer`."""

    answer: Path
    details: Path
    text: Path


class QuantityScore(NamedTuple):
    """One quantity of a scored submission.

    Attributes:
        name: ``resonance_mass``, ``n_signal`` or ``daughter_mass_{k}`` (ascending order).
        value: the answer's value (NaN when the answer lacks it).
        uncertainty: the answer's uncertainty.
        truth: the key's value (NaN when the key lacks it).
        pull: ``(value - truth) / uncertainty`` (``+-inf`` for a wrong value with zero
            uncertainty, NaN when either side is missing).
        passed: ``|pull| <= max_pull``.
    """

    name: str
    value: float
    uncertainty: float
    truth: float
    pull: float
    passed: bool


class SubmissionScore(NamedTuple):
    """Result of :func:`score_submission`.

    Attributes:
        p_value: the answer's p-value.
        claimed_signal: the answer claims a signal (has ``resonance_mass``).
        true_signal: the key has a signal.
        detection_correct: ``claimed_signal == true_signal``.
        quantities: one :class:`QuantityScore` per measured quantity (empty unless both the
            answer and the key have a signal).
        max_pull: the pull threshold used.
        passed: detection correct and every quantity passed.
    """

    p_value: float
    claimed_signal: bool
    true_signal: bool
    detection_correct: bool
    quantities: tuple[QuantityScore, ...]
    max_pull: float
    passed: bool


@functools.cache
def answer_schema() -> dict[str, Any]:
    """The JSON schema of ``answer.json`` (version :data:`ANSWER_SCHEMA_VERSION`)."""
    text = (
        resources.files("anomsearch.schemas")
        .joinpath(f"answer.v{ANSWER_SCHEMA_VERSION}.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def p_value_threshold(significance_threshold: float) -> float:
    """One-sided p-value of a ``significance_threshold``-sigma excess.

    Examples:
        >>> f"{p_value_threshold(3.0):.4g}"
        '0.00135'
    """
    if not (math.isfinite(significance_threshold) and significance_threshold > 0):
        raise ConfigError(
            f"answer.significance_threshold must be > 0 (sigma), got {significance_threshold}"
        )
    return float(norm.sf(significance_threshold))


def _path(parts: Sequence[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def _nonfinite(obj: Any, parts: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return parts
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            found = _nonfinite(value, (*parts, key))
            if found is not None:
                return found
    elif isinstance(obj, list | tuple):
        for k, value in enumerate(obj):
            found = _nonfinite(value, (*parts, k))
            if found is not None:
                return found
    return None


def validate_answer(answer: Any, *, source: str = "answer") -> None:
    """Check an answer against ``schemas/answer.v1.json`` (exact keys, ranges) and finiteness.

    Args:
        answer: the answer mapping.
        source: name of where it came from (a file name), used in the error message.

    Raises:
        DataFormatError: naming ``source`` and the offending key.

    Examples:
        >>> validate_answer({"p_value": 0.3})
        >>> validate_answer({"p_value": 0.3, "resonance_mass": {"value": 3500, "uncertainty": 50}})
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        anomsearch.exceptions.DataFormatError: answer: key resonance_mass: ...
    """
    if not isinstance(answer, Mapping):
        raise DataFormatError(f"{source}: an answer must be a JSON object, got {type(answer)}")
    validator = jsonschema.Draft202012Validator(answer_schema())
    errors = sorted(
        validator.iter_errors(dict(answer)), key=lambda e: (len(e.path), list(map(str, e.path)))
    )
    if errors:
        err = errors[0]
        where = list(err.absolute_path)
        if not where and err.validator == "dependentRequired":
            where = [next(k for k in err.instance if k in err.validator_value)]  # type: ignore[union-attr]
        if not where and err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(answer_schema()["properties"]))
            raise DataFormatError(f"{source}: unexpected key(s) {extra}; allowed: LHCO keys only")
        raise DataFormatError(f"{source}: key {_path(where)}: {err.message}")
    bad = _nonfinite(dict(answer))
    if bad is not None:
        raise DataFormatError(f"{source}: key {_path(bad)} must be finite")


def _measurement(obj: Any, *, name: str, scale: float = 1.0) -> Measurement:
    if isinstance(obj, ResonanceFit):
        return Measurement(obj.mass * scale, obj.mass_error * scale)
    if isinstance(obj, DaughterMass):
        return Measurement(obj.value * scale, obj.error * scale)
    if isinstance(obj, Mapping):
        try:
            return Measurement(float(obj["value"]), float(obj["uncertainty"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"answer: {name} needs numeric value and uncertainty") from exc
    try:
        value, uncertainty = obj
        return Measurement(float(value), float(uncertainty))
    except (TypeError, ValueError) as exc:
        raise DataFormatError(
            f"answer: {name} must be a (value, uncertainty) pair, got {obj!r}"
        ) from exc


def _as_dict(m: Measurement) -> dict[str, float]:
    return {"value": float(m.value), "uncertainty": float(m.uncertainty)}


def _check_p_value(p_value: float) -> float:
    p = float(p_value)
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise DataFormatError(f"answer: p_value must be in [0, 1], got {p_value}")
    return p


def _measurements(
    resonance: ResonanceFit | Measurement | Sequence[float] | None,
    n_signal: Measurement | Sequence[float] | None,
    daughter_masses: Sequence[DaughterMass | Measurement | Sequence[float]],
    mass_unit_gev: float,
    signal_efficiency: float = 1.0,
) -> tuple[Measurement | None, Measurement | None, list[Measurement]]:
    if not (math.isfinite(mass_unit_gev) and mass_unit_gev > 0):
        raise ConfigError(f"answer.mass_unit_gev must be > 0, got {mass_unit_gev}")
    if not (math.isfinite(signal_efficiency) and 0 < signal_efficiency <= 1):
        raise ConfigError(f"answer.signal_efficiency must be in (0, 1], got {signal_efficiency}")
    mass = None
    if resonance is not None:
        mass = _measurement(resonance, name="resonance_mass", scale=mass_unit_gev)
    if n_signal is not None:
        count = _measurement(n_signal, name="n_signal")
    elif isinstance(resonance, ResonanceFit):
        count = Measurement(resonance.n_signal, resonance.n_signal_error)
    else:
        count = None
    if count is not None:
        count = Measurement(count.value / signal_efficiency, count.uncertainty / signal_efficiency)
    daughters = sorted(
        (
            _measurement(d, name=f"daughter_masses.{k}", scale=mass_unit_gev)
            for k, d in enumerate(daughter_masses)
        ),
        key=lambda m: m.value,
    )
    return mass, count, daughters


def build_answer(
    *,
    p_value: float,
    resonance: ResonanceFit | Measurement | Sequence[float] | None = None,
    n_signal: Measurement | Sequence[float] | None = None,
    daughter_masses: Sequence[DaughterMass | Measurement | Sequence[float]] = (),
    significance_threshold: float = 3.0,
    mass_unit_gev: float = 1000.0,
    signal_efficiency: float = 1.0,
) -> dict[str, Any]:
    """Build the strict LHCO answer (exact keys), validated against the schema.

    Args:
        p_value: local p-value of the background-only hypothesis (the bump hunt's ``p0``).
        resonance: a :class:`~anomsearch.answer.resonance_fit.ResonanceFit` (TeV, converted), or a
            ``(value, uncertainty)`` in GeV.
        n_signal: ``(value, uncertainty)`` signal events; default: from ``resonance`` when it is a
            ``ResonanceFit``.
        daughter_masses: :class:`~anomsearch.answer.daughter_masses.DaughterMass` (TeV,
            converted) or ``(value, uncertainty)`` in GeV; written in ascending order.
        significance_threshold: claim a signal only if ``p_value <= p_value_threshold(Z)``.
        mass_unit_gev: GeV per unit of ``ResonanceFit`` / ``DaughterMass`` masses.
        signal_efficiency: the reported ``n_signal`` is the fitted yield divided by this (value
            and uncertainty). The fit counts *selected* signal events in the fitted mjj bins;
            the LHCO key counts all signal events in the box, so pass the fraction of signal
            events that pass the selection and fall in the bins when a signal hypothesis
            provides it. Default 1: the fitted yield as is.

    Returns:
        ``{"p_value": p}`` without a significant excess, else the four LHCO keys.

    Raises:
        DataFormatError: p-value outside [0, 1], a significant excess without ``resonance`` or
            ``n_signal``, or measurements the schema rejects (named by key).
        ConfigError: bad ``significance_threshold`` or ``mass_unit_gev``.

    References:
        arXiv:2101.08320.

    Examples:
        >>> build_answer(p_value=0.2, resonance=(3500.0, 40.0), n_signal=(800.0, 200.0))
        {'p_value': 0.2}
        >>> a = build_answer(p_value=1e-5, resonance=(3500.0, 40.0), n_signal=(800.0, 200.0),
        ...                  daughter_masses=[(500.0, 12.0), (100.0, 8.0)])
        >>> list(a), [d["value"] for d in a["daughter_masses"]]
        (['p_value', 'resonance_mass', 'n_signal', 'daughter_masses'], [100.0, 500.0])
    """
    p = _check_p_value(p_value)
    threshold = p_value_threshold(significance_threshold)
    mass, count, daughters = _measurements(
        resonance, n_signal, daughter_masses, mass_unit_gev, signal_efficiency
    )
    if p > threshold:
        log.info(
            "answer: p-value %.3g above the %.3g threshold (Z = %g): no signal claimed",
            p,
            threshold,
            significance_threshold,
        )
        answer: dict[str, Any] = {"p_value": p}
    else:
        if mass is None or count is None:
            missing = "resonance" if mass is None else "n_signal"
            raise DataFormatError(
                f"answer: p_value {p:.3g} is significant (<= {threshold:.3g}) but {missing} "
                "is missing"
            )
        answer = {
            "p_value": p,
            "resonance_mass": _as_dict(mass),
            "n_signal": _as_dict(count),
            "daughter_masses": [_as_dict(d) for d in daughters],
        }
    validate_answer(answer)
    return answer


def _jsonable(value: Any) -> Any:
    """Finite floats, lists and dicts only (NaN / inf become None) for the details file."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise DataFormatError(f"answer details: cannot write a {type(value).__name__} as JSON")


def build_answer_details(
    *,
    p_value: float,
    resonance: ResonanceFit | Measurement | Sequence[float] | None = None,
    n_signal: Measurement | Sequence[float] | None = None,
    daughter_masses: Sequence[DaughterMass | Measurement | Sequence[float]] = (),
    significance_threshold: float = 3.0,
    mass_unit_gev: float = 1000.0,
    signal_efficiency: float = 1.0,
    most_significant_window: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The informational content of ``answer_details.json`` (same arguments as
    :func:`build_answer`).

    Keys: ``claimed_signal``, ``significance`` (Z of ``p_value``), ``significance_threshold``,
    ``p_value_threshold``, ``measurements`` (in GeV, given even when not claimed), ``resonance_fit``
    (asymmetric errors in GeV, diagnostics; when ``resonance`` is a ``ResonanceFit``),
    ``daughter_fits`` (per jet, for ``DaughterMass`` inputs), ``most_significant_window`` (as
    given, e.g. ``{"mjj_range_gev": [3300, 3700], "p_value": ..., "significance": ...}``) and
    anything in ``extra``. Non-finite numbers become ``null``.

    Examples:
        >>> d = build_answer_details(p_value=0.02, most_significant_window={"p_value": 0.02})
        >>> d["claimed_signal"], round(d["significance"], 2), d["most_significant_window"]
        (False, 2.05, {'p_value': 0.02})
    """
    p = _check_p_value(p_value)
    threshold = p_value_threshold(significance_threshold)
    mass, count, daughters = _measurements(
        resonance, n_signal, daughter_masses, mass_unit_gev, signal_efficiency
    )
    details: dict[str, Any] = {
        "claimed_signal": bool(p <= threshold and mass is not None and count is not None),
        "p_value": p,
        "significance": float(norm.isf(p)) if p > 0 else math.inf,
        "significance_threshold": float(significance_threshold),
        "p_value_threshold": threshold,
        "signal_efficiency": float(signal_efficiency),
        "measurements": {
            "resonance_mass_gev": None if mass is None else _as_dict(mass),
            "n_signal": None if count is None else _as_dict(count),
            "daughter_masses_gev": [_as_dict(d) for d in daughters],
        },
    }
    if isinstance(resonance, ResonanceFit):
        details["resonance_fit"] = {
            "mass_gev": resonance.mass * mass_unit_gev,
            "mass_errors_gev": [e * mass_unit_gev for e in resonance.mass_errors],
            "n_signal": resonance.n_signal,
            "n_signal_errors": list(resonance.n_signal_errors),
            "mass_at_limit": resonance.mass_at_limit,
            "converged": resonance.converged,
        }
    fits = [d for d in daughter_masses if isinstance(d, DaughterMass)]
    if fits:
        details["daughter_fits"] = [
            {
                "name": d.name,
                "mass_gev": d.value * mass_unit_gev,
                "error_gev": d.error * mass_unit_gev,
                "width_gev": d.width * mass_unit_gev,
                "n_excess": d.n_excess,
                "n_excess_error": d.n_excess_error,
                "converged": d.converged,
            }
            for d in fits
        ]
    if most_significant_window is not None:
        details["most_significant_window"] = dict(most_significant_window)
    for key, value in (extra or {}).items():
        if key in details:
            raise ConfigError(f"answer details: extra key {key!r} would overwrite a computed key")
        details[key] = value
    return _jsonable(details)


def _fmt(m: Mapping[str, float], unit: str = "") -> str:
    return f"{m['value']:.0f} +- {m['uncertainty']:.0f}{unit}"


def format_answer_text(answer: Mapping[str, Any], details: Mapping[str, Any] | None = None) -> str:
    """One human-readable line summarising an answer (the content of ``answer.txt``).

    Examples:
        >>> format_answer_text({"p_value": 0.25})
        'p-value 0.25 (Z = 0.67): no significant excess, no signal claimed'
        >>> print(format_answer_text({"p_value": 2e-5,
        ...     "resonance_mass": {"value": 3512.3, "uncertainty": 40.2},
        ...     "n_signal": {"value": 850.0, "uncertainty": 210.0},
        ...     "daughter_masses": [{"value": 103.0, "uncertainty": 8.0},
        ...                         {"value": 498.0, "uncertainty": 12.0}]}))
        p-value 2e-05 (Z = 4.11); resonance at 3512 +- 40 GeV; ~850 +- 210 signal events; daughter jets 103 +- 8 GeV and 498 +- 12 GeV
    """  # noqa: E501
    p = float(answer["p_value"])
    z = float(norm.isf(p)) if p > 0 else math.inf
    head = f"p-value {p:.3g} (Z = {z:.2f})"
    if "resonance_mass" not in answer:
        text = f"{head}: no significant excess, no signal claimed"
        window = (details or {}).get("most_significant_window")
        if window:
            text += f"; most significant window: {json.dumps(window, sort_keys=True)}"
        return text
    parts = [
        head,
        f"resonance at {_fmt(answer['resonance_mass'], ' GeV')}",
        f"~{_fmt(answer['n_signal'])} signal events",
    ]
    daughters = answer["daughter_masses"]
    if daughters:
        listed = [_fmt(d, " GeV") for d in daughters]
        joined = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        parts.append(f"daughter jets {joined}")
    return "; ".join(parts)


def _dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def write_answer(
    results_dir: str | os.PathLike[str],
    answer: Mapping[str, Any],
    details: Mapping[str, Any] | None = None,
) -> AnswerFiles:
    """Write ``answer.json``, ``answer_details.json`` and ``answer.txt`` into ``results_dir``.

    The answer is validated and all three texts are rendered before anything is written; each
    file is written to a temporary file beside its destination and the three are renamed into
    place only once all were written, so a failure leaves no new (or partial) file behind.

    Args:
        results_dir: the run's results directory (created if needed).
        answer: the strict answer (:func:`build_answer`).
        details: the informational details (:func:`build_answer_details`); default ``{}``.

    Returns:
        The written paths.

    Raises:
        DataFormatError: the answer is invalid or the details are not JSON-serialisable.
    """
    validate_answer(answer)
    details = {} if details is None else details
    try:
        texts = {
            ANSWER_FILE: _dump_json(dict(answer)),
            DETAILS_FILE: _dump_json(_jsonable(details)),
            TEXT_FILE: format_answer_text(answer, details) + "\n",
        }
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{DETAILS_FILE}: details are not valid JSON: {exc}") from exc
    out = Path(results_dir)
    with contextlib.ExitStack() as stack:
        for name, text in texts.items():
            tmp = stack.enter_context(atomic_path(out / name))
            tmp.write_text(text, encoding="utf-8")
    log.info("answer written to %s: %s", out, texts[TEXT_FILE].strip())
    return AnswerFiles(out / ANSWER_FILE, out / DETAILS_FILE, out / TEXT_FILE)


def _read_json(path: str | os.PathLike[str]) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFormatError(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc


def load_answer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate an ``answer.json``.

    Raises:
        DataFormatError: naming the file and the offending key.
    """
    answer = _read_json(path)
    validate_answer(answer, source=str(path))
    return answer


def validate_key(key: Any, *, source: str = "key") -> dict[str, Any] | None:
    """Check a master-key truth dict; ``None`` or ``{}`` means the box has no signal.

    Returns:
        The key with float values (daughter masses ascending), or ``None`` for no signal.

    Raises:
        DataFormatError: naming ``source`` and the offending key.

    Examples:
        >>> validate_key({"resonance_mass": 3500, "n_signal": 834, "daughter_masses": [500, 100]})
        {'resonance_mass': 3500.0, 'n_signal': 834.0, 'daughter_masses': [100.0, 500.0]}
    """
    if key is None or (isinstance(key, Mapping) and not key):
        return None
    if not isinstance(key, Mapping):
        raise DataFormatError(f"{source}: a key must be a JSON object or null, got {type(key)}")
    allowed = {"resonance_mass", "n_signal", "daughter_masses"}
    unexpected = sorted(set(key) - allowed)
    if unexpected:
        raise DataFormatError(
            f"{source}: unexpected key(s) {unexpected}; allowed {sorted(allowed)}"
        )
    out: dict[str, Any] = {}
    for name in ("resonance_mass", "n_signal"):
        value = key.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataFormatError(f"{source}: key {name} must be a number, got {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise DataFormatError(f"{source}: key {name} must be finite and >= 0, got {value}")
        out[name] = float(value)
    daughters = key.get("daughter_masses", [])
    if not isinstance(daughters, list) or any(
        isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) or d <= 0
        for d in daughters
    ):
        raise DataFormatError(f"{source}: key daughter_masses must be a list of masses > 0 (GeV)")
    out["daughter_masses"] = sorted(float(d) for d in daughters)
    return out


def load_key(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read a master-key JSON file (a truth dict, or ``null`` / ``{}`` for no signal)."""
    return validate_key(_read_json(path), source=str(path))


def _pull(value: float, uncertainty: float, truth: float) -> float:
    diff = value - truth
    if uncertainty > 0:
        return diff / uncertainty
    return 0.0 if diff == 0 else math.copysign(math.inf, diff)


def score_submission(
    answer: Mapping[str, Any], key: Mapping[str, Any] | None, *, max_pull: float = 2.0
) -> SubmissionScore:
    """Score an answer against the master key.

    Args:
        answer: the answer (validated here).
        key: ``{"resonance_mass": GeV, "n_signal": n, "daughter_masses": [GeV, ...]}``, or
            ``None`` / ``{}`` when the box has no signal.
        max_pull: a quantity passes if ``|pull| <= max_pull``.

    Returns:
        The :class:`SubmissionScore`.

    Raises:
        DataFormatError: invalid answer or key.
        ConfigError: bad ``max_pull``.

    Examples:
        >>> s = score_submission({"p_value": 0.4}, None)
        >>> s.detection_correct, s.passed, s.quantities
        (True, True, ())
    """
    if not (math.isfinite(max_pull) and max_pull > 0):
        raise ConfigError(f"score_submission.max_pull must be > 0, got {max_pull}")
    validate_answer(answer)
    truth = validate_key(key)
    claimed = "resonance_mass" in answer
    true_signal = truth is not None
    quantities: list[QuantityScore] = []
    if claimed and truth is not None:
        pairs: list[tuple[str, Mapping[str, float] | None, float]] = [
            ("resonance_mass", answer["resonance_mass"], truth["resonance_mass"]),
            ("n_signal", answer["n_signal"], truth["n_signal"]),
        ]
        given = sorted(answer["daughter_masses"], key=lambda d: d["value"])
        true_d = truth["daughter_masses"]
        for k in range(max(len(given), len(true_d))):
            pairs.append(
                (
                    f"daughter_mass_{k}",
                    given[k] if k < len(given) else None,
                    true_d[k] if k < len(true_d) else math.nan,
                )
            )
        for name, measured, true_value in pairs:
            if measured is None or not math.isfinite(true_value):
                value = math.nan if measured is None else float(measured["value"])
                unc = math.nan if measured is None else float(measured["uncertainty"])
                quantities.append(QuantityScore(name, value, unc, true_value, math.nan, False))
                continue
            value, unc = float(measured["value"]), float(measured["uncertainty"])
            pull = _pull(value, unc, true_value)
            quantities.append(
                QuantityScore(name, value, unc, true_value, pull, abs(pull) <= max_pull)
            )
    detection = claimed == true_signal
    passed = detection and all(q.passed for q in quantities)
    return SubmissionScore(
        p_value=float(answer["p_value"]),
        claimed_signal=claimed,
        true_signal=true_signal,
        detection_correct=detection,
        quantities=tuple(quantities),
        max_pull=float(max_pull),
        passed=passed,
    )


def format_submission_score(score: SubmissionScore) -> str:
    """A plain-text table of a :class:`SubmissionScore`.

    Examples:
        >>> s = score_submission({"p_value": 1e-4, "resonance_mass": {"value": 3550,
        ...     "uncertainty": 50}, "n_signal": {"value": 700, "uncertainty": 200},
        ...     "daughter_masses": []}, {"resonance_mass": 3500, "n_signal": 834})
        >>> print(format_submission_score(s))
        submission: PASS (detection correct: signal claimed, signal in the key; p-value 0.0001)
        quantity                  answer  uncertainty        truth     pull  ok
        resonance_mass            3550.0         50.0       3500.0    +1.00  yes
        n_signal                   700.0        200.0        834.0    -0.67  yes
    """
    yes_no = {True: "yes", False: "no"}
    claimed = "signal claimed" if score.claimed_signal else "no signal claimed"
    truth = "signal in the key" if score.true_signal else "no signal in the key"
    lines = [
        f"submission: {'PASS' if score.passed else 'FAIL'} (detection "
        f"{'correct' if score.detection_correct else 'wrong'}: {claimed}, {truth}; "
        f"p-value {score.p_value:.3g})"
    ]
    if score.quantities:
        lines.append(
            f"{'quantity':<20} {'answer':>11} {'uncertainty':>12} {'truth':>12} {'pull':>8}  ok"
        )
        for q in score.quantities:
            lines.append(
                f"{q.name:<20} {q.value:>11.1f} {q.uncertainty:>12.1f} {q.truth:>12.1f} "
                f"{q.pull:>+8.2f}  {yes_no[q.passed]}"
            )
    return "\n".join(lines)


REPORT_FILE = "report.json"
EVENTS_FILE = "selected_events.npz"


def _require(mapping: Any, keys: Sequence[str], source: str) -> Any:
    value = mapping
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            raise DataFormatError(f"{source}: missing key {'.'.join(keys[: depth + 1])}")
        value = value[key]
    return value


def answer_from_results(
    results_dir: str | os.PathLike[str],
    *,
    significance_threshold: float = 3.0,
    daughter_bin_width: float = 0.01,
    signal_efficiency: float = 1.0,
    mass_unit_gev: float = 1000.0,
    most_significant_window: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build the answer and its details from a finished run's results, without retraining.

    Reads ``report.json`` (``p0``, or ``global.p_value`` after a window scan, whose best entry
    then goes into the details; ``background.sr_bin_edges``, ``observed_sr``,
    ``expected_sr``, and ``expected_sr_covariance`` when present, else the diagonal from
    ``expected_sr_uncertainty``; the regions of ``headline`` -- after a scan its most significant
    window -- or else ``config.regions``; ``config.stats.signal_width``) and
    ``selected_events.npz`` (``mjj``, ``mj1``, ``mj2`` of the events passing the score cut, TeV).
    Fits the resonance mass and yield in the SR bins (:func:`fit_resonance_mass`, background
    profiled with its covariance, mass free over the SR) and the daughter-jet masses from the
    selected SR events minus the selected sideband events scaled to the predicted SR background
    (:func:`estimate_daughter_masses`).

    Args:
        results_dir: the run's results directory.
        significance_threshold: see :func:`build_answer`.
        daughter_bin_width: jet-mass bin width (TeV) of the daughter-mass histograms, which
            span 0 to the largest selected jet mass.
        signal_efficiency: see :func:`build_answer`.
        mass_unit_gev: GeV per unit of the results' masses (TeV: 1000).
        most_significant_window: informational entry for the details (e.g. from a window scan).

    Returns:
        ``(answer, details)`` ready for :func:`write_answer`.

    Raises:
        DataFormatError: a file or a key is missing or malformed (named).
        ConfigError: bad options.
    """
    out = Path(results_dir)
    report_path, events_path = out / REPORT_FILE, out / EVENTS_FILE
    report = _read_json(report_path)
    src = str(report_path)
    p0 = float(_require(report, ["p0"], src))
    if report.get("global"):  # a window scan: the look-elsewhere-corrected p-value
        p0 = float(report["global"]["p_value"])
        if most_significant_window is None and (report.get("scan") or {}).get("best"):
            most_significant_window = report["scan"]["best"]
    bkg = _require(report, ["background"], src)
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
    rel_width = float(report["config"].get("stats", {}).get("signal_width", 0.05))
    if not (math.isfinite(daughter_bin_width) and daughter_bin_width > 0):
        raise ConfigError(f"answer.daughter_bin_width must be > 0, got {daughter_bin_width}")

    try:
        with np.load(events_path) as npz:
            missing = [k for k in ("mjj", "mj1", "mj2") if k not in npz.files]
            if missing:
                raise DataFormatError(f"{events_path}: missing array(s) {missing}")
            mjj = np.asarray(npz["mjj"], dtype=float)
            jets = np.column_stack([npz["mj1"], npz["mj2"]]).astype(float)
    except FileNotFoundError as exc:
        raise DataFormatError(f"{events_path}: file not found") from exc
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{events_path}: not a readable .npz file ({exc})") from exc
    if jets.shape[0] != mjj.size:
        raise DataFormatError(f"{events_path}: mjj, mj1 and mj2 must have the same length")

    resonance = fit_resonance_mass(
        observed,
        edges,
        expected,
        relative_width=rel_width,
        mass_range=(float(edges[0]), float(edges[-1])),
        background_covariance=cov,
    )
    in_sr = (mjj >= sr[0]) & (mjj < sr[1])
    in_sb = (mjj >= sb[0]) & (mjj < sb[1]) & ~in_sr
    top = float(jets.max()) if jets.size else 1.0
    n_bins = max(10, math.ceil(top / daughter_bin_width))
    daughters = estimate_daughter_masses(
        jets[in_sr],
        jets[in_sb],
        n_background_sr=float(expected.sum()),
        n_background_sr_error=float(math.sqrt(max(float(cov.sum()), 0.0))),
        bins=np.linspace(0.0, n_bins * daughter_bin_width, n_bins + 1),
    )
    options = {
        "p_value": p0,
        "resonance": resonance,
        "daughter_masses": daughters,
        "significance_threshold": significance_threshold,
        "mass_unit_gev": mass_unit_gev,
        "signal_efficiency": signal_efficiency,
    }
    answer = build_answer(**options)
    details = build_answer_details(
        **options,
        most_significant_window=most_significant_window,
        extra={
            "source": {
                "results_dir": str(out),
                "signal_region_gev": [v * mass_unit_gev for v in sr],
                "n_selected_sr": int(in_sr.sum()),
                "n_selected_sidebands": int(in_sb.sum()),
                "n_background_sr": float(expected.sum()),
                "relative_mass_width": rel_width,
                "background_covariance": "full" if "expected_sr_covariance" in bkg else "diagonal",
            }
        },
    )
    return answer, details


def submit(results_dir: str | os.PathLike[str], **options: Any) -> AnswerFiles:
    """:func:`answer_from_results` then :func:`write_answer` into the same directory."""
    answer, details = answer_from_results(results_dir, **options)
    return write_answer(results_dir, answer, details)
