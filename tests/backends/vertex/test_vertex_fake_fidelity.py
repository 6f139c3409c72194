"""The fake refuses what the real Vertex AI API refuses (each rule here is a known server behaviour).

If one of these stops failing, the fake has drifted from the service and every test built on
it proves less.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.vertex_fake import VertexFake

P = "projects/tesla-test-project/locations/us-central1"
JOB: dict[str, Any] = {"displayName": "j", "labels": {"tesla-managed": "true"}, "jobSpec": {"workerPoolSpecs": [{
    "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": {"imageUri": "img"}}]}}


def _post(fake: VertexFake, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{fake.url}/v1/{path}", json=body)


def _op_result(fake: VertexFake, op: dict[str, Any]) -> dict[str, Any]:
    while not op.get("done"):
        op = httpx.get(f"{fake.url}/v1/{op['name']}").json()
    return op["response"]


@pytest.fixture
def fake(vertex_fake: VertexFake) -> VertexFake:
    vertex_fake.runner = None
    return vertex_fake


def _with(**changes: Any) -> dict[str, Any]:
    import copy

    body = copy.deepcopy(JOB)
    pool = body["jobSpec"]["workerPoolSpecs"][0]
    for key, value in changes.items():
        if key == "pool":
            pool.update(value)
        elif key == "container":
            pool["containerSpec"] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(_with(jobSpec={"workerPoolSpecs": [], "typo": 1}), "Invalid JSON payload", id="unknown-field"),
    pytest.param(_with(state="JOB_STATE_RUNNING"), "state: output only", id="output-only"),
    pytest.param(_with(container={"command": ["x"]}), "container_spec.image_uri: required", id="required"),
    pytest.param(_with(labels={"Tesla:Run": "x"}), "invalid label", id="label"),
    pytest.param(_with(pool={"replicaCount": "2"}), "first worker pool must be 1", id="replicas"),
])
def test_custom_job_create_is_refused(fake: VertexFake, body: dict[str, Any], message: str) -> None:
    answer = _post(fake, f"{P}/customJobs", body)
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert message in answer.json()["error"]["message"]
    assert fake.jobs == {}


def test_a_valid_custom_job_is_accepted_as_pending(fake: VertexFake) -> None:
    answer = _post(fake, f"{P}/customJobs", JOB)
    assert answer.status_code == 200 and answer.json()["state"] == "JOB_STATE_PENDING"


def test_deploy_without_dedicated_resources_is_rejected(fake: VertexFake) -> None:
    upload = _post(fake, f"{P}/models:upload", {"model": {"displayName": "m", "artifactUri": "gs://tesla-test/m",
                                                          "containerSpec": {"imageUri": "img"}}}).json()
    model = _op_result(fake, upload)["model"]
    assert fake.models[model].supported_deployment_resources_types  # server-populated, as on Vertex
    endpoint = _op_result(fake, _post(fake, f"{P}/endpoints", {"displayName": "e"}).json())["name"]
    answer = _post(fake, f"{endpoint}:deployModel",
                   {"deployedModel": {"model": model, "automaticResources": {"minReplicaCount": 1}}})
    assert answer.status_code == 400
    assert "supports only DEDICATED_RESOURCES" in answer.json()["error"]["message"]


def test_long_running_operations_finish_only_after_polling(fake: VertexFake) -> None:
    first = _post(fake, f"{P}/endpoints", {"displayName": "e"}).json()
    assert first["done"] is False and fake.endpoints  # accepted, not yet reported done
    assert httpx.get(f"{fake.url}/v1/{first['name']}").json()["done"] is True


def test_an_endpoint_with_a_deployed_model_cannot_be_deleted(fake: VertexFake) -> None:
    from google.cloud import aiplatform_v1 as v1

    endpoint = _op_result(fake, _post(fake, f"{P}/endpoints", {"displayName": "e"}).json())["name"]
    fake.endpoints[endpoint].deployed_models.append(v1.DeployedModel(id="1", model=f"{P}/models/9"))
    answer = httpx.delete(f"{fake.url}/v1/{endpoint}")
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "FAILED_PRECONDITION"
