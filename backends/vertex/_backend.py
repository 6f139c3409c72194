"""Vertex AI backend: each remote step is a CustomJob; deploy is Model.upload -> Endpoint -> DeployModel.

Orchestration only: requests come from ``_requests`` (pure), checks from ``_validate``, and
every network call goes through the injected ``VertexClients``. Waiting (jobs and
long-running operations) uses the base class's clock and sleep with capped backoff, so tests
never sleep; ``UNAVAILABLE`` is retried the same way, any other API error is raised as one
line carrying the server's message.
"""

from __future__ import annotations

import json
from dataclasses import replace
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

# google-cloud-aiplatform is imported lazily, on first use of this backend: listing backends,
# composing configs and `tesla --help` must stay free of it (and of its ~1 s import)
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format

from tesla.errors import BackendError, ConfigError, DeployError, NotSupportedError, TeslaError
from tesla.execution import Backend, DryRun, Event, JobAdmin, ModelHosting, StepHandle, StepOutcome, StepState
from tesla.execution.backend import EventSink
from tesla.execution.cost import CostEstimate, job_line
from tesla.execution.packaging import CodePackage, build_code_package, missing_packages, plan_estimators
from tesla.models.bundle import read_manifest
from tesla.plan import Plan, Step
from tesla.store.artifacts import hash_path
from tesla_backends.vertex import SPEC
from tesla_backends.vertex import _requests as rq
from tesla_backends.vertex._clients import Gcs, VertexClients, make_clients
from tesla_backends.vertex._validate import request_problems

__all__ = ["VertexBackend"]

T = TypeVar("T")

# Vertex job states -> Tesla's; anything unlisted (UNSPECIFIED, PAUSED, UPDATING) is still running
_STATES: dict[int, StepState] = {
    v1.JobState.JOB_STATE_QUEUED: StepState.PENDING,
    v1.JobState.JOB_STATE_PENDING: StepState.PENDING,
    v1.JobState.JOB_STATE_RUNNING: StepState.RUNNING,
    v1.JobState.JOB_STATE_SUCCEEDED: StepState.SUCCEEDED,
    v1.JobState.JOB_STATE_PARTIALLY_SUCCEEDED: StepState.FAILED,
    v1.JobState.JOB_STATE_FAILED: StepState.FAILED,
    v1.JobState.JOB_STATE_EXPIRED: StepState.FAILED,
    v1.JobState.JOB_STATE_CANCELLING: StepState.RUNNING,
    v1.JobState.JOB_STATE_CANCELLED: StepState.CANCELLED,
}

_HINTS = {
    "PERMISSION_DENIED": "check Application Default Credentials (`gcloud auth application-default login`) and "
                         "that they hold roles/aiplatform.user on backend.project",
    "UNAUTHENTICATED": "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
    "NOT_FOUND": "check backend.project and backend.region",
    "INVALID_ARGUMENT": "see the request with `tesla plan backend=vertex --dry-run`",
    "RESOURCE_EXHAUSTED": "a Vertex AI quota is used up: request more or choose a smaller machine type",
    "FAILED_PRECONDITION": "the resource is not in a state that allows this; check it in the Vertex AI console",
}

_RETRYABLE = (gexc.ServiceUnavailable, requests.ConnectionError)


def _server_error(exc: gexc.GoogleAPICallError) -> tuple[str, str]:
    """(status, message) as the server sent them, without the client's URL decoration."""
    status = exc.grpc_status_code.name if exc.grpc_status_code is not None else ""
    message = exc.message
    response = getattr(exc, "response", None)
    try:
        error = response.json()["error"]  # type: ignore[union-attr]
        status, message = error.get("status") or status, error.get("message") or message
    except (AttributeError, ValueError, KeyError, TypeError):
        pass  # a gRPC error, or a body that is not Google's error JSON
    return status or str(exc.code or "error"), " ".join(str(message).split())


def _api_error(operation: str, exc: gexc.GoogleAPICallError) -> BackendError:
    status, message = _server_error(exc)
    hint = _HINTS.get(status)
    return BackendError(f"Vertex AI {operation} failed ({status}): {message}" + (f"; {hint}" if hint else ""),
                        key=operation)


