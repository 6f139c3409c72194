"""A loopback fake of the Vertex AI REST API, strict about what it accepts.

Every request body is parsed with the real ``aiplatform_v1`` message types with unknown
fields rejected, then checked for Required / Output-only fields and for server rules the
real service enforces (label syntax, the primary worker pool's replica count, a deploy of a
custom-container model without dedicated resources...). A request the real API would
refuse gets the same kind of error (HTTP 400 + ``INVALID_ARGUMENT`` / ``FAILED_PRECONDITION``).

What it models:

* CustomJobs: created ``PENDING``; the test moves them (``set_job_state``) or installs a
  ``runner`` that plays the container (``play_custom_job``): on the first poll the job is
  ``RUNNING``, on the next the runner runs and the job ends ``SUCCEEDED`` or ``FAILED``.
* Long-running operations (UploadModel, CreateEndpoint, DeployModel, UndeployModel,
  deletes): answered ``done: false``, done after ``operation_polls`` GETs.
* Deploy starts the model's serving container for real (its command, with the AIP_*
  variables Vertex sets) on a loopback port; ``:predict`` forwards to it, so predictions
  are real. Deleting an endpoint with deployed models, or a deployed model, is refused.
* Batch prediction jobs, with a ``batch_runner`` playing the worker.
* Error injection: ``inject("UNAVAILABLE", "POST", r"customJobs$")`` answers the next
  matching request with that status.

It does not run containers in an isolated image, enforce IAM or quotas, or reproduce
timing; it binds 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage

from tesla_backends.vertex._validate import violations

__all__ = ["BUCKET", "TEST_SETTINGS", "ApiError", "VertexFake", "free_port", "gcs_client", "play_batch_job",
           "play_custom_job"]

BUCKET = "tesla-test"
# backend settings the tests use; api_endpoint is filled in with the fake's URL
TEST_SETTINGS: dict[str, Any] = {
    "name": "vertex", "project": "tesla-test-project", "region": "us-central1",
    "staging_bucket": f"gs://{BUCKET}", "image_uri": "us-docker.pkg.dev/tesla-test-project/tesla/tesla:test",
    "machine_type": "n1-standard-4", "replica_count": 1, "service_account": None, "max_runtime_s": 3600,
    "max_usd": None, "labels": {"team": "ml"}, "api_endpoint": None,
}
_P = r"projects/[^/]+/locations/[^/]+"
_HTTP = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
         "PERMISSION_DENIED": 403, "UNAVAILABLE": 503, "INTERNAL": 500, "RESOURCE_EXHAUSTED": 429}
_GRPC_CODE = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "FAILED_PRECONDITION": 9, "INTERNAL": 13, "CANCELLED": 1}
# independent of tesla.execution.labels on purpose: the fake states GCP's rule itself
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_FILTER = re.compile(r'labels\.([a-z][a-z0-9_-]*)\s*=\s*"([^"]*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiError(Exception):
    """An error the fake answers with Google's JSON error body."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class _Injected:
    status: str
    method: str
    path: re.Pattern[str]
    message: str
    times: int
    after: bool  # handle the request, then answer the error (the reply was lost, the work was done)


@dataclass
class _Server:
    proc: subprocess.Popen[bytes]
    port: int
    predict_route: str
    log: Path


@dataclass
class _Operation:
    name: str
    body: dict[str, Any]
    polls_left: int


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _to_json(msg: Any) -> dict[str, Any]:
    return json.loads(type(msg).to_json(msg, use_integers_for_enums=False, indent=None))


def _packed(msg: Any, type_name: str) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **(_to_json(msg) if msg is not None else {})}


