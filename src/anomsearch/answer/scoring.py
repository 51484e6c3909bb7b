"""Scoring of an LHC Olympics 2020 black-box answer against the master key.

:func:`score_submission` compares an answer (:mod:`anomsearch.answer.submission`) with the master
key ``{"resonance_mass": GeV, "n_signal": n, "daughter_masses": [GeV, ...]}`` (or ``None``: the
box has no signal): the detection must be right, and each measured quantity must satisfy
``|answer - truth| <= max_pull * uncertainty`` (daughter masses are matched in ascending order,
or, when the answer gives fewer or more of them than the key, each with the nearest one; a
daughter missing on either side fails).

References:
    G. Kasieczka et al., "The LHC Olympics 2020: a community challenge for anomaly detection in
    high energy physics", arXiv:2101.08320 (black-box challenge and answer format).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from anomsearch.answer.submission import _read_json, validate_answer
from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "QuantityScore",
    "SubmissionScore",
    "format_submission_score",
    "load_key",
    "score_submission",
    "validate_key",
]

log = logging.getLogger(__name__)


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


def _pair_daughters(
    given: list[Mapping[str, float]], truth: list[float]
) -> list[tuple[Mapping[str, float] | None, float]]:
    """Answered and true daughter masses paired: in ascending order when their numbers agree,
    else each of the shorter list with the member of the longer one that minimises the summed
    absolute pulls (an answer with one daughter is compared with the nearest true one); the
    unpaired ones come last, with ``None`` / NaN on the missing side. Ordered by true mass."""
    given = sorted(given, key=lambda d: d["value"])
    truth = sorted(truth)
    if len(given) == len(truth):
        return list(zip(given, truth, strict=True))

    def cost(g: Mapping[str, float], t: float) -> float:
        return abs(_pull(float(g["value"]), float(g["uncertainty"]), t))

    # every injective map of the shorter list into the longer; the one with the smallest pulls
    fewer_given = len(given) < len(truth)
    n_short, n_long = sorted((len(given), len(truth)))

    def as_pairs(idx: tuple[int, ...]) -> list[tuple[int, int]]:  # (given index, truth index)
        return [(k, i) if fewer_given else (i, k) for k, i in enumerate(idx)]

    best = min(
        itertools.permutations(range(n_long), n_short),
        key=lambda idx: sum(cost(given[g], truth[t]) for g, t in as_pairs(idx)),
    )
    given_of = {t: g for g, t in as_pairs(best)}
    pairs: list[tuple[Mapping[str, float] | None, float]] = [
        (given[given_of[t]] if t in given_of else None, value) for t, value in enumerate(truth)
    ]
    paired = set(given_of.values())
    return pairs + [(g, math.nan) for k, g in enumerate(given) if k not in paired]


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
        for k, (given, true_value) in enumerate(
            _pair_daughters(answer["daughter_masses"], truth["daughter_masses"])
        ):
            pairs.append((f"daughter_mass_{k}", given, true_value))
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