class VertexBackend(Backend, DryRun, JobAdmin, ModelHosting):
    """Runs each non-control step as a Vertex AI CustomJob and serves models on Vertex endpoints.

    Args:
        settings: the plan's ``backend`` mapping (``VertexConfig`` fields).
        store: the project's store.
        clock: monotonic clock (injectable for tests).
        sleep: sleep function (injectable for tests).
        clients: Vertex and Cloud Storage clients; default: built from ``settings`` with
            Application Default Credentials on first network use.
    """

    spec = SPEC
    poll_initial_s = 2.0
    poll_max_s = 30.0
    retry_attempts = 6  # calls answered UNAVAILABLE: tries in all before giving up
    operation_timeout_s = 3600.0  # long-running operations (deploy can take ~20 min)

    def __init__(self, settings: Mapping[str, Any], store: Any, *, clients: VertexClients | None = None,
                 **kwargs: Any) -> None:
        super().__init__(settings, store, **kwargs)
        self.cfg = rq.config(self.settings)
        self._clients = clients
        self._code: CodePackage | None = None
        self._staged: set[str] = set()  # object names known to exist in the bucket
        self._remote: dict[str, tuple[str, ...]] = {}  # artifact sha -> where this run already has it

    # -- clients and retries ------------------------------------------------------------
    @property
    def clients(self) -> VertexClients:
        """The injected clients, or production ones (built on first use, never for dry runs)."""
        if self._clients is None:
            self._clients = make_clients(self.cfg)
        return self._clients

    @property
    def staging(self) -> rq.Staging:
        return rq.Staging.from_config(self.cfg)

    @property
    def gcs(self) -> Gcs:
        return Gcs(self.clients.storage, self.staging.bucket)

    def _call(self, operation: str, fn: Callable[..., T], /, *, recover: Callable[[], T | None] | None = None,
              missing_ok: bool = False, **kwargs: Any) -> T:
        """``fn(**kwargs)``, retrying UNAVAILABLE with capped backoff; other API errors raise one line.

        ``recover`` runs before each retry of a call that creates something: when the first
        attempt did reach the server, it finds the result instead of creating a duplicate.
        ``missing_ok`` turns NOT_FOUND into a None result (deleting what is already gone).
        """
        delay = self.poll_initial_s
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return fn(**kwargs)
            except gexc.NotFound as exc:
                if missing_ok:
                    return None  # type: ignore[return-value]
                raise _api_error(operation, exc) from exc
            except _RETRYABLE as exc:
                if attempt == self.retry_attempts:
                    raise BackendError(f"Vertex AI {operation} still unavailable after {attempt} tries "
                                       f"({' '.join(str(exc).split())[:200]}); try again later",
                                       key=operation) from exc
            except gexc.GoogleAPICallError as exc:
                raise _api_error(operation, exc) from exc
            self.sleep(delay)
            delay = min(delay * 2, self.poll_max_s)
            found = recover() if recover is not None else None
            if found is not None:
                return found
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _operation(self, operation: str, fn: Callable[..., Any], /, *, missing_ok: bool = False,
                   **kwargs: Any) -> Any:
        """Start a long-running operation and wait for its result with the injectable clock."""
        op = self._call(operation, fn, missing_ok=missing_ok, **kwargs)
        if op is None:
            return None  # missing_ok and the resource is already gone
        deadline = self.clock() + self.operation_timeout_s
        delay = self.poll_initial_s
        while not self._call(f"{operation} (status)", op.done):
            if self.clock() >= deadline:
                raise BackendError(f"Vertex AI {operation} still running after {self.operation_timeout_s:.0f} s "
                                   f"(operation {op.operation.name}); check the Vertex AI console", key=operation)
            self.sleep(delay)
            delay = min(delay * 2, self.poll_max_s)
        try:
            return op.result(timeout=0)
        except gexc.GoogleAPICallError as exc:
            raise _api_error(operation, exc) from exc

    # -- checks, dry runs and cost ------------------------------------------------------
    def _check(self, plan: Plan) -> list[str]:
        """Settings Vertex needs, then strict validation of every request the plan would send.

        Args:
            plan: the compiled plan.

        Returns:
            One line per problem; no network call is made.
        """
        cfg = rq.config(plan.backend)  # the plan is the contract: its settings are what would be sent
        problems = [f"backend.{key} is not set (edit conf/backend/vertex.yaml or pass backend.{key}=...)"
                    for key in ("project", "staging_bucket", "image_uri") if not getattr(cfg, key)]
        if cfg.replica_count != 1:
            problems.append(f"backend.replica_count={cfg.replica_count}: a Tesla step runs on one machine; "
                            "set backend.replica_count=1")
        problems += [self._image_problem(plan_estimators(step.params), cfg.image_packages, "search.estimators")
                     for step in plan.steps if step.kind == "search"]
        problems = [p for p in problems if p]
        if problems:
            return problems
        try:
            return self.validate_requests(self.render_requests(plan))
        except ConfigError as exc:
            return [str(exc)]

    @staticmethod
    def _image_problem(estimators: list[str], image_packages: list[str], where: str) -> str | None:
        """Why the image cannot load a model of one of ``estimators`` (None when it can)."""
        missing = missing_packages(estimators, image_packages)
        if not missing:
            return None
        needs = ", ".join(f"'{e}' needs '{p}'" for e, p in sorted(missing.items()))
        return (f"the image backend.image_uri cannot load every model this may pick ({needs}); install the "
                f"package(s) in the image and add them to backend.image_packages, or drop the estimator(s) "
                f"from {where}")

    def _code_package(self) -> CodePackage:
        if self._code is None:
            self._code = build_code_package(("tesla",))
        return self._code

    def render_requests(self, plan: Plan) -> list[dict[str, Any]]:
        """The CreateCustomJob request of every remote step, as the REST JSON sent on a fresh run.

        Args:
            plan: the compiled plan.

        Returns:
            ``{"step", "operation", "request", "command"}`` per step; the run id reads ``dry-run``.
            Pure: no network, no credentials.

        Raises:
            ConfigError: a required backend setting is missing or malformed.
        """
        code_sha = self._code_package().sha256
        out = []
        for step in plan.ordered():
            if step.placement == "control":
                continue
            request = rq.custom_job_request(plan, step, rq.DRY_RUN_ID, code_sha=code_sha)
            out.append({"step": step.id, "operation": "CreateCustomJob", "request": rq.to_plain(request),
                        "command": rq.shell_preview(request)})
        return out

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[str]:
        """Proto rules (unknown fields, Required, Output only) and Vertex's server rules.

        Args:
            requests: items from ``render_requests``.

        Returns:
            One line per problem, naming the step and the field.
        """
        return [f"step '{item['step']}': {problem}" for item in requests
                for problem in request_problems(item["operation"], item["request"])]

    def estimate_cost(self, plan: Plan, prices: Mapping[str, float]) -> dict[str, Any]:
        """Upper bound: each remote step on ``machine_type`` for ``max_runtime_s``.

        Args:
            plan: the compiled plan.
            prices: machine type -> USD per hour.

        Returns:
            ``CostEstimate.to_dict()``.
        """
        cfg = rq.config(plan.backend)
        lines = tuple(job_line(step.id, cfg.machine_type, count=1, max_runtime_s=cfg.max_runtime_s,
                               prices=prices, note="CustomJob")
                      for step in plan.ordered() if step.placement != "control")
        return CostEstimate(backend=self.name, lines=lines).to_dict()

    # -- staging ----------------------------------------------------------------------------
    def _upload_once(self, key: str, upload: Callable[[], None]) -> None:
        if key not in self._staged and not self.gcs.exists(key):
            upload()
        self._staged.add(key)

    def _stage_code(self) -> str:
        package = self._code_package()
        key = self.staging.key(*self.staging.code(package.sha256))
        self._upload_once(key, lambda: self.gcs.upload_bytes(key, package.data))
        return package.sha256

    def _stage_input(self, sha: str) -> tuple[str, ...]:
        """Where a job reads artifact ``sha``: this run's copy, or a content-addressed upload."""
        if sha in self._remote:
            return self._remote[sha]
        parts = self.staging.artifact(sha)
        key = self.staging.key(*parts)
        path = self.store.artifacts.path(sha)
        if path.is_dir():
            # a folder is complete only once its marker exists (uploads of many objects are not atomic)
            marker = key + ".complete"

            def upload_folder() -> None:
                self.gcs.upload_tree(key, path)
                self.gcs.upload_bytes(marker, b"")

            self._upload_once(marker, upload_folder)
        else:
            self._upload_once(key, lambda: self.gcs.upload_file(key, path))
        return parts

    # -- the run hooks --------------------------------------------------------------------
    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        """Stage the plan, this Tesla and the step's inputs, then create the step's CustomJob.

        Args:
            plan: the plan being run.
            step: the step to start.
            run_id: the Tesla run id.
            inputs: input name -> artifact sha in the store.
            emit: progress events.

        Returns:
            A handle whose ``job_ref`` is the CustomJob resource name.
        """
        code_sha = self._stage_code()
        plan_key = self.staging.key(*self.staging.plan(run_id))
        self._upload_once(plan_key, lambda: self.gcs.upload_bytes(plan_key, plan.to_json().encode()))
        staged = {name: self._stage_input(sha) for name, sha in inputs.items()}
        request = rq.custom_job_request(plan, step, run_id, code_sha=code_sha, inputs=staged)
        job = self._call("CreateCustomJob", self.clients.jobs.create_custom_job, request=request,
                         recover=lambda: self._existing_job(run_id, step.id))
        emit(Event("step_progress", step.id, {"job": job.name, "state": v1.JobState(job.state).name}))
        return StepHandle(step=step, run_id=run_id, job_ref=job.name)

    def _existing_job(self, run_id: str, step_id: str) -> v1.CustomJob | None:
        found = self._call("ListCustomJobs", self.clients.jobs.list_custom_jobs, request=v1.ListCustomJobsRequest(
            parent=rq.parent(self.cfg), filter=rq.job_filter(**{"tesla-run": run_id, "tesla-step": step_id})))
        return next(iter(found), None)

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        """The CustomJob's state; on failure the step's own error, then Vertex's.

        Args:
            handle: the started step.

        Returns:
            (state, reason); the reason is None unless the job failed or was cancelled.
        """
        job = self._call("GetCustomJob", self.clients.jobs.get_custom_job, name=handle.job_ref)
        state = _STATES.get(job.state, StepState.RUNNING)
        if state is StepState.FAILED:
            return state, self._failure_reason(handle.run_id, handle.step.id, job)
        if state is StepState.CANCELLED:
            return state, job.error.message or "cancelled (`tesla jobs cancel` or the console)"
        return state, None

    def _failure_reason(self, run_id: str, step_id: str, job: v1.CustomJob) -> str:
        # Vertex only says "the replica exited with status 1"; the step wrote its own reason
        own = self.gcs.read_text(self.staging.key(*self.staging.failure(run_id, step_id)))
        provider = job.error.message or v1.JobState(job.state).name
        return f"{own.strip()} (Vertex AI: {provider})" if own else provider

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        """Download the step's outputs and ``_result.json`` from the staging bucket.

        Args:
            handle: a succeeded step.

        Returns:
            Local paths of every declared output and the step's JSON result.

        Raises:
            BackendError: the job succeeded but an output is missing.
        """
        workdir = self._workdir(f"tesla-{handle.step.id}-", under=self.store.state_dir)  # the base removes it
        parts = self.staging.outputs(handle.run_id, handle.step.id)
        self.gcs.download_tree(self.staging.key(*parts), workdir)
        where = self.staging.uri(*parts)
        missing = [name for name in (*handle.step.outputs, "_result.json") if not (workdir / name).exists()]
        if missing:
            raise BackendError(f"job {handle.job_ref} succeeded but {where} lacks {', '.join(missing)}; "
                               "was the image built with this Tesla?", step=handle.step.id, run_id=handle.run_id)
        outputs = {name: workdir / name for name in handle.step.outputs}
        for name, path in outputs.items():
            self._remote[hash_path(path)] = (*parts, name)  # later steps of this run read it in place
        return StepOutcome(outputs=outputs, result=json.loads((workdir / "_result.json").read_text()))

    # -- provider jobs ------------------------------------------------------------------------
    def _job_name(self, job_ref: str) -> str:
        return job_ref if "/" in job_ref else f"{rq.parent(self.cfg)}/customJobs/{job_ref}"

    def cancel(self, job_ref: str) -> None:
        """Ask Vertex to cancel a CustomJob (it moves to CANCELLING, then CANCELLED)."""
        self._call("CancelCustomJob", self.clients.jobs.cancel_custom_job, name=self._job_name(job_ref))

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """CustomJobs Tesla started in ``backend.project`` / ``backend.region``, newest first.

        Args:
            limit: the most jobs to return.

        Returns:
            ``{"job", "step", "run_id", "state", "provider_state", "created"}`` per job.
        """
        pager = self._call("ListCustomJobs", self.clients.jobs.list_custom_jobs, request=v1.ListCustomJobsRequest(
            parent=rq.parent(self.cfg), filter=rq.job_filter(**{"tesla-managed": "true"}), page_size=min(limit, 100)))
        rows = []
        for job in pager:
            rows.append({"job": job.name, "step": job.labels.get("tesla-step"), "run_id": job.labels.get("tesla-run"),
                         "state": _STATES.get(job.state, StepState.RUNNING).value,
                         "provider_state": v1.JobState(job.state).name,
                         "created": job.create_time.isoformat() if job.create_time else None})
            if len(rows) >= limit:
                break
        return sorted(rows, key=lambda r: r["created"] or "", reverse=True)

    def job_status(self, job_ref: str) -> dict[str, Any]:
        """One CustomJob's state and, when it failed, the reason.

        Args:
            job_ref: the job's resource name or numeric id.

        Returns:
            ``{"job", "state", "provider_state", "reason", "step", "run_id"}``.
        """
        job = self._call("GetCustomJob", self.clients.jobs.get_custom_job, name=self._job_name(job_ref))
        state = _STATES.get(job.state, StepState.RUNNING)
        run_id, step_id = job.labels.get("tesla-run"), job.labels.get("tesla-step")
        reason = job.error.message or None
        if state is StepState.FAILED and run_id and step_id:
            reason = self._failure_reason(run_id, step_id, job)
        return {"job": job.name, "state": state.value, "provider_state": v1.JobState(job.state).name,
                "reason": reason, "step": step_id, "run_id": run_id}

    def job_logs(self, job_ref: str) -> str:
        """Not available: Vertex writes job logs to Cloud Logging, which Tesla does not read.

        Raises:
            NotSupportedError: always, naming the gcloud command that shows the logs.
        """
        job_id = self._job_name(job_ref).rsplit("/", 1)[-1]
        raise NotSupportedError(f"job logs are not supported by the 'vertex' backend (they are in Cloud Logging); "
                                f"run: gcloud ai custom-jobs stream-logs {job_id} --region={self.cfg.region}")

    # -- serving ------------------------------------------------------------------------------
    def deploy_model(self, bundle_dir: Path, *, model: str, version: int, settings: Mapping[str, Any],
                     tags: Mapping[str, str], replaces: Mapping[str, Any] | None = None,
                     on_spawn: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Upload the bundle as a Vertex Model, deploy it to the profile's endpoint with dedicated resources.

        The endpoint of ``model`` + ``deploy.profile`` is reused when it exists (its URL stays
        the same across versions); models deployed there before get no traffic and are removed
        once the new one is serving. A failure removes what this call created.

        Args:
            bundle_dir: the local model bundle directory.
            model: registered model name.
            version: registered model version.
            settings: the ``deploy`` config.
            tags: labels for every resource (rendered as GCP labels).
            replaces: unused: the profile's endpoint is reused and its older models removed here.
            on_spawn: unused: no local process is started.

        Returns:
            ``{"url", "endpoint", "model", "deployed_model_id", "project", "region"}``.

        Raises:
            DeployError: Vertex refused a request or the model never became ready.
        """
        rq.serving_machine_type(settings)  # a SageMaker instance type fails here, before any upload
        estimator = read_manifest(bundle_dir)["estimator"]
        problem = self._image_problem([estimator], self.cfg.image_packages, f"search.estimators ({model}@{version})")
        if problem:
            raise ConfigError(problem, key="backend.image_packages")
        profile = str(settings.get("profile", "production"))
        created: dict[str, str] = {}
        try:
            artifact_uri = self.staging.uri(*self._stage_input_path(bundle_dir))
            upload = rq.upload_model_request(self.settings, model=model, version=version,
                                             artifact_uri=artifact_uri, tags=tags)
            created["model"] = self._operation("UploadModel", self.clients.models.upload_model,
                                               request=upload).model
            endpoint, reused = self._endpoint_for(model, profile, tags)
            if not reused:
                created["endpoint"] = endpoint.name
            previous = [dm.id for dm in endpoint.deployed_models]
            request = rq.deploy_model_request(endpoint.name, created["model"], model=model, version=version,
                                              deploy=settings)
            deployed = self._operation("DeployModel", self.clients.endpoints.deploy_model,
                                       request=request).deployed_model
        except TeslaError as exc:
            self._remove(created.get("endpoint"), None, created.get("model"))
            raise DeployError(f"deploying {model}@{version} to Vertex AI failed: {exc}", key="deploy.target") from exc
        for old in previous:
            self._retire_deployed(endpoint.name, old)
        return {"url": self._predict_url(endpoint.name), "endpoint": endpoint.name, "model": created["model"],
                "deployed_model_id": deployed.id, "project": self.cfg.project, "region": self.cfg.region}

    def _stage_input_path(self, path: Path) -> tuple[str, ...]:
        sha = hash_path(path)
        if not self.store.artifacts.exists(sha):
            self.store.artifacts.put(path)
        return self._stage_input(sha)

    def _endpoint_for(self, model: str, profile: str, tags: Mapping[str, str]) -> tuple[v1.Endpoint, bool]:
        keys = {"tesla-managed": "true", "tesla-model": model, "tesla-profile": profile}
        found = self._call("ListEndpoints", self.clients.endpoints.list_endpoints, request=v1.ListEndpointsRequest(
            parent=rq.parent(self.cfg), filter=rq.job_filter(**keys)))
        existing = next(iter(found), None)
        if existing is not None:
            return existing, True
        endpoint_tags = {k: v for k, v in tags.items() if k in keys}
        request = rq.endpoint_request(self.settings, model=model, profile=profile, tags=endpoint_tags)
        return self._operation("CreateEndpoint", self.clients.endpoints.create_endpoint, request=request), False

    def _predict_url(self, endpoint: str) -> str:
        base = self.cfg.api_endpoint or f"https://{self.cfg.region}-aiplatform.googleapis.com"
        return f"{base if '://' in base else 'https://' + base}/v1/{endpoint}:predict"

    def _retire_deployed(self, endpoint: str, deployed_model_id: str) -> None:
        """Undeploy an older model from a reused endpoint and delete it when Tesla uploaded it."""
        ep = self._call("GetEndpoint", self.clients.endpoints.get_endpoint, name=endpoint)
        model = next((dm.model for dm in ep.deployed_models if dm.id == deployed_model_id), None)
        self._operation("UndeployModel", self.clients.endpoints.undeploy_model,
                        endpoint=endpoint, deployed_model_id=deployed_model_id)
        if model:
            self._delete_model(model)

    def undeploy_model(self, info: Mapping[str, Any]) -> None:
        """Undeploy the model, delete its endpoint (when nothing else is deployed there) and the model.

        Args:
            info: what ``deploy_model`` returned.

        Raises:
            DeployError: Vertex refused a request.
        """
        if self._clients is None and info.get("region") and info["region"] != self.cfg.region:
            # `tesla deployments stop` composes the project's config, which may name another region
            self.cfg = replace(self.cfg, region=str(info["region"]))
        try:
            self._remove(info.get("endpoint"), info.get("deployed_model_id"), info.get("model"))
        except TeslaError as exc:
            raise DeployError(f"stopping the Vertex AI deployment {info.get('endpoint')} failed: {exc}",
                              key="deploy.target") from exc

    def _remove(self, endpoint: str | None, deployed_model_id: str | None, model: str | None) -> None:
        if endpoint:
            ep = self._call("GetEndpoint", self.clients.endpoints.get_endpoint, name=endpoint, missing_ok=True)
            if ep is not None:
                for dm in ep.deployed_models:
                    if deployed_model_id in (None, dm.id):
                        self._operation("UndeployModel", self.clients.endpoints.undeploy_model,
                                        endpoint=endpoint, deployed_model_id=dm.id)
                remaining = [dm for dm in ep.deployed_models if deployed_model_id not in (None, dm.id)]
                if not remaining:
                    self._operation("DeleteEndpoint", self.clients.endpoints.delete_endpoint, name=endpoint,
                                    missing_ok=True)
        if model:
            self._delete_model(model)

    def _delete_model(self, model: str) -> None:
        self._operation("DeleteModel", self.clients.models.delete_model, name=model, missing_ok=True)

    def teardown(self, **labels: str) -> list[str]:
        """Delete every endpoint and model carrying all of ``labels`` (plus ``tesla-managed``).

        Args:
            labels: e.g. ``{"tesla-model": "churn"}``; values are made label-safe.

        Returns:
            The resource names deleted.
        """
        keys = {"tesla-managed": "true", **labels}
        flt = rq.job_filter(**keys)
        removed = []
        endpoints = self._call("ListEndpoints", self.clients.endpoints.list_endpoints,
                               request=v1.ListEndpointsRequest(parent=rq.parent(self.cfg), filter=flt))
        for ep in list(endpoints):
            self._remove(ep.name, None, None)
            removed.append(ep.name)
        models = self._call("ListModels", self.clients.models.list_models,
                            request=v1.ListModelsRequest(parent=rq.parent(self.cfg), filter=flt))
        for m in list(models):
            self._delete_model(m.name)
            removed.append(m.name)
        return removed

    def predict(self, info: Mapping[str, Any], rows: list[Any]) -> list[Any]:
        """Online predictions from a deployment (what ``deploy_model`` returned).

        Args:
            info: the deployment facts.
            rows: instances: dicts of feature values (or lists in signature order).

        Returns:
            One prediction per row, as the serving container returned it.
        """
        request = v1.PredictRequest(endpoint=info["endpoint"])
        # proto-plus 1.29 rejects a list for a repeated google.protobuf.Value in the constructor; extend works
        request.instances.extend(rows)
        response = self._call("Predict", self.clients.predictions.predict, request=request)
        return json_format.MessageToDict(type(response).pb(response))["predictions"]

    def batch_predict(self, info: Mapping[str, Any], instances: Path, *, timeout_s: float | None = None,
                      machine_type: str = rq.SERVING_MACHINE_TYPE) -> list[dict[str, Any]]:
        """Score a JSON-lines file of instances with a BatchPredictionJob on the deployed model.

        Args:
            info: what ``deploy_model`` returned (its ``model`` is used).
            instances: a local JSON-lines file, one instance per line.
            timeout_s: give up waiting after this long (None: wait).
            machine_type: the batch workers' machine type.

        Returns:
            ``{"instance", "prediction"}`` per line, as Vertex wrote them.

        Raises:
            BackendError: the job failed (with Vertex's reason) or timed out.
        """
        sha = hash_path(instances)
        source = self.staging.key("batch", sha, "instances.jsonl")
        self._upload_once(source, lambda: self.gcs.upload_file(source, instances))
        request = rq.batch_prediction_request(
            self.settings, model_name=info["model"], display_name=f"tesla-batch-{sha[:12]}",
            source_uri=f"gs://{self.staging.bucket}/{source}",
            destination_prefix=self.staging.uri("batch", sha, "output"), machine_type=machine_type,
            tags={"tesla-model-resource": info["model"].rsplit("/", 1)[-1]})
        job = self._call("CreateBatchPredictionJob", self.clients.jobs.create_batch_prediction_job, request=request)
        job = self._wait_batch(job.name, timeout_s)
        return self._batch_results(job.output_info.gcs_output_directory)

    def _wait_batch(self, name: str, timeout_s: float | None) -> v1.BatchPredictionJob:
        deadline = None if timeout_s is None else self.clock() + timeout_s
        delay = self.poll_initial_s
        while True:
            job = self._call("GetBatchPredictionJob", self.clients.jobs.get_batch_prediction_job, name=name)
            state = _STATES.get(job.state, StepState.RUNNING)
            if state is StepState.SUCCEEDED:
                return job
            if state.done:
                raise BackendError(f"batch prediction {name} {state.value}: {job.error.message or 'no reason given'}",
                                   key=name)
            if deadline is not None and self.clock() >= deadline:
                raise BackendError(f"batch prediction {name} still {state.value} after {timeout_s:.0f} s; "
                                   "check the Vertex AI console", key=name)
            self.sleep(delay)
            delay = min(delay * 2, self.poll_max_s)

    def _batch_results(self, directory: str) -> list[dict[str, Any]]:
        bucket, _, prefix = directory.removeprefix("gs://").partition("/")
        gcs = Gcs(self.clients.storage, bucket)
        rows: list[dict[str, Any]] = []
        for key in sorted(gcs.keys(prefix.rstrip("/") + "/")):
            if key.rsplit("/", 1)[-1].startswith("prediction.results"):
                text = gcs.read_text(key) or ""
                rows += [json.loads(line) for line in text.splitlines() if line.strip()]
        return rows

