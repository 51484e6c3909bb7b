"""Benchmark: anomaly-score methods side by side on one dataset (max SIC, AUC, rejection, 1/JSD).

Every method is cross-scored with the same k folds on the same toy dataset (by default the
quickstart's: 1M QCD-like events + 1000 injected W' -> XY events, SR [3.3, 3.7] TeV, sidebands
[2.9, 4.1] TeV); methods that need extra samples (idealized: a background sample; supervised: a
signal sample; SALAD / SA-CWoLa: a mismodelled "simulation") get them exactly as the pipeline
gives them (:func:`anomsearch.data.sources.attach_reference_samples`). For each method the table
lists the max SIC (signal vs background in the SR, at least 20 background events above the cut), the
AUC, the background rejection 1/eps_B at eps_S = 0.3, 1/JSD of the background mjj shape (SR and
sidebands) before vs after a cut keeping 10% of the background, and the training wall time;
max SIC is also given relative to the idealized detector when it ran.

Pythia data (``--source pythia``): the QCD and signal streams of a config with
``data.source: pythia`` (default ``configs/pythia_rnd.yaml``: the R&D-like W'(3.5 TeV) ->
X(500 GeV) Y(100 GeV) chain), generated into the cache by ``anomsearch run`` of that config or read
from it (:mod:`anomsearch.data.generate.pythia_source`: a sample of n events is the first n of its
stream, so this reads the first events of a production that may still be running, and fails clearly
when it would have to generate chunks another process is generating). The data are the first
``--n-background`` QCD events; the idealized and supervised references are the next
``--n-reference-background`` QCD events of the same stream and the last ``--n-reference-signal``
events of the signal pool, the ``--n-signal`` injected events are drawn from the rest of the pool
(all disjoint). ``--seed`` is the config's master seed there (the streams' seeds derive from it).

Usage:
    python benchmarks/method_sic.py [--methods cwola idealized supervised ...] \
        [--n-background 1000000] [--n-signal 1000] [--folds 5] [--seed 1] \
        [--max-epochs 15] [--out benchmarks/results/method_sic.json]
    python benchmarks/method_sic.py --source pythia [--config configs/pythia_rnd.yaml] \
        --n-background 300000 --n-reference-background 100000 --folds 3 ...

Published reference (LHCO R&D, 1000 injected, arXiv:2109.00546, median of 10 trainings): max SIC
supervised 17.65, idealized 15.08, CATHODE 13.99, CWoLa hunting 10.75, ANODE 6.46.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from typing import Any

import numpy as np

from anomsearch._io import write_json_atomic
from anomsearch.config import SearchConfig, load_config
from anomsearch.config.search_config import derive_seeds
from anomsearch.data.events import EventTable
from anomsearch.data.injection import inject_signal
from anomsearch.data.regions import Regions, kfold_assignments
from anomsearch.data.sources import attach_reference_samples, load_events
from anomsearch.methods import cross_score, get_method
from anomsearch.metrics import auc, max_sic, rejection_at_efficiency
from anomsearch.provenance import provenance

PUBLISHED_MAX_SIC = {
    "supervised": 17.65,
    "idealized": 15.08,
    "cathode": 13.99,
    "cwola": 10.75,
    "anode": 6.46,
}


#: Per-method options of this benchmark besides ``max_epochs``: none, every method runs with its
#: defaults (a CATHODE flow with larger batches and fewer epochs, 2048 x 20, lost a third of its
#: max SIC on the 300k toy: 7.21 vs 8.66 with the defaults 256 x 30).
BENCHMARK_OPTIONS: dict[str, dict[str, Any]] = {}


def _config(args: argparse.Namespace) -> SearchConfig:
    raw = {
        "name": "method-sic-benchmark",
        "seed": args.seed,
        "data": {
            "source": "toy",
            "n_background": args.n_background,
            "n_reference_signal": args.n_reference_signal,
            **(
                {"n_reference_background": args.n_reference_background}
                if args.n_reference_background
                else {}
            ),
        },
        "injection": {"n_signal": args.n_signal},
        "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
        "method": {"name": "cwola"},
        "background": {"name": "bumphunt"},
    }
    return load_config(raw)


def _pythia_samples(args: argparse.Namespace) -> tuple[EventTable, dict[str, EventTable]]:
    """Data and disjoint reference samples from the Pythia streams of ``args.config``
    (``args.seed`` None: set to the config's master seed)."""
    from anomsearch.data.generate.pythia_source import config_sample

    config = load_config(args.config)
    if config.data.source != "pythia":
        raise SystemExit(f"{args.config}: data.source must be 'pythia' for --source pythia")
    if args.seed is None:
        args.seed = config.seed
    seeds = derive_seeds(args.seed)
    n, m = args.n_background, args.n_reference_background
    options = config.data.pythia
    qcd = config_sample(options, "background", n + m, seeds["background"])
    pool = config_sample(options, "signal", int(config.data.n_signal_pool or 0), seeds["signal"])
    n_ref_signal = args.n_reference_signal
    if len(pool) - n_ref_signal < args.n_signal:
        raise SystemExit(
            f"the signal pool ({len(pool)} events, data.n_signal_pool) cannot give "
            f"--n-signal {args.n_signal} plus --n-reference-signal {n_ref_signal}"
        )
    events = inject_signal(
        qcd.subset(np.arange(n)),
        pool.subset(np.arange(len(pool) - n_ref_signal)),
        args.n_signal,
        seed=seeds["injection"],
    )
    references = {"reference_signal": pool.subset(np.arange(len(pool) - n_ref_signal, len(pool)))}
    if m:
        references["reference_background"] = qcd.subset(np.arange(n, n + m))
    if args.n_reference_simulation:
        references["reference_simulation"] = config_sample(
            options, "simulation", args.n_reference_simulation, seeds["reference_simulation"]
        )
    return events, references


def _with_references(method: Any, references: dict[str, EventTable]) -> Any:
    """The method with the reference samples it takes; a clear exit when one it needs is missing."""
    fields = {f.name for f in dataclasses.fields(method)}
    for name in ("reference_background", "reference_signal", "reference_simulation"):
        if getattr(method, f"needs_{name}", False) and name not in references:
            option = "--n-" + name.replace("_", "-")
            raise SystemExit(f"method {method.name!r} needs a {name} sample: set {option}")
    updates = {k: v for k, v in references.items() if k in fields}
    return dataclasses.replace(method, **updates) if updates else method


def _one_over_jsd(mjj: np.ndarray, scores: np.ndarray, efficiency: float) -> float | None:
    try:
        from anomsearch.metrics.decorrelation import mjj_sculpting
    except ImportError:  # pragma: no cover - older checkouts
        return None
    result = mjj_sculpting(mjj, scores, background_efficiencies=(efficiency,))
    return float(result.inverse_jsd[0])


def _benchmark_method(
    name: str,
    options: dict[str, Any],
    events: Any,
    args: Any,
    *,
    config: SearchConfig | None = None,
    references: dict[str, EventTable] | None = None,
) -> dict[str, Any]:
    regions = Regions(3.3, 3.7, 2.9, 4.1)
    method = get_method(name, **options)
    if references is not None:
        method = _with_references(method, references)
    else:
        assert config is not None
        method = attach_reference_samples(method, config.data, config.derived_seeds())
    folds = kfold_assignments(len(events), args.folds, seed=args.seed)
    start = time.perf_counter()
    crossed = cross_score(method, events, regions=regions, folds=folds, seed=args.seed)
    seconds = time.perf_counter() - start
    mjj, label = events.mjj, events.label
    in_sr = regions.in_sr(mjj)
    scores_sr, label_sr = crossed.scores[in_sr], label[in_sr]
    best = max_sic(scores_sr, label_sr)
    background = (label == 0) & (in_sr | regions.in_sb(mjj))
    return {
        "method": name,
        "max_sic": best.sic,
        "tpr_at_max_sic": best.tpr,
        "auc": auc(scores_sr, label_sr),
        "rejection_at_eps_s_0.3": rejection_at_efficiency(
            scores_sr, label_sr, signal_efficiency=0.3
        ),
        "inverse_jsd_at_eps_b_0.1": _one_over_jsd(mjj[background], crossed.scores[background], 0.1),
        "train_seconds": seconds,
        "published_max_sic": PUBLISHED_MAX_SIC.get(name),
    }


def _write(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    ideal = next((r["max_sic"] for r in rows if r["method"] == "idealized"), None)
    for row in rows:
        row["max_sic_over_idealized"] = None if ideal is None else row["max_sic"] / ideal
    write_json_atomic(
        args.out,
        {
            "benchmark": "method_sic",
            "arguments": vars(args),
            "published_max_sic_lhco_rnd": PUBLISHED_MAX_SIC,
            "rows": rows,
            "provenance": provenance(),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["cwola", "idealized", "supervised"])
    parser.add_argument("--source", choices=("toy", "pythia"), default="toy")
    parser.add_argument("--config", default="configs/pythia_rnd.yaml", help="pythia: the streams")
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--n-signal", type=int, default=1000)
    parser.add_argument("--n-reference-signal", type=int, default=20_000)
    parser.add_argument(
        "--n-reference-background", type=int, default=0, help="pythia (toy: n-background)"
    )
    parser.add_argument("--n-reference-simulation", type=int, default=0, help="pythia only")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None, help="default 1 (pythia: the config's)")
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--out", default="benchmarks/results/method_sic.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config: SearchConfig | None = None
    references: dict[str, EventTable] | None = None
    if args.source == "pythia":
        events, references = _pythia_samples(args)
    else:
        args.seed = 1 if args.seed is None else args.seed
        config = _config(args)
        events = load_events(config.data, injection=config.injection, seeds=config.derived_seeds())
    events = events.subset((events.mjj >= 2.9) & (events.mjj < 4.1))
    rows: list[dict[str, Any]] = []
    for name in args.methods:
        options = {} if name == "autoencoder" else {"max_epochs": args.max_epochs}
        options.update(BENCHMARK_OPTIONS.get(name, {}))
        row = _benchmark_method(name, options, events, args, config=config, references=references)
        row["options"] = options
        rows.append(row)
        print(f"{name}: max SIC {row['max_sic']:.2f}, {row['train_seconds']:.0f} s", flush=True)
        _write(args, rows)  # after every method: a killed run keeps what finished

    header = (
        f"{'method':<12} {'max SIC':>8} {'(publ.)':>8} {'/ideal':>7} {'AUC':>6} "
        f"{'1/eB@0.3':>9} {'1/JSD':>8} {'train s':>8}"
    )
    print(
        f"\n{args.n_background} background + {args.n_signal} signal events ({args.source}), "
        f"{len(events)} in SR+SB, {args.folds}-fold cross-scoring, seed {args.seed}"
    )
    print(header)
    print("-" * len(header))

    def fmt(value: float | None, spec: str) -> str:
        return format("-", spec.split(".")[0]) if value is None else format(value, spec)

    for r in rows:
        print(
            f"{r['method']:<12} {r['max_sic']:>8.2f} {fmt(r['published_max_sic'], '>8.2f')} "
            f"{fmt(r['max_sic_over_idealized'], '>7.2f')} {r['auc']:>6.3f} "
            f"{fmt(r['rejection_at_eps_s_0.3'], '>9.1f')} "
            f"{fmt(r['inverse_jsd_at_eps_b_0.1'], '>8.1f')} {r['train_seconds']:>8.0f}"
        )
    _write(args, rows)
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
