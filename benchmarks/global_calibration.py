"""Benchmark: is the global p-value from pseudo-data made from the data calibrated?

Background-only toy datasets (each its own seed) go through the whole search with a window scan
and ``scan.global_toys`` pseudo-experiments made from the data (``scan.global_pseudo_data:
data``). Because the datasets are exchangeable, the largest local Z of the *other* datasets is a
sample of the true background-only distribution: for every dataset the "true" global p-value is
the fraction of the others at or above its own best local Z. The table compares the two. With
few pseudo-datasets per dataset the report's p-value is discrete (k / n): the calibration test
is each dataset's rank among its own pseudo-datasets (uniform on 0..n when calibrated) and the
randomised rank p-value (uniform on (0, 1), KS); next to them the p-value extrapolated with the
effective trials fitted to the pseudo-datasets (P(global Z > 2)) and every entry's local Z
against the asymptotic formula.

Usage:
    python benchmarks/global_calibration.py [--datasets 30] [--toys 9] [--n-background 60000] \
        [--mass-mjj-power 0] [--donors blocks|smooth] [--fill-local-z] \
        [--out benchmarks/results/global_calibration.json]

The run resumes from ``--out`` (rows of the same settings are kept).

Reference: a calibrated global p-value is uniform on background-only data, P(global Z > 2) =
2.3% (issue 20 asks >= 200 datasets; this benchmark is sized for one machine and a few hours).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from anomsearch import workflow
from anomsearch._io import write_json_atomic
from anomsearch.provenance import provenance
from anomsearch.stats.look_elsewhere import fit_effective_trials

#: P(Z > 2) of a calibrated global p-value (2.275%).
P_GLOBAL_Z2 = float(stats.norm.sf(2.0))


def _config(seed: int, n_background: int, n_toys: int, power: float, donors: str) -> dict:
    return {
        "name": f"calibration_{seed}",
        "seed": seed,
        "data": {"source": "toy", "n_background": n_background, "toy": {"mass_mjj_power": power}},
        "regions": {"signal_region": [3.3, 3.7], "sidebands": [2.9, 4.1]},
        "scan": {
            "mjj_min": 2.7,
            "mjj_max": 4.7,
            "width": 0.4,
            "step": 0.4,
            "sideband_width": 0.4,
            "efficiencies": [1.0, 0.1],
            "global_toys": n_toys,
            "global_pseudo_data": "data",
            "global_pseudo_donors": donors,
        },
        "method": {"name": "cwola", "n_folds": 2},
        "background": {"name": "bumphunt", "efficiency": 0.1, "bin_width": 0.1, "n_params": 3},
        "stats": {"limit_cl": None},
        "output": {"plots": False},
        "compute": {"cache": False},
    }


def _exclude_the_best_signal_region() -> None:
    """Study option: the pseudo-data of each dataset take no donors from its observed best SR."""
    real = workflow.global_significance

    def patched(config, sidak, seeds, **kw):  # type: ignore[no-untyped-def]
        fit = workflow.fit_data_resampler
        window = sidak["window"]
        workflow.fit_data_resampler = lambda events, **opts: fit(
            events, **opts, exclude=(window["sr_low"], window["sr_high"])
        )
        try:
            return real(config, sidak, seeds, **kw)
        finally:
            workflow.fit_data_resampler = fit

    workflow.global_significance = patched


def exchangeable_p_values(max_z: np.ndarray) -> np.ndarray:
    """Each dataset's "true" global p-value from exchangeable background-only datasets: the
    fraction of the *others* whose largest local Z is at or above its own, counting itself
    (``(k + 1) / n``)."""
    z = np.asarray(max_z, dtype=float)
    return np.array([(np.sum(np.delete(z, i) >= z[i]) + 1) / len(z) for i in range(len(z))])


#: Row entries computed from the others when the JSON is written (not kept on resume).
_DERIVED = ("p_true", "p_fitted", "p_rank")

#: Resamples of the datasets for the errors of the local fractions.
LOCAL_BOOTSTRAP = 2000


def rank_p_values(rows: list[dict], *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each dataset's rank among its ``n`` pseudo-datasets (the number whose largest local Z is
    above its own, ties shared at random) and the randomised rank p-value ``(rank + U) / (n + 1)``.

    On background-only data exchangeable with its pseudo-data the rank is uniform on ``0..n`` and
    the randomised p uniform on (0, 1) -- a KS test applies to it, not to the report's discrete
    ``global.p_value`` (the toys' fraction ``rank / n``, floored at ``1 / (n + 1)``)."""
    rng = np.random.default_rng(seed)
    ranks, p = [], []
    for r in rows:
        toys, z = np.asarray(r["toy_max_local_z"]), r["max_local_z"]
        rank = int(np.sum(toys > z)) + int(rng.integers(0, np.sum(toys == z) + 1))
        ranks.append(rank)
        p.append((rank + rng.random()) / (toys.size + 1))
    return np.array(ranks), np.array(p)


