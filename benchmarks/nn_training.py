"""Benchmark: the MLP training defaults before and after issue 19, side by side.

The weakly supervised classifiers (CWoLa hunting, and the idealized anomaly detector as the
reference of what the same network reaches against a perfect background template) are
cross-scored in k folds on the generator's toy (``generate_toy``: QCD-like dijets + a 3.5 TeV
W' -> X(500 GeV) Y(100 GeV) resonance, SR [3.3, 3.7] TeV, sidebands [2.9, 4.1] TeV), once with the
old training options (batch 1024, at most 15 epochs, patience 4, the best epoch kept) and once
with the defaults of :class:`anomsearch.methods.ClassifierOptions` (batch 256, at most 50 epochs,
patience 8 epochs without a new entry into the 5 lowest validation losses, the outputs of those 5
epochs averaged).

For every run it records:

* ``max_sic_data``: the max SIC (signal vs background, at least 20 background events above the
  cut) of the cross-scored scores of the data's SR events: what the search sees, but noisy (a few
  hundred signal events);
* ``max_sic_test``: the mean over the k fold scorers of the max SIC on a large independent SR test
  sample (150k background events -> ~18k in the SR, 3000 signal -> ~2300): the quality of the
  trained classifiers without the noise of the small data sample;
* the training wall time of the k folds, and per fold scorer the epochs trained, the best epoch
  and the averaged epochs (``folds_best_epoch_0``: how many kept the first epoch).

The table gives per configuration and size the median over the seeds and the [min, max] spread.
Torch runs on ``--threads`` intra-op threads (default 1: a small MLP gains nothing from more, and
on a shared machine two threads were several times slower).

Usage:
    python benchmarks/nn_training.py [--points 50000:0.015 150000:0.01 500000:0.006] \
        [--seeds 1 2 3] [--methods cwola idealized] [--configs old new] [--folds 5] \
        [--threads 1] [--out benchmarks/results/nn_training.json]
    # the time of 5 CWoLa folds on the 1M toy with the new defaults:
    python benchmarks/nn_training.py --points 1000000:0.006 --seeds 1 --methods cwola \
        --configs new --out benchmarks/results/nn_training_1m.json

A point ``N:R`` is ``N`` toy background events (about 47% of them in SR + SB, 12% in the SR) with
the signal injected so that S/B in the SR is about ``R``.

Diagnosis (``--diagnose``): one CWoLa classifier (the training events of fold 0) trained for
``--diagnose-epochs`` epochs without early stopping, every epoch's weights kept; per epoch it
prints the validation loss minus ln 2, the statistical noise of its change from the previous
epoch (the standard deviation of the per-event loss difference over sqrt(n_val)), and the max SIC
of that epoch's network on the test sample; then the max SIC of the best epoch alone and of the
average of the 5 best::

    python benchmarks/nn_training.py --diagnose --points 80000:0.015 --seeds 1 2 3 \
        --diagnose-batch-size 1024 256 --out benchmarks/results/nn_training_diagnosis.json
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
import torch

from anomsearch._io import write_json_atomic
from anomsearch.data.events import EventTable
from anomsearch.data.generate.toy import generate_toy, generate_toy_background, generate_toy_signal
from anomsearch.data.regions import Regions, kfold_assignments
from anomsearch.methods import cross_score, get_method
from anomsearch.metrics import max_sic
from anomsearch.provenance import provenance

REGIONS = Regions(3.3, 3.7, 2.9, 4.1)

#: The training options compared: before issue 19, and the defaults now.
CONFIGS: dict[str, dict[str, Any]] = {
    "old": {"batch_size": 1024, "max_epochs": 15, "patience": 4, "top_epochs": 1},
    "new": {},
}


def _sr_fractions() -> tuple[float, float]:
    """Fraction of the toy's background and of its signal in the SR."""
    b = generate_toy_background(200_000, seed=12345)
    s = generate_toy_signal(20_000, seed=12346)
    return float(REGIONS.in_sr(b.mjj).mean()), float(REGIONS.in_sr(s.mjj).mean())


def _test_sample() -> EventTable:
    test = EventTable.concatenate(
        [generate_toy_background(150_000, seed=99), generate_toy_signal(3_000, seed=98)]
    )
    return test.subset(REGIONS.in_sr(test.mjj))


def _fold_records(scorers: list[Any]) -> list[dict[str, Any]]:
    out = []
    for scorer in scorers:
        for member in scorer.classifiers:
            out.append(
                {
                    "epochs_trained": int(member.epochs_trained),
                    "best_epoch": int(member.best_epoch),
                    "averaged_epochs": [int(e) for e in member.averaged_epochs],
                    "val_loss_minus_ln2": float(member.best_val_loss - np.log(2.0)),
                    "train_seconds": float(member.train_seconds),
                }
            )
    return out


