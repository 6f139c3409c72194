"""Users, API tokens and roles on the REST server: the auth matrix over every route, and binding rules.

The matrix is built from ``app.routes``, so a route added later is covered without editing this
file. Requests carry cheap or invalid bodies: a 4xx other than 401/403 proves auth let them through
without running anything heavy.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tesla import api
from tesla.project import Project
from tesla.server.app import create_app
from tests.conftest import TESLA
from tests.reliability.corpus import assert_one_error, cli

PUBLIC = {"/health", "/docs", "/"}  # and FastAPI's own /openapi.json, the /docs/assets and /ui/assets mounts; / is the UI page


def _api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, APIRoute]]:
    """(full path, route) of every APIRoute, also inside included routers (FastAPI >= 0.16x nests them)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes, prefix + route.include_context.prefix)
    return found


def _routes() -> list[tuple[str, str, str]]:
    """(method, path, role it needs) of every authenticated route of the app, path parameters filled in.

    A route mounted from the REST contract says its role (``x-tesla-role``: a POST that only reads needs
    ``read``, users and tokens need ``admin``); any other route needs ``read`` for a GET, else ``write``."""
    root = Path(tempfile.mkdtemp(prefix="tesla-routes-"))
    try:
        app = create_app(api.init_project(root / "proj"))
        found = sorted({(method, re.sub(r"\{[^}]+\}", "ghost", path),
                         (route.openapi_extra or {}).get("x-tesla-role") or _by_method(method))
                        for path, route in _api_routes(app.routes) if path not in PUBLIC
                        for method in route.methods})
    finally:
        shutil.rmtree(root)
    assert len(found) >= 40, found  # the five services' routes, users, tokens and uploads are all there
    return found


def _by_method(method: str) -> str:
    return "read" if method in {"GET", "HEAD"} else "write"