def _strict(cls: Any, body: dict[str, Any], **path_fields: str) -> Any:
    """Parse ``body`` as ``cls`` like the server: unknown fields and rule violations are 400s."""
    try:
        msg = cls.from_json(json.dumps(body), ignore_unknown_fields=False)
    except Exception as exc:  # json_format.ParseError: the server's "Invalid JSON payload"
        raise ApiError("INVALID_ARGUMENT", f"Invalid JSON payload received. {exc}") from exc
    for key, value in path_fields.items():
        setattr(msg, key, value)
    problems = violations(msg)
    if problems:
        raise ApiError("INVALID_ARGUMENT", "; ".join(problems))
    return msg


def _check_labels(labels: Any, where: str) -> None:
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
            raise ApiError("INVALID_ARGUMENT", f"{where}.labels: invalid label {key!r}={value!r}: keys and values "
                                               "must be lowercase letters, digits, '_' or '-' (max 63)")


class VertexFake:
    """The fake server; ``start()`` it, point clients at ``url``, ``stop()`` it.

    Args:
        gcs_endpoint: the Cloud Storage stand-in, given to serving containers.
        operation_polls: GETs before a long-running operation reports done.
        runner: plays a CustomJob's container; returns (final state name, error message).
        batch_runner: plays a batch prediction job; returns (state, error, output directory).
    """

    def __init__(self, *, gcs_endpoint: str, workdir: Path, operation_polls: int = 1,
                 runner: Callable[[v1.CustomJob], tuple[str, str]] | None = None,
                 batch_runner: Callable[[VertexFake, v1.BatchPredictionJob], tuple[str, str, str]] | None = None
                 ) -> None:
        self.gcs_endpoint = gcs_endpoint
        self.workdir = workdir
        self.operation_polls = operation_polls
        self.runner = runner
        self.batch_runner = batch_runner
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.jobs: dict[str, v1.CustomJob] = {}
        self.models: dict[str, v1.Model] = {}
        self.endpoints: dict[str, v1.Endpoint] = {}
        self.batch_jobs: dict[str, v1.BatchPredictionJob] = {}
        self.operations: dict[str, _Operation] = {}
        self.servers: dict[str, _Server] = {}
        self._cancelled: set[str] = set()  # jobs cancelled through the API (they then finish cancelling)
        self._injected: list[_Injected] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._routes = self._route_table()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, *args: Any) -> None:
                pass  # keep test output clean

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        for server in list(self.servers.values()):
            _stop(server)
        self.servers.clear()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- test controls ------------------------------------------------------------------------
    def inject(self, status: str, method: str, path: str, message: str | None = None, times: int = 1,
               after: bool = False) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex with ``status``.

        With ``after`` the request is carried out first and only the reply is the error.
        """
        self._injected.append(_Injected(status, method, re.compile(path), message or f"injected {status}", times,
                                        after))

    def set_job_state(self, name: str, state: str, error: str = "") -> None:
        with self._lock:
            job = self.jobs[name]
            job.state = v1.JobState[state]
            if error:
                job.error = {"code": _GRPC_CODE.get("INTERNAL", 13), "message": error}

    def credentials_file(self, directory: Path) -> Path:
        """A service-account key file whose token endpoint is this fake (for GOOGLE_APPLICATION_CREDENTIALS).

        Lets a test drive the production path, Application Default Credentials included, with a
        key made up on the spot that works nowhere else.
        """
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        path = directory / "fake-service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": TEST_SETTINGS["project"], "private_key_id": "fake",
            "private_key": pem, "client_email": "tesla-test@tesla-test-project.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": f"{self.url}/token"}))
        return path

    def received(self, pattern: str, method: str = "POST") -> list[dict[str, Any]]:
        """Bodies of the requests whose path matches ``pattern``."""
        return [body for m, path, body in self.requests if m == method and re.search(pattern, path)]

    # -- HTTP plumbing --------------------------------------------------------------------------
    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any]]]:
        table = [
            ("POST", rf"({_P})/customJobs", self._create_job), ("GET", rf"({_P})/customJobs", self._list_jobs),
            ("GET", rf"({_P}/customJobs/[^/:]+)", self._get_job),
            ("POST", rf"({_P}/customJobs/[^/:]+):cancel", self._cancel_job),
            ("POST", rf"({_P})/models:upload", self._upload_model), ("GET", rf"({_P})/models", self._list_models),
            ("GET", rf"({_P}/models/[^/:@]+)(?:@[^/:]+)?", self._get_model),
            ("DELETE", rf"({_P}/models/[^/:@]+)", self._delete_model),
            ("POST", rf"({_P})/endpoints", self._create_endpoint), ("GET", rf"({_P})/endpoints", self._list_endpoints),
            ("GET", rf"({_P}/endpoints/[^/:]+)", self._get_endpoint),
            ("DELETE", rf"({_P}/endpoints/[^/:]+)", self._delete_endpoint),
            ("POST", rf"({_P}/endpoints/[^/:]+):deployModel", self._deploy),
            ("POST", rf"({_P}/endpoints/[^/:]+):undeployModel", self._undeploy),
            ("POST", rf"({_P}/endpoints/[^/:]+):predict", self._predict),
            ("POST", rf"({_P})/batchPredictionJobs", self._create_batch),
            ("GET", rf"({_P}/batchPredictionJobs/[^/:]+)", self._get_batch),
            ("GET", r"(projects/.+/operations/[^/:]+)", self._get_operation),
        ]
        return [(m, re.compile(p), fn) for m, p, fn in table]

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        path = re.sub(r"^/(v1|ui)/", "", path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if path == "/token":  # OAuth token endpoint for credential files whose token_uri points here
            return self._reply(handler, 200, {"access_token": "fake-access-token", "expires_in": 3600,
                                              "token_type": "Bearer"})
        try:
            body = json.loads(raw or b"{}")
            with self._lock:
                self.requests.append((method, path, body))
            self._maybe_inject(method, path, after=False)
            for route_method, pattern, fn in self._routes:
                match = pattern.fullmatch(path)
                if route_method == method and match:
                    status, payload = 200, fn(match.group(1), body, query)
                    break
            else:
                raise ApiError("NOT_FOUND", f"the fake has no route {method} {path}")
            self._maybe_inject(method, path, after=True)
        except ApiError as exc:
            status = _HTTP[exc.status]
            payload = {"error": {"code": status, "message": exc.message, "status": exc.status}}
        self._reply(handler, status, payload)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _maybe_inject(self, method: str, path: str, *, after: bool) -> None:
        with self._lock:
            for item in self._injected:
                if item.times > 0 and item.after == after and item.method == method and item.path.search(path):
                    item.times -= 1
                    raise ApiError(item.status, item.message)

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _operation(self, parent: str, response: dict[str, Any] | None = None,
                   error: tuple[str, str] | None = None) -> dict[str, Any]:
        name = f"{parent}/operations/{self._new_id()}"
        body: dict[str, Any] = {"name": name, "done": True}
        if error is not None:
            body["error"] = {"code": _GRPC_CODE[error[0]], "message": error[1]}
        else:
            body["response"] = response or {"@type": "type.googleapis.com/google.protobuf.Empty"}
        op = _Operation(name=name, body=body, polls_left=self.operation_polls)
        self.operations[name] = op
        return {"name": name, "done": False} if op.polls_left > 0 else body

    def _get_operation(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        op = self.operations.get(name)
        if op is None:
            raise ApiError("NOT_FOUND", f"Operation {name} not found")
        op.polls_left -= 1
        return op.body if op.polls_left <= 0 else {"name": name, "done": False}

    @staticmethod
    def _filtered(items: Any, flt: str | None) -> list[Any]:
        if not flt:
            return list(items)
        wanted = dict(_FILTER.findall(flt))
        if not wanted or _FILTER.sub("", flt).replace("AND", "").strip():
            raise ApiError("INVALID_ARGUMENT", f"the fake understands only labels.KEY=\"VALUE\" AND ...; got {flt!r}")
        return [i for i in items if all(i.labels.get(k) == v for k, v in wanted.items())]

    # -- CustomJobs -------------------------------------------------------------------------
    def _create_job(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = _strict(v1.CustomJob, body)
        _check_labels(job.labels, "custom_job")
        if len(job.display_name) > 128:
            raise ApiError("INVALID_ARGUMENT", "custom_job.display_name: at most 128 characters")
        pools = job.job_spec.worker_pool_specs
        if pools[0].replica_count != 1:
            raise ApiError("INVALID_ARGUMENT", "The replica count of the first worker pool must be 1")
        job.name = f"{parent}/customJobs/{self._new_id()}"
        job.state = v1.JobState.JOB_STATE_PENDING
        job.create_time = _now()
        self.jobs[job.name] = job
        return _to_json(job)

    def _get_job(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = self.jobs.get(name)
        if job is None:
            raise ApiError("NOT_FOUND", f"The CustomJob {name} does not exist")
        self._advance(job)
        return _to_json(job)

    def _advance(self, job: v1.CustomJob) -> None:
        state = v1.JobState(job.state).name
        if state == "JOB_STATE_CANCELLING" and job.name in self._cancelled:
            job.state = v1.JobState.JOB_STATE_CANCELLED
            job.error = {"code": _GRPC_CODE["CANCELLED"], "message": "CANCELED"}
        elif self.runner is not None and state == "JOB_STATE_PENDING":
            job.state = v1.JobState.JOB_STATE_RUNNING
            job.start_time = _now()
        elif self.runner is not None and state == "JOB_STATE_RUNNING":
            final, error = self.runner(job)
            job.state = v1.JobState[final]
            job.end_time = _now()
            if error:
                job.error = {"code": _GRPC_CODE["INTERNAL"], "message": error}

    def _list_jobs(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        jobs = [j for j in self._filtered(self.jobs.values(), query.get("filter")) if j.name.startswith(parent)]
        return {"customJobs": [_to_json(j) for j in jobs]}

    def _cancel_job(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = self.jobs.get(name)
        if job is None:
            raise ApiError("NOT_FOUND", f"The CustomJob {name} does not exist")
        if v1.JobState(job.state).name in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            raise ApiError("FAILED_PRECONDITION", f"Cannot cancel {name}: it is already in a terminal state")
        job.state = v1.JobState.JOB_STATE_CANCELLING
        self._cancelled.add(name)
        return {}

    # -- models -------------------------------------------------------------------------------
    def _upload_model(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        request = _strict(v1.UploadModelRequest, body, parent=parent)
        model = request.model
        _check_labels(model.labels, "model")
        if not model.artifact_uri.startswith("gs://"):
            raise ApiError("INVALID_ARGUMENT", "model.artifact_uri must be a Cloud Storage URI (gs://...)")
        model.name = f"{parent}/models/{self._new_id()}"
        model.version_id = "1"
        model.create_time = _now()
        # set by the real service for custom-container models; clients read it to decide how to deploy
        model.supported_deployment_resources_types = [v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES]
        self.models[model.name] = model
        response = v1.UploadModelResponse(model=model.name, model_version_id="1")
        return self._operation(parent, _packed(response, "google.cloud.aiplatform.v1.UploadModelResponse"))

    def _get_model(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if name not in self.models:
            raise ApiError("NOT_FOUND", f"Model {name} does not exist")
        return _to_json(self.models[name])

    def _list_models(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return {"models": [_to_json(m) for m in self._filtered(self.models.values(), query.get("filter"))]}

    def _delete_model(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if name not in self.models:
            raise ApiError("NOT_FOUND", f"Model {name} does not exist")
        if any(dm.model == name for ep in self.endpoints.values() for dm in ep.deployed_models):
            raise ApiError("FAILED_PRECONDITION", f"Model {name} is deployed to an endpoint; undeploy it first")
        del self.models[name]
        return self._operation(name)

    # -- endpoints ----------------------------------------------------------------------------
    def _create_endpoint(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        endpoint = _strict(v1.Endpoint, body)
        _check_labels(endpoint.labels, "endpoint")
        endpoint.name = f"{parent}/endpoints/{query.get('endpointId') or self._new_id()}"
        endpoint.create_time = _now()
        self.endpoints[endpoint.name] = endpoint
        return self._operation(parent, _packed(endpoint, "google.cloud.aiplatform.v1.Endpoint"))

    def _endpoint(self, name: str) -> v1.Endpoint:
        if name not in self.endpoints:
            raise ApiError("NOT_FOUND", f"Endpoint {name} does not exist")
        return self.endpoints[name]

    def _get_endpoint(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return _to_json(self._endpoint(name))

    def _list_endpoints(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return {"endpoints": [_to_json(e) for e in self._filtered(self.endpoints.values(), query.get("filter"))]}

    def _delete_endpoint(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if self._endpoint(name).deployed_models:
            raise ApiError("FAILED_PRECONDITION", f"Endpoint {name} has deployed models; undeploy them first")
        del self.endpoints[name]
        return self._operation(name)

    def _deploy(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        request = _strict(v1.DeployModelRequest, body, endpoint=name)
        endpoint, dm = self._endpoint(name), request.deployed_model
        model = self.models.get(dm.model.split("@")[0])
        if model is None:
            raise ApiError("NOT_FOUND", f"Model {dm.model} does not exist")
        dedicated = v1.Model.DeploymentResourcesType.DEDICATED_RESOURCES
        if list(model.supported_deployment_resources_types) == [dedicated] and "dedicated_resources" not in dm:
            raise ApiError("INVALID_ARGUMENT", f"Model {model.name} supports only DEDICATED_RESOURCES; "
                                               "deployed_model.dedicated_resources is required")
        dm.id = self._new_id()
        dm.create_time = _now()
        try:
            self.servers[dm.id] = self.start_container(model, name, dm.id)
        except RuntimeError:
            return self._operation(name, error=("FAILED_PRECONDITION", "Model server never became ready. Please "
                                                "validate that your model file or container configuration are valid."))
        endpoint.deployed_models.append(dm)
        split = {k if k != "0" else dm.id: v for k, v in request.traffic_split.items()} or {dm.id: 100}
        endpoint.traffic_split = split
        response = v1.DeployModelResponse(deployed_model=dm)
        return self._operation(name, _packed(response, "google.cloud.aiplatform.v1.DeployModelResponse"))

    def _undeploy(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        request = _strict(v1.UndeployModelRequest, body, endpoint=name)
        endpoint = self._endpoint(name)
        kept = [dm for dm in endpoint.deployed_models if dm.id != request.deployed_model_id]
        if len(kept) == len(endpoint.deployed_models):
            raise ApiError("NOT_FOUND", f"DeployedModel {request.deployed_model_id} is not on {name}")
        del endpoint.deployed_models[:]
        endpoint.deployed_models.extend(kept)
        endpoint.traffic_split = {k: v for k, v in endpoint.traffic_split.items() if k != request.deployed_model_id}
        server = self.servers.pop(request.deployed_model_id, None)
        if server is not None:
            _stop(server)
        return self._operation(name, _packed(v1.UndeployModelResponse(),
                                             "google.cloud.aiplatform.v1.UndeployModelResponse"))

    def _predict(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        request = _strict(v1.PredictRequest, body, endpoint=name)
        endpoint = self._endpoint(name)
        live = [k for k, v in endpoint.traffic_split.items() if v > 0]
        if not live or live[0] not in self.servers:
            raise ApiError("FAILED_PRECONDITION", f"Endpoint {name} has no deployed model serving traffic")
        instances = json.loads(v1.PredictRequest.to_json(request, indent=None))["instances"]
        payload = _post(self.servers[live[0]], {"instances": instances})
        dm = next(d for d in endpoint.deployed_models if d.id == live[0])
        response = {"predictions": payload["predictions"], "deployedModelId": dm.id, "model": dm.model,
                    "modelVersionId": "1"}
        return _to_json(v1.PredictResponse.from_json(json.dumps(response), ignore_unknown_fields=False))

    def start_container(self, model: v1.Model, endpoint: str, deployed_id: str) -> _Server:
        """Run the model's serving container the way Vertex does (command + AIP_* env) on loopback."""
        spec, port = model.container_spec, free_port()
        env = _container_env(self.workdir) | {
            "AIP_HTTP_PORT": str(port), "AIP_PREDICT_ROUTE": spec.predict_route or "/predict",
            "AIP_HEALTH_ROUTE": spec.health_route or "/health", "AIP_STORAGE_URI": model.artifact_uri,
            "AIP_DEPLOYED_MODEL_ID": deployed_id, "AIP_ENDPOINT_ID": endpoint.rsplit("/", 1)[-1],
            # stands in for the container's service-account access to Cloud Storage
            "STORAGE_EMULATOR_HOST": self.gcs_endpoint,
        } | {e.name: e.value for e in spec.env}
        log = self.workdir / f"serving-{deployed_id}.log"
        with log.open("wb") as out:  # the test harness must bind loopback, hence --host
            proc = subprocess.Popen([*spec.command, *spec.args, "--host", "127.0.0.1"], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=self.workdir)
        server = _Server(proc, port, env["AIP_PREDICT_ROUTE"], log)
        _wait_healthy(server, env["AIP_HEALTH_ROUTE"])
        return server

    # -- batch prediction -------------------------------------------------------------------------
    def _create_batch(self, parent: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = _strict(v1.BatchPredictionJob, body)
        _check_labels(job.labels, "batch_prediction_job")
        model = self.models.get(job.model.split("@")[0])
        if model is None:
            raise ApiError("NOT_FOUND", f"Model {job.model} does not exist")
        if "dedicated_resources" not in job:
            raise ApiError("INVALID_ARGUMENT", "dedicated_resources is required for a custom-container model")
        job.name = f"{parent}/batchPredictionJobs/{self._new_id()}"
        job.state = v1.JobState.JOB_STATE_PENDING
        job.create_time = _now()
        self.batch_jobs[job.name] = job
        return _to_json(job)

    def _get_batch(self, name: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = self.batch_jobs.get(name)
        if job is None:
            raise ApiError("NOT_FOUND", f"BatchPredictionJob {name} does not exist")
        state = v1.JobState(job.state).name
        if self.batch_runner is not None and state == "JOB_STATE_PENDING":
            job.state = v1.JobState.JOB_STATE_RUNNING
        elif self.batch_runner is not None and state == "JOB_STATE_RUNNING":
            final, error, directory = self.batch_runner(self, job)
            job.state = v1.JobState[final]
            if error:
                job.error = {"code": _GRPC_CODE["INTERNAL"], "message": error}
            if directory:
                job.output_info = v1.BatchPredictionJob.OutputInfo(gcs_output_directory=directory)
        return _to_json(job)


# -- containers ---------------------------------------------------------------------------------
def _container_env(home: Path) -> dict[str, str]:
    """A clean container environment: this interpreter stands in for the image's Python."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
            "LANG": "C.UTF-8", "NO_GCE_CHECK": "true"}


def _wait_healthy(server: _Server, route: str, limit_s: float = 120.0) -> None:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if server.proc.poll() is not None:
            raise RuntimeError(f"serving container exited {server.proc.returncode}: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{route}", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    _stop(server)
    raise RuntimeError(f"serving container not healthy after {limit_s:.0f} s: {server.log.read_text()[-2000:]}")


def _post(server: _Server, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{server.predict_route}",
                                     data=json.dumps(payload).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        answer = exc.read().decode()[:500]
        raise ApiError("INVALID_ARGUMENT", f"the model server answered {exc.code}: {answer}") from exc


def _stop(server: _Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gcs_client(endpoint: str) -> storage.Client:
    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})


def play_custom_job(job: v1.CustomJob, *, gcs_endpoint: str, workdir: Path,
                    timeout_s: float = 600) -> tuple[str, str]:
    """Play a CustomJob's container: its real command and args, with Cloud Storage FUSE emulated.

    Every bucket named under ``/gcs/`` is copied into a local tree, ``/gcs/`` is rewritten to
    that tree, the command runs in a subprocess with a clean environment, and files it wrote
    are uploaded back (what FUSE does on close). Returns (final state, Vertex-style error).
    """
    spec = job.job_spec.worker_pool_specs[0].container_spec
    root = workdir / f"job-{job.name.rsplit('/', 1)[-1]}"
    mount = root / "gcs"
    words = [*spec.command, *spec.args, *(e.value for e in spec.env)]
    buckets = sorted({m for w in words for m in re.findall(r"/gcs/([^/]+)/", w)})
    client = gcs_client(gcs_endpoint)
    before: dict[Path, str] = {}
    for bucket in buckets:
        for blob in client.list_blobs(bucket):
            target = mount / bucket / blob.name
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))
            before[target] = _sha(target)

    def fuse(text: str) -> str:
        return text.replace("/gcs/", f"{mount}/")

    env = _container_env(root) | {e.name: fuse(e.value) for e in spec.env}
    proc = subprocess.run([fuse(w) for w in (*spec.command, *spec.args)], env=env, cwd=root, capture_output=True,
                          text=True, timeout=timeout_s)
    (root / "container.log").write_text(proc.stdout + proc.stderr)
    for bucket in buckets:
        for path in sorted(p for p in (mount / bucket).rglob("*") if p.is_file()):
            if before.get(path) != _sha(path):
                client.bucket(bucket).blob(path.relative_to(mount / bucket).as_posix()).upload_from_filename(str(path))
    shutil.rmtree(mount, ignore_errors=True)
    if proc.returncode == 0:
        return "JOB_STATE_SUCCEEDED", ""
    job_id = job.name.rsplit("/", 1)[-1]
    return "JOB_STATE_FAILED", (f"The replica workerpool0-0 exited with a non-zero status of {proc.returncode}. "
                                "To find out more about why your job exited please check the logs: "
                                f"https://console.cloud.google.com/logs/viewer?resource=ml_job%2Fjob_id%2F{job_id}")


def play_batch_job(fake: VertexFake, job: v1.BatchPredictionJob) -> tuple[str, str, str]:
    """Play a batch prediction worker: serve the model, score each JSON line, write Vertex's output files."""
    client = gcs_client(fake.gcs_endpoint)
    model = fake.models[job.model.split("@")[0]]
    server = fake.start_container(model, "batch", f"batch-{job.name.rsplit('/', 1)[-1]}")
    try:
        lines = []
        for uri in job.input_config.gcs_source.uris:
            bucket, _, key = uri.removeprefix("gs://").partition("/")
            text = client.bucket(bucket).blob(key).download_as_text()
            instances = [json.loads(line) for line in text.splitlines() if line.strip()]
            predictions = _post(server, {"instances": instances})["predictions"]
            lines += [json.dumps({"instance": i, "prediction": p}) for i, p in zip(instances, predictions)]
    except ApiError as exc:
        return "JOB_STATE_FAILED", exc.message, ""
    finally:
        _stop(server)
    prefix = job.output_config.gcs_destination.output_uri_prefix.rstrip("/")
    directory = f"{prefix}/prediction-{job.model.rsplit('/', 1)[-1]}-{_now():%Y_%m_%dT%H_%M_%S}"
    bucket, _, key = directory.removeprefix("gs://").partition("/")
    blob = client.bucket(bucket).blob(f"{key}/prediction.results-00000-of-00001")
    blob.upload_from_string("\n".join(lines) + "\n")
    return "JOB_STATE_SUCCEEDED", "", directory
