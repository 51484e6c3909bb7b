"""Daughter masses against the mjj-interpolated sideband template, with systematic errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anomsearch.answer.daughter_masses import estimate_daughter_masses
from anomsearch.answer.daughter_systematics import (
    JET_MASS_SCALE_UNCERTAINTY,
    NO_JET_MASS_RESPONSE,
    PYTHIA_JET_MASS_RESPONSE,
    JetMassResponse,
    daughter_masses_with_systematics,
)
from anomsearch.exceptions import ConfigError

SR, SB = (3.3, 3.7), (2.9, 4.1)
BINS = np.linspace(0.0, 0.8, 81)


def _selected(
    seed: int,
    *,
    mass_slope: float,
    n_signal: int = 600,
    response: JetMassResponse = NO_JET_MASS_RESPONSE,
):
    """Falling mjj background whose jet masses grow with mjj, plus a resonance with daughters
    at 0.1 and 0.5 TeV whose jet masses peak where ``response`` puts them; per-event scores
    higher for the signal."""
    rng = np.random.default_rng(seed)
    n_bkg = 30_000
    mjj_b = SB[0] + rng.exponential(0.4, 3 * n_bkg)
    mjj_b = mjj_b[mjj_b < SB[1]][:n_bkg]
    scale = 1.0 + mass_slope * (mjj_b - 3.5)
    jets_b = np.sort(rng.gamma(2.0, 0.08, size=(mjj_b.size, 2)), axis=1) * scale[:, None]
    mjj_s = rng.normal(3.5, 0.1, n_signal)
    peaks = [math.sqrt((response.scale * m) ** 2 + response.offset) for m in (0.1, 0.5)]
    jets_s = np.column_stack(
        [rng.normal(peaks[0], 0.01, n_signal), rng.normal(peaks[1], 0.025, n_signal)]
    )
    mjj = np.r_[mjj_b, mjj_s]
    jets = np.vstack([jets_b, jets_s])
    scores = np.r_[rng.uniform(0, 1, mjj_b.size), rng.uniform(0.3, 1, n_signal)]
    folds = rng.integers(0, 5, mjj.size)
    in_sr = (mjj_b >= SR[0]) & (mjj_b < SR[1])
    return mjj, jets, scores, folds, float(in_sr.sum())


def test_interpolated_template_removes_the_mass_bias_of_a_falling_spectrum() -> None:
    """Jet masses growing 60% per TeV of mjj: the unweighted (lower-sideband dominated) template
    is too light and pulls the light daughter up by ~10 sigma (the Gaussian peak; ~2-3 sigma
    with the exponential tails, which absorb part of it), the interpolated one is right, also
    with the Pythia chain's jet-mass response corrected for."""
    mjj, jets, _, _, n_bkg = _selected(4, mass_slope=0.6)
    in_sr = (mjj >= SR[0]) & (mjj < SR[1])
    in_sb = (mjj >= SB[0]) & (mjj < SB[1]) & ~in_sr
    unweighted = estimate_daughter_masses(
        jets[in_sr], jets[in_sb], n_background_sr=n_bkg, bins=BINS, peak_shape="gaussian"
    )
    assert unweighted[0].value > 0.12  # the light daughter sits in the QCD bulk: pulled up
    mjj, jets, scores, folds, n_bkg = _selected(
        4, mass_slope=0.6, response=PYTHIA_JET_MASS_RESPONSE
    )
    daughters, errors = daughter_masses_with_systematics(
        mjj,
        jets,
        signal_region=SR,
        sidebands=SB,
        n_background_sr=n_bkg,
        n_background_sr_error=0.0,
        bins=BINS,
        scores=scores,
        folds=folds,
    )
    truth = (0.1, 0.5)
    for d, e, t in zip(daughters, errors, truth, strict=True):
        assert abs(d.value - t) < 2.5 * d.error  # the particle's mass, not the jet's peak
        assert d.value == pytest.approx(PYTHIA_JET_MASS_RESPONSE.particle_mass(e.peak))
        assert e.jet_mass_scale == pytest.approx(JET_MASS_SCALE_UNCERTAINTY * d.value)
        assert e.underlying_event > 0
        assert e.total == pytest.approx(
            math.hypot(e.statistical, e.template, e.threshold, e.jet_mass_scale, e.underlying_event)
        )
        assert e.template > 0 and e.threshold >= 0 and d.error == e.total


