"""Pure request builders and strict validation: snapshots, real aiplatform_v1 parsing, proto and server rules."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tesla.errors import ConfigError
from tesla.plan import Plan
from tesla.testing.contract import contract_plan
from tesla_backends.vertex import _requests as rq
from tesla_backends.vertex._backend import VertexBackend
from tesla_backends.vertex._validate import field_rules, request_problems
from tests.conftest import project_store
from tests.fakes.vertex_fake import TEST_SETTINGS

SNAPSHOT = Path(__file__).parent / "snapshots" / "vertex_custom_jobs.json"
SOURCE_SHA = "ab" * 32


@pytest.fixture
def backend(tmp_path: Path) -> VertexBackend:
    # no clients injected: rendering and validating must never need one
    return VertexBackend(TEST_SETTINGS, project_store(tmp_path / "proj"))


def _plan(**settings: Any) -> Plan:
    return contract_plan(SOURCE_SHA, backend={**TEST_SETTINGS, **settings})


def _normalised(requests: list[dict[str, Any]], code_sha: str) -> str:
    # the code package's hash changes with every edit of Tesla; the snapshot is about the shape
    return json.dumps(requests, indent=2, sort_keys=True).replace(code_sha, "<code-sha>") + "\n"


def test_rendered_custom_jobs_match_the_snapshot(backend: VertexBackend) -> None:
    text = _normalised(backend.render_requests(_plan()), backend._code_package().sha256)
    if os.environ.get("TESLA_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), "re-run with TESLA_UPDATE_SNAPSHOTS=1 and review the diff"


def test_rendering_is_deterministic_and_skips_control_steps(backend: VertexBackend) -> None:
    first, second = backend.render_requests(_plan()), backend.render_requests(_plan())
    assert first == second
    assert [r["step"] for r in first] == ["load", "split"]


def test_every_rendered_request_is_valid(backend: VertexBackend) -> None:
    requests = backend.render_requests(_plan())
    assert backend.validate_requests(requests) == []
    assert backend.check(_plan()) == []


def test_an_input_from_an_upstream_step_is_read_where_that_step_wrote_it(backend: VertexBackend) -> None:
    split = backend.render_requests(_plan())[1]["request"]["customJob"]["jobSpec"]["workerPoolSpecs"][0]
    args = split["containerSpec"]["args"]
    assert "table=/gcs/tesla-test/tesla/runs/dry-run/load/outputs/table" in " ".join(args)
    assert args[args.index("--output-dir") + 1] == "/gcs/tesla-test/tesla/runs/dry-run/split/outputs"


def test_staging_prefix_inside_the_bucket_is_kept() -> None:
    staging = rq.Staging.from_config(rq.config({**TEST_SETTINGS, "staging_bucket": "gs://b/team/a/"}))
    assert staging.uri(*staging.plan("r1")) == "gs://b/team/a/tesla/runs/r1/plan.json"
    assert staging.fuse(*staging.artifact("s")) == "/gcs/b/team/a/tesla/artifacts/s"


def test_odd_names_still_give_valid_labels_and_display_names(backend: VertexBackend) -> None:
    plan = contract_plan(SOURCE_SHA, backend={**TEST_SETTINGS, "labels": {"Cost Center": "R&D:42"}})
    plan = Plan(name="train/My_Model.v2:" + "x" * 80, steps=plan.steps, backend=plan.backend)
    request = rq.custom_job_request(plan, plan.steps[0], "a" * 150, code_sha="0" * 64)
    assert request_problems("CreateCustomJob", rq.to_plain(request)) == []
    assert len(request.custom_job.display_name) == 128


# -- the validator catches what the server would refuse --------------------------------------
def _valid_job() -> dict[str, Any]:
    return rq.to_plain(rq.custom_job_request(_plan(), _plan().steps[0], "r1", code_sha="0" * 64))


def _pool(body: dict[str, Any]) -> dict[str, Any]:
    return body["customJob"]["jobSpec"]["workerPoolSpecs"][0]


MUTATIONS = [
    pytest.param(lambda b: _pool(b)["containerSpec"].update(imageURI="x"), "not a valid CreateCustomJobRequest",
                 id="misspelt-field"),
    pytest.param(lambda b: _pool(b)["containerSpec"].pop("imageUri"), "container_spec.image_uri: required",
                 id="missing-required"),
    pytest.param(lambda b: b["customJob"].update(state="JOB_STATE_RUNNING"), "custom_job.state: output only",
                 id="output-only-set"),
    pytest.param(lambda b: b["customJob"].pop("displayName"), "custom_job.display_name: required",
                 id="missing-display-name"),
    pytest.param(lambda b: b["customJob"]["labels"].update({"Team": "ml"}), "label key 'Team'", id="bad-label-key"),
    pytest.param(lambda b: b["customJob"]["labels"].update({"tesla-run": "a:b"}), "value 'a:b'",
                 id="colon-in-label-value"),
    pytest.param(lambda b: _pool(b).update(replicaCount="2"), "the primary pool must have exactly 1",
                 id="replicas"),
    pytest.param(lambda b: _pool(b)["machineSpec"].update(machineType="ml.m5.large"),
                 "'ml.m5.large' is not a Compute Engine machine type", id="sagemaker-instance-type"),
    pytest.param(lambda b: b["customJob"].update(displayName="x" * 129), "longer than 128", id="long-name"),
    pytest.param(lambda b: b.update(parent="projects/p/us-central1"), "is not projects/PROJECT/locations/REGION",
                 id="bad-parent"),
    pytest.param(lambda b: _pool(b)["containerSpec"]["env"].append({"name": "1BAD", "value": "x"}),
                 "'1BAD' is not a valid variable name", id="env-name"),
    pytest.param(lambda b: b["customJob"]["jobSpec"]["scheduling"].update(timeout=f"{8 * 86400}s"),
                 "longer than 7 days", id="timeout"),
]


@pytest.mark.parametrize(("mutate", "problem"), MUTATIONS)
def test_custom_job_validator_catches(mutate: Any, problem: str) -> None:
    body = copy.deepcopy(_valid_job())
    assert request_problems("CreateCustomJob", body) == []
    mutate(body)
    problems = request_problems("CreateCustomJob", body)
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("CreateCustomJob: ") for p in problems)


def test_field_rules_come_from_the_real_message_docs() -> None:
    from google.cloud import aiplatform_v1 as v1

    required, output_only = field_rules(v1.CustomJob)
    assert required == {"display_name", "job_spec"}
    assert {"name", "state", "create_time", "error"} <= output_only
    assert field_rules(v1.DedicatedResources)[0] == {"machine_spec", "min_replica_count"}


# -- deploy and batch builders -------------------------------------------------------------------
DEPLOY = {"profile": "production", "instance_type": None, "instance_count": 2}
MODEL = "projects/tesla-test-project/locations/us-central1/models/7"
ENDPOINT = "projects/tesla-test-project/locations/us-central1/endpoints/9"


def test_deploy_requests_are_valid_and_use_dedicated_resources() -> None:
    tags = {"tesla-model": "Churn_Model", "tesla-version": "3", "tesla-profile": "production"}
    upload = rq.upload_model_request(TEST_SETTINGS, model="Churn_Model", version=3,
                                     artifact_uri="gs://tesla-test/tesla/artifacts/x", tags=tags)
    endpoint = rq.endpoint_request(TEST_SETTINGS, model="Churn_Model", profile="production", tags=tags)
    deploy = rq.deploy_model_request(ENDPOINT, MODEL, model="Churn_Model", version=3, deploy=DEPLOY)
    batch = rq.batch_prediction_request(TEST_SETTINGS, model_name=MODEL, display_name="b", source_uri="gs://b/i",
                                        destination_prefix="gs://b/o", machine_type="n1-standard-2", tags={})
    for operation, request in [("UploadModel", upload), ("CreateEndpoint", endpoint), ("DeployModel", deploy),
                               ("CreateBatchPredictionJob", batch)]:
        assert request_problems(operation, rq.to_plain(request)) == [], operation
    assert upload.model.labels["tesla-model"] == "churn_model"
    spec = upload.model.container_spec
    assert (spec.predict_route, spec.health_route, spec.ports[0].container_port) == ("/predict", "/health", 8080)
    resources = deploy.deployed_model.dedicated_resources
    assert (resources.machine_spec.machine_type, resources.min_replica_count, resources.max_replica_count) == (
        "n1-standard-2", 2, 2)


def test_deploy_without_dedicated_resources_is_refused() -> None:
    body = rq.to_plain(rq.deploy_model_request(ENDPOINT, MODEL, model="m", version=1, deploy=DEPLOY))
    body["deployedModel"].pop("dedicatedResources")
    body["deployedModel"]["automaticResources"] = {"minReplicaCount": 1}
    assert request_problems("DeployModel", body) == [
        "DeployModel: deployed_model.dedicated_resources: required (the model supports only DEDICATED_RESOURCES)"]


def test_upload_needs_a_gcs_artifact_uri() -> None:
    body = rq.to_plain(rq.upload_model_request(TEST_SETTINGS, model="m", version=1, artifact_uri="/tmp/model",
                                               tags={}))
    assert request_problems("UploadModel", body) == ["UploadModel: model.artifact_uri: must be a gs:// URI"]


# -- settings errors: one line naming the key and the fix -------------------------------------
@pytest.mark.parametrize(("settings", "message"), [
    pytest.param({"project": None}, "backend.project is not set; the vertex backend needs it", id="project"),
    pytest.param({"staging_bucket": None}, "backend.staging_bucket is not set", id="bucket"),
    pytest.param({"staging_bucket": "tesla-test"}, "backend.staging_bucket must be gs://BUCKET[/PREFIX]; got "
                 "'tesla-test'", id="bucket-scheme"),
    pytest.param({"image_uri": ""}, "backend.image_uri is not set", id="image"),
])
def test_missing_settings_name_the_key(settings: dict[str, Any], message: str) -> None:
    plan = _plan(**settings)
    with pytest.raises(ConfigError) as info:
        rq.custom_job_request(plan, plan.steps[0], "r1", code_sha="0" * 64)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_check_lists_missing_settings_without_raising(tmp_path: Path) -> None:
    settings = {**TEST_SETTINGS, "project": None, "image_uri": None, "replica_count": 3}
    backend = VertexBackend(settings, project_store(tmp_path / "proj"))
    assert backend.check(contract_plan(SOURCE_SHA, backend=settings)) == [
        "backend.project is not set (edit conf/backend/vertex.yaml or pass backend.project=...)",
        "backend.image_uri is not set (edit conf/backend/vertex.yaml or pass backend.image_uri=...)",
        "backend.replica_count=3: a Tesla step runs on one machine; set backend.replica_count=1",
    ]


def test_a_sagemaker_instance_type_is_refused_for_serving() -> None:
    with pytest.raises(ConfigError, match=r"^deploy.instance_type=ml.m5.large is a SageMaker instance type; "
                                          r"Vertex AI needs a Compute Engine machine type such as n1-standard-2$"):
        rq.serving_machine_type({"instance_type": "ml.m5.large"})


def test_cost_is_machine_price_times_max_runtime_per_remote_step(backend: VertexBackend) -> None:
    cost = backend.estimate_cost(_plan(max_runtime_s=7200), {"n1-standard-4": 0.25})
    assert cost["usd"] == pytest.approx(2 * 0.25 * 2)
    assert [(line["step"], line["resource"], line["hours"]) for line in cost["lines"]] == [
        ("load", "n1-standard-4", 2.0), ("split", "n1-standard-4", 2.0)]


def test_a_plan_whose_estimators_the_image_lacks_is_refused(tmp_path: Path) -> None:
    from tesla.plan import Step

    settings = {**TEST_SETTINGS, "image_packages": ["tesla-ml", "scikit-learn"]}
    backend = VertexBackend(settings, project_store(tmp_path / "proj"))
    plan = contract_plan(SOURCE_SHA, backend=settings)
    search = Step.create("search", "search", {"estimators": ["rf", "lgbm"], "framework": "scikit-learn"})
    problems = backend.check(Plan(name=plan.name, steps=(*plan.steps, search), backend=settings))
    assert problems == ["the image backend.image_uri cannot load every model this may pick ('lgbm' needs "
                        "'lightgbm'); install the package(s) in the image and add them to backend.image_packages, "
                        "or drop the estimator(s) from search.estimators"]
