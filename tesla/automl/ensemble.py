"""A greedy weighted ensemble (Caruana et al. 2004; AutoGluon's ``WeightedEnsemble_L2``) of the search's best models.

Each searched estimator's best configuration gives out-of-fold predictions (``n_splits`` folds of
the training rows, seeded). Greedy selection with replacement then adds, one at a time, the member
whose addition most lowers the loss of the averaged predictions (log loss for classification, squared
error for regression, whatever the search metric: both are proper scores of the averaged output). The
counts are the weights. The ensemble is kept only when its out-of-fold loss beats the best single
member's by ``MIN_GAIN``; it is then a scikit-learn ``VotingClassifier`` (soft) / ``VotingRegressor``
with those weights, fitted on every training row: trusted types only, so skops loads it safely.

Nothing here raises at the end of a search: the caller keeps the best single model on any failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Blend", "caruana_weights", "fit_blend"]

ROUNDS = 25  # greedy steps (members are drawn with replacement)
MAX_MEMBERS = 5  # the best estimators by search loss that are considered
MIN_GAIN = 1e-3  # relative: the ensemble must beat the best single member's out-of-fold loss by this much


@dataclass
class Blend:
    """The outcome: ``model`` is None when the best single model stays (``note`` says why)."""

    model: Any
    members: list[str]
    weights: list[float]
    loss: float
    single_loss: float
    note: str = ""


def _loss(task: str, y: Any, pred: Any) -> float:
    import numpy as np

    if task == "regression":
        return float(np.mean((np.asarray(y, dtype="float64") - pred) ** 2))
    picked = pred[np.arange(len(y)), np.asarray(y, dtype="int64")]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def caruana_weights(task: str, y: Any, preds: Sequence[Any], rounds: int = ROUNDS) -> tuple[list[float], float]:
    """Greedy selection with replacement over ``preds`` (one out-of-fold prediction each): (weights, loss)."""
    import numpy as np

    counts = np.zeros(len(preds))
    total = np.zeros_like(np.asarray(preds[0], dtype="float64"))
    best_loss = float("inf")
    for step in range(1, rounds + 1):
        losses = [_loss(task, y, (total + p) / step) for p in preds]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        total = total + preds[pick]
        best_loss = min(best_loss, losses[pick])
    # the loss of the final weights (greedy steps may rise after their best; the full count is kept,
    # which smooths the weights; its loss is what is reported and compared)
    weights = counts / counts.sum()
    return weights.tolist(), _loss(task, y, sum(w * p for w, p in zip(weights, preds)))


def _oof(task: str, model: Any, X: Any, y: Any, n_splits: int, seed: int) -> Any:
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    if task == "regression":
        cv = KFold(n_splits, shuffle=True, random_state=seed)
        return np.asarray(cross_val_predict(clone(model), X, y, cv=cv), dtype="float64")
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return np.asarray(cross_val_predict(clone(model), X, y, cv=cv, method="predict_proba"), dtype="float64")


def fit_blend(task: str, models: Mapping[str, Any], losses: Mapping[str, float], X: Any, y: Any, *,
              n_splits: int, seed: int, allows: Callable[[float], bool] = lambda _s: True) -> Blend:
    """Out-of-fold predictions of the best ``models`` (native estimators), greedy weights, the fitted blend.

    Args:
        task: binary, multiclass or regression.
        models: estimator name -> its best fitted native estimator (cloned here, never refitted in place).
        losses: estimator name -> its search loss; the ``MAX_MEMBERS`` lowest are considered.
        X, y: the training rows (y encoded 0..k-1 for classification).
        n_splits: folds of the out-of-fold predictions.
        seed: fold seed.
        allows: whether a phase of that many seconds still fits the budget; members whose folds do
            not fit are left out (the blend is dropped when fewer than two remain).
    """
    import time

    from sklearn.base import clone
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    names = sorted((n for n in models if n in losses), key=lambda n: (losses[n], n))[:MAX_MEMBERS]
    preds, kept = [], []
    for name in names:
        started = time.perf_counter()
        preds.append(_oof(task, models[name], X, y, min(n_splits, 3) if len(y) > 20_000 else n_splits, seed))
        kept.append(name)
        spent = time.perf_counter() - started
        if not allows(spent * 1.5):  # the next member's folds and the final fits of the blend
            break
    single = [_loss(task, y, p) for p in preds]
    best_single = min(single)
    if len(kept) < 2:
        return Blend(None, kept, [1.0], best_single, best_single, "the budget had room for one member only")
    weights, loss = caruana_weights(task, y, preds)
    chosen = [(n, w) for n, w in zip(kept, weights) if w > 0]
    if len(chosen) < 2 or loss > best_single * (1 - MIN_GAIN):
        return Blend(None, [n for n, _ in chosen], [w for _, w in chosen], loss, best_single,
                     f"the weighted ensemble's out-of-fold loss {loss:.6g} does not beat the best single "
                     f"model's {best_single:.6g}")
    members = [(n, clone(models[n])) for n, _ in chosen]
    w = [float(v) for _, v in chosen]
    blend = (VotingRegressor(members, weights=w) if task == "regression"
             else VotingClassifier(members, voting="soft", weights=w))
    blend.fit(X, y)
    return Blend(blend, [n for n, _ in chosen], w, loss, best_single)
