"""Evaluation plots: each a function of labels and scores returning a matplotlib ``Figure``.

Classification ``y`` holds class indices 0..k-1 and ``proba`` one column per class (the bundle's
``classes`` order). Figures are built with ``matplotlib.figure.Figure`` directly, not pyplot: no
global backend or figure registry, so plotting is safe from server threads and leaks nothing.
``to_svg`` turns a figure into inline SVG for the self-contained HTML report.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "calibration_plot",
    "confusion_plot",
    "lift_gain_plot",
    "per_class_plot",
    "permutation_importance",
    "permutation_importance_plot",
    "pr_plot",
    "predicted_vs_actual_plot",
    "residuals_plot",
    "roc_plot",
    "shap_importance_plot",
    "threshold_plot",
    "to_png",
    "to_svg",
]

_BLUE = "#2864c8"


def _figure(width: float = 5.6, height: float = 4.0, ncols: int = 1) -> tuple[Figure, Any]:
    """A figure and its axes (an array of ``ncols`` axes when ``ncols > 1``)."""
    from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.3 s

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(1, ncols)


def _thin(*arrays: np.ndarray, n: int = 600) -> tuple[np.ndarray, ...]:
    """At most ``n`` evenly spaced points of each curve: a 100 k-point line would bloat the SVG, not the picture."""
    if len(arrays[0]) <= n:
        return arrays
    index = np.unique(np.linspace(0, len(arrays[0]) - 1, n).astype(int))
    return tuple(a[index] for a in arrays)


def _sample(*arrays: np.ndarray, n: int = 3000) -> tuple[np.ndarray, ...]:
    """A seeded random ``n`` rows of a scatter: its shape stays, its SVG stays small."""
    if len(arrays[0]) <= n:
        return arrays
    index = np.random.default_rng(0).choice(len(arrays[0]), n, replace=False)
    return tuple(a[index] for a in arrays)


def _one_vs_rest(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, 0/1 truth, score) per curve: the positive class for binary, each class for multiclass."""
    if proba.shape[1] == 2:
        return [(str(classes[1]), (y == 1).astype(int), proba[:, 1])]
    return [(str(c), (y == i).astype(int), proba[:, i]) for i, c in enumerate(classes)]


def roc_plot(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> Figure:
    """ROC curve (one-vs-rest per class for multiclass) with its AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure()
    for name, truth, score in _one_vs_rest(y, proba, classes):
        if truth.min() == truth.max():
            continue  # a class absent from these rows has no curve
        fpr, tpr = _thin(*roc_curve(truth, score)[:2])
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(truth, score):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_plot(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> Figure:
    """Precision-recall curve with average precision; the dashed line is each class's base rate."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = _figure()
    for name, truth, score in _one_vs_rest(y, proba, classes):
        if truth.min() == truth.max():
            continue
        precision, recall = _thin(*precision_recall_curve(truth, score)[:2])
        line = ax.plot(recall, precision, label=f"{name} (AP {average_precision_score(truth, score):.3f})")[0]
        ax.axhline(truth.mean(), ls="--", lw=1, color=line.get_color(), alpha=.5)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    return fig


def calibration_plot(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any], *, bins: int = 10) -> Figure:
    """Reliability diagram (mean predicted vs observed frequency per bin) with each curve's Brier score."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    fig, ax = _figure()
    for name, truth, score in _one_vs_rest(y, proba, classes):
        if truth.min() == truth.max():
            continue
        observed, predicted = calibration_curve(truth, score, n_bins=bins, strategy="quantile")
        ax.plot(predicted, observed, marker="o", ms=3, label=f"{name} (Brier {brier_score_loss(truth, score):.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1, label="perfectly calibrated")
    ax.set(xlabel="mean predicted probability", ylabel="observed frequency", title="Calibration (reliability)")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def lift_gain_plot(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> Figure:
    """Cumulative gain (share of positives found) and lift against the share of rows targeted, highest score first."""
    fig, (gain_ax, lift_ax) = _figure(9.0, 3.8, ncols=2)
    for name, truth, score in _one_vs_rest(y, proba, classes):
        if truth.sum() == 0:
            continue
        hits = truth[np.argsort(-score, kind="stable")]
        share = np.arange(1, len(hits) + 1) / len(hits)
        gain = np.cumsum(hits) / hits.sum()
        share, gain = _thin(share, gain)
        gain_ax.plot(np.r_[0, share], np.r_[0, gain], label=name)
        lift_ax.plot(share, gain / share, label=name)
    gain_ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1)
    gain_ax.set(xlabel="share of rows targeted", ylabel="share of positives found", title="Cumulative gain")
    lift_ax.axhline(1, ls="--", color="#999", lw=1)
    lift_ax.set(xlabel="share of rows targeted", ylabel="lift", title="Lift")
    gain_ax.legend(fontsize=8)
    return fig


def threshold_plot(y: np.ndarray, proba: np.ndarray, *, threshold: float | None = None) -> Figure:
    """Precision, recall and F1 of the positive class against the decision threshold (binary)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, proba[:, 1])
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision),
                   where=(precision + recall) > 0)
    thresholds, precision, recall, f1 = _thin(thresholds, precision, recall, f1)
    fig, ax = _figure()
    for values, label in ((precision, "precision"), (recall, "recall"), (f1, "F1")):
        ax.plot(thresholds, values, label=label)
    if threshold is not None:
        ax.axvline(threshold, color="#c33", ls="--", lw=1, label=f"chosen threshold {threshold:.3f}")
    ax.set(xlabel="threshold on P(positive)", ylabel="score", title="Precision / recall / F1 vs threshold",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=8)
    return fig


