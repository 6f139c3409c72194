"""A run's HTML report: its steps, the leaderboard and the search progress (best loss vs trial and time).

A training run's leaderboard is per estimator (best validation loss, trials, best config);
a sweep's is per point (ranked by a held-out metric). Self-contained: tables and inline SVG.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tesla.report.html import line_svg, page, scatter_svg

__all__ = ["estimator_leaderboard", "render_run_report"]


def estimator_leaderboard(trials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per estimator, best validation loss first: ``estimator, best_loss, trials, best_trial, config``."""
    board: dict[str, dict[str, Any]] = {}
    for t in trials:
        row = board.setdefault(t["estimator"], {"estimator": t["estimator"], "best_loss": math.inf, "trials": 0,
                                                "best_trial": None, "config": {}})
        row["trials"] += 1
        loss = t.get("loss")
        if loss is not None and math.isfinite(loss) and loss < row["best_loss"]:
            row.update(best_loss=loss, best_trial=t["n"], config=t.get("config", {}))
    rows = sorted(board.values(), key=lambda r: (r["best_loss"], r["estimator"]))
    for i, row in enumerate(rows, 1):
        row["rank"] = i
        row["best_loss"] = None if math.isinf(row["best_loss"]) else row["best_loss"]
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.5g}"
    if isinstance(value, dict | list):
        return f"<code>{html.escape(json.dumps(value, sort_keys=True, default=str))}</code>"
    return html.escape(str(value))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{_cell(r.get(c))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _progress(trials: Sequence[Mapping[str, Any]]) -> str:
    done = [t for t in trials if t.get("best_loss") is not None and math.isfinite(t["best_loss"])]
    if not done:
        return "<p class='muted'>No trial finished with a loss.</p>"
    n = [float(t["n"]) for t in done]
    best = [float(t["best_loss"]) for t in done]
    scored = [t for t in done if t.get("loss") is not None]
    parts = [line_svg(n, best, x_label="trial", y_label="best validation loss"),
             scatter_svg([float(t["n"]) for t in scored], [float(t["loss"]) for t in scored],
                         x_label="trial", y_label="each trial's validation loss")]
    timed = [t for t in done if t.get("wall_s") is not None]
    if timed:
        parts.insert(1, line_svg([float(t["wall_s"]) for t in timed], [float(t["best_loss"]) for t in timed],
                                 x_label="seconds since the search started", y_label="best validation loss"))
    return "".join(parts)


def _run_sections(steps: Sequence[Mapping[str, Any]], trials: Sequence[Mapping[str, Any]],
                  board: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    search = next((s["result"] for s in steps if s["kind"] == "search"), {})
    metric = search.get("metric", "loss")
    return [
        (f"Leaderboard ({metric}, validation loss: lower is better)",
         _table(board, ["rank", "estimator", "best_loss", "trials", "best_trial", "config"])),
        ("Search progress", _progress(trials)),
        ("Trials", _table(trials, ["n", "estimator", "loss", "best_loss", "wall_s", "config"])),
    ]


def _sweep_sections(board: Sequence[Mapping[str, Any]], rank_metric: str | None,
                    meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    note = (f"<p>Points are ranked by held-out <b>{html.escape(str(rank_metric))}</b>; the best point's bundle "
            f"is registered ({html.escape(str(meta.get('registered') or 'nothing registered'))}).</p>")
    columns = ["rank", "point", "run_id", "status", "score", "search_metric", "best_estimator", "best_loss",
               "error"]
    return [("Leaderboard across points", note + _table(board, columns))]


def render_run_report(run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                      trials: Sequence[Mapping[str, Any]], board: Sequence[Mapping[str, Any]], *,
                      rank_metric: str | None = None) -> str:
    """The whole report as one HTML document.

    Args:
        run: the run row (``id``, ``plan_name``, ``status``, ``meta_json``...).
        steps: its step rows (``step_id``, ``kind``, ``status``, ``seconds``, ``result``).
        trials: its trial rows.
        board: ``estimator_leaderboard(trials)``, or a sweep's ranked point rows.
        rank_metric: a sweep's held-out ranking metric; None for a training run.
    """
    meta = json.loads(run.get("meta_json") or "{}")
    facts = {"run": run["id"], "plan": run["plan_name"], "status": run["status"], "backend": run["backend"],
             "started": run.get("started_at"), "ended": run.get("ended_at")}
    if run.get("parent_id"):
        facts["sweep"] = run["parent_id"]
    if run.get("error"):
        facts["error"] = run["error"]
    step_rows = [{"step": s["step_id"], "kind": s["kind"], "status": s["status"], "seconds": s["seconds"]}
                 for s in steps]
    sections = [("Steps", _table(step_rows, ["step", "kind", "status", "seconds"]))] if step_rows else []
    if str(run["plan_name"]).startswith("sweep/"):
        sections += _sweep_sections(board, rank_metric, meta)
    elif trials:
        sections += _run_sections(steps, trials, board)
    return page(f"Run {run['id']} · {run['plan_name']}", sections, facts)
