"""Evaluate a bundle on labelled rows: metrics for the model and a dummy baseline, decisions, plots and a report."""

from __future__ import annotations

import html as html_lib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tesla.errors import DataError
from tesla.evaluation import decisions, plots, tree_shap
from tesla.evaluation.metrics import DEFAULT_METRICS, baseline_predictions, compute_metrics, higher_is_better
from tesla.report import html

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from tesla.models import Bundle

__all__ = ["Evaluation", "evaluate_bundle", "figures", "labelled_rows", "score_rows"]

_IMPORTANCE_ROWS = 1000  # permutation importance and SHAP values on at most this many rows (seeded sample)
_SHAP_PROBE_ROWS = 50  # with a time limit, SHAP values are timed on this many rows first
_SHAP_UNIT = {"binary": "log-odds of the positive class", "multiclass": "logit, averaged over classes",
              "regression": "target units"}
_SLICE_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}


@dataclass
class Evaluation:
    """Metrics of a model and its baseline on the same rows, its decisions and warnings, plus the HTML report."""

    task: str
    rows: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    report_html: str
    decision: dict[str, Any] | None = None  # binary: {"threshold", "objective", ...} chosen on these rows
    warnings: list[str] = field(default_factory=list)
    slices: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "rows": self.rows, "metrics": self.metrics, "baseline": self.baseline,
                "decision": self.decision, "warnings": self.warnings, "slices": self.slices}

    def _repr_html_(self) -> str:
        return self.report_html


@dataclass
class _Scored:
    """What every plot and table is drawn from: truth, predictions and probabilities (classification)."""

    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    classes: list[Any]


def _encode_labels(bundle: Bundle, y: pd.Series) -> np.ndarray:
    classes = [str(c) for c in bundle.classes or []]
    index = {c: i for i, c in enumerate(classes)}
    raw = y.astype(str).tolist()
    unknown = sorted({v for v in raw if v not in index})
    if unknown:
        raise DataError(f"target has label(s) {', '.join(map(repr, unknown[:5]))} the model never saw; "
                        f"it knows {', '.join(map(repr, classes))}", key=bundle.manifest["target"])
    return np.array([index[v] for v in raw])


def labelled_rows(bundle: Bundle, df: pd.DataFrame, source: str = "") -> pd.DataFrame:
    """``df``'s rows that hold a label, re-indexed 0..n-1; a DataError when it has no target column."""
    target = bundle.manifest["target"]
    if target not in df.columns:
        raise DataError(f"evaluation data {source or ''} has no target column '{target}'; "
                        f"columns: {', '.join(df.columns)}".replace("  ", " "), key=target)
    return df[df[target].notna()].reset_index(drop=True)


def score_rows(bundle: Bundle, df: pd.DataFrame) -> _Scored:
    """Truth, the bundle's own decisions and probabilities on labelled rows (see ``labelled_rows``)."""
    target = bundle.manifest["target"]
    X = bundle.features(df.drop(columns=[target]), unseen="unknown")
    if bundle.task == "regression":
        y = df[target].astype("float64").to_numpy()
        return _Scored(y, np.asarray(bundle.estimate(X), dtype="float64").reshape(-1), None, [])
    proba = bundle.predict_proba_features(X)
    return _Scored(_encode_labels(bundle, df[target]), bundle.decide(proba), proba, list(bundle.classes or []))


