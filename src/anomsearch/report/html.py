"""A static, self-contained HTML report (plots embedded) rendered from ``report.json``.

The page opens offline: no scripts, no external style sheets, images as data URIs. It shows the
answer first (local significance, p-value, fitted signal), then the spectra and score plots, the
background prediction per signal-region bin, metrics, the resolved configuration and provenance.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from anomsearch._io import write_text_atomic
from anomsearch.exceptions import DataFormatError

__all__ = ["PLOT_FILES", "render_html", "write_html_report"]

log = logging.getLogger(__name__)

#: Plot files a results directory may hold, with their captions, in display order.
PLOT_FILES: dict[str, str] = {
    "mjj_fit.png": "Selected mjj spectrum with the sideband fit (score cut applied)",
    "mjj_fit_no_cut.png": "The same without the score cut",
    "scores.png": "Anomaly-score distributions",
    "roc_sic.png": "ROC and SIC curves",
}

_STYLE = """
body { font-family: -apple-system, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } .sub { color: #666; margin-top: 0; }
.answer { display: flex; gap: 1.5em; flex-wrap: wrap; margin: 1.5em 0; }
.card { border: 1px solid #ccc; border-radius: 8px; padding: 0.8em 1.2em; min-width: 10em; }
.card .v { font-size: 1.8em; font-weight: bold; } .card .k { color: #666; font-size: 0.9em; }
.sig { border-color: #c0392b; } table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th { background: #f4f4f4; } figure { margin: 1em 0; } img { max-width: 100%; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
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
    return f'<div class="{cls}"><div class="v">{value}</div><div class="k">{label}</div></div>'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def render_html(report: dict[str, Any], *, plots: dict[str, Path] | None = None) -> str:
    """Render a report (the content of ``report.json``) as one self-contained HTML page.

    Args:
        report: the report mapping.
        plots: plot name -> PNG file to embed (see :data:`PLOT_FILES` for captions).

    Returns:
        The HTML text.
    """
    z = float(report["significance"])
    no_cut = report.get("reference", {}).get("no_cut", {})
    selection = report.get("selection", {})
    title = html.escape(report["name"])
    packages = report.get("provenance", {}).get("packages", {})
    method = report.get("config", {}).get("method", {}).get("name")
    subtitle = (
        f"anomsearch {html.escape(str(packages.get('anomsearch')))}"
        f" &middot; method {html.escape(str(method))}"
        f" &middot; background {html.escape(str(report.get('background', {}).get('name')))}"
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>anomsearch: {title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p class='sub'>{subtitle}</p>",
        "<div class='answer'>",
        _card("local significance Z", f"{z:.2f}&sigma;", highlight=z >= 3),
        _card("p0 (local)", _fmt(report["p0"])),
        _card(
            "fitted signal events in the SR",
            f"{report['mu_hat']:.0f} &plusmn; {report['mu_hat_error']:.0f}",
        ),
        _card("score-cut efficiency", _fmt(selection.get("efficiency"))),
        _card("Z without the score cut", f"{float(no_cut.get('significance', 0.0)):.2f}&sigma;"),
        "</div>",
    ]
    metrics = report.get("metrics")
    if metrics:
        parts.append("<h2>Score performance (labels known)</h2>")
        parts.append(
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
        )
    truth = report.get("truth")
    if truth:
        parts.append(
            "<p>Truth: "
            + ", ".join(f"{html.escape(k)} = {_fmt(v)}" for k, v in truth.items())
            + "</p>"
        )
    for name, path in (plots or {}).items():
        caption = PLOT_FILES.get(name, name)
        parts.append(
            f"<figure>{_image(path)}<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
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
        parts.append("<h2>Signal region</h2>")
        parts.append(_table(["mjj [TeV]", "observed", "expected background"], rows))
        parts.append(
            f"<p>Sideband fit: {background.get('n_params')}-parameter dijet function, "
            f"&chi;&sup2;/ndf = {_fmt(background.get('chi2'))}/{_fmt(background.get('ndf'))}.</p>"
        )
    parts.append("<h2>Configuration (resolved)</h2>")
    parts.append(
        f"<pre>{html.escape(yaml.safe_dump(report.get('config', {}), sort_keys=False))}</pre>"
    )
    parts.append("<h2>Provenance</h2>")
    provenance = {
        "data": report.get("data"),
        "timing": report.get("timing"),
        **report.get("provenance", {}),
    }
    parts.append(f"<pre>{html.escape(json.dumps(provenance, indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(results_dir: str | os.PathLike[str]) -> Path:
    """(Re-)write ``report.html`` in a results directory from its ``report.json`` and plots.

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
    out = write_text_atomic(results_dir / "report.html", render_html(report, plots=plots))
    log.info("wrote %s", out)
    return out
