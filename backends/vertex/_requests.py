"""Pure request builders: plan -> Vertex AI messages. No I/O, no clients, no credentials.

Everything the backend sends is built here, so ``tesla plan --dry-run`` prints exactly what
a run sends and tests can snapshot it.

Staging layout under ``backend.staging_bucket`` (``gs://BUCKET[/PREFIX]``)::

    tesla/code/<sha>/tesla-code.tar.gz       this Tesla, content-addressed (uploaded once)
    tesla/artifacts/<sha>[/...]              step inputs from the store, content-addressed
    tesla/runs/<run>/plan.json               the plan
    tesla/runs/<run>/<step>/outputs/<name>   what the step wrote (+ _result.json)
    tesla/runs/<run>/<step>/failure          the step's one-line error, when it failed

A CustomJob reads and writes these through Cloud Storage FUSE, which Vertex mounts at
``/gcs/BUCKET`` in every training container; paths are passed explicitly (``--input``,
``--output-dir``) rather than through ``AIP_MODEL_DIR``, which Vertex sets to a ``gs://``
URI a plain file API cannot open. An input produced by an earlier step of the same run is
read where that step wrote it, so nothing is copied between steps.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# aiplatform_v1 message types are the request builders' output; this module is only
# imported by the Vertex implementation, never by `tesla` core or the light package __init__
import proto
from google.cloud import aiplatform_v1 as v1

from tesla.errors import ConfigError
from tesla.execution.labels import gcp_label_value, gcp_labels, tesla_tags
from tesla.plan import Plan, Step
from tesla_backends.vertex import VertexConfig

__all__ = [
    "DRY_RUN_ID",
    "SERVING_MACHINE_TYPE",
    "Staging",
    "batch_prediction_request",
    "config",
    "custom_job_request",
    "deploy_model_request",
    "endpoint_request",
    "parent",
    "to_plain",
    "upload_model_request",
]

DRY_RUN_ID = "dry-run"  # the run id shown in dry-run requests (a real run gets a 12-hex id)
SERVING_MACHINE_TYPE = "n1-standard-2"  # when deploy.instance_type is null
SERVING_PORT = 8080
CODE_FILE = "tesla-code.tar.gz"
# Extract this Tesla, put it first on PYTHONPATH, run the step; "$0" is the code tarball,
# "$@" the step's own arguments, so the arguments stay visible as a list in the request
_STEP_SCRIPT = ('set -e; code=$(mktemp -d); tar -xzf "$0" -C "$code"; '
                'export PYTHONPATH="$code${PYTHONPATH:+:$PYTHONPATH}"; exec python -m tesla.steps "$@"')


def config(settings: Mapping[str, Any]) -> VertexConfig:
    """The typed backend settings (unknown keys are ignored: the plan may be newer)."""
    known = {f.name for f in fields(VertexConfig)}
    return VertexConfig(**{k: v for k, v in settings.items() if k in known})


def _required(cfg: VertexConfig, key: str) -> str:
    value = getattr(cfg, key)
    if not value:
        raise ConfigError(f"backend.{key} is not set; the vertex backend needs it (set backend.{key}=... "
                          "or edit conf/backend/vertex.yaml)", key=f"backend.{key}")
    return str(value)


def parent(cfg: VertexConfig) -> str:
    """``projects/P/locations/R``, the parent of every resource Tesla creates."""
    return f"projects/{_required(cfg, 'project')}/locations/{cfg.region}"


@dataclass(frozen=True)
class Staging:
    """Where a run's files live in the staging bucket, as gs:// URIs and /gcs FUSE paths."""

    bucket: str
    prefix: str = ""  # "" or "path/inside/bucket/"

    @classmethod
    def from_config(cls, cfg: VertexConfig) -> Staging:
        uri = _required(cfg, "staging_bucket")
        if not uri.startswith("gs://") or not uri[5:].strip("/"):
            raise ConfigError(f"backend.staging_bucket must be gs://BUCKET[/PREFIX]; got {uri!r}",
                              key="backend.staging_bucket")
        bucket, _, prefix = uri[5:].strip("/").partition("/")
        return cls(bucket=bucket, prefix=f"{prefix}/" if prefix else "")

    def key(self, *parts: str) -> str:
        """Object name inside the bucket."""
        return self.prefix + "tesla/" + "/".join(parts)

    def uri(self, *parts: str) -> str:
        return f"gs://{self.bucket}/{self.key(*parts)}"

    def fuse(self, *parts: str) -> str:
        """The same object as a training container sees it through Cloud Storage FUSE."""
        return f"/gcs/{self.bucket}/{self.key(*parts)}"

    def plan(self, run_id: str) -> tuple[str, ...]:
        return ("runs", run_id, "plan.json")

    def outputs(self, run_id: str, step: str) -> tuple[str, ...]:
        return ("runs", run_id, step, "outputs")

    def failure(self, run_id: str, step: str) -> tuple[str, ...]:
        return ("runs", run_id, step, "failure")

    def artifact(self, sha: str) -> tuple[str, ...]:
        return ("artifacts", sha)

    def code(self, sha: str) -> tuple[str, ...]:
        return ("code", sha, CODE_FILE)


