"""`tesla plan --dry-run`, the budget guard and `tesla jobs` with backend=sagemaker, through the real CLI."""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tesla import api
from tesla.errors import ConfigError
from tesla.testing.contract import contract_plan
from tesla_backends.sagemaker._backend import SageMakerBackend
from tests.conftest import run_tesla

# loaded into the CLI subprocess through PYTHONPATH: any connection or DNS lookup off loopback is logged and refused
GUARD = textwrap.dedent('''
    import os, socket
    _LOG = os.environ["TESLA_NET_LOG"]
    _LOCAL = ("127.", "::1", "localhost")
    def _refuse(what):
        with open(_LOG, "a") as fh:
            fh.write(repr(what) + "\\n")
        raise OSError(f"network access refused by the test guard: {what!r}")
    _connect = socket.socket.connect
    def connect(self, address):
        if isinstance(address, tuple) and not str(address[0]).startswith(_LOCAL):
            _refuse(address)
        return _connect(self, address)
    _getaddrinfo = socket.getaddrinfo
    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOCAL):
            _refuse(host)
        return _getaddrinfo(host, *args, **kwargs)
    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo
''')


def _cloud(sm: SimpleNamespace, *extra: str) -> list[str]:
    return ["backend=sagemaker", f"backend.role_arn={sm.role}", f"backend.bucket={sm.bucket}",
            f"backend.image_uri={sm.image}", "backend.region=us-east-1", *extra]


@pytest.fixture
def bc_project(project: Path, datasets_dir: Path) -> Path:
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=project)
    return project


@pytest.fixture
def guarded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "network.log"
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # no fake to talk to either
    yield {"PYTHONPATH": str(guard_dir), "TESLA_NET_LOG": str(log)}
    assert not log.exists() or log.read_text() == "", f"network access: {log.read_text()}"


def test_the_guard_itself_refuses_the_network(guarded_env: dict[str, str], tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import urllib.request\ntry:\n    urllib.request.urlopen('http://example.com', timeout=1)\nexcept OSError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **guarded_env}, capture_output=True,
                         text=True, timeout=60)
    assert "refused by the test guard" in out.stdout
    Path(guarded_env["TESLA_NET_LOG"]).unlink()  # the guard logged it; the fixture's check is for the CLI tests


@pytest.mark.slow
def test_dry_run_prints_requests_validation_and_cost_without_network(bc_project: Path, sm: SimpleNamespace,
                                                                     guarded_env: dict[str, str]) -> None:
    proc = run_tesla("plan", "-m", "bc_model", *_cloud(sm), "--dry-run", "--format", "json", cwd=bc_project,
                     env=guarded_env)
    doc = json.loads(proc.stdout)
    assert [r["step"] for r in doc["requests"]] == ["load", "split", "search", "evaluate"]
    assert {r["operation"] for r in doc["requests"]} == {"CreateTrainingJob"}
    assert doc["problems"] == [] and doc["budget_error"] is None
    assert doc["cost"]["usd"] == pytest.approx(4 * 0.115)  # 4 jobs x ml.m5.large x 1 h (max_runtime_s)
    text = run_tesla("plan", "-m", "bc_model", *_cloud(sm), "--dry-run", cwd=bc_project, env=guarded_env).stdout
    assert "validation: OK, every request passes strict validation" in text and "at most $0.46" in text


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "expected"), [
    (["backend.max_usd=0.2"], "Error: plan 'train/bc_model' may cost up to $0.46 (4 job(s) on ml.m5.large for up "
                              "to 1 h each), above backend.max_usd=0.2; raise backend.max_usd"),
    (["backend.instance_type=ml.m5.larg"], "Error: step 'load': CreateTrainingJob.ResourceConfig.InstanceType: "
                                           "'ml.m5.larg' is not one of the 225 allowed values; did you mean 'ml.m5.large'?"),
    (["search.framework=pytorch"], "Error: the image backend.image_uri cannot load every model this plan may pick "
                                   "('torch_mlp' needs 'torch')"),
], ids=["over-budget", "bad-instance-type", "estimator-not-in-image"])
def test_dry_run_refusals_exit_1_with_one_line(extra: list[str], expected: str, bc_project: Path,
                                               sm: SimpleNamespace, guarded_env: dict[str, str]) -> None:
    proc = run_tesla("plan", "-m", "bc_model", *_cloud(sm, *extra), "--dry-run", cwd=bc_project, env=guarded_env,
                     check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(expected), proc.stderr


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_sock: socket.socket, address: Any) -> None:
        raise AssertionError(f"network connection attempted to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_budget_guard_refuses_train_before_anything_is_sent(bc_project: Path, sm: SimpleNamespace,
                                                            no_network: None) -> None:
    with pytest.raises(ConfigError) as info:
        api.train("bc_model", overrides=_cloud(sm, "backend.max_usd=0.1"), project_dir=bc_project)
    assert info.value.key == "backend.max_usd" and "above backend.max_usd=0.1" in str(info.value)
    assert api.open_store(bc_project).runs() == []  # refused before a run was even recorded


def test_sweep_cost_is_the_point_cost_times_the_points(bc_project: Path, sm: SimpleNamespace, no_network: None) -> None:
    one = api.dry_run("bc_model", overrides=_cloud(sm), project_dir=bc_project)
    three = api.dry_run("bc_model", overrides=_cloud(sm, "backend.max_usd=1.0"), project_dir=bc_project, points=3)
    assert three.cost["usd"] == pytest.approx(3 * one.cost["usd"]) and three.cost["points"] == 3
    assert three.budget_error is not None and "x 3 sweep points" in three.budget_error


@pytest.mark.slow
def test_jobs_list_status_and_logs(project: Path, sm: SimpleNamespace, sm_clients: Any, sm_store: Any,
                                   player: Any, tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("x,label\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(30)))
    backend = SageMakerBackend(sm.settings(), sm_store, clients=sm_clients)
    run = backend.run(contract_plan(sm_store.artifacts.put(csv), backend=sm.settings()))
    failed = f"tesla-{run.run_id}-split"
    sm.training_job(failed).training_job_status = "Failed"
    sm.training_job(failed).failure_reason = "AlgorithmError: out of memory"
    sm_clients.logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    stream = f"{failed}/algo-1-1700000000"
    now_ms = int(time.time() * 1000)
    sm_clients.logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream)
    sm_clients.logs.put_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream,
                                   logEvents=[{"timestamp": now_ms, "message": "loading table"},  # AWS drops old events
                                              {"timestamp": now_ms + 1, "message": "MemoryError"}])

    listed = run_tesla("jobs", "list", "backend=sagemaker", cwd=project).stdout
    assert f"tesla-{run.run_id}-load" in listed and failed in listed and "failed" in listed
    status = run_tesla("jobs", "status", failed, "backend=sagemaker", cwd=project).stdout
    assert status.startswith(f"{failed}: failed (provider: Failed): AlgorithmError: out of memory")
    assert run_tesla("jobs", "logs", failed, "backend=sagemaker", cwd=project).stdout == "loading table\nMemoryError\n"


def test_jobs_on_the_local_backend_say_how_to_pick_a_cloud(project: Path) -> None:
    proc = run_tesla("jobs", "list", cwd=project, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("Error: `tesla jobs` needs a cloud backend and this project's backend is 'local'; "
                                   "pass backend=sagemaker or backend=vertex (or set it in conf/config.yaml)")