def confusion_plot(y: np.ndarray, pred: np.ndarray, classes: Sequence[Any], *, normalize: bool = False) -> Figure:
    """Confusion matrix heat map, rows = actual; ``normalize``: each row as shares of the actual class."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y, pred, labels=list(range(len(classes)))).astype("float64")
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(3.6, 0.6 * len(classes) + 2.4)
    fig, ax = _figure(size + 0.8, size)
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, shrink=.8)
    high = matrix.max() / 2 if matrix.size else 0
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize=8,
                color="white" if v > high else "black")
    ticks = range(len(classes))
    ax.set_xticks(ticks, [str(c) for c in classes], rotation=45 if len(classes) > 4 else 0)
    ax.set_yticks(ticks, [str(c) for c in classes])
    ax.set(xlabel="predicted", ylabel="actual",
           title="Confusion matrix (share of each actual class)" if normalize else "Confusion matrix (counts)")
    return fig


def per_class_plot(y: np.ndarray, pred: np.ndarray, classes: Sequence[Any]) -> Figure:
    """Precision, recall and F1 of every class as grouped bars."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=list(range(len(classes))), zero_division=0)
    fig, ax = _figure(max(5.0, 0.9 * len(classes) + 2), 3.8)
    x = np.arange(len(classes))
    for k, (values, label) in enumerate(((p, "precision"), (r, "recall"), (f, "F1"))):
        ax.bar(x + (k - 1) * .27, values, width=.27, label=label)
    ax.set_xticks(x, [str(c) for c in classes])
    ax.set(ylim=(0, 1.05), ylabel="score", title="Per-class metrics")
    ax.legend(fontsize=8)
    return fig


def residuals_plot(y: np.ndarray, pred: np.ndarray) -> Figure:
    """Residual (actual - predicted) against predicted, and the residuals' histogram."""
    fig, (scatter_ax, hist_ax) = _figure(9.0, 3.8, ncols=2)
    residual = y - pred
    hist_ax.hist(residual, bins=40, color=_BLUE)
    pred, residual = _sample(pred, residual)
    scatter_ax.scatter(pred, residual, s=6, alpha=.4, color=_BLUE)
    scatter_ax.axhline(0, color="#c33", lw=1)
    scatter_ax.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals")
    hist_ax.set(xlabel="actual - predicted", ylabel="rows", title="Residual distribution")
    return fig


