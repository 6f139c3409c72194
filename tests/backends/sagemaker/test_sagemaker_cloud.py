"""Opt-in smoke test against the real SageMaker: what the offline fakes cannot prove.

Skipped unless TESLA_CLOUD_TESTS=1. It costs money (two ml.m5.large training jobs of a
minute or two, capped by max_runtime_s=600 and max_usd=1). Run it before a release:

    TESLA_CLOUD_TESTS=1 TESLA_AWS_PROFILE=my-profile AWS_REGION=us-east-1 \\
    TESLA_SM_ROLE_ARN=arn:aws:iam::ACCOUNT:role/TeslaSageMaker TESLA_SM_BUCKET=my-bucket \\
    TESLA_SM_IMAGE_URI=ACCOUNT.dkr.ecr.us-east-1.amazonaws.com/tesla-ml:0.1.0 \\
    .venv/bin/python -m pytest tests/backends/sagemaker/test_sagemaker_cloud.py -m cloud -v

The test suite replaces AWS_* credentials with fakes, so the real ones come from the named
profile (``aws configure sso --profile my-profile``). Checks what moto does not: the role
can be assumed, the image runs the container command, channels appear where expected,
the job's FailureReason is the step's own error, and /opt/ml/model comes back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tesla.errors import StepFailedError
from tesla.testing.contract import contract_plan
from tests.conftest import project_store

REQUIRED = ("TESLA_AWS_PROFILE", "TESLA_SM_ROLE_ARN", "TESLA_SM_BUCKET", "TESLA_SM_IMAGE_URI")
pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(os.environ.get("TESLA_CLOUD_TESTS") != "1" or not all(os.environ.get(v) for v in REQUIRED),
                       reason=f"real-cloud test: set TESLA_CLOUD_TESTS=1 and {', '.join(REQUIRED)}"),
]


@pytest.fixture
def real_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    from tesla_backends.sagemaker import SageMakerConfig
    from tesla_backends.sagemaker._backend import SageMakerBackend
    from tesla_backends.sagemaker._clients import make_clients

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)  # the suite's fakes would shadow the profile
    region = os.environ.get("AWS_REGION", "us-east-1")
    settings = {**SageMakerConfig(region=region, role_arn=os.environ["TESLA_SM_ROLE_ARN"],
                                  bucket=os.environ["TESLA_SM_BUCKET"], image_uri=os.environ["TESLA_SM_IMAGE_URI"],
                                  max_runtime_s=600, max_usd=1.0, tags={"tesla-test": "smoke"}).__dict__}
    session = boto3.Session(profile_name=os.environ["TESLA_AWS_PROFILE"], region_name=region)
    clients = make_clients(settings, strict=True, session=session)
    return SageMakerBackend(settings, project_store(tmp_path / "project"), clients=clients)


def _csv(path: Path) -> Path:
    path.write_text("x1,x2,label\n" + "".join(f"{i},{i % 5},{'ab'[i % 2]}\n" for i in range(60)))
    return path


def test_a_two_step_plan_runs_on_sagemaker(real_backend: Any, tmp_path: Path) -> None:
    sha = real_backend.store.artifacts.put(_csv(tmp_path / "d.csv"))
    result = real_backend.run(contract_plan(sha, backend=real_backend.settings))
    assert result.status == "succeeded"
    status = real_backend.job_status(real_backend.store.run_steps(result.run_id)[1].job_ref)
    assert status["state"] == "succeeded" and status["billable_s"]


def test_a_failing_step_reports_its_own_error(real_backend: Any, tmp_path: Path) -> None:
    sha = real_backend.store.artifacts.put(_csv(tmp_path / "d.csv"))
    with pytest.raises(StepFailedError, match="no_such_column"):
        real_backend.run(contract_plan(sha, target="no_such_column", backend=real_backend.settings))
