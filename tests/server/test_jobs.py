"""Jobs over REST: persisted in the store, run by worker processes, followed as server-sent events.

A job survives a restart of a real ``tesla server``; cancel stops the worker and leaves no run
``running``; events arrive in order (also across a reconnect with ``after=``); a mistake in a
submission is refused before anything is queued.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tesla import api
from tesla.server.app import create_app
from tesla.services.training import TrainResult
from tesla.store import Store
from tesla.wire import decode
from tests.conftest import TESLA

# data.dataset: the module's project gets a second dataset (the load job's), so training names its own
TRAIN = {"kind": "training.train", "params": {"model": "m", "max_iter": 2, "overrides": ["data.dataset=iris"]}}
LONG = {"kind": "training.train", "params": {
    "model": "long", "overrides": ["data.dataset=iris", "search.time_budget_s=600", "search.max_iter=100000"]}}


@pytest.fixture(scope="module")
def iris_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("jobs") / "proj")
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=root)
    return root


@pytest.fixture
def client(iris_project: Path) -> Iterator[TestClient]:
    with TestClient(create_app(iris_project)) as c:  # runs the lifespan: the keeper
        yield c


def _wait(get: Any, job_id: str, until: Any, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = get(f"/jobs/{job_id}").json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def _events(lines: Iterator[str], stop_after: int | None = None) -> list[dict[str, Any]]:
    """Server-sent events as {"id", "event", "data"}; stop after ``stop_after`` of them (a dropped connection)."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if not line:
            if current:
                found.append(current)
                current = {}
                if stop_after is not None and len(found) == stop_after:
                    break
            continue
        if line.startswith(":"):
            continue  # a heartbeat comment
        field, _, value = line.partition(": ")
        current[field] = int(value) if field == "id" else json.loads(value) if field == "data" else value
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return stat[0] not in ("Z", "X")


# -- a real server, killed and started again ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen([TESLA, "server", "--port", str(port)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.2)


def test_a_job_survives_a_server_restart(project: Path, datasets_dir: Path) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    server, base = _start_server(project)
    try:
        submitted = httpx.post(f"{base}/jobs", json=TRAIN, timeout=60)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        running = _wait(lambda p: httpx.get(base + p, timeout=10), job_id, lambda j: j["status"] != "queued")
    finally:
        server.send_signal(signal.SIGKILL)  # no shutdown of any kind
        server.communicate(timeout=30)
    assert running["status"] == "running", running
    worker = running["pid"]

    server, base = _start_server(project)
    try:
        done = _wait(lambda p: httpx.get(base + p, timeout=10), job_id, lambda j: j["status"] not in
                     ("queued", "running"))
        with httpx.stream("GET", f"{base}/jobs/{job_id}/events", timeout=60) as stream:
            events = _events(stream.iter_lines())
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert done["status"] == "succeeded", done
    assert done["pid"] == worker and done["attempt"] == 1  # the same worker finished it: it was never restarted
    result = decode(TrainResult, done["result"])
    assert result.model.ref == "m@1" and result.run.status == "succeeded"
    statuses = [e["data"]["status"] for e in events if e["event"] == "status"]
    assert statuses == ["queued", "running", "succeeded"]


