"""Vertex's container contracts, in clean subprocesses: training writes to AIP_MODEL_DIR, serving honours AIP_*.

A CustomJob's step runs `python -m tesla.steps` with only AIP_MODEL_DIR telling it where to
write; the model it produced is then served by the Vertex serving command in a clean
environment (only PATH and HOME, plus what Vertex sets) on custom AIP routes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tesla.store import Store
from tests.fakes.vertex_fake import free_port

pytestmark = pytest.mark.slow  # a FLAML search and a model server, each in a subprocess


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **extra}


def test_step_writes_to_aip_model_dir_and_the_serving_command_loads_it(trained_project: Path, datasets_dir: Path,
                                                                      tmp_path: Path) -> None:
    store = Store.open(trained_project)
    run = next(r for r in store.runs() if r.plan_name == "train/bc_model")
    outputs = {s.step_id: s.outputs for s in store.run_steps(run.id)}
    plan = tmp_path / "plan.json"
    plan.write_text(run.plan_json)
    model_dir = tmp_path / "aip-model-dir"
    search = next(s for s in json.loads(run.plan_json)["steps"] if s["id"] == "search")
    # what the plan wires into the search (train, schema, and test when search.refit fits the winner on it)
    inputs = {name: outputs[ref["step"]][ref["output"]] for name, ref in search["inputs"].items()}
    assert {"train", "schema"} <= set(inputs)
    args = [f"--input={name}={store.artifacts.path(sha)}" for name, sha in inputs.items()]
    done = subprocess.run([sys.executable, "-m", "tesla.steps", "--plan", str(plan), "--step", "search", *args],
                          env=_clean_env(tmp_path, AIP_MODEL_DIR=str(model_dir)), capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in model_dir.iterdir()} >= {"model", "trials", "_result.json"}
    assert json.loads((model_dir / "_result.json").read_text())["best_estimator"]

    port = free_port()
    env = _clean_env(tmp_path, AIP_HTTP_PORT=str(port), AIP_STORAGE_URI=str(model_dir / "model"),
                     AIP_PREDICT_ROUTE="/v1/endpoints/7/deployedModels/8:predict",
                     AIP_HEALTH_ROUTE="/v1/endpoints/7/deployedModels/8")
    server = subprocess.Popen([sys.executable, "-m", "tesla_backends.vertex._serve", "--model-ref", "bc_model@9",
                               "--host", "127.0.0.1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}/v1/endpoints/7/deployedModels/8"
        with httpx.Client() as client:
            health = _wait(client, base, server)
            rows = pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"]).head(3)
            answer = client.post(f"{base}:predict", json={"instances": rows.to_dict("records")})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert health["model"] == "bc_model@9"
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3


def _wait(client: httpx.Client, url: str, server: subprocess.Popen[bytes]) -> dict[str, object]:
    for _ in range(600):  # until it listens, or it exits
        if server.poll() is not None:
            pytest.fail(f"the serving command exited {server.returncode}: {server.stderr.read().decode()[-2000:]}")
        try:
            return client.get(url).json()
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("the serving command never answered on its AIP_HEALTH_ROUTE")
