"""Exact calls for what moto lacks (StopTrainingJob, UpdateEndpoint) and the wait loop, via botocore Stubber.

Stubber checks each request against the service model's input shape and each canned
response against its output shape, so a wrong parameter or a response the real service
could not send fails here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tesla.errors import BackendError
from tesla.execution import StepHandle, StepState
from tesla.plan import Step
from tesla.testing.fake import FakeClock
from tesla_backends.sagemaker._backend import SageMakerBackend
from tesla_backends.sagemaker._clients import SageMakerClients
from tests.conftest import project_store

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
ARN = "arn:aws:sagemaker:us-east-1:123456789012"


@pytest.fixture
def stubbed(tmp_path: Path, sm: SimpleNamespace) -> Iterator[tuple[SageMakerBackend, Stubber, Stubber, FakeClock]]:
    """A backend whose SageMaker and S3 clients answer only what a test queues (no endpoint is contacted)."""
    session = boto3.Session(region_name="us-east-1")
    sagemaker, s3 = session.client("sagemaker"), session.client("s3")
    clients = SageMakerClients(sagemaker=sagemaker, runtime=None, s3=s3, logs=None, region="us-east-1")
    clock = FakeClock()
    backend = SageMakerBackend(sm.settings(), project_store(tmp_path / "p"), clients=clients, clock=clock,
                               sleep=clock.advance)
    with Stubber(sagemaker) as sm_stub, Stubber(s3) as s3_stub:
        yield backend, sm_stub, s3_stub, clock
        sm_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()


def _job(status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": "tesla-abc-search", "TrainingJobArn": f"{ARN}:training-job/tesla-abc-search",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://b/o/model.tar.gz"}, "TrainingJobStatus": status,
            "SecondaryStatus": secondary, "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "CreationTime": NOW, **extra}


def test_cancel_stops_the_training_job(stubbed: Any) -> None:
    backend, sm_stub, _, _ = stubbed
    sm_stub.add_response("stop_training_job", {}, {"TrainingJobName": "tesla-abc-search"})
    backend.cancel("tesla-abc-search")


def test_cancel_of_a_finished_job_says_so_in_one_line(stubbed: Any) -> None:
    backend, sm_stub, _, _ = stubbed
    sm_stub.add_client_error("stop_training_job", "ValidationException",
                             "The job tesla-abc-search is not in progress", expected_params={"TrainingJobName": ANY})
    with pytest.raises(BackendError, match=r"^SageMaker backend could not stop training job tesla-abc-search: "
                                           r"ValidationException: The job tesla-abc-search is not in progress$"):
        backend.cancel("tesla-abc-search")


def test_wait_polls_with_capped_backoff_through_provider_states(stubbed: Any) -> None:
    backend, sm_stub, _, clock = stubbed
    backend.poll_max_s = 12.0
    for status, secondary in [("InProgress", "Starting"), ("InProgress", "Downloading"), ("InProgress", "Training"),
                              ("InProgress", "Training"), ("Completed", "Completed")]:
        sm_stub.add_response("describe_training_job", _job(status, secondary), {"TrainingJobName": "tesla-abc-search"})
    step = Step.create("search", "search", {}, outputs=("model",))
    handle = StepHandle(step=step, run_id="abc", job_ref="tesla-abc-search")
    assert backend._poll_step(handle) == (StepState.PENDING, None)
    assert backend.wait(handle) == (StepState.SUCCEEDED, None)
    assert clock.sleeps == [5.0, 10.0, 12.0]  # doubling from poll_initial_s, capped at poll_max_s


@pytest.mark.parametrize(("status", "secondary", "extra", "expected"), [
    ("Failed", "Failed", {"FailureReason": "AlgorithmError: Error: column 'x' not found"},
     (StepState.FAILED, "AlgorithmError: Error: column 'x' not found")),
    ("Stopped", "MaxRuntimeExceeded", {},
     (StepState.FAILED, "MaxRuntimeExceeded: the job hit backend.max_runtime_s; raise it or lower "
                        "search.time_budget_s / search.max_iter")),
    ("Stopped", "Stopped", {}, (StepState.CANCELLED, "stopped (Stopped)")),
    ("Stopping", "Stopping", {}, (StepState.RUNNING, None)),
], ids=["failed", "max-runtime", "stopped", "stopping"])
def test_provider_states_map_to_tesla_states(stubbed: Any, status: str, secondary: str, extra: dict[str, Any],
                                             expected: tuple[StepState, str | None]) -> None:
    backend, sm_stub, _, _ = stubbed
    sm_stub.add_response("describe_training_job", _job(status, secondary, **extra), {"TrainingJobName": ANY})
    handle = StepHandle(step=Step.create("search", "search", {}, outputs=()), run_id="abc", job_ref="tesla-abc-search")
    assert backend._poll_step(handle) == expected


def test_refused_submit_names_the_step_and_the_fix(stubbed: Any, tmp_path: Path, sm: SimpleNamespace) -> None:
    backend, sm_stub, s3_stub, _ = stubbed
    from tesla.testing.contract import contract_plan

    sha = backend.store.artifacts.put(_csv(tmp_path / "d.csv"))
    s3_stub.add_client_error("head_object", "404", "Not Found", 404)  # code package
    s3_stub.add_response("put_object", {}, {"Bucket": sm.bucket, "Key": ANY, "Body": ANY})
    s3_stub.add_response("put_object", {}, {"Bucket": sm.bucket, "Key": ANY, "Body": ANY})  # plan.json
    s3_stub.add_response("head_object", {}, {"Bucket": sm.bucket, "Key": f"tesla/data/{sha}.complete"})
    sm_stub.add_client_error("create_training_job", "ResourceLimitExceeded",
                             "The account-level service limit 'ml.m5.large for training job usage' is 0 Instances")
    with pytest.raises(BackendError) as info:
        backend.run(contract_plan(sha, backend=sm.settings()))
    assert info.value.step == "load" and backend.store.runs(limit=1)[0].status == "failed"
    assert str(info.value) == ("SageMaker backend could not create the training job for step 'load': "
                               "ResourceLimitExceeded: The account-level service limit 'ml.m5.large for training job "
                               "usage' is 0 Instances; request a quota increase or pick another backend.instance_type")


def _csv(path: Path) -> Path:
    path.write_text("a,label\n1,x\n2,y\n")
    return path


def test_redeploy_updates_the_endpoint_in_place(stubbed: Any, tmp_path: Path, sm: SimpleNamespace) -> None:
    backend, sm_stub, s3_stub, clock = stubbed
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"estimator": "lgbm", "framework": "scikit-learn"}')
    s3_stub.add_response("head_object", {}, {"Bucket": sm.bucket, "Key": ANY})  # model.tar.gz already there
    sm_stub.add_response("describe_model", {"ModelName": "m", "ModelArn": f"{ARN}:model/m", "CreationTime": NOW},
                         {"ModelName": ANY})
    sm_stub.add_response("describe_endpoint_config", {
        "EndpointConfigName": "c", "EndpointConfigArn": f"{ARN}:endpoint-config/c", "CreationTime": NOW,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m"}]}, {"EndpointConfigName": ANY})
    endpoint = {"EndpointName": "tesla-bc-model-production", "EndpointArn": f"{ARN}:endpoint/tesla-bc-model-production",
                "CreationTime": NOW, "LastModifiedTime": NOW}
    sm_stub.add_response("describe_endpoint", {**endpoint, "EndpointConfigName": "tesla-bc-model-v1-00000000",
                                               "EndpointStatus": "InService"}, {"EndpointName": endpoint["EndpointName"]})
    sm_stub.add_response("update_endpoint", {"EndpointArn": endpoint["EndpointArn"]},
                         {"EndpointName": endpoint["EndpointName"], "EndpointConfigName": ANY})
    for status in ("Updating", "Updating", "InService"):
        sm_stub.add_response("describe_endpoint", {**endpoint, "EndpointConfigName": "new", "EndpointStatus": status},
                             {"EndpointName": endpoint["EndpointName"]})
    info = backend.deploy_model(bundle, model="bc_model", version=2, tags={"tesla-model": "bc_model"},
                                settings={"profile": "production", "serverless": False, "instance_count": 1})
    assert info["endpoint"] == "tesla-bc-model-production" and info["endpoint_config"].startswith("tesla-bc-model-v2-")
    assert clock.sleeps == [5.0, 10.0]


def test_failed_endpoint_reports_the_provider_reason(stubbed: Any, tmp_path: Path, sm: SimpleNamespace) -> None:
    from tesla.errors import DeployError

    backend, sm_stub, _, _ = stubbed
    endpoint = {"EndpointName": "e", "EndpointArn": f"{ARN}:endpoint/e", "EndpointConfigName": "c",
                "CreationTime": NOW, "LastModifiedTime": NOW, "EndpointStatus": "Failed",
                "FailureReason": "The primary container for production variant AllTraffic did not pass the ping "
                                 "health check."}
    sm_stub.add_response("describe_endpoint", endpoint, {"EndpointName": "e"})
    with pytest.raises(DeployError, match=r"^SageMaker endpoint e is Failed: The primary container .* did not pass "
                                          r"the ping health check\.; see its CloudWatch logs"):
        backend._wait_in_service("e")


def test_interrupting_the_wait_stops_the_job(stubbed: Any) -> None:
    backend, sm_stub, _, _ = stubbed
    sm_stub.add_response("describe_training_job", _job("InProgress", "Training"), {"TrainingJobName": ANY})
    sm_stub.add_response("stop_training_job", {}, {"TrainingJobName": "tesla-abc-search"})

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    backend.sleep = interrupted
    handle = StepHandle(step=Step.create("search", "search", {}, outputs=()), run_id="abc", job_ref="tesla-abc-search")
    with pytest.raises(KeyboardInterrupt):
        backend.wait(handle)
