"""`tesla deploy`, `deployments status|logs|stop` and `rollback` on real server processes.

One project with two versions of a model; a fixed port, so the replace tests that the port never
stops answering while a new version takes over.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_tesla

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Iterator[Path]:
    """A project with churner@1 and churner@2 (different searches, so different bundles)."""
    from tesla import api

    project = api.init_project(tmp_path_factory.mktemp("deploy") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=project)
    first = api.train("churner", max_iter=3, project_dir=project)
    second = api.train("churner", max_iter=4, overrides=["search.seed=7"], project_dir=project)
    assert (first.model.version, second.model.version) == (1, 2)
    yield project
    run_tesla("deployments", "stop", "churner", cwd=project, check=False)


@pytest.fixture(scope="module")
def row(datasets_dir: Path) -> dict[str, Any]:
    import pandas as pd

    frame = pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"]).head(1)
    return json.loads(frame.to_json(orient="records"))[0]


def _url(stdout: str) -> str:
    return stdout.split(" at ", 1)[1].split()[0]


def _health(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/health", timeout=10).json()


def _until(condition: Any, explain: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {explain()}"
        time.sleep(0.05)


class _Prober:
    """Predicts one row over a fresh connection, again and again, recording every answer or failure."""

    def __init__(self, url: str, row: dict[str, Any]) -> None:
        self.url, self.row = url, row
        self.models: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = httpx.post(f"{self.url}/predict", json=[self.row], timeout=10,
                                      headers={"connection": "close"})
                if response.status_code == 200:
                    self.models.append(response.json()["model"])
                else:
                    self.failures.append(f"HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))

    def __enter__(self) -> _Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_gates_refuse_and_leave_the_current_deployment_serving(two_versions: Path) -> None:
    project = two_versions
    url = _url(run_tesla("deploy", "-m", "churner@1", "-p", "staging", cwd=project).stdout)
    before = _health(url)
    assert before["model"] == "churner@1"

    refused = run_tesla("deploy", "-m", "churner@2", "-p", "staging", "evaluation.gates={roc_auc:{min:0.9999}}",
                        cwd=project, check=False)
    assert refused.returncode == 1
    assert "churner@2 fails the gate roc_auc >= 0.9999: it scored 0." in refused.stderr
    assert "the current deployment is unchanged" in refused.stderr

    beaten = run_tesla("deploy", "-m", "churner@2", "-p", "staging",
                       "evaluation.gates={roc_auc:{vs:staging,min_delta:0.5}}", cwd=project, check=False)
    assert beaten.returncode == 1
    assert "churner@2 does not beat churner@1 (serving 'staging') on roc_auc by 0.5" in beaten.stderr

    after = _health(url)
    assert (after["model"], after["pid"]) == ("churner@1", before["pid"])  # untouched, still answering
    listing = run_tesla("deployments", "list", cwd=project).stdout
    assert listing.count("churner") == 1 and "staging" in listing
    run_tesla("deployments", "stop", "churner", "-p", "staging", cwd=project)


def test_replace_on_a_fixed_port_never_stops_answering_and_rollback_returns(two_versions: Path,
                                                                           row: dict[str, Any]) -> None:
    from tesla.serving.process import free_port, is_alive

    project, port = two_versions, free_port()
    first = run_tesla("deploy", "-m", "churner@1", f"deploy.port={port}", cwd=project).stdout
    url = _url(first)
    assert url == f"http://127.0.0.1:{port}"
    again = run_tesla("deploy", "-m", "churner@1", f"deploy.port={port}", cwd=project).stdout
    assert "churner@1 is already serving on 'production'" in again and "(no change)" in again
    old_pid = _health(url)["pid"]

    with _Prober(url, row) as prober:
        replaced = run_tesla("deploy", "-m", "churner@2", f"deploy.port={port}", "deploy.batching.max_batch_size=16",
                             "deploy.batching.max_latency_ms=5", cwd=project).stdout
        assert _url(replaced) == url
        # the prober has seen the new version answer
        _until(lambda: prober.models[-1:] == ["churner@2"], lambda: (prober.models[-3:], prober.failures[-3:]))
    assert prober.failures == []
    assert {"churner@1", "churner@2"} <= set(prober.models)
    assert not is_alive(old_pid)
    status = json.loads(run_tesla("deployments", "status", "churner", "--json", cwd=project).stdout)
    assert [(d["version"], d["health"]["status"], d["health"]["pid"]) for d in status] == [
        (2, "ok", _health(url)["pid"])]
    assert status[0]["capture"]["enabled"] is True and status[0]["capture"]["dropped"] == 0
    logs = run_tesla("deployments", "logs", "churner", cwd=project)
    assert "took over the listening socket" in logs.stdout and "churner@2" in logs.stdout
    assert "batching 16 rows / 5.0 ms" in logs.stdout  # deploy.batching reaches the server

    with _Prober(url, row) as prober:
        back = run_tesla("rollback", "-p", "production", cwd=project).stdout  # no deploy.port: it stays put
        assert f"rolled back to churner@1 on 'production' (local) at {url}" in back
        _until(lambda: prober.models[-1:] == ["churner@1"], lambda: (prober.models[-3:], prober.failures[-3:]))
    assert prober.failures == []
    assert _health(url)["model"] == "churner@1"
    forward = run_tesla("rollback", "-p", "production", "-m", "churner", cwd=project).stdout
    assert "rolled back to churner@2" in forward  # rolling back twice returns to where you started

    captured = Path(status[0]["capture"]["dir"])
    stopped = run_tesla("deployments", "stop", "churner", cwd=project).stdout
    assert "stopped churner@2 on 'production'" in stopped
    models = {json.loads(line)["model"] for f in captured.glob("predictions-*.jsonl")
              for line in f.read_text().splitlines()}
    assert models == {"churner@1", "churner@2"}  # every version's predictions were captured
    assert not list((project / ".tesla" / "run").glob("*.sock"))  # handoff sockets cleaned up


def test_rollback_and_logs_explain_what_is_missing(project: Path) -> None:
    nothing = run_tesla("rollback", "-p", "production", cwd=project, check=False)
    assert nothing.returncode == 1
    assert "nothing has been deployed on profile 'production'" in nothing.stderr
    ghost = run_tesla("deployments", "logs", "ghost", cwd=project, check=False)
    assert ghost.returncode == 1 and "no deployment of 'ghost'" in ghost.stderr
    status = run_tesla("deployments", "status", "ghost", cwd=project, check=False)
    assert status.returncode == 1 and "no running deployment of 'ghost'" in status.stderr
