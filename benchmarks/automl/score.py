"""The held-out scorer both sides of the benchmark use (so no difference comes from scoring)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def score(task: str, y_true: Any, pred: Any, proba: Any, classes: Sequence[Any] | None) -> dict[str, float]:
    """log_loss / roc_auc / accuracy for classification, r2 / rmse for regression."""
    from sklearn import metrics as m

    if task == "regression":
        pred = np.asarray(pred, dtype="float64")
        return {"r2": float(m.r2_score(y_true, pred)), "rmse": float(np.sqrt(m.mean_squared_error(y_true, pred)))}
    proba = np.asarray(proba, dtype="float64")
    proba = proba / proba.sum(axis=1, keepdims=True)
    labels = [str(c) for c in classes]
    y = np.asarray([str(v) for v in y_true])
    out = {"log_loss": float(m.log_loss(y, proba, labels=labels)),
           "accuracy": float(m.accuracy_score(y, np.asarray(labels)[proba.argmax(axis=1)]))}
    if task == "binary":
        out["roc_auc"] = float(m.roc_auc_score(y == labels[1], proba[:, 1]))
    return out
