"""How results show in a notebook: the one renderer every ``_repr_html_`` calls (tables from ``html.py``).

A record or a service result is a heading, a facts table and (heading, html) sections; a list of records
is one table (``rows_html``). Nested values (dicts, lists) are shown as short JSON, so no cell grows
without bound.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tesla.report.html import facts_table, records_table

__all__ = ["card_html", "embedded_report", "rows_html"]

_CELL = 80  # characters of a nested value shown in one cell


def _short(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str, sort_keys=True)
        return text if len(text) <= _CELL else text[:_CELL - 1] + "…"
    return "" if value is None else value


def card_html(title: str, facts: Mapping[str, Any], sections: Sequence[tuple[str, str]] = ()) -> str:
    """A heading, a two-column table of ``facts`` (None left out) and each (heading, html) section."""
    shown = {k: _short(v) for k, v in facts.items() if v is not None and v != ""}
    parts = [f"<h3>{html.escape(title)}</h3>", facts_table(shown)]
    parts += [f"<h4>{html.escape(heading)}</h4>{body}" for heading, body in sections if body]
    return "".join(parts)


def rows_html(items: Sequence[Any], columns: Sequence[str] | None = None) -> str:
    """One table row per dataclass or mapping in ``items`` (columns: the given ones, else every field)."""
    if not items:
        return "<p class='muted'>(none)</p>"
    rows = [dataclasses.asdict(i) if dataclasses.is_dataclass(i) else dict(i) for i in items]
    names = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    return records_table([{k: _short(r.get(k)) for k in names} for r in rows], names)


def embedded_report(document: str, summary: str = "Report") -> str:
    """A whole report page's body (its plots and tables) for a notebook cell, folded open under ``summary``.

    The page's own ``<style>`` is left out: in a notebook it would restyle the whole notebook page."""
    found = re.search(r"<body[^>]*>(.*)</body>", document, re.S)
    body = re.sub(r"<h1>.*?</h1>", "", found[1] if found else document, count=1, flags=re.S)
    return f"<details open><summary>{html.escape(summary)}</summary>{body}</details>"
