"""The vectorised bootstrap scores each resample exactly as ``compute_metrics`` scores those rows."""

from __future__ import annotations

import numpy as np
import pytest

from tesla.evaluation.compare import _scores
from tesla.evaluation.metrics import compute_metrics

RNG = np.random.default_rng(7)
N = 60
Y_BIN = RNG.integers(0, 2, N)
P1 = np.round(RNG.random(N), 2)  # rounded: ties in the scores, which ROC AUC counts half
PROBA = np.column_stack([1 - P1, P1])
Y_REG = RNG.normal(size=N)
PRED_REG = Y_REG + RNG.normal(scale=0.5, size=N)


@pytest.mark.parametrize(("task", "metric"), [
    ("binary", m) for m in ("accuracy", "log_loss", "precision", "recall", "f1", "roc_auc", "balanced_accuracy")
] + [("regression", m) for m in ("rmse", "mse", "mae", "r2")])
def test_each_resample_matches_compute_metrics_on_its_rows(task: str, metric: str) -> None:
    if task == "binary":
        side, n_classes = (Y_BIN, PROBA.argmax(axis=1), PROBA), 2
    else:
        side, n_classes = (Y_REG, PRED_REG, None), 0
    weights = RNG.multinomial(N, np.full(N, 1 / N), size=5).astype("float64")
    fast = _scores(task, [metric], side, n_classes, weights)[0]
    for w, value in zip(weights, fast):
        idx = np.repeat(np.arange(N), w.astype(int))
        y, pred, proba = (a if a is None else a[idx] for a in side)
        assert value == pytest.approx(compute_metrics(task, [metric], y, pred, proba, n_classes)[metric], abs=1e-12)
