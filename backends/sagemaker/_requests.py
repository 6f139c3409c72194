"""Pure request builders: plan and settings in, SageMaker API requests out. No I/O, no SDK.

Every request the SageMaker backend sends is built here, so ``tesla plan --dry-run`` shows
byte-for-byte what a run would send and the strict validator can check it offline.

Bucket layout (``s3://BUCKET/PREFIX/...``)::

    code/<sha256>/tesla-code.tar.gz   this Tesla's code, shared by every run (content-addressed)
    data/<sha256>/...                 input artifacts by content hash; data/<sha256>.complete marks an upload done
    <run-id>/plan/plan.json           the run's plan (a channel: hyperparameters hold at most 2,500 chars)
    <run-id>/output/<job>/output/model.tar.gz   what SageMaker uploads from /opt/ml/model
    models/<sha256>/model.tar.gz      model bundles served by endpoints

Each step job runs the image's bash with ``STEP_SCRIPT``: it unpacks the code channel onto
``PYTHONPATH`` and runs ``python3 -m tesla.steps`` on the plan channel; each step input is
one more channel named after the input.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from tesla.execution.labels import aws_tags
from tesla.plan import Step

__all__ = [
    "CODE_CHANNEL",
    "PLAN_CHANNEL",
    "STEP_SCRIPT",
    "Layout",
    "endpoint_config_request",
    "endpoint_request",
    "job_name",
    "model_request",
    "resource_name",
    "training_job_request",
]

CODE_CHANNEL = "tesla-code"
PLAN_CHANNEL = "tesla-plan"
# At most 256 characters (a ContainerArguments item); TESLA_ML_ROOT exists so tests can run
# this exact command against a fake /opt/ml tree. The image needs bash, tar and python3 with
# tesla-ml's dependencies; the code channel brings this exact Tesla.
STEP_SCRIPT = ('M=${TESLA_ML_ROOT:-/opt/ml};D=$M/input/data;C=$(mktemp -d);'
               f'tar -xzf $D/{CODE_CHANNEL}/tesla-code.tar.gz -C $C&&PYTHONPATH=$C${{PYTHONPATH:+:$PYTHONPATH}} '
               f'exec python3 -m tesla.steps --plan $D/{PLAN_CHANNEL}/plan.json --inputs-dir $D --output-dir $M/model "$@"')
_NAME_MAX = 63  # training jobs, models, endpoint configs and endpoints alike


def resource_name(*parts: str, max_len: int = _NAME_MAX) -> str:
    """A SageMaker resource name from ``parts``: ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``, at most ``max_len``.

    Anything else (``_``, ``.``, spaces, unicode) becomes ``-``; a name that must be cut keeps
    an 8-character hash of the whole so two long names stay distinct.
    """
    text = re.sub(r"[^a-zA-Z0-9]+", "-", "-".join(parts)).strip("-") or "tesla"
    if len(text) <= max_len:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[:max_len - 9].rstrip('-')}-{digest}"


def job_name(run_id: str, step_id: str) -> str:
    """The training job of ``step_id`` in ``run_id``: unique per run, as the service requires."""
    return resource_name("tesla", run_id, step_id)


class Layout:
    """Where a run's objects live in the bucket.

    Args:
        bucket: the S3 bucket (``backend.bucket``).
        prefix: the key prefix inside it (``backend.prefix``).
    """

    def __init__(self, bucket: str, prefix: str = "tesla") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def code_key(self, sha: str) -> str:
        return self.key("code", sha, "tesla-code.tar.gz")

    def data_prefix(self, sha: str) -> str:
        return self.key("data", sha) + "/"  # the slash keeps data/<sha> from matching data/<sha>x

    def data_marker(self, sha: str) -> str:
        return self.key("data", f"{sha}.complete")  # outside the prefix: never downloaded into a channel

    def plan_key(self, run_id: str) -> str:
        return self.key(run_id, "plan", "plan.json")

    def output_uri(self, run_id: str) -> str:
        return self.uri(run_id, "output") + "/"

    def model_key(self, sha: str) -> str:
        return self.key("models", sha, "model.tar.gz")


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {"ChannelName": name, "InputMode": "File", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}


def _stopping(settings: Mapping[str, Any]) -> dict[str, int]:
    runtime = int(settings["max_runtime_s"])
    if not settings.get("use_spot"):
        return {"MaxRuntimeInSeconds": runtime}
    wait = settings.get("max_wait_s")
    return {"MaxRuntimeInSeconds": runtime, "MaxWaitTimeInSeconds": int(wait) if wait is not None else 2 * runtime}


def training_job_request(step: Step, *, run_id: str, settings: Mapping[str, Any], layout: Layout,
                         code_sha: str, inputs: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request that runs ``step`` of run ``run_id``.

    Args:
        step: the plan step.
        run_id: the Tesla run id (also names the job and its S3 folder).
        settings: the plan's ``backend`` mapping.
        layout: the bucket layout.
        code_sha: sha256 of the code package.
        inputs: input name -> artifact sha256 (or a ``{step.output}`` placeholder in a dry run).
        tags: logical tags; rendered as AWS tags here.

    Returns:
        The request, as boto3's ``create_training_job`` takes it.
    """
    channels = [_channel(CODE_CHANNEL, layout.uri("code", code_sha) + "/"),
                _channel(PLAN_CHANNEL, layout.uri(run_id, "plan") + "/")]
    channels += [_channel(name, f"s3://{layout.bucket}/{layout.data_prefix(sha)}") for name, sha in sorted(inputs.items())]
    request: dict[str, Any] = {
        "TrainingJobName": job_name(run_id, step.id),
        "RoleArn": settings["role_arn"],
        "AlgorithmSpecification": {
            "TrainingImage": settings["image_uri"], "TrainingInputMode": "File",
            "ContainerEntrypoint": ["/bin/bash", "-c"],
            "ContainerArguments": [STEP_SCRIPT, "tesla", "--step", step.id],
        },
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": layout.output_uri(run_id)},
        "ResourceConfig": {"InstanceType": settings["instance_type"], "InstanceCount": int(settings["instance_count"]),
                           "VolumeSizeInGB": int(settings["volume_size_gb"])},
        "StoppingCondition": _stopping(settings),
        "EnableManagedSpotTraining": bool(settings.get("use_spot")),
        "Environment": {"TESLA_RUN_ID": run_id, "TESLA_STEP": step.id, "PYTHONUNBUFFERED": "1"},
        "Tags": aws_tags(tags),
    }
    return request


