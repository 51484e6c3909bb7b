"""Benchmark data: named Pythia productions with raw particles, resumable, for the sensitivity
studies.

The physics benchmarks need the same events in several feature sets (the four standard features,
N-subjettiness tau_N^beta, energy flow polynomials), so these productions keep every event's
detector-level particles (the LHC Olympics raw layout, ``raw=True`` of
:func:`anomsearch.data.generate.pythia_chunks.generate_pythia_chunks`): any feature set is computed
from them later with :mod:`anomsearch.data.features.raw_to_features`, without generating again. Each
sample is one stream of resumable chunks in ``<cache>/productions/<name>/`` (``<cache>``:
``$ANOMSEARCH_DATA`` or the platform cache directory); a killed production continues where it
stopped, and a larger ``n`` only adds chunks. Raw particles take ~17 MB per 1000 events on disk.

Samples (``--samples``; each ``name:n``, generated in the order given):

    qcd             QCD dijets, Monash tune ("data"), the background stream of every benchmark
    wprime          W'(3.5 TeV) -> X(500) Y(100), X, Y -> qq (the LHCO R&D signal)
    wprime_3prong   the same with X -> qqg (three-prong X, two-prong Y: unequal prongs)
    wprime_3prong_both  X and Y both three-prong (X -> qqg, Y -> qqg)
    wprime_x300_y200    W'(3.5 TeV) -> X(300) Y(200), two-prong daughters
    wprime_qq       W'(3.5 TeV) -> q q' (a resonance without jet substructure)
    qstar           an excited quark q*(3.5 TeV) -> q g (no substructure, radiative tail)
    qstar_3000, qstar_4000  the same at 3.0 and 4.0 TeV (the signal-shape mass bias)
    qstar_3300, qstar_3800  the same at 3.3 and 3.8 TeV (the q* black boxes)
    blackbox_a      W'(3.9 TeV) -> X(400) Y(150), two-prong daughters (a blind box of analyses/)
    blackbox_b      W'(3.2 TeV) -> X(600) Y(200), X -> qqg three-prong (a blind box of analyses/)
    simulation      QCD dijets, A14 tune with a softer FSR (SALAD / SA-CWoLa's "simulation")

Usage (niced, in the background; safe to kill and start again):
    nice -n 19 python benchmarks/pythia_production.py --samples wprime:20000 qcd:400000 --n-jobs 2

References:
    Pythia 8.3: arXiv:2203.11601. LHC Olympics 2020: arXiv:2101.08320.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from anomsearch.data.generate.pythia import PythiaConfig
from anomsearch.data.generate.pythia_chunks import generate_pythia_chunks
from anomsearch.data.io.download import default_cache_dir

#: name -> (PythiaConfig, run seed). Seeds differ per sample so no two streams share events.
SAMPLES: dict[str, tuple[PythiaConfig, int]] = {
    "qcd": (PythiaConfig(process="qcd"), 9100),
    "wprime": (PythiaConfig(process="wprime"), 9101),
    "wprime_3prong": (PythiaConfig(process="wprime_3prong"), 9102),
    "simulation": (PythiaConfig(process="qcd", variant="simulation"), 9103),
    "qstar": (PythiaConfig(process="qstar", m_wprime=3500.0), 9104),
    "wprime_qq": (PythiaConfig(process="wprime_qq", m_wprime=3500.0), 9105),
    "wprime_3prong_both": (PythiaConfig(process="wprime_3prong_both"), 9106),
    "wprime_x300_y200": (PythiaConfig(process="wprime", m_x=300.0, m_y=200.0), 9107),
    "qstar_3000": (PythiaConfig(process="qstar", m_wprime=3000.0), 9108),
    "qstar_4000": (PythiaConfig(process="qstar", m_wprime=4000.0), 9109),
    "qstar_3300": (PythiaConfig(process="qstar", m_wprime=3300.0), 9110),
    "qstar_3800": (PythiaConfig(process="qstar", m_wprime=3800.0), 9111),
    # the signals of analyses/blackbox/'s blind boxes (names that do not say what they hold)
    "blackbox_a": (PythiaConfig(process="wprime", m_wprime=3900.0, m_x=400.0, m_y=150.0), 9112),
    "blackbox_b": (
        PythiaConfig(process="wprime_3prong", m_wprime=3200.0, m_x=600.0, m_y=200.0),
        9113,
    ),
}


def production_dir(name: str, cache_dir: Path | None = None) -> Path:
    """Work directory of the production ``name`` (``<cache>/productions/<name>``)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "productions" / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", nargs="+", required=True, help="name:n, in order")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    plan = []
    for item in args.samples:
        name, _, n = item.partition(":")
        if name not in SAMPLES or not n.isdigit():
            parser.error(f"--samples: {item!r} is not NAME:N with NAME in {sorted(SAMPLES)}")
        plan.append((name, int(n)))
    for name, n in plan:
        config, seed = SAMPLES[name]
        run = generate_pythia_chunks(
            n,
            config=config,
            seed=seed,
            out_dir=production_dir(name, args.cache_dir),
            chunk_size=args.chunk_size,
            n_jobs=args.n_jobs,
            progress=False,
            raw=True,
        )
        logging.info("%s: %d events in %s (%.1f ev/s)", name, n, run.out_dir, run.events_per_s)


if __name__ == "__main__":
    main()
