"""Browser fixtures: Debian's Chromium driven by Playwright, and ``tesla server`` processes the tests start.

Playwright's own browser download is not available here, so the tests launch ``/usr/bin/chromium``
(``apt-get install chromium``, done by the session fixture when it is missing; the tests skip, saying
why, only when it cannot be installed). Every server is started on a free loopback port and stopped
by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TESLA, _free_port, apt_install, run_tesla

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # module, not session: Playwright's sync API keeps an asyncio loop running in this thread while it is
    # open, and a later file's asyncio.run() on the same worker refuses to start under a running loop
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    if not CHROMIUM.exists() and (why := apt_install("chromium", CHROMIUM.exists)):
        pytest.skip(f"no browser for the UI tests: {why}")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tesla server exited {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"tesla server did not answer {url} in {timeout_s} s")


def start_server(project: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """``tesla server`` for ``project`` on a free loopback port; its base URL and process."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([TESLA, "server", "--port", str(port), "--project", str(project)],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_for(f"{base}/health", proc)
    return base, proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def send_traffic(url: str, csv: Path) -> None:
    """Three ``/predict`` requests of 40 rows (fewer in the last) of the labelled ``csv``, its target dropped."""
    import pandas as pd

    rows = pd.read_csv(csv).drop(columns=["target"])
    for start in range(0, 120, 40):
        body = json.dumps({"records": rows.iloc[start:start + 40].to_dict("records")}).encode()
        req = urllib.request.Request(f"{url}/predict", body, {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Iterator[Path]:
    """A project with bc loaded, bc_model trained (2 trials), deployed, sent traffic and monitored once."""
    from tesla import api

    root = api.init_project(tmp_path_factory.mktemp("ui") / "proj")
    run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "bc", "--target", "target", cwd=root)
    run_tesla("train", "-m", "bc_model", "-p", "2", cwd=root)
    run_tesla("deploy", "-m", "bc_model", cwd=root)
    try:
        url = next(d.url for d in api.Project(root).deployments.list(active_only=True))
        send_traffic(url, datasets_dir / "bc_test.csv")
        run_tesla("monitor", "-m", "bc_model", cwd=root)
        yield root
    finally:
        run_tesla("deployments", "stop", "bc_model", cwd=root, check=False)


@pytest.fixture(scope="session")
def ui_server(ui_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base, proc = start_server(ui_project, tmp_path_factory.mktemp("ui-server") / "server.log")
    try:
        yield base
    finally:
        stop_server(proc)
