"""Task-appropriate metrics, and the same metrics for a dummy baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tesla.errors import ConfigError

__all__ = ["DEFAULT_METRICS", "METRICS", "baseline_predictions", "compute_metrics", "higher_is_better"]

DEFAULT_METRICS = {
    "binary": ["roc_auc", "log_loss", "accuracy", "f1", "precision", "recall"],
    "multiclass": ["log_loss", "accuracy", "macro_f1"],
    "regression": ["rmse", "mae", "r2"],
}
METRICS = {
    "binary": {"roc_auc", "log_loss", "accuracy", "f1", "precision", "recall", "macro_f1", "balanced_accuracy"},
    "multiclass": {"log_loss", "accuracy", "macro_f1", "micro_f1", "balanced_accuracy", "roc_auc_ovr"},
    "regression": {"rmse", "mae", "r2", "mse", "mape"},
}
_LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mse", "mape"}


def higher_is_better(metric: str) -> bool:
    return metric not in _LOWER_IS_BETTER


def _one(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, n_classes: int) -> float:
    from sklearn import metrics as m  # lazy: sklearn costs ~0.75 s

    labels = list(range(n_classes))
    table = {
        "accuracy": lambda: m.accuracy_score(y, pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y, pred),
        "f1": lambda: m.f1_score(y, pred, zero_division=0),
        "precision": lambda: m.precision_score(y, pred, zero_division=0),
        "recall": lambda: m.recall_score(y, pred, zero_division=0),
        "macro_f1": lambda: m.f1_score(y, pred, average="macro", zero_division=0),
        "micro_f1": lambda: m.f1_score(y, pred, average="micro", zero_division=0),
        "log_loss": lambda: m.log_loss(y, proba, labels=labels),
        "roc_auc": lambda: m.roc_auc_score(y, proba[:, 1]),
        "roc_auc_ovr": lambda: m.roc_auc_score(y, proba, multi_class="ovr", labels=labels),
        "rmse": lambda: float(np.sqrt(m.mean_squared_error(y, pred))),
        "mse": lambda: m.mean_squared_error(y, pred),
        "mae": lambda: m.mean_absolute_error(y, pred),
        "r2": lambda: m.r2_score(y, pred),
        "mape": lambda: m.mean_absolute_percentage_error(y, pred),
    }
    try:
        return float(table[metric]())
    except ValueError:
        return float("nan")  # e.g. roc_auc on a test set holding one class


def compute_metrics(task: str, metrics: Sequence[str], y: np.ndarray, pred: np.ndarray,
                    proba: np.ndarray | None = None, n_classes: int = 0) -> dict[str, float]:
    """Metric name -> value. Classification ``y``/``pred`` are class indices 0..k-1."""
    allowed = METRICS[task]
    unknown = [name for name in metrics if name not in allowed]
    if unknown:
        raise ConfigError(f"metric '{unknown[0]}' does not apply to a {task} task; allowed: "
                          f"{', '.join(sorted(allowed))}", key="evaluation.metrics")
    return {name: _one(name, y, pred, proba, n_classes) for name in metrics}


def baseline_predictions(task: str, stats: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions of the dummy model (training prior / mean) for ``n`` rows."""
    if task == "regression":
        return np.full(n, float(stats["mean"])), None
    prior = np.asarray(stats["class_prior"], dtype="float64")
    proba = np.tile(prior, (n, 1))
    return proba.argmax(axis=1), proba