def predicted_vs_actual_plot(y: np.ndarray, pred: np.ndarray) -> Figure:
    """Predicted against actual values; the diagonal is a perfect model."""
    fig, ax = _figure()
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    y, pred = _sample(y, pred)
    ax.scatter(y, pred, s=6, alpha=.4, color=_BLUE)
    ax.plot([lo, hi], [lo, hi], ls="--", color="#c33", lw=1)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    return fig


def permutation_importance(score: Callable[[Any], float], rows: Any, *, repeats: int = 3, seed: int = 0,
                           groups: Mapping[str, Sequence[Any]] | None = None) -> dict[str, tuple[float, float]]:
    """Drop in ``score(rows)`` (higher is better) when each raw column is shuffled: column -> (mean, std).

    Raw columns, not the encoded features the estimator sees, so one-hot groups count as one feature.
    ``groups`` (raw column -> the columns of ``rows`` it became) shuffles each group's columns together, by
    one permutation of the rows: on encoded rows that is the same as shuffling the raw column before a
    row-by-row encoding, without encoding again for every shuffle. Default: each column of ``rows`` alone.
    """
    rng = np.random.default_rng(seed)
    base = score(rows)
    members = groups if groups is not None else {column: [column] for column in rows.columns}
    out: dict[str, tuple[float, float]] = {}
    for column, group in members.items():
        drops = []
        positions = [rows.columns.get_loc(c) for c in group]
        for _ in range(repeats):
            order = rng.permutation(len(rows))
            shuffled = rows.copy()
            if positions:
                shuffled.iloc[:, positions] = rows.iloc[order, positions].to_numpy()
            drops.append(base - score(shuffled))
        out[str(column)] = (float(np.mean(drops)), float(np.std(drops)))
    return dict(sorted(out.items(), key=lambda kv: -kv[1][0]))


def permutation_importance_plot(importance: dict[str, tuple[float, float]], *, metric: str, top: int = 20) -> Figure:
    """Horizontal bars of ``permutation_importance``, most important on top, with the spread over repeats."""
    items = list(importance.items())[:top][::-1]
    fig, ax = _figure(5.6, max(2.5, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [m for _, (m, _) in items], xerr=[s for _, (_, s) in items], color=_BLUE)
    ax.axvline(0, color="#444", lw=.8)
    ax.set(xlabel=f"drop in {metric} when the column is shuffled", title="Permutation feature importance")
    return fig


def shap_importance_plot(values: dict[str, float], *, unit: str, top: int = 20) -> Figure:
    """Horizontal bars of mean |SHAP value| per raw column (``tree_shap.mean_abs_shap``), largest on top.

    ``unit`` names what a contribution is measured in (log-odds, a class's logit, the target's units).
    """
    items = list(values.items())[:top][::-1]
    fig, ax = _figure(5.6, max(2.5, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color=_BLUE)
    ax.set(xlabel=f"mean |SHAP value| ({unit})", title="SHAP values (TreeSHAP)")
    return fig


_XML_HEAD = re.compile(r"<\?xml.*?\?>\s*|<!DOCTYPE.*?>\s*|<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element for an HTML page.

    The XML prolog, DOCTYPE, RDF metadata and namespace declarations are dropped: an HTML parser needs
    none of them inline, and each names a URL, which a report that must open offline should not hold.
    Text stays text (``svg.fonttype: none``), so a report is small and searchable.
    """
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "tesla"}), _quiet_draw():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _NAMESPACES.sub("", _XML_HEAD.sub("", buf.getvalue()))


def to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (files and notebooks)."""
    buf = io.BytesIO()
    with _quiet_draw():
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


@contextlib.contextmanager
def _quiet_draw() -> Iterator[None]:
    """Draw whatever the column and class names are. matplotlib warns when its font lacks a glyph (a CJK
    column name: the SVG keeps text as text, which the browser draws with its own fonts; a PNG shows a
    box) and when very long labels leave the layout no room (the plot is drawn unlaid-out)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        warnings.filterwarnings("ignore", message="constrained_layout not applied", category=UserWarning)
        yield
