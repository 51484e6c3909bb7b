r"""pyhf model of the ABCD background estimate: four single-bin channels with shared normfactors.

Regions as in :mod:`anomsearch.background.abcd` (A the signal region, B and C the single-cut
control regions, D the double control region). The background sample in each channel is a
nominal yield times shared free normfactors,

====== ============================================== ======================
region background                                     signal
====== ============================================== ======================
A      ``n_A * mu_b * tau_B * tau_C`` (+ non-closure) ``mu * s``
B      ``n_B * mu_b * tau_B``                         ``mu * s * f_B / f_A``
C      ``n_C * mu_b * tau_C``                         ``mu * s * f_C / f_A``
D      ``n_D * mu_b``                                 ``mu * s * f_D / f_A``
====== ============================================== ======================

with ``n_A = n_B n_C / n_D``, so the background obeys ``b_A b_D = b_B b_C`` for every value of the
normfactors: the ABCD relation is built into the model, and ``mu_b``, ``tau_B``, ``tau_C`` are the
three background degrees of freedom.

**Conditioning.** The nominal yields are taken from the data themselves, ``n_X = max(N_X, 1)``
for X = B, C, D (the floor keeps every expectation positive when a region is empty). The best-fit
normfactors of the unconditional fit without contamination are then exactly 1 (or at the lower
bound for an empty region), they stay within a few errors of 1 in the ``mu = 0`` fit, and their
errors are the relative Poisson errors ``~ 1/sqrt(N)``: all free parameters are
of order one, MIGRAD starts at the minimum of the control regions, and HESSE needs no rescaling.
(Normfactors multiplying a nominal yield of 1, the textbook form, would range over 1 to 10^6 with
errors differing by orders of magnitude, which MINUIT's numerical derivatives handle badly.) The
normfactors are bounded to ``[1e-9, norm_upper]`` with ``norm_upper = 10 + 20 / sqrt(min n)``,
room for any plausible fluctuation of pseudo-data around the observed counts.

**POI.** ``mu`` multiplies a signal sample of ``signal_yield`` events in region A. With the
default ``signal_yield = 1`` the POI *is the number of signal events in region A* (the quantity an
ABCD search reports; the total over the four regions is ``mu / f_A``); with ``signal_yield`` set to
a model's expected yield in A, ``mu`` is the signal strength. Signal leaks into B, C, D with the
fractions ``f_X / f_A`` relative to A (``signal_fractions = (f_A, f_B, f_C, f_D)``, the convention
of :func:`~anomsearch.background.abcd.abcd_estimate`; default no contamination).

**Non-closure.** A relative ABCD non-closure ``delta`` (e.g. ``abcd_closure(...).non_closure``)
is a ``normsys`` modifier ``abcd_non_closure`` on the background in A (factor ``1 +- delta`` at
``alpha = +-1``, Gaussian-constrained).

**Known answers.** Without contamination and non-closure the model has four free parameters for
four counts, so the unconditional fit reproduces the data: ``mu_hat = N_A - N_B N_C / N_D``. Under
``mu = 0`` the expectations obey the independence constraint of a 2 x 2 table, whose Poisson MLE is
``lambda_X = (row total)(column total) / N``, so ``q0`` is the G statistic of independence
``2 sum_X N_X ln(N_X / lambda_X)`` (for ``mu_hat > 0``). With contamination the unconditional fit
still reproduces the data and gives the contamination-corrected estimate of
:func:`~anomsearch.background.abcd.abcd_estimate` (``mu_hat = f_A S``), while ``q0`` does not
change.

The counts are modelled as Poisson; for weighted counts (``var != count``) this is an
approximation (logged).

References:
    ABCD with decorrelated classifiers: G. Kasieczka, B. Nachman, M. D. Schwartz, D. Shih,
    arXiv:2007.14400; signal contamination: S. Choi, H. Oh, arXiv:2008.04958; ROOT/HistFactory,
    CERN-OPEN-2012-016; pyhf, JOSS 6 (2021) 2823; G. Cowan, K. Cranmer, E. Gross, O. Vitells,
    arXiv:1007.1727.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from anomsearch.background.abcd import ABCDClosure, ABCDCounts, as_abcd_counts
from anomsearch.exceptions import ConfigError, DataFormatError
from anomsearch.stats.systematics import Systematic, add_common_systematics

__all__ = [
    "ABCD_BACKGROUND_PARAMETERS",
    "ABCD_CHANNELS",
    "NON_CLOSURE_PARAMETER",
    "build_abcd_spec",
]

log = logging.getLogger(__name__)

ABCD_CHANNELS: tuple[str, str, str, str] = ("A", "B", "C", "D")
"""Channel names of the ABCD spec, in the order of the counts."""
ABCD_BACKGROUND_PARAMETERS: tuple[str, str, str] = ("mu_b", "tau_B", "tau_C")
"""Names of the shared background normfactors."""
NON_CLOSURE_PARAMETER = "abcd_non_closure"
"""Name of the non-closure ``normsys`` nuisance parameter on the background in A."""

_NORM_LOWER = 1e-9


def _signal_shape(signal_fractions: Sequence[float] | None) -> np.ndarray:
    """Signal in (A, B, C, D) relative to A, from ``(f_A, f_B, f_C, f_D)``."""
    if signal_fractions is None:
        return np.array([1.0, 0.0, 0.0, 0.0])
    f = np.asarray(signal_fractions, dtype=float)
    if f.shape != (4,):
        raise DataFormatError(
            f"signal_fractions must have 4 entries (f_A, f_B, f_C, f_D), got shape {f.shape}"
        )
    if not np.all(np.isfinite(f)) or np.any(f < 0) or np.any(f > 1):
        raise ConfigError(f"signal_fractions must lie in [0, 1], got {f.tolist()}")
    if f.sum() > 1 + 1e-9:
        raise ConfigError(f"signal_fractions must sum to at most 1, got {f.sum():.6g}")
    if f[0] <= 0:
        raise ConfigError("signal_fractions: the fraction in region A (f_A) must be > 0")
    return f / f[0]


def _non_closure_size(non_closure: float | ABCDClosure) -> float:
    value = non_closure.non_closure if isinstance(non_closure, ABCDClosure) else non_closure
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ConfigError(f"non_closure must be a number or an ABCDClosure, got {value!r}")
    delta = float(value)
    if not (math.isfinite(delta) and 0.0 <= delta < 1.0):
        raise ConfigError(f"non_closure must be a relative size in [0, 1), got {delta}")
    return delta


def _abcd_channels(
    background: list[float], signal_a: float, shape: np.ndarray, delta: float
) -> list[dict[str, Any]]:
    """The single-bin channels A, B, C, D: signal ``signal_a * shape``, background, modifiers."""
    factors = {
        "A": ("mu_b", "tau_B", "tau_C"),
        "B": ("mu_b", "tau_B"),
        "C": ("mu_b", "tau_C"),
        "D": ("mu_b",),
    }
    channels: list[dict[str, Any]] = []
    for i, region in enumerate(ABCD_CHANNELS):
        bkg_mods: list[dict[str, Any]] = [
            {"name": name, "type": "normfactor", "data": None} for name in factors[region]
        ]
        if region == "A" and delta > 0:
            bkg_mods.append(
                {
                    "name": NON_CLOSURE_PARAMETER,
                    "type": "normsys",
                    "data": {"hi": 1.0 + delta, "lo": 1.0 - delta},
                }
            )
        channels.append(
            {
                "name": region,
                "samples": [
                    {
                        "name": "signal",
                        "data": [signal_a * float(shape[i])],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [background[i]], "modifiers": bkg_mods},
                ],
            }
        )
    return channels


def build_abcd_spec(
    counts: ABCDCounts | Sequence[float],
    *,
    signal_fractions: Sequence[float] | None = None,
    signal_yield: float = 1.0,
    non_closure: float | ABCDClosure = 0.0,
    systematics: Sequence[Systematic] | None = None,
    measurement: str = "abcd",
    mu_upper: float | None = None,
) -> dict[str, Any]:
    """Build the pyhf workspace spec of an ABCD background estimate with signal.

    See the module docstring for the model, the parametrisation and the choice of POI.

    Args:
        counts: an :class:`~anomsearch.background.abcd.ABCDCounts` or ``(N_A, N_B, N_C, N_D)``.
        signal_fractions: expected signal fractions ``(f_A, f_B, f_C, f_D)`` (as in
            :func:`~anomsearch.background.abcd.abcd_estimate`); signal in B, C, D is
            ``f_X / f_A`` times the signal in A. ``None``: signal in A only.
        signal_yield: signal events in A at ``mu = 1`` (``1``: ``mu`` counts signal events in A).
        non_closure: relative ABCD non-closure (``normsys`` on the background in A), a number in
            ``[0, 1)`` or an :class:`~anomsearch.background.abcd.ABCDClosure`; 0 for none.
        systematics: further normalisation systematics
            (:func:`~anomsearch.stats.systematics.add_common_systematics`).
        measurement: measurement name.
        mu_upper: upper bound of ``mu``; default ``max(10, 5 sum(N)) / signal_yield``.

    Returns:
        A pyhf workspace spec (dict) with channels ``A``, ``B``, ``C``, ``D``, samples ``signal``
        and ``background``, POI ``mu`` (bounds ``[0, mu_upper]``, init 1) and free normfactors
        ``mu_b``, ``tau_B``, ``tau_C`` (init 1).

    Raises:
        DataFormatError: negative / non-finite counts, empty region D, or ``signal_fractions`` not
            of length 4.
        ConfigError: invalid ``signal_fractions``, ``signal_yield``, ``non_closure``,
            ``mu_upper`` or systematics.

    References:
        arXiv:2007.14400, arXiv:2008.04958, CERN-OPEN-2012-016.

    Examples:
        >>> spec = build_abcd_spec((130.0, 200.0, 300.0, 600.0), non_closure=0.1)
        >>> [ch["samples"][1]["data"][0] for ch in spec["channels"]]
        [100.0, 200.0, 300.0, 600.0]
        >>> [m["name"] for m in spec["channels"][0]["samples"][1]["modifiers"]]
        ['mu_b', 'tau_B', 'tau_C', 'abcd_non_closure']
    """
    c = as_abcd_counts(counts)
    obs = np.array([c.a, c.b, c.c, c.d], dtype=float)
    var = np.array([c.var_a, c.var_b, c.var_c, c.var_d], dtype=float)
    if not np.allclose(var, obs, rtol=1e-2, atol=1e-9):
        log.info(
            "ABCD counts are weighted (variance != count); the pyhf model treats them as Poisson"
        )
    shape = _signal_shape(signal_fractions)
    s_a = float(signal_yield)
    if not (math.isfinite(s_a) and s_a > 0):
        raise ConfigError(f"signal_yield must be finite and > 0, got {signal_yield}")
    delta = _non_closure_size(non_closure)
    upper = max(10.0, 5.0 * float(obs.sum())) / s_a if mu_upper is None else float(mu_upper)
    if not (math.isfinite(upper) and upper > 0):
        raise ConfigError(f"mu_upper must be finite and > 0, got {mu_upper}")

    n_b, n_c, n_d = (max(float(v), 1.0) for v in obs[1:])
    nominal = [n_b * n_c / n_d, n_b, n_c, n_d]
    norm_upper = 10.0 + 20.0 / math.sqrt(min(nominal[1:]))
    channels = _abcd_channels(nominal, s_a, shape, delta)
    parameters: list[dict[str, Any]] = [{"name": "mu", "bounds": [[0.0, upper]], "inits": [1.0]}]
    parameters += [
        {"name": name, "bounds": [[_NORM_LOWER, norm_upper]], "inits": [1.0]}
        for name in ABCD_BACKGROUND_PARAMETERS
    ]
    spec: dict[str, Any] = {
        "version": "1.0.0",
        "channels": channels,
        "observations": [
            {"name": region, "data": [float(obs[i])]} for i, region in enumerate(ABCD_CHANNELS)
        ],
        "measurements": [{"name": measurement, "config": {"poi": "mu", "parameters": parameters}}],
    }
    if systematics:
        spec = add_common_systematics(spec, systematics)
    log.debug(
        "ABCD spec: counts %s, signal shape %s, non-closure %.3g, %d extra systematics",
        obs.tolist(),
        shape.tolist(),
        delta,
        len(systematics or ()),
    )
    return spec
