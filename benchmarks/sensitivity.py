"""Benchmark: sensitivity of the weakly supervised methods on Pythia data, per back-end, features.

The grid of issue 19: {mlp, hgb} x {standard, kitchen_sink} x {idealized, CWoLa, CATHODE} (and
the supervised classifier as the upper bound), each cross-scored with the package's own window
stage (:func:`anomsearch.search.window.search_window`: k folds, no event scored by a model that
saw it) on the same events, median over seeds with the spread. Per entry: max SIC in the SR
(at least 20 background events above the cut), the background rejection 1/eps_B at
eps_S = 0.3, the full-chain local Z of the sideband bump hunt after cuts keeping 10%, 1% and 0.1%
of the SR (0.1%: from the 1M-event runs on; earlier results files hold 10% and 1% only), and the
training wall time.

Data (:mod:`benchmarks.pythia_production`, raw particles kept): the first ``--n-background`` QCD
events of the ``qcd`` production are the data; the next ``--n-reference-background`` the
idealized detector's background template; ``--n-inject`` signal events of the ``--signal``
production are drawn (a new draw per seed) from all but its first ``--n-reference-signal``
events, which train the supervised classifier. The jet features of every event (the 14 LHCO
columns plus tau_N^beta and EFPs) are computed from the particles once per chunk with
:func:`anomsearch.data.features.compute_jet_features` and cached next to the production
(``features_<set>/``). CATHODE runs on the standard features only (its flow models the features
it generates; a 166-dimensional flow is beyond this machine), SA-CWoLa and SALAD are not part of
the grid. ``disco`` (issue 20's decorrelated alternative) is trained on the reference samples: the
``--n-reference-signal`` signal events and the ``--n-reference-background`` QCD events.

Every entry also records the background's sculpting (1/JSD of its mjj after cuts keeping 10% and
1% of it, cut per fold, and dCor^2(score, mjj)) and whether each bump hunt passed the fit-quality
gate; ``--signal-shape crystal_ball`` uses the package's resonance shape for Pythia (the default
``gaussian`` is what the earlier results files used).

Seeds: seed ``s`` draws the injected events, the folds and the training; the same ``s`` is used
for every configuration, so the configurations are compared on identical datasets.

Configurations are ``method:classifier:features``. ``classifier`` is a key of
:data:`CLASSIFIERS`: ``mlp``, ``hgb``, ``mlp_v1`` (the MLP defaults before issue 19: "today's"
CATHODE and CWoLa of its goals) and tree-regularisation variants; ``features`` is a feature set,
optionally with ``+noise`` (10 standard-normal features appended: the robustness test).
``--n-inject 0`` runs on background only (local Z only: the false-excess check; CWoLa hunting on
constituent features is run there with ``allow_mjj_correlated_features``, which the package
refuses by default because of what this measures).

Usage:
    python benchmarks/sensitivity.py --configs cwola:hgb:standard idealized:mlp:standard \\
        --n-background 200000 --n-reference-background 115000 --n-inject 64 127 254 508 1016 \\
        --seeds 1 2 3 4 5 --out benchmarks/results/sensitivity_wprime.json
    python benchmarks/sensitivity.py --table benchmarks/results/sensitivity_*.json \\
        --plot docs/img/sensitivity.png

Published (LHCO R&D, 1000 injected = S/B 0.6% in the SR; arXiv:2109.00546, 2309.13111): max SIC
supervised 17.65, idealized NN 15.08, CATHODE 13.99, CWoLa hunting 10.75; tree ensembles (HGB)
~16 on the standard features and ~35 on 56 N-subjettiness features, and above 2 down to ~150
injected events.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from anomsearch._io import write_json_atomic
from anomsearch.config import BackgroundConfig, StatsConfig
from anomsearch.data.events import EventTable
from anomsearch.data.features import compute_jet_features
from anomsearch.data.io.lhco_raw import iter_raw_h5
from anomsearch.data.regions import Regions
from anomsearch.exceptions import AnomsearchError
from anomsearch.methods import get_method
from anomsearch.metrics import max_sic, rejection_at_efficiency
from anomsearch.metrics.decorrelation import distance_correlation, mjj_sculpting
from anomsearch.provenance import provenance
from anomsearch.search.bump_hunt import bump_hunt
from anomsearch.search.window import bump_hunt_options, search_window

try:  # run as a script (benchmarks/ on sys.path) or imported from the repository root
    from pythia_production import production_dir
except ImportError:  # pragma: no cover
    from benchmarks.pythia_production import production_dir

log = logging.getLogger("sensitivity")

REGIONS = Regions(3.3, 3.7, 2.9, 4.1)
BACKGROUND = BackgroundConfig(name="bumphunt", efficiency=0.01, fit_range=(2.7, 5.5))
STATS = StatsConfig(limit_cl=None)
#: ``--signal-shape``: the bump hunts' resonance shape. Results files before it was an option
#: used the Gaussian; ``crystal_ball`` is what the package uses on Pythia and real data
#: (``stats.signal_shape: auto``).
SIGNAL_SHAPES = ("gaussian", "crystal_ball")
#: Where the expected counts are too small for asymptotics (the 0.1% cut) the package's local
#: p-value comes from STATS.n_toys pseudo-experiments: with no toy above the observed q0 it is
#: floored at 1/(n_toys + 1), and the Z there (3.09 for 1000 toys) is a lower bound.
Z_TOY_FLOOR = float(NormalDist().inv_cdf(1.0 - 1.0 / (STATS.n_toys + 1)))
EFFICIENCIES = (0.1, 0.01, 0.001)
#: Background sculpting per entry (:func:`background_sculpting`).
SCULPTING_KEYS = ("inverse_jsd_0.1", "inverse_jsd_0.01", "dcor2_background")
#: The constituent features cached per chunk (the kitchen sink holds every extra field).
EXTRA = "kitchen_sink"
PUBLISHED = {
    ("supervised", "mlp", "standard"): 17.65,
    ("idealized", "mlp", "standard"): 15.08,
    ("cathode", "mlp", "standard"): 13.99,
    ("cwola", "mlp", "standard"): 10.75,
    # boosted trees in the idealized setting, read off the figures of arXiv:2309.13111
    ("idealized", "hgb", "standard"): 16.0,
    ("idealized", "hgb", "subjettiness"): 35.0,
}


# ------------------------------------------------------------------------------------- data
def _chunk_features(production: Path, index: int) -> dict[str, np.ndarray]:
    """The jet features of one raw chunk, computed once and cached as ``.npz`` (again when the
    chunk is newer than its cache: a chunk the production generated again)."""
    cache = production / f"features_{EXTRA}" / f"chunk_{index:05d}.npz"
    raw = production / f"chunk_{index:05d}.h5"
    if cache.is_file() and cache.stat().st_mtime >= raw.stat().st_mtime:
        with np.load(cache) as f:
            return {k: f[k] for k in f.files}
    (particles,) = [c.particles for c in iter_raw_h5(raw, key="raw", chunk_size=1_000_000)]
    res = compute_jet_features(particles, extra_features=EXTRA)
    out = {
        "jets": res.jets,
        "extra": res.extra,
        "fields": np.array(res.extra_fields),
        "n_jets": res.n_jets,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(cache)
    return out


def production_events(name: str, start: int, stop: int, *, label: int) -> EventTable:
    """Events ``start:stop`` of a production with every jet feature (events with fewer than two
    jets are dropped, as the LHCO features files hold dijets only)."""
    production = production_dir(name)
    size = 1000
    parts, fields = [], None
    for index in range(start // size, -(-stop // size)):
        if not (production / f"chunk_{index:05d}.json").is_file():
            raise SystemExit(f"{production}: chunk {index} is not finished; generate more events")
        chunk = _chunk_features(production, index)
        lo, hi = max(start - index * size, 0), min(stop - index * size, size)
        parts.append({k: v[lo:hi] for k, v in chunk.items() if k != "fields"})
        fields = tuple(str(f) for f in chunk["fields"])
    jets = np.concatenate([p["jets"] for p in parts])
    extra = np.concatenate([p["extra"] for p in parts])
    keep = np.concatenate([p["n_jets"] for p in parts]) >= 2
    n = int(keep.sum())
    return EventTable(
        jets[keep], label=np.full(n, label, np.int8), extra=extra[keep], extra_fields=fields
    )


def dataset(args: argparse.Namespace, seed: int) -> tuple[EventTable, dict[str, EventTable]]:
    """The data (QCD + injected signal, seeded draw) and the reference samples."""
    n, m = args.n_background, args.n_reference_background
    qcd = production_events("qcd", 0, n, label=0)
    pool = production_events(args.signal, 0, args.n_signal_pool, label=1)
    n_ref = args.n_reference_signal
    rng = np.random.default_rng([seed, 0x1A])
    chosen = n_ref + rng.choice(len(pool) - n_ref, size=args.n_inject, replace=False)
    data = EventTable.concatenate([qcd, pool.subset(np.sort(chosen))])
    references = {"reference_signal": pool.subset(np.arange(n_ref))}
    if m:
        references["reference_background"] = production_events("qcd", n, n + m, label=0)
    if any(c.endswith(NOISE_SUFFIX) for c in args.configs):
        data = with_noise(data, seed)
        references = {
            k: with_noise(v, seed + 1000 * i) for i, (k, v) in enumerate(references.items(), 1)
        }
    return data, references


# ------------------------------------------------------------------------------------- runs
#: ``classifier`` fields of a configuration: the back-end and its options. ``mlp_v1`` is the
#: MLP as the package trained it before issue 19 (batch 1024, up to 15 epochs, patience 4, the
#: single best epoch): "today's" CATHODE / CWoLa of the issue's goals.
CLASSIFIERS: dict[str, dict[str, Any]] = {
    "mlp": {"classifier": "mlp"},
    "hgb": {"classifier": "hgb"},
    # tree regularisation variants (the robustness study of issue 19, item 5)
    "hgb_leaf200": {"classifier": "hgb", "tree_min_samples_leaf": 200},
    "hgb_small": {"classifier": "hgb", "tree_max_leaf_nodes": 8, "tree_min_samples_leaf": 100},
    "hgb_val50": {"classifier": "hgb", "val_fraction": 0.5},
    # larger ensembles: the members' noise averages out where the signal is faint (low S/B)
    "hgb_e20": {"classifier": "hgb", "n_ensemble": 20},
    "hgb_e50": {"classifier": "hgb", "n_ensemble": 50},
    # patient early stopping: more boosting iterations before the validation loss decides
    "hgb_p50": {"classifier": "hgb", "tree_n_iter_no_change": 50},
    "mlp_v1": {
        "classifier": "mlp",
        "batch_size": 1024,
        "max_epochs": 15,
        "patience": 4,
        "top_epochs": 1,
    },
}
#: ``features`` suffix adding uninformative features (the robustness test of issue 19, item 5).
NOISE_SUFFIX = "+noise"
N_NOISE_FIELDS = 5  # per jet: 10 Gaussian features in all
NOISE_FEATURES = tuple(f"noise{i}_j{j}" for i in range(N_NOISE_FIELDS) for j in (1, 2))


def with_noise(events: EventTable, seed: int) -> EventTable:
    """``events`` with :data:`N_NOISE_FIELDS` standard-normal extra fields per jet appended."""
    rng = np.random.default_rng([seed, 0x0153])
    noise = rng.standard_normal((len(events), 2, N_NOISE_FIELDS))
    extra = np.concatenate([events.extra, noise], axis=2)
    fields = events.extra_fields + tuple(f"noise{i}" for i in range(N_NOISE_FIELDS))
    return EventTable(
        events.jets, label=events.label, weight=events.weight, extra=extra, extra_fields=fields
    )


def _method(name: str, classifier: str, features: str, refs: dict[str, EventTable], args: Any):
    noise = features.endswith(NOISE_SUFFIX)
    features = features.removesuffix(NOISE_SUFFIX)
    options: dict[str, Any] = {**CLASSIFIERS[classifier], "features": features}
    if classifier == "mlp" and args.max_epochs is not None:
        options["max_epochs"] = args.max_epochs
    if name == "cwola" and features != "standard":  # measured here: it sculpts (refused by default)
        options["allow_mjj_correlated_features"] = True
    if name == "idealized":
        options["reference_background"] = refs["reference_background"]
    if name == "supervised":
        options["reference_background"] = refs.get("reference_background")
        options["reference_signal"] = refs["reference_signal"]
    if name == "disco":  # trained on the reference samples, decorrelated over the whole range
        options["reference_background"] = refs["reference_background"]
        options["reference_signal"] = refs["reference_signal"]
        options.pop("classifier")  # the distance-correlation penalty needs the network
    method = get_method(name, **{k: v for k, v in options.items() if v is not None})
    if noise:  # the noise columns are not package features: set past the name check
        object.__setattr__(method, "features", tuple(method.features) + NOISE_FEATURES)
    return method


def _stats(args: Any) -> StatsConfig:
    """The stats section of every bump hunt (``--signal-shape``)."""
    shape = getattr(args, "signal_shape", "gaussian")
    return STATS if shape == "gaussian" else StatsConfig(limit_cl=None, signal_shape=shape)


def _rejection(scores: np.ndarray, label: np.ndarray) -> float:
    """1/eps_B at eps_S = 0.3; where no background event passes, its lower bound N_B (finite,
    so that the JSON stays valid)."""
    value = float(rejection_at_efficiency(scores, label, signal_efficiency=0.3))
    return value if math.isfinite(value) else float((label == 0).sum())


def background_sculpting(
    events: EventTable, scores: np.ndarray, folds: np.ndarray
) -> dict[str, float]:
    """How a cut on the scores distorts the background mjj spectrum over the fit range: 1/JSD of
    the selected vs all background (0.1 TeV bins) at 10% and 1% background efficiency, cut per
    fold (the folds' models do not share a score scale), and dCor^2(score, mjj) of background."""
    background = events.label == 0
    mjj = events.mjj[background]
    ranked = np.empty(int(background.sum()))
    for k in np.unique(folds[background]):  # the within-fold rank: one scale for all folds
        mine = folds[background] == k
        order = np.argsort(np.argsort(scores[background][mine], kind="stable"), kind="stable")
        ranked[mine] = (order + 0.5) / mine.sum()
    edges = np.arange(BACKGROUND.fit_range[0], BACKGROUND.fit_range[1] + 1e-9, 0.1)
    sculpt = mjj_sculpting(mjj, ranked, background_efficiencies=(0.1, 0.01), bins=edges)
    dcor = distance_correlation(ranked, mjj, max_events=20_000, seed=0)
    return {
        "inverse_jsd_0.1": float(sculpt.inverse_jsd[0]),
        "inverse_jsd_0.01": float(sculpt.inverse_jsd[1]),
        "dcor2_background": float(dcor),
    }


def run_entry(config: str, data: EventTable, refs: dict[str, EventTable], seed: int, args: Any):
    """One (method, classifier, features) entry on one dataset: metrics and timing."""
    name, classifier, features = config.split(":")
    method = _method(name, classifier, features, refs, args)
    start = time.perf_counter()
    window = search_window(
        data,
        method,
        regions=REGIONS,
        efficiency=1.0,  # the cuts below: a failed fit at one cut must not lose the scores
        background=BACKGROUND,
        stats=_stats(args),
        n_folds=args.folds,
        fold_seed=seed,
        training_seed=seed,
        source="pythia benchmark",
    )
    seconds = time.perf_counter() - start
    events, scores = window.events, window.scores
    in_sr = REGIONS.in_sr(events.mjj)
    label = events.label[in_sr]
    has_signal = bool(label.any())  # background-only data (--n-inject 0): Z only, no SIC
    options = bump_hunt_options(BACKGROUND, _stats(args), REGIONS)
    z: dict[str, float | None] = {}
    passed: dict[str, bool | None] = {}
    for eff in EFFICIENCIES:
        try:
            hunt = bump_hunt(events.mjj, scores, efficiency=eff, folds=window.folds, **options)
        except AnomsearchError as exc:  # too few events for the fit after the cut
            log.warning("%s seed %d: no bump hunt at efficiency %g: %s", config, seed, eff, exc)
            z[f"{eff:g}"] = passed[f"{eff:g}"] = None
        else:
            z[f"{eff:g}"] = float(hunt.discovery.significance)
            passed[f"{eff:g}"] = bool(hunt.fit_passed)
    n_s, n_b = int(label.sum()), int((label == 0).sum())
    return {
        "config": config,
        "seed": seed,
        "max_sic": float(max_sic(scores[in_sr], label).sic) if has_signal else None,
        "rejection_at_eps_s_0.3": _rejection(scores[in_sr], label) if has_signal else None,
        "local_z": z,
        "fit_passed": passed,
        **background_sculpting(events, scores, window.folds),
        "n_signal_sr": n_s,
        "n_background_sr": n_b,
        "s_over_b_sr": n_s / n_b,
        "s_over_sqrt_b_sr": n_s / math.sqrt(n_b),
        "train_seconds": seconds,
        "published_max_sic": PUBLISHED.get((name, classifier.removesuffix("_v1"), features)),
    }


# ------------------------------------------------------------------------------------- table
def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median and 16-84% spread per (signal, injection, config)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["signal"], r["n_inject"], r["config"]), []).append(r)
    out = []
    for (signal, n_inject, config), rs in sorted(groups.items()):

        def stat(values: list[float]) -> tuple[float, float, float] | None:
            if not values:
                return None
            q = np.percentile(values, [50, 16, 84])
            return float(q[0]), float(q[1]), float(q[2])

        out.append(
            {
                "signal": signal,
                "n_inject": n_inject,
                "config": config,
                "n_seeds": len(rs),
                "s_over_b_sr": float(np.mean([r["s_over_b_sr"] for r in rs])),
                "s_over_sqrt_b_sr": float(np.mean([r["s_over_sqrt_b_sr"] for r in rs])),
                "max_sic": stat([r["max_sic"] for r in rs if r["max_sic"] is not None]),
                "rejection_at_eps_s_0.3": stat(
                    [r["rejection_at_eps_s_0.3"] for r in rs if r["max_sic"] is not None]
                ),
                **{
                    f"local_z_floored_{e:g}": sum(
                        abs((r["local_z"].get(f"{e:g}") or 0.0) - Z_TOY_FLOOR) < 1e-9 for r in rs
                    )
                    for e in EFFICIENCIES
                },
                **{
                    f"local_z_{e:g}": stat(
                        [z for r in rs if (z := r["local_z"].get(f"{e:g}")) is not None]
                    )
                    for e in EFFICIENCIES
                },
                **{  # sculpting of the background (rows of runs before these were measured: None)
                    key: stat([r[key] for r in rs if r.get(key) is not None])
                    for key in SCULPTING_KEYS
                },
                **{
                    f"fit_failed_{e:g}": sum(
                        (r.get("fit_passed") or {}).get(f"{e:g}") is False for r in rs
                    )
                    for e in EFFICIENCIES
                },
                "train_seconds": float(np.median([r["train_seconds"] for r in rs])),
                "published_max_sic": rs[0]["published_max_sic"],
            }
        )
    return out


