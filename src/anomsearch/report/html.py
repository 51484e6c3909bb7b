"""A static, self-contained HTML report (plots embedded) rendered from ``report.json``.

The page opens offline: no scripts, no external style sheets, images as data URIs, the pyhf
workspaces inline. The answer comes first (local and, for a scan, global significance, p-values,
fitted signal, upper limit), then one section per stage: the signal-region fit, the window scan,
the ABCD plane, the scores and their decorrelation, the score performance when labels are known,
the statistical model (systematics and workspaces), the resolved configuration and provenance.
Every section is a ``<section id=...>`` linked from the navigation bar at the top.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from anomsearch._io import write_text_atomic
from anomsearch.exceptions import DataFormatError

__all__ = ["PLOT_FILES", "render_html", "write_html_report"]

log = logging.getLogger(__name__)

#: Plot files a results directory may hold, with their captions, in display order.
PLOT_FILES: dict[str, str] = {
    "mjj_fit.png": "Selected mjj spectrum with the sideband fit and pulls (score cut applied)",
    "mjj_fit_no_cut.png": "The same without the score cut",
    "scan_significance.png": "Local significance vs signal-region window centre",
    "scan_best_window.png": "Fits in the most significant window, one per efficiency",
    "abcd_plane.png": "The two scores in the signal region with the ABCD cuts",
    "scores.png": "Anomaly-score distributions",
    "mjj_sculpting.png": "Background mjj shape after cuts of several efficiencies (sculpting)",
    "roc_sic.png": "ROC and SIC curves",
}

#: Section of the page each plot appears in.
_PLOT_SECTION: dict[str, str] = {
    "mjj_fit.png": "fit",
    "mjj_fit_no_cut.png": "fit",
    "scan_significance.png": "scan",
    "scan_best_window.png": "scan",
    "abcd_plane.png": "abcd",
    "scores.png": "scores",
    "mjj_sculpting.png": "scores",
    "roc_sic.png": "performance",
}

#: Workspace files embedded in the statistical-model section, with their descriptions.
WORKSPACE_FILES: dict[str, str] = {
    "workspace.json": "bump hunt with the score cut",
    "workspace_no_cut.json": "bump hunt without the score cut",
    "workspace_abcd.json": "ABCD",
}

_STYLE = """
body { font-family: -apple-system, Helvetica, Arial, sans-serif; margin: 0 auto 3em;
       max-width: 1100px; color: #222; padding: 0 1em; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd;
      padding: 0.5em 0; z-index: 1; }
