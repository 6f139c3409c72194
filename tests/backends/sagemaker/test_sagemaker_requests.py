"""Pure request builders and the strict validator: no network, no moto.

The snapshot pins the exact CreateTrainingJob requests of a small plan; regenerate it with
``TESLA_UPDATE_SNAPSHOTS=1 pytest tests/backends/sagemaker/test_sagemaker_requests.py`` and
review the diff like any other code change.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import regex

from tesla.errors import ConfigError
from tesla.execution.labels import gcp_label_problems, gcp_labels
from tesla.plan import Plan, Step
from tesla.testing.contract import contract_plan
from tesla_backends.sagemaker._backend import SageMakerBackend
from tesla_backends.sagemaker._requests import (
    STEP_SCRIPT,
    endpoint_config_request,
    job_name,
    model_request,
    resource_name,
)
from tesla_backends.sagemaker._validate import request_errors
from tests.conftest import project_store

SNAPSHOT = Path(__file__).parent / "snapshots" / "contract_plan_requests.json"
NAME_PATTERN = regex.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
SOURCE_SHA = "ab" * 32


@pytest.fixture
def backend(tmp_path: Path, sm: SimpleNamespace) -> SageMakerBackend:
    return SageMakerBackend(sm.settings(), project_store(tmp_path / "p"))


def _plan(backend: SageMakerBackend, **step_params: Any) -> Plan:
    plan = contract_plan(SOURCE_SHA, backend=dict(backend.settings))
    if not step_params:
        return plan
    search = Step.create("search", "search", step_params, outputs=("model", "trials"))
    return Plan(name=plan.name, steps=(*plan.steps, search), backend=plan.backend)


def _rendered(backend: SageMakerBackend) -> list[dict[str, Any]]:
    return backend.render_requests(_plan(backend))


def test_rendered_requests_match_the_snapshot(backend: SageMakerBackend) -> None:
    code_sha = backend._code_package().sha256
    text = json.dumps(_rendered(backend), indent=2, sort_keys=True).replace(code_sha, "<code-sha256>") + "\n"
    if os.environ.get("TESLA_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text()


def test_rendering_is_deterministic_and_never_puts_the_plan_in_hyperparameters(backend: SageMakerBackend) -> None:
    first, second = _rendered(backend), _rendered(backend)
    assert first == second
    for item in first:
        request = item["request"]
        assert "HyperParameters" not in request  # 100 x 2,500 chars: the plan goes as a channel
        channels = {c["ChannelName"] for c in request["InputDataConfig"]}
        assert {"tesla-code", "tesla-plan"} <= channels
        assert request["AlgorithmSpecification"]["ContainerArguments"][-2:] == ["--step", item["step"]]


def test_every_rendered_request_passes_strict_validation(backend: SageMakerBackend) -> None:
    assert backend.validate_requests(_rendered(backend)) == []
    assert len(STEP_SCRIPT) <= 256  # one ContainerArguments item


def test_spot_renders_max_wait_that_the_server_accepts(tmp_path: Path, sm: SimpleNamespace) -> None:
    spot = SageMakerBackend(sm.settings(use_spot=True, max_runtime_s=1800), project_store(tmp_path / "p"))
    request = _rendered(spot)[0]["request"]
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    assert spot.validate_requests(_rendered(spot)) == []


@pytest.mark.parametrize("name", ["My_Run.v2", "x" * 80, "ümlaut_ünïcode", "--a__b--", "_", "a" * 63])
def test_resource_names_always_match_the_service_pattern(name: str) -> None:
    for made in (resource_name("tesla", name), job_name("0123456789ab", name)):
        assert NAME_PATTERN.fullmatch(made) and len(made) <= 63, made
    assert resource_name("tesla", "x" * 80, "a") != resource_name("tesla", "x" * 80, "b")


def test_job_tags_are_valid_aws_tags_and_gcp_labels(backend: SageMakerBackend) -> None:
    request = _rendered(backend)[0]["request"]
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert {"tesla-managed", "tesla-run", "tesla-step", "tesla-plan"} <= set(tags)
    assert request_errors("AddTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x",
                                      "Tags": request["Tags"]}) == []
    assert gcp_label_problems(gcp_labels(tags)) == []


def _valid_job() -> dict[str, Any]:
    return {"TrainingJobName": "tesla-abc-search", "RoleArn": "arn:aws:iam::123456789012:role/R",
            "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://b/o/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}


def _with(path: str, value: Any) -> dict[str, Any]:
    request = copy.deepcopy(_valid_job())
    *parents, last = path.split(".")
    node = request
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return request


# each case: what the real service rejects and neither botocore nor moto would catch
@pytest.mark.parametrize(("request_", "expected"), [
    (_with("TrainingJobName", "tesla_train_1"), "TrainingJobName: 'tesla_train_1' does not match the pattern"),
    (_with("TrainingJobName", "t" * 64), "TrainingJobName: 64 characters, more than the allowed 63"),
    (_with("ResourceConfig.InstanceType", "m5.large"),
     "InstanceType: 'm5.large' is not one of the 225 allowed values; did you mean 'ml.m5.large'?"),
    (_with("HyperParameters", {"plan": "x" * 2501}), "HyperParameters['plan']: 2501 characters, more than the allowed 2500"),
    (_with("Tags", [{"Key": f"k{i}", "Value": "v"} for i in range(51)]), "Tags: 51 items, more than the allowed 50"),
    (_with("StoppingCondition.MaxRuntimeInSeconds", 99_999_999), "above the service's 28-day limit"),
    ({**_with("StoppingCondition.MaxWaitTimeInSeconds", 60), "EnableManagedSpotTraining": True},
     "MaxWaitTimeInSeconds: 60 is below MaxRuntimeInSeconds 3600; spot jobs need MaxWait >= MaxRuntime"),
    ({**_valid_job(), "EnableManagedSpotTraining": True},
     "MaxWaitTimeInSeconds: required with EnableManagedSpotTraining"),
    (_with("HyperParameters", {"n": 100}), "HyperParameters.n, value: 100, type: <class 'int'>"),
    ({k: v for k, v in _valid_job().items() if k != "RoleArn"}, 'Missing required parameter in input: "RoleArn"'),
], ids=["underscore-name", "64-char-name", "bad-instance-type", "long-hyperparameter", "51-tags",
        "runtime-over-28-days", "spot-wait-below-runtime", "spot-without-wait", "int-hyperparameter", "missing-role"])
def test_strict_validator_messages(request_: dict[str, Any], expected: str) -> None:
    assert request_errors("CreateTrainingJob", _valid_job()) == []
    errors = request_errors("CreateTrainingJob", request_)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("serverless", [True, False], ids=["serverless", "instances"])
def test_deploy_requests_pass_strict_validation(serverless: bool, sm: SimpleNamespace) -> None:
    tags = {"tesla-model": "bc_model", "tesla-deployment": "tesla-bc-model-production"}
    deploy = {"serverless": serverless, "instance_type": None, "instance_count": 1}
    config = endpoint_config_request("tesla-bc-model-v1-0011aabb", model_name="tesla-bc-model-v1", deploy=deploy,
                                     settings=sm.settings(), tags=tags)
    model = model_request("tesla-bc-model-v1", image_uri=sm.image, model_data_url="s3://b/tesla/models/x/model.tar.gz",
                          role_arn=sm.role, environment={"TESLA_MODEL_REF": "bc_model@1"}, tags=tags)
    assert request_errors("CreateEndpointConfig", config) == []
    assert request_errors("CreateModel", model) == []
    variant = config["ProductionVariants"][0]
    assert ("ServerlessConfig" in variant) is serverless and ("InstanceType" in variant) is not serverless


def test_serverless_memory_outside_the_service_range_is_caught(sm: SimpleNamespace) -> None:
    config = endpoint_config_request("c", model_name="m", deploy={"serverless": True},
                                     settings=sm.settings(serverless_memory_mb=512), tags={})
    assert any("MemorySizeInMB" in e for e in request_errors("CreateEndpointConfig", config))


@pytest.mark.parametrize(("changes", "expected"), [
    ({"role_arn": None}, "backend.role_arn is not set; pass backend.role_arn=arn:aws:iam::ACCOUNT:role/ROLE"),
    ({"bucket": None}, "backend.bucket is not set; pass backend.bucket=BUCKET"),
    ({"image_uri": None}, "backend.image_uri is not set; pass backend.image_uri="),
    ({"instance_count": 2}, "backend.instance_count=2: Tesla steps run on one instance"),
    ({"instance_type": "ml.m5.larg"}, "step 'load': CreateTrainingJob.ResourceConfig.InstanceType: 'ml.m5.larg'"),
], ids=["no-role", "no-bucket", "no-image", "two-instances", "typo-instance"])
def test_check_names_each_problem(changes: dict[str, Any], expected: str, tmp_path: Path, sm: SimpleNamespace) -> None:
    backend = SageMakerBackend(sm.settings(**changes), project_store(tmp_path / "p"))
    problems = backend.check(_plan(backend))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(("params", "packages", "expected"), [
    ({"estimators": ["torch_mlp"], "framework": "pytorch"}, None, "('torch_mlp' needs 'torch')"),
    ({"estimators": ["catboost", "lgbm"], "framework": "scikit-learn"}, None, "('catboost' needs 'catboost')"),
    ({"estimators": [], "framework": "scikit-learn"}, ["tesla-ml", "scikit-learn", "xgboost"], "('lgbm' needs 'lightgbm')"),
], ids=["torch", "catboost", "default-list-without-lightgbm"])
def test_plan_with_estimators_the_image_lacks_is_refused(params: dict[str, Any], packages: list[str] | None,
                                                          expected: str, tmp_path: Path, sm: SimpleNamespace) -> None:
    changes = {"image_packages": packages} if packages else {}
    backend = SageMakerBackend(sm.settings(**changes), project_store(tmp_path / "p"))
    with pytest.raises(ConfigError, match=regex.escape(expected)) as info:
        backend.check(_plan(backend, **params))
    assert info.value.key == "backend.image_packages"
    assert "add them to backend.image_packages" in str(info.value) and "\n" not in str(info.value)


def test_default_image_holds_every_default_estimator(backend: SageMakerBackend) -> None:
    assert backend.check(_plan(backend, estimators=[], framework="scikit-learn")) == []
