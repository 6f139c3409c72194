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


def _per_row(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> np.ndarray | None:
    """A metric that is a mean over rows, as each row's term (what ``compute_metrics`` averages); else None."""
    if metric == "accuracy":
        return (pred == y).astype("float64")
    if metric == "log_loss" and proba is not None:
        eps = np.finfo(proba.dtype).eps  # sklearn's clipping, so the observed value is sklearn's exactly
        return -np.log(np.clip(proba[np.arange(len(y)), y.astype(int)], eps, 1 - eps))
    if metric in {"mse", "rmse"}:
        return (y - pred) ** 2
    if metric == "mae":
        return np.abs(y - pred)
    return None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)  # sklearn's zero_division=0


def _weighted(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
              weights: np.ndarray) -> np.ndarray | None:
    """``metric`` under each row of ``weights`` (bootstrap counts, resamples x rows) at once; None: not vectorised."""
    total = weights.sum(axis=1)
    rows = _per_row(metric, y, pred, proba)
    if rows is not None:
        mean = weights @ rows / total
        return np.sqrt(mean) if metric == "rmse" else mean
    if metric in {"precision", "recall", "f1"}:  # binary, positive class 1
        tp, fp, fn = (weights @ ((pred == 1) & (y == 1)), weights @ ((pred == 1) & (y == 0)),
                      weights @ ((pred == 0) & (y == 1)))
        return {"precision": lambda: _ratio(tp, tp + fp), "recall": lambda: _ratio(tp, tp + fn),
                "f1": lambda: _ratio(2 * tp, 2 * tp + fp + fn)}[metric]()
    if metric == "r2":
        mean = weights @ y / total
        sst = weights @ (y ** 2) - total * mean ** 2
        return 1 - np.divide(weights @ ((y - pred) ** 2), sst, out=np.full_like(sst, np.nan), where=sst > 0)
    if metric == "roc_auc" and proba is not None:
        return _weighted_auc(y, proba[:, 1], weights)
    return None


def _weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Binary ROC AUC under each weighting: the weighted Mann-Whitney statistic, ties counted half."""
    _, group = np.unique(score, return_inverse=True)
    out = np.empty(len(weights))
    for i, w in enumerate(weights):
        pos, neg = np.bincount(group, w * (y == 1)), np.bincount(group, w * (y == 0))
        below = np.cumsum(neg) - neg
        denom = pos.sum() * neg.sum()
        out[i] = (pos * (below + neg / 2)).sum() / denom if denom > 0 else np.nan
    return out


def _scores(task: str, metrics: Sequence[str], side: tuple[np.ndarray, np.ndarray, np.ndarray | None], n_classes: int,
            weights: np.ndarray) -> np.ndarray:
    """metrics x resamples: vectorised where the metric allows, else ``compute_metrics`` on each resample."""
    y, pred, proba = side
    out = np.empty((len(metrics), len(weights)))
    for j, metric in enumerate(metrics):
        fast = _weighted(metric, y, pred, proba, weights)
        if fast is None:
            idx = [np.repeat(np.arange(len(y)), w.astype(int)) for w in weights]
            fast = np.array([compute_metrics(task, [metric], y[i], pred[i], None if proba is None else proba[i],
                                             n_classes)[metric] for i in idx])
        out[j] = fast
    return out


_CHUNK_CELLS = 20_000_000  # resamples x rows held at once (160 MB of float64)


def compare_bundles(candidate: Bundle, champion: Bundle, df: pd.DataFrame, *, metrics: Sequence[str] = (),
                    resamples: int = 1000, level: float = 0.95, seed: int = 0) -> list[MetricDelta]:
    """Metric deltas of ``candidate`` over ``champion`` on the labelled rows of ``df``.

    Each resample is a row of multinomial counts (the bootstrap's draw with replacement) applied to both
    models' predictions, so the mean-over-rows metrics, precision/recall/F1, R² and ROC AUC are computed
    for every resample at once; other metrics are scored by ``compute_metrics`` on each resample.

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
    task, chosen = candidate.task, list(metrics) or DEFAULT_METRICS[candidate.task]
    sides = [(predict_rows(b, df), len(b.classes or [])) for b in (candidate, champion)]
    observed = [compute_metrics(task, chosen, *rows, n) for rows, n in sides]
    rng = np.random.default_rng(seed)
    n_rows = len(df)
    chunk = max(1, _CHUNK_CELLS // max(n_rows, 1))
    deltas = []
    for start in range(0, resamples, chunk):
        weights = rng.multinomial(n_rows, np.full(n_rows, 1 / n_rows), size=min(chunk, resamples - start))
        weights = weights.astype("float64")
        deltas.append(_scores(task, chosen, *sides[0], weights) - _scores(task, chosen, *sides[1], weights))
    spread = np.concatenate(deltas, axis=1)
    tail = (1 - level) / 2 * 100
    out = []
    for j, metric in enumerate(chosen):
        finite = spread[j][np.isfinite(spread[j])]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan)
        out.append(MetricDelta(metric, observed[0][metric], observed[1][metric],
                               observed[0][metric] - observed[1][metric], float(low), float(high), level, n_rows,
                               resamples))
    return out
