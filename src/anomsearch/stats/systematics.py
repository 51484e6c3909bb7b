"""Common normalisation systematics (``normsys``) added to an existing pyhf spec.

A :class:`Systematic` describes one relative normalisation uncertainty on the ``signal`` sample,
the ``background`` sample or ``both`` (one nuisance parameter, fully correlated between the two
samples and across channels). :func:`add_common_systematics` appends it as a HistFactory
``normsys`` modifier (Gaussian-constrained nuisance ``alpha``, factor ``1 + up`` at
``alpha = +1`` and ``1 - down`` at ``alpha = -1``, pyhf's default exponential/polynomial
interpolation) to every matching sample of a spec built by
:func:`~anomsearch.stats.abcd_model.build_abcd_spec` or
:func:`~anomsearch.stats.bumphunt_model.build_bumphunt_spec`.

Typical terms:

- luminosity (:func:`luminosity`): on the **signal only**. The background of this package is
  estimated from data (sideband fit, ABCD), so it does not scale with the integrated luminosity;
  only a signal yield predicted from a cross section does.
- signal efficiency (:func:`signal_efficiency`): trigger, jet energy scale, efficiency of the
  anomaly-score cut on a model signal.
- classifier ensemble spread (:func:`ensemble_spread`): the spread of the selected yield over
  retrainings of the classifier ensemble; on the background prediction by default.

Note that a normalisation uncertainty on the signal alone cannot change a discovery
significance: with the signal strength free, ``mu * (1 + delta alpha)`` is one free number, so
``q0`` is unchanged and only the uncertainty of ``mu_hat`` grows. Such terms matter for limits
and signal-yield measurements; uncertainties on the background lower ``Z``.

References:
    ROOT/HistFactory, CERN-OPEN-2012-016 (``normsys``, interpolation codes); pyhf, JOSS 6 (2021)
    2823; G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727; LHC Olympics 2020,
    arXiv:2101.08320.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from anomsearch.exceptions import ConfigError

__all__ = [
    "Systematic",
    "add_common_systematics",
    "ensemble_spread",
    "luminosity",
    "signal_efficiency",
    "systematics_from_config",
]

log = logging.getLogger(__name__)

SampleTarget = Literal["signal", "background", "both"]
_TARGETS = ("signal", "background", "both")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD = "stats.systematics[{i}].{field}"


class Systematic(NamedTuple):
    """One relative normalisation uncertainty, added as a pyhf ``normsys`` modifier.

    Attributes:
        name: nuisance-parameter name (letters, digits, ``_``; not starting with a digit).
        sample: ``"signal"``, ``"background"`` or ``"both"`` (one nuisance on both samples).
        up: relative shift at ``alpha = +1``: the sample is scaled by ``1 + up`` (``>= 0``).
        down: relative shift at ``alpha = -1``: the sample is scaled by ``1 - down``
            (``0 <= down < 1``); ``None`` means symmetric, ``down = up``.
        channels: restrict the modifier to these channels; ``None``: every channel.
        kind: modifier type; only ``"normsys"`` (a normalisation uncertainty) for now.
    """

    name: str
    sample: SampleTarget
    up: float
    down: float | None = None
    channels: tuple[str, ...] | None = None
    kind: Literal["normsys"] = "normsys"


def luminosity(relative: float = 0.017, *, name: str = "lumi") -> Systematic:
    """Luminosity uncertainty on the signal (default 1.7%, ATLAS/CMS Run 2 typical).

    Only the signal scales with luminosity: the background is estimated from data.

    Examples:
        >>> luminosity(0.02)
        Systematic(name='lumi', sample='signal', up=0.02, down=None, channels=None, kind='normsys')
    """
    return Systematic(name, "signal", float(relative))


def signal_efficiency(relative: float, *, name: str = "signal_efficiency") -> Systematic:
    """Relative uncertainty of the signal selection efficiency (on the signal)."""
    return Systematic(name, "signal", float(relative))


def ensemble_spread(
    relative: float,
    *,
    sample: SampleTarget = "background",
    name: str = "ensemble_spread",
) -> Systematic:
    """Spread of the selected yield over classifier-ensemble retrainings (default: background)."""
    return Systematic(name, sample, float(relative))


def _validate(i: int, syst: Systematic) -> Systematic:
    """Check one systematic; errors name ``stats.systematics[i].<field>``."""
    if not isinstance(syst, Systematic):
        raise ConfigError(f"stats.systematics[{i}] must be a Systematic, got {type(syst).__name__}")
    if not isinstance(syst.name, str) or not _NAME_RE.match(syst.name):
        raise ConfigError(
            f"{_FIELD.format(i=i, field='name')} must be a name of letters, digits and '_' "
            f"not starting with a digit, got {syst.name!r}"
        )
    if syst.kind != "normsys":
        raise ConfigError(
            f"{_FIELD.format(i=i, field='kind')} must be 'normsys', got {syst.kind!r}"
        )
    if syst.sample not in _TARGETS:
        raise ConfigError(
            f"{_FIELD.format(i=i, field='sample')} must be one of {_TARGETS}, got {syst.sample!r}"
        )
    up = _as_size(i, "up", syst.up)
    down = up if syst.down is None else _as_size(i, "down", syst.down)
    if down >= 1.0:
        raise ConfigError(
            f"{_FIELD.format(i=i, field='down')} must be < 1 (the sample would vanish or turn "
            f"negative at alpha = -1), got {down}"
        )
    if up == 0.0 and down == 0.0:
        raise ConfigError(f"{_FIELD.format(i=i, field='up')}: up and down are both 0")
    channels = syst.channels
    if channels is not None:
        if isinstance(channels, str) or not all(isinstance(c, str) for c in channels):
            raise ConfigError(
                f"{_FIELD.format(i=i, field='channels')} must be a list of channel names, "
                f"got {channels!r}"
            )
        channels = tuple(channels)
        if not channels:
            raise ConfigError(f"{_FIELD.format(i=i, field='channels')} must not be empty")
    return Systematic(syst.name, syst.sample, up, down, channels, syst.kind)


def _as_size(i: int, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{_FIELD.format(i=i, field=field)} must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0.0):
        raise ConfigError(
            f"{_FIELD.format(i=i, field=field)} must be a finite relative size >= 0, got {value!r}"
        )
    return v


def systematics_from_config(entries: Sequence[Mapping[str, Any]]) -> list[Systematic]:
    """Parse the ``stats.systematics`` config list into validated :class:`Systematic` s.

    Each entry is a mapping with ``name``, ``sample`` and ``up``, optionally ``down``,
    ``channels`` and ``kind`` (``"normsys"``).

    Args:
        entries: the config list.

    Returns:
        The validated systematics.

    Raises:
        ConfigError: a malformed entry, naming ``stats.systematics[i].<field>``.

    Examples:
        >>> systematics_from_config([{"name": "lumi", "sample": "signal", "up": 0.02}])[0].down
        0.02
    """
    if isinstance(entries, str | bytes | Mapping) or not isinstance(entries, Sequence):
        raise ConfigError("stats.systematics must be a list of mappings")
    known = set(Systematic._fields)
    out: list[Systematic] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"stats.systematics[{i}] must be a mapping, got {entry!r}")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(
                f"{_FIELD.format(i=i, field=unknown[0])} is not a known field "
                f"(known: {', '.join(Systematic._fields)})"
            )
        for field in ("name", "sample", "up"):
            if field not in entry:
                raise ConfigError(f"{_FIELD.format(i=i, field=field)} is required")
        channels = entry.get("channels")
        if (
            channels is not None
            and isinstance(channels, Sequence)
            and not isinstance(channels, str)
        ):
            channels = tuple(channels)
        syst = Systematic(
            name=entry["name"],
            sample=entry["sample"],
            up=entry["up"],
            down=entry.get("down"),
            channels=channels,
            kind=entry.get("kind", "normsys"),
        )
        out.append(_validate(i, syst))
    _check_unique(out)
    return out


def _check_unique(systs: Sequence[Systematic]) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(systs):
        if s.name in seen:
            raise ConfigError(
                f"{_FIELD.format(i=i, field='name')} {s.name!r} repeats "
                f"stats.systematics[{seen[s.name]}].name"
            )
        seen[s.name] = i


def add_common_systematics(
    spec: Mapping[str, Any],
    systematics: Sequence[Systematic],
    *,
    signal_sample: str = "signal",
    background_sample: str = "background",
) -> dict[str, Any]:
    """Return a copy of a pyhf spec with ``normsys`` modifiers for ``systematics`` added.

    Each systematic becomes one ``normsys`` modifier (``hi = 1 + up``, ``lo = 1 - down``) on the
    targeted sample(s) in every channel (or in ``Systematic.channels``). The input spec is not
    modified.

    Args:
        spec: pyhf workspace spec, e.g. from ``build_abcd_spec`` or ``build_bumphunt_spec``.
        systematics: the :class:`Systematic` s to add.
        signal_sample: name of the signal sample in the spec.
        background_sample: name of the background sample in the spec.

    Returns:
        The new spec (deep copy).

    Raises:
        ConfigError: an invalid systematic, a repeated name, a name already used by a modifier
            of the spec, a channel not in the spec, or a targeted sample found in no selected
            channel; messages name ``stats.systematics[i].<field>``.

    References:
        CERN-OPEN-2012-016 (HistFactory ``normsys``).

    Examples:
        >>> from anomsearch.stats.inference import counting_experiment_spec
        >>> spec = add_common_systematics(counting_experiment_spec(5.0, 20.0), [luminosity(0.02)])
        >>> spec["channels"][0]["samples"][0]["modifiers"][-1]
        {'name': 'lumi', 'type': 'normsys', 'data': {'hi': 1.02, 'lo': 0.98}}
    """
    if isinstance(systematics, Systematic):
        raise ConfigError("stats.systematics must be a list of Systematic, not a single one")
    checked = [_validate(i, s) for i, s in enumerate(systematics)]
    _check_unique(checked)
    out = copy.deepcopy(dict(spec))
    channels = out.get("channels")
    if not isinstance(channels, list):
        raise ConfigError("the pyhf spec has no 'channels' list")
    used = {
        m.get("name") for ch in channels for smp in ch.get("samples", []) for m in smp["modifiers"]
    }
    channel_names = [ch.get("name") for ch in channels]
    for i, syst in enumerate(checked):
        if syst.name in used:
            raise ConfigError(
                f"{_FIELD.format(i=i, field='name')} {syst.name!r} is already a modifier of the "
                f"spec"
            )
        if syst.channels is not None:
            missing = [c for c in syst.channels if c not in channel_names]
            if missing:
                raise ConfigError(
                    f"{_FIELD.format(i=i, field='channels')}: no channel {missing[0]!r} in the "
                    f"spec (channels: {channel_names})"
                )
        targets = {
            "signal": (signal_sample,),
            "background": (background_sample,),
            "both": (signal_sample, background_sample),
        }[syst.sample]
        hi = 1.0 + syst.up
        lo = 1.0 - (syst.up if syst.down is None else syst.down)
        n_added = 0
        for ch in channels:
            if syst.channels is not None and ch.get("name") not in syst.channels:
                continue
            for smp in ch.get("samples", []):
                if smp.get("name") in targets:
                    smp["modifiers"].append(
                        {"name": syst.name, "type": "normsys", "data": {"hi": hi, "lo": lo}}
                    )
                    n_added += 1
        if n_added == 0:
            raise ConfigError(
                f"{_FIELD.format(i=i, field='sample')}: no sample named "
                f"{' or '.join(repr(t) for t in targets)} in the selected channels"
            )
        log.debug("added normsys %r (hi %.4g, lo %.4g) to %d samples", syst.name, hi, lo, n_added)
    return out
