"""Our BumpHunter against the reference implementation ``pyBumpHunter`` (installed with ``dev``).

The same histograms must give the same most significant window, local p-value and test
statistic, and the background-only pseudo-experiment distributions of the test statistic must
agree (two-sample KS test), since both throw Poisson pseudo-data around the expectation.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from scipy.stats import ks_2samp

from anomsearch.background.bumphunter import bumphunter_global_pvalue, bumphunter_statistic

pbh = pytest.importorskip("pyBumpHunter")

EDGES = np.linspace(0.0, 1.0, 41)
EXPECTED = 1000.0 * np.exp(-4.0 * EDGES[:-1]) + 5.0
MAX_WIDTH = 20


def _reference_scan(observed: np.ndarray, *, npe: int, seed: int) -> object:
    hunter = pbh.BumpHunter1D(
        rang=(0.0, 1.0),
        width_min=1,
        width_max=MAX_WIDTH,
        width_step=1,
        scan_step=1,
        npe=npe,
        bins=EDGES,
        nworker=1,
        seed=seed,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        hunter.bump_scan(observed, EXPECTED, is_hist=True, do_pseudo=npe > 0)
    return hunter


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("bump", [0.0, 25.0])
def test_same_window_pvalue_and_statistic(seed: int, bump: float) -> None:
    rng = np.random.default_rng(seed)
    observed = rng.poisson(EXPECTED).astype(float)
    observed[18 + seed : 21 + seed] += bump * np.array([0.7, 1.0, 0.7])
    ours = bumphunter_statistic(observed, EXPECTED, min_width=1, max_width=MAX_WIDTH)
    ref = _reference_scan(observed, npe=0, seed=seed)
    assert ours.pvalue == pytest.approx(float(ref.min_Pval_ar[0]), rel=1e-9)
    assert ours.t == pytest.approx(float(ref.t_ar[0]), rel=1e-9)
    if ours.pvalue < 1.0:  # with no excess anywhere the window is a matter of convention
        assert ours.lo == int(ref.min_loc_ar[0])
        assert ours.hi - ours.lo == int(ref.min_width_ar[0])


def test_background_only_statistic_distributions_agree() -> None:
    observed = np.random.default_rng(11).poisson(EXPECTED).astype(float)
    ours = bumphunter_global_pvalue(
        observed, EXPECTED, n_pseudo=400, seed=5, min_width=1, max_width=MAX_WIDTH
    )
    ref = _reference_scan(observed, npe=400, seed=6)
    ref_pseudo = np.asarray(ref.t_ar[1:], dtype=float)
    assert ref_pseudo.size == 400
    assert ks_2samp(ours.pseudo_t, ref_pseudo).pvalue > 1e-3
    # and the global p-values of the observed spectrum agree within their toy errors
    ref_global = float(ref.global_Pval)
    error = np.hypot(ours.global_pvalue_error, np.sqrt(ref_global * (1 - ref_global) / 400))
    assert abs(ours.global_pvalue - ref_global) < 4 * error + 1e-9
