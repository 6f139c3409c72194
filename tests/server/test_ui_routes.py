"""The routes the web UI's model view reads: a model's evaluations and its stored reports as sandboxed HTML
(404 for anything else, roles as every read route)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tesla.project import Project
from tesla.server.app import create_app
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
    for path in ("/evaluation/bc_model/evaluations", f"/evaluation/bc_model/reports/{report}"):
        assert "Authorization: Bearer" in _error(client.get(path), 401, "AuthError", "authorization")
        assert client.get(path, headers={"Authorization": f"Bearer {secret}"}).status_code == 200, path
