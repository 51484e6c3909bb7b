"""Toy dijet events for the method tests, built directly as LHCO-style ``jets`` arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from anomsearch.data.events import EventTable
from anomsearch.data.regions import Regions

__all__ = ["REGIONS", "ToyDijets", "make_jets", "toy_background", "toy_signal"]

#: SR [3.3, 3.7] TeV, sidebands [3.0, 3.3) and [3.7, 4.0) TeV.
REGIONS = Regions(3.3, 3.7, 3.0, 4.0)


def make_jets(
    mjj: np.ndarray,
    m_a: np.ndarray,
    m_b: np.ndarray,
    tau21_a: np.ndarray,
    tau21_b: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Two jets back to back in their rest frame with invariant mass ``mjj`` (all masses in TeV).

    The jets get equal and opposite momenta ``q`` (two-body decay), a random polar angle with
    ``|cos(theta)| < 0.5`` and a random azimuth; file order is randomised so the lighter jet is not
    always first. Returns ``(n, 2, 7)`` in GeV: ``px, py, pz, m, tau1, tau2, tau3``.
    """
    n = mjj.shape[0]
    M, ma, mb = mjj * 1000.0, m_a * 1000.0, m_b * 1000.0
    q = np.sqrt((M**2 - (ma + mb) ** 2) * (M**2 - (ma - mb) ** 2)) / (2.0 * M)
    cos_t = rng.uniform(-0.5, 0.5, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    p = np.stack([q * sin_t * np.cos(phi), q * sin_t * np.sin(phi), q * cos_t], axis=1)
    jets = np.zeros((n, 2, 7))
    jets[:, 0, :3], jets[:, 1, :3] = p, -p
    jets[:, 0, 3], jets[:, 1, 3] = ma, mb
    for j, t21 in enumerate((tau21_a, tau21_b)):
        tau1 = rng.uniform(0.2, 0.6, n)
        jets[:, j, 4] = tau1
        jets[:, j, 5] = t21 * tau1
        jets[:, j, 6] = rng.uniform(0.4, 0.9, n) * t21 * tau1
    swap = rng.random(n) < 0.5
    jets[swap] = jets[swap][:, ::-1]
    return jets


def toy_background(
    n: int, rng: np.random.Generator, *, mjj_range: tuple[float, float] = (3.0, 4.0)
) -> EventTable:
    """QCD-like background: falling mjj, broad jet masses and tau21, all independent of mjj."""
    lo, hi = mjj_range
    # truncated exponential falling with mjj (slope 2 / TeV)
    u = rng.random(n)
    mjj = lo - np.log(1.0 - u * (1.0 - np.exp(-2.0 * (hi - lo)))) / 2.0
    m_a = rng.gamma(2.0, 0.06, n) + 0.01
    m_b = rng.gamma(2.0, 0.06, n) + 0.01
    t_a = rng.beta(6.0, 3.0, n)
    t_b = rng.beta(6.0, 3.0, n)
    return EventTable(make_jets(mjj, m_a, m_b, t_a, t_b, rng), label=np.zeros(n, dtype=np.int8))


def toy_signal(n: int, rng: np.random.Generator) -> EventTable:
    """A W'(3.5 TeV) -> X(500 GeV) Y(100 GeV) like resonance with two-prong (low tau21) jets."""
    mjj = rng.normal(3.5, 0.05, n)
    m_a = rng.normal(0.5, 0.02, n)
    m_b = rng.normal(0.1, 0.01, n)
    t_a = rng.beta(3.0, 6.0, n)
    t_b = rng.beta(3.0, 6.0, n)
    return EventTable(make_jets(mjj, m_a, m_b, t_a, t_b, rng), label=np.ones(n, dtype=np.int8))


@dataclass(frozen=True)
class ToyDijets:
    """Seeded factory of toy events for one test (``toy.background(n)``, ``toy.signal(n)``)."""

    rng: np.random.Generator
    regions: Regions = REGIONS

    def background(self, n: int, *, mjj_range: tuple[float, float] = (3.0, 4.0)) -> EventTable:
        return toy_background(n, self.rng, mjj_range=mjj_range)

    def signal(self, n: int) -> EventTable:
        return toy_signal(n, self.rng)


@pytest.fixture
def toy() -> ToyDijets:
    return ToyDijets(np.random.default_rng(20240601))
