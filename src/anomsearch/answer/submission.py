"""The LHC Olympics 2020 black-box answer: build, validate, write and load it.

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

The answer of a finished run is built from its results directory by
:mod:`anomsearch.answer.from_results`, and scored against a master key by
:mod:`anomsearch.answer.scoring`.

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
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
from scipy.stats import norm

from anomsearch._io import atomic_path, jsonable
from anomsearch.answer.daughter_masses import DaughterMass
from anomsearch.answer.resonance_fit import ResonanceFit
from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "ANSWER_SCHEMA_VERSION",
    "AnswerFiles",
    "Measurement",
    "answer_schema",
    "build_answer",
    "build_answer_details",
    "format_answer_text",
    "load_answer",
    "p_value_threshold",
    "validate_answer",
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
                "peak_shape": d.peak_shape,
            }
            for d in fits
        ]
    if most_significant_window is not None:
        details["most_significant_window"] = dict(most_significant_window)
    for key, value in (extra or {}).items():
        if key in details:
            raise ConfigError(f"answer details: extra key {key!r} would overwrite a computed key")
        details[key] = value
    return jsonable(details, what="answer details")


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
            DETAILS_FILE: _dump_json(jsonable(details, what="answer details")),
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
    path = Path(path)
    if path.is_dir():
        raise DataFormatError(f"{path}: is a directory, not a JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFormatError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc.reason}), not JSON") from None
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def load_answer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate an ``answer.json``.

    Raises:
        DataFormatError: naming the file and the offending key.
    """
    answer = _read_json(path)
    validate_answer(answer, source=str(path))
    return answer
