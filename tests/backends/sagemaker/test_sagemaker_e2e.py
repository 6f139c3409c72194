"""The SageMaker backend end to end against moto on 127.0.0.1 (real HTTP, real boto3).

moto never runs containers; the ``player`` fixture runs each job's own container command on
the channels moto stored (see conftest.py), so these tests exercise the upload layout, the
entrypoint and collection for real. What moto cannot show is listed in the README.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tesla import api
from tesla.errors import StepFailedError
from tesla.execution.packaging import build_code_package
from tesla.store import Store
from tesla.testing.contract import contract_plan
from tesla_backends.sagemaker._backend import SageMakerBackend
from tests.conftest import project_store


def _overrides(sm: SimpleNamespace, *extra: str) -> list[str]:
    return ["backend=sagemaker", f"backend.role_arn={sm.role}", f"backend.bucket={sm.bucket}",
            f"backend.image_uri={sm.image}", f"backend.region={sm.region}", *extra]


def _count_calls(clients: Any) -> Counter[str]:
    calls: Counter[str] = Counter()
    for client in (clients.sagemaker, clients.s3):
        client.meta.events.register("provide-client-params", lambda params, model, **_kw: calls.update(
            [model.name, f"{model.name} {params.get('Key', '')}"]))
    return calls


def _keys(clients: Any, bucket: str) -> list[str]:
    pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.fixture
def wired(sm_clients: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Backends made by tesla.api use the test's clients (moto, strict validation, the player)."""
    monkeypatch.setattr("tesla_backends.sagemaker._backend.make_clients", lambda _settings: sm_clients)
    return sm_clients


@pytest.mark.slow
def test_train_runs_each_step_as_a_training_job(project: Path, datasets_dir: Path, sm: SimpleNamespace,
                                                wired: Any, player: Any) -> None:
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=project)
    calls = _count_calls(wired)
    result = api.train("bc_model", max_iter=3, overrides=_overrides(sm), project_dir=project)

    run_id = result.run.run_id
    assert [r.job for r in player.runs] == [f"tesla-{run_id}-{s}" for s in ("load", "split", "search", "evaluate")]
    assert all(r.returncode == 0 for r in player.runs), [r.stderr[-500:] for r in player.runs]
    assert result.model.ref == "bc_model@1" and result.model.metrics["roc_auc"] > 0.9
    steps = {s.step_id: s for s in api.open_store(project).run_steps(run_id)}
    assert steps["search"].job_ref == f"tesla-{run_id}-search" and steps["register"].job_ref is None

    keys = _keys(wired, sm.bucket)
    code = [k for k in keys if k.startswith("tesla/code/")]
    assert len(code) == 1 and code[0].endswith("/tesla-code.tar.gz")
    body = wired.s3.get_object(Bucket=sm.bucket, Key=code[0])["Body"].read()
    assert code[0].split("/")[2] == hashlib.sha256(body).hexdigest()  # content-addressed
    plan_json = wired.s3.get_object(Bucket=sm.bucket, Key=f"tesla/{run_id}/plan/plan.json")["Body"].read()
    assert plan_json.decode() == result.run.plan.to_json()
    inputs = {ref.sha256 for step in result.run.plan.steps for ref in step.inputs.values() if ref.sha256}
    inputs |= {s["outputs"][name] for s in result.run.steps.values() for name in s["outputs"]}
    markers = {k.split("/")[2].removesuffix(".complete") for k in keys if k.endswith(".complete")}
    assert markers <= inputs and len(markers) == 6  # source, table, schema, train, test, model
    assert {f"tesla/{run_id}/output/tesla-{run_id}-{s}/output/model.tar.gz"
            for s in ("load", "split", "search", "evaluate")} <= set(keys)

    desc = wired.sagemaker.describe_training_job(TrainingJobName=f"tesla-{run_id}-search")
    # search.refit (the default): the search also fits its winner on the held-out rows, so it reads them too
    assert {c["ChannelName"] for c in desc["InputDataConfig"]} == {"tesla-code", "tesla-plan", "train", "test",
                                                                  "schema"}
    tags = {t["Key"]: t["Value"] for t in wired.sagemaker.list_tags(ResourceArn=desc["TrainingJobArn"])["Tags"]}
    assert tags["tesla-run"] == run_id and tags["tesla-step"] == "search" and tags["tesla-managed"] == "true"
    outputs = [k for k in keys if "/output/" in k]  # put by the player, as SageMaker would
    assert calls["CreateTrainingJob"] == 4 and calls["PutObject"] == len(keys)  # every object written once
    assert len(outputs) == 4

    again = api.train("bc_model", max_iter=3, overrides=_overrides(sm), project_dir=project)
    assert {s["status"] for s in again.run.steps.values()} == {"cached"}
    assert calls["CreateTrainingJob"] == 4  # nothing resubmitted