def cell(v: tuple[float, float, float] | None, fmt: str = ".2f", floored: int = 0) -> str:
    """A summary's (median, 16%, 84%) as "median (lo-hi)", "-" where not measured; ``floored``
    entries at the toy-based p-value's floor are counted after it."""
    if v is None:
        return "-"
    mark = f" [{floored} at the toy floor]" if floored else ""
    return f"{v[0]:{fmt}} ({v[1]:{fmt}}-{v[2]:{fmt}}){mark}"


def print_table(summary: list[dict[str, Any]]) -> None:
    """The summary as a Markdown table."""
    print(
        "| signal | injected | S/B SR | S/sqrt(B) SR | method:classifier:features | seeds | "
        "max SIC (16-84%) | 1/eB@0.3 | local Z 10% | local Z 1% | local Z 0.1% | train s | "
        "published |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summary:
        published = "" if s["published_max_sic"] is None else f"{s['published_max_sic']:g}"
        print(
            f"| {s['signal']} | {s['n_inject']} | {100 * s['s_over_b_sr']:.2f}% | "
            f"{s['s_over_sqrt_b_sr']:.2f} | {s['config']} | {s['n_seeds']} | "
            f"{cell(s['max_sic'])} | {cell(s['rejection_at_eps_s_0.3'], '.0f')} | "
            f"{cell(s['local_z_0.1'])} | {cell(s['local_z_0.01'])} | "
            f"{cell(s['local_z_0.001'], floored=s['local_z_floored_0.001'])} | "
            f"{s['train_seconds']:.0f} | {published} |"
        )


def print_sculpting_table(summary: list[dict[str, Any]]) -> None:
    """Sculpting of the background mjj spectrum and the fit-quality gate, for the entries that
    measured them."""
    entries = [s for s in summary if s["dcor2_background"] is not None]
    if not entries:
        return
    print()
    print(
        "| signal | injected | method:classifier:features | seeds | 1/JSD at 10% | 1/JSD at 1% | "
        "dCor^2(score, mjj) | local Z 10% | local Z 1% | fits failing the gate (10% / 1% / 0.1%) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in entries:
        failed = " / ".join(str(s[f"fit_failed_{e:g}"]) for e in EFFICIENCIES)
        print(
            f"| {s['signal']} | {s['n_inject']} | {s['config']} | {s['n_seeds']} | "
            f"{cell(s['inverse_jsd_0.1'], '.0f')} | {cell(s['inverse_jsd_0.01'], '.0f')} | "
            f"{cell(s['dcor2_background'], '.4f')} | {cell(s['local_z_0.1'], '.2f')} | "
            f"{cell(s['local_z_0.01'], '.2f')} | {failed} |"
        )


def plot_summary(summary: list[dict[str, Any]], path: Path) -> None:
    """Max SIC and the local Z at 1% of the SR against S/B in the SR, one panel row per signal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    signals = sorted({s["signal"] for s in summary})
    fig, axes = plt.subplots(len(signals), 2, figsize=(12, 4.5 * len(signals)), squeeze=False)
    configs = sorted({s["config"] for s in summary})
    colours = dict(zip(configs, plt.cm.tab20(np.linspace(0, 1, len(configs))), strict=True))
    styles = {"hgb": "-", "mlp": "--"}  # other back-ends (mlp_v1, tree variants) dotted
    for row, signal in zip(axes, signals, strict=True):
        entries = [s for s in summary if s["signal"] == signal]
        for config in sorted({s["config"] for s in entries}):
            style = {"color": colours[config], "ls": styles.get(config.split(":")[1], ":")}
            pts = sorted((s for s in entries if s["config"] == config), key=lambda s: s["n_inject"])
            x = [100 * s["s_over_b_sr"] for s in pts]
            for ax, key in zip(row, ("max_sic", "local_z_0.01"), strict=True):
                ok = [(xi, s[key]) for xi, s in zip(x, pts, strict=True) if s[key] is not None]
                if not ok:
                    continue
                xs, v = zip(*ok, strict=True)
                med = np.array([q[0] for q in v])
                err = np.array([[q[0] - q[1], q[2] - q[0]] for q in v]).T
                ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=config, **style)
        row[0].set(xscale="log", xlabel="S/B in the SR [%]", ylabel="max SIC", title=signal)
        row[1].set(xscale="log", xlabel="S/B in the SR [%]", ylabel="local Z (1% of the SR)")
        by_injection: dict[int, list[float]] = {}
        for s in entries:
            if s["n_inject"]:
                by_injection.setdefault(s["n_inject"], []).append(100 * s["s_over_b_sr"])
        ticks = sorted(round(float(np.mean(v)), 2) for v in by_injection.values())
        for ax in row:
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
        row[1].axhline(3.0, color="grey", ls=":")
        row[0].legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["cwola:mlp:standard"])
    parser.add_argument("--signal", default="wprime")
    parser.add_argument("--n-background", type=int, default=300_000)
    parser.add_argument("--n-reference-background", type=int, default=100_000)
    parser.add_argument("--n-signal-pool", type=int, default=20_000)
    parser.add_argument("--n-reference-signal", type=int, default=10_000)
    parser.add_argument("--n-inject", type=int, nargs="+", default=[380])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument(
        "--signal-shape",
        choices=SIGNAL_SHAPES,
        default="gaussian",
        help="the bump hunts' resonance shape (crystal_ball: the package's default on Pythia)",
    )
    parser.add_argument("--max-epochs", type=int, default=None, help="mlp (default: the method's)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--table", type=Path, nargs="*", help="only print the table of results")
    parser.add_argument("--plot", type=Path, default=None, help="with --table: write this PNG")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if args.table:
        rows = [r for path in args.table for r in json.loads(path.read_text())["rows"]]
        print_table(summarise(rows))
        print_sculpting_table(summarise(rows))
        if args.plot is not None:
            plot_summary(summarise(rows), args.plot)
        return
    rows = []  # resumed: the entries an interrupted run with the same --out finished
    if args.out is not None and args.out.is_file():
        rows = json.loads(args.out.read_text())["rows"]
    done = {(r["signal"], r["n_inject"], r["seed"], r["config"]) for r in rows}
    for n_inject in args.n_inject:
        args_n = argparse.Namespace(**{**vars(args), "n_inject": n_inject})
        for seed in args.seeds:
            todo = [c for c in args.configs if (args.signal, n_inject, seed, c) not in done]
            if not todo:
                continue
            data, refs = dataset(args_n, seed)
            for config in todo:
                row = run_entry(config, data, refs, seed, args)
                rows.append({"signal": args.signal, "n_inject": n_inject, **row})
                print(
                    f"{args.signal} {n_inject} seed {seed} {config}: max SIC {row['max_sic']}, "
                    f"Z(10%, 1%) {row['local_z']}, {row['train_seconds']:.0f} s",
                    flush=True,
                )
                if args.out is not None:  # after every entry: a killed run keeps what finished
                    write_json_atomic(
                        args.out,
                        {
                            "benchmark": "sensitivity",
                            "arguments": {k: str(v) for k, v in vars(args).items()},
                            "rows": rows,
                            "summary": summarise(rows),
                            "provenance": provenance(),
                        },
                    )
    print_table(summarise(rows))
    print_sculpting_table(summarise(rows))


if __name__ == "__main__":
    main()
