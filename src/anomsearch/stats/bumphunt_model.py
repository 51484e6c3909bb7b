"""pyhf model of the bump hunt in the signal region: fitted background plus a resonance template.

The background sample is the sideband-fit prediction in the SR bins
(:class:`~anomsearch.background.sideband_fit.BackgroundPrediction`), with one ``histosys`` modifier
per eigen-variation of the fit-parameter covariance (``bkg_fit_eig{i}``); to first order these
reproduce the full propagated bin-to-bin covariance. The signal sample is the resonance template
(:func:`gaussian_signal_template`, or any :class:`~anomsearch.stats.SignalShape`, e.g. a crystal
ball with a radiative tail) normalised to one over the SR bins, scaled by the normfactor ``mu`` --
so ``mu`` is the number of signal events in the SR bins.

References:
    ROOT/HistFactory, CERN-OPEN-2012-016; pyhf, JOSS 6 (2021) 2823;
    LHC Olympics 2020, arXiv:2101.08320.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from anomsearch.background.sideband_fit import BackgroundPrediction
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.signal_shape import GAUSSIAN

__all__ = ["build_bumphunt_spec", "gaussian_signal_template"]

log = logging.getLogger(__name__)


def gaussian_signal_template(bin_edges: np.ndarray, *, mass: float, width: float) -> np.ndarray:
    """Fraction of a Gaussian resonance in each bin, normalised to sum to one over the bins.

    Args:
        bin_edges: strictly increasing bin edges (TeV).
        mass: resonance mass (TeV).
        width: Gaussian width (TeV), e.g. the detector mjj resolution at ``mass``.

    Returns:
        Array of ``len(bin_edges) - 1`` fractions summing to 1.

    Raises:
        ConfigError: bad edges, ``width <= 0``, or a resonance with (numerically) no probability in
            the bins.

    Examples:
        >>> t = gaussian_signal_template(np.array([3.3, 3.4, 3.5, 3.6, 3.7]), mass=3.5, width=0.1)
        >>> t.round(3).tolist(), round(float(t.sum()), 12)
        ([0.142, 0.358, 0.358, 0.142], 1.0)
    """
    if not (np.isfinite(mass) and np.isfinite(width) and width > 0):
        raise ConfigError(f"signal mass must be finite and width > 0, got {mass=}, {width=}")
    if not mass > 0:
        raise ConfigError(f"signal mass must be a finite number > 0, got {mass!r}")
    return GAUSSIAN._replace(width=width / mass).template(bin_edges, mass)


def _checked_bumphunt_inputs(
    observed: np.ndarray, background: BackgroundPrediction, signal_template: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(observed, background nominal, signal template, variations)`` as checked float arrays."""
    obs = np.asarray(observed, dtype=float)
    nominal = np.asarray(background.expected, dtype=float)
    sig = np.asarray(signal_template, dtype=float)
    variations = np.asarray(background.variations, dtype=float)
    n_bins = nominal.size
    if nominal.ndim != 1 or n_bins == 0:
        raise DataFormatError("background.expected must be a non-empty 1-d array")
    if obs.shape != (n_bins,) or sig.shape != (n_bins,):
        raise DataFormatError(
            f"observed {obs.shape} and signal_template {sig.shape} must match the background "
            f"bins ({n_bins},)"
        )
    if variations.ndim != 3 or variations.shape[1:] != (2, n_bins):
        raise DataFormatError(
            f"background.variations must have shape (n_eigen, 2, {n_bins}), got {variations.shape}"
        )
    for name, arr in (("observed", obs), ("signal_template", sig), ("variations", variations)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise DataFormatError(f"{name} must be finite and non-negative")
    if not np.all(np.isfinite(nominal)) or np.any(nominal <= 0):
        raise DataFormatError("background.expected must be finite and positive in every bin")
    if not sig.sum() > 0:
        raise DataFormatError("signal_template must have a positive sum")
    return obs, nominal, sig, variations


def _histosys(name: str, down: np.ndarray, up: np.ndarray) -> dict[str, Any]:
    """A pyhf ``histosys`` modifier with the down and up templates."""
    return {
        "name": name,
        "type": "histosys",
        "data": {"hi_data": up.tolist(), "lo_data": down.tolist()},
    }


def _eigen_modifiers(
    variations: np.ndarray, nominal: np.ndarray, min_variation: float
) -> list[dict[str, Any]]:
    """One ``histosys`` ``bkg_fit_eig{i}`` per non-negligible eigen-variation."""
    modifiers: list[dict[str, Any]] = []
    for i, (down, up) in enumerate(variations):
        shift = np.max(np.abs(np.stack([up, down]) - nominal) / nominal)
        if shift < min_variation:
            log.debug(
                "skipping negligible background eigen-variation %d (max shift %.2g)", i, shift
            )
            continue
        modifiers.append(_histosys(f"bkg_fit_eig{i}", down, up))
    return modifiers


def _shape_modifiers(
    shape_systematics: Mapping[str, np.ndarray], n_bins: int
) -> list[dict[str, Any]]:
    """One ``histosys`` per named ``(2, n_bins)`` down / up background variation, checked."""
    modifiers: list[dict[str, Any]] = []
    for name, variation in shape_systematics.items():
        down, up = np.asarray(variation, dtype=float)
        if down.shape != (n_bins,) or up.shape != (n_bins,):
            raise DataFormatError(
                f"shape systematic {name!r} must have shape (2, {n_bins}), "
                f"got {np.shape(variation)}"
            )
        if not (np.all(np.isfinite(variation)) and np.all(np.asarray(variation) >= 0)):
            raise DataFormatError(f"shape systematic {name!r} must be finite and non-negative")
        modifiers.append(_histosys(name, down, up))
    return modifiers


def build_bumphunt_spec(
    *,
    observed: np.ndarray,
    background: BackgroundPrediction,
    signal_template: np.ndarray,
    channel: str = "SR",
    measurement: str = "bumphunt",
    mu_upper: float | None = None,
    min_variation: float = 1e-6,
    shape_systematics: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Build the pyhf workspace spec of the bump hunt in the SR bins.

    Args:
        observed: observed counts per SR bin.
        background: background prediction in the same bins, with eigen-variations.
        signal_template: signal fractions per bin (e.g. :func:`gaussian_signal_template`); ``mu``
            multiplies it, so with a template summing to one ``mu`` counts signal events.
        channel: channel name.
        measurement: measurement name.
        mu_upper: upper bound of ``mu``; default ``max(10, 5 * sum(observed))``.
        min_variation: eigen-variations whose largest relative shift of any bin is below this are
            skipped as negligible.
        shape_systematics: further background ``histosys`` modifiers by name, each an array of
            shape ``(2, n_bins)`` with the down and up predictions (e.g. the alternative dijet
            function of :func:`anomsearch.background.alternative_function_variation`).

    Returns:
        A pyhf workspace spec (dict): samples ``signal`` (normfactor ``mu``) and ``background``
        (``histosys`` ``bkg_fit_eig{i}``), POI ``mu`` with bounds ``[0, mu_upper]``.

    Raises:
        DataFormatError: shapes disagree, or negative / non-finite inputs.
        ConfigError: bad ``mu_upper`` or ``min_variation``.

    References:
        CERN-OPEN-2012-016 (HistFactory ``histosys``), arXiv:2101.08320.

    Examples:
        >>> from anomsearch.background.sideband_fit import BackgroundPrediction
        >>> bkg = BackgroundPrediction(np.array([3.3, 3.5, 3.7]), np.array([100.0, 80.0]),
        ...     np.diag([4.0, 3.0]), np.array([2.0, 1.7]),
        ...     np.array([[[98.0, 78.5], [102.0, 81.5]]]), np.array([1.0]))
        >>> spec = build_bumphunt_spec(observed=np.array([110.0, 85.0]), background=bkg,
        ...                            signal_template=np.array([0.5, 0.5]))
        >>> [m["name"] for m in spec["channels"][0]["samples"][1]["modifiers"]]
        ['bkg_fit_eig0']
    """
    obs, nominal, sig, variations = _checked_bumphunt_inputs(observed, background, signal_template)
    if not (np.isfinite(min_variation) and min_variation >= 0):
        raise ConfigError(f"min_variation must be >= 0, got {min_variation}")
    upper = max(10.0, 5.0 * float(obs.sum())) if mu_upper is None else float(mu_upper)
    if not (np.isfinite(upper) and upper > 0):
        raise ConfigError(f"mu_upper must be > 0, got {mu_upper}")
    modifiers = _eigen_modifiers(variations, nominal, min_variation)
    modifiers += _shape_modifiers(shape_systematics or {}, nominal.size)
    return {
        "version": "1.0.0",
        "channels": [
            {
                "name": channel,
                "samples": [
                    {
                        "name": "signal",
                        "data": sig.tolist(),
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": nominal.tolist(), "modifiers": modifiers},
                ],
            }
        ],
        "observations": [{"name": channel, "data": obs.tolist()}],
        "measurements": [
            {
                "name": measurement,
                "config": {
                    "poi": "mu",
                    "parameters": [{"name": "mu", "bounds": [[0.0, upper]], "inits": [1.0]}],
                },
            }
        ],
    }
