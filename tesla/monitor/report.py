"""Presenting a ``MonitorReport``: a self-contained HTML page and plain text for the terminal."""

from __future__ import annotations

import html
import math
from pathlib import Path

from tesla.monitor.drift import FeatureDrift, Histogram
from tesla.monitor.monitor import MonitorReport
from tesla.report import html as page_html

__all__ = ["bars_svg", "report_html", "report_text", "write_report"]

_REF, _LIVE = "#8fa8c8", "#e07b39"


def _verdict(f: FeatureDrift) -> str:
    return "DRIFT" if f.drifted else ("n/a" if f.drifted is None else "ok")


def bars_svg(hist: Histogram, *, width: int = 620, height: int = 220) -> str:
    """Reference and live shares side by side per bin or category, as inline SVG."""
    pad_l, pad_b, n = 44, 56 if hist.edges is None else 30, max(len(hist.labels), 1)
    top = max([*hist.reference, *hist.live, 1e-9])
    slot = (width - pad_l - 10) / n
    bar = max(slot * 0.4, 1.0)

    def y(v: float) -> float:  # bars start below the legend row
        return 22 + (1 - v / top) * (height - pad_b - 22)

    parts = []
    for i, (r, lv) in enumerate(zip(hist.reference, hist.live)):
        x = pad_l + i * slot + slot * 0.1
        parts.append(f"<rect x='{x:.1f}' y='{y(r):.1f}' width='{bar:.1f}' height='{y(0) - y(r):.1f}' fill='{_REF}'/>")
        parts.append(f"<rect x='{x + bar:.1f}' y='{y(lv):.1f}' width='{bar:.1f}' height='{y(0) - y(lv):.1f}' "
                     f"fill='{_LIVE}'/>")
        if hist.edges is None:  # categories get a label each; numeric bins get the axis range below
            label = html.escape(hist.labels[i][:14])
            cx, cy = x + bar, height - pad_b + 12
            parts.append(f"<text x='{cx:.1f}' y='{cy}' font-size='10' text-anchor='end' "
                         f"transform='rotate(-35 {cx:.1f} {cy})'>{label}</text>")
    axis = (f"<line x1='{pad_l}' y1='{y(0):.1f}' x2='{width - 10}' y2='{y(0):.1f}' stroke='#444'/>"
            f"<text x='4' y='26' font-size='10'>{top:.0%}</text>")
    if hist.edges is not None:
        axis += (f"<text x='{pad_l}' y='{height - 8}' font-size='11'>{hist.edges[0]:.4g}</text>"
                 f"<text x='{width - 10}' y='{height - 8}' font-size='11' "
                 f"text-anchor='end'>{hist.edges[-1]:.4g}</text>")
    legend = (f"<rect x='{width - 170}' y='4' width='10' height='10' fill='{_REF}'/>"
              f"<text x='{width - 156}' y='13' font-size='11'>reference</text>"
              f"<rect x='{width - 90}' y='4' width='10' height='10' fill='{_LIVE}'/>"
              f"<text x='{width - 76}' y='13' font-size='11'>live</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"
            f"{axis}{''.join(parts)}{legend}</svg>")