def _decide(bundle: Bundle, y: np.ndarray, proba: np.ndarray,
            rule: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Predicted class indices, and the decision chosen on these rows (binary with an objective) or None.

    With a chosen threshold the labels are cross-fitted (each half decided by the other half's
    threshold), so label metrics do not flatter the threshold they were tuned with.
    """
    if bundle.task != "binary" or rule.get("objective", "none") == "none":
        return bundle.decide(proba), None
    threshold = decisions.choose_threshold(y, proba[:, 1], rule)
    if threshold is None:
        return bundle.decide(proba), None
    crossed = decisions.cross_fitted_labels(y, proba[:, 1], rule)
    decision = {"threshold": threshold, "objective": rule["objective"], "rows": int(len(y)),
                "label_metrics": "cross-fitted (2 folds)" if crossed is not None else "in-sample (too few rows)"}
    decision.update({k: rule[k] for k in ("cost_fp", "cost_fn", "target_recall") if k in rule})
    return (crossed if crossed is not None else (proba[:, 1] >= threshold).astype("int64")), decision


def evaluate_bundle(bundle: Bundle, df: pd.DataFrame, *, metrics: Sequence[str] = (),
                    title: str = "Evaluation", source: str = "", model: str = "",
                    threshold: Mapping[str, Any] | None = None, slices: Sequence[str] = (),
                    importance: bool = True, importance_s: float | None = None) -> Evaluation:
    """Score ``bundle`` on ``df`` (which must hold the target column).

    Args:
        bundle: the model.
        df: labelled rows.
        metrics: metric names; empty: the task's defaults.
        title: the report's title.
        source: how the report names the rows (a file label or "held-out split").
        model: the model's name or ref, shown in the report.
        threshold: ``evaluation.threshold`` (binary): choose and return a decision threshold on these rows.
        slices: columns to compute metrics per value of (``evaluation.slices``).
        importance: compute permutation feature importance (one rescoring per column and repeat) and, for
            LightGBM and XGBoost models, mean |SHAP value| per column (their native TreeSHAP).
        importance_s: the most seconds the permutation importance and the SHAP values together may take (a
            training run's budget left): the permutation's repeats are cut to fit (half of it when SHAP values
            apply too), the SHAP values get what is left and are computed on as many sampled rows as a timed
            probe says fit; each is skipped, or cut, with a warning saying so.
    """
    target, task = bundle.manifest["target"], bundle.task
    df = labelled_rows(bundle, df, source)
    chosen = list(metrics) or DEFAULT_METRICS[task]
    n_classes = len(bundle.classes or [])
    scored = score_rows(bundle, df)
    y, proba, decision = scored.y, scored.proba, None
    if proba is not None:
        scored.pred, decision = _decide(bundle, y, proba, threshold or {})
    pred = scored.pred
    scores = compute_metrics(task, chosen, y, pred, proba, n_classes)
    b_pred, b_proba = baseline_predictions(task, bundle.manifest["baseline"], len(y))
    base = compute_metrics(task, chosen, y, b_pred, b_proba, n_classes)
    warnings = [w for w in [decisions.collapse_warning(y, pred, scored.classes)] if w] if task != "regression" else []
    slice_rows, slice_warnings = _slices(task, df, slices, scored, n_classes)
    warnings += slice_warnings
    ranked: dict[str, tuple[float, float]] = {}
    shap: dict[str, float] = {}
    if importance:
        sample, truth = _importance_sample(df.drop(columns=[target]), y)
        deadline = None if importance_s is None else time.monotonic() + importance_s
        with_shap = bool(len(sample)) and tree_shap.supports_tree_shap(bundle.estimator)
        share = None if importance_s is None else importance_s * (0.5 if with_shap else 1.0)
        ranked, skipped = _importance(bundle, sample, truth, task, seconds=share)
        shap, cut = _shap(bundle, sample, seconds=None if deadline is None else deadline - time.monotonic())
        warnings += [w for w in (skipped, cut) if w]
    facts = _facts(bundle, model, source, len(y), decision)
    report = _report(title, facts, scores, base, scored, task, decision, warnings, slice_rows, ranked, shap)
    return Evaluation(task=task, rows=len(y), metrics=scores, baseline=base, report_html=report,
                      decision=decision, warnings=warnings, slices=slice_rows)


def _slices(task: str, df: pd.DataFrame, columns: Sequence[str], s: _Scored,
            n_classes: int) -> tuple[list[dict[str, Any]], list[str]]:
    if not columns:
        return [], []
    metric = _SLICE_METRIC[task]

    def score(index: np.ndarray) -> float:
        return compute_metrics(task, [metric], s.y[index], s.pred[index],
                               None if s.proba is None else s.proba[index], n_classes)[metric]

    overall = score(np.arange(len(s.y)))
    return decisions.slice_metrics(df, columns, metric, score, overall, higher=higher_is_better(metric))


def _importance_sample(rows: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The seeded sample of at most ``_IMPORTANCE_ROWS`` rows (and their truth) importances are computed on."""
    rng = np.random.default_rng(0)
    index = np.sort(rng.choice(len(rows), min(len(rows), _IMPORTANCE_ROWS), replace=False))
    return rows.iloc[index].reset_index(drop=True), y[index]


def _importance(bundle: Bundle, sample: pd.DataFrame, truth: np.ndarray, task: str, *,
                seconds: float | None = None) -> tuple[dict[str, tuple[float, float]], str]:
    """Permutation importance of the raw columns on the sample (drop in r2 or rise in log loss), and why it was
    skipped ("" when it was not).

    The sample is encoded once; each raw column's encoded columns (``Preprocessor.column_sources``) are
    shuffled together, which is shuffling the raw column (the encoding is row by row) without encoding the
    sample again for each of the columns x repeats rescorings; the learner is called on the matrix. With
    ``seconds``, the repeats (3) are cut to what one timed rescoring says fits, and none fitting skips it.
    """
    from sklearn.metrics import log_loss, r2_score

    if len(sample) < 10:
        return {}, ""
    columns = [f["name"] for f in bundle.signature if f["name"] in sample.columns]
    labels = list(range(len(bundle.classes or [])))
    X = bundle.features(sample, unseen="unknown")
    sources = bundle.preprocessor.column_sources
    groups = {raw: [X.columns[i] for i, s in enumerate(sources) if s == raw] for raw in columns}

    def score(encoded: pd.DataFrame) -> float:
        matrix = encoded.to_numpy(dtype="float64")  # the fast path: no DataFrame conversion in the learner
        if task == "regression":
            return float(r2_score(truth, np.asarray(bundle.estimate(matrix), dtype="float64").reshape(-1)))
        return -float(log_loss(truth, bundle.predict_proba_features(matrix), labels=labels))

    repeats = 3
    if seconds is not None:
        started = time.perf_counter()
        score(X)
        one_round = (time.perf_counter() - started) * (len(groups) + 1)
        repeats = min(repeats, int(seconds // max(one_round, 1e-9)))
        if repeats < 1:
            return {}, (f"permutation importance skipped: one round of {len(groups)} columns (~{one_round:.1f} s) "
                        f"would end past search.time_budget_s; `tesla evaluate` computes it")
    return plots.permutation_importance(score, X, groups=groups, repeats=repeats), ""


def _shap(bundle: Bundle, sample: pd.DataFrame, *, seconds: float | None = None) -> tuple[dict[str, float], str]:
    """Mean |SHAP value| per raw column on the sample (empty for a model without native TreeSHAP), and why it
    was skipped or cut to fewer rows ("" when it was not).

    TreeSHAP costs about leaves x depth times a prediction per row (10 s for 1,000 rows of a deep XGBoost
    model), so with ``seconds`` it first runs on ``_SHAP_PROBE_ROWS`` rows of a seeded shuffle of the sample,
    then on as many more as that timing says fit.
    """
    if not len(sample) or not tree_shap.supports_tree_shap(bundle.estimator):
        return {}, ""  # checked before the features are built: most estimators stop here
    if seconds is not None and seconds <= 0:
        return {}, "SHAP values skipped: search.time_budget_s has no time left for them; `tesla evaluate` computes them"
    X = bundle.features(sample, unseen="unknown")
    note = ""
    if seconds is None:
        contributions = tree_shap.tree_contributions(bundle.estimator, X)
    else:
        X = X.iloc[np.random.default_rng(1).permutation(len(X))]
        started = time.perf_counter()
        probe = min(len(X), _SHAP_PROBE_ROWS)
        parts = [tree_shap.tree_contributions(bundle.estimator, X.iloc[:probe])]
        spent = time.perf_counter() - started
        more = min(len(X) - probe, int(max(0.0, seconds - spent) / max(spent / probe, 1e-9)))
        if more > 0:
            parts.append(tree_shap.tree_contributions(bundle.estimator, X.iloc[probe:probe + more]))
        contributions = None if parts[0] is None else np.concatenate(parts)
        if probe + more < len(X):
            note = (f"SHAP values on {probe + more} of {len(X)} sampled rows: that is what search.time_budget_s left "
                    f"room for; `tesla evaluate` computes them on all")
    if contributions is None:
        return {}, ""
    return tree_shap.mean_abs_shap(contributions, bundle.preprocessor.column_sources), note


def figures(s: _Scored, task: str, decision: Mapping[str, Any] | None,
            importance: Mapping[str, tuple[float, float]],
            shap: Mapping[str, float] | None = None) -> list[tuple[str, Callable[[], Figure]]]:
    """(heading, figure factory) for every plot that applies to ``task``."""
    out: list[tuple[str, Callable[[], Figure]]] = []
    if task == "regression":
        out += [("Predicted vs actual", lambda: plots.predicted_vs_actual_plot(s.y, s.pred)),
                ("Residuals", lambda: plots.residuals_plot(s.y, s.pred))]
    else:
        assert s.proba is not None
        proba = s.proba
        out += [("ROC", lambda: plots.roc_plot(s.y, proba, s.classes)),
                ("Precision-recall", lambda: plots.pr_plot(s.y, proba, s.classes)),
                ("Calibration", lambda: plots.calibration_plot(s.y, proba, s.classes)),
                ("Lift and gain", lambda: plots.lift_gain_plot(s.y, proba, s.classes))]
        if task == "binary":
            chosen = (decision or {}).get("threshold")
            out.append(("Threshold", lambda: plots.threshold_plot(s.y, proba, threshold=chosen)))
        out += [("Confusion matrix (counts)", lambda: plots.confusion_plot(s.y, s.pred, s.classes)),
                ("Confusion matrix (normalised)", lambda: plots.confusion_plot(s.y, s.pred, s.classes, normalize=True)),
                ("Per-class metrics", lambda: plots.per_class_plot(s.y, s.pred, s.classes))]
    if importance:
        metric = "r2" if task == "regression" else "-log_loss"
        out.append(("Permutation feature importance",
                    lambda: plots.permutation_importance_plot(dict(importance), metric=metric)))
    if shap:
        values = dict(shap)
        out.append(("SHAP values (TreeSHAP)", lambda: plots.shap_importance_plot(values, unit=_SHAP_UNIT[task])))
    return out


def _facts(bundle: Bundle, model: str, source: str, rows: int, decision: Mapping[str, Any] | None) -> dict[str, Any]:
    m = bundle.manifest
    lineage = m.get("lineage") or {}
    facts = {"model": model or lineage.get("model") or m.get("estimator", ""), "estimator": m.get("estimator"),
             "framework": m.get("framework"), "task": bundle.task, "data": source, "rows": rows}
    if lineage.get("dataset"):
        facts["trained on"] = f"{lineage['dataset']}@{lineage.get('dataset_version')}"
    stored = (m.get("decision") or {}).get("threshold")
    if decision:
        facts["decision threshold"] = (f"{decision['threshold']:.4f} (chosen on these rows for "
                                       f"{decision['objective']}; label metrics {decision['label_metrics']})")
    elif stored is not None:
        facts["decision threshold"] = f"{stored:.4f} (stored with the model)"
    elif bundle.task != "regression":
        facts["decision threshold"] = "argmax (none chosen)"
    facts["tesla"] = m.get("tesla_version")
    return facts


def _report(title: str, facts: Mapping[str, Any], scores: Mapping[str, float], base: Mapping[str, float],
            s: _Scored, task: str, decision: Mapping[str, Any] | None, warnings: Sequence[str],
            slice_rows: Sequence[Mapping[str, Any]], importance: Mapping[str, tuple[float, float]],
            shap: Mapping[str, float]) -> str:
    rows = {m: {"model": v, "baseline": base[m],
                "better": "yes" if (v > base[m]) == higher_is_better(m) else "no"} for m, v in scores.items()}
    sections = []
    if warnings:
        items = "".join(f"<li>{html_lib.escape(w)}</li>" for w in warnings)
        sections.append(("Warnings", f"<ul class='warn'>{items}</ul>"))
    sections.append(("Metrics (model vs dummy baseline)", html.metrics_table(rows, ["model", "baseline", "better"])))
    if slice_rows:
        metric = _SLICE_METRIC[task]
        sections.append((f"Slices ({metric})", html.records_table(slice_rows, ["column", "value", "rows", metric])))
    for heading, make in figures(s, task, decision, importance, shap):
        fig = make()
        sections.append((heading, plots.to_svg(fig)))
    if importance:
        table = [{"column": k, "importance": m, "std": sd} for k, (m, sd) in importance.items()]
        sections.append(("Permutation importance (table)", html.records_table(table, ["column", "importance", "std"])))
    return html.page(title, sections, facts)
