"""schemathesis over the REST server's own OpenAPI document: no generated request gets a 5xx.

Every operation the document describes is fuzzed (routes added later are covered without
editing this file), in-process through ASGI (no network), derandomized (the same cases every
run). The app works on a throwaway project (tesla init in tmp, iris loaded), so requests that
fit run the real services: load, plan, evaluate, listings, stop, monitor. Training and deploying
would start long jobs and servers, so those routes only get requests that break the document
(negative mode), which must be refused before any work starts (``negative_data_rejection``).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import negative_data_rejection, not_a_server_error

from tesla import api
from tesla.server.app import create_app
from tests.openapi_fuzz import asgi_schema, fuzz, operations

# (method, path) whose valid requests start work that outlasts a test: training jobs, deployments
# and users/tokens: a valid POST /users would turn auth on and every later request would be a 401
ONLY_NEGATIVE = {("POST", "/training/jobs"), ("POST", "/deployments"), ("POST", "/jobs"), ("POST", "/users"),
                 ("POST", "/tokens")}
EXAMPLES = {"positive": 25, "negative": 25}  # per operation with a body; the rest take a fifth
EXPECTED = {("POST", "/data/load"), ("GET", "/data"), ("GET", "/data/{name}/versions"), ("POST", "/training/plan"),
            ("POST", "/training/jobs"), ("GET", "/training/jobs/{job_id}"), ("GET", "/training/models"),
            ("POST", "/evaluation"), ("POST", "/deployments"), ("GET", "/deployments"),
            ("DELETE", "/deployments/{model}"), ("GET", "/monitoring/{model}"), ("GET", "/health"),
            ("POST", "/jobs"), ("GET", "/jobs"), ("GET", "/jobs/{job_id}"), ("GET", "/jobs/{job_id}/events"),
            ("POST", "/jobs/{job_id}/cancel"), ("GET", "/jobs/{job_id}/logs")}


@pytest.fixture(scope="module")
def rest_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("fuzz") / "proj")
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=root)
    return root


@pytest.fixture(scope="module")
def answers() -> Counter[tuple[str, int]]:
    """(mode-independent) ``(route, status)`` of every answer the fuzzed app gave."""
    return Counter()


@pytest.fixture(scope="module")
def rest_schema(rest_project: Path, answers: Counter[tuple[str, int]]) -> Any:
    app = create_app(rest_project)

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        route = request.scope.get("route")
        answers[(getattr(route, "path", "?"), response.status_code)] += 1
        return response

    return asgi_schema(app)


def _examples(operation: Any, mode: str) -> int:
    has_input = operation.body or any(True for _ in operation.iter_parameters())
    return EXAMPLES[mode] if has_input else max(1, EXAMPLES[mode] // 5)


@pytest.mark.parametrize("mode", EXAMPLES)
def test_no_generated_request_gets_a_5xx(rest_schema: Any, answers: Counter[tuple[str, int]], mode: str) -> None:
    started, failures = time.monotonic(), []
    answers.clear()
    for method, path, operation in operations(rest_schema):
        if mode == "positive" and (method, path) in ONLY_NEGATIVE:
            continue
        if mode == "negative" and not (operation.body or any(True for _ in operation.iter_parameters())):
            continue  # nothing to get wrong: no parameters, no body
        checks = [not_a_server_error] + ([negative_data_rejection] if mode == "negative" else [])
        try:
            fuzz(operation, mode, _examples(operation, mode), checks=checks)
        except Unsatisfiable:
            assert mode == "negative"  # e.g. a string path parameter: no request breaks the document
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{method} {path}: {exc}")
    assert not failures, "\n\n".join(failures)
    print(f"{mode}: {time.monotonic() - started:.1f} s")  # a figure to read, never a timed assertion
    if mode == "positive":  # the requests reached the services: some worked, some were refused by them
        assert answers[("/data/load", 200)] + answers[("/training/plan", 200)] > 0, answers
        assert any(status in (404, 409) for _, status in answers), answers
    print(sorted(answers.items()))


def test_the_document_describes_every_route(rest_project: Path, rest_schema: Any) -> None:
    app = create_app(rest_project)
    document = TestClient(app).get("/openapi.json").json()
    described = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert EXPECTED <= described, EXPECTED - described
    assert {(m, p) for m, p, _ in operations(rest_schema)} == described
    assert not any(p.startswith("/docs") for p in document["paths"])  # the docs page and assets are not API
