"""Evaluate a bundle on labelled rows: metrics for the model and a dummy baseline, and a report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tesla.errors import DataError
from tesla.evaluation.metrics import DEFAULT_METRICS, baseline_predictions, compute_metrics, higher_is_better
from tesla.report import html

if TYPE_CHECKING:
    import pandas as pd

    from tesla.models import Bundle

__all__ = ["Evaluation", "evaluate_bundle", "predict_rows"]


@dataclass
class Evaluation:
    """Metrics of a model and its baseline on the same rows, plus the HTML report."""

    task: str
    rows: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    report_html: str

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "rows": self.rows, "metrics": self.metrics, "baseline": self.baseline}


def _encode_labels(bundle: Bundle, y: pd.Series) -> np.ndarray:
    classes = [str(c) for c in bundle.classes or []]
    index = {c: i for i, c in enumerate(classes)}
    raw = y.astype(str).tolist()
    unknown = sorted({v for v in raw if v not in index})
    if unknown:
        raise DataError(f"target has label(s) {', '.join(map(repr, unknown[:5]))} the model never saw; "
                        f"it knows {', '.join(map(repr, classes))}", key=bundle.manifest["target"])
    return np.array([index[v] for v in raw])


def predict_rows(bundle: Bundle, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(labels, predictions, probabilities or None) of ``bundle`` on ``df``'s labelled rows, as ``compute_metrics``
    takes them: classes as indices of ``bundle.classes``."""
    target = bundle.manifest["target"]
    X = bundle.features(df.drop(columns=[target]), unseen="unknown")
    if bundle.task == "regression":
        y = df[target].astype("float64").to_numpy()
        return y, np.asarray(bundle.estimator.predict(X), dtype="float64").reshape(-1), None
    proba = bundle.predict_proba_features(X)
    return _encode_labels(bundle, df[target]), proba.argmax(axis=1), proba


def evaluate_bundle(bundle: Bundle, df: pd.DataFrame, *, metrics: Sequence[str] = (),
                    title: str = "Evaluation", source: str = "") -> Evaluation:
    """Score ``bundle`` on ``df`` (which must hold the target column)."""
    target, task = bundle.manifest["target"], bundle.task
    if target not in df.columns:
        raise DataError(f"evaluation data {source or ''} has no target column '{target}'; "
                        f"columns: {', '.join(df.columns)}".replace("  ", " "), key=target)
    df = df[df[target].notna()]
    chosen = list(metrics) or DEFAULT_METRICS[task]
    n_classes = len(bundle.classes or [])
    y, pred, proba = predict_rows(bundle, df)
    scores = compute_metrics(task, chosen, y, pred, proba, n_classes)
    b_pred, b_proba = baseline_predictions(task, bundle.manifest["baseline"], len(y))
    base = compute_metrics(task, chosen, y, b_pred, b_proba, n_classes)
    report = _report(bundle, title, source, scores, base, y, pred)
    return Evaluation(task=task, rows=len(y), metrics=scores, baseline=base, report_html=report)


def _report(bundle: Bundle, title: str, source: str, scores: dict[str, float], base: dict[str, float],
            y: np.ndarray, pred: np.ndarray) -> str:
    rows = {m: {"model": v, "baseline": base[m],
                "better": "yes" if (v > base[m]) == higher_is_better(m) else "no"} for m, v in scores.items()}
    sections = [("Metrics (model vs dummy baseline)", html.metrics_table(rows, ["model", "baseline", "better"]))]
    if bundle.task == "regression":
        sections.append(("Residuals", html.scatter_svg(pred.tolist(), (y - pred).tolist(), x_label="predicted",
                                                       y_label="actual - predicted", zero_line=True)))
    else:
        from sklearn.metrics import confusion_matrix

        labels = bundle.classes or []
        matrix = confusion_matrix(y, pred, labels=list(range(len(labels)))).tolist()
        sections.append(("Confusion matrix", html.confusion_table(matrix, labels)))
    m = bundle.manifest
    facts = {"model": m.get("model_ref", ""), "estimator": m.get("estimator"), "framework": m.get("framework"),
             "task": bundle.task, "data": source, "rows": len(y), "tesla": m.get("tesla_version")}
    return html.page(title, sections, facts)
