"""The routes the web UI's model and deployments views read: a model's evaluations, its stored reports as
sandboxed HTML (404 for anything else, roles as every read route), and running deployments' live metrics read
from their own ``/metrics``."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tesla.project import Project
from tesla.server.app import create_app
from tesla.serving.metrics import ServingMetrics
from tests.evaluation.test_plots import assert_self_contained


@pytest.fixture(scope="module")
def evaluated(trained_project: Path, datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained project (bc_model@1) with one ``tesla evaluate`` recorded, under a passing gate."""
    root = tmp_path_factory.mktemp("reports") / "proj"
    shutil.copytree(trained_project, root)
    Project(root).evaluation.evaluate("bc_model", datasets_dir / "bc_test.csv",
                                      overrides=["evaluation.gates={roc_auc:{min:0.5}}"])
    return root


@pytest.fixture(scope="module")
def client(evaluated: Path) -> TestClient:
    return TestClient(create_app(evaluated))


def _error(resp: Any, status: int, type_: str, key: str) -> str:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"type", "message", "key"} and (err["type"], err["key"]) == (type_, key), err
    return err["message"]


def test_evaluations_list_tesla_evaluate_and_the_training_run_newest_first(client: TestClient,
                                                                           evaluated: Path) -> None:
    records = client.get("/evaluation/bc_model/evaluations").json()
    assert [r["source"] for r in records] == ["evaluate", "training"]
    evaluate, training = records
    assert evaluate["model"] == "bc_model@1" and evaluate["data"].endswith("bc_test.csv")
    assert [(g["metric"], g["passed"]) for g in evaluate["gates"]] == [("roc_auc", True)]
    assert "gates" not in evaluate["metrics"] and evaluate["metrics"]["roc_auc"] > 0.5
    run_id = Project(evaluated).store.model("bc_model", 1).run_id
    assert (training["data"], training["run_id"], training["gates"]) == ("held-out split", run_id, [])
    assert all(len(r["report"]) == 64 for r in records) and evaluate["report"] != training["report"]
    assert client.get("/evaluation/bc_model@1/evaluations").json() == records  # one version: the same here


@pytest.mark.parametrize("source", ["evaluate", "training"])
def test_a_recorded_report_is_served_as_sandboxed_self_contained_html(client: TestClient, source: str) -> None:
    record = next(r for r in client.get("/evaluation/bc_model/evaluations").json() if r["source"] == source)
    resp = client.get(f"/evaluation/bc_model@1/reports/{record['report']}")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert resp.headers["content-security-policy"].startswith("sandbox;") and "default-src 'none'" in \
        resp.headers["content-security-policy"]
    assert "<svg" in resp.text and "<h2>ROC</h2>" in resp.text
    assert_self_contained(resp.text)


def test_anything_but_a_recorded_report_of_the_model_is_a_404(client: TestClient, evaluated: Path) -> None:
    store = Project(evaluated).store
    report = client.get("/evaluation/bc_model/evaluations").json()[0]["report"]
    bundle = store.model("bc_model", 1).bundle_sha  # a stored artifact, but no report
    for ref in (bundle, "0" * 64, report[:12], "report.html"):
        message = _error(client.get(f"/evaluation/bc_model/reports/{ref}"), 404, "DataNotFoundError", "report")
        assert "is not an evaluation report of bc_model" in message
    assert "Did you mean 'bc_model'" in _error(client.get(f"/evaluation/bc_modl/reports/{report}"), 404,
                                               "ModelNotFoundError", "bc_modl")
    _error(client.get(f"/evaluation/bc_model@7/reports/{report}"), 404, "ModelNotFoundError", "bc_model")
    _error(client.get("/evaluation/ghost/evaluations"), 404, "ModelNotFoundError", "ghost")
    _error(client.get(f"/evaluation/bc_model/reports/{report}/x"), 404, "NotFound", "path")


