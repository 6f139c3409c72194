"""One monitoring check of a deployed model: its live traffic against its training data.

``check_deployment`` reads the captures of ``<model>/<profile>``, keeps the rows served by
the monitored version, and compares them with the dataset version that version was trained
on: per-feature drift (``tesla.monitor.drift``), prediction drift against the model's own
predictions on the reference rows, task metrics on rows that have ground truth, latency
percentiles and the error rate. Every crossed threshold becomes an ``Alert``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tesla.errors import ConfigError, DataError
from tesla.monitor.captures import Captures, capture_dir, capture_profiles, labelled_rows, read_captures
from tesla.monitor.drift import DriftThresholds, FeatureDrift, categorical_drift, feature_drift, numeric_drift
from tesla.monitor.retrain import RetrainOutcome  # at run time: tesla.wire rebuilds a MonitorReport by its annotations

if TYPE_CHECKING:
    import pandas as pd

    from tesla.models import Bundle
    from tesla.store import ModelVersion, Store

__all__ = ["Alert", "MonitorReport", "MonitorSettings", "check_deployment", "choose_profile"]

REFERENCE_ROWS = 100_000  # reference rows kept for drift tests (sampled, seeded)
PREDICTION_ROWS = 20_000  # reference rows the model predicts on for prediction drift
PERCENTILES = (50, 90, 99)
RETRAIN_CHECKS = {"feature_drift", "prediction_drift", "metric"}  # a retrain cannot fix latency or errors
_PROBA_METRICS = {"log_loss", "roc_auc", "roc_auc_ovr"}
BOOTSTRAP_RESAMPLES = 100  # resamples behind a live-metric alert (enough for a 95% end)
BOOTSTRAP_MAX_ROWS = 20_000  # rows per resample; more only slows the check


@dataclass(frozen=True)
class MonitorSettings:
    """Thresholds of a check (the ``monitor`` config group, minus ``retrain``)."""

    psi_threshold: float = 0.2
    wasserstein_threshold: float = 0.1
    js_threshold: float = 0.1
    pvalue_threshold: float = 0.01
    pvalue_correction: str = "bonferroni"
    large_sample_rows: int = 5000
    min_rows: int = 30
    max_error_rate: float = 0.05
    max_p99_latency_ms: float = 500.0
    max_metric_drop: float = 0.05
    max_error_increase: float = 0.25

    @classmethod
    def from_config(cls, monitor: Mapping[str, Any]) -> MonitorSettings:
        """Settings from the resolved ``monitor`` group (unknown keys such as ``retrain`` ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in monitor.items() if k in names})

    def thresholds(self, tests: int) -> DriftThresholds:
        """Drift thresholds for a family of ``tests`` p-value tests (Bonferroni keeps the false-alarm rate)."""
        alpha = self.pvalue_threshold
        if self.pvalue_correction == "bonferroni":
            alpha /= max(tests, 1)
        return DriftThresholds(pvalue=alpha, psi=self.psi_threshold, wasserstein=self.wasserstein_threshold,
                               js=self.js_threshold, large_sample_rows=self.large_sample_rows,
                               min_rows=self.min_rows)


@dataclass
class Alert:
    """One crossed threshold."""

    check: str  # feature_drift | prediction_drift | metric | latency | error_rate
    subject: str  # the feature, metric or percentile
    message: str  # one line with the numbers


@dataclass
class MonitorReport:
    """The outcome of one check; ``alerting`` is what the CLI turns into exit code 1."""

    model: str  # name@version monitored
    profile: str
    status: str  # ok | alert | no_traffic
    since: str | None
    reference: str  # dataset@version (rows)
    rows: int = 0  # predicted rows in the window
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    first_ts: str | None = None
    last_ts: str | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    features: list[FeatureDrift] = field(default_factory=list)
    prediction: FeatureDrift | None = None
    labelled_rows: int = 0
    live_metrics: dict[str, float] = field(default_factory=dict)
    expected_metrics: dict[str, float] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: MonitorSettings = field(default_factory=MonitorSettings)
    pvalue_applied: float | None = None  # the per-test level after correction
    report_path: Path | None = None
    retrain: RetrainOutcome | None = None

    @property
    def alerting(self) -> bool:
        return bool(self.alerts)

    @property
    def wants_retrain(self) -> bool:
        """Whether an alert is one a retrain on newer data can address (drift or live metrics)."""
        return any(a.check in RETRAIN_CHECKS for a in self.alerts)

    def to_dict(self, *, histograms: bool = False) -> dict[str, Any]:
        """Plain data for ``--json`` (histograms only for the HTML report)."""
        out = {k: getattr(self, k) for k in ("model", "profile", "status", "since", "reference", "rows", "requests",
                                              "errors", "error_rate", "first_ts", "last_ts", "latency_ms",
                                              "labelled_rows", "live_metrics", "expected_metrics", "notes",
                                              "pvalue_applied")}
        out["features"] = [f.to_dict(histogram=histograms) for f in self.features]
        out["prediction"] = self.prediction.to_dict(histogram=histograms) if self.prediction else None
        out["alerts"] = [dataclasses.asdict(a) for a in self.alerts]
        out["settings"] = dataclasses.asdict(self.settings)
        out["report"] = str(self.report_path) if self.report_path else None
        out["retrain"] = dataclasses.asdict(self.retrain) if self.retrain else None
        return out


