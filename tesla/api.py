"""Tesla's function API, a thin façade over ``tesla.Project`` kept for notebooks and scripts.

New code should use ``tesla.Project``: ``Project(path)`` finds the project root once, opens
the store once and offers the five services (``project.data``, ``.training``, ``.evaluation``,
``.deployments``, ``.monitoring``). Each function here opens a fresh ``Project`` for one call.

Every function takes ``project_dir`` (default: the current directory): any directory in a
project, whose root (found by walking up, as git does; see ``tesla.store.find_project_root``)
holds ``conf/``, which overrides the default config, and ``.tesla/``, the store. A directory
in no project is refused before anything is read or written. Errors are ``TeslaError``
subclasses with one-line messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tesla.plan import Plan
from tesla.project import Project, scaffold
from tesla.services import (
    DeployResult,
    DryRunResult,
    EvaluateResult,
    LoadResult,
    ReplayResult,
    RunReport,
    SweepPlan,
    SweepResult,
    TrainResult,
)
from tesla.services._common import EventSink, PathLike, parse_model_ref
from tesla.services._common import backend_schemas as _backend_schemas  # noqa: F401 - kept for callers
from tesla.services.data import DatasetDiff
from tesla.services.evaluation import check_gates  # noqa: F401 - kept for callers
from tesla.store import Deployment, ModelVersion, MonitorEvent, Store
from tesla.store.records import DeploymentStatus

__all__ = [
    "DeployResult",
    "DryRunResult",
    "EvaluateResult",
    "LoadResult",
    "ReplayResult",
    "RunReport",
    "SweepPlan",
    "SweepResult",
    "TrainResult",
    "compile_plan",
    "compile_sweep_plans",
    "compose_config",
    "data_diff",
    "deploy",
    "deployment_logs",
    "deployment_status",
    "deployments",
    "dry_run",
    "evaluate",
    "init_project",
    "jobs_cancel",
    "jobs_list",
    "jobs_logs",
    "jobs_status",
    "load",
    "monitor",
    "monitor_feedback",
    "monitor_history",
    "open_store",
    "parse_model_ref",
    "plan_status",
    "predict",
    "replay",
    "resolve_model",
    "rollback",
    "run_report",
    "stop_deployment",
    "sweep",
    "train",
]


# -- project and data ----------------------------------------------------------------------------------
def open_store(project_dir: PathLike = ".") -> Store:
    """The store of the project holding ``project_dir`` (its ``.tesla/`` is made on first use)."""
    return Project(project_dir).store


def compose_config(overrides: Sequence[str] = (), *, project_dir: PathLike = ".") -> tuple[Any, dict[str, Any]]:
    """The composed config as (OmegaConf node, plain dict); see ``Project.config``."""
    return Project(project_dir).config(overrides)


def init_project(path: PathLike) -> Path:
    """Scaffold a project and return ``path``; see ``tesla.project.scaffold``."""
    return scaffold(path)


def load(data: PathLike, name: str, *, target: str | None = None, message: str | None = None,
         project_dir: PathLike = ".", keep_raw: bool = False,
         on_event: EventSink | None = None) -> LoadResult:
    """See ``DataService.load``."""
    return Project(project_dir).data.load(data, name, target=target, message=message, keep_raw=keep_raw,
                                          on_event=on_event)


def data_diff(name: str, old: int, new: int, *, project_dir: PathLike = ".") -> DatasetDiff:
    """See ``DataService.diff``."""
    return Project(project_dir).data.diff(name, old, new)


# -- training ---------------------------------------------------------------------------------------------
def compile_plan(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
                 overrides: Sequence[str] = (), project_dir: PathLike = ".", ingest: bool = False) -> Plan:
    """See ``TrainingService.compile_plan``."""
    return Project(project_dir).training.compile_plan(model, framework=framework, max_iter=max_iter,
                                                      overrides=overrides, ingest=ingest)


def plan_status(plan: Plan, *, project_dir: PathLike = ".") -> dict[str, str]:
    """See ``TrainingService.plan_status``."""
    return Project(project_dir).training.plan_status(plan)


def train(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
          overrides: Sequence[str] = (), force: bool = False, project_dir: PathLike = ".",
          on_event: EventSink | None = None, parent_id: str | None = None) -> TrainResult:
    """See ``TrainingService.train``."""
    return Project(project_dir).training.train(model, framework=framework, max_iter=max_iter, overrides=overrides,
                                               force=force, on_event=on_event, parent_id=parent_id)


def compile_sweep_plans(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
                        overrides: Sequence[str] = (), project_dir: PathLike = ".",
                        ingest: bool = False) -> SweepPlan:
    """See ``TrainingService.compile_sweep_plans``."""
    return Project(project_dir).training.compile_sweep_plans(model, framework=framework, max_iter=max_iter,
                                                             overrides=overrides, ingest=ingest)


def sweep(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
          overrides: Sequence[str] = (), force: bool = False, project_dir: PathLike = ".",
          on_event: EventSink | None = None) -> SweepResult:
    """See ``TrainingService.sweep``."""
    return Project(project_dir).training.sweep(model, framework=framework, max_iter=max_iter, overrides=overrides,
                                               force=force, on_event=on_event)


def replay(model: str, *, project_dir: PathLike = ".", on_event: EventSink | None = None) -> ReplayResult:
    """See ``TrainingService.replay``."""
    return Project(project_dir).training.replay(model, on_event=on_event)


def run_report(run_id: str, *, project_dir: PathLike = ".") -> RunReport:
    """See ``TrainingService.run_report``."""
    return Project(project_dir).training.run_report(run_id)


def resolve_model(ref: str, *, project_dir: PathLike = ".") -> ModelVersion:
    """See ``TrainingService.resolve_model``."""
    return Project(project_dir).training.resolve_model(ref)


def dry_run(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
            overrides: Sequence[str] = (), project_dir: PathLike = ".", points: int = 1) -> DryRunResult:
    """See ``TrainingService.dry_run``."""
    return Project(project_dir).training.dry_run(model, framework=framework, max_iter=max_iter, overrides=overrides,
                                                 points=points)


def jobs_list(*, overrides: Sequence[str] = (), limit: int = 50, project_dir: PathLike = ".") -> list[dict[str, Any]]:
    """See ``TrainingService.jobs_list``."""
    return Project(project_dir).training.jobs_list(overrides=overrides, limit=limit)


def jobs_status(job: str, *, overrides: Sequence[str] = (), project_dir: PathLike = ".") -> dict[str, Any]:
    """See ``TrainingService.jobs_status``."""
    return Project(project_dir).training.jobs_status(job, overrides=overrides)


def jobs_logs(job: str, *, overrides: Sequence[str] = (), project_dir: PathLike = ".") -> str:
    """See ``TrainingService.jobs_logs``."""
    return Project(project_dir).training.jobs_logs(job, overrides=overrides)


def jobs_cancel(job: str, *, overrides: Sequence[str] = (), project_dir: PathLike = ".") -> dict[str, Any]:
    """See ``TrainingService.jobs_cancel``."""
    return Project(project_dir).training.jobs_cancel(job, overrides=overrides)


# -- evaluation -------------------------------------------------------------------------------------------
def evaluate(model: str, data: PathLike, *, overrides: Sequence[str] = (), force: bool = False,
             project_dir: PathLike = ".", on_event: EventSink | None = None) -> EvaluateResult:
    """See ``EvaluationService.evaluate``."""
    return Project(project_dir).evaluation.evaluate(model, data, overrides=overrides, force=force, on_event=on_event)


def predict(model: str, data: PathLike | Any, output: PathLike | None = None, *,
            project_dir: PathLike = ".") -> Any:
    """See ``EvaluationService.predict``."""
    return Project(project_dir).evaluation.predict(model, data, output)


# -- deployments ------------------------------------------------------------------------------------------
def deploy(model: str, profile: str = "production", *, overrides: Sequence[str] = (),
           project_dir: PathLike = ".") -> DeployResult:
    """See ``DeploymentService.deploy``."""
    return Project(project_dir).deployments.deploy(model, profile, overrides=overrides)


def rollback(profile: str = "production", *, model: str | None = None, overrides: Sequence[str] = (),
             project_dir: PathLike = ".") -> DeployResult:
    """See ``DeploymentService.rollback``."""
    return Project(project_dir).deployments.rollback(profile, model=model, overrides=overrides)


def deployments(*, model: str | None = None, project_dir: PathLike = ".",
                active_only: bool = False) -> list[Deployment]:
    """See ``DeploymentService.list``."""
    return Project(project_dir).deployments.list(model=model, active_only=active_only)


def stop_deployment(model: str, *, profile: str | None = None, project_dir: PathLike = ".") -> list[Deployment]:
    """See ``DeploymentService.stop``."""
    return Project(project_dir).deployments.stop(model, profile=profile)


def deployment_status(model: str | None = None, *, profile: str | None = None,
                      project_dir: PathLike = ".") -> list[DeploymentStatus]:
    """See ``DeploymentService.status``."""
    return Project(project_dir).deployments.status(model, profile=profile)


def deployment_logs(model: str, *, profile: str | None = None, lines: int = 50,
                    project_dir: PathLike = ".") -> tuple[Deployment, str]:
    """See ``DeploymentService.logs``."""
    return Project(project_dir).deployments.logs(model, profile=profile, lines=lines)


# -- monitoring -------------------------------------------------------------------------------------------
def monitor(model: str, *, profile: str | None = None, since: str | None = None, overrides: Sequence[str] = (),
            report: PathLike | None = None, project_dir: PathLike = ".") -> Any:
    """See ``MonitoringService.monitor``."""
    return Project(project_dir).monitoring.monitor(model, profile=profile, since=since, overrides=overrides,
                                                   report=report)


def monitor_history(model: str | None = None, *, limit: int = 20, project_dir: PathLike = ".") -> list[MonitorEvent]:
    """See ``MonitoringService.history``."""
    return Project(project_dir).monitoring.history(model, limit=limit)


def monitor_feedback(model: str, data: PathLike, *, profile: str | None = None, project_dir: PathLike = ".") -> Any:
    """See ``MonitoringService.feedback``."""
    return Project(project_dir).monitoring.feedback(model, data, profile=profile)