def to_plain(msg: proto.Message) -> dict[str, Any]:
    """A message as the REST JSON body the client sends (camelCase, defaults left out)."""
    text = type(msg).to_json(msg, use_integers_for_enums=False, always_print_fields_with_no_presence=False,
                             indent=None, sort_keys=True)
    return json.loads(text)


def _step_args(staging: Staging, plan: Plan, step: Step, run_id: str,
               inputs: Mapping[str, tuple[str, ...]]) -> list[str]:
    args = ["--plan", staging.fuse(*staging.plan(run_id)), "--step", step.id,
            "--output-dir", staging.fuse(*staging.outputs(run_id, step.id))]
    for name in sorted(inputs):
        args += ["--input", f"{name}={staging.fuse(*inputs[name])}"]
    return args


def step_inputs(staging: Staging, plan: Plan, step: Step, run_id: str) -> dict[str, tuple[str, ...]]:
    """Where each input of ``step`` is read when every upstream step runs in this run."""
    out = {}
    for name, ref in step.inputs.items():
        if ref.step is None:
            out[name] = staging.artifact(str(ref.sha256))
        else:
            out[name] = (*staging.outputs(run_id, ref.step), ref.output)
    return out


def custom_job_request(plan: Plan, step: Step, run_id: str, *, code_sha: str,
                       inputs: Mapping[str, tuple[str, ...]] | None = None) -> v1.CreateCustomJobRequest:
    """The CreateCustomJob request that runs ``step`` of ``plan``.

    Args:
        plan: the compiled plan (its ``backend`` holds the Vertex settings).
        step: the step to run.
        run_id: the Tesla run id (names the staging folder and a label).
        code_sha: sha256 of the code package (its folder in the bucket).
        inputs: input name -> staging path parts; default: ``step_inputs`` (a fresh run).
    """
    cfg = config(plan.backend)
    staging = Staging.from_config(cfg)
    image = _required(cfg, "image_uri")
    args = _step_args(staging, plan, step, run_id, inputs if inputs is not None
                      else step_inputs(staging, plan, step, run_id))
    container = v1.ContainerSpec(
        image_uri=image, command=["sh", "-c", _STEP_SCRIPT],
        args=[staging.fuse(*staging.code(code_sha)), *args],
        env=[v1.EnvVar(name="TESLA_FAILURE_FILE", value=staging.fuse(*staging.failure(run_id, step.id))),
             v1.EnvVar(name="PYTHONUNBUFFERED", value="1")])
    pool = v1.WorkerPoolSpec(machine_spec=v1.MachineSpec(machine_type=cfg.machine_type), replica_count=1,
                             container_spec=container)
    spec = v1.CustomJobSpec(worker_pool_specs=[pool], scheduling=v1.Scheduling(timeout={"seconds": cfg.max_runtime_s}),
                            service_account=cfg.service_account or "")
    labels = gcp_labels(tesla_tags(run_id=run_id, step=step.id, plan=plan.name, extra=cfg.labels))
    job = v1.CustomJob(display_name=job_display_name(run_id, step.id), job_spec=spec, labels=labels)
    return v1.CreateCustomJobRequest(parent=parent(cfg), custom_job=job)


def job_display_name(run_id: str, step_id: str) -> str:
    """``tesla-<run>-<step>``, at most 128 characters (Vertex's display-name limit)."""
    return f"tesla-{run_id}-{step_id}"[:128]


def job_filter(**labels: str) -> str:
    """A list filter matching resources that carry every one of ``labels`` (values made label-safe)."""
    return " AND ".join(f'labels.{k}="{gcp_label_value(v)}"' for k, v in sorted(labels.items()))


