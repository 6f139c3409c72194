"""Two models on the same labelled rows: metric deltas (b - a) with paired bootstrap confidence intervals.

Both models score the same labelled rows, each deciding with its own stored threshold; each bootstrap
resample draws row indices with replacement (one seeded generator, so the same rows give the same
intervals every time) and scores both models on that one resample, so the interval is of the *paired*
difference: the noise the two models share (an easy or hard draw of rows) cancels out. A resample is a
row of multinomial counts applied to both models' predictions, so the mean-over-rows metrics,
precision/recall/F1, R² and ROC AUC are computed for every resample at once; other metrics are scored
by ``compute_metrics`` on each resample. The interval is the percentile interval of the deltas.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tesla.errors import DataError
from tesla.evaluation.delta import Delta
from tesla.evaluation.evaluate import labelled_rows, score_rows
from tesla.evaluation.metrics import DEFAULT_METRICS, compute_metrics, higher_is_better
from tesla.report import html

if TYPE_CHECKING:
    import pandas as pd

    from tesla.models import Bundle

__all__ = ["compare_bundles", "comparison_html"]


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


def compare_bundles(a: Bundle, b: Bundle, df: pd.DataFrame, *, metrics: Sequence[str] = (), samples: int = 500,
                    seed: int = 0, level: float = 0.95, names: tuple[str, str] = ("a", "b")) -> tuple[int, list[Delta]]:
    """(rows, one Delta per metric, ``b - a``): both models on the labelled rows of ``df``.

    Args:
        a, b: bundles of the same target, task and classes (``a`` is the reference).
        df: labelled rows holding every feature either model reads and the target.
        metrics: default: the task's default metrics.
        samples: bootstrap resamples.
        seed: the resampling seed (fixed: the same rows give the same intervals).
        level: the interval's coverage.
        names: how messages name the two models.

    Raises:
        DataError: the models predict different targets, tasks or classes, or ``df`` has no target column.
    """
    for what, left, right in (("target", a.manifest["target"], b.manifest["target"]), ("task", a.task, b.task),
                              ("classes", a.classes, b.classes)):
        if left != right:
            raise DataError(f"{names[0]} and {names[1]} cannot be compared on the same rows: their {what} differs "
                            f"({left!r} vs {right!r})", key=what)
    df = labelled_rows(a, df)
    task, chosen = a.task, list(metrics) or DEFAULT_METRICS[a.task]
    n_classes = len(a.classes or [])
    sides = [score_rows(m, df) for m in (a, b)]
    observed = [compute_metrics(task, chosen, s.y, s.pred, s.proba, n_classes) for s in sides]
    rng = np.random.default_rng(seed)
    n_rows = len(df)
    chunk = max(1, _CHUNK_CELLS // max(n_rows, 1))
    a_side, b_side = ((s.y, s.pred, s.proba) for s in sides)
    spread = []
    for start in range(0, samples, chunk):
        weights = rng.multinomial(n_rows, np.full(n_rows, 1 / n_rows), size=min(chunk, samples - start))
        weights = weights.astype("float64")
        spread.append(_scores(task, chosen, b_side, n_classes, weights)
                      - _scores(task, chosen, a_side, n_classes, weights))
    deltas = np.concatenate(spread, axis=1)
    tail = (1 - level) / 2 * 100
    out = []
    for j, metric in enumerate(chosen):
        finite = deltas[j][np.isfinite(deltas[j])]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan)
        va, vb = float(observed[0][metric]), float(observed[1][metric])
        out.append(Delta(metric, va, vb, vb - va, float(low), float(high), higher_is_better(metric)))
    return n_rows, out


def comparison_html(deltas: Sequence[Delta], names: tuple[str, str], rows: int, samples: int) -> str:
    """A table of the deltas, with a sentence on how to read it."""
    a, b = (html_lib.escape(n) for n in names)
    note = (f"<p>Delta is {b} minus {a} on the same {rows} rows; the interval is the 2.5-97.5 percentile of "
            f"{samples} paired bootstrap resamples. An interval holding 0 is no clear difference.</p>")
    table = {d.metric: {names[0]: d.a, names[1]: d.b, "delta": d.delta, "95% low": d.low, "95% high": d.high,
                        "verdict": d.verdict_for(names)}
             for d in deltas}
    return note + html.metrics_table(table, [names[0], names[1], "delta", "95% low", "95% high", "verdict"])
