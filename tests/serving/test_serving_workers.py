"""``--workers N`` (deploy.workers): N processes on one port, one pid to stop, no capture line lost."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesla.errors import ConfigError
from tesla.serving.handoff import SUPPORTED, handoff_path
from tesla.serving.process import free_port, is_alive, start_server, stop_server
from tesla.serving.supervisor import worker_argv


async def _drive(url: str, n: int, row: dict[str, Any], concurrency: int = 16) -> tuple[list[int], set[int]]:
    """``n`` predict requests (every 5th with an unknown category: a captured error); statuses, worker pids."""
    statuses: list[int] = []
    workers: set[int] = set()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)  # new connections spread

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        async def one(i: int) -> None:
            body = [{**row, "plan": "no-such-plan"}] if i % 5 == 0 else [row] * (1 + i % 3)
            response = await client.post("/predict", json=body, headers={"x-request-id": f"w-{i}"})
            statuses.append(response.status_code)
            if i % 10 == 1:
                workers.add((await client.get("/health")).json()["worker_pid"])
                feedback = await client.post("/feedback", json={"request_id": f"w-{i}", "labels": [1] * (1 + i % 3)})
                assert feedback.status_code == 202, feedback.text

        await asyncio.gather(*(one(i) for i in range(n)))
    return statuses, workers


def _lines(path: Path, pattern: str) -> list[dict[str, Any]]:
    return [json.loads(line) for f in path.glob(pattern) for line in f.read_text().splitlines()]


def test_workers_share_one_port_and_capture_loses_nothing(mixed_bundle: Any, mixed_row: dict[str, Any],
                                                          tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    server = start_server(mixed_bundle.path, host="127.0.0.1", port=0, model_ref="mixed@1",
                          log_path=tmp_path / "server.log", capture_dir=capture, workers=2, health_timeout_s=120)
    n = 300
    try:
        statuses, workers = asyncio.run(_drive(server.url, n, mixed_row))
        assert len(workers) == 2 and server.pid not in workers  # both workers answered; the pid is the supervisor's
    finally:
        assert stop_server(server.pid, timeout_s=60)  # SIGTERM to the supervisor stops (and flushes) the workers
    assert not any(is_alive(pid) for pid in workers)
    errors = [i for i in range(n) if i % 5 == 0]
    assert statuses.count(422) == len(errors) and statuses.count(200) == n - len(errors)
    predictions = _lines(capture, "predictions-*.jsonl")
    assert len(predictions) == sum(1 + i % 3 for i in range(n) if i % 5)
    assert len({f.name for f in capture.glob("predictions-*.jsonl")}) == 2  # one file per worker
    assert sorted(ln["request_id"] for ln in _lines(capture, "errors.jsonl")) == sorted(f"w-{i}" for i in errors)
    assert len(_lines(capture, "feedback.jsonl")) == sum(1 + i % 3 for i in range(1, n, 10))
    assert json.loads((capture / "dropped.json").read_text()) == {"dropped": 0}


@pytest.mark.skipif(not SUPPORTED, reason="socket hand-off needs Unix sockets with SCM_RIGHTS")
def test_a_single_server_hands_its_port_to_a_two_worker_one(mixed_bundle: Any, mixed_row: dict[str, Any],
                                                             tmp_path: Path) -> None:
    port = free_port()
    first_at, second_at = handoff_path(tmp_path, "first"), handoff_path(tmp_path, "second")
    log = tmp_path / "server.log"
    old = start_server(mixed_bundle.path, host="127.0.0.1", port=port, model_ref="mixed@1", log_path=log,
                       handoff_at=first_at, capture_dir=tmp_path / "capture", health_timeout_s=120)
    new = None
    try:
        new = start_server(mixed_bundle.path, host="127.0.0.1", port=port, model_ref="mixed@2", log_path=log,
                           handoff_from=first_at, handoff_at=second_at, workers=2, capture_dir=tmp_path / "capture",
                           health_timeout_s=120)
        stop_server(old.pid, timeout_s=60)
        statuses, workers = asyncio.run(_drive(new.url, 40, mixed_row))
        assert set(statuses) == {200, 422} and len(workers) >= 1
        assert httpx.get(f"{new.url}/health").json()["model"] == "mixed@2"
    finally:
        stop_server(old.pid)
        if new is not None:
            stop_server(new.pid, timeout_s=60)
    assert "took over the listening socket" in log.read_text()


def test_worker_argv_drops_the_supervisors_own_flags() -> None:
    argv = ["--bundle", "b", "--workers", "3", "--handoff-at=/x.sock", "--handoff-from", "/y.sock", "--port", "9"]
    assert worker_argv(argv, 7, 42)[3:] == ["--bundle", "b", "--port", "9", "--listen-fd", "7", "--server-pid", "42"]


@pytest.mark.parametrize("flag", ["--workers", "--predict-threads"])
def test_a_bad_worker_count_is_one_line_and_exit_2(tmp_path: Path, flag: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tesla.serving", "--bundle", str(tmp_path), flag, "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: {flag} must be between 1 and ")
    assert "got 0" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("key", ["workers", "predict_threads"])
@pytest.mark.parametrize("count", [0, 10_000])
def test_deploy_workers_is_checked(key: str, count: int) -> None:
    from tesla.config.checks import _deploy_workers

    with pytest.raises(ConfigError, match=rf"'deploy.{key}' must be between 1 and \d+ .*got {count}\. Set deploy.{key}=N"
                       ) as e:
        _deploy_workers({"deploy": {key: count}})
    assert e.value.key == f"deploy.{key}"


def test_deploy_predict_threads_reaches_the_server(trained_project: Path, tmp_path: Path) -> None:
    import shutil

    from tesla import api

    root = Path(shutil.copytree(trained_project, tmp_path / "proj"))
    result = api.deploy("bc_model", overrides=["deploy.predict_threads=3"], project_dir=root)
    try:
        pid = result.info["pid"]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert argv[argv.index("--predict-threads") + 1] == "3"
    finally:
        api.stop_deployment("bc_model", project_dir=root)