# -- cancel -------------------------------------------------------------------------------------------------
def test_cancel_stops_the_worker_and_leaves_no_run_running(client: TestClient, iris_project: Path) -> None:
    job_id = client.post("/jobs", json=LONG).json()["id"]
    # the search has started: the worker is deep in FLAML when it is told to stop
    running = _wait(client.get, job_id, lambda j: (j["progress"] or {}).get("step") == "search")
    cancelled = client.post(f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert not _alive(running["pid"])
    assert client.get(f"/jobs/{job_id}").json()["status"] == "cancelled"
    runs = [r for r in Store.open(iris_project).runs() if r.plan_name == "train/long"]
    assert runs and all(r.status == "interrupted" for r in runs), runs
    assert "cancelled" in client.get(f"/jobs/{job_id}/logs").text
    again = client.post(f"/jobs/{job_id}/cancel").json()  # a finished job is returned as it is
    assert again["status"] == "cancelled" and again["finished_at"] == cancelled.json()["finished_at"]


def test_a_cancel_that_surfaces_as_a_librarys_error_still_ends_the_job_cancelled(
        iris_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM can land in a C callback (FLAML, LightGBM) that raises its own error for it, or in a step the
    backend reports failed: the job was stopped by its cancel, so it ends ``cancelled``, not ``failed``."""
    from tesla import Project
    from tesla.errors import StepFailedError
    from tesla.services import jobs as job_module
    from tesla.services.training import TrainingService

    service = Project(iris_project).jobs
    monkeypatch.setattr(type(service), "dispatch", lambda self: [])  # this test runs the job itself
    job = service.submit(TRAIN["kind"], TRAIN["params"])

    def stopped_inside_a_library(self: Any, *args: Any, **kwargs: Any) -> Any:
        service._jobs.request_cancel(job.id)
        job_module._stopping["asked"] = True  # what the SIGTERM handler records before it raises
        raise StepFailedError("step 'search' (search) failed: LightGBMError: interrupted in a callback")

    monkeypatch.setattr(TrainingService, "train", stopped_inside_a_library)
    monkeypatch.setitem(job_module._stopping, "asked", False)
    assert service.run(job.id).status == "cancelled"


def test_a_queued_job_cancelled_never_starts(iris_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_JOB_WORKERS", "1")
    client = TestClient(create_app(iris_project))  # no keeper: only submit and finishing workers start jobs
    first = client.post("/jobs", json=LONG).json()["id"]
    _wait(client.get, first, lambda j: j["status"] == "running")
    second = client.post("/jobs", json=TRAIN).json()
    assert second["status"] == "queued"  # one worker at a time: it waits
    assert client.post(f"/jobs/{second['id']}/cancel").json()["status"] == "cancelled"
    assert client.post(f"/jobs/{first}/cancel").json()["status"] == "cancelled"
    job = client.get(f"/jobs/{second['id']}").json()
    assert job["status"] == "cancelled" and job["attempt"] == 0 and job["started_at"] is None


# -- events -------------------------------------------------------------------------------------------------
def test_events_arrive_in_order_and_a_reconnect_misses_nothing(client: TestClient) -> None:
    job_id = client.post("/jobs", json={**TRAIN, "params": {**TRAIN["params"], "model": "ordered"}}).json()["id"]
    with client.stream("GET", f"/jobs/{job_id}/events") as stream:
        head = _events(stream.iter_lines(), stop_after=3)  # then the connection drops
    with client.stream("GET", f"/jobs/{job_id}/events", params={"after": head[-1]["id"]}) as stream:
        tail = _events(stream.iter_lines())
    events = head + tail
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # strictly increasing, none missed
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "succeeded"
    assert [e["data"]["status"] for e in events if e["event"] == "status"] == ["queued", "running", "succeeded"]
    plan = [e["data"] for e in events if e["event"] == "event"]
    assert plan[0]["kind"] == "run_started" and plan[-1] == {
        "kind": "run_finished", "step": None, "data": {"run_id": plan[0]["data"]["run_id"], "status": "succeeded"}}
    started = [e["step"] for e in plan if e["kind"] in ("step_started", "step_cached")]
    assert started == ["load", "split", "search", "evaluate", "register"]  # the plan's run order
    finished = [e["step"] for e in plan if e["kind"] in ("step_finished", "step_cached")]
    assert finished == started
    # the whole stream again, from the start and from the middle: the same events
    with client.stream("GET", f"/jobs/{job_id}/events") as stream:
        assert _events(stream.iter_lines()) == events
    with client.stream("GET", f"/jobs/{job_id}/events?after=5") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert _events(stream.iter_lines()) == events[5:]
    job = client.get(f"/jobs/{job_id}").json()
    assert job["progress"]["step"] == "search" and job["progress"]["trials"] == 2
    assert client.get(f"/training/jobs/{job_id}").json()["result"]["model"] == "ordered@1"  # the older alias


def test_a_load_job_reports_its_progress_lines_as_messages(client: TestClient, datasets_dir: Path) -> None:
    body = {"kind": "data.load", "params": {"data": str(datasets_dir / "diabetes.csv"), "name": "diabetes"}}
    job_id = client.post("/jobs", json=body).json()["id"]
    with client.stream("GET", f"/jobs/{job_id}/events") as stream:
        events = _events(stream.iter_lines())
    texts = [e["data"]["data"]["text"] for e in events if e["event"] == "event" and e["data"].get("kind") == "message"]
    assert texts and all(isinstance(t, str) and t for t in texts)  # the streaming ingest names its lines itself
    job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["result"]["version"]["name"] == "diabetes"
    assert texts[0] in client.get(f"/jobs/{job_id}/logs").text
    assert job_id in [j["id"] for j in client.get("/jobs", params={"status": "succeeded"}).json()]


def test_a_job_whose_worker_died_is_interrupted_when_the_server_starts(iris_project: Path) -> None:
    with TestClient(create_app(iris_project)) as client:
        job_id = client.post("/jobs", json={**LONG, "params": {**LONG["params"], "model": "killed"}}).json()["id"]
        pid = _wait(client.get, job_id, lambda j: (j["progress"] or {}).get("step") == "search")["pid"]
    os.killpg(pid, signal.SIGKILL)  # kill -9: no clean stop, the store still says running
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with TestClient(create_app(iris_project)) as client:  # a server start: its keeper settles the job
        job = _wait(client.get, job_id, lambda j: j["status"] != "running", timeout_s=30)
    assert job["status"] == "interrupted" and job["error"]["key"] == "job"
    runs = [r for r in Store.open(iris_project).runs() if r.plan_name == "train/killed"]
    assert runs and all(r.status == "interrupted" for r in runs), runs


# -- mistakes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "status", "type_", "key"), [
    ({"kind": "training.trian", "params": {}}, 422, "ConfigError", "kind"),
    ({"kind": "training.train", "params": {"modle": "m"}}, 422, "ConfigError", "params.modle"),
    ({"kind": "training.train", "params": {"max_iter": "2"}}, 422, "ConfigError", "params.max_iter"),
    ({"kind": "training.train", "params": {"overrides": "search.max_iter=2"}}, 422, "ConfigError", "params.overrides"),
    ({"kind": "training.train", "params": {"overrides": ["search.metrc=x"]}}, 422, "ConfigError", "search.metrc"),
    ({"kind": "evaluation.evaluate", "params": {"data": "/x.csv"}}, 422, "ConfigError", "params.model"),
    ({"kind": "evaluation.evaluate", "params": {"model": "ghost", "data": "/x.csv"}}, 404, "ModelNotFoundError",
     "ghost"),
    ({"kind": "data.load", "params": {"data": "/no/such.csv", "name": "x"}}, 404, "DataNotFoundError", None),
    ({"kind": "training.train", "params": {"on_event": None}}, 422, "ConfigError", "params.on_event"),
    ({"kind": "deployments.deploy", "params": {"model": "ghost"}}, 404, "ModelNotFoundError", "ghost"),
], ids=["unknown-kind", "unknown-param", "wrong-type", "not-a-list", "bad-override", "missing-param",
        "unknown-model", "missing-file", "callback-is-not-a-param", "deploy-unknown-model"])
def test_a_mistake_is_refused_at_submit(iris_project: Path, body: dict[str, Any], status: int, type_: str,
                                        key: str | None) -> None:
    client = TestClient(create_app(iris_project))
    before = client.get("/jobs").json()
    resp = client.post("/jobs", json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["type"] == type_ and err["message"]
    if key is not None:
        assert err["key"] == key, err
    assert client.get("/jobs").json() == before  # nothing was queued


@pytest.mark.parametrize(("method", "path"), [("get", "/jobs/nope"), ("get", "/jobs/nope/events"),
                                              ("get", "/jobs/nope/logs"), ("post", "/jobs/nope/cancel"),
                                              ("get", "/training/jobs/nope")])
def test_an_unknown_job_is_404(iris_project: Path, method: str, path: str) -> None:
    resp = getattr(TestClient(create_app(iris_project)), method)(path)
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "DataNotFoundError" and resp.json()["error"]["key"] == "job"


def test_an_unknown_status_filter_is_422(iris_project: Path) -> None:
    resp = TestClient(create_app(iris_project)).get("/jobs", params={"status": "runing"})
    assert resp.status_code == 422 and resp.json()["error"]["key"] == "query.status"
