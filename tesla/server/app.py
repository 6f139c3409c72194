"""The REST shell (`tesla server`): routes that call a ``tesla.Project``'s services and nothing else.

Services: data ingestion (``/data``), training (``/training``), evaluation (``/evaluation``),
deployment (``/deployments``), monitoring (``/monitoring``), users and tokens (``/users``, ``/tokens``).
Most routes are mounted from the REST contract (``tesla/routes.py``, ``_contract.py``), the table the
remote client (``tesla --remote``) is built from; the hand-written routers below are the first API's
routes, kept with their answers for existing callers. Long calls run as jobs persisted in the
store, each in a worker process (``/jobs``, ``_jobs.py``; ``/training/jobs`` is the older alias for
training), because searches outlast HTTP timeouts and server restarts.
Errors map in one place (``tesla/server/_errors.py``): ``{"error": {"type", "message", "key"}}`` with
4xx for mistakes. Every service route takes its ``Project`` from one dependency (``_auth.py``) that checks
the request's API token once the project has users (401 / 403) and acts as the token's user.
``/docs`` is Swagger UI from assets shipped in the package (``_docs.py``): it works offline; ``/`` is the web UI
(``tesla/server/ui``), a page over these same routes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from tesla.server._auth import Caller, document_auth
from tesla.server._contract import mount_contract
from tesla.server._docs import install_docs
from tesla.server._errors import install_error_handlers
from tesla.server._jobs import jobs_router, keep_jobs, training_job_json
from tesla.server.ui import install_ui
from tesla.services.jobs import check_server_fetch
from tesla.store import find_project_root

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LoadRequest(_Strict):
    path: str = Field(description="CSV/Parquet/JSON-lines file readable by the server")
    name: str
    target: str | None = None
    message: str | None = None


class TrainRequest(_Strict):
    model: str
    framework: str | None = None
    trials: int | None = None
    overrides: list[str] = Field(default_factory=list)
    force: bool = False


class EvaluateRequest(_Strict):
    model: str
    data: str
    overrides: list[str] = Field(default_factory=list)


class DeployRequest(_Strict):
    model: str
    profile: str = "production"
    overrides: list[str] = Field(default_factory=list)


def _model_json(mv: Any) -> dict[str, Any]:
    return {"model": mv.ref, "name": mv.name, "version": mv.version, "framework": mv.framework, "task": mv.task,
            "metrics": mv.metrics, "dataset": f"{mv.dataset}@{mv.dataset_version}", "stage": mv.stage,
            "created_by": mv.created_by}


def _data_router() -> APIRouter:
    r = APIRouter(prefix="/data", tags=["data"])

    @r.post("/load")
    def load(req: LoadRequest, project: Caller) -> dict[str, Any]:
        check_server_fetch(project, req.path, None)
        res = project.data.load(req.path, req.name, target=req.target, message=req.message)
        v = res.version
        return {"dataset": v.name, "version": v.version, "created": res.created, "rows": v.rows, "sha256": v.sha256}

    @r.get("")
    def datasets(project: Caller) -> list[dict[str, Any]]:
        return [{"dataset": v.name, "current": v.version} for v in project.data.datasets()]

    @r.get("/{name}/versions")
    def log(name: str, project: Caller) -> list[dict[str, Any]]:
        return [{"version": v.version, "rows": v.rows, "sha256": v.sha256, "source": v.source, "schema": v.schema,
                 "created_by": v.created_by} for v in project.data.log(name)]

    return r


def _training_router() -> APIRouter:
    r = APIRouter(prefix="/training", tags=["training"])

    @r.post("/plan")
    def plan(req: TrainRequest, project: Caller) -> dict[str, Any]:
        training = project.training
        compiled = training.compile_plan(req.model, framework=req.framework, max_iter=req.trials,
                                         overrides=req.overrides)
        return {"plan": compiled.to_dict(), "status": training.plan_status(compiled)}

    # the first training job routes, kept as thin aliases over /jobs (kind training.train)
    @r.post("/jobs", status_code=202)
    def train(req: TrainRequest, project: Caller) -> dict[str, Any]:
        job = project.jobs.submit("training.train", {"model": req.model, "framework": req.framework,
                                                     "max_iter": req.trials, "overrides": req.overrides,
                                                     "force": req.force})
        return {"job": job.id}

    @r.get("/jobs/{job_id}")
    def job(job_id: str, project: Caller) -> dict[str, Any]:
        return training_job_json(project.jobs.get(job_id))

    @r.get("/models")
    def models(project: Caller) -> list[dict[str, Any]]:
        return [_model_json(m) for m in project.training.models()]

    return r


def _evaluation_router() -> APIRouter:
    r = APIRouter(prefix="/evaluation", tags=["evaluation"])

    @r.post("")
    def evaluate(req: EvaluateRequest, project: Caller) -> dict[str, Any]:
        res = project.evaluation.evaluate(req.model, req.data, overrides=req.overrides)
        return {"model": res.model.ref, "rows": res.rows, "metrics": res.metrics, "baseline": res.baseline,
                "report": str(res.report_path)}

    return r


def _deployment_router() -> APIRouter:
    r = APIRouter(prefix="/deployments", tags=["deployment"])

    @r.post("")
    def deploy(req: DeployRequest, project: Caller) -> dict[str, Any]:
        res = project.deployments.deploy(req.model, req.profile, overrides=req.overrides)
        return {"model": res.model.ref, "profile": res.profile, "target": res.target, "url": res.url,
                "changed": res.changed}

    @r.get("")
    def deployments(project: Caller,
                    all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - the query parameter's name
        return [{k: getattr(d, k) for k in ("id", "model", "version", "profile", "target", "status", "url", "created_by")}
                for d in project.deployments.list(active_only=not all)]

    @r.delete("/{model}")
    def stop(project: Caller, model: str, profile: str | None = None) -> dict[str, Any]:
        stopped = project.deployments.stop(model, profile=profile)
        return {"stopped": [{"model": d.model, "version": d.version, "profile": d.profile} for d in stopped]}

    return r


def _monitoring_router() -> APIRouter:
    r = APIRouter(prefix="/monitoring", tags=["monitoring"])

    @r.get("/{model}")
    def monitor(project: Caller, model: str, profile: str = "production",
                since: str | None = None) -> dict[str, Any]:
        return project.monitoring.monitor(model, profile=profile, since=since).to_dict()

    return r


def create_app(project_dir: str | Path = ".", *, require_auth: bool = False) -> FastAPI:
    """The REST app for the project holding ``project_dir`` (its root is ``app.state.project``).

    Args:
        project_dir: a directory in the project.
        require_auth: ask every request for an API token even while the project has no users (a server
            bound off loopback: it must never answer without one). Otherwise tokens are required once
            the project has a user.

    Raises:
        ProjectNotFoundError: ``project_dir`` is in no Tesla project; no app is made.
    """
    project = find_project_root(project_dir)
    app = FastAPI(title="Tesla", description="Data, training, evaluation, deployment and monitoring services.",
                  docs_url=None, redoc_url=None,  # install_docs serves /docs offline; no ReDoc
                  lifespan=keep_jobs)  # settles jobs whose worker died, starts queued ones
    app.state.project = project
    app.state.require_auth = require_auth
    mount_contract(app)  # first: /monitoring/checks must win over the older /monitoring/{model}
    for router in (_data_router(), _training_router(), _evaluation_router(), _deployment_router(),
                   _monitoring_router(), jobs_router()):
        app.include_router(router)

    install_error_handlers(app)
    install_docs(app)
    install_ui(app)  # the web UI at /, on the routes above
    document_auth(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "project": project.name}

    return app