def _run(
    name: str,
    config: str,
    events: EventTable,
    folds: np.ndarray,
    test: EventTable,
    *,
    seed: int,
    reference: EventTable | None,
) -> dict[str, Any]:
    options = dict(CONFIGS[config])
    if name == "idealized":
        options["reference_background"] = reference
    method = get_method(name, **options)
    start = time.perf_counter()
    crossed = cross_score(method, events, regions=REGIONS, folds=folds, seed=seed)
    seconds = time.perf_counter() - start
    in_sr = REGIONS.in_sr(events.mjj)
    data_sic = max_sic(crossed.scores[in_sr], events.label[in_sr]).sic
    test_sics = [max_sic(s.score(test), test.label).sic for s in crossed.scorers]
    records = _fold_records(crossed.scorers)
    return {
        "method": name,
        "config": config,
        "seed": seed,
        "max_sic_data": float(data_sic),
        "max_sic_test": float(np.mean(test_sics)),
        "max_sic_test_per_fold": [float(s) for s in test_sics],
        "train_seconds": seconds,
        "folds_best_epoch_0": sum(r["best_epoch"] == 0 for r in records),
        "folds": records,
    }


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    keys = sorted({(r["n_background"], r["method"], r["config"]) for r in rows})
    lines = [
        f"{'toy events':>10} {'SR+SB':>7} {'S/B SR':>7} {'method':>9} {'config':>6} "
        f"{'max SIC data':>20} {'max SIC test':>20} {'time/s':>16} {'ep0':>5} {'epochs':>6}"
    ]

    def cell(values: list[float], fmt: str = ".2f") -> str:
        v = np.array(values)
        return f"{np.median(v):{fmt}} [{v.min():{fmt}}-{v.max():{fmt}}]"

    for n, method, config in keys:
        rs = [
            r for r in rows if (r["n_background"], r["method"], r["config"]) == (n, method, config)
        ]
        epochs = [f["epochs_trained"] for r in rs for f in r["folds"]]
        lines.append(
            f"{n:>10} {int(np.median([r['n_sr_sb'] for r in rs])):>7} "
            f"{np.median([r['s_over_b_sr'] for r in rs]):>7.4f} {method:>9} {config:>6} "
            f"{cell([r['max_sic_data'] for r in rs]):>20} "
            f"{cell([r['max_sic_test'] for r in rs]):>20} "
            f"{cell([r['train_seconds'] for r in rs], '.0f'):>16} "
            f"{sum(r['folds_best_epoch_0'] for r in rs):>2}/{len(epochs):<2} "
            f"{np.median(epochs):>6.0f}"
        )
    return lines


def _diagnose(
    events: EventTable,
    folds: np.ndarray,
    test: EventTable,
    *,
    seed: int,
    batch_size: int,
    epochs: int,
) -> dict[str, Any]:
    """Per-epoch validation loss, its noise and the test max SIC of one CWoLa classifier."""
    from anomsearch.methods.nn.classifier_training import balanced_weights, train_classifier

    train = events.subset(folds != 0)
    x = train.features(("mj1", "delta_mj", "tau21_j1", "tau21_j2"))
    y = REGIONS.in_sr(train.mjj).astype(np.int8)
    clf = train_classifier(
        x, y, seed=seed, batch_size=batch_size, max_epochs=epochs, patience=epochs,
        top_epochs=epochs, accelerator="cpu",
    )  # fmt: skip
    val = clf.val_mask
    xv = torch.from_numpy(clf.standardizer.transform(x[val]).astype(np.float32))
    xt = torch.from_numpy(
        clf.standardizer.transform(
            test.features(("mj1", "delta_mj", "tau21_j1", "tau21_j2"))
        ).astype(np.float32)
    )
    weight, yv = balanced_weights(y[val]), y[val].astype(np.float64)
    by_epoch = dict(zip(clf.averaged_epochs, clf.nets, strict=True))
    losses, tests = [], []
    for epoch in range(len(by_epoch)):
        with torch.no_grad():
            zv = by_epoch[epoch](xv).double().numpy()
            zt = by_epoch[epoch](xt).double().numpy()
        losses.append(weight * (yv * np.logaddexp(0, -zv) + (1 - yv) * np.logaddexp(0, zv)))
        tests.append(1.0 / (1.0 + np.exp(-zt)))
    n_val = int(val.sum())
    rows = []
    for epoch, (loss, p) in enumerate(zip(losses, tests, strict=True)):
        noise = float(np.std(loss - losses[epoch - 1]) / np.sqrt(n_val)) if epoch else None
        rows.append(
            {
                "epoch": epoch,
                "val_loss_minus_ln2": float(loss.mean() - np.log(2.0)),
                "noise_of_change": noise,
                "max_sic_test": float(max_sic(p, test.label).sic),
            }
        )
    order = np.argsort([r["val_loss_minus_ln2"] for r in rows])
    return {
        "seed": seed,
        "batch_size": batch_size,
        "n_train": int((~val).sum()),
        "n_val": n_val,
        "epochs": rows,
        "best_epoch": int(order[0]),
        "max_sic_test_best_epoch": rows[int(order[0])]["max_sic_test"],
        "max_sic_test_top5_average": float(
            max_sic(np.mean([tests[i] for i in order[:5]], axis=0), test.label).sic
        ),
    }


