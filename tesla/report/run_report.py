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
from tesla.store.records import EstimatorScore, Run, StepRecord, SweepPoint, Trial

__all__ = ["estimator_leaderboard", "render_run_report"]


def estimator_leaderboard(trials: Sequence[Trial]) -> list[EstimatorScore]:
    """One line per estimator, best validation loss first."""
    board: dict[str, dict[str, Any]] = {}
    for t in trials:
        row = board.setdefault(t.estimator, {"estimator": t.estimator, "best_loss": math.inf, "trials": 0,
                                             "best_trial": None, "config": {}})
        row["trials"] += 1
        if t.loss is not None and math.isfinite(t.loss) and t.loss < row["best_loss"]:
            row.update(best_loss=t.loss, best_trial=t.n, config=t.config)
    rows = sorted(board.values(), key=lambda r: (r["best_loss"], r["estimator"]))
    return [EstimatorScore(rank=i, **{**row, "best_loss": None if math.isinf(row["best_loss"]) else row["best_loss"]})
            for i, row in enumerate(rows, 1)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.5g}"
    if isinstance(value, dict | list):
        return f"<code>{html.escape(json.dumps(value, sort_keys=True, default=str))}</code>"
    return html.escape(str(value))


def _table(rows: Sequence[Any], columns: Sequence[str]) -> str:
    """An HTML table of ``rows`` (mappings or records), one column per key or field name."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{_cell(_get(r, c))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def _progress(trials: Sequence[Trial]) -> str:
    done = [t for t in trials if t.best_loss is not None and math.isfinite(t.best_loss)]
    if not done:
        return "<p class='muted'>No trial finished with a loss.</p>"
    n = [float(t.n) for t in done]
    best = [float(t.best_loss) for t in done if t.best_loss is not None]
    scored = [t for t in done if t.loss is not None]
    parts = [line_svg(n, best, x_label="trial", y_label="best validation loss"),
             scatter_svg([float(t.n) for t in scored], [float(t.loss) for t in scored if t.loss is not None],
                         x_label="trial", y_label="each trial's validation loss")]
    timed = [t for t in done if t.wall_s is not None]
    if timed:
        parts.insert(1, line_svg([float(t.wall_s or 0.0) for t in timed], [float(t.best_loss or 0.0) for t in timed],
                                 x_label="seconds since the search started", y_label="best validation loss"))
    return "".join(parts)


def _run_sections(steps: Sequence[StepRecord], trials: Sequence[Trial],
                  board: Sequence[EstimatorScore]) -> list[tuple[str, str]]:
    search = next((s.result for s in steps if s.kind == "search"), {})
    metric = search.get("metric", "loss")
    return [
        (f"Leaderboard ({metric}, validation loss: lower is better)",
         _table(board, ["rank", "estimator", "best_loss", "trials", "best_trial", "config"])),
        ("Search progress", _progress(trials)),
        ("Trials", _table(trials, ["n", "estimator", "loss", "best_loss", "wall_s", "config"])),
    ]


def _sweep_sections(board: Sequence[SweepPoint], rank_metric: str | None,
                    meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    note = (f"<p>Points are ranked by held-out <b>{html.escape(str(rank_metric))}</b>; the best point's bundle "
            f"is registered ({html.escape(str(meta.get('registered') or 'nothing registered'))}).</p>")
    columns = ["rank", "point", "run_id", "status", "score", "search_metric", "best_estimator", "best_loss",
               "error"]
    return [("Leaderboard across points", note + _table(board, columns))]


def render_run_report(run: Run, steps: Sequence[StepRecord], trials: Sequence[Trial],
                      board: Sequence[EstimatorScore] | Sequence[SweepPoint], *, rank_metric: str | None = None) -> str:
    """The whole report as one HTML document.

    Args:
        run: the run.
        steps: its steps.
        trials: its search trials.
        board: ``estimator_leaderboard(trials)``, or a sweep's ranked points.
        rank_metric: a sweep's held-out ranking metric; None for a training run.
    """
    facts = {"run": run.id, "plan": run.plan_name, "status": run.status, "backend": run.backend,
             "started": run.started_at, "ended": run.ended_at}
    if run.parent_id:
        facts["sweep"] = run.parent_id
    if run.error:
        facts["error"] = run.error
    step_rows = [{"step": s.step_id, "kind": s.kind, "status": s.status, "seconds": s.seconds} for s in steps]
    sections = [("Steps", _table(step_rows, ["step", "kind", "status", "seconds"]))] if step_rows else []
    if run.plan_name.startswith("sweep/"):
        sections += _sweep_sections(board, rank_metric, run.meta)  # type: ignore[arg-type]
    elif trials:
        sections += _run_sections(steps, trials, board)  # type: ignore[arg-type]
    return page(f"Run {run.id} · {run.plan_name}", sections, facts)