def test_the_response_correction_inverts_the_peak_and_its_offset_error_is_a_systematic() -> None:
    """Peaks at sqrt(s^2 m^2 + delta) come back at m; the offset's error moves a light
    daughter more than a heavy one; the statistical error grows by the correction's slope."""
    response = JetMassResponse(scale=0.99, offset=0.0009, offset_error=0.0003)
    mjj, jets, _, _, n_bkg = _selected(5, mass_slope=0.0, response=response)
    options = dict(signal_region=SR, sidebands=SB, n_background_sr=n_bkg, n_background_sr_error=0.0)
    raw, raw_errors = daughter_masses_with_systematics(
        mjj, jets, bins=BINS, jet_mass_scale=0.0, response=NO_JET_MASS_RESPONSE, **options
    )
    corrected, errors = daughter_masses_with_systematics(
        mjj, jets, bins=BINS, jet_mass_scale=0.0, response=response, **options
    )
    for r, re, c, e, t in zip(raw, raw_errors, corrected, errors, (0.1, 0.5), strict=True):
        assert e.peak == pytest.approx(r.value)
        assert c.value == pytest.approx(math.sqrt(r.value**2 - 0.0009) / 0.99)
        assert abs(c.value - t) < 2.5 * c.error
        assert e.statistical == pytest.approx(re.statistical * r.value / (0.99**2 * c.value))
    assert all(e.underlying_event == 0.0 for e in raw_errors)
    light, heavy = errors
    assert light.underlying_event > 4 * heavy.underlying_event  # ~ offset error / (2 m)
    with pytest.raises(ConfigError, match="jet_mass_response"):
        daughter_masses_with_systematics(
            mjj, jets, bins=BINS, response=JetMassResponse(0.0, 0.0, 0.0), **options
        )


def test_without_scores_the_threshold_systematic_is_not_evaluated() -> None:
    mjj, jets, _, _, n_bkg = _selected(4, mass_slope=0.0)
    _, errors = daughter_masses_with_systematics(
        mjj,
        jets,
        signal_region=SR,
        sidebands=SB,
        n_background_sr=n_bkg,
        n_background_sr_error=10.0,
        bins=BINS,
        jet_mass_scale=0.0,
        response=NO_JET_MASS_RESPONSE,
    )
    assert all(math.isnan(e.threshold) for e in errors)
    assert all(e.total == pytest.approx(math.hypot(e.statistical, e.template)) for e in errors)
    assert all(e.underlying_event == 0.0 for e in errors)


def test_jet_mass_scale_adds_a_relative_error_and_rejects_negative_values() -> None:
    mjj, jets, _, _, n_bkg = _selected(4, mass_slope=0.0)
    options = dict(
        signal_region=SR, sidebands=SB, n_background_sr=n_bkg, n_background_sr_error=10.0
    )
    base, _ = daughter_masses_with_systematics(mjj, jets, bins=BINS, jet_mass_scale=0.0, **options)
    scaled, errors = daughter_masses_with_systematics(
        mjj, jets, bins=BINS, jet_mass_scale=0.1, **options
    )
    for b, s, e in zip(base, scaled, errors, strict=True):
        assert s.value == b.value  # an error only, never a correction
        assert e.jet_mass_scale == pytest.approx(0.1 * b.value)
        assert s.error == pytest.approx(math.hypot(b.error, 0.1 * b.value))
    with pytest.raises(ConfigError, match=r"answer\.jet_mass_scale"):
        daughter_masses_with_systematics(mjj, jets, bins=BINS, jet_mass_scale=-0.1, **options)