def model_request(name: str, *, image_uri: str, model_data_url: str, role_arn: str,
                  environment: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``CreateModel`` request: Tesla's serving image with the bundle at /opt/ml/model."""
    return {"ModelName": name, "ExecutionRoleArn": role_arn,
            "PrimaryContainer": {"Image": image_uri, "Mode": "SingleModel", "ModelDataUrl": model_data_url,
                                 "Environment": dict(environment)},
            "Tags": aws_tags(tags)}


def endpoint_config_request(name: str, *, model_name: str, deploy: Mapping[str, Any], settings: Mapping[str, Any],
                            tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``CreateEndpointConfig`` request: one variant, serverless or on instances (``deploy.serverless``)."""
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": model_name}
    if deploy.get("serverless"):
        variant["ServerlessConfig"] = {"MemorySizeInMB": int(settings["serverless_memory_mb"]),
                                       "MaxConcurrency": int(settings["serverless_max_concurrency"])}
    else:
        variant.update(InstanceType=deploy.get("instance_type") or settings["endpoint_instance_type"],
                       InitialInstanceCount=int(deploy.get("instance_count") or 1), InitialVariantWeight=1.0)
    return {"EndpointConfigName": name, "ProductionVariants": [variant], "Tags": aws_tags(tags)}


def endpoint_request(name: str, *, config_name: str, tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``CreateEndpoint`` request."""
    return {"EndpointName": name, "EndpointConfigName": config_name, "Tags": aws_tags(tags)}
