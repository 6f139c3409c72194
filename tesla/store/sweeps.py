"""Sweeps in the store: a parent run row, one child run per point, and the leaderboard across them.

A sweep is recorded as a run whose ``plan_name`` is ``sweep/<model>`` and whose ``plan_json``
describes the sweep (overrides, sweeper, launcher, the points' plan fingerprints). Each
point is an ordinary training run with ``parent_id`` set to the sweep and its point
(``num``, ``overrides``) in the plan's ``meta["sweep"]``; meta is not part of a plan's
fingerprint, so a point's steps are cached and shared exactly like ``tesla train``'s.

Points are ranked on the held-out split by one evaluation metric: the first of
``evaluation.metrics`` (empty: the task's default list, whose first is roc_auc for binary,
log_loss for multiclass, rmse for regression). Validation losses are not comparable when
the sweep changes ``search.metric``, held-out metrics are.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tesla.errors import ConfigError
from tesla.plan import canonical_json, sha256_text
from tesla.store import Run, Store
from tesla.store.records import SweepPoint

__all__ = ["SWEEP_PREFIX", "SWEEP_SCHEMA", "finish_sweep", "is_sweep", "point_row", "point_rows", "rank_points",
           "start_sweep"]

SWEEP_PREFIX = "sweep/"
SWEEP_SCHEMA = "tesla-sweep/1"


def is_sweep(run: Run) -> bool:
    """Whether a run is a sweep's parent record."""
    return run.plan_name.startswith(SWEEP_PREFIX)


def start_sweep(store: Store, *, model: str, overrides: Sequence[str], backend: str, sweeper: str,
                launcher: str, points: Sequence[Mapping[str, Any]] | None) -> str:
    """Create the sweep's run row (status running) and return its id.

    Args:
        points: ``{"num", "overrides", "plan_fingerprint"}`` per grid point; None when the
            sweeper picks points as it goes.
    """
    doc = {"schema": SWEEP_SCHEMA, "model": model, "overrides": list(overrides), "sweeper": sweeper,
           "launcher": launcher, "points": [dict(p) for p in points] if points is not None else None}
    text = canonical_json(doc)
    return store.create_run(plan_name=f"{SWEEP_PREFIX}{model}", plan_fingerprint=sha256_text(text),
                            backend=backend, plan_json=text,
                            meta={"model": model, "sweeper": sweeper.rsplit(".", 1)[-1],
                                  "launcher": launcher.rsplit(".", 1)[-1],
                                  "points": len(points) if points is not None else None})


def finish_sweep(store: Store, sweep_id: str, *, status: str, leaderboard: Sequence[SweepPoint],
                 rank_metric: str | None, registered: str | None, error: str | None = None) -> None:
    """Close the sweep's run row with its leaderboard and what it registered."""
    meta = dict(store.run(sweep_id).meta)
    meta.update(leaderboard=[dataclasses.asdict(r) for r in leaderboard], rank_metric=rank_metric,
                registered=registered)
    store.finish_run(sweep_id, status, error=error, meta=meta)


def _rank_metric(evaluation_metrics: Sequence[str], task: str | None) -> str | None:
    from tesla.evaluation.metrics import DEFAULT_METRICS

    if evaluation_metrics:
        return evaluation_metrics[0]
    return DEFAULT_METRICS[task][0] if task in DEFAULT_METRICS else None


def _point_row(store: Store, run: Run) -> SweepPoint:
    plan = json.loads(run.plan_json)
    point = plan.get("meta", {}).get("sweep", {})
    result = {s.step_id: s.result if s.status in ("succeeded", "cached") else {} for s in store.run_steps(run.id)}
    evaluate = next((s for s in plan["steps"] if s["kind"] == "evaluate"), {"params": {}})
    task = result.get("load", {}).get("task")
    metric = _rank_metric(evaluate["params"].get("metrics", []), task)
    metrics = result.get("evaluate", {}).get("metrics", {})
    search = result.get("search", {})
    return SweepPoint(num=point.get("num"), overrides=list(point.get("overrides", [])), run_id=run.id,
                      status=run.status, error=run.error, task=task, rank_metric=metric,
                      score=metrics.get(metric) if metric else None, metrics=metrics,
                      search_metric=search.get("metric"), best_estimator=search.get("best_estimator"),
                      best_loss=search.get("best_loss"), ensemble=search.get("ensemble") or [],
                      plan_fingerprint=run.plan_fingerprint)


def point_rows(store: Store, sweep_id: str) -> list[SweepPoint]:
    """One row per point of the sweep (its child runs), in point order."""
    rows = [_point_row(store, r) for r in store.runs(limit=100_000, parent_id=sweep_id)]
    common = set.intersection(*(set(r.overrides) for r in rows)) if len(rows) > 1 else set()
    # what tells the points apart
    rows = [dataclasses.replace(r, point=" ".join(o for o in r.overrides if o not in common) or "(base config)")
            for r in rows]
    return sorted(rows, key=lambda r: (r.num is None, r.num if r.num is not None else 0, r.run_id))


def rank_points(rows: Sequence[SweepPoint]) -> tuple[list[SweepPoint], str | None]:
    """(rows best first with a ``rank``, the ranking metric); failed or unscored points come last, unranked.

    Raises:
        ConfigError: the points rank by different metrics (``evaluation.metrics`` was swept).
    """
    from tesla.evaluation.metrics import higher_is_better

    scored = [r for r in rows if r.status == "succeeded" and isinstance(r.score, int | float)
              and not math.isnan(r.score)]
    metrics = sorted({r.rank_metric for r in scored if r.rank_metric})
    if len(metrics) > 1:
        raise ConfigError(f"the sweep's points rank by different held-out metrics ({', '.join(metrics)}); "
                          "do not sweep evaluation.metrics", key="evaluation.metrics")
    metric = metrics[0] if metrics else None
    sign = -1.0 if metric and higher_is_better(metric) else 1.0
    scored.sort(key=lambda r: (sign * (r.score or 0.0), r.num if r.num is not None else 0))
    ranked = [dataclasses.replace(r, rank=i) for i, r in enumerate(scored, 1)]
    ranked_ids = {r.run_id for r in ranked}
    rest = [dataclasses.replace(r, rank=None) for r in rows if r.run_id not in ranked_ids]
    return ranked + rest, metric


def point_row(store: Store, run_id: str) -> SweepPoint:
    """The leaderboard row of one point's run (``point`` label aside)."""
    return _point_row(store, store.run(run_id))