def choose_profile(state_dir: Path, model: str, profile: str | None) -> str:
    """``profile``, else the only profile with captures, else ``production``."""
    if profile:
        return profile
    found = capture_profiles(state_dir, model)
    if len(found) > 1:
        raise ConfigError(f"model '{model}' has captures on profiles {', '.join(found)}; choose one with "
                          "--profile NAME", key="--profile")
    return found[0] if found else "production"


def check_deployment(store: Store, model: str, version: int | None, *, profile: str | None,
                     since: datetime | None, settings: MonitorSettings) -> MonitorReport:
    """Check the traffic of ``model`` on ``profile`` (from ``since`` on) against its training data.

    ``version`` None monitors the newest version seen in the traffic (else the newest registered).

    Raises:
        ModelNotFoundError: no such model or version.
        DataNotFoundError: the training dataset version is gone from the store.
    """
    profile = choose_profile(store.state_dir, model, profile)
    captures = read_captures(capture_dir(store.state_dir, model, profile), since=since)
    mv = store.model(model, version if version is not None else _newest_served(store, captures, model))
    captures, notes = _only_version(captures, mv.ref)
    report = MonitorReport(model=mv.ref, profile=profile, status="ok", since=since.isoformat() if since else None,
                           reference=f"{mv.dataset}@{mv.dataset_version}", settings=settings, notes=notes)
    report.errors = len(captures.errors)
    report.rows, report.requests = len(captures.predictions), captures.requests
    _capture_notes(report, captures)
    if report.rows == 0 and report.errors == 0:
        report.status = "no_traffic"
        report.notes.insert(0, f"no traffic captured for {mv.name} on '{profile}'"
                               f"{f' since {report.since}' if since else ''}; nothing to check")
        return report
    _operations(report, captures, settings)
    if report.rows:
        _quality(report, store, mv, captures, settings)
    report.status = "alert" if report.alerts else "ok"
    return report


def _newest_served(store: Store, captures: Captures, model: str) -> int | None:
    """The newest registered version of ``model`` in the traffic; None: the newest registered."""
    registered = {mv.version for mv in store.model_versions(model)}
    served = {f"{model}@{v}" for v in registered} & set(captures.predictions["model"].unique())
    return max(int(ref.rpartition("@")[2]) for ref in served) if served else None


def _only_version(captures: Captures, ref: str) -> tuple[Captures, list[str]]:
    served = captures.predictions["model"]
    other = served[(served != ref) & (served != "")]
    if other.empty:
        return captures, []
    note = (f"ignored {len(other)} rows served by other versions ({', '.join(sorted(other.unique()))}); "
            f"monitor one with -m {ref.rpartition('@')[0]}@N")
    return captures.only(~served.isin(other.unique())), [note]


def _capture_notes(report: MonitorReport, captures: Captures) -> None:
    if captures.dropped:
        report.notes.append(f"the capture queue dropped {captures.dropped} rows under load; "
                            "these numbers do not include them")
    if captures.bad_lines:
        report.notes.append(f"skipped {captures.bad_lines} unreadable capture lines")
    ts = captures.predictions["ts"].dropna()
    if len(ts):
        report.first_ts, report.last_ts = ts.min().isoformat(), ts.max().isoformat()