def fitted_trials_p_values(rows: list[dict]) -> np.ndarray:
    """Each dataset's global p-value extrapolated with the effective trials fitted to its own
    pseudo-datasets' maxima (:func:`anomsearch.stats.fit_effective_trials`, as in report.json
    ``global.fitted_trials``): unlike the toys' own fraction it goes below ``1 / (n + 1)``."""
    return np.array(
        [fit_effective_trials(r["toy_max_local_z"], r["max_local_z"]).global_p for r in rows]
    )


def local_p_summary(rows: list[dict]) -> dict:
    """Calibration of the local p-values of every (window, efficiency) entry, when every row
    has them: P(Z = 0) = 1/2 and P(Z > z) = 1 - Phi(z) under the asymptotic formula; the
    fractions above 1, 2, 3 with their bootstrap errors over datasets."""
    if not rows or any("local_z" not in r for r in rows):
        return {}
    local = np.concatenate([r["local_z"] for r in rows])
    positive = local[local > 0]
    # the entries of one dataset are correlated (overlapping windows, one classifier per
    # window): the fractions' errors come from resampling whole datasets, each resample's
    # fraction being its datasets' entries above t over their number of entries
    sizes = np.array([len(r["local_z"]) for r in rows])
    above = {t: np.array([np.sum(np.asarray(r["local_z"]) > t) for r in rows]) for t in (1, 2, 3)}
    rng = np.random.default_rng(0)
    resamples = [rng.integers(0, len(rows), len(rows)) for _ in range(LOCAL_BOOTSTRAP)]
    return {
        "n_local_entries": int(local.size),
        "local_fraction_zero": float(np.mean(local == 0)),
        "ks_p_local_given_positive": float(
            stats.kstest(2 * stats.norm.sf(positive), "uniform").pvalue
        ),
        "local_fraction_above": {
            f"{t:g}": [float(np.mean(local > t)), float(stats.norm.sf(t))] for t in (1, 2, 3)
        },
        "local_fraction_above_std": {
            f"{t:g}": float(np.std([counts[r].sum() / sizes[r].sum() for r in resamples]))
            for t, counts in above.items()
        },
    }


def _resumed_rows(args: argparse.Namespace) -> list[dict]:
    """The datasets an earlier run with the same settings wrote to ``--out`` (resume)."""
    if not args.out.is_file():
        return []
    old = json.loads(args.out.read_text())
    same = (
        old.get("n_background") == args.n_background
        and old.get("mass_mjj_power") == args.mass_mjj_power
        and old.get("exclusion") == bool(args.exclude_best)
        and old.get("donors", "blocks") == args.donors
        and old.get("summary", {}).get("n_toys") == args.toys
    )
    if not same:
        raise SystemExit(f"{args.out} holds another calibration: choose another --out")
    return [{k: v for k, v in r.items() if k not in _DERIVED} for r in old["rows"]]


def _write(args: argparse.Namespace, rows: list[dict], *, quiet: bool = False) -> None:
    """The summary of ``rows`` (printed unless ``quiet``) and the JSON, written atomically."""
    z = np.array([r["max_local_z"] for r in rows])
    p_data = np.array([r["p_data"] for r in rows])
    p_true = exchangeable_p_values(z)
    p_fitted = fitted_trials_p_values(rows)
    below = int(np.sum(p_fitted < P_GLOBAL_Z2))
    ranks, p_rank = rank_p_values(rows)
    rank_counts = np.bincount(ranks, minlength=args.toys + 1)
    summary = {
        **local_p_summary(rows),
        "n_datasets": len(rows),
        "n_toys": args.toys,
        "ks_p_data_uniform": float(stats.kstest(p_data, "uniform").pvalue),
        "mean_p_data": float(p_data.mean()),
        "mean_p_true": float(p_true.mean()),
        "fraction_p_data_below_p_true": float(np.mean(p_data < p_true)),
        "fraction_global_z_above_2": float(np.mean(p_data < P_GLOBAL_Z2)),
        "rank_counts": [int(c) for c in rank_counts],
        "chi2_p_ranks_uniform": float(stats.chisquare(rank_counts).pvalue),
        "ks_p_rank_uniform": float(stats.kstest(p_rank, "uniform").pvalue),
        "mean_p_rank": float(p_rank.mean()),
        "ks_p_fitted_uniform": float(stats.kstest(p_fitted, "uniform").pvalue),
        "mean_p_fitted": float(p_fitted.mean()),
        "fraction_fitted_global_z_above_2": below / len(rows),
        # the binomial spread of the fraction if the p-value is calibrated
        "fraction_fitted_global_z_above_2_error": math.sqrt(
            P_GLOBAL_Z2 * (1 - P_GLOBAL_Z2) / len(rows)
        ),
        "mean_toy_max_z": float(np.mean([np.mean(r["toy_max_local_z"]) for r in rows])),
        "mean_data_max_z": float(z.mean()),
    }
    for key, value in summary.items() if not quiet else ():
        print(f"{key:32s} {value:.4g}" if isinstance(value, float) else f"{key:32s} {value}")
    write_json_atomic(
        args.out,
        {
            "benchmark": "global_calibration",
            "n_background": args.n_background,
            "mass_mjj_power": args.mass_mjj_power,
            "exclusion": bool(args.exclude_best),
            "donors": args.donors,
            "summary": summary,
            "rows": [
                {**r, "p_true": float(p), "p_fitted": float(f), "p_rank": float(q)}
                for r, p, f, q in zip(rows, p_true, p_fitted, p_rank, strict=True)
            ],
            "provenance": provenance(),
        },
    )
    if not quiet:
        print(f"wrote {args.out}")


