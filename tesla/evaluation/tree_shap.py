"""TreeSHAP values of gradient-boosted trees, from the learners' own exact implementations.

LightGBM (``predict(..., pred_contrib=True)``) and XGBoost (``predict(..., pred_contribs=True)``) compute
exact TreeSHAP contributions natively, so no ``shap`` package is needed. Every other estimator (scikit-learn
forests, linear models, ensembles, neural networks) has no exact SHAP this cheap and gets none.
Contributions are in the model's raw margin: log-odds (binary), one logit per class (multiclass), target
units (regression); per row they and the expected value sum to that margin, which is what makes them SHAP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["mean_abs_shap", "supports_tree_shap", "tree_contributions"]


def supports_tree_shap(estimator: Any) -> bool:
    """Whether ``estimator`` is a LightGBM or XGBoost model (scikit-learn API or a bare booster)."""
    return type(estimator).__module__.split(".")[0] in ("lightgbm", "xgboost")


def tree_contributions(estimator: Any, X: pd.DataFrame) -> np.ndarray | None:
    """TreeSHAP contributions of ``estimator`` on its feature frame ``X`` (``Bundle.features``).

    Returns:
        An array (rows, outputs, model columns + 1): one output for binary and regression models (the
        positive class's log-odds, or the target), one per class for multiclass; the last column is the
        expected value. None for an estimator without native TreeSHAP (see ``supports_tree_shap``).
    """
    import numpy as np

    if not supports_tree_shap(estimator):
        return None
    if type(estimator).__module__.startswith("lightgbm"):
        booster = getattr(estimator, "booster_", estimator)  # LGBMModel or lightgbm.Booster
        # the booster's default iteration count is what LGBMModel.predict uses (its best one, when set)
        raw = np.asarray(booster.predict(X, pred_contrib=True), dtype="float64")
    else:
        raw = _xgboost_contributions(estimator, X)
    width = X.shape[1] + 1
    return raw.reshape(len(X), -1, width)  # LightGBM lays multiclass out as (rows, classes * width)


def _xgboost_contributions(estimator: Any, X: pd.DataFrame) -> np.ndarray:
    import numpy as np
    import xgboost  # lazy: only an XGBoost model gets here

    booster = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
    best = booster.attr("best_iteration")  # as XGBModel.predict: trees up to the best iteration, when early-stopped
    limit = (0, int(best) + 1) if best is not None else (0, 0)
    matrix = xgboost.DMatrix(X)
    return np.asarray(booster.predict(matrix, pred_contribs=True, iteration_range=limit), dtype="float64")


def mean_abs_shap(contributions: np.ndarray, sources: Sequence[str]) -> dict[str, float]:
    """Mean |SHAP value| per raw column, largest first.

    The contributions of the model columns one raw column became (its one-hot group, a date's parts) are
    summed per row first, the SHAP value of the group; then their absolute value is averaged over rows
    and, for multiclass, over classes.

    Args:
        contributions: ``tree_contributions``' array (rows, outputs, model columns + 1).
        sources: the raw column of each model column, in order (``Preprocessor.column_sources``).
    """
    import numpy as np

    per_column = contributions[:, :, :-1]  # the expected value is no column's
    if per_column.shape[2] != len(sources):
        raise ValueError(f"{per_column.shape[2]} model columns but {len(sources)} sources")
    names = list(dict.fromkeys(sources))
    membership = np.zeros((len(sources), len(names)))  # model column x raw column: 1 where it comes from
    membership[np.arange(len(sources)), [names.index(s) for s in sources]] = 1.0
    grouped = per_column @ membership  # (rows, outputs, raw columns)
    means = np.abs(grouped).mean(axis=(0, 1))
    return dict(sorted(((n, float(v)) for n, v in zip(names, means, strict=True)), key=lambda kv: -kv[1]))