def _drift_table(features: list[FeatureDrift]) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("feature", "type", "test", "live rows", "missing ref/live",
                                             "verdict", "numbers"))
    rows = []
    for f in features:
        style = " style='background:#fde2d8'" if f.drifted else ""
        rows.append(f"<tr{style}><th style='text-align:left'>{html.escape(f.name)}</th><td>{f.feature_type}</td>"
                    f"<td>{f.test}</td><td>{f.live_rows}</td>"
                    f"<td>{f.missing_reference:.1%} / {f.missing_live:.1%}</td><td>{_verdict(f)}</td>"
                    f"<td style='text-align:left'>{html.escape(f.detail)}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _operations(report: MonitorReport) -> str:
    rate = "n/a" if report.error_rate is None else f"{report.error_rate:.2%}"
    rows = {**{k: {"value": f"{v:.2f} ms"} for k, v in report.latency_ms.items()},
            "error rate": {"value": f"{rate} ({report.errors} failed requests)"}}
    return page_html.metrics_table(rows, ["value"])


def _metrics(report: MonitorReport) -> str:
    if not report.live_metrics:
        return f"<p class='muted'>{report.labelled_rows} labelled rows; no live metrics yet.</p>"
    rows = {m: {"held-out": report.expected_metrics.get(m, math.nan), "live": v}
            for m, v in report.live_metrics.items()}
    return f"<p>{report.labelled_rows} labelled rows</p>" + page_html.metrics_table(rows, ["held-out", "live"])


def report_html(report: MonitorReport) -> str:
    """The whole report as one HTML document (inline SVG, no scripts, no external assets)."""
    alerts = "".join(f"<li>{html.escape(a.message)}</li>" for a in report.alerts) or "<li>none</li>"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    sections = [("Alerts", f"<ul>{alerts}</ul>" + (f"<p class='muted'>notes</p><ul>{notes}</ul>" if notes else "")),
                ("Latency and errors", _operations(report)), ("Live metrics", _metrics(report))]
    if report.features:
        sections.append(("Feature drift", _drift_table(report.features)))
    plotted = [report.prediction] if report.prediction else []
    for f in [*plotted, *report.features]:
        if f.histogram is not None:
            sections.append((f"{f.name}: {_verdict(f)}", f"<p>{html.escape(f.detail)}</p>" + bars_svg(f.histogram)))
    facts = {"model": report.model, "profile": report.profile, "status": report.status.upper(),
             "reference": report.reference, "window": f"{report.first_ts or '-'} .. {report.last_ts or '-'}",
             "rows": report.rows, "requests": report.requests,
             "p-value level per test": "n/a" if report.pvalue_applied is None else f"{report.pvalue_applied:.2g}"}
    return page_html.page(f"Monitoring {report.model} on '{report.profile}'", sections, facts)


def write_report(report: MonitorReport, path: Path) -> Path:
    """Write the HTML report to ``path`` (parents created) and remember it on the report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(report), encoding="utf-8")
    report.report_path = path
    return path


def report_text(report: MonitorReport) -> str:
    """The report for a terminal: summary, drift table, alerts, and a last line with the status."""
    lines = [f"{report.model} on '{report.profile}' vs training data {report.reference}",
             f"  traffic: {report.rows} rows in {report.requests} requests, {report.errors} failed"
             + (f" ({report.first_ts} .. {report.last_ts})" if report.first_ts else "")]
    if report.latency_ms:
        lines.append("  latency: " + ", ".join(f"{k} {v:.1f} ms" for k, v in report.latency_ms.items()))
    if report.features:
        width = max(len(f.name) for f in [*report.features, *([report.prediction] if report.prediction else [])])
        lines.append("")
        lines.append(f"  {'feature':<{width}}  {'test':<15}  {'verdict':<7}  numbers")
        for f in [*report.features, *([report.prediction] if report.prediction else [])]:
            lines.append(f"  {f.name:<{width}}  {f.test:<15}  {_verdict(f):<7}  {f.detail}")
    if report.live_metrics:
        lines.append("")
        lines.append(f"  live metrics on {report.labelled_rows} labelled rows: "
                     + ", ".join(f"{m} {v:.4f} (held-out {report.expected_metrics[m]:.4f})"
                                 for m, v in report.live_metrics.items()))
    lines += [""] + [f"  note: {n}" for n in report.notes] if report.notes else []
    lines += [""] + [f"ALERT {a.check}: {a.message}" for a in report.alerts] if report.alerts else []
    if report.retrain is not None:
        lines.append(f"retrain {report.retrain.status}: {report.retrain.message}")
    if report.report_path:
        lines.append(f"report: {report.report_path}")
    lines.append(_status_line(report))
    return "\n".join(lines)


def _status_line(report: MonitorReport) -> str:
    if report.status == "no_traffic":
        return "status: NO TRAFFIC (nothing to check; exit 0)"
    if report.alerts:
        return f"status: ALERT ({len(report.alerts)} threshold(s) crossed; exit 1)"
    return "status: OK (no threshold crossed)"
