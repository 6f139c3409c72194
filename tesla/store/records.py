"""What the store hands out: one frozen dataclass per kind of row, with its JSON columns decoded.

No caller sees a database row or a string-keyed dict: a ``*_json`` column becomes a
``dict[str, Any]`` (or list) field without the suffix, a timestamp becomes the string the
database's ``str()`` gives (``2026-12-02 18:00:00``; ``None`` while unset), which is what the CLI
has always printed. Every record round-trips through ``tesla.wire.encode`` / ``decode``, so a
remote client rebuilds exactly the object an in-process call returns.

Users and API tokens are in ``tesla.store.auth``, next to how tokens are made and checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["DatasetVersion", "Deployment", "DeploymentStatus", "EstimatorScore", "Evaluation", "ModelVersion",
           "MonitorEvent", "Run", "StepRecord", "SweepPoint", "Trial"]


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset."""

    name: str
    version: int
    sha256: str
    format: str
    source: str
    rows: int
    schema: dict[str, Any]
    target: str | None
    message: str | None = None
    created_at: str | None = None
    created_by: str | None = None

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html, rows_html

        columns = [{"column": c, **(v if isinstance(v, dict) else {"type": v})} for c, v in self.schema.items()]
        return card_html(f"Dataset {self.name}@{self.version}", {
            "rows": self.rows, "columns": len(self.schema), "target": self.target, "source": self.source,
            "sha256": self.sha256[:12], "message": self.message, "created": self.created_at,
            "by": self.created_by}, [("Columns", rows_html(columns))])


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, with its lineage."""

    name: str
    version: int
    bundle_sha: str
    framework: str
    task: str
    run_id: str | None
    dataset: str | None
    dataset_version: int | None
    plan_fingerprint: str | None
    metrics: dict[str, Any]
    config: dict[str, Any]
    stage: str | None
    created_at: str | None = None
    created_by: str | None = None
    aliases: tuple[str, ...] = ()  # e.g. ("production",): each names this version (``NAME@ALIAS``)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html, rows_html

        metrics = [{"metric": k, "value": v} for k, v in self.metrics.items() if not isinstance(v, (dict, list))]
        return card_html(f"Model {self.ref}", {
            "framework": self.framework, "task": self.task, "stage": self.stage,
            "aliases": ", ".join(self.aliases), "dataset": self.dataset and f"{self.dataset}@{self.dataset_version}",
            "run": self.run_id, "created": self.created_at, "by": self.created_by},
            [("Held-out metrics", rows_html(metrics))])


@dataclass(frozen=True)
class Run:
    """One run of a plan (a training, evaluation or replay run, or a sweep's parent record)."""

    id: str
    plan_name: str
    plan_fingerprint: str
    backend: str
    status: str  # running | succeeded | failed | interrupted
    parent_id: str | None  # the sweep a multirun point belongs to
    plan_json: str  # the plan as run (a sweep: the sweep's own description); ``Plan.from_json`` reads it
    meta: dict[str, Any]
    error: str | None
    started_at: str | None
    ended_at: str | None
    created_by: str | None

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html

        return card_html(f"Run {self.id}", {"plan": self.plan_name, "status": self.status, "backend": self.backend,
                                            "started": self.started_at, "ended": self.ended_at, "error": self.error,
                                            "by": self.created_by})


@dataclass(frozen=True)
class StepRecord:
    """How one step of a run went (``tesla.plan.Step`` is the step as planned)."""

    run_id: str
    step_id: str
    kind: str
    fingerprint: str
    status: str  # succeeded | cached | failed | running | interrupted
    params: dict[str, Any]
    outputs: dict[str, str]  # output name -> artifact sha256
    result: dict[str, Any]
    job_ref: str | None  # the provider's job name on a cloud backend
    seconds: float | None
    error: str | None
    started_at: str | None


@dataclass(frozen=True)
class Trial:
    """One configuration the model search tried."""

    run_id: str
    step_id: str
    n: int
    estimator: str
    loss: float | None
    best_loss: float | None  # the best loss so far, this trial included
    config: dict[str, Any]
    wall_s: float | None


@dataclass(frozen=True)
class EstimatorScore:
    """One estimator's line of a run's leaderboard: its best validation loss across its trials."""

    rank: int
    estimator: str
    best_loss: float | None  # None: no trial of it finished with a finite loss
    trials: int
    best_trial: int | None
    config: dict[str, Any]


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep (a child training run) as its leaderboard shows it."""

    num: int | None
    overrides: list[str]
    run_id: str
    status: str
    error: str | None
    task: str | None
    rank_metric: str | None  # the held-out metric it is ranked by
    score: float | None  # its value of ``rank_metric``
    metrics: dict[str, Any]
    search_metric: str | None
    best_estimator: str | None
    best_loss: float | None
    ensemble: list[Any]
    plan_fingerprint: str
    point: str = ""  # the overrides that tell it from the sweep's other points
    rank: int | None = None  # 1 is best; None: failed or unscored


@dataclass(frozen=True)
class Evaluation:
    """One ``tesla evaluate`` of a model version on a labelled file."""

    id: int
    model: str
    version: int
    data: str
    metrics: dict[str, Any]
    report_sha: str | None
    created_at: str | None

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html, rows_html

        metrics = [{"metric": k, "value": v} for k, v in self.metrics.items() if not isinstance(v, (dict, list))]
        return card_html(f"Evaluation of {self.model}@{self.version} on {self.data}",
                         {"created": self.created_at}, [("Metrics", rows_html(metrics))])


@dataclass(frozen=True)
class Deployment:
    """One deployment of a model version on a deploy profile (a local server or a cloud endpoint)."""

    id: int
    model: str
    version: int
    profile: str
    target: str  # local | sagemaker | vertex
    status: str  # starting | running | stopped | failed | replaced
    url: str | None
    pid: int | None  # a local server's process
    port: int | None
    log_path: str | None
    info: dict[str, Any]  # what the hosting backend recorded (endpoint names, capture dir, hand-off socket)
    created_at: str | None
    stopped_at: str | None
    created_by: str | None

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html

        facts = {"status": self.status, "target": self.target, "url": self.url, "pid": self.pid,
                 "created": self.created_at, "stopped": self.stopped_at, "by": self.created_by}
        for extra in ("health", "capture"):  # a DeploymentStatus's live probe
            facts[extra] = getattr(self, extra, None)
        return card_html(f"Deployment of {self.ref} on '{self.profile}'", facts)


@dataclass(frozen=True)
class DeploymentStatus(Deployment):
    """A running deployment with a live health probe and its prediction-capture counts."""

    health: dict[str, Any]  # the server's /health answer, or {"status": why there is none}
    capture: dict[str, Any]  # {"enabled": False} or files, bytes, dropped and dir


@dataclass(frozen=True)
class MonitorEvent:
    """The outcome of one ``tesla monitor`` check."""

    id: int
    model: str  # name@version the checked traffic was served by
    profile: str
    status: str  # ok | alert | no_traffic
    alerts: list[dict[str, Any]]
    summary: dict[str, Any]
    report_path: str | None
    created_at: str | None

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html, rows_html

        return card_html(f"Monitor check of {self.model} on '{self.profile}': {self.status}",
                         {"checked": self.created_at, "report": self.report_path, **self.summary},
                         [("Alerts", rows_html(self.alerts) if self.alerts else "")])


def _ts(value: Any) -> str | None:
    return None if value is None else str(value)


def dataset_from_row(row: Any, target: str | None) -> DatasetVersion:
    return DatasetVersion(name=row.name, version=row.version, sha256=row.sha256, format=row.format,
                          source=row.source, rows=row.rows, schema=json.loads(row.schema_json),
                          target=target, message=row.message, created_at=str(row.created_at),
                          created_by=row.created_by)


def model_from_row(row: Any, aliases: tuple[str, ...] = ()) -> ModelVersion:
    return ModelVersion(aliases=aliases, name=row.name, version=row.version, bundle_sha=row.bundle_sha,
                        framework=row.framework, task=row.task, run_id=row.run_id,
                        dataset=row.dataset, dataset_version=row.dataset_version,
                        plan_fingerprint=row.plan_fingerprint,
                        metrics=json.loads(row.metrics_json), config=json.loads(row.config_json),
                        stage=row.stage, created_at=str(row.created_at), created_by=row.created_by)


def run_from_row(row: Any) -> Run:
    return Run(id=row.id, plan_name=row.plan_name, plan_fingerprint=row.plan_fingerprint, backend=row.backend,
               status=row.status, parent_id=row.parent_id, plan_json=row.plan_json,
               meta=json.loads(row.meta_json or "{}"), error=row.error, started_at=_ts(row.started_at),
               ended_at=_ts(row.ended_at), created_by=row.created_by)


def step_from_row(row: Any) -> StepRecord:
    return StepRecord(run_id=row.run_id, step_id=row.step_id, kind=row.kind, fingerprint=row.fingerprint,
                      status=row.status, params=json.loads(row.params_json), outputs=json.loads(row.outputs_json),
                      result=json.loads(row.result_json), job_ref=row.job_ref, seconds=row.seconds, error=row.error,
                      started_at=_ts(row.started_at))


def trial_from_row(row: Any) -> Trial:
    return Trial(run_id=row.run_id, step_id=row.step_id, n=row.n, estimator=row.estimator, loss=row.loss,
                 best_loss=row.best_loss, config=json.loads(row.config_json), wall_s=row.wall_s)


def evaluation_from_row(row: Any) -> Evaluation:
    return Evaluation(id=row.id, model=row.model, version=row.version, data=row.data,
                      metrics=json.loads(row.metrics_json), report_sha=row.report_sha, created_at=_ts(row.created_at))


def deployment_from_row(row: Any) -> Deployment:
    return Deployment(id=row.id, model=row.model, version=row.version, profile=row.profile, target=row.target,
                      status=row.status, url=row.url, pid=row.pid, port=row.port, log_path=row.log_path,
                      info=json.loads(row.info_json or "{}"), created_at=_ts(row.created_at),
                      stopped_at=_ts(row.stopped_at), created_by=row.created_by)


def monitor_event_from_row(row: Any) -> MonitorEvent:
    return MonitorEvent(id=row.id, model=row.model, profile=row.profile, status=row.status,
                        alerts=json.loads(row.alerts_json), summary=json.loads(row.summary_json),
                        report_path=row.report_path, created_at=_ts(row.created_at))
