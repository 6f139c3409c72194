"""Strict checks of Vertex AI requests: the proto rules and the server's own rules.

Three layers, each catching what the one before cannot:

1. **Parse** with the real ``aiplatform_v1`` message types and ``ignore_unknown_fields=False``:
   a misspelt or misplaced field is an error, as it is on the server.
2. **Field behaviour**: proto-plus drops the ``google.api.field_behavior`` options, but the
   generated docstrings keep "Required." and "Output only."; ``field_rules`` mines them
   (plus ``_EXTRA_REQUIRED`` for fields whose docstring omits it).
3. **Server rules** Vertex enforces that no schema states (label syntax, name lengths,
   resource-name formats, dedicated resources on deploy): ``server_problems``.

``request_problems`` runs all three on a rendered request; ``tesla plan --dry-run`` prints
its result and the loopback fake rejects what it rejects.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

# aiplatform_v1 types are needed to parse and walk the messages; this module is only
# imported by the Vertex implementation, never by `tesla` core or the light package __init__
import proto
from google.cloud import aiplatform_v1 as v1

from tesla.execution.labels import gcp_label_problems

__all__ = ["OPERATIONS", "field_rules", "parse", "request_problems", "server_problems", "violations"]

# operation name (the RPC) -> its request message type
OPERATIONS: dict[str, type[proto.Message]] = {
    "CreateCustomJob": v1.CreateCustomJobRequest,
    "UploadModel": v1.UploadModelRequest,
    "CreateEndpoint": v1.CreateEndpointRequest,
    "DeployModel": v1.DeployModelRequest,
    "CreateBatchPredictionJob": v1.CreateBatchPredictionJobRequest,
    "Predict": v1.PredictRequest,
}

# Required fields whose generated docstring does not say so (checked against the API reference)
_EXTRA_REQUIRED: dict[str, frozenset[str]] = {
    "DeployedModel": frozenset({"model"}),
    "MachineSpec": frozenset({"machine_type"}),
    "GcsSource": frozenset({"uris"}),
    "GcsDestination": frozenset({"output_uri_prefix"}),
}

_ATTR = re.compile(r"^\s{8}(\w+) \(([^)]*)\):\n\s{12}(Required|Output only|Optional|Immutable)?", re.M)
_PARENT = re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+")
_RESOURCE = re.compile(_PARENT.pattern + r"/(models|endpoints)/[A-Za-z0-9_-]+(@[0-9a-z-]+)?")
_MACHINE_TYPE = re.compile(r"[a-z][a-z0-9]*-[a-z0-9-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_DISPLAY_NAME = 128


@functools.cache
def field_rules(cls: type[proto.Message]) -> tuple[frozenset[str], frozenset[str]]:
    """(required, output-only) field names of a message type."""
    required, output_only = set(_EXTRA_REQUIRED.get(cls.__name__, ())), set()
    for match in _ATTR.finditer(cls.__doc__ or ""):
        if match.group(3) == "Required":
            required.add(match.group(1))
        elif match.group(3) == "Output only":
            output_only.add(match.group(1))
    return frozenset(required), frozenset(output_only)


def violations(msg: proto.Message, path: str = "") -> list[str]:
    """Required fields missing and output-only fields set, anywhere in ``msg``."""
    cls = type(msg)
    required, output_only = field_rules(cls)
    problems: list[str] = []
    for name, field in cls.meta.fields.items():
        value = getattr(msg, name)
        singular_message = field.message is not None and not field.repeated
        present = (name in msg) if singular_message else bool(value)
        if name in required and not present:
            problems.append(f"{path}{name}: required")
        if name in output_only and present:
            problems.append(f"{path}{name}: output only, the client may not set it")
        if singular_message and present and isinstance(value, proto.Message):
            problems += violations(value, f"{path}{name}.")
        elif field.repeated and not isinstance(value, Mapping):
            problems += [p for i, item in enumerate(value) if isinstance(item, proto.Message)
                         for p in violations(item, f"{path}{name}[{i}].")]
    return problems


def parse(cls: type[proto.Message], data: Mapping[str, Any] | str) -> proto.Message:
    """``data`` (REST JSON, camelCase) as a ``cls``; unknown fields raise ValueError."""
    text = data if isinstance(data, str) else json.dumps(data)
    try:
        return cls.from_json(text, ignore_unknown_fields=False)
    except Exception as exc:  # json_format.ParseError and friends: report, do not crash the caller
        raise ValueError(f"not a valid {cls.__name__}: {exc}") from exc


def _labels(labels: Mapping[str, str], path: str) -> list[str]:
    return [f"{path}labels: {p}" for p in gcp_label_problems(dict(labels))]


def _display_name(name: str, path: str) -> list[str]:
    return [f"{path}display_name: longer than {MAX_DISPLAY_NAME} characters"] if len(name) > MAX_DISPLAY_NAME else []


def _custom_job(job: v1.CustomJob, path: str) -> list[str]:
    problems = _display_name(job.display_name, path) + _labels(job.labels, path)
    pools = job.job_spec.worker_pool_specs
    if pools and pools[0].replica_count != 1:
        problems.append(f"{path}job_spec.worker_pool_specs[0].replica_count: the primary pool must have exactly 1")
    for i, pool in enumerate(pools):
        where = f"{path}job_spec.worker_pool_specs[{i}]."
        if pool.machine_spec.machine_type and not _MACHINE_TYPE.fullmatch(pool.machine_spec.machine_type):
            problems.append(f"{where}machine_spec.machine_type: {pool.machine_spec.machine_type!r} is not a "
                            "Compute Engine machine type (e.g. n1-standard-4)")
        problems += [f"{where}container_spec.env: {e.name!r} is not a valid variable name"
                     for e in pool.container_spec.env if not _ENV_NAME.fullmatch(e.name)]
    timeout = job.job_spec.scheduling.timeout
    if timeout and timeout.total_seconds() > 7 * 86400:  # type: ignore[union-attr]
        problems.append(f"{path}job_spec.scheduling.timeout: longer than 7 days")
    return problems


def _deployed_model(dm: v1.DeployedModel, path: str) -> list[str]:
    problems = []
    if dm.model and not _RESOURCE.fullmatch(dm.model):
        problems.append(f"{path}model: {dm.model!r} is not a model resource name")
    # Tesla's models only support dedicated resources; without them the server rejects the call
    if "dedicated_resources" not in dm:
        problems.append(f"{path}dedicated_resources: required (the model supports only DEDICATED_RESOURCES)")
    else:
        res = dm.dedicated_resources
        if res.max_replica_count and res.max_replica_count < res.min_replica_count:
            problems.append(f"{path}dedicated_resources.max_replica_count: below min_replica_count")
        if res.machine_spec.machine_type and not _MACHINE_TYPE.fullmatch(res.machine_spec.machine_type):
            problems.append(f"{path}dedicated_resources.machine_spec.machine_type: "
                            f"{res.machine_spec.machine_type!r} is not a Compute Engine machine type")
    return problems


def server_problems(operation: str, request: proto.Message) -> list[str]:
    """Rules the Vertex AI server enforces beyond the message schema."""
    problems: list[str] = []
    parent = getattr(request, "parent", None)
    if parent is not None and parent and not _PARENT.fullmatch(parent):
        problems.append(f"parent: {parent!r} is not projects/PROJECT/locations/REGION")
    if operation == "CreateCustomJob":
        problems += _custom_job(request.custom_job, "custom_job.")
    elif operation == "UploadModel":
        problems += _display_name(request.model.display_name, "model.") + _labels(request.model.labels, "model.")
        if not request.model.artifact_uri.startswith("gs://"):
            problems.append("model.artifact_uri: must be a gs:// URI")
    elif operation == "CreateEndpoint":
        problems += _display_name(request.endpoint.display_name, "endpoint.") + _labels(request.endpoint.labels,
                                                                                         "endpoint.")
    elif operation == "DeployModel":
        problems += _deployed_model(request.deployed_model, "deployed_model.")
        if request.traffic_split and sum(request.traffic_split.values()) != 100:
            problems.append("traffic_split: percentages must add up to 100")
    elif operation == "CreateBatchPredictionJob":
        job = request.batch_prediction_job
        problems += _display_name(job.display_name, "batch_prediction_job.")
        problems += _labels(job.labels, "batch_prediction_job.")
    return problems


def request_problems(operation: str, request: Mapping[str, Any]) -> list[str]:
    """Every problem of one rendered request (REST JSON), each prefixed with the operation."""
    cls = OPERATIONS.get(operation)
    if cls is None:
        return [f"{operation}: not a Vertex AI operation Tesla sends ({', '.join(OPERATIONS)})"]
    try:
        msg = parse(cls, request)
    except ValueError as exc:
        return [f"{operation}: {exc}"]
    return [f"{operation}: {p}" for p in violations(msg) + server_problems(operation, msg)]
