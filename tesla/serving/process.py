"""Local model servers as background processes: start, wait until healthy, stop by pid.

A new server counts as healthy only when ``/health`` answers from *its* pid: when it took over
the old server's listening socket (``handoff_from``, see ``tesla.serving.handoff``) the old
server answers on the same address until it is stopped, and must not be mistaken for the new one.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tesla.errors import DeployError

__all__ = ["ServerProcess", "free_port", "is_alive", "start_server", "stop_server"]


@dataclass(frozen=True)
class ServerProcess:
    pid: int
    host: str
    port: int
    url: str
    log_path: Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _check_port(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise DeployError(f"port {port} on {host} is in use; pick another with deploy.port=N "
                                  "(0 picks a free one) or stop what is listening there", key="deploy.port") from exc
            raise DeployError(f"cannot bind {host}:{port}: {exc.strerror}; check deploy.host",
                              key="deploy.host") from exc


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` exited but nobody reaped it: a server whose deployer died, where pid 1 does not reap."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here, or it is gone by now
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def _tail(path: Path, since: int = 0, lines: int = 5) -> str:
    """The last ``lines`` lines written to ``path`` after byte offset ``since`` (this attempt's, not older ones)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


def _healthy(url: str, pid: int) -> bool:
    """Whether the server with this pid answers ``/health`` at ``url`` (the standard library's client: httpx's
    import alone costs a ``tesla deploy`` ~0.3 s; no proxy from the environment is asked)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # a fresh connection per probe: on a handed-over socket each one may land on the old or the new server
    request = urllib.request.Request(f"{url}/health", headers={"connection": "close"})
    try:
        with opener.open(request, timeout=1.0) as response:
            return response.status == 200 and json.loads(response.read()).get("pid") == pid
    except (OSError, ValueError):  # URLError and HTTPError are OSErrors; ValueError: not JSON
        return False


def _wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, timeout_s: float, log_start: int) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeployError(f"the model server exited with status {proc.returncode}: {_tail(log_path, log_start)} "
                              f"(log: {log_path})")
        if _healthy(url, proc.pid):
            return
        time.sleep(0.05)
    stop_server(proc.pid)
    raise DeployError(f"the model server did not report healthy within {timeout_s:.0f} s (log: {log_path}); "
                      "raise deploy.health_timeout_s if the model is large")


def start_server(bundle_dir: Path, *, host: str, port: int, model_ref: str, log_path: Path,
                 unseen_category: str = "error", max_body_bytes: int = 10_000_000,
                 auth_token_env: str | None = None, capture_dir: Path | None = None,
                 max_batch_size: int = 64, max_latency_ms: float = 2.0, handoff_from: Path | None = None,
                 handoff_at: Path | None = None, workers: int = 1, extra_args: list[str] | None = None,
                 health_timeout_s: float = 60.0, on_spawn: Callable[[int], None] | None = None) -> ServerProcess:
    """Start ``python -m tesla.serving`` detached, and return once it answers ``/health`` itself.

    Args:
        bundle_dir: the model bundle.
        host: bind address; anything but loopback needs ``auth_token_env``.
        port: fixed port, or 0 for a free one.
        model_ref: ``name@version``.
        log_path: the server's stdout and stderr (appended; an error quotes only this attempt's lines).
        unseen_category: ``error`` or ``unknown``.
        max_body_bytes: request body limit.
        auth_token_env: name of the environment variable holding the bearer token (never its value).
        capture_dir: where predictions are logged; None: no capture.
        max_batch_size: micro-batching: most rows per predict call.
        max_latency_ms: micro-batching: longest wait for a batch to fill.
        handoff_from: take the listening socket offered there by the server this one replaces
            (same host and port) instead of binding the port.
        handoff_at: offer this server's listening socket there, for its successor.
        workers: server processes on the one port; above 1 the returned pid is their supervisor's.
        extra_args: more ``python -m tesla.serving`` flags.
        health_timeout_s: how long to wait for ``/health``.
        on_spawn: called with the server's pid as soon as it exists (before the health wait).

    Raises:
        DeployError: the port is taken, or the server exited or never reported healthy.
    """
    if port and handoff_from is None:
        _check_port(host, port)
    elif not port:
        port = free_port(host)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "tesla.serving", "--bundle", str(bundle_dir), "--host", host, "--port", str(port),
            "--model-ref", model_ref, "--unseen-category", unseen_category, "--max-body-bytes", str(max_body_bytes),
            "--max-batch-size", str(max_batch_size), "--max-latency-ms", str(max_latency_ms)]
    if auth_token_env:
        args += ["--auth-token-env", auth_token_env]
    if capture_dir is not None:
        args += ["--capture-dir", str(capture_dir)]
    if handoff_from is not None:
        args += ["--handoff-from", str(handoff_from)]
    if handoff_at is not None:
        args += ["--handoff-at", str(handoff_at)]
    if workers != 1:
        args += ["--workers", str(workers)]
    args += extra_args or []
    with open(log_path, "ab") as log:
        log.write(f"--- tesla: starting {model_ref} on {host}:{port} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                  .encode())
        log.flush()
        log_start = log.tell()  # what an earlier attempt wrote is not this attempt's reason
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # outlives the CLI that started it
    if on_spawn is not None:
        try:
            on_spawn(proc.pid)
        except BaseException:
            stop_server(proc.pid)  # nobody would know of this server otherwise
            raise
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{url_host}:{port}"
    _wait_healthy(proc, url, log_path, health_timeout_s, log_start)
    return ServerProcess(pid=proc.pid, host=host, port=port, url=url, log_path=log_path)


def stop_server(pid: int | None, timeout_s: float = 10.0) -> bool:
    """Stop the server with this pid (TERM, then KILL); False when it was not running."""
    if not is_alive(pid):
        return False
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True
