"""A real ``tesla server`` process for the remote tests: free port, stopped by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TESLA


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(proc: subprocess.Popen[str], url: str) -> None:
    """Return once ``url``'s ``/health`` answers; fail if the server process ends or takes over 90 s."""
    import httpx

    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "tesla server did not answer /health within 90 s"
        time.sleep(0.2)


@contextmanager
def running_server(root: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``tesla server`` for the project at ``root``; yields its URL once ``/health`` answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([TESLA, "server", "--port", str(port)], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        wait_healthy(proc, url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