def _serving_container(image: str, model_ref: str) -> v1.ModelContainerSpec:
    return v1.ModelContainerSpec(
        image_uri=image, command=["python", "-m", "tesla_backends.vertex._serve"],
        args=["--model-ref", model_ref], ports=[v1.Port(container_port=SERVING_PORT)],
        predict_route="/predict", health_route="/health")


def upload_model_request(settings: Mapping[str, Any], *, model: str, version: int, artifact_uri: str,
                         tags: Mapping[str, str]) -> v1.UploadModelRequest:
    """UploadModel: register the bundle at ``artifact_uri`` with Tesla's serving container."""
    cfg = config(settings)
    labels = gcp_labels({**tesla_tags(extra=cfg.labels), **tags})
    body = v1.Model(display_name=f"tesla-{model}-v{version}"[:128], artifact_uri=artifact_uri,
                    container_spec=_serving_container(_required(cfg, "image_uri"), f"{model}@{version}"),
                    labels=labels)
    return v1.UploadModelRequest(parent=parent(cfg), model=body)


def endpoint_request(settings: Mapping[str, Any], *, model: str, profile: str,
                     tags: Mapping[str, str]) -> v1.CreateEndpointRequest:
    """CreateEndpoint: one endpoint per model and deploy profile."""
    cfg = config(settings)
    labels = gcp_labels({**tesla_tags(extra=cfg.labels), **tags})
    return v1.CreateEndpointRequest(parent=parent(cfg), endpoint=v1.Endpoint(
        display_name=f"tesla-{model}-{profile}"[:128], labels=labels))


def serving_machine_type(deploy: Mapping[str, Any]) -> str:
    """``deploy.instance_type``, or Tesla's default Vertex serving machine."""
    machine = deploy.get("instance_type") or SERVING_MACHINE_TYPE
    if str(machine).startswith("ml."):
        raise ConfigError(f"deploy.instance_type={machine} is a SageMaker instance type; Vertex AI needs a "
                          f"Compute Engine machine type such as {SERVING_MACHINE_TYPE}", key="deploy.instance_type")
    return str(machine)


def deploy_model_request(endpoint: str, model_name: str, *, model: str, version: int,
                         deploy: Mapping[str, Any]) -> v1.DeployModelRequest:
    """DeployModel with dedicated resources (the only kind Tesla's container supports)."""
    count = int(deploy.get("instance_count") or 1)
    resources = v1.DedicatedResources(machine_spec=v1.MachineSpec(machine_type=serving_machine_type(deploy)),
                                      min_replica_count=count, max_replica_count=count)
    deployed = v1.DeployedModel(model=model_name, display_name=f"{model}-v{version}"[:128],
                                dedicated_resources=resources)
    return v1.DeployModelRequest(endpoint=endpoint, deployed_model=deployed, traffic_split={"0": 100})


def batch_prediction_request(settings: Mapping[str, Any], *, model_name: str, display_name: str,
                             source_uri: str, destination_prefix: str, machine_type: str,
                             tags: Mapping[str, str]) -> v1.CreateBatchPredictionJobRequest:
    """CreateBatchPredictionJob: score a JSON-lines file of instances with an uploaded model."""
    cfg = config(settings)
    job = v1.BatchPredictionJob(
        display_name=display_name[:128], model=model_name,
        input_config=v1.BatchPredictionJob.InputConfig(instances_format="jsonl",
                                                       gcs_source=v1.GcsSource(uris=[source_uri])),
        output_config=v1.BatchPredictionJob.OutputConfig(
            predictions_format="jsonl", gcs_destination=v1.GcsDestination(output_uri_prefix=destination_prefix)),
        dedicated_resources=v1.BatchDedicatedResources(machine_spec=v1.MachineSpec(machine_type=machine_type),
                                                       starting_replica_count=1, max_replica_count=1),
        labels=gcp_labels({**tesla_tags(extra=cfg.labels), **tags}))
    return v1.CreateBatchPredictionJobRequest(parent=parent(cfg), batch_prediction_job=job)


def shell_preview(request: v1.CreateCustomJobRequest) -> str:
    """The command a job's container runs, as one shell line (for humans reading a dry run)."""
    spec = request.custom_job.job_spec.worker_pool_specs[0].container_spec
    return shlex.join([*spec.command, *spec.args])