@pytest.mark.slow
def test_rerun_reuploads_only_the_plan(sm_store: Store, sm: SimpleNamespace, sm_clients: Any,
                                       player: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = build_code_package(("tesla", "tesla_backends"))  # the same Tesla in both "processes"
    monkeypatch.setattr("tesla_backends.sagemaker._backend.build_code_package", lambda _names: package)
    sha = sm_store.artifacts.put(_csv(tmp_path / "d.csv"))
    plan = contract_plan(sha, backend=sm.settings())
    SageMakerBackend(sm.settings(), sm_store, clients=sm_clients).run(plan)
    calls = _count_calls(sm_clients)
    SageMakerBackend(sm.settings(), sm_store, clients=sm_clients).run(plan, force=True)  # a fresh process
    # the new run's plan.json, plus the two model.tar.gz the player wrote as SageMaker would
    assert calls["PutObject"] == 1 + 2 and calls["CreateTrainingJob"] == 2, calls


def test_injected_failure_reason_reaches_the_user(sm_store: Store, sm: SimpleNamespace, sm_clients: Any,
                                                  player: Any, tmp_path: Path) -> None:
    player.enabled = False

    def fail(parsed: dict[str, Any], **_kw: Any) -> None:
        job = sm.training_job(parsed["TrainingJobArn"].rsplit("/", 1)[1])
        job.training_job_status = "Failed"
        job.failure_reason = "AlgorithmError: ExecuteUserScriptError: disk full (injected)"

    sm_clients.sagemaker.meta.events.register("after-call.sagemaker.CreateTrainingJob", fail)
    sha = sm_store.artifacts.put(_csv(tmp_path / "d.csv"))
    backend = SageMakerBackend(sm.settings(), sm_store, clients=sm_clients)
    with pytest.raises(StepFailedError) as info:
        backend.run(contract_plan(sha, backend=sm.settings()))
    message = str(info.value)
    assert message.startswith("step 'load' failed: AlgorithmError: ExecuteUserScriptError: disk full (injected)")
    assert "(job tesla-" in message and info.value.step == "load"
    status = backend.job_status(message.split("(job ")[1].rstrip(")"))
    assert status["state"] == "failed" and "disk full" in status["reason"]


def _csv(path: Path) -> Path:
    rows = ["x1,x2,label"] + [f"{i},{i % 7},{'yes' if i % 2 else 'no'}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def serving() -> Iterator[Any]:
    """Start ``python -m tesla.serving`` in a clean interpreter (-I: no PYTHONPATH, no cwd on sys.path)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(bundle: Path) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {"PATH": os.environ["PATH"], "HOME": str(bundle.parent), "NO_COLOR": "1"}
        procs.append(subprocess.Popen([sys.executable, "-I", "-m", "tesla.serving", "--bundle", str(bundle),
                                       "--host", "127.0.0.1", "--port", str(port)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):  # readiness wait, not a timing assertion
            if procs[-1].poll() is not None:
                pytest.fail(f"serving exited: {procs[-1].stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return url
            except OSError:
                time.sleep(0.1)
        pytest.fail("serving never answered /ping")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read()


@pytest.mark.slow
def test_deploy_serves_the_bundle_and_teardown_deletes_by_tag(trained_project: Path, datasets_dir: Path,
                                                              sm: SimpleNamespace, sm_clients: Any, aws: str,
                                                              serving: Any, tmp_path: Path) -> None:
    store = api.open_store(trained_project)
    mv = store.model("bc_model")
    bundle = store.artifacts.path(mv.bundle_sha)
    backend = SageMakerBackend(sm.settings(), project_store(tmp_path / "p"), clients=sm_clients, sleep=lambda _s: None)
    deploy = {"profile": "production", "serverless": False, "instance_type": None, "instance_count": 1,
              "unseen_category": "error"}
    info = backend.deploy_model(bundle, model="bc_model", version=mv.version, settings=deploy,
                                tags={"tesla-model": "bc_model", "tesla-version": str(mv.version)})
    other = backend.deploy_model(bundle, model="other_model", version=1, settings={**deploy, "serverless": True},
                                 tags={"tesla-model": "other_model"})
    assert info["endpoint"] == "tesla-bc-model-production"
    assert info["url"] == "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/tesla-bc-model-production/invocations"
    config = sm_clients.sagemaker.describe_endpoint_config(EndpointConfigName=other["endpoint_config"])
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}

    # the model.tar.gz SageMaker would unpack into /opt/ml/model, served as the container serves it
    bucket, _, key = info["model_data"].removeprefix("s3://").partition("/")
    model_dir = tmp_path / "opt" / "ml" / "model"
    with tarfile.open(fileobj=io.BytesIO(sm_clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        tar.extractall(model_dir, filter="data")
    url = serving(model_dir)
    rows = [json.loads(line) for line in _csv_rows(datasets_dir / "bc_test.csv", 2)]
    payload = json.dumps({"records": rows}).encode()
    status, body = _post(f"{url}/invocations", payload)
    assert status == 200 and len(json.loads(body)["predictions"]) == 2

    # moto cannot run the container: queue the real container's answer, then invoke through the runtime API
    queue = {"results": [{"Body": body.decode(), "ContentType": "application/json"}]}
    urllib.request.urlopen(urllib.request.Request(f"{aws}/moto-api/static/sagemaker/endpoint-results",
                                                  data=json.dumps(queue).encode(), method="POST")).close()
    out = sm_clients.runtime.invoke_endpoint(EndpointName=info["endpoint"], Body=payload,
                                             ContentType="application/json", Accept="application/json")
    assert json.loads(out["Body"].read())["predictions"] == json.loads(body)["predictions"]

    backend.undeploy_model(info)
    assert [e["EndpointName"] for e in sm_clients.sagemaker.list_endpoints()["Endpoints"]] == [other["endpoint"]]
    assert [c["EndpointConfigName"] for c in sm_clients.sagemaker.list_endpoint_configs()["EndpointConfigs"]] == \
        [other["endpoint_config"]]
    assert [m["ModelName"] for m in sm_clients.sagemaker.list_models()["Models"]] == [other["model_name"]]


def _csv_rows(path: Path, n: int) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(path).drop(columns=["target"]).head(n)
    return [json.dumps(row) for row in frame.to_dict(orient="records")]


@pytest.mark.slow
def test_api_deploy_and_stop_go_through_the_backend(trained_project: Path, sm: SimpleNamespace, wired: Any,
                                                    tmp_path: Path) -> None:
    import shutil

    project = Path(shutil.copytree(trained_project, tmp_path / "proj"))  # trained_project is shared: work on a copy
    result = api.deploy("bc_model", "production", overrides=_overrides(sm, "deploy.target=sagemaker"),
                        project_dir=project)
    assert result.target == "sagemaker" and result.url.endswith("/endpoints/tesla-bc-model-production/invocations")
    assert [e["EndpointName"] for e in wired.sagemaker.list_endpoints()["Endpoints"]] == ["tesla-bc-model-production"]
    again = api.deploy("bc_model", "production", overrides=_overrides(sm, "deploy.target=sagemaker"),
                       project_dir=project)
    assert again.changed is False  # idempotent: nothing sent twice
    stopped = api.stop_deployment("bc_model", project_dir=project)
    assert [d.target for d in stopped] == ["sagemaker"]
    assert wired.sagemaker.list_endpoints()["Endpoints"] == [] and wired.sagemaker.list_models()["Models"] == []


@pytest.mark.slow
def test_multirun_on_sagemaker_submits_jobs_per_point_and_records_the_sweep(
        project: Path, datasets_dir: Path, sm: SimpleNamespace, wired: Any, player: Any) -> None:
    """Issue 4, item 7: `tesla train ... backend=sagemaker --multirun search.metric=...`."""
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=project)
    calls = _count_calls(wired)
    result = api.sweep("bc_model", max_iter=2, project_dir=project,
                       overrides=_overrides(sm, "search.metric=log_loss,accuracy"))
    assert len(result.leaderboard) == 2
    # load and split are shared by both points (same fingerprints): the second point reuses them
    assert calls["CreateTrainingJob"] == 2 + 2 * 2  # load, split once; search, evaluate per point
    assert all(r.returncode == 0 for r in player.runs)
    assert result.model.ref == "bc_model@1"
    runs = api.open_store(project).runs(parent_id=result.sweep_id)
    assert len(runs) == 2 and {r.backend for r in runs} == {"sagemaker"}
