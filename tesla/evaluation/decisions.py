"""Decisions on top of scores: the binary threshold, collapsed predictions, slices and paired bootstrap deltas."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tesla.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OBJECTIVES", "choose_threshold", "collapse_warning", "cross_fitted_labels", "slice_metrics"]

OBJECTIVES = ("none", "f1", "cost", "recall")


def _curve(y: np.ndarray, p1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, true positives, false positives) for the rule ``p1 >= threshold`` at each distinct score."""
    order = np.argsort(-p1, kind="stable")
    scores, hits = p1[order], y[order]
    tps, fps = np.cumsum(hits), np.cumsum(1 - hits)
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # last row of each run of equal scores
    return scores[last], tps[last], fps[last]


def choose_threshold(y: np.ndarray, p1: np.ndarray, rule: Mapping[str, Any]) -> float | None:
    """The threshold on P(positive) optimising ``rule["objective"]``; None for ``none``.

    Args:
        y: 0/1 truth.
        p1: predicted probability of class 1.
        rule: ``evaluation.threshold``: ``objective`` (none | f1 | cost | recall), ``cost_fp`` and
            ``cost_fn`` (cost of one false positive / negative), ``target_recall`` (0..1).

    Returns:
        The threshold; a row is positive when ``p1 >= threshold``.
    """
    objective = rule.get("objective", "none")
    if objective not in OBJECTIVES:
        raise ConfigError(f"evaluation.threshold.objective is '{objective}'; allowed: {', '.join(OBJECTIVES)}",
                          key="evaluation.threshold.objective")
    if objective == "none" or len(y) == 0 or y.min() == y.max():
        return None
    thresholds, tp, fp = _curve(y.astype("int64"), p1)
    positives = y.sum()
    fn = positives - tp
    if objective == "f1":
        best = np.argmax(2 * tp / (2 * tp + fp + fn))
    elif objective == "cost":
        best = np.argmin(float(rule.get("cost_fp", 1.0)) * fp + float(rule.get("cost_fn", 1.0)) * fn)
    else:  # recall: the highest threshold (best precision) that still reaches the target recall
        reached = np.flatnonzero(tp / positives >= float(rule.get("target_recall", 0.8)))
        best = reached[0] if len(reached) else len(thresholds) - 1
    return float(thresholds[best])


def cross_fitted_labels(y: np.ndarray, p1: np.ndarray, rule: Mapping[str, Any], *,
                        seed: int = 0) -> np.ndarray | None:
    """0/1 decisions where each half of the rows uses the threshold chosen on the other half.

    Label metrics of a threshold chosen on the very rows they are measured on are optimistic; two-fold
    cross-fitting measures the procedure honestly. None when a half lacks a class (too few rows).
    """
    from sklearn.model_selection import StratifiedKFold

    if np.bincount(y.astype("int64"), minlength=2).min() < 4:
        return None
    labels = np.zeros(len(y), dtype="int64")
    for fit, apply in StratifiedKFold(2, shuffle=True, random_state=seed).split(p1.reshape(-1, 1), y):
        threshold = choose_threshold(y[fit], p1[fit], rule)
        if threshold is None:
            return None
        labels[apply] = p1[apply] >= threshold
    return labels


def collapse_warning(y: np.ndarray, pred: np.ndarray, classes: Sequence[Any], *, share: float = 0.99) -> str | None:
    """A warning when at least ``share`` of the predictions are one class though the truth is mixed."""
    if len(pred) == 0:
        return None
    counts = np.bincount(pred.astype("int64"), minlength=len(classes))
    top = int(counts.argmax())
    predicted_share, actual_share = counts[top] / len(pred), float(np.mean(y == top))
    if predicted_share < share or actual_share >= share:
        return None
    return (f"predictions collapse to one class: '{classes[top]}' for {counts[top]} of {len(pred)} rows "
            f"({predicted_share:.1%}), though only {actual_share:.1%} of the rows are '{classes[top]}'; "
            "accuracy near the base rate means the model decides nothing. For a binary task set "
            "evaluation.threshold.objective=f1 (or cost / recall) to choose the decision threshold")


def slice_metrics(df: pd.DataFrame, columns: Sequence[str], metric: str,
                  score: Callable[[np.ndarray], float], overall: float, *, higher: bool, min_slice_rows: int = 30,
                  max_values: int = 20, worse_by: float = 0.1) -> tuple[list[dict[str, Any]], list[str]]:
    """``metric`` per value of each column in ``columns`` (numeric columns by quartile), and warnings.

    A slice of at least ``min_slice_rows`` rows whose metric is worse than ``overall`` by more than
    ``worse_by`` (relative) is a warning.
    """
    import pandas as pd

    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"evaluation.slices names column '{missing[0]}', which the evaluation rows do not have; "
                        f"columns: {', '.join(map(str, df.columns))}", key="evaluation.slices")
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for column in columns:
        values = df[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 10:
            values = pd.qcut(values, 4, duplicates="drop").astype(str)
        values = values.astype(str).fillna("<missing>")
        for value in values.value_counts().index[:max_values]:
            index = np.flatnonzero((values == value).to_numpy())
            got = score(index)
            rows.append({"column": column, "value": value, "rows": len(index), metric: got})
            gap = (overall - got) if higher else (got - overall)
            if len(index) >= min_slice_rows and np.isfinite(got) and gap > worse_by * abs(overall):
                warnings.append(f"slice {column}={value} ({len(index)} rows) is much worse on {metric}: "
                                f"{got:.4f} vs {overall:.4f} overall")
    return rows, warnings
