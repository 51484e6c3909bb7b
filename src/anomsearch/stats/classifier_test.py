"""Semi-supervised classifier tests: is the data distribution different from the background's?

A classifier ``h`` is trained to tell *experimental* events (label 1; a mixture
``(1 - lambda) p_b + lambda p_s`` with an unknown signal fraction ``lambda``) from *background*
events (label 0; a sample of ``p_b``, e.g. simulation or a validated background template). On
held-out events of both samples, a test statistic compares the classifier outputs; because the
classifier is fixed, the outputs of held-out events are exchangeable under the null hypothesis
``lambda = 0`` and the permutation distribution of the statistic is exact (no asymptotics). The
statistics implemented are

* ``"lrt"``: the mean estimated log likelihood ratio over the experimental test events minus the
  same over the background test events, with ``psi(x) = h / (1 - h) * prior_ratio`` the
  classifier's estimate of ``p_E / p_b`` (the likelihood-ratio test of the paper);
* ``"auc"``: the area under the ROC curve of experimental vs background test events (the
  Mann-Whitney statistic); ``0.5`` under the null;
* ``"mce"``: the balanced accuracy of the cut ``h > 0.5`` (one minus the balanced
  misclassification error); ``0.5`` under the null.

and, for interpretation, a lower confidence bound on ``lambda``: for any selection ``A``,
``P_E(A) = (1 - lambda) P_b(A) + lambda P_s(A) <= (1 - lambda) P_b(A) + lambda``, hence
``lambda >= (P_E(A) - P_b(A)) / (1 - P_b(A))``, tight when the selection keeps all the signal.
The selections are upper cuts on the classifier output.

References:
    P. Chakravarti, M. Kuusela, J. Lei, L. Wasserman, "Model-Independent Detection of New Physics
    Signals Using Interpretable Semi-Supervised Classifier Tests", arXiv:2102.07679 (IML
    workshop 2020); J. Friedman, "On multivariate goodness-of-fit and two-sample testing",
    PHYSTAT 2003 (classifier two-sample tests).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import special, stats

from anomsearch.exceptions import ConfigError, DataFormatError

__all__ = [
    "CLASSIFIER_TEST_STATISTICS",
    "ClassifierTestResult",
    "SignalFractionBound",
    "classifier_test",
    "signal_fraction_lower_bound",
]

log = logging.getLogger(__name__)

#: The test statistics :func:`classifier_test` computes.
CLASSIFIER_TEST_STATISTICS: tuple[str, ...] = ("lrt", "auc", "mce")

#: Permuted samples processed per vectorised block.
_BLOCK = 64


class ClassifierTestResult(NamedTuple):
    """Result of :func:`classifier_test`.

    Attributes:
        statistic: name of the test statistic.
        observed: its value on the actual split into experimental and background events.
        p_value: permutation p-value ``(1 + #{T_perm >= T_obs}) / (1 + n_permutations)``.
        significance: the one-sided Gaussian equivalent ``Z = Phi^-1(1 - p)`` (``0`` when
            ``p >= 0.5``).
        null_mean: mean of the permutation distribution.
        null_std: its standard deviation.
        n_permutations: number of permutations.
    """

    statistic: str
    observed: float
    p_value: float
    significance: float
    null_mean: float
    null_std: float
    n_permutations: int


class SignalFractionBound(NamedTuple):
    """Result of :func:`signal_fraction_lower_bound`.

    Attributes:
        estimate: the largest point estimate ``(P_E(A) - P_b(A)) / (1 - P_b(A))`` over the cuts
            (clipped to ``[0, 1]``); biased high by the maximum over cuts on small samples.
        lower_bound: a lower confidence bound on ``lambda`` at ``confidence``, valid
            simultaneously for all cuts (Bonferroni over the cuts tried).
        threshold: the classifier-output cut giving ``lower_bound``.
        confidence: the confidence level.
    """

    estimate: float
    lower_bound: float
    threshold: float
    confidence: float


def _outputs(name: str, values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2:
        raise DataFormatError(f"{name} must be a 1-d array of at least 2 classifier outputs")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise DataFormatError(f"{name} must be classifier outputs in [0, 1] (finite)")
    return arr


def _per_event_values(pooled: np.ndarray, statistic: str, prior_ratio: float) -> np.ndarray:
    """The statistic is ``mean_E g - mean_B g`` (or rank based) of these per-event values."""
    if statistic == "lrt":
        h = np.clip(pooled, 1e-12, 1 - 1e-12)
        return special.logit(h) + math.log(prior_ratio)
    if statistic == "auc":
        return stats.rankdata(pooled)
    return (pooled > 0.5).astype(np.float64)


def _statistic_from_sums(
    sum_e: np.ndarray, total: float, n_e: int, n_b: int, statistic: str
) -> np.ndarray:
    if statistic == "auc":  # Mann-Whitney U / (n_E n_B), ties counted 1/2 by mid-ranks
        return (sum_e - n_e * (n_e + 1) / 2.0) / (n_e * n_b)
    mean_e = sum_e / n_e
    mean_b = (total - sum_e) / n_b
    if statistic == "mce":  # balanced accuracy = (TPR + TNR) / 2 = (1 + TPR - FPR) / 2
        return 0.5 * (1.0 + mean_e - mean_b)
    return mean_e - mean_b


def classifier_test(
    data_outputs: np.ndarray,
    background_outputs: np.ndarray,
    *,
    statistic: str = "lrt",
    n_permutations: int = 1000,
    prior_ratio: float = 1.0,
    seed: int,
) -> ClassifierTestResult:
    """Permutation test of "data = background" from held-out classifier outputs.

    Args:
        data_outputs: classifier outputs ``h`` in ``[0, 1]`` of held-out experimental events.
        background_outputs: the same for held-out background events.
        statistic: one of :data:`CLASSIFIER_TEST_STATISTICS`.
        n_permutations: number of random relabellings for the null distribution.
        prior_ratio: ``n_B / n_E`` of the *training* classes as the classifier saw them (``1``
            for class-balanced training, as :func:`~anomsearch.methods.nn.train_classifier`
            does); shifts ``log psi`` by a constant and matters only for the ``"lrt"`` scale.
        seed: seed of the permutations.

    Returns:
        :class:`ClassifierTestResult`; large statistics mean "data differ from background".

    Raises:
        DataFormatError: outputs not 1-d, fewer than 2, or outside ``[0, 1]``.
        ConfigError: unknown ``statistic``, ``n_permutations < 1`` or ``prior_ratio <= 0``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> same = classifier_test(rng.random(500), rng.random(500), statistic="auc", seed=1)
        >>> bool(same.p_value > 0.01)
        True
        >>> shifted = classifier_test(rng.random(500) ** 0.7, rng.random(500), seed=1)
        >>> bool(shifted.p_value < 1e-2)
        True

    References:
        arXiv:2102.07679.
    """
    if statistic not in CLASSIFIER_TEST_STATISTICS:
        raise ConfigError(
            f"stats.classifier_test.statistic: unknown {statistic!r}; choose one of "
            + ", ".join(CLASSIFIER_TEST_STATISTICS)
        )
    if int(n_permutations) < 1:
        raise ConfigError(f"n_permutations must be >= 1, got {n_permutations!r}")
    if not (math.isfinite(prior_ratio) and prior_ratio > 0):
        raise ConfigError(f"prior_ratio must be > 0, got {prior_ratio!r}")
    e = _outputs("data_outputs", data_outputs)
    b = _outputs("background_outputs", background_outputs)
    n_e, n_b = e.size, b.size
    g = _per_event_values(np.concatenate([e, b]), statistic, prior_ratio)
    total = float(g.sum())
    observed = float(_statistic_from_sums(np.array([g[:n_e].sum()]), total, n_e, n_b, statistic)[0])
    rng = np.random.default_rng(seed)
    n = g.size
    null = np.empty(int(n_permutations))
    for start in range(0, null.size, _BLOCK):
        stop = min(start + _BLOCK, null.size)
        # the first n_E positions of an independent random permutation per row
        picks = np.argsort(rng.random((stop - start, n)), axis=1)[:, :n_e]
        null[start:stop] = _statistic_from_sums(g[picks].sum(axis=1), total, n_e, n_b, statistic)
    p_value = float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))
    z = float(max(0.0, stats.norm.isf(p_value)))
    log.info(
        "classifier test (%s): T = %.5g, null %.5g +- %.2g, p = %.3g (%d permutations)",
        statistic,
        observed,
        null.mean(),
        null.std(),
        p_value,
        null.size,
    )
    return ClassifierTestResult(
        statistic, observed, p_value, z, float(null.mean()), float(null.std()), null.size
    )


def signal_fraction_lower_bound(
    data_outputs: np.ndarray,
    background_outputs: np.ndarray,
    *,
    quantiles: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99),
    confidence: float = 0.95,
) -> SignalFractionBound:
    """Lower confidence bound on the signal fraction of the data from held-out classifier outputs.

    For each cut ``h > c`` (``c`` at the given quantiles of the background outputs) the mixture
    model gives ``lambda >= (P_E - P_b) / (1 - P_b)``; ``P_E`` and ``P_b`` are estimated by the
    fractions of held-out experimental and background events passing the cut, and their
    binomial standard errors give a one-sided bound at ``confidence``, Bonferroni-corrected for
    the number of cuts so the bound holds for the best cut too.

    Args:
        data_outputs: classifier outputs of held-out experimental events.
        background_outputs: classifier outputs of held-out background events.
        quantiles: background-output quantiles that define the cuts.
        confidence: confidence level of the lower bound.

    Returns:
        :class:`SignalFractionBound`.

    Raises:
        DataFormatError: malformed outputs.
        ConfigError: quantiles outside ``(0, 1)`` or confidence outside ``(0, 1)``.

    Examples:
        >>> rng = np.random.default_rng(3)
        >>> bkg = rng.random(20_000) * 0.8
        >>> data = np.concatenate([rng.random(18_000) * 0.8, np.full(2_000, 0.99)])
        >>> bound = signal_fraction_lower_bound(data, bkg)
        >>> bool(0.1 <= bound.estimate < 0.12), bool(0.08 < bound.lower_bound < 0.1)
        (True, True)

    References:
        arXiv:2102.07679 (signal-strength estimate from a semi-supervised classifier).
    """
    e = _outputs("data_outputs", data_outputs)
    b = _outputs("background_outputs", background_outputs)
    qs = np.asarray(quantiles, dtype=np.float64)
    if qs.ndim != 1 or qs.size == 0 or np.any((qs <= 0) | (qs >= 1)):
        raise ConfigError(f"quantiles must be values in (0, 1), got {list(quantiles)!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    z = float(stats.norm.isf((1.0 - confidence) / qs.size))
    best = SignalFractionBound(0.0, 0.0, float(np.quantile(b, qs[0])), float(confidence))
    best_estimate = 0.0
    for c in np.quantile(b, qs):
        p_e, p_b = float(np.mean(e > c)), float(np.mean(b > c))
        if p_b >= 1.0:
            continue
        estimate = (p_e - p_b) / (1.0 - p_b)
        sigma = math.sqrt(p_e * (1 - p_e) / e.size + p_b * (1 - p_b) / b.size) / (1.0 - p_b)
        lower = max(0.0, estimate - z * sigma)
        best_estimate = max(best_estimate, estimate)
        if lower > best.lower_bound:
            best = SignalFractionBound(0.0, lower, float(c), float(confidence))
    return best._replace(estimate=float(min(1.0, max(0.0, best_estimate))))
