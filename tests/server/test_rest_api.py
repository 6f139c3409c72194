"""The REST shell calls the same API as the CLI and maps errors to 4xx JSON."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tesla.server.app import create_app


@pytest.fixture
def client(project: Path) -> TestClient:
    return TestClient(create_app(project))


def test_load_train_evaluate_through_rest(client: TestClient, datasets_dir: Path) -> None:
    loaded = client.post("/data/load", json={"path": str(datasets_dir / "iris.csv"), "name": "iris", "target": "target"})
    assert loaded.status_code == 200 and loaded.json()["version"] == 1
    assert client.get("/data").json() == [{"dataset": "iris", "current": 1}]
    plan = client.post("/training/plan", json={"model": "m", "trials": 2}).json()
    assert [s["id"] for s in plan["plan"]["steps"]] == ["load", "split", "search", "evaluate", "register"]
    job = client.post("/training/jobs", json={"model": "m", "trials": 2}).json()["job"]
    deadline = time.monotonic() + 120
    while (state := client.get(f"/training/jobs/{job}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["status"] == "succeeded", state
    assert state["result"]["model"] == "m@1"
    ev = client.post("/evaluation", json={"model": "m", "data": str(datasets_dir / "iris.csv")}).json()
    assert ev["rows"] == 150 and ev["metrics"]["accuracy"] > 0.8


@pytest.mark.parametrize(("method", "url", "body", "status", "type_"), [
    ("post", "/data/load", {"path": "/no/such.csv", "name": "x"}, 404, "DataNotFoundError"),
    ("post", "/training/plan", {"model": "m", "overrides": ["search.metrc=x"]}, 422, "ConfigError"),
    ("post", "/evaluation", {"model": "ghost", "data": "/x.csv"}, 404, "ModelNotFoundError"),
    ("delete", "/deployments/ghost", None, 409, "DeployError"),
    ("get", "/training/jobs/nope", None, 404, "DataNotFoundError"),
])
def test_errors_are_json_with_type_and_message(client: TestClient, method: str, url: str, body: dict | None,
                                               status: int, type_: str) -> None:
    resp = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert resp.status_code == status
    err = resp.json()["error"]
    assert err["type"] == type_ and err["message"]


def test_unknown_request_fields_are_rejected(client: TestClient) -> None:
    resp = client.post("/data/load", json={"path": "x.csv", "name": "x", "taget": "y"})
    assert resp.status_code == 422 and "taget" in resp.text


def test_a_training_job_that_hits_a_bug_ends_failed_not_running(client: TestClient, datasets_dir: Path,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client.post("/data/load", json={"path": str(datasets_dir / "iris.csv"), "name": "iris", "target": "target"})
    # the job runs in a worker process: the bug is planted there, by a sitecustomize on its PYTHONPATH
    (tmp_path / "plant").mkdir()
    (tmp_path / "plant" / "sitecustomize.py").write_text(
        "from tesla.services.training import TrainingService\n"
        "def broken(*_args, **_kwargs):\n"
        "    raise RuntimeError('boom')\n"
        "TrainingService.train = broken\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "plant"))
    job = client.post("/training/jobs", json={"model": "m", "trials": 2}).json()["job"]
    deadline = time.monotonic() + 60
    while (state := client.get(f"/training/jobs/{job}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["status"] == "failed"
    assert state["error"] == {"type": "InternalError", "key": "job", "message": "unexpected RuntimeError: boom"}
    log = client.get(f"/jobs/{job}/logs").text
    assert "Traceback" in log and "RuntimeError: boom" in log  # the traceback is in the job's log, not the answer
