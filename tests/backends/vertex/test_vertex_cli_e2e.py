"""The real `tesla` CLI on the Vertex backend, end to end against the loopback fakes.

Train runs the very plan that runs locally, each step as a CustomJob whose container the fake
plays in a subprocess; deploy uploads the bundle, deploys it with dedicated resources and the
fake serves it with Tesla's real serving container; `tesla deployments stop` tears it down.
Credentials come from the standard chain: GOOGLE_APPLICATION_CREDENTIALS names a file whose
token endpoint is the fake, so no credential that works anywhere else exists in the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from tesla.store import Store
from tests.conftest import run_tesla
from tests.fakes.vertex_fake import BUCKET, TEST_SETTINGS, VertexFake, gcs_client

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _vertex_project(root: Path, fake: VertexFake, datasets_dir: Path) -> Path:
    run_tesla("init", str(root), cwd=root.parent)
    conf = root / "conf" / "backend" / "vertex.yaml"
    data = yaml.safe_load(conf.read_text())
    keys = ("project", "region", "staging_bucket", "image_uri", "machine_type", "labels")
    data.update({k: TEST_SETTINGS[k] for k in keys})
    data["api_endpoint"] = fake.url
    conf.write_text(yaml.safe_dump(data, sort_keys=False))
    run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "bc", "--target", "target", cwd=root)
    return root


def _assert_no_secret(private_key: str, root: Path, gcs_endpoint: str, output: str) -> None:
    """The credential is nowhere Tesla writes: not the store, not the bucket, not the output."""
    secret = private_key.splitlines()[1]  # one line of the key's base64 body
    assert secret not in output
    assert [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()] == []
    client = gcs_client(gcs_endpoint)
    assert [b.name for b in client.list_blobs(BUCKET) if secret.encode() in b.download_as_bytes()] == []


def test_train_deploy_predict_stop_through_the_cli(tmp_path: Path, vertex_fake: VertexFake, gcs_emulator: str,
                                                   datasets_dir: Path) -> None:
    root = _vertex_project(tmp_path / "proj", vertex_fake, datasets_dir)
    key_file = vertex_fake.credentials_file(tmp_path)
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "STORAGE_EMULATOR_HOST": gcs_emulator}

    trained = run_tesla("train", "-m", "bc_model", "-p", "3", "backend=vertex", cwd=root, env=env)
    _assert_no_secret(json.loads(key_file.read_text())["private_key"], root, gcs_emulator,
                      trained.stdout + trained.stderr)
    created = vertex_fake.received(r"/customJobs$")
    assert [job["labels"]["tesla-step"] for job in created] == ["load", "split", "search", "evaluate"]
    assert all(job["labels"]["tesla-managed"] == "true" and job["labels"]["team"] == "ml" for job in created)
    assert Store.open(root).model("bc_model").version == 1

    listed = run_tesla("jobs", "list", "backend=vertex", cwd=root, env=env).stdout
    assert listed.count("succeeded") == 4

    run_tesla("deploy", "-m", "bc_model", "-p", "production", "deploy.target=vertex", "backend=vertex",
              cwd=root, env=env)
    [endpoint] = vertex_fake.endpoints.values()
    [deployed] = endpoint.deployed_models
    assert deployed.dedicated_resources.machine_spec.machine_type == "n1-standard-2"
    rows = pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"]).head(5)
    answer = httpx.post(f"{vertex_fake.url}/v1/{endpoint.name}:predict", json={"instances": rows.to_dict("records")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["deployedModelId"] == deployed.id
    run_tesla("predict", "-m", "bc_model", "-d", str(datasets_dir / "bc_test.csv"), "-o", str(tmp_path / "local.csv"),
              cwd=root)
    local = pd.read_csv(tmp_path / "local.csv").head(5)
    remote = answer.json()["predictions"]
    assert [p["prediction"] for p in remote] == local["prediction"].tolist()  # the very model, served by Vertex
    assert [p["probabilities"]["benign"] for p in remote] == pytest.approx(local["proba_benign"].tolist())

    run_tesla("deployments", "stop", "bc_model", cwd=root, env=env)
    assert vertex_fake.endpoints == {} and vertex_fake.models == {} and vertex_fake.servers == {}