nav a { margin-right: 1em; color: #2c5aa0; text-decoration: none; }
h1 { margin: 0.6em 0 0.2em; } .sub { color: #666; margin-top: 0; }
.answer { display: flex; gap: 1.2em; flex-wrap: wrap; margin: 1.2em 0; }
.card { border: 1px solid #ccc; border-radius: 8px; padding: 0.8em 1.2em; min-width: 10em; }
.card .v { font-size: 1.7em; font-weight: bold; } .card .k { color: #666; font-size: 0.9em; }
.sig { border-color: #c0392b; } table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th { background: #f4f4f4; } tr.best td { background: #fdf2e9; font-weight: bold; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { color: #555; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
details { margin: 0.6em 0; } summary { cursor: pointer; } section { scroll-margin-top: 3em; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _card(key: str, value: str, *, highlight: bool = False) -> str:
    cls = "card sig" if highlight else "card"
    label = html.escape(key)
    return (
        f'<div class="{cls}" data-key="{label}"><div class="v">{value}</div>'
        f'<div class="k">{label}</div></div>'
    )


def _table(
    header: list[str], rows: list[list[str]], *, row_classes: list[str] | None = None
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    classes = row_classes or [""] * len(rows)
    body = "".join(
        (f'<tr class="{c}">' if c else "<tr>") + "".join(f"<td>{x}</td>" for x in row) + "</tr>"
        for row, c in zip(rows, classes, strict=True)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


#: Per-window fit plots of a scan (``scan_window_<index>.png``), shown folded in the scan section.
_WINDOW_PLOT = re.compile(r"^scan_window_(\d+)\.png$")


def _figures(plots: dict[str, Path], section: str) -> list[str]:
    return [
        f"<figure>{_image(path)}<figcaption>{html.escape(PLOT_FILES.get(name, name))}"
        "</figcaption></figure>"
        for name, path in plots.items()
        if not _WINDOW_PLOT.match(name) and _PLOT_SECTION.get(name, "scores") == section
    ]


def _window_figures(report: dict[str, Any], plots: dict[str, Path]) -> list[str]:
    """Each window's fits and pulls, folded, titled with its SR and best local Z."""
    rows = (report.get("scan") or {}).get("windows", [])
    parts = []
    for name, path in sorted(plots.items()):
        match = _WINDOW_PLOT.match(name)
        if not match:
            continue
        index = int(match.group(1))
        mine = [r for r in rows if r.get("window_index") == index]
        zs = [r["significance"] for r in mine if r.get("significance") is not None]
        label = f"window {index}"
        if mine:
            label += f": SR [{mine[0]['sr_low']:.2f}, {mine[0]['sr_high']:.2f}] TeV"
        if zs:
            label += f", largest local Z = {max(zs):.2f}"
        parts.append(
            f"<details class='window'><summary>{html.escape(label)}</summary><figure>"
            f"{_image(path)}<figcaption>Sideband fit and pulls at each efficiency"
            "</figcaption></figure></details>"
        )
    return parts


class _Section(NamedTuple):
    anchor: str
    title: str
    html: str


def _section(anchor: str, title: str, body: list[str]) -> _Section:
    text = f'<section id="{anchor}"><h2>{html.escape(title)}</h2>' + "\n".join(body) + "</section>"
    return _Section(anchor, title, text)


def _answer_cards(report: dict[str, Any]) -> list[str]:
    z = float(report["significance"])
    no_cut = report.get("reference", {}).get("no_cut", {})
    background = report.get("background") or {}
    fit_failed = background.get("fit_passed") is False
    cards = [
        _card("local significance Z", f"{z:.2f}&sigma;", highlight=z >= 3 and not fit_failed),
        _card("p0 (local)", _fmt(report["p0"])),
    ]
    if fit_failed:
        cards.append(
            _card(
                "sideband fit",
                f"FAILED the quality gate (p = {_fmt(background.get('gate_p_value'))} &lt; "
                f"{_fmt(background.get('min_fit_p_value'))}): the local Z is no evidence",
            )
        )
    glob = report.get("global")
    if glob:
        gz = float(glob["significance"])
        best = f"{float(glob['local_significance']):.2f}&sigma; local"
        cards += [
            _card(
                "global significance Z",
                f"{gz:.2f}&sigma; <small>(scan best: {best})</small>",
                highlight=gz >= 3,
            ),
            _card(
                f"global p-value ({glob.get('method', '')})",
                _fmt(glob["p_value"])
                + (
                    f" &plusmn; {_fmt(glob['p_value_error'], 2)}"
                    if glob.get("p_value_error") is not None
                    else ""
                ),
            ),
        ]
    cards.append(
        _card(
            "fitted signal events in the SR",
            f"{report['mu_hat']:.0f} &plusmn; {report['mu_hat_error']:.0f}",
        )
    )
    limit = report.get("limit")
    if limit:
        median = limit["expected"][2]
        expected = "" if median is None else f" <small>(exp. {median:.0f})</small>"
        cards.append(
            _card(
                f"{100 * limit['cl']:g}% CL upper limit on signal events",
                f"{limit['observed']:.0f}{expected}",
            )
        )
    cards += [
        _card("score-cut efficiency", _fmt(report.get("selection", {}).get("efficiency"))),
        _card("Z without the score cut", f"{float(no_cut.get('significance', 0.0)):.2f}&sigma;"),
    ]
    return ["<div class='answer'>", *cards, "</div>"]


def _fit_section(report: dict[str, Any], plots: dict[str, Path]) -> _Section:
    body = _figures(plots, "fit")
    background = report.get("background", {})
    if "sr_bin_edges" in background:
        edges = background["sr_bin_edges"]
        rows = [
            [
                f"{edges[i]:.2f}-{edges[i + 1]:.2f}",
                str(background["observed_sr"][i]),
                f"{background['expected_sr'][i]:.1f} &plusmn; "
                f"{background['expected_sr_uncertainty'][i]:.1f}",
            ]
            for i in range(len(edges) - 1)
        ]
        body.append(_table(["mjj [TeV]", "observed", "expected background"], rows))
        body.append(
            f"<p>Sideband fit: {background.get('n_params')}-parameter dijet function, "
            f"&chi;&sup2;/ndf = {_fmt(background.get('chi2'))}/{_fmt(background.get('ndf'))}.</p>"
        )
    return _section("fit", "Signal region", body)


def _fitted_trials_text(fitted: dict[str, Any] | None) -> str:
    """The trials fitted to the pseudo-experiments' maxima, and the extrapolated global Z."""
    if not fitted:
        return ""
    return (
        f"; fitted to their maxima the scan has {fitted['n_trials']:.1f} &plusmn; "
        f"{fitted['n_trials_error']:.1f} effective trials, which extrapolate to global Z = "
        f"{fitted['significance']:.2f} (p = {_fmt(fitted['p_value'])})"
    )


def _scan_section(report: dict[str, Any], plots: dict[str, Path]) -> _Section | None:
    scan = report.get("scan")
    if not scan:
        return None
    body = _figures(plots, "scan")
    glob = report.get("global")
    if glob:
        body.append(
            f"<p>Look-elsewhere correction ({html.escape(str(glob.get('method')))}): local "
            f"Z = {glob['local_significance']:.2f} &rarr; global Z = {glob['significance']:.2f} "
            f"(p = {_fmt(glob['p_value'])}, trials factor {_fmt(glob.get('trials_factor'))})"
            + (
                f" from {glob['n_toys']} pseudo-experiments of the whole scan, "
                f"{glob['n_exceeding']} of them at or above the observed local Z (pseudo-data: "
                f"{html.escape(str(glob.get('pseudo_data', 'generator')))}); the Sidak "
                f"approximation gives p = {_fmt(glob['sidak']['p_value'])}"
                if str(glob.get("method", "")).endswith("toys")
                else ""
            )
            + _fitted_trials_text(glob.get("fitted_trials"))
            + ".</p>"
        )
    best = scan.get("best") or {}
    rows, classes = [], []
    for r in scan.get("windows", []):
        rows.append(
            [
                f"{r['sr_low']:.2f}-{r['sr_high']:.2f}",
                _fmt(r["efficiency"]),
                _fmt(r["significance"]),
                _fmt(r["p0"]),
                _fmt(r["mu_hat"], 4),
                _fmt(r["n_selected_sr"]),
                html.escape(r["skipped"] or ""),
            ]
        )
        is_best = (r.get("window_index"), r.get("efficiency")) == (
            best.get("window_index"),
            best.get("efficiency"),
        )
        classes.append("best" if best and is_best else "")
    header = ["SR [TeV]", "efficiency", "local Z", "p0", "mu-hat", "selected in SR", "skipped"]
    body.append(_table(header, rows, row_classes=classes))
    body += _window_figures(report, plots)
    return _section("scan", "Window scan", body)


def _abcd_section(report: dict[str, Any], plots: dict[str, Path]) -> _Section | None:
    abcd = report.get("abcd")
    if not abcd:
        return None
    body = _figures(plots, "abcd")
    counts = abcd.get("counts", {})
    body.append(
        _table(
            ["A (observed)", "B", "C", "D", "A predicted", "closure ratio", "Z", "p0"],
            [
                [
                    _fmt(counts.get("A")),
                    _fmt(counts.get("B")),
                    _fmt(counts.get("C")),
                    _fmt(counts.get("D")),
                    f"{abcd['predicted_a']:.1f} &plusmn; {abcd['predicted_a_error']:.1f}",
                    f"{_fmt(abcd.get('closure_ratio'))} &plusmn; "
                    f"{_fmt(abcd.get('closure_ratio_error'))}",
                    _fmt(abcd.get("significance")),
                    _fmt(abcd.get("p0")),
                ]
            ],
        )
    )
    return _section("abcd", "ABCD", body)


def _scores_section(report: dict[str, Any], plots: dict[str, Path]) -> _Section:
    body = _figures(plots, "scores")
    deco = report.get("decorrelation")
    if deco:
        body.append(
            _table(
                ["events", "n", "dCor&sup2;(score, mjj)", "cut efficiency", "1/JSD"],
                [
                    [
                        _fmt(deco.get("events")),
                        _fmt(deco.get("n_events")),
                        _fmt(deco.get("distance_correlation_sq")),
                        _fmt(deco.get("efficiency")),
                        _fmt(deco.get("inverse_jsd")),
                    ]
                ],
            )
        )
    return _section("scores", "Scores and decorrelation", body)


def _performance_section(report: dict[str, Any], plots: dict[str, Path]) -> _Section | None:
    metrics = report.get("metrics")
    if not metrics:
        return None
    body = [
        _table(
            ["AUC", "max SIC", "signal eff. at max SIC", "background eff. at max SIC"],
            [
                [
                    _fmt(metrics.get("auc")),
                    _fmt(metrics.get("max_sic")),
                    _fmt(metrics.get("max_sic_signal_efficiency")),
                    _fmt(metrics.get("max_sic_background_efficiency")),
                ]
            ],
        )
    ]
    truth = report.get("truth")
    if truth:
        body.append(
            "<p>Truth: "
            + ", ".join(f"{html.escape(k)} = {_fmt(v)}" for k, v in truth.items())
            + "</p>"
        )
    body += _figures(plots, "performance")
    return _section("performance", "Score performance (labels known)", body)


def _model_section(report: dict[str, Any], workspaces: dict[str, Any]) -> _Section:
    systematics = report.get("config", {}).get("stats", {}).get("systematics", [])
    body = []
    if systematics:
        rows = [
            [
                html.escape(str(s.get("name"))),
                html.escape(str(s.get("sample"))),
                html.escape(str(s.get("kind", "normsys"))),
                _fmt(s.get("up")),
                _fmt(s.get("down", s.get("up"))),
                html.escape(", ".join(s.get("channels", [])) or "all"),
            ]
            for s in systematics
        ]
        body.append(_table(["systematic", "sample", "modifier", "up", "down", "channels"], rows))
    else:
        body.append(
            "<p>No normalisation systematics configured (<code>stats.systematics</code>).</p>"
        )
    background = report.get("background", {})
    if "sr_bin_edges" in background:
        body.append(
            "<p>The background prediction's fit uncertainty enters as <code>histosys</code> "
            "modifiers (eigen-variations of the sideband fit covariance)"
            + (
                ", and the choice of fit function as a further <code>histosys</code>"
                if background.get("function_choice")
                else ""
            )
            + ".</p>"
        )
    for name, spec in workspaces.items():
        modifiers = sorted(
            {
                f"{m['name']} ({m['type']})"
                for channel in spec.get("channels", [])
                for sample in channel.get("samples", [])
                for m in sample.get("modifiers", [])
            }
        )
        body.append(
            f"<details><summary>pyhf workspace <code>{html.escape(name)}</code>: "
            f"{html.escape(WORKSPACE_FILES.get(name, ''))}, {len(modifiers)} modifiers</summary>"
            f"<pre>{html.escape(json.dumps(spec, indent=1))}</pre></details>"
        )
    return _section("model", "Statistical model", body)


def render_html(
    report: dict[str, Any],
    *,
    plots: dict[str, Path] | None = None,
    workspaces: dict[str, Any] | None = None,
) -> str:
    """Render a report (the content of ``report.json``) as one self-contained HTML page.

    Args:
        report: the report mapping.
        plots: plot name -> PNG file to embed (see :data:`PLOT_FILES` for captions).
        workspaces: workspace file name -> pyhf spec to embed (see :data:`WORKSPACE_FILES`).

    Returns:
        The HTML text.
    """
    plots = plots or {}
    title = html.escape(report["name"])
    packages = report.get("provenance", {}).get("packages", {})
    method = report.get("config", {}).get("method", {}).get("name")
    subtitle = (
        f"anomsearch {html.escape(str(packages.get('anomsearch')))}"
        f" &middot; method {html.escape(str(method))}"
        f" &middot; background {html.escape(str(report.get('background', {}).get('name')))}"
    )
    headline = report.get("headline")
    if headline:
        low, high = headline["signal_region"]
        where = "the scan's most significant window" if headline["source"] == "scan" else "config"
        subtitle += (
            f" &middot; signal region [{low:.2f}, {high:.2f}] TeV at efficiency "
            f"{_fmt(headline['efficiency'])} ({where})"
        )
    sections = [
        s
        for s in (
            _fit_section(report, plots),
            _scan_section(report, plots),
            _abcd_section(report, plots),
            _scores_section(report, plots),
            _performance_section(report, plots),
            _model_section(report, workspaces or {}),
        )
        if s is not None
    ]
    provenance = {
        "data": report.get("data"),
        "timing": report.get("timing"),
        **report.get("provenance", {}),
    }
    config_text = yaml.safe_dump(report.get("config", {}), sort_keys=False)
    provenance_text = json.dumps(provenance, indent=2)
    sections.append(
        _section("config", "Configuration (resolved)", [f"<pre>{html.escape(config_text)}</pre>"])
    )
    sections.append(
        _section("provenance", "Provenance", [f"<pre>{html.escape(provenance_text)}</pre>"])
    )
    nav = (
        "<nav><a href='#answer'>Answer</a>"
        + "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections)
        + "</nav>"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>anomsearch: {title}</title><style>{_STYLE}</style></head><body>",
        nav,
        f"<section id='answer'><h1>{title}</h1>",
        f"<p class='sub'>{subtitle}</p>",
        *_answer_cards(report),
        "</section>",
        *(s.html for s in sections),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_html_report(results_dir: str | os.PathLike[str]) -> Path:
    """(Re-)write ``report.html`` in a results directory from its ``report.json``, plots and
    workspaces.

    Raises:
        DataFormatError: the directory has no readable ``report.json``.
    """
    results_dir = Path(results_dir)
    report_path = results_dir / "report.json"
    if not report_path.is_file():
        raise DataFormatError(f"no report.json in {results_dir}")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{report_path}: not valid JSON ({exc})") from exc
    for key in ("name", "significance", "p0", "mu_hat", "mu_hat_error"):
        if key not in report:
            raise DataFormatError(f"{report_path}: missing key {key!r}")
    plots = {n: results_dir / n for n in PLOT_FILES if (results_dir / n).is_file()}
    plots |= {p.name: p for p in sorted(results_dir.glob("scan_window_*.png"))}
    workspaces: dict[str, Any] = {}
    for name in WORKSPACE_FILES:
        path = results_dir / name
        if path.is_file():
            try:
                workspaces[name] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc
    page = render_html(report, plots=plots, workspaces=workspaces)
    out = write_text_atomic(results_dir / "report.html", page)
    log.info("wrote %s", out)
    return out