# -- latency and errors --------------------------------------------------------------------------
def _operations(report: MonitorReport, captures: Captures, settings: MonitorSettings) -> None:
    attempts = report.requests + report.errors
    report.error_rate = report.errors / attempts if attempts else None
    # one latency per request: every row of a request carries the same value, and big requests must not weigh more
    per_request = captures.predictions.drop_duplicates("request_id")["latency_ms"]
    latency = per_request.dropna().to_numpy(dtype="float64")
    if len(latency):
        report.latency_ms = {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(latency, PERCENTILES))}
    if attempts >= settings.min_rows and report.error_rate is not None and report.error_rate > settings.max_error_rate:
        report.alerts.append(Alert("error_rate", "errors", f"error rate {report.error_rate:.1%} "
                                   f"({report.errors} of {attempts} requests) > {settings.max_error_rate:.1%}"))
    p99 = report.latency_ms.get("p99")
    if len(latency) >= settings.min_rows and p99 is not None and p99 > settings.max_p99_latency_ms:
        report.alerts.append(Alert("latency", "p99", f"p99 latency {p99:.1f} ms > {settings.max_p99_latency_ms:g} ms"))


# -- drift and live metrics --------------------------------------------------------------------
def _quality(report: MonitorReport, store: Store, mv: ModelVersion, captures: Captures,
             settings: MonitorSettings) -> None:
    from tesla.models import load_verified_bundle

    bundle = load_verified_bundle(store.artifacts, mv.bundle_sha, ref=mv.ref)
    reference = _reference(store, mv)
    thresholds = settings.thresholds(len(bundle.signature) + 1)  # every feature plus the predictions
    report.pvalue_applied = thresholds.pvalue
    report.features = _feature_drift(bundle, reference, captures.inputs, thresholds, report.notes)
    for f in report.features:
        if f.drifted:
            report.alerts.append(Alert("feature_drift", f.name, f"feature '{f.name}' drifted: {f.detail}"))
    report.prediction = _prediction_drift(bundle, reference, captures, thresholds)
    if report.prediction.drifted:
        report.alerts.append(Alert("prediction_drift", report.prediction.name,
                                   f"predictions ({report.prediction.name}) drifted: {report.prediction.detail}"))
    _live_metrics(report, bundle, mv, captures, settings)


def _reference(store: Store, mv: ModelVersion) -> pd.DataFrame:
    from tesla.data import read_table

    if not mv.dataset or mv.dataset_version is None:
        raise DataError(f"{mv.ref} has no recorded training dataset, so there is nothing to compare traffic "
                        "with; retrain it with `tesla train`", key=mv.ref)
    dv = store.dataset_version(mv.dataset, mv.dataset_version)
    df = read_table(store.artifacts.path(dv.sha256), dv.format)
    return df.sample(n=REFERENCE_ROWS, random_state=0) if len(df) > REFERENCE_ROWS else df


def _feature_drift(bundle: Bundle, reference: pd.DataFrame, inputs: pd.DataFrame, thresholds: DriftThresholds,
                   notes: list[str]) -> list[FeatureDrift]:
    import pandas as pd

    results, absent = [], []
    for feature in bundle.signature:
        name = feature["name"]
        if name not in reference.columns:
            notes.append(f"feature '{name}' is not in the training dataset version; not checked")
            continue
        if name not in inputs.columns:
            absent.append(name)
        live = inputs[name] if name in inputs.columns else pd.Series([None] * len(inputs), dtype=object)
        results.append(feature_drift(name, feature["type"], reference[name], live, thresholds))
    if absent:
        notes.append(f"no request sent feature(s) {', '.join(absent)}")
    return results


