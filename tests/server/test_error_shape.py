"""Every error the REST shell answers has one shape, ``{"error": {"type", "message", "key"}}``: Tesla's own
errors, FastAPI's request validation, unknown routes and methods, unparseable JSON and plain bugs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tesla import errors
from tesla.server._errors import status_of
from tesla.server.app import create_app


@pytest.fixture
def client(project: Path) -> TestClient:
    return TestClient(create_app(project))


def _error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and {"type", "message", "key"} <= set(body["error"]), body
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "type_", "key"), [
    ("get", "/no/such/route", {}, 404, "NotFound", "path"),
    ("put", "/data", {}, 405, "MethodNotAllowed", "method"),
    ("post", "/data/load", {"content": b'{"path": ', "headers": {"content-type": "application/json"}},
     400, "PayloadError", "body"),
    ("post", "/data/load", {}, 422, "ValidationError", "body"),
    ("post", "/data/load", {"content": b"path=x", "headers": {"content-type": "text/plain"}},
     422, "ValidationError", "body"),
    ("post", "/data/load", {"json": {"name": "x"}}, 422, "ValidationError", "body.path"),
    ("post", "/data/load", {"json": {"path": "x.csv", "name": 3}}, 422, "ValidationError", "body.name"),
    ("post", "/training/plan", {"json": {"model": "m", "trials": "two"}}, 422, "ValidationError", "body.trials"),
    ("post", "/training/plan", {"json": {"model": "m", "overrides": ["a=1", 2]}}, 422, "ValidationError",
     "body.overrides.1"),
    ("post", "/data/load", {"json": {"path": "x.csv", "name": "x", "taget": "y"}}, 422, "ValidationError",
     "body.taget"),
    ("get", "/deployments?all=maybe", {}, 422, "ValidationError", "query.all"),
    ("post", "/training/plan", {"json": {"model": "m", "overrides": ["search.metrc=x"]}}, 422, "ConfigError",
     None),
], ids=["unknown-route", "wrong-method", "bad-json", "no-body", "not-json", "missing-field", "wrong-type",
        "wrong-type-int", "list-item", "unknown-field", "bad-query", "tesla-error"])
def test_every_refusal_has_the_one_shape(client: TestClient, method: str, url: str, kwargs: dict[str, Any],
                                         status: int, type_: str, key: str | None) -> None:
    err = _error(client.request(method.upper(), url, **kwargs), status)
    assert err["type"] == type_
    if key is not None:
        assert err["key"] == key
    assert "Traceback" not in err["message"]


def test_a_validation_error_lists_every_problem(client: TestClient) -> None:
    err = _error(client.post("/data/load", json={"path": 1, "nam": "x"}), 422)
    assert [f["loc"] for f in err["fields"]] == [["body", "path"], ["body", "name"], ["body", "nam"]]
    assert err["message"].startswith("body.path: ") and "2 more" in err["message"]
    assert "unknown field" in err["fields"][2]["msg"]


def test_the_method_error_says_which_methods_are_allowed(client: TestClient) -> None:
    resp = client.put("/data")
    assert "GET" in _error(resp, 405)["message"] and resp.headers["allow"] == "GET"


def test_an_unexpected_exception_is_a_500_in_the_shape_without_a_traceback(project: Path) -> None:
    app = create_app(project)

    def boom() -> None:
        raise RuntimeError("disk on fire")

    app.add_api_route("/boom", boom)
    err = _error(TestClient(app, raise_server_exceptions=False).get("/boom"), 500)
    assert err["type"] == "InternalError" and err["key"] is None
    assert "RuntimeError: disk on fire" in err["message"] and "bug" in err["message"]


@pytest.mark.parametrize(("exc", "status"), [
    (errors.DataNotFoundError("x"), 404), (errors.ModelNotFoundError("x"), 404),
    (errors.ProjectNotFoundError("x"), 404), (errors.ConfigError("x"), 422), (errors.PlanError("x"), 422),
    (errors.DataError("x"), 422), (errors.ProjectError("x"), 422), (errors.NotSupportedError("x"), 422),
    (errors.GateError("x"), 409), (errors.DeployError("x"), 409), (errors.BundleError("x"), 409),
    (errors.IntegrityError("x"), 409), (errors.ReplayError("x"), 409), (errors.DependencyError("x"), 501),
    (errors.BackendError("x"), 502), (errors.StepFailedError("x"), 500),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_each_tesla_error_has_its_status(exc: errors.TeslaError, status: int) -> None:
    assert status_of(exc) == status


def test_every_tesla_error_class_is_in_the_status_table() -> None:
    """A new error class must get a row (or knowingly stay a 500) in tesla/server/_errors.py."""
    classes = {getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)}
    assert {c.__name__ for c in classes} - {"TeslaError", "StepFailedError"} == {
        c.__name__ for c in classes if status_of(c("x")) != 500}


BIG = "9" * 23  # past SQLite's INTEGER


@pytest.mark.parametrize(("method", "url", "body", "status", "type_"), [
    ("post", "/evaluation", {"model": "m@²", "data": "x.csv"}, 422, "ConfigError"),  # '²'.isdigit(); int() fails
    ("get", "/monitoring/m@²", None, 422, "ConfigError"),
    ("post", "/evaluation", {"model": f"m@{BIG}", "data": "x.csv"}, 422, "ConfigError"),  # OverflowError in SQLite
    ("get", f"/monitoring/m@{BIG}", None, 422, "ConfigError"),
    ("post", "/training/plan", {"model": "m", "overrides": [f"data.version={BIG}"]}, 422, "ConfigError"),
    ("post", "/training/plan", {"model": "m", "overrides": ["x" * 5000 + "=1"]}, 422, "ConfigError"),  # ENAMETOOLONG
    ("post", "/data/load", {"name": "\x00"}, 422, "DataError"),  # was stored, then broke every later plan
], ids=["superscript-version", "superscript-version-get", "huge-version", "huge-version-get", "huge-data-version",
        "overlong-override-key", "control-char-name"])
def test_inputs_that_once_gave_a_500_are_refused(client: TestClient, datasets_dir: Path, method: str, url: str,
                                                 body: dict[str, Any] | None, status: int, type_: str) -> None:
    if url == "/data/load":
        assert body is not None
        body = {**body, "path": str(datasets_dir / "iris.csv")}
    kwargs = {"json": body} if body is not None else {}
    assert _error(client.request(method.upper(), url, **kwargs), status)["type"] == type_
    assert client.get("/data").json() == []  # nothing was stored


def test_another_http_refusal_keeps_its_status_and_headers(project: Path) -> None:
    from fastapi import HTTPException

    app = create_app(project)

    def refuse() -> None:
        raise HTTPException(429, "slow down", headers={"Retry-After": "3"})

    app.add_api_route("/refuse", refuse)
    resp = TestClient(app).get("/refuse")
    err = _error(resp, 429)
    assert err == {"type": "TooManyRequests", "message": "slow down", "key": None}
    assert resp.headers["retry-after"] == "3"
