"""Bearer auth (required off loopback, never logged) and the request body limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tesla.serving.process import start_server, stop_server

TOKEN = "tok-3f9a1c-never-in-logs"


@pytest.fixture
def client(bc_bundle: Bundle, tmp_path: Path) -> TestClient:
    settings = ServingSettings(auth_token=TOKEN, capture_dir=tmp_path, max_body_bytes=4096)
    return TestClient(create_app(bc_bundle, settings))


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_missing_or_wrong_token_is_401(client: TestClient, bc_rows: list[dict[str, Any]], header: str | None) -> None:
    headers = {"authorization": header} if header else {}
    for method, path in (("post", "/predict"), ("post", "/invocations"), ("get", "/schema"), ("get", "/metrics"),
                         ("post", "/v2/models/model/infer")):
        response = getattr(client, method)(path, headers=headers, **({"json": bc_rows[:1]} if method == "post" else {}))
        assert response.status_code == 401, path
        assert response.json()["error"]["type"] == "AuthError"
        assert TOKEN not in response.text


def test_right_token_passes_and_health_checks_stay_open(client: TestClient, bc_rows: list[dict[str, Any]]) -> None:
    ok = client.post("/predict", json=bc_rows[:2], headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2
    for path in ("/health", "/ping", "/v2/health/ready", "/v2/health/live"):
        assert client.get(path).status_code == 200, path


def test_auth_failures_are_captured_as_errors(client: TestClient, bc_rows: list[dict[str, Any]],
                                              tmp_path: Path) -> None:
    with client:
        client.post("/predict", json=bc_rows[:1], headers={"x-request-id": "intruder"})
    assert '"request_id":"intruder","status":401,"type":"AuthError"' in (tmp_path / "errors.jsonl").read_text()


def test_body_over_the_limit_is_413(client: TestClient, bc_rows: list[dict[str, Any]]) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    declared = client.post("/predict", json=bc_rows[:40], headers=auth)
    assert declared.status_code == 413 and "4096 bytes" in declared.json()["error"]["message"]

    def chunks() -> Any:  # no content-length: the limit is enforced while reading
        for _ in range(10):
            yield b" " * 1000

    streamed = client.post("/predict", content=chunks(), headers={**auth, "content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["type"] == "PayloadTooLarge"


def test_server_refuses_to_listen_off_loopback_without_a_token(bc_bundle_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tesla.serving", "--bundle", str(bc_bundle_dir), "--host", "0.0.0.0",
                           "--port", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "serving on 0.0.0.0 (not loopback) needs a bearer token" in proc.stderr
    assert "deploy.auth_token_env" in proc.stderr


def test_server_names_an_empty_token_variable(bc_bundle_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tesla.serving", "--bundle", str(bc_bundle_dir), "--auth-token-env",
                           "TESLA_TEST_UNSET_TOKEN"], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert "environment variable TESLA_TEST_UNSET_TOKEN (deploy.auth_token_env) is empty" in proc.stderr


@pytest.mark.slow
def test_off_loopback_server_needs_the_token_and_never_logs_it(bc_bundle_dir: Path, bc_rows: list[dict[str, Any]],
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESLA_TEST_TOKEN", TOKEN)
    log = tmp_path / "server.log"
    server = start_server(bc_bundle_dir, host="0.0.0.0", port=0, model_ref="bc_model@1", log_path=log,
                          auth_token_env="TESLA_TEST_TOKEN", capture_dir=tmp_path / "cap", health_timeout_s=120)
    try:
        assert server.url.startswith("http://127.0.0.1:")  # traffic stays on loopback
        assert httpx.post(f"{server.url}/predict", json=bc_rows[:1]).status_code == 401
        ok = httpx.post(f"{server.url}/predict", json=bc_rows[:1], headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
    finally:
        assert stop_server(server.pid)
    text = log.read_text() + "".join(p.read_text() for p in (tmp_path / "cap").glob("*"))
    assert "(auth on," in text  # the log says auth is on...
    assert TOKEN not in text  # ...and never shows the token


def test_provider_mode_serves_off_loopback_without_a_token() -> None:
    """SageMaker and Vertex authenticate callers themselves and cannot forward a bearer token."""
    from tesla.serving.__main__ import _parser, _token

    plain = _parser().parse_args(["--host", "0.0.0.0"])
    assert _token(plain)[1] and "needs a bearer token" in _token(plain)[1]
    provider = _parser().parse_args(["--host", "0.0.0.0", "--behind-provider", "sagemaker"])
    assert _token(provider) == (None, None)