def test_reports_need_a_read_token_once_the_project_has_users(evaluated: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(evaluated, root)
    users = Project(root, user="setup").users
    users.add("rita", "read")
    secret = users.create_token("rita").secret
    client = TestClient(create_app(root))
    report = Project(root).evaluation.evaluations("bc_model")[0].report
    for path in ("/evaluation/bc_model/evaluations", f"/evaluation/bc_model/reports/{report}", "/deployments/live"):
        assert "Authorization: Bearer" in _error(client.get(path), 401, "AuthError", "authorization")
        assert client.get(path, headers={"Authorization": f"Bearer {secret}"}).status_code == 200, path


# -- live metrics of running deployments ---------------------------------------------------------------------
class _MetricsServer(http.server.ThreadingHTTPServer):
    """A stand-in model server on loopback answering ``/metrics`` with a ServingMetrics text (a bearer token
    when ``token`` is set), so the route reads real HTTP without starting a model."""

    def __init__(self, metrics: ServingMetrics, token: str | None = None) -> None:
        self.metrics, self.token = metrics, token
        super().__init__(("127.0.0.1", 0), _MetricsHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _MetricsHandler(http.server.BaseHTTPRequestHandler):
    server: _MetricsServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        token = self.server.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self.send_error(401)
            return
        body = self.server.metrics.render().encode() if self.path == "/metrics" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def serving(evaluated: Path) -> Iterator[tuple[Project, list[int], list[_MetricsServer]]]:
    """The project, the deployment ids it records and the stand-in servers; all stopped afterwards."""
    project, ids, servers = Project(evaluated), [], []
    yield project, ids, servers
    for dep in ids:
        project.store.update_deployment(dep, status="stopped")
    for server in servers:
        server.shutdown()
        server.server_close()


def _deployed(serving: Any, profile: str, *, token: str | None = None, env: str | None = None,
              target: str = "local") -> ServingMetrics:
    project, ids, servers = serving
    metrics = ServingMetrics("bc_model@1")
    server = _MetricsServer(metrics, token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    # this test process stands in for the server's process: the service checks a local deployment's pid is alive
    ids.append(project.store.add_deployment(model="bc_model", version=1, profile=profile, target=target,
                                            status="running", url=server.url, pid=os.getpid(),
                                            info={"auth_token_env": env} if env else {}))
    return metrics


def test_live_reads_each_running_deployments_own_metrics(client: TestClient, serving: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.get("/deployments/live").json() == []
    metrics = _deployed(serving, "production")
    for seconds in (0.003, 0.004, 0.03):
        metrics.observe_request("/predict", 200, seconds)
    metrics.observe_request("/predict", 422, 0.001)
    metrics.observe_request("/health", 200, 1.0)
    metrics.observe_batch(12, 3)
    monkeypatch.setenv("TESLA_TEST_SERVING_TOKEN", "s3cret")
    _deployed(serving, "staging", token="s3cret", env="TESLA_TEST_SERVING_TOKEN")  # sent the token it asks for
    _deployed(serving, "locked", token="other", env="TESLA_TEST_NO_SUCH_VARIABLE")
    _deployed(serving, "cloud", target="sagemaker")
    live = {r["profile"]: r for r in client.get("/deployments/live").json()}
    production = live["production"]
    assert production["available"] and (production["requests"], production["errors"], production["rows"]) == (4, 1, 12)
    assert production["latency_count"] == 4 and production["latency_ms"]["mean"] == pytest.approx(9.5)
    assert production["model"] == "bc_model@1" and production["read_at"] > 0
    assert live["staging"]["available"] and live["staging"]["requests"] == 0
    assert not live["locked"]["available"] and "TESLA_TEST_NO_SUCH_VARIABLE" in live["locked"]["reason"]
    assert not live["cloud"]["available"] and "sagemaker console" in live["cloud"]["reason"]
    only = client.get("/deployments/live", params={"model": "bc_model", "profile": "production"}).json()
    assert [r["profile"] for r in only] == ["production"]


def test_live_names_a_model_without_a_running_deployment(client: TestClient) -> None:
    assert "no running deployment of 'ghost'" in _error(client.get("/deployments/live", params={"model": "ghost"}),
                                                         409, "DeployError", "ghost")


def test_live_says_why_a_dead_server_has_no_metrics(client: TestClient, serving: Any) -> None:
    _deployed(serving, "production")
    project, _, servers = serving
    servers[0].shutdown()
    servers[0].server_close()  # the port answers nothing now
    servers.clear()
    (reading,) = client.get("/deployments/live").json()
    assert not reading["available"] and reading["reason"].startswith("unreachable")
