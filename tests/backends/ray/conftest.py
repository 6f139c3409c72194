"""A real local Ray cluster for the Ray backend's tests, started once per session and stopped by PID.

``ray start --head --block`` runs in a process group of its own with two CPUs, a 200 MB object
store, no dashboard UI, free ports and a private temp dir; at the end the whole group (that
command, the GCS, the raylet and the workers it spawned: only processes this fixture started)
is sent SIGTERM, then SIGKILL. ``ray stop`` is never used: it stops every cluster on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTED = "Ray runtime started"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_group(proc: subprocess.Popen) -> None:
    # `ray start --block` takes ~33 s to end after SIGTERM (its GCS server and monitor linger), which every
    # worker paid at the end of the suite; the cluster is a throwaway one whose temp dir is removed after
    for sig, wait_s in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(1)  # the group's other members exit after the leader; SIGKILL the stragglers


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (``127.0.0.1:PORT``) of a two-CPU Ray cluster running on this machine."""
    pytest.importorskip("ray")
    port = _free_port()
    # short on purpose: Ray's unix socket paths live under it and must fit in 107 bytes
    temp = tempfile.mkdtemp(prefix="tr-", dir="/tmp")
    log = Path(temp) / "ray-start.log"
    ray_exe = str(Path(sys.executable).with_name("ray"))
    cmd = [ray_exe, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
           "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", "--object-store-memory=200000000",
           f"--temp-dir={temp}", f"--ray-client-server-port={_free_port()}", f"--dashboard-port={_free_port()}",
           f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
           f"--runtime-env-agent-port={_free_port()}", f"--metrics-export-port={_free_port()}",
           "--disable-usage-stats"]
    # Ray >= 2.5x turns token auth on by itself once ~/.ray/auth_token exists (any local ray.init writes
    # one); the test cluster and its clients agree on "off" instead of on whatever that file holds
    auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180  # a loaded CI machine takes tens of seconds
        while STARTED not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`ray start --head` did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _stop_group(proc)
        shutil.rmtree(temp, ignore_errors=True)
        if auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth


@pytest.fixture(scope="session")
def ray_settings(ray_cluster: str) -> dict:
    """The ``backend`` mapping of the Ray backend on the test cluster (RayConfig's defaults otherwise)."""
    import dataclasses

    from tesla_backends.ray import RayConfig

    return {**dataclasses.asdict(RayConfig()), "address": ray_cluster, "connect_timeout_s": 5.0}