def _print_diagnosis(d: dict[str, Any]) -> None:
    print(
        f"seed {d['seed']}, batch {d['batch_size']}: {d['n_train']} training / {d['n_val']} "
        "validation events\n epoch  val_loss-ln2  noise of change  max SIC test"
    )
    for r in d["epochs"]:
        noise = "" if r["noise_of_change"] is None else f"{r['noise_of_change']:+.1e}"
        print(
            f" {r['epoch']:5d}  {r['val_loss_minus_ln2']:+12.1e}  {noise:>15}  "
            f"{r['max_sic_test']:12.2f}"
        )
    print(
        f" best epoch {d['best_epoch']}: max SIC {d['max_sic_test_best_epoch']:.2f}; "
        f"average of the 5 best: {d['max_sic_test_top5_average']:.2f}"
    )


def _point_events(point: str, seed: int, fractions: tuple[float, float]) -> tuple[Any, ...]:
    """``(n_background, S/B target, n_signal, SR+SB events)`` of a point ``N:R`` and a seed."""
    n_text, ratio_text = point.split(":")
    n_bkg, ratio = int(n_text), float(ratio_text)
    n_sig = round(ratio * n_bkg * fractions[0] / fractions[1])
    events = generate_toy(n_bkg, n_sig, seed=seed)
    return n_bkg, ratio, n_sig, events.subset(REGIONS.in_sr(events.mjj) | REGIONS.in_sb(events.mjj))


def _diagnosis(args: argparse.Namespace, test: EventTable, fractions: tuple[float, float]) -> None:
    rows = []
    for point in args.points:
        for seed in args.seeds:
            n_bkg, ratio, _, events = _point_events(point, seed, fractions)
            folds = kfold_assignments(len(events), args.folds, seed=seed)
            for batch_size in args.diagnose_batch_size:
                d = _diagnose(
                    events, folds, test, seed=seed, batch_size=batch_size,
                    epochs=args.diagnose_epochs,
                )  # fmt: skip
                d.update(n_background=n_bkg, n_sr_sb=len(events), s_over_b_sr_target=ratio)
                _print_diagnosis(d)
                rows.append(d)
    write_json_atomic(
        args.out,
        {"benchmark": "nn_training_diagnosis", "arguments": vars(args), "rows": rows,
         "provenance": provenance()},
    )  # fmt: skip


def _benchmark(args: argparse.Namespace, test: EventTable, fractions: tuple[float, float]) -> None:
    rows: list[dict[str, Any]] = []
    for point in args.points:
        for seed in args.seeds:
            n_bkg, _, n_sig, events = _point_events(point, seed, fractions)
            in_sr = REGIONS.in_sr(events.mjj)
            n_s = int(events.label[in_sr].sum())
            reference = generate_toy_background(n_bkg, seed=seed + 10_000)
            folds = kfold_assignments(len(events), args.folds, seed=seed)
            for method in args.methods:
                for config in args.configs:
                    row = _run(method, config, events, folds, test, seed=seed, reference=reference)
                    row.update(
                        n_background=n_bkg,
                        n_signal=n_sig,
                        n_sr_sb=len(events),
                        n_sr=int(in_sr.sum()),
                        s_over_b_sr=n_s / max(1, int(in_sr.sum()) - n_s),
                    )
                    rows.append(row)
                    print(
                        f"{n_bkg} seed {seed} {method} {config}: max SIC data "
                        f"{row['max_sic_data']:.2f} test {row['max_sic_test']:.2f}, "
                        f"{row['train_seconds']:.0f} s, best epoch 0 in "
                        f"{row['folds_best_epoch_0']}/{len(row['folds'])} folds",
                        flush=True,
                    )
                    write_json_atomic(
                        args.out,
                        {
                            "benchmark": "nn_training",
                            "arguments": vars(args),
                            "configs": CONFIGS,
                            "torch_threads": torch.get_num_threads(),
                            "rows": rows,
                            "table": _summary(rows),
                            "provenance": provenance(),
                        },
                    )
    print("\n".join(_summary(rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--points", nargs="+", default=["50000:0.015", "150000:0.01", "500000:0.006"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=["cwola", "idealized"])
    parser.add_argument("--configs", nargs="+", default=["old", "new"], choices=sorted(CONFIGS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/nn_training.json")
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument("--diagnose-batch-size", nargs="+", type=int, default=[1024, 256])
    parser.add_argument("--diagnose-epochs", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    fractions = _sr_fractions()
    test = _test_sample()
    (_diagnosis if args.diagnose else _benchmark)(args, test, fractions)


if __name__ == "__main__":
    main()