ROUTES = _routes()
NOT_READ = [r for r in ROUTES if r[2] != "read"]
ADMIN = [r for r in ROUTES if r[2] == "admin"]
_IDS = {r: f"{r[0]} {r[1]} ({r[2]})" for r in ROUTES}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project with a reader, a writer and an admin, each with a token, and a client of its app."""
    root = api.init_project(tmp_path_factory.mktemp("auth") / "proj")
    users = Project(root, user="setup").users
    tokens = {}
    for name, role in (("rita", "read"), ("will", "write"), ("ada", "admin")):
        users.add(name, role)
        tokens[role] = users.create_token(name, note=f"{role} token").secret
    return {"root": root, "tokens": tokens, "client": TestClient(create_app(root))}


def _call(client: TestClient, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
    return client.request(method, path, headers=headers, **body, **kw)


@pytest.mark.parametrize(("method", "path", "role"), ROUTES, ids=[_IDS[r] for r in ROUTES])
def test_no_token_is_401_with_the_error_shape(shared: dict[str, Any], method: str, path: str, role: str) -> None:
    resp = _call(shared["client"], method, path)
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    err = resp.json()["error"]
    assert err["type"] == "AuthError" and err["key"] == "authorization"
    assert "Authorization: Bearer" in err["message"] and "tesla tokens create" in err["message"]


@pytest.mark.parametrize(("method", "path", "role"), NOT_READ, ids=[_IDS[r] for r in NOT_READ])
def test_a_read_token_on_a_write_or_admin_route_is_403(shared: dict[str, Any], method: str, path: str,
                                                       role: str) -> None:
    resp = _call(shared["client"], method, path, shared["tokens"]["read"])
    assert resp.status_code == 403, resp.text
    err = resp.json()["error"]
    assert err["type"] == "PermissionDenied" and err["key"] == "role"
    assert f"{method} {path} needs '{role}'" in err["message"] and "user 'rita' has role 'read'" in err["message"]


@pytest.mark.parametrize(("method", "path", "role"), ADMIN, ids=[_IDS[r] for r in ADMIN])
def test_a_write_token_on_an_admin_route_is_403(shared: dict[str, Any], method: str, path: str, role: str) -> None:
    resp = _call(shared["client"], method, path, shared["tokens"]["write"])
    assert resp.status_code == 403, resp.text
    assert "user 'will' has role 'write'" in resp.json()["error"]["message"]


@pytest.mark.parametrize("who", ["exact", "admin"])
@pytest.mark.parametrize(("method", "path", "role"), ROUTES, ids=[_IDS[r] for r in ROUTES])
def test_the_right_role_gets_through(shared: dict[str, Any], method: str, path: str, role: str, who: str) -> None:
    token = shared["tokens"][role if who == "exact" else "admin"]
    resp = _call(shared["client"], method, path, token)
    assert resp.status_code not in (401, 403) and resp.status_code < 500, resp.text


def test_every_contract_route_is_mounted_or_a_job() -> None:
    from tesla.routes import ROUTES as CONTRACT

    mounted = {(m, re.sub(r"\{[^}]+\}", "ghost", r.path)) for r in CONTRACT if not r.job for m in [r.method]}
    assert mounted <= {(m, p) for m, p, _ in ROUTES}


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer tesla_00000000_" + "x" * 43, "Basic YWRhOnB3"])
def test_a_bad_or_foreign_credential_is_401(shared: dict[str, Any], header: str) -> None:
    resp = shared["client"].get("/data", headers={"Authorization": header})
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "AuthError"


def test_public_routes_need_no_token(shared: dict[str, Any]) -> None:
    client = shared["client"]
    assert client.get("/health").status_code == 200
    assert client.get("/docs").status_code == 200
    doc = client.get("/openapi.json")
    assert doc.status_code == 200
    assert doc.json()["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "description": doc.json()["components"]["securitySchemes"]["token"]
        ["description"]}


def test_a_revoked_token_is_401_from_the_next_request(tmp_path: Path) -> None:
    root = api.init_project(tmp_path / "proj")
    users = Project(root).users
    users.add("ann", "write")
    created = users.create_token("ann")
    client = TestClient(create_app(root))
    ok = {"Authorization": f"Bearer {created.secret}"}
    assert client.get("/data", headers=ok).status_code == 200
    users.revoke(created.token.id)
    resp = client.get("/data", headers=ok)
    assert resp.status_code == 401 and "revoked" in resp.json()["error"]["message"]


def test_a_removed_users_tokens_stop_working(tmp_path: Path) -> None:
    root = api.init_project(tmp_path / "proj")
    users = Project(root).users
    users.add("ann", "read")
    users.add("ben", "admin")
    secret = users.create_token("ann").secret
    users.remove("ann")
    resp = TestClient(create_app(root)).get("/data", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401


def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    import hashlib

    root = api.init_project(tmp_path / "proj")
    users = Project(root).users
    users.add("ann", "read")
    created = users.create_token("ann")
    secret_part = created.secret.rsplit("_", 1)[1]
    stored = b"".join(p.read_bytes() for p in (root / ".tesla").glob("tesla.db*"))
    assert secret_part.encode() not in stored and created.secret.encode() not in stored
    assert hashlib.sha256(created.secret.encode()).hexdigest().encode() in stored
    assert created.token.id.encode() in stored  # the public id is what listing and revoking use


def test_without_users_loopback_stays_open_and_writes_record_the_local_user(
        tmp_path: Path, datasets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_USER", "solo")
    root = api.init_project(tmp_path / "proj")
    client = TestClient(create_app(root))
    assert client.get("/data").status_code == 200
    loaded = client.post("/data/load", json={"path": str(datasets_dir / "iris.csv"), "name": "iris"})
    assert loaded.status_code == 200, loaded.text
    assert Project(root).data.version("iris").created_by == "solo"


def test_require_auth_refuses_every_request_even_with_no_users(tmp_path: Path) -> None:
    root = api.init_project(tmp_path / "proj")
    client = TestClient(create_app(root, require_auth=True))
    assert client.get("/data").status_code == 401
    assert client.get("/health").status_code == 200


def test_a_write_through_the_server_records_the_tokens_user(tmp_path: Path, datasets_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_USER", "the-server-admin")
    root = api.init_project(tmp_path / "proj")
    users = Project(root).users
    users.add("will", "write")
    secret = users.create_token("will").secret
    client = TestClient(create_app(root))
    resp = client.post("/data/load", json={"path": str(datasets_dir / "iris.csv"), "name": "iris"},
                       headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200, resp.text
    assert Project(root).data.version("iris").created_by == "will"
    assert users.get("will").created_by == "the-server-admin"
    log = client.get("/data/iris/versions", headers={"Authorization": f"Bearer {secret}"}).json()
    assert [v["created_by"] for v in log] == ["will"]


# -- binding: off loopback only with auth ------------------------------------------------------------------------
def test_the_server_refuses_to_bind_off_loopback_without_users(project: Path) -> None:
    line = assert_one_error(cli("server", "--host", "0.0.0.0", cwd=project), code=2,
                            names=r"no users.*create a user with `tesla users add")
    assert "0.0.0.0" in line


def test_with_users_it_binds_off_loopback_and_requires_tokens(project: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))  # nothing listens
    Project(project).users.add("ann", "admin")
    outcome = cli("server", "--host", "0.0.0.0", "--port", "9", cwd=project)
    assert outcome.code == 0, outcome.err
    assert seen["host"] == "0.0.0.0" and seen["app"].state.require_auth is True
    assert "auth on: 1 user(s)" in outcome.out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_real_server_with_users_answers_only_with_a_token(project: Path) -> None:
    import httpx

    users = Project(project).users
    users.add("ann", "read")
    secret = users.create_token("ann").secret
    port = _free_port()
    proc = subprocess.Popen([TESLA, "server", "--port", str(port)], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        assert httpx.get(f"{base}/data", timeout=5).status_code == 401
        assert httpx.get(f"{base}/data", headers={"Authorization": f"Bearer {secret}"}, timeout=5).json() == []
        assert httpx.post(f"{base}/data/load", json={}, timeout=5,
                          headers={"Authorization": f"Bearer {secret}"}).status_code == 403
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "auth on: 1 user(s)" in out


@pytest.mark.parametrize("require_auth", [False, True])
def test_the_document_says_when_a_token_is_required(project: Path, require_auth: bool) -> None:
    doc = TestClient(create_app(project, require_auth=require_auth)).get("/openapi.json").json()
    securities = {(m.upper(), p): op.get("security") for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert securities.pop(("GET", "/health")) is None
    # loopback: optional until the project has a user ({} = no credentials); off loopback: required
    wanted = [{"token": []}] if require_auth else [{"token": []}, {}]
    assert securities and all(s == wanted for s in securities.values()), securities


def test_a_load_the_server_fetches_itself_needs_an_admin(tmp_path: Path) -> None:
    """A URL or SQL source is opened by the server with its own rights (``sqlite:///any/file``): admins only."""
    root = api.init_project(tmp_path / "proj")
    users = Project(root).users
    users.add("will", "write")
    users.add("ada", "admin")
    tokens = {name: users.create_token(name).secret for name in ("will", "ada")}
    client = TestClient(create_app(root))
    for body in ({"path": "file:///etc/hostname", "name": "x"},):
        resp = client.post("/data/load", json=body, headers={"Authorization": f"Bearer {tokens['will']}"})
        assert resp.status_code == 403, resp.text
        assert "needs 'admin'" in resp.json()["error"]["message"]
    for params in ({"data": "file:///etc/hostname", "name": "x"}, {"data": None, "sql": "select 1", "name": "x",
                                                                  "url": "sqlite:///" + str(tmp_path / "x.db")}):
        resp = client.post("/jobs", json={"kind": "data.load", "params": params},
                           headers={"Authorization": f"Bearer {tokens['will']}"})
        assert resp.status_code == 403, resp.text
    resp = client.post("/data/load", json={"path": "file:///nonexistent/f.csv", "name": "x"},
                       headers={"Authorization": f"Bearer {tokens['ada']}"})
    assert resp.status_code not in (401, 403), resp.text  # the admin gets through to the load itself
