"""Self-contained HTML reports (no scripts, no external assets): tables and inline SVG."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["confusion_table", "facts_table", "line_svg", "metrics_table", "page", "records_table", "scatter_svg"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:70rem}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th{background:#f3f3f3}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}.muted{color:#777}
.warn{color:#8a4b00;background:#fff4e0;padding:.5rem 1.5rem;border-left:4px solid #e69500}svg{max-width:100%;height:auto}
"""


def page(title: str, sections: Sequence[tuple[str, str]], facts: Mapping[str, Any] | None = None) -> str:
    """A whole HTML document: a title, a facts table and (heading, html) sections."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if facts:
        parts.append(facts_table(facts))
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    return "".join(parts)


def facts_table(facts: Mapping[str, Any]) -> str:
    """A two-column table: one (name, value) row per item."""
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                   f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    return f"<table>{rows}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4f}"
    return html.escape(str(v))


def metrics_table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str]) -> str:
    """rows: metric -> {column: value}."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["metric", *columns])
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(m)}</th>"
                   + "".join(f"<td>{_fmt(vals.get(c, ''))}</td>" for c in columns) + "</tr>"
                   for m, vals in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def records_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """One row per mapping, one column per key in ``columns``."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def confusion_table(matrix: Sequence[Sequence[int]], labels: Sequence[Any]) -> str:
    """Confusion matrix, rows = actual, columns = predicted, cells shaded by row share."""
    head = "<tr><th>actual \\ predicted</th>" + "".join(f"<th>{html.escape(str(lbl))}</th>" for lbl in labels) + "</tr>"
    body = []
    for label, row in zip(labels, matrix):
        total = sum(row) or 1
        cells = "".join(
            f"<td style='background:rgba(40,100,200,{0.1 + 0.8 * v / total:.2f})'>{v}</td>" for v in row)
        body.append(f"<tr><th>{html.escape(str(label))}</th>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _scale(values: Sequence[float], lo_px: float, hi_px: float) -> tuple[float, float, Any]:
    finite = [v for v in values if math.isfinite(v)] or [0.0]
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    return lo, hi, lambda v: lo_px + (v - lo) / span * (hi_px - lo_px)


def scatter_svg(xs: Sequence[float], ys: Sequence[float], *, x_label: str, y_label: str,
                zero_line: bool = False, width: int = 560, height: int = 360) -> str:
    """A scatter plot as inline SVG (e.g. residual vs predicted)."""
    pad = 50
    x_lo, x_hi, sx = _scale(xs, pad, width - 10)
    y_lo, y_hi, sy_raw = _scale(ys, 0, 1)

    def sy(v: float) -> float:
        return height - pad - sy_raw(v) * (height - pad - 10)

    dots = "".join(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2.5' fill='#2864c8' fill-opacity='.5'/>"
                   for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y))
    zero = (f"<line x1='{pad}' x2='{width - 10}' y1='{sy(0):.1f}' y2='{sy(0):.1f}' stroke='#c33'/>"
            if zero_line and y_lo <= 0 <= y_hi else "")
    return _frame(width, height, pad, dots + zero, x_label, y_label, (x_lo, x_hi), (y_lo, y_hi))


def line_svg(xs: Sequence[float], ys: Sequence[float], *, x_label: str, y_label: str,
             width: int = 560, height: int = 300) -> str:
    """A step line (e.g. best loss vs trial) as inline SVG."""
    pad = 50
    x_lo, x_hi, sx = _scale(xs, pad, width - 10)
    y_lo, y_hi, sy_raw = _scale(ys, 0, 1)
    points = " ".join(f"{sx(x):.1f},{height - pad - sy_raw(y) * (height - pad - 10):.1f}"
                      for x, y in zip(xs, ys) if math.isfinite(y))
    line = f"<polyline points='{points}' fill='none' stroke='#2864c8' stroke-width='2'/>"
    return _frame(width, height, pad, line, x_label, y_label, (x_lo, x_hi), (y_lo, y_hi))


def _frame(width: int, height: int, pad: int, body: str, x_label: str, y_label: str,
           x_range: tuple[float, float], y_range: tuple[float, float]) -> str:
    axes = (f"<line x1='{pad}' y1='{height - pad}' x2='{width - 10}' y2='{height - pad}' stroke='#444'/>"
            f"<line x1='{pad}' y1='10' x2='{pad}' y2='{height - pad}' stroke='#444'/>")
    labels = (f"<text x='{width / 2}' y='{height - 12}' text-anchor='middle' font-size='12'>{html.escape(x_label)}"
              f" ({x_range[0]:.3g} – {x_range[1]:.3g})</text>"
              f"<text x='14' y='{height / 2}' font-size='12' transform='rotate(-90 14 {height / 2})' "
              f"text-anchor='middle'>{html.escape(y_label)} ({y_range[0]:.3g} – {y_range[1]:.3g})</text>")
    # no xmlns: inline SVG in HTML needs none, and a report that opens offline holds no URL
    return (f"<svg width='{width}' height='{height}' "
            f"role='img'>{axes}{body}{labels}</svg>")
