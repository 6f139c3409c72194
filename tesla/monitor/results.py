"""What a monitoring check takes and gives: its settings and its report, as plain dataclasses.

Kept apart from the checks themselves (which need numpy and scipy) so that the monitoring
service can name them in its return annotations — the remote client rebuilds results from
those — without loading numpy when a server starts.

The thresholds have no defaults here: their one definition is ``MonitorConfig`` in
``tesla.config.schema`` (Hydra validates it and ``tesla plan --cfg`` prints it). This package
may not import the config package, so ``MonitorSettings.from_config`` takes the resolved
``monitor`` group and a check is always run with the values a project configured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Alert", "DriftThresholds", "FeatureDrift", "FeedbackResult", "Histogram", "MonitorReport",
           "MonitorSettings", "RETRAIN_CHECKS", "RetrainOutcome"]

RETRAIN_CHECKS = {"feature_drift", "prediction_drift", "metric"}  # a retrain cannot fix latency or errors


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted (built by ``MonitorSettings.thresholds``).

    ``pvalue`` is the per-test significance level actually applied (after any multiple-test
    correction); the effect-size thresholds apply from ``large_sample_rows`` live rows on.
    """

    pvalue: float
    psi: float
    wasserstein: float
    js: float
    large_sample_rows: int
    min_rows: int


@dataclass(frozen=True)
class MonitorSettings:
    """Thresholds of a check: the ``monitor`` config group minus ``retrain`` (see ``MonitorConfig``)."""

    psi_threshold: float
    wasserstein_threshold: float
    js_threshold: float
    pvalue_threshold: float
    pvalue_correction: str
    large_sample_rows: int
    min_rows: int
    max_error_rate: float
    max_p99_latency_ms: float
    max_metric_drop: float
    max_error_increase: float

    @classmethod
    def from_config(cls, monitor: Mapping[str, Any]) -> MonitorSettings:
        """Settings from the resolved ``monitor`` group (keys that are not thresholds, such as ``retrain``, ignored)."""
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
class Histogram:
    """Reference and live shares per bin (numeric) or per category, for the report."""

    labels: list[str]
    reference: list[float]
    live: list[float]
    edges: list[float] | None = None  # numeric bins: len(labels) + 1 edges


@dataclass
class FeatureDrift:
    """The drift verdict of one feature (or of the predictions)."""

    name: str
    feature_type: str  # the signature type: numeric | categorical | boolean | datetime | text | prediction
    test: str  # ks | chi2 | psi+wasserstein | js | none
    reference_rows: int
    live_rows: int
    drifted: bool | None  # None: too few live rows for a verdict
    detail: str  # one line: the numbers behind the verdict
    p_value: float | None = None
    statistic: float | None = None  # KS D or chi-squared statistic
    psi: float | None = None
    wasserstein: float | None = None  # normalised by the reference standard deviation
    js: float | None = None
    missing_reference: float = 0.0  # share of null values
    missing_live: float = 0.0
    histogram: Histogram | None = field(default=None, repr=False)

    def to_dict(self, *, histogram: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not histogram:
            out.pop("histogram")
        return out


@dataclass
class Alert:
    """One crossed threshold."""

    check: str  # feature_drift | prediction_drift | metric | latency | error_rate
    subject: str  # the feature, metric or percentile
    message: str  # one line with the numbers


@dataclass
class RetrainOutcome:
    """What the retrain did: ``deployed``, ``refused`` (a gate), ``skipped`` (no new data) or ``failed``."""

    status: str
    message: str  # one line with the numbers
    model: str | None = None  # the new version, when one was trained
    dataset: str | None = None  # dataset@version it was trained on
    metrics: dict[str, float] = field(default_factory=dict)
    url: str | None = None


@dataclass
class MonitorReport:
    """The outcome of one check; ``alerting`` is what the CLI turns into exit code 1."""

    model: str  # name@version monitored
    profile: str
    status: str  # ok | alert | no_traffic
    since: str | None
    reference: str  # dataset@version (rows)
    settings: MonitorSettings
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
    pvalue_applied: float | None = None  # the per-test level after correction
    report_path: Path | None = None
    retrain: RetrainOutcome | None = None

    @property
    def alerting(self) -> bool:
        return bool(self.alerts)

    def _repr_html_(self) -> str:
        from tesla.monitor.report import report_html
        from tesla.report.notebook import embedded_report

        return embedded_report(report_html(self), f"Monitor check of {self.model} on '{self.profile}': {self.status}")

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


@dataclass
class FeedbackResult:
    """What ``record_feedback`` wrote."""

    model: str
    profile: str
    path: Path  # the feedback.jsonl appended to
    recorded: int
    matched: int  # labels whose (request_id, row) is a captured prediction
