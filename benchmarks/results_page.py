"""The docs results page (``docs/results.md``), rendered from the benchmarks' JSON files.

Every table on the page is read from ``benchmarks/results/*.json`` -- nothing is typed by hand --
so the page shows what the committed benchmark runs measured. ``tests/test_results_page.py``
fails when the committed page is not what this script renders.

Usage:
    python benchmarks/results_page.py            # writes docs/results.md
    python benchmarks/results_page.py --check    # exit 1 if docs/results.md is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "results.md"

HEADER = """# Results

Measured by the scripts in `benchmarks/` and rendered from their JSON files in
`benchmarks/results/` by `python benchmarks/results_page.py` (a test keeps this page in step with
the JSON). Sample sizes are next to every table; rerun a script to reproduce its table.
"""


def _fmt(value: Any, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def signal_shape(data: dict[str, Any]) -> str:
    """``signal_shape.json``: fitted shapes and the mass bias of each template."""
    samples = data["samples"]
    fits = [
        [
            f["signal"],
            _fmt(f["mass_tev"], ".1f"),
            _fmt(f["median_ratio"], ".3f"),
            _fmt(f["fraction_below_0.85"], ".3f"),
            _fmt(f["crystal_ball"]["peak"], ".3f"),
            _fmt(f["crystal_ball"]["width"], ".3f"),
            _fmt(f["gaussian"]["peak"], ".3f"),
        ]
        for f in data["fits"]
    ]
    bias = [
        [
            r["signal"],
            r["shape"],
            _fmt(r["asimov_ratio"], ".4f"),
            _fmt(r["toy_std_ratio"], ".4f"),
            f"{r['pull_mean']:+.2f} / {r['pull_std']:.2f}",
            _fmt(r["asimov_yield_ratio"], ".3f"),
        ]
        for r in data["bias"]
    ]
    return "\n\n".join(
        [
            "## Signal shape of dijet resonances (`benchmarks/signal_shape.py`)",
            "Fits to `mjj / mass` of the package's Pythia resonances (10k events each, 5k at 3.0 "
            "and 4.0 TeV): median, fraction below 0.85, the crystal ball's core peak and width, "
            "and a Gaussian's peak.",
            _table(
                ["signal", "mass (TeV)", "median", "< 0.85", "CB peak", "CB width", "Gauss peak"],
                fits,
            ),
            f"Resonance-mass fit on Asimov spectra ({samples['n_signal']:.0f} signal on "
            f"{samples['n_background_in_fit']:.0f} QCD events, {samples['fit_range']}; "
            f"{samples['toys']} Poisson toys for the spread and pulls): fitted / true mass, and "
            "the fitted yield over the signal in the fit range.",
            _table(["signal", "template", "mass ratio", "toy spread", "pulls", "yield"], bias),
        ]
    )


def qstar_boxes(data: dict[str, Any]) -> str:
    """``qstar_boxes.json``: the blind q* boxes."""
    rows = []
    for b in data["boxes"]:
        best = b["best"]
        n = (b.get("measured") or {}).get("n_signal") or {}
        rows.append(
            [
                b["box"],
                f"{b['truth_window']['s_over_sqrt_b']:.2f}",
                _fmt(b["inclusive_local_z_truth_window"]),
                f"[{best['sr_low']:.1f}, {best['sr_high']:.1f}] eff {best['efficiency']:g} "
                f"Z {best['significance']:.2f}",
                _fmt((b.get("global") or {}).get("p_value"), ".3g"),
                "yes" if b.get("claimed") else "no",
                _fmt(b["mass_ratio"], ".3f"),
                f"{n['value']:.0f} +- {n['uncertainty']:.0f} ({b['truth']['n_signal']})"
                if n
                else "-",
            ]
        )
    samples = data["samples"]
    return "\n\n".join(
        [
            "## Excited-quark black boxes searched blind (`benchmarks/qstar_boxes.py`)",
            f"{samples['n_background_per_box']} Pythia QCD events per box plus the q* events, "
            f"searched with `{samples['config']}`; truth S/sqrt(B) in the best 0.4 TeV window, "
            "the inclusive trial's local Z there, the scan's best entry, the global p-value, the "
            "answer's mass over the truth and its signal count (truth in brackets).",
            _table(
                [
                    "box",
                    "truth S/sqrt(B)",
                    "inclusive Z",
                    "best entry",
                    "global p",
                    "claimed",
                    "mass / truth",
                    "n_signal",
                ],
                rows,
            ),
        ]
    )


def _measured(value: dict[str, Any] | None, pull: float | None) -> str:
    if not value:
        return "-"
    text = f"{value['value']:.0f} +- {value['uncertainty']:.0f}"
    return text if pull is None else f"{text} ({pull:+.1f})"


def blind_boxes(data: dict[str, Any]) -> str:
    """``blind_boxes.json``: the three black boxes of analyses/blackbox/."""
    rows = []
    for b in data["boxes"]:
        best, truth, pulls = b["best"], b["truth"], b.get("measured_pulls") or {}
        measured = b.get("measured") or {}
        daughters = measured.get("daughter_masses_gev") or []
        truth_text = (
            f"{truth['resonance_mass'] / 1000:g} TeV, {truth['n_signal']} events, daughters "
            + ", ".join(f"{m:.0f}" for m in truth["daughter_masses"])
            if truth.get("resonance_mass")
            else "no signal"
        )
        rows.append(
            [
                b["box"],
                truth_text,
                f"{b['truth_window']['s_over_sqrt_b']:.2f}",
                f"[{best['sr_low']:.1f}, {best['sr_high']:.1f}] eff {best['efficiency']:g} "
                f"Z {best['significance']:.2f}",
                _fmt((b.get("global") or {}).get("p_value"), ".3g"),
                ("claimed" if b["claimed"] else "no claim")
                + (" (right)" if b["detection_correct"] else " (wrong)"),
                _measured(measured.get("resonance_mass_gev"), pulls.get("resonance_mass")),
                _measured(measured.get("n_signal"), pulls.get("n_signal")),
                "; ".join(
                    _measured(d, pulls.get(f"daughter_mass_{k}")) for k, d in enumerate(daughters)
                )
                or "-",
            ]
        )
    samples = data["samples"]
    return "\n\n".join(
        [
            "## Black boxes searched blind (`benchmarks/blind_boxes.py`, `analyses/blackbox/`)",
            f"{samples['n_background_per_box']} Pythia QCD events per box (disjoint slices) plus "
            f"the signal, searched with `{samples['config']}` (Sidak global p-value). The "
            "measurements (GeV; pulls against the truth in brackets) are shown also where the "
            "answer withholds them.",
            _table(
                [
                    "box",
                    "truth",
                    "truth S/sqrt(B)",
                    "best entry",
                    "global p",
                    "answer",
                    "mass",
                    "n_signal",
                    "daughters",
                ],
                rows,
            ),
        ]
    )


def jet_mass_response(data: dict[str, Any]) -> str:
    """``jet_mass_response.json``: the answer's jet-mass peak over the daughter's mass, before
    and after the response correction."""
    rows = [
        [
            r["production"],
            r["daughter"],
            f"{r['truth_gev']:.0f}",
            f"{r['peak_gev']:.1f} +- {r['peak_error_gev']:.1f}",
            f"{r['ratio']:.3f}",
            f"{r['corrected_gev']:.1f}",
            f"{r['corrected_ratio']:.3f}",
        ]
        for r in data["rows"]
    ]
    calibration = ", ".join(data["samples"]["calibration"])
    fit, default = data["fit"], data["package_default"]
    return "\n\n".join(
        [
            "## Jet-mass response of the Pythia chain (`benchmarks/jet_mass_response.py`)",
            f"Peak of the lighter and heavier jet mass of "
            f"{data['samples']['n_events_per_production']} signal events per production (the "
            f"answer's estimator: {data['samples']['estimator']}) against the generated daughter "
            f"mass, and the particle mass the answer makes of it. Fit of m_peak^2 = s^2 m^2 + "
            f"delta to the calibration productions ({calibration}): s = {fit['scale']:.4f}, "
            f"delta = {fit['offset_gev2']:.0f} +- {fit['offset_error_gev2']:.0f} GeV^2 (the "
            f"answer's default: {default['scale']}, {default['offset_gev2']:.0f} +- "
            f"{default['offset_error_gev2']:.0f}). Largest deviation on the calibration "
            f"productions {data['largest_calibration_deviation']:.3f} before and "
            f"{data['largest_calibration_deviation_corrected']:.3f} after the correction; the "
            f"answer's jet-mass-scale uncertainty: {default['jet_mass_scale_uncertainty']}.",
            _table(
                [
                    "production",
                    "daughter",
                    "mass (GeV)",
                    "jet-mass peak (GeV)",
                    "ratio",
                    "corrected (GeV)",
                    "ratio",
                ],
                rows,
            ),
            *_low_statistics(data),
        ]
    )


def _low_statistics(data: dict[str, Any]) -> list[str]:
    """The estimator on small signal samples (``--subsample-sizes``), if measured."""
    low = data.get("low_statistics") or []
    if not low:
        return []
    text = (
        f"The same estimator on {data['samples']['n_subsamples']} random subsamples of each size "
        f"(signal alone, from the first {data['samples']['subsample_pool']} events) against the "
        "whole pool's peak: a skewed peak's tails are hardly constrained by ~100 events, and "
        "its mode moves up."
    )
    rows = [
        [
            r["production"],
            r["daughter"],
            str(r["n_signal"]),
            f"{r['mean_offset_gev']:+.1f} +- {r['mean_offset_error_gev']:.1f}",
            f"{r['scatter_gev']:.1f}",
            f"{r['median_error_gev']:.1f}",
            f"{r['pull_mean']:+.2f} / {r['pull_width']:.2f}",
        ]
        for r in low
    ]
    header = ["production", "daughter", "events", "offset (GeV)", "scatter", "error", "pulls"]
    return [text, _table(header, rows)]


def _band(b: dict[str, Any] | None) -> str:
    if not b or b.get("median") is None:
        return "-"
    return f"{b['median']:.1f} ({b['lo']:.1f}-{b['hi']:.1f})"


def injection_scan(data: dict[str, Any]) -> str:
    """``injection_scan_<method>.json``: Z against the injected signal, and the pulls."""
    samples = data["samples"]
    rows, pulls = [], []
    for n, s in data["per_injection"].items():
        z = s["local_z_truth_window"]
        rows.append(
            [
                n,
                _band(z.get("1")),
                _band(z.get("0.1")),
                _band(z.get("0.01")),
                _band(s["global_z"]),
                f"{s['fraction_right_window']:.2f}",
                f"{s['fraction_claimed']:.2f}",
            ]
        )
        p = s["pulls_right_window"]
        pulls.append(
            [n]
            + [
                f"{p[k]['mean']:+.2f} / {_fmt(p[k]['width'])} ({p[k]['n']})" if k in p else "-"
                for k in ("n_signal", "resonance_mass", "daughter_mass_0", "daughter_mass_1")
            ]
        )
    crossings = [
        [what, _fmt(v["3 sigma"], ".0f"), _fmt(v["5 sigma"], ".0f")]
        for what, v in data["crossings"].items()
    ]
    return "\n\n".join(
        [
            f"## Injection scan, {samples['method']} (`benchmarks/injection_scan.py`)",
            f"{samples['n_background']} Pythia QCD events plus the injected {samples['signal']} "
            f"events, seeds {samples['seeds']}, searched with `{samples['config']}`: median "
            "(16-84%) local Z in the truth window [3.3, 3.7] TeV per cut efficiency (1 = the "
            "inclusive bump hunt), global Z of the scan's best entry (Sidak), the fraction of "
            "datasets whose best window holds the resonance and the fraction claimed.",
            _table(
                [
                    "injected",
                    "local Z, no cut",
                    "local Z, 10%",
                    "local Z, 1%",
                    "global Z",
                    "right window",
                    "claimed",
                ],
                rows,
            ),
            "Injection at which the median reaches 3 and 5 sigma (linear interpolation):",
            _table(["statistic", "3 sigma", "5 sigma"], crossings),
            "Pulls of the answer (mean / width, datasets whose best window holds the resonance):",
            _table(["injected", "n_signal", "mass", "daughter (light)", "daughter (heavy)"], pulls),
        ]
    )


def lhco_rnd(data: dict[str, Any]) -> str:
    """``lhco_rnd.json``: the R&D benchmark for every method (analyses/lhco_rnd/)."""
    samples = data["samples"]
    rows = []
    for r in data["methods"]:
        truth = r.get("truth") or {}
        rows.append(
            [
                r["method"],
                _fmt(r["max_sic"]),
                _fmt(r["auc"], ".3f"),
                _fmt(r["local_z"]),
                f"{r['mu_hat']:.0f} +- {r['mu_hat_error']:.0f} "
                f"({truth.get('n_signal_sr_selected', '-')})",
                _fmt(r["inverse_jsd"], ".0f"),
                f"{r['seconds']:.0f} s",
                _fmt(r["published_max_sic"]),
            ]
        )
    where = (
        "the LHC Olympics R&D features file"
        if samples["data"] != "pythia"
        else (
            f"the Pythia R&D-like set: {samples['n_background']} QCD events "
            f"({samples['n_background_sr']} in the SR) + {samples['n_inject']} injected W' "
            f"(3.5 TeV -> X 500, Y 100 GeV); idealized reference "
            f"{samples['n_idealized_reference_sr']} SR QCD events, supervised reference "
            f"{samples['n_supervised_reference']} W', simulation {samples['n_simulation']} events"
        )
    )
    return "\n\n".join(
        [
            "## LHC Olympics R&D benchmark, every method (`benchmarks/lhco_rnd.py`, "
            "`analyses/lhco_rnd/`)",
            f"Each config of `analyses/lhco_rnd/` through the whole chain on {where}: max SIC in "
            "the SR, AUC, local Z after the 1% cut, fitted signal (true selected signal in "
            "brackets), 1/JSD of the background mjj shape at the cut, wall time, and the "
            "published max SIC (arXiv:2109.00546, LHCO R&D, 1000 injected).",
            _table(
                [
                    "method",
                    "max SIC",
                    "AUC",
                    "local Z",
                    "fitted signal",
                    "1/JSD",
                    "wall",
                    "published max SIC",
                ],
                rows,
            ),
        ]
    )


def signal_recovery(data: dict[str, Any]) -> str:
    """``signal_recovery.json``: pulls of the answer on injections (and, where the summary has
    them, of the claimed datasets alone: the winner's curse)."""
    samples = data["samples"]
    quantities = ("n_signal", "resonance_mass", "daughter_mass_0", "daughter_mass_1")
    rows, claimed = [], []
    for e in data["summary"]:
        cells = [
            f"{e[q]['mean']:+.2f} / {e[q]['std']:.2f} ({e[q]['n']})"
            if e[q]["std"] is not None
            else "-"
            for q in quantities
        ]
        rows.append(
            [
                str(e["n_injected"]),
                str(e["n_datasets"]),
                f"{e['median_local_z']:.2f}",
                f"{e['fraction_claimed']:.2f}",
                *cells,
            ]
        )
        if all("claimed" in e[q] for q in quantities):
            claimed.append(
                [str(e["n_injected"])]
                + [
                    f"{c['mean']:+.2f} ({c['n']})" if c["mean"] is not None else "-"
                    for c in (e[q]["claimed"] for q in quantities)
                ]
            )
    parts = [
        "## Recovery of the answer on injections (`benchmarks/signal_recovery.py`)",
        f"Toy data ({samples['n_background']} background events, feature-mjj correlation "
        f"`mass_mjj_power` {samples['mass_mjj_power']}), `{Path(samples['config']).name}` "
        f"with `method.name: {samples.get('method', 'cwola')}`, "
        + (
            f"a background-only reference of {samples['n_reference_background']} events "
            "(the spurious-signal test's and the daughters' template correction's), "
            if samples.get("n_reference_background")
            else ""
        )
        + "the whole chain and `anomsearch submit` per dataset: pulls (measured - truth) / "
        "uncertainty, mean / width (number of pulls; goal: |mean| < 0.2, width 0.8-1.2). "
        + (
            "The injections of one seed share their background (`--shared-backgrounds`): their "
            "pulls are not independent."
            if samples.get("shared_backgrounds", True)
            else "Every dataset has its own background and signal events."
        )
        + " Every dataset's pull is plotted next to the JSON (same name, `.png`).",
        _table(["injected", "datasets", "median local Z", "claimed", *quantities], rows),
    ]
    if claimed:
        parts += [
            "The claimed datasets alone, mean pull (number): an excess picked for its size "
            "would measure high here (the winner's curse).",
            _table(["injected", *quantities], claimed),
        ]
    return "\n\n".join(parts)


def count_calibration(data: dict[str, Any]) -> str:
    """``count_calibration_*.json``: pulls of the count's fit at the true mass."""
    samples = data["samples"]
    rows = [
        [
            str(e["n_inject"]),
            str(e["n_datasets"]),
            f"{e['median_stat_error']:.0f}",
            f"{e['pull_stat']['mean']:+.2f} / {e['pull_stat']['std']:.2f}",
            f"{e['median_error']:.0f}",
            f"{e['pull']['mean']:+.2f} / {e['pull']['std']:.2f}",
            f"{e['width_standard_error']:.2f}",
        ]
        for e in data["summary"]
    ]
    return "\n\n".join(
        [
            "## Calibration of the signal count (`benchmarks/count_calibration.py`)",
            f"{samples['source']} datasets of {samples['n_background']} background events that "
            f"share no event, `{Path(samples['config']).name}`'s binning and shape: the answer's "
            f"count (the uncut spectrum's signal + background fit) at the true mass "
            f"{samples['true_mass_tev']} TeV; pulls mean / width with the statistical error and "
            "with the shape systematic added (goal ~0 / ~1)."
            + (
                " The injections use the same background slices."
                if samples.get("backgrounds_shared_across_injections")
                else ""
            ),
            _table(
                [
                    "injected",
                    "datasets",
                    "stat. error",
                    "stat. pulls",
                    "total error",
                    "total pulls",
                    "width s.e.",
                ],
                rows,
            ),
        ]
    )


def global_calibration(data: dict[str, Any]) -> str:
    """``global_calibration*.json``: the data-driven global p-value."""
    s = data["summary"]
    rows = [
        ["datasets", str(s["n_datasets"])],
        ["pseudo-experiments per dataset", str(s["n_toys"])],
        [
            "mean max local Z: pseudo-data / datasets",
            f"{s['mean_toy_max_z']:.2f} / {s['mean_data_max_z']:.2f}",
        ],
        [
            "mean global p: pseudo-data / exchangeable truth",
            f"{s['mean_p_data']:.2f} / {s['mean_p_true']:.2f}",
        ],
        ["KS p of the global p against uniform", f"{s['ks_p_data_uniform']:.2g}"],
        ["fraction with global Z > 2", f"{s['fraction_global_z_above_2']:.3f}"],
    ]
    if "local_fraction_above" in s:  # every (window, efficiency) entry's local Z
        rows.append(
            [
                f"local Z of all {s['n_local_entries']} entries: fraction above (asymptotic); "
                "KS p of the positive ones' p-values",
                ", ".join(
                    f"Z > {t}: {v[0]:.4f}{_bootstrap(s, t)} ({v[1]:.4f})"
                    for t, v in s["local_fraction_above"].items()
                )
                + f"; {s['ks_p_local_given_positive']:.2g}",
            ]
        )
    if "ks_p_rank_uniform" in s:  # calibrations written since the rank and fitted p-values
        rows += [
            [
                "rank among the pseudo-data (0 = above all): counts",
                " ".join(str(c) for c in s["rank_counts"])
                + f" (chi2 p {s['chi2_p_ranks_uniform']:.2g})",
            ],
            [
                "randomised rank p: mean (0.5 if calibrated), KS p",
                f"{s['mean_p_rank']:.3f}, {s['ks_p_rank_uniform']:.2g}",
            ],
            [
                "fitted-trials p: mean, KS p",
                f"{s['mean_p_fitted']:.3f}, {s['ks_p_fitted_uniform']:.2g}",
            ],
            [
                "fitted-trials p: fraction with global Z > 2 (expected 0.023 +- binomial)",
                f"{s['fraction_fitted_global_z_above_2']:.3f} "
                f"(0.023 +- {s['fraction_fitted_global_z_above_2_error']:.3f})",
            ],
        ]
    return _table(
        [
            f"toy, {data['n_background']} events, mass_mjj_power {data['mass_mjj_power']}, "
            f"donors {data.get('donors', 'blocks')}, SR exclusion {data['exclusion']}",
            "",
        ],
        rows,
    )


def _bootstrap(summary: dict[str, Any], threshold: str) -> str:
    """`` +- error`` of a local fraction (bootstrap over datasets) where the summary has it."""
    error = (summary.get("local_fraction_above_std") or {}).get(threshold)
    return "" if error is None else f" +- {error:.4f}"


def pythia_global_calibration(data: dict[str, Any]) -> str:
    """``pythia_global_calibration_<donors>.json``: global p-values on Pythia background."""
    s = data["summary"]
    local = ", ".join(
        f"Z > {t}: {v[0]:.3f}{_bootstrap(s, t)} (asymptotic {v[1]:.3f})"
        for t, v in s["local_fraction_above"].items()
    )
    rows = [
        ["independent subsets (events each)", f"{s['n_subsets']} ({data['subset_size']})"],
        ["pseudo-datasets per subset (pooled)", f"{data['n_toys']} ({s['n_toys_pooled']})"],
        [
            "median max local Z: subsets / pseudo-data (KS p)",
            f"{s['median_data_max_z']:.2f} / {s['median_toy_max_z']:.2f} "
            f"({s['ks_p_toys_vs_data_max_z']:.3g})",
        ],
        [
            "mean global p: own toys / pooled toys / Sidak / exchangeable truth",
            f"{s['mean_p_data']:.2f} / {s['mean_p_pooled']:.2f} / {s['mean_p_sidak']:.2f} / "
            f"{s['mean_p_true']:.2f}",
        ],
        [
            "KS p against uniform: own toys / pooled / Sidak",
            f"{s['ks_p_data_uniform']:.2g} / {s['ks_p_pooled_uniform']:.2g} / "
            f"{s['ks_p_sidak_uniform']:.2g}",
        ],
        [
            "fraction with global Z > 2 (expected 0.023): pooled / Sidak",
            f"{s['fraction_global_z_above_2_pooled']:.3f} / "
            f"{s['fraction_global_z_above_2_sidak']:.3f}",
        ],
        ["fraction with max local Z > 3", f"{s['fraction_max_local_z_above_3']:.3f}"],
        *(
            [
                [
                    "fitted-trials p: mean, KS p, fraction with global Z > 2",
                    f"{s['mean_p_fitted']:.3f}, {s['ks_p_fitted_uniform']:.2g}, "
                    f"{s['fraction_global_z_above_2_fitted']:.3f}",
                ]
            ]
            if "mean_p_fitted" in s
            else []
        ),
        [
            "trials: Sidak / fitted to the pseudo-data / fitted to the subsets",
            f"{s['n_trials_sidak']:.0f} / {s['n_trials_fitted_toys'][0]:.1f} +- "
            f"{s['n_trials_fitted_toys'][1]:.1f} / {s['n_trials_fitted_subsets'][0]:.1f} +- "
            f"{s['n_trials_fitted_subsets'][1]:.1f}",
        ],
        [f"local Z of all {s['n_local_entries']} (window, efficiency) entries", local],
    ]
    return "\n\n".join(
        [
            "## Global p-value on Pythia background (`benchmarks/pythia_global_calibration.py`)",
            f"`{data['config']}` on disjoint slices of the Pythia QCD production, "
            f"`scan.global_pseudo_donors: {data['donors']}`.",
            _table(["", ""], rows),
        ]
    )


def scan_calibration(data: dict[str, Any]) -> str:
    """``scan_calibration.json``: local and max-local Z on background-only datasets."""
    rows = [
        [
            f"{t['z']:.0f}",
            f"{t['local_fraction']:.4f} +- {t['local_error']:.4f}",
            f"{t['local_expected']:.4f}",
            f"{t['max_fraction']:.3f} +- {t['max_error']:.3f}",
            f"{t['max_sidak']:.3f}",
        ]
        for t in data["thresholds"]
    ]
    return "\n\n".join(
        [
            "## Window scan on background-only data (`benchmarks/scan_calibration.py`)",
            f"{data['n_datasets']} toy datasets, {data['entries_per_dataset']} (window, "
            f"efficiency) entries each; KS p of the positive local p-values "
            f"{data['ks_local_p_given_positive']:.2f}.",
            _table(
                ["z", "P(local Z > z)", "asymptotic", "P(max Z > z)", "Sidak"],
                rows,
            ),
        ]
    )


def decorrelation(data: dict[str, Any]) -> str:
    """``sensitivity_decorrelation*.json``: sculpting and sensitivity of CWoLa hunting, CATHODE and
    DisCo side by side on the same Pythia datasets."""

    def cell(v: list[float] | None, spec: str) -> str:
        return "-" if v is None else f"{v[0]:{spec}} ({v[1]:{spec}}-{v[2]:{spec}})"

    args = data["arguments"]
    rows = [
        [
            str(s["n_inject"]),
            f"{100 * s['s_over_b_sr']:.2f}%",
            s["config"],
            str(s["n_seeds"]),
            cell(s["max_sic"], ".1f"),
            cell(s["local_z_0.1"], ".2f"),
            cell(s["local_z_0.01"], ".2f"),
            " / ".join(str(s[f"fit_failed_{e}"]) for e in ("0.1", "0.01", "0.001")),
            cell(s["inverse_jsd_0.1"], ".0f"),
            cell(s["dcor2_background"], ".4f"),
        ]
        for s in data["summary"]
    ]
    return "\n\n".join(
        [
            "## Decorrelated alternatives on Pythia data (`benchmarks/sensitivity.py`)",
            f"{args['n_background']} QCD events of the benchmark production plus the injected "
            f"W' events; DisCo trained on {args['n_reference_signal']} other W' and "
            f"{args['n_reference_background']} other QCD events; {args['folds']} folds; "
            f"resonance shape {args.get('signal_shape', 'gaussian')}; median "
            "(16-84%) over seeds (one QCD sample: the seeds vary the injected events, the folds "
            "and the training). Sculpting of the background (cut per fold): 1/JSD of the "
            "selected vs all background mjj at 10% background efficiency and dCor^2(score, mjj).",
            _table(
                [
                    "injected",
                    "S/B in SR",
                    "method:classifier:features",
                    "seeds",
                    "max SIC",
                    "local Z 10%",
                    "local Z 1%",
                    "failed fits 10/1/0.1%",
                    "1/JSD 10%",
                    "dCor^2",
                ],
                rows,
            ),
        ]
    )


def sculpted_mass_bias(data: dict[str, Any]) -> str:
    """``sculpted_mass_bias.json``: the mass pulls of the answer's profile and its variants, and
    the spurious signal the score cut makes from the selected background alone."""
    summary = data["summary"]
    variants = list(next(iter(summary.values()))["mass_pulls"])
    pulls = [
        [name]
        + [f"{p['mean']:+.2f} / {p['width']:.2f} ({p['n']})" for p in s["mass_pulls"].values()]
        for name, s in summary.items()
    ]
    masses = list(next(iter(summary.values()))["spurious"])
    spurious = [
        [name]
        + [
            f"{v['mean']:+.1f} +- {v['standard_error']:.1f} ({v['mean_fit_error']:.0f})"
            for v in s["spurious"].values()
        ]
        + [" / ".join(f"{q:.3f}" for q in s["background_only_mass"]["quantiles_16_50_84"] or [])]
        for name, s in summary.items()
    ]
    return "\n\n".join(
        [
            "## The resonance mass and the score cut's sculpting "
            "(`benchmarks/sculpted_mass_bias.py`)",
            "Kept `signal_recovery.py` runs (toy; the injected events after the comma, 'all' "
            f"pooled; truth {data['samples']['truth_mass']} TeV). Mass pulls (statistical errors; "
            "mean / width, n) of the answer's profile, two "
            "other background models for it, and the answer's profile with the template at the "
            f"toy's own relative width ({data['samples']['truth_relative_width']}):",
            _table(["runs, injected", *variants], pulls),
            "The same fits on the selected background alone (labels from the master key): "
            "the signal a signal + background fit finds at each mass (mean +- its standard error "
            "over the runs, the mean fit error in brackets), and where the profile puts a "
            "resonance (16 / 50 / 84%, TeV):",
            _table(
                ["runs, injected", *(f"S at {m} TeV" for m in masses), "profile minimum"], spurious
            ),
        ]
    )


def selected_signal_shape(data: dict[str, Any]) -> str:
    """``selected_signal_shape.json``: the resonance's mjj after the score cut against before."""
    s = data["summary"]

    def mean(key: str, spec: str = ".3f") -> str:
        return f"{format(s[key]['mean'], spec)} +- {format(s[key]['error'], spec.lstrip('+'))}"

    rows = [
        [
            "signal fraction in the truth window, all / selected",
            f"{mean('window_fraction_all')} / {mean('window_fraction_selected')}",
        ],
        [
            "selection efficiency of the signal in / below the window",
            f"{mean('efficiency_in_window')} / {mean('efficiency_below_window')}",
        ],
        [
            "mass of all signal - truth, W' tail / default shape (GeV)",
            f"{mean('mass_all_minus_truth_wprime_tail_gev', '+.1f')} / "
            f"{mean('mass_all_minus_truth_default_gev', '+.1f')}",
        ],
        [
            "mass shift by the cut, W' tail / default shape (GeV)",
            f"{mean('mass_shift_by_cut_wprime_tail_gev', '+.1f')} / "
            f"{mean('mass_shift_by_cut_default_gev', '+.1f')}",
        ],
        [
            "answer's mass - truth (GeV), its pull",
            f"{mean('answer_mass_minus_truth_gev', '+.1f')}, {mean('answer_mass_pull', '+.2f')}",
        ],
    ]
    return "\n\n".join(
        [
            "## The resonance after the score cut (`benchmarks/selected_signal_shape.py`)",
            f"The W'(3.5 TeV) signal of {s['n_boxes']} injection-scan boxes (injections "
            f"{', '.join(str(n) for n in data['inject'])}, CWoLa, best window = truth window), "
            "its mjj before and after the answer's score cut (labels from the master keys); "
            "mean over the boxes +- its standard error. Masses: binned likelihood fits of the "
            "signal alone with the shape fixed.",
            _table(["quantity", "mean +- error"], rows),
        ]
    )


def pull_decomposition(data: dict[str, Any]) -> str:
    """``pull_decomposition_*.json``: the answer's pulls with the full and the per-dataset error,
    the mean offset against the common systematic."""
    samples = data["samples"]
    rows = [
        [
            str(e["n_injected"]),
            e["quantity"],
            str(e["n"]),
            f"{e['pull_full']['mean']:+.2f} / {e['pull_full']['width']:.2f}",
            f"{e['pull_per_dataset']['mean']:+.2f} / {e['pull_per_dataset']['width']:.2f}",
            f"{e['mean_offset']:+.1f} +- {e['mean_offset_error']:.1f}",
            f"{e['median_common_systematic']:.1f}",
        ]
        for e in data["summary"]
    ]
    return "\n\n".join(
        [
            "## Which errors the pulls test (`benchmarks/pull_decomposition.py`)",
            f"{samples['n_boxes']} injection-scan boxes ({', '.join(samples['methods'])}, "
            f"seeds {min(samples['seeds'])}-{max(samples['seeds'])}): pulls mean / width with "
            "the answer's full error and with its per-dataset part alone (statistics; for a "
            "daughter also the template and threshold variations); the common part (the "
            "count's and the mass's resonance-shape systematic, a daughter's jet-mass scale and "
            "underlying event) is the same for every dataset and is judged by the mean offset "
            "(measured - truth; GeV, events for the count) it should cover.",
            _table(
                [
                    "injected",
                    "quantity",
                    "n",
                    "pull, full error",
                    "pull, per-dataset error",
                    "mean offset",
                    "median common systematic",
                ],
                rows,
            ),
        ]
    )


SECTIONS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("signal_shape.json", signal_shape),
    ("qstar_boxes.json", qstar_boxes),
    ("blind_boxes.json", blind_boxes),
    ("jet_mass_response.json", jet_mass_response),
    ("lhco_rnd.json", lhco_rnd),
    ("injection_scan_*.json", injection_scan),
    ("selected_signal_shape.json", selected_signal_shape),
    ("sculpted_mass_bias.json", sculpted_mass_bias),
    ("pull_decomposition_*.json", pull_decomposition),
    ("signal_recovery*.json", signal_recovery),
    ("count_calibration_*.json", count_calibration),
    ("scan_calibration.json", scan_calibration),
    ("pythia_global_calibration_*.json", pythia_global_calibration),
    ("sensitivity_decorrelation*.json", decorrelation),
]


def _with_source(text: str, path: Path) -> str:
    """A section with the JSON it was rendered from named under its heading (several files of
    one benchmark otherwise give sections with the same heading)."""
    heading, _, rest = text.partition("\n\n")
    return f"{heading}\n\nFrom `benchmarks/results/{path.name}`.\n\n{rest}"


def render() -> str:
    """The whole page."""
    parts = [HEADER.rstrip()]
    for pattern, section in SECTIONS:
        for path in sorted(RESULTS.glob(pattern)):
            parts.append(_with_source(section(json.loads(path.read_text())), path))
    calibrations = sorted(RESULTS.glob("global_calibration*.json"))
    if calibrations:
        parts.append(
            "## Data-driven global p-value on background-only toys "
            "(`benchmarks/global_calibration.py`)"
        )
        parts += [global_calibration(json.loads(p.read_text())) for p in calibrations]
    return "\n\n".join(parts).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args()
    page = render()
    if args.check:
        current = PAGE.read_text() if PAGE.is_file() else ""
        if current != page:
            print(f"{PAGE} is out of date: run python benchmarks/results_page.py")
            sys.exit(1)
        return
    tmp = PAGE.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(PAGE)
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main()