def _entries_local_z(report: dict) -> list[float]:
    """The local Z of every scan entry of ``report`` that passed the fit-quality gate."""
    windows = report["scan"]["windows"]
    return [float(w["significance"]) for w in windows if not w.get("skipped") and w["fit_passed"]]


def _fill_local_z(args: argparse.Namespace, rows: list[dict], tmp: Path) -> None:
    """Rows written before the entries' local Z's were kept: the data's scan alone, again (the
    same seed, so the same scan: checked against the row's largest local Z)."""
    for row in rows:
        if "local_z" in row:
            continue
        cfg = _config(row["seed"], args.n_background, 0, args.mass_mjj_power, args.donors)
        report = workflow.run(cfg, output_dir=tmp / f"{cfg['name']}_local").report
        row["local_z"] = _entries_local_z(report)
        if not math.isclose(max(row["local_z"], default=0.0), row["max_local_z"], abs_tol=1e-6):
            raise SystemExit(f"dataset {row['seed']}: the rerun scan differs from the first")
        print(f"dataset {row['seed']}: {len(row['local_z'])} local Z's", flush=True)
        _write(args, rows, quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=30)
    parser.add_argument("--toys", type=int, default=9)
    parser.add_argument("--n-background", type=int, default=60_000)
    parser.add_argument("--mass-mjj-power", type=float, default=0.0)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument(
        "--donors",
        choices=("blocks", "smooth"),
        default="blocks",
        help="scan.global_pseudo_donors (the results files without a 'donors' key used blocks)",
    )
    parser.add_argument(
        "--exclude-best",
        action="store_true",
        help="study: the observed best signal region gives no donors (pseudo_data exclude)",
    )
    parser.add_argument(
        "--fill-local-z",
        action="store_true",
        help="rerun the data's scan (no pseudo-data) of rows written without every entry's "
        "local Z, for the local p-values' calibration",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/global_calibration.json")
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.exclude_best:
        _exclude_the_best_signal_region()
    rows = _resumed_rows(args)
    done = {r["seed"] for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        if args.fill_local_z:
            _fill_local_z(args, rows, Path(tmp))
        for seed in range(args.first_seed, args.first_seed + args.datasets):
            if seed in done:
                continue
            cfg = _config(seed, args.n_background, args.toys, args.mass_mjj_power, args.donors)
            start = time.perf_counter()
            report = workflow.run(cfg, output_dir=Path(tmp) / cfg["name"]).report
            glob = report["global"]
            rows.append(
                {
                    "seed": seed,
                    "max_local_z": glob["local_significance"],
                    "p_data": glob["p_value"],
                    "toy_max_local_z": glob["toy_max_local_z"],
                    "sidak_p": glob["sidak"]["p_value"],
                    "local_z": _entries_local_z(report),
                    "wall_seconds": time.perf_counter() - start,
                }
            )
            print(
                f"dataset {seed}: max local Z {glob['local_significance']:.2f}, data-driven "
                f"global p {glob['p_value']:.3f} ({rows[-1]['wall_seconds']:.0f} s)",
                flush=True,
            )
            if len(rows) >= 2:  # after every dataset: a killed run keeps what finished
                _write(args, rows, quiet=True)
    _write(args, rows)


if __name__ == "__main__":
    main()
