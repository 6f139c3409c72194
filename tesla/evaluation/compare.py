"""A candidate model against a champion on the same rows: metric deltas with paired bootstrap intervals.

Both models score the same labelled rows; each bootstrap resample draws row indices with replacement
(one seeded generator, so the same rows give the same intervals every time) and scores both models
on that one resample, so the interval is of the *paired* difference: the noise the two models share
(an easy or hard draw of rows) cancels out. The interval is the percentile interval of the resampled
deltas; a change whose interval holds 0 is reported as no clear change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tesla.errors import DataError
from tesla.evaluation.metrics import DEFAULT_METRICS, compute_metrics, higher_is_better

if TYPE_CHECKING:
    import pandas as pd

    from tesla.models import Bundle

__all__ = ["MetricDelta", "compare_bundles"]


@dataclass(frozen=True)
class MetricDelta:
    """``candidate - champion`` for one metric on the same rows, with its bootstrap interval."""

    metric: str
    candidate: float
    champion: float
    delta: float
    low: float  # the interval's bounds (of ``delta``)
    high: float
    level: float  # e.g. 0.95
    rows: int
    resamples: int

    @property
    def verdict(self) -> str:
        """``better`` / ``worse`` when the whole interval is on one side of 0, else ``no clear change``."""
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low <= 0 <= self.high:
            return "no clear change"
        return "better" if (self.low > 0) == higher_is_better(self.metric) else "worse"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "candidate": self.candidate, "champion": self.champion, "delta": self.delta,
                "low": self.low, "high": self.high, "level": self.level, "rows": self.rows,
                "resamples": self.resamples, "verdict": self.verdict}


def compare_bundles(candidate: Bundle, champion: Bundle, df: pd.DataFrame, *, metrics: Sequence[str] = (),
                    resamples: int = 1000, level: float = 0.95, seed: int = 0) -> list[MetricDelta]:
    """Metric deltas of ``candidate`` over ``champion`` on the labelled rows of ``df``.

    Args:
        candidate, champion: bundles of the same task.
        df: labelled rows holding every feature either model reads and the target.
        metrics: default: the task's default metrics.
        resamples: bootstrap resamples.
        level: the interval's coverage.
        seed: the resampling seed (fixed: the same rows give the same intervals).

    Raises:
        DataError: the tasks differ, or ``df`` lacks a column one model needs.
    """
    from tesla.evaluation.evaluate import predict_rows

    if candidate.task != champion.task:
        raise DataError(f"cannot compare a {candidate.task} model with a {champion.task} model", key="task")
    target = candidate.manifest["target"]
    if target not in df.columns:
        raise DataError(f"the evaluation rows have no target column '{target}'", key=target)
    df = df[df[target].notna()]
    chosen = list(metrics) or DEFAULT_METRICS[candidate.task]
    sides = [(predict_rows(b, df), len(b.classes or [])) for b in (candidate, champion)]
    observed = [compute_metrics(candidate.task, chosen, *rows, n) for rows, n in sides]
    rng = np.random.default_rng(seed)
    n_rows = len(df)
    deltas = np.empty((resamples, len(chosen)))
    for i in range(resamples):
        idx = rng.integers(0, n_rows, n_rows)
        scored = [compute_metrics(candidate.task, chosen, y[idx], pred[idx], None if p is None else p[idx], n)
                  for (y, pred, p), n in sides]
        deltas[i] = [scored[0][m] - scored[1][m] for m in chosen]
    tail = (1 - level) / 2 * 100
    out = []
    for j, metric in enumerate(chosen):
        finite = deltas[:, j][np.isfinite(deltas[:, j])]
        low, high = (np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan))
        out.append(MetricDelta(metric, observed[0][metric], observed[1][metric],
                               observed[0][metric] - observed[1][metric], float(low), float(high), level, n_rows,
                               resamples))
    return out
