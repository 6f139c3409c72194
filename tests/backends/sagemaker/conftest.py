"""Fakes for the SageMaker backend: moto as a real HTTP server on 127.0.0.1, and a container player.

moto stores training jobs but never runs a container (every job is ``Completed`` at once).
``ContainerPlayer`` plays the container instead: when a ``CreateTrainingJob`` call returns,
it downloads each channel moto holds in S3 into a fake ``/opt/ml`` tree, runs the job's own
``ContainerEntrypoint`` + ``ContainerArguments`` (as moto received them over HTTP) in a
subprocess, then uploads ``/opt/ml/model`` as ``model.tar.gz`` where SageMaker would, or
marks the job ``Failed`` with ``/opt/ml/output/failure`` as its reason, as SageMaker does.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import sysconfig
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tesla.execution.packaging import tar_directory
from tests.conftest import project_store

BUCKET = "tesla-test"
ROLE = "arn:aws:iam::123456789012:role/TeslaSageMaker"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tesla-ml:0.1.0"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server on 127.0.0.1 for the session (state is reset per test by ``aws``)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto with the test bucket; every boto3 client (subprocesses too) goes there."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    yield moto_url


def settings(**changes: Any) -> dict[str, Any]:
    """The plan's ``backend`` mapping as a composed config would hold it."""
    from tesla_backends.sagemaker import SageMakerConfig

    base = dataclasses.asdict(SageMakerConfig(region=REGION, role_arn=ROLE, bucket=BUCKET, image_uri=IMAGE))
    return {**base, **changes}


def moto_training_job(name: str) -> Any:
    """moto's own record of a training job (the server runs in this process)."""
    from moto.backends import get_backend

    return get_backend("sagemaker")[ACCOUNT][REGION].training_jobs[name]


@dataclasses.dataclass
class ContainerRun:
    job: str
    returncode: int
    stdout: str
    stderr: str
    root: Path


class ContainerPlayer:
    """Runs each created training job's container command against a fake /opt/ml tree."""

    def __init__(self, clients: Any, workdir: Path) -> None:
        self.clients = clients
        self.workdir = workdir
        self.runs: list[ContainerRun] = []
        self.enabled = True
        self._params: dict[str, dict[str, Any]] = {}
        events = clients.sagemaker.meta.events
        events.register("provide-client-params.sagemaker.CreateTrainingJob", self._capture)
        events.register("after-call.sagemaker.CreateTrainingJob", self._play)

    def _capture(self, params: dict[str, Any], **_kw: Any) -> None:
        self._params[params["TrainingJobName"]] = params

    def _play(self, http_response: Any, parsed: dict[str, Any], **_kw: Any) -> None:
        if not self.enabled or http_response.status_code != 200:
            return
        name = parsed["TrainingJobArn"].rsplit("/", 1)[1]
        job = moto_training_job(name)  # what moto received over HTTP, not what we meant to send
        root = self.workdir / name
        for channel in job.input_data_config:
            self._download(channel["DataSource"]["S3DataSource"]["S3Uri"], root / "input" / "data" / channel["ChannelName"])
        (root / "model").mkdir(parents=True)
        (root / "output").mkdir()
        run = self._run(name, job.algorithm_specification, root)
        if run.returncode == 0:
            self._upload_model(job, name, root / "model")
        else:
            failure = root / "output" / "failure"
            job.training_job_status = "Failed"
            job.secondary_status = "Failed"
            job.failure_reason = failure.read_text() if failure.exists() else f"AlgorithmError: exit {run.returncode}"

    def _download(self, uri: str, dest: Path) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        listing = self.clients.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        for obj in listing.get("Contents", []):
            target = dest / obj["Key"][len(prefix):].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.clients.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())

    def _run(self, name: str, spec: dict[str, Any], root: Path) -> ContainerRun:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TESLA_"))}
        env.update(self._params[name].get("Environment", {}))
        # the image's python3 has tesla-ml's dependencies but no Tesla: -S skips .pth files (so this
        # checkout's editable install is invisible) and site-packages comes back through PYTHONPATH
        env.update(PATH=f"{self._image_bin()}{os.pathsep}{env.get('PATH', '')}",
                   PYTHONPATH=sysconfig.get_paths()["purelib"],
                   TESLA_ML_ROOT=str(root), TESLA_FAILURE_FILE=str(root / "output" / "failure"))
        command = [*spec["ContainerEntrypoint"], *spec["ContainerArguments"]]
        proc = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=300)
        run = ContainerRun(name, proc.returncode, proc.stdout, proc.stderr, root)
        self.runs.append(run)
        return run

    def _image_bin(self) -> Path:
        bin_dir = self.workdir / "image-bin"
        if not bin_dir.exists():
            bin_dir.mkdir(parents=True)
            python3 = bin_dir / "python3"
            python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
            python3.chmod(0o755)
        return bin_dir

    def _upload_model(self, job: Any, name: str, model_dir: Path) -> None:
        output = job.output_data_config["S3OutputPath"].rstrip("/")
        bucket, _, prefix = output.removeprefix("s3://").partition("/")
        self.clients.s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}/output/model.tar.gz",
                                   Body=tar_directory(model_dir))


@pytest.fixture
def sm_clients(aws: str) -> Any:
    """Clients on moto with strict service-model validation of every SageMaker call."""
    from tesla_backends.sagemaker._clients import make_clients

    return make_clients(settings(), strict=True)


@pytest.fixture
def player(sm_clients: Any, tmp_path: Path) -> ContainerPlayer:
    return ContainerPlayer(sm_clients, tmp_path / "opt-ml")


@pytest.fixture
def sm() -> SimpleNamespace:
    """Constants and helpers for the tests (conftest modules cannot be imported by name)."""
    return SimpleNamespace(bucket=BUCKET, role=ROLE, image=IMAGE, region=REGION, settings=settings,
                           training_job=moto_training_job)


@pytest.fixture
def sm_store(tmp_path: Path) -> Any:
    return project_store(tmp_path / "project")
