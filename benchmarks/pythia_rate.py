"""Rate of the Pythia chain: bare Pythia 8 vs the full chain, and the 100k-event extrapolation.

Measured side by side in one run, on the same seeds:

* **chain**: :func:`anomsearch.data.generate.pythia.generate_pythia` (Pythia 8 + detector + anti-kT
+
  N-subjettiness) for ``--n-chain`` accepted events per process; it reports how many Pythia events
  it tried (``n_tried``);
* **bare**: a Pythia instance with the same settings and seed calling ``pythia.next()``
  ``n_tried`` times and nothing else -- the same event sequence, since the detector smearing uses
  its own random generator. Initialisation is excluded from both.

The ratio ``bare time / chain time`` is the fraction of the chain's time spent in Pythia itself
(goal >= 80%). A per-stage breakdown of the chain (Pythia, reading the final state, smearing,
clustering, substructure) is measured with an instrumented copy of the event loop.

Then :func:`anomsearch.data.generate.pythia_chunks.generate_pythia_chunks` with ``--n-jobs`` (2)
workers produces ``--n-parallel`` QCD events; the wall time (process start-up and Pythia
initialisation included) is extrapolated linearly to 100k background events -- an **extrapolation**,
not a measured 100k run.

Prints a table and writes ``benchmarks/results/pythia_rate.json``.

Usage::

    python benchmarks/pythia_rate.py [--n-chain 150] [--n-parallel 2000] [--n-jobs 2]

References:
    Pythia 8.3: arXiv:2203.11601. FastJet: arXiv:1111.6097.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from anomsearch.data.features.jets import JetClusterer, particles_to_four_vectors
from anomsearch.data.generate.pythia import (
    PythiaConfig,
    _final_state,
    _make_pythia,
    _smear,
    _SpeciesTable,
    _to_pt_eta_phi,
    generate_pythia,
)
from anomsearch.data.generate.pythia_chunks import generate_pythia_chunks

__all__ = ["bare_seconds", "main", "stage_breakdown"]

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "pythia_rate.json"


def bare_seconds(cfg: PythiaConfig, seed: int, n_tries: int) -> float:
    """Seconds for ``n_tries`` calls of ``pythia.next()`` (initialisation excluded)."""
    pythia = _make_pythia(cfg, seed)
    t0 = time.perf_counter()
    for _ in range(n_tries):
        pythia.next()
    return time.perf_counter() - t0


def stage_breakdown(cfg: PythiaConfig, seed: int, n_tries: int) -> dict[str, float]:
    """Seconds per stage of the chain over ``n_tries`` Pythia events (instrumented event loop)."""
    pythia = _make_pythia(cfg, seed)
    species = _SpeciesTable(pythia.particleData)
    rng = np.random.default_rng([seed, 0x5EED])
    clusterer = JetClusterer(cfg.jet_radius, "kt")
    times = dict.fromkeys(
        ("pythia_next", "read_final_state", "detector", "antikt_clustering", "substructure"), 0.0
    )
    clock = time.perf_counter
    for _ in range(n_tries):
        t = clock()
        ok = pythia.next()
        times["pythia_next"] += clock() - t
        if not ok:
            continue
        t = clock()
        p4, charged, photon = _final_state(pythia.event, species, cfg.eta_max)
        times["read_final_state"] += clock() - t
        t = clock()
        p4 = _smear(p4, charged, photon, rng)
        p4 = particles_to_four_vectors(_to_pt_eta_phi(p4))
        times["detector"] += clock() - t
        t = clock()
        _sequence, jets = clusterer.cluster(p4)  # the sequence must outlive the jets
        times["antikt_clustering"] += clock() - t
        if len(jets) < 2 or jets[0].pt() < cfg.trigger_pt:
            continue
        t = clock()
        for j in jets[:2]:
            clusterer.jet_features(j)
        times["substructure"] += clock() - t
    return times


def _side_by_side(process: str, n_chain: int, seed: int) -> dict[str, Any]:
    cfg = PythiaConfig(process=process)
    _, stats = generate_pythia(n_chain, config=cfg, seed=seed)
    n_tried = stats["n_tried"]
    t_bare = bare_seconds(cfg, seed, n_tried)
    stages = stage_breakdown(cfg, seed, n_tried)
    total = sum(stages.values())
    return {
        "process": process,
        "seed": seed,
        "n_accepted": stats["n_accepted"],
        "n_tried": n_tried,
        "chain_seconds": stats["seconds"],
        "bare_seconds": t_bare,
        "bare_tried_per_s": n_tried / t_bare,
        "chain_tried_per_s": n_tried / stats["seconds"],
        "chain_accepted_per_s": stats["events_per_s"],
        "bare_accepted_equivalent_per_s": stats["n_accepted"] / t_bare,
        "ratio_chain_over_bare": t_bare / stats["seconds"],
        "stage_fractions": {k: v / total for k, v in stages.items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-chain", type=int, default=150)
    parser.add_argument("--n-parallel", type=int, default=2000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    load_before = os.getloadavg()
    rows = [
        _side_by_side("qcd", args.n_chain, args.seed),
        _side_by_side("wprime", args.n_chain, args.seed + 1),
    ]
    with tempfile.TemporaryDirectory(prefix="pythia_rate_") as work:
        t0 = time.perf_counter()
        run = generate_pythia_chunks(
            args.n_parallel,
            config=PythiaConfig(process="qcd"),
            seed=args.seed,
            out_dir=work,
            chunk_size=max(args.n_parallel // (4 * args.n_jobs), 1),
            n_jobs=args.n_jobs,
            progress=False,
        )
        wall = time.perf_counter() - t0
    per_s = args.n_parallel / wall
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "note": "shared machine: other jobs were running; rates are per wall second",
        },
        "side_by_side": rows,
        "parallel": {
            "n_events": args.n_parallel,
            "n_jobs": args.n_jobs,
            "wall_seconds": wall,
            "events_per_s": per_s,
            "efficiency": run.efficiency,
            "extrapolated_100k_seconds": 100_000 / per_s,
            "extrapolated_100k_hours": 100_000 / per_s / 3600,
            "extrapolated": True,
        },
    }
    print(f"{'process':8} {'tried':>6} {'bare ev/s':>10} {'chain ev/s':>11} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['process']:8} {r['n_tried']:6d} {r['bare_tried_per_s']:10.1f} "
            f"{r['chain_tried_per_s']:11.1f} {r['ratio_chain_over_bare']:6.2f}"
            f"   (accepted: {r['chain_accepted_per_s']:.1f} ev/s)"
        )
        print(
            "   stage fractions: "
            + ", ".join(f"{k} {v:.0%}" for k, v in r["stage_fractions"].items())
        )
    print(
        f"n_jobs={args.n_jobs}: {args.n_parallel} QCD events in {wall:.0f} s ({per_s:.1f} ev/s); "
        f"100k events EXTRAPOLATED: {100_000 / per_s / 3600:.1f} h"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
