"""CLs upper limits on the number of signal events and on cross-section x efficiency.

The CLs limit on the signal strength ``mu`` (:func:`~anomsearch.stats.limits.upper_limit`) becomes a
limit on the number of signal events through the signal yield the model predicts at ``mu = 1``,
``N_up = mu_up * N_sig(mu = 1)``, and, with an integrated luminosity ``L``, a limit on the visible
cross-section ``(sigma x acceptance x efficiency)_up = N_up / L`` (in ``1 / [L]``, e.g. fb for
``L`` in fb^-1). The yield at ``mu = 1`` is either given or computed from the model as the
difference of the expected main-bin totals at ``mu = 1`` and ``mu = 0`` with every other parameter
at its nominal value -- for the bump-hunt and ABCD models of this package (signal template
normalised to one) it is 1, so ``mu`` already counts signal events.

**Known answers.** With no events observed and a negligible background the exact (toy) CLs
limit is the classical ``-ln(1 - cl)`` = 3.00 events at 95% CL, since ``CLs = e^{-s}``. The
asymptotic formulae of arXiv:1007.1727 that pyhf uses are not valid there: with ``n = 0`` the
statistic is ``qtilde = 2 s`` (above the Asimov ``q_A``) and ``CLs = Phi(-(q + q_A) / (2 sqrt q_A))
/ Phi(-(q - q_A) / (2 sqrt q_A))``, which tends to ``2 Phi(-sqrt(2 s))`` for ``b -> 0`` and puts the
limit at ``Phi^-1(1 - (1 - cl) / 2)^2 / 2 = 1.92`` events -- pinned in the tests; use
``calculator="toys"`` for small counts.

References:
    A. L. Read, "Presentation of search results: the CLs technique", J. Phys. G 28 (2002) 2693;
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, arXiv:1007.1727 (eqs. 65-66);
    L. Heinrich, M. Feickert, G. Stark, K. Cranmer, pyhf, JOSS 6 (2021) 2823;
    Particle Data Group, "Statistics" review (Poisson upper limits for n = 0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pyhf

from anomsearch.exceptions import ConfigError
from anomsearch.stats.inference import _model_and_data, _scipy_backend, load_workspace
from anomsearch.stats.limits import UpperLimit, upper_limit

__all__ = ["SignalCountLimit", "signal_count_upper_limit", "signal_yield_at_mu1"]

log = logging.getLogger(__name__)


class SignalCountLimit(NamedTuple):
    """Result of :func:`signal_count_upper_limit`.

    Attributes:
        observed_events: observed upper limit on the number of signal events.
        expected_events: expected limits at the ``-2, -1, 0, +1, +2`` sigma quantiles of the
            background-only hypothesis (index 2 the median), NaN where undetermined.
        observed_xsec: observed limit on cross-section x acceptance x efficiency,
            ``observed_events / luminosity`` (NaN without a luminosity).
        expected_xsec: the expected band of the same (NaN without a luminosity).
        signal_events_at_mu1: signal events for ``mu = 1`` used for the conversion.
        luminosity: integrated luminosity (NaN when not given).
        mu_limit: the underlying CLs limit on ``mu`` (scan and CLs values included).
    """

    observed_events: float
    expected_events: np.ndarray
    observed_xsec: float
    expected_xsec: np.ndarray
    signal_events_at_mu1: float
    luminosity: float
    mu_limit: UpperLimit


def signal_yield_at_mu1(
    workspace: Mapping[str, Any] | pyhf.Workspace, *, measurement: str | None = None
) -> float:
    """Signal events the model predicts at ``mu = 1`` (all other parameters nominal).

    Computed as the total expected main-bin count at ``mu = 1`` minus that at ``mu = 0``.

    Args:
        workspace: pyhf spec (dict) or :class:`pyhf.Workspace`.
        measurement: measurement name; default: the first.

    Returns:
        The signal yield (> 0).

    Raises:
        ConfigError: invalid spec, or a model without a positive signal yield.

    Examples:
        >>> from anomsearch.stats.inference import counting_experiment_spec
        >>> signal_yield_at_mu1(counting_experiment_spec(12.5, 100.0))
        12.5
    """
    ws = load_workspace(workspace)
    model, _ = _model_and_data(ws, None, measurement)
    poi = model.config.poi_index
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    at1, at0 = pars.copy(), pars.copy()
    at1[poi], at0[poi] = 1.0, 0.0
    with _scipy_backend():  # NumPy backend, restored afterwards
        total1 = float(np.sum(model.expected_actualdata(at1)))
        total0 = float(np.sum(model.expected_actualdata(at0)))
    yield_ = total1 - total0
    if not (math.isfinite(yield_) and yield_ > 0):
        raise ConfigError(f"the model predicts no positive signal yield at mu = 1 (got {yield_:g})")
    return yield_


def signal_count_upper_limit(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    *,
    signal_events_at_mu1: float | None = None,
    luminosity: float | None = None,
    cl: float = 0.95,
    data: Sequence[float] | np.ndarray | None = None,
    measurement: str | None = None,
    scan: Sequence[float] | np.ndarray | None = None,
    calculator: Literal["asymptotics", "toys"] = "asymptotics",
    n_toys: int = 1000,
    seed: int | None = None,
) -> SignalCountLimit:
    """CLs upper limit on the number of signal events (and on sigma x efficiency), with bands.

    Args:
        workspace: pyhf spec (dict) or :class:`pyhf.Workspace` (POI lower bound 0).
        signal_events_at_mu1: signal events at ``mu = 1`` (after selection, i.e. the yield the
            signal sample of the model stands for); ``None``: computed from the model with
            :func:`signal_yield_at_mu1`.
        luminosity: integrated luminosity for the cross-section limit (> 0), e.g. in fb^-1
            (the limit is then in fb); ``None``: no cross-section limit (NaN).
        cl: confidence level.
        data: main-bin or full data (see :func:`~anomsearch.stats.limits.upper_limit`).
        measurement: measurement name; default: the first.
        scan: explicit POI scan (see :func:`~anomsearch.stats.limits.upper_limit`).
        calculator: ``"asymptotics"`` or ``"toys"`` (exact for small counts).
        n_toys: toys per hypothesis and scan point (toys only).
        seed: seed of the toys (toys only).

    Returns:
        The :class:`SignalCountLimit`.

    Raises:
        ConfigError: bad ``signal_events_at_mu1`` or ``luminosity`` (named as
            ``signal_count_upper_limit.<option>``), or any error of
            :func:`~anomsearch.stats.limits.upper_limit`.
        DataFormatError: bad ``data``.
        FitError: a fit failed.

    References:
        Read, J. Phys. G 28 (2002) 2693; arXiv:1007.1727; pyhf, JOSS 6 (2021) 2823.

    Examples:
        >>> from anomsearch.stats.inference import counting_experiment_spec
        >>> spec = counting_experiment_spec(1.0, 100.0, observed=100.0, mu_upper=100.0)
        >>> lim = signal_count_upper_limit(spec, signal_events_at_mu1=1.0, luminosity=10.0)
        >>> round(lim.observed_events, 1), round(lim.observed_xsec, 2)
        (20.9, 2.09)
    """
    ws = load_workspace(workspace)
    if signal_events_at_mu1 is None:
        n_sig = signal_yield_at_mu1(ws, measurement=measurement)
    else:
        n_sig = _positive(signal_events_at_mu1, "signal_events_at_mu1")
    lumi = math.nan if luminosity is None else _positive(luminosity, "luminosity")
    mu_limit = upper_limit(
        ws,
        data=data,
        measurement=measurement,
        cl=cl,
        scan=scan,
        calculator=calculator,
        n_toys=n_toys,
        seed=seed,
    )
    observed = float(mu_limit.observed) * n_sig
    expected = np.asarray(mu_limit.expected, dtype=float) * n_sig
    result = SignalCountLimit(
        observed_events=observed,
        expected_events=expected,
        observed_xsec=observed / lumi,
        expected_xsec=expected / lumi,
        signal_events_at_mu1=n_sig,
        luminosity=lumi,
        mu_limit=mu_limit,
    )
    log.info(
        "%.0f%% CL upper limit on signal events: observed %.4g, expected %.4g (N_sig(mu=1) = %.4g)",
        100 * mu_limit.cl,
        observed,
        expected[2],
        n_sig,
    )
    return result


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"signal_count_upper_limit.{name} must be a number > 0, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"signal_count_upper_limit.{name} must be a number > 0, got {value!r}"
        ) from exc
    if not (math.isfinite(v) and v > 0):
        raise ConfigError(f"signal_count_upper_limit.{name} must be finite and > 0, got {value!r}")
    return v
