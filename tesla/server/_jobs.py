"""The ``/jobs`` routes: submit a long service call, look at it, follow its events (SSE), read its log, cancel it.

A job outlives the request and the server (see ``tesla.services.jobs``). ``GET /jobs/{id}/events``
is a ``text/event-stream``: every stored event after ``?after=N``, then new ones as they are
stored, ending after the job's terminal ``status`` event; each is ``id: <seq>``, ``event: <kind>``,
``data: <json>``, so a client that reconnects with ``after=<last id>`` misses nothing. The keeper
(``keep_jobs``, the app's lifespan) marks jobs whose worker died ``interrupted`` and starts queued
ones, every second while the server runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from tesla.project import Project
from tesla.server._auth import Caller
from tesla.services.jobs import TERMINAL, Job
from tesla.wire import encode

__all__ = ["jobs_router", "keep_jobs", "training_job_json"]

_log = logging.getLogger(__name__)
POLL_S = 0.25  # how often a stream looks for new events
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream
KEEPER_S = 1.0

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: str = Field(description="'<service>.<method>': data.load, training.train, training.sweep, "
                                  "training.replay, evaluation.evaluate, deployments.deploy, deployments.rollback, "
                                  "monitoring.monitor")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the method's keyword arguments; file paths are the server's")


def _sse(seq: int, kind: str, data: Any) -> str:
    return f"id: {seq}\nevent: {kind}\ndata: {json.dumps(data, allow_nan=False)}\n\n"


def _follow(project: Project, job_id: str, after: int) -> Iterator[str]:
    """The job's events after ``after`` as SSE, then new ones, until its terminal ``status`` event."""
    jobs = project.jobs
    quiet_since = time.monotonic()
    while True:
        events = jobs.events(job_id, after)
        for event in events:
            yield _sse(event.seq, event.kind, event.data)
            after = event.seq
            if event.kind == "status" and event.data.get("status") in TERMINAL:
                return
        if events:
            quiet_since = time.monotonic()
        elif jobs.get(job_id).done and not jobs.events(job_id, after):
            return  # ended, and its terminal event was before ``after``: nothing more will come
        elif time.monotonic() - quiet_since > HEARTBEAT_S:
            yield ": still running\n\n"
            quiet_since = time.monotonic()
        time.sleep(POLL_S)


def jobs_router() -> APIRouter:
    r = APIRouter(prefix="/jobs", tags=["jobs"])

    @r.post("", status_code=202)
    def submit(req: JobRequest, project: Caller) -> dict[str, Any]:
        return encode(project.jobs.submit(req.kind, req.params))

    @r.get("")
    def jobs(project: Caller, status: JobStatus | None = None,
             limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [encode(j) for j in project.jobs.list(status=status, limit=limit)]

    @r.get("/{job_id}")
    def job(job_id: str, project: Caller) -> dict[str, Any]:
        return encode(project.jobs.get(job_id))

    @r.get("/{job_id}/events", response_class=StreamingResponse,
           responses={200: {"content": {"text/event-stream": {}},
                            "description": "the job's events as server-sent events"}})
    def events(job_id: str, project: Caller, after: int = Query(0, ge=0)) -> StreamingResponse:
        project.jobs.get(job_id)  # an unknown job is a 404 now, not an empty stream
        return StreamingResponse(_follow(project, job_id, after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @r.post("/{job_id}/cancel")
    def cancel(job_id: str, project: Caller) -> dict[str, Any]:
        return encode(project.jobs.cancel(job_id))

    @r.get("/{job_id}/logs", response_class=PlainTextResponse)
    def logs(job_id: str, project: Caller) -> str:
        return project.jobs.logs(job_id)

    return r


def training_job_json(job: Job) -> dict[str, Any]:
    """A training job as ``GET /training/jobs/{id}`` has always shown it (``/jobs/{id}`` shows the whole ``Job``)."""
    out: dict[str, Any] = {"id": job.id, "status": job.status, "progress": job.progress or {}}
    if job.kind == "training.train" and job.status == "succeeded":
        res, mv = job.result, job.result["model"]
        out["result"] = {"model": f"{mv['name']}@{mv['version']}", "name": mv["name"], "version": mv["version"],
                         "framework": mv["framework"], "task": mv["task"], "metrics": mv["metrics"],
                         "dataset": f"{mv['dataset']}@{mv['dataset_version']}", "stage": mv["stage"],
                         "created_by": mv["created_by"], "created": res["created"], "run_id": res["run"]["run_id"],
                         "leaderboard": res["leaderboard"], "best_estimator": res["search"]["best_estimator"]}
    elif job.done and job.status != "succeeded":
        out["error"] = job.error
    elif job.status == "succeeded":
        out["result"] = job.result
    return out


class _Keeper:
    """A thread that, every ``KEEPER_S``, settles jobs whose worker died and starts queued ones."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="tesla-jobs-keeper")

    def _loop(self) -> None:
        while True:
            try:
                jobs = Project(self.root).jobs
                jobs.recover()
                jobs.dispatch()
            except Exception:  # the keeper must outlive one bad pass (a locked database); the next retries
                _log.exception("keeping jobs failed; trying again in %.0f s", KEEPER_S)
            if self.stopped.wait(KEEPER_S):
                return


@contextlib.asynccontextmanager
async def keep_jobs(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan: on start, jobs whose worker is gone become ``interrupted`` and queued ones start;
    while it runs, the same every second. Workers are not stopped on shutdown: they outlive the server."""
    keeper = _Keeper(app.state.project)
    keeper.thread.start()
    try:
        yield
    finally:
        keeper.stopped.set()
        keeper.thread.join(timeout=5)
