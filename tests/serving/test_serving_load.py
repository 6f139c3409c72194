"""10,000 requests at concurrency 32 against a real server process: zero errors, zero lost prediction logs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesla.serving.process import start_server, stop_server

REQUESTS = 10_000
CONCURRENCY = 32
WALL_LIMIT_S = 300  # a bound, not a performance assertion: benchmarks/serving measures speed


async def _drive(url: str, bodies: list[list[dict[str, Any]]]) -> tuple[list[int], list[str]]:
    statuses: list[int] = []
    request_ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                response = await client.post("/predict", json={"records": bodies[i]},
                                             headers={"x-request-id": f"load-{i}"})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    request_ids.append(response.json()["request_id"])

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), WALL_LIMIT_S)
    return statuses, request_ids


@pytest.mark.slow
def test_ten_thousand_requests_no_errors_no_lost_logs(bc_bundle_dir: Path, bc_rows: list[dict[str, Any]],
                                                      tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    server = start_server(bc_bundle_dir, host="127.0.0.1", port=0, model_ref="bc_model@1",
                          log_path=tmp_path / "server.log", capture_dir=capture, health_timeout_s=120)
    bodies = [[bc_rows[(i + k) % len(bc_rows)] for k in range(1 + i % 3)] for i in range(REQUESTS)]
    try:
        statuses, request_ids = asyncio.run(_drive(server.url, bodies))
    finally:
        stopped = stop_server(server.pid, timeout_s=60)  # SIGTERM: the server flushes its capture before exiting
    assert stopped
    assert len(statuses) == REQUESTS
    assert statuses.count(200) == REQUESTS, {s: statuses.count(s) for s in set(statuses)}
    assert sorted(request_ids) == sorted(f"load-{i}" for i in range(REQUESTS))

    lines = [json.loads(line) for f in capture.glob("predictions-*.jsonl") for line in f.read_text().splitlines()]
    assert len(lines) == sum(map(len, bodies))  # every row sent is logged, exactly once
    assert {(ln["request_id"], ln["row"]) for ln in lines} == {
        (f"load-{i}", k) for i, body in enumerate(bodies) for k in range(len(body))}
    assert json.loads((capture / "dropped.json").read_text()) == {"dropped": 0}
    assert not (capture / "errors.jsonl").exists()
    assert "stopped" in (tmp_path / "server.log").read_text()