def _prediction_drift(bundle: Bundle, reference: pd.DataFrame, captures: Captures,
                      thresholds: DriftThresholds) -> FeatureDrift:
    """Live predictions vs the model's own predictions on the reference rows.

    Binary classifiers compare the positive-class probability (a label mix hides most shifts:
    a model that rarely predicts the minority class keeps predicting the majority); multiclass
    compares the predicted class mix; regressors the predicted values.
    """
    import pandas as pd

    sample = reference.sample(n=PREDICTION_ROWS, random_state=0) if len(reference) > PREDICTION_ROWS else reference
    rows = sample[[f["name"] for f in bundle.signature]]
    live = captures.predictions["prediction"]
    if bundle.task == "regression":
        values = pd.to_numeric(live, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return numeric_drift("prediction", bundle.predict(rows, unseen="unknown"), values, thresholds,
                             feature_type="prediction")
    positive = str((bundle.classes or [None, None])[-1])
    if len(bundle.classes or []) == 2 and positive in captures.probabilities.columns:
        expected = bundle.predict_proba(rows, unseen="unknown")[:, 1]
        values = pd.to_numeric(captures.probabilities[positive], errors="coerce").to_numpy(dtype="float64",
                                                                                         na_value=np.nan)
        return numeric_drift(f"P({positive})", expected, values, thresholds, feature_type="prediction")
    expected_labels = bundle.predict(rows, unseen="unknown")
    return categorical_drift("prediction", [str(v) for v in expected_labels], [str(v) for v in live], thresholds,
                             feature_type="prediction")


def _live_metrics(report: MonitorReport, bundle: Bundle, mv: ModelVersion, captures: Captures,
                  settings: MonitorSettings) -> None:
    from tesla.evaluation.metrics import METRICS, compute_metrics

    rows = labelled_rows(captures)
    y, pred, proba, skipped = _encoded(bundle, rows, captures.probabilities)
    report.labelled_rows = len(y)
    if skipped:
        report.notes.append(f"ignored {skipped} labelled rows whose label or prediction is not usable by {mv.ref}")
    if not len(rows):
        return
    if len(y) < settings.min_rows:
        report.notes.append(f"{len(y)} labelled rows; live metrics need {settings.min_rows}")
        return
    names = [m for m in mv.metrics if m in METRICS[bundle.task] and (proba is not None or m not in _PROBA_METRICS)]
    n_classes = len(bundle.classes or [])
    report.live_metrics = compute_metrics(bundle.task, names, y, pred, proba, n_classes)
    report.expected_metrics = {m: float(mv.metrics[m]) for m in names}
    for name, live in report.live_metrics.items():
        limit = _limit(name, report.expected_metrics[name], settings)
        if not np.isfinite(live) or not _worse(name, live, limit):
            continue
        # a few hundred labels make every metric noisy: alert only when even the optimistic end of a
        # bootstrap interval is past the limit, so small label sets do not page anyone by chance
        bound = _bootstrap_bound(name, live, bundle.task, y, pred, proba, n_classes)
        text = (f"live {name} {live:.4f} vs held-out {report.expected_metrics[name]:.4f} is past the limit "
                f"{limit:.4f}; 95% bootstrap bound {bound:.4f} on {len(y)} labelled rows")
        if _worse(name, bound, limit):
            report.alerts.append(Alert("metric", name, text))
        else:
            report.notes.append(f"{text}: within noise, no alert")


def _limit(name: str, expected: float, settings: MonitorSettings) -> float:
    from tesla.evaluation.metrics import higher_is_better

    if higher_is_better(name):
        return expected - settings.max_metric_drop
    return abs(expected) * (1 + settings.max_error_increase)


def _worse(name: str, value: float, limit: float) -> bool:
    from tesla.evaluation.metrics import higher_is_better

    return value < limit if higher_is_better(name) else value > limit


def _bootstrap_bound(name: str, live: float, task: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
                     n_classes: int) -> float:
    """The optimistic 95% end of ``name`` over resamples of the labelled rows (the best it plausibly is)."""
    import warnings

    from tesla.evaluation.metrics import compute_metrics, higher_is_better

    rng = np.random.default_rng(0)
    n = len(y)
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a resample may hold one class: its metric is undefined, not an error
        for _ in range(BOOTSTRAP_RESAMPLES):
            idx = rng.integers(0, n, size=min(n, BOOTSTRAP_MAX_ROWS))
            values.append(compute_metrics(task, [name], y[idx], pred[idx],
                                          proba[idx] if proba is not None else None, n_classes)[name])
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if not len(finite):
        return live
    return float(np.percentile(finite, 95 if higher_is_better(name) else 5))


def _encoded(bundle: Bundle, rows: pd.DataFrame,
             probabilities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """(y, pred, proba or None, labels skipped) of labelled rows; classes become indices."""
    import pandas as pd

    if bundle.task == "regression":
        y = pd.to_numeric(rows["label"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        pred = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        keep = ~(np.isnan(y) | np.isnan(pred))
        return y[keep], pred[keep], None, int((~keep).sum())
    classes = [str(c) for c in bundle.classes or []]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(_label_text(v), -1) for v in rows["label"]], dtype="int64")
    pred = np.array([index.get(_label_text(v), -1) for v in rows["prediction"]], dtype="int64")
    keep = (y >= 0) & (pred >= 0)
    proba = None
    if len(rows) and set(classes) <= set(probabilities.columns):
        matrix = probabilities.loc[rows.index, classes].to_numpy(dtype="float64", na_value=np.nan)[keep]
        if len(matrix) and not np.isnan(matrix).any() and (matrix.sum(axis=1) > 0).all():
            # float32 learners and JSON rounding leave rows summing to 0.9999…, which log_loss rejects
            proba = matrix / matrix.sum(axis=1, keepdims=True)
    return y[keep], pred[keep], proba, int((~keep).sum())


def _label_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a label 1.0 read from a CSV is the class 1
    return str(value)
