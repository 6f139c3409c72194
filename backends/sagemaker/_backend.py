"""SageMaker orchestration: package, upload, submit, poll, collect, deploy, tear down.

Requests are built by ``_requests`` (pure) and sent through injected clients (``_clients``);
this module only sequences the calls and turns provider states and errors into Tesla's.
Each non-control plan step runs as one training job; control steps (``register``) run here,
in the base class.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

# the SDK import lives here and in _clients.py only: `tesla --help` and `tesla plan` never load boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tesla.errors import BackendError, ConfigError, DeployError
from tesla.execution import Backend, DryRun, JobAdmin, ModelHosting, RunRecorder
from tesla.execution import StepHandle, StepOutcome, StepState
from tesla.execution.backend import Event, EventSink
from tesla.execution.cost import CostEstimate, job_line
from tesla.execution.labels import tesla_tags
from tesla.execution.packaging import (
    CodePackage,
    build_code_package,
    missing_packages,
    plan_estimators,
    tar_directory,
)
from tesla.plan import Plan, Step
from tesla_backends.sagemaker import SPEC
from tesla_backends.sagemaker._clients import SageMakerClients, make_clients
from tesla_backends.sagemaker._requests import (
    Layout,
    endpoint_config_request,
    endpoint_request,
    model_request,
    resource_name,
    training_job_request,
)
from tesla_backends.sagemaker._validate import request_errors

__all__ = ["SageMakerBackend"]

RESULT_FILE = "_result.json"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
_PENDING = {"Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack", "Downloading",
            "DownloadingTrainingImage"}
_STATES = {"InProgress": StepState.RUNNING, "Stopping": StepState.RUNNING, "Completed": StepState.SUCCEEDED,
           "Failed": StepState.FAILED, "Stopped": StepState.CANCELLED, "Deleting": StepState.CANCELLED}
_LIMITS = {"MaxRuntimeExceeded": "backend.max_runtime_s", "MaxWaitTimeExceeded": "backend.max_wait_s"}
_REQUIRED = {"role_arn": "arn:aws:iam::ACCOUNT:role/ROLE (the role SageMaker assumes)",
             "bucket": "BUCKET (an S3 bucket in the backend's region)",
             "image_uri": "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG (an image with tesla-ml installed)"}
_HINTS = {"AccessDeniedException": "check that your credentials may call SageMaker and pass backend.role_arn",
          "AccessDenied": "check that your credentials and backend.role_arn may use backend.bucket",
          "ResourceLimitExceeded": "request a quota increase or pick another backend.instance_type",
          "ThrottlingException": "retry later", "NoSuchBucket": "create the bucket or fix backend.bucket"}
_CODE_PACKAGES = ("tesla", "tesla_backends")


class SageMakerBackend(Backend, DryRun, JobAdmin, ModelHosting):
    """Runs each plan step as a SageMaker training job and serves bundles on SageMaker endpoints.

    Args:
        settings: the plan's ``backend`` mapping (``SageMakerConfig`` as plain JSON).
        store: the project's store.
        clock: monotonic clock for the wait loops.
        sleep: sleep function for the wait loops.
        clients: boto3 clients to use instead of ones made from ``settings`` (tests inject them).
    """

    spec = SPEC
    poll_initial_s = 5.0  # a job takes minutes; DescribeTrainingJob is rate limited
    poll_max_s = 60.0

    def __init__(self, settings: Mapping[str, Any], store: RunRecorder, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 clients: SageMakerClients | None = None) -> None:
        super().__init__(settings, store, clock=clock, sleep=sleep)
        self._clients = clients
        self._present: set[str] = set()  # S3 keys known to exist (skip HEAD and upload)
        self._code: CodePackage | None = None

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def clients(self) -> SageMakerClients:
        """The boto3 clients, made on first use (never for dry runs)."""
        if self._clients is None:
            self._clients = make_clients(self.settings)
        return self._clients

    @property
    def layout(self) -> Layout:
        return Layout(self.settings["bucket"], self.settings.get("prefix") or "tesla")

    def _aws(self, what: str, call: Callable[..., Any], **params: Any) -> Any:
        """Call the SDK; turn its errors into one-line BackendErrors naming ``what`` and a fix."""
        try:
            return call(**params)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "Error")
            hint = _HINTS.get(code)
            raise BackendError(f"SageMaker backend could not {what}: {code}: {err.get('Message', exc)}"
                               + (f"; {hint}" if hint else "")) from exc
        except NoCredentialsError as exc:
            raise BackendError(f"SageMaker backend could not {what}: no AWS credentials found; configure the "
                               "default chain (AWS_PROFILE, `aws configure sso`, or environment variables)") from exc
        except BotoCoreError as exc:
            raise BackendError(f"SageMaker backend could not {what}: {exc}") from exc

    def _code_package(self) -> CodePackage:
        if self._code is None:
            self._code = build_code_package(_CODE_PACKAGES)
        return self._code

    # -- checks, dry runs and cost ----------------------------------------------------------------
    def _check(self, plan: Plan) -> list[str]:
        """Missing settings, multi-instance jobs and strict-validation failures of the rendered requests.

        Raises:
            ConfigError: an estimator of the plan needs a package the image does not declare.
        """
        problems = [f"backend.{key} is not set; pass backend.{key}={example}"
                    for key, example in _REQUIRED.items() if not self.settings.get(key)]
        if int(self.settings.get("instance_count", 1)) != 1:
            problems.append(f"backend.instance_count={self.settings['instance_count']}: Tesla steps run on one "
                            "instance (the search is not distributed); set backend.instance_count=1")
        for step in plan.steps:
            if step.kind == "search":
                self._check_packages(plan_estimators(step.params), "search.estimators")
        if problems:
            return problems
        return self.validate_requests(self.render_requests(plan))

    def _check_packages(self, estimators: list[str], where: str) -> None:
        missing = missing_packages(estimators, self.settings.get("image_packages") or ())
        if missing:
            needs = ", ".join(f"'{e}' needs '{p}'" for e, p in sorted(missing.items()))
            raise ConfigError(f"the image backend.image_uri cannot load every model this plan may pick ({needs}); "
                              f"install the package(s) in the image and add them to backend.image_packages, "
                              f"or drop the estimator(s) from {where}", key="backend.image_packages")

    def render_requests(self, plan: Plan) -> list[dict[str, Any]]:
        """The CreateTrainingJob request of every non-control step, without sending any.

        Pure apart from reading Tesla's own installed files (to hash the code package). The
        run id is the plan fingerprint's first 12 characters; inputs produced by an earlier
        step show as ``{step.output}`` because their hash is known only once it ran.

        Args:
            plan: the compiled plan.

        Returns:
            ``[{"step", "operation", "request"}]`` in run order.
        """
        settings = {**self.settings, **{k: self.settings.get(k) or f"<backend.{k}>" for k in _REQUIRED}}
        layout = Layout(settings["bucket"], settings.get("prefix") or "tesla")
        run_id = plan.fingerprint[:12]
        code_sha = self._code_package().sha256
        out = []
        for step in plan.ordered():
            if step.placement == "control":
                continue
            inputs = {name: ref.sha256 if ref.step is None else f"{{{ref.step}.{ref.output}}}"
                      for name, ref in step.inputs.items()}
            request = training_job_request(step, run_id=run_id, settings=settings, layout=layout, code_sha=code_sha,
                                           inputs=inputs, tags=self._job_tags(plan, step, run_id))
            out.append({"step": step.id, "operation": "CreateTrainingJob", "request": request})
        return out

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[str]:
        """Strict problems of rendered requests: botocore model (required, type, min, max, enum, pattern) and server rules.

        Args:
            requests: what ``render_requests`` returned.

        Returns:
            One message per problem, prefixed with the step id.
        """
        return [f"step '{item['step']}': {error}" for item in requests
                for error in request_errors(item["operation"], item["request"])]

    def estimate_cost(self, plan: Plan, prices: Mapping[str, float]) -> dict[str, Any]:
        """Upper bound: each non-control step's instance price x ``max_runtime_s`` x instance count.

        Args:
            plan: the compiled plan.
            prices: training instance type -> USD per hour.

        Returns:
            ``CostEstimate.to_dict()``: ``usd``, ``lines``, ``unpriced``...
        """
        note = "spot: billed for the time used, at most this" if self.settings.get("use_spot") else ""
        lines = tuple(job_line(step.id, self.settings["instance_type"], count=int(self.settings["instance_count"]),
                               max_runtime_s=float(self.settings["max_runtime_s"]), prices=prices, note=note)
                      for step in plan.ordered() if step.placement != "control")
        return CostEstimate(backend=self.name, lines=lines).to_dict()

    def _job_tags(self, plan: Plan, step: Step, run_id: str) -> dict[str, str]:
        tags = tesla_tags(run_id=run_id, step=step.id, extra=self.settings.get("tags") or {})
        tags["tesla-plan"] = plan.fingerprint[:12]  # the plan *name* (train/x) is in the store; the hash finds it
        return tags

    # -- uploads ------------------------------------------------------------------------------------
    def _exists(self, key: str) -> bool:
        if key in self._present:
            return True
        try:
            self.clients.s3.head_object(Bucket=self.layout.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise BackendError(f"SageMaker backend could not read s3://{self.layout.bucket}/{key}: "
                               f"{exc.response.get('Error', {}).get('Message', exc)}; check backend.bucket "
                               "and your credentials") from exc
        self._present.add(key)
        return True

    def _put(self, key: str, body: bytes) -> None:
        self._aws(f"upload s3://{self.layout.bucket}/{key}", self.clients.s3.put_object,
                  Bucket=self.layout.bucket, Key=key, Body=body)
        self._present.add(key)

    def _upload_code(self) -> str:
        package = self._code_package()
        key = self.layout.code_key(package.sha256)
        if not self._exists(key):
            self._put(key, package.data)
        return package.sha256

    def _upload_input(self, sha: str) -> None:
        """Upload one artifact under data/<sha>/, then its marker; skipped when the marker exists."""
        marker = self.layout.data_marker(sha)
        if self._exists(marker):
            return
        local = self.store.artifacts.path(sha)
        prefix = self.layout.data_prefix(sha)
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for path in files:
            rel = path.name if local.is_file() else path.relative_to(local).as_posix()
            self._put(prefix + rel, path.read_bytes())
        self._put(marker, sha.encode())  # last: an interrupted upload is redone next time

    # -- steps ------------------------------------------------------------------------------------------
    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        """Upload the plan, code and inputs, then create the step's training job.

        Args:
            plan: the plan being run (uploaded once per run as the plan channel).
            step: the step to start.
            run_id: the Tesla run id.
            inputs: input name -> artifact sha256 in ``self.store``.
            emit: progress sink.

        Returns:
            A handle whose ``job_ref`` is the training job name.
        """
        code_sha = self._upload_code()
        plan_key = self.layout.plan_key(run_id)
        if plan_key not in self._present:
            self._put(plan_key, plan.to_json().encode())
        for sha in inputs.values():
            self._upload_input(sha)
        request = training_job_request(step, run_id=run_id, settings=self.settings, layout=self.layout,
                                       code_sha=code_sha, inputs=inputs, tags=self._job_tags(plan, step, run_id))
        errors = request_errors("CreateTrainingJob", request)
        if errors:
            raise BackendError(f"the training job request for step '{step.id}' is invalid: {'; '.join(errors)}",
                               step=step.id, run_id=run_id)
        self._aws(f"create the training job for step '{step.id}'", self.clients.sagemaker.create_training_job,
                  **request)
        name = request["TrainingJobName"]
        emit(Event("step_progress", step.id, {"job": name, "region": self.clients.region}))
        return StepHandle(step=step, run_id=run_id, job_ref=name)

    def _interrupt_step(self, handle: StepHandle) -> None:
        """On Ctrl-C the job is stopped too, so it does not bill until max_runtime_s."""
        if handle.job_ref:
            self.cancel(handle.job_ref)

    def _describe(self, name: str) -> dict[str, Any]:
        return self._aws(f"describe training job {name}", self.clients.sagemaker.describe_training_job,
                         TrainingJobName=name)

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        """Map the job's status to a StepState; a failed job's FailureReason is the message.

        Args:
            handle: the started step.

        Returns:
            (state, reason); the reason names the config key when a time limit stopped the job.
        """
        assert handle.job_ref is not None
        return _state(self._describe(handle.job_ref))

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        """Download model.tar.gz (what the job left in /opt/ml/model) and return the step's outputs.

        Args:
            handle: a succeeded step.

        Returns:
            Each declared output's local path and the step's ``_result.json``.

        Raises:
            BackendError: the job left no artifact or lacks a declared output.
        """
        assert handle.job_ref is not None
        desc = self._describe(handle.job_ref)
        uri = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not uri:
            raise BackendError(f"training job {handle.job_ref} succeeded but reports no model artifacts",
                               step=handle.step.id)
        workdir = self._workdir(f"tesla-sm-{handle.step.id}-", under=self.store.state_dir)  # the base removes it
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        obj = self._aws(f"download {uri}", self.clients.s3.get_object, Bucket=bucket, Key=key)
        _extract(obj["Body"].read(), workdir, uri)
        missing = [name for name in (*handle.step.outputs, RESULT_FILE) if not (workdir / name).exists()]
        if missing:
            raise BackendError(f"training job {handle.job_ref} did not write {', '.join(missing)} to /opt/ml/model "
                               f"(found in {uri}: {', '.join(sorted(p.name for p in workdir.iterdir())) or 'nothing'})",
                               step=handle.step.id, run_id=handle.run_id)
        result = json.loads((workdir / RESULT_FILE).read_text())
        return StepOutcome(outputs={name: workdir / name for name in handle.step.outputs}, result=result)

    def cancel(self, job_ref: str) -> None:
        """Stop a running training job (SageMaker keeps it, in state Stopped)."""
        self._aws(f"stop training job {job_ref}", self.clients.sagemaker.stop_training_job, TrainingJobName=job_ref)

    # -- jobs -------------------------------------------------------------------------------------
    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Training jobs Tesla started (names ``tesla-<run>-<step>``), newest first.

        Args:
            limit: at most this many.

        Returns:
            ``{"job", "run_id", "step", "state", "provider_state", "created"}`` per job.
        """
        jobs: list[dict[str, Any]] = []
        for summary in self._paginate("list training jobs", "list_training_jobs", "TrainingJobSummaries",
                                      NameContains="tesla-", SortBy="CreationTime", SortOrder="Descending",
                                      PaginationConfig={"MaxItems": limit}):
            name = summary["TrainingJobName"]
            if not name.startswith("tesla-"):
                continue
            _, run_id, step = (name.split("-", 2) + ["", ""])[:3]
            state, _ = _state({"TrainingJobStatus": summary["TrainingJobStatus"],
                               "SecondaryStatus": summary.get("SecondaryStatus")})
            jobs.append({"job": name, "run_id": run_id, "step": step, "state": state.value,
                         "provider_state": summary["TrainingJobStatus"], "created": str(summary.get("CreationTime"))})
            if len(jobs) >= limit:
                break
        return jobs

    def _paginate(self, what: str, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self.clients.sagemaker.get_paginator(operation)
        pages = self._aws(what, lambda: list(paginator.paginate(**params)))
        for page in pages:
            yield from page.get(key, [])

    def job_status(self, job_ref: str) -> dict[str, Any]:
        """One job's state, provider state, failure reason, times and billable seconds.

        Args:
            job_ref: the training job name.

        Returns:
            ``{"job", "state", "provider_state", "secondary_status", "reason", ...}``.
        """
        desc = self._describe(job_ref)
        state, reason = _state(desc)
        return {"job": job_ref, "state": state.value, "provider_state": desc.get("TrainingJobStatus"),
                "secondary_status": desc.get("SecondaryStatus"), "reason": reason,
                "created": str(desc.get("CreationTime")), "ended": str(desc.get("TrainingEndTime") or ""),
                "billable_s": desc.get("BillableTimeInSeconds"),
                "instance_type": (desc.get("ResourceConfig") or {}).get("InstanceType"),
                "artifacts": (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")}

    def job_logs(self, job_ref: str) -> str:
        """The job's CloudWatch log lines (every instance's stream, in order).

        Args:
            job_ref: the training job name.

        Returns:
            The log text; empty when the job has not logged yet.
        """
        logs = self.clients.logs
        try:
            streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job_ref}/")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return ""
            raise BackendError(f"SageMaker backend could not read the logs of {job_ref}: "
                               f"{exc.response.get('Error', {}).get('Message', exc)}") from exc
        lines = []
        for stream in sorted(s["logStreamName"] for s in streams.get("logStreams", [])):
            lines += self._stream_lines(stream)
        return "\n".join(lines) + ("\n" if lines else "")

    def _stream_lines(self, stream: str) -> list[str]:
        lines: list[str] = []
        token = None
        while True:
            params = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
            page = self._aws(f"read log stream {stream}", self.clients.logs.get_log_events,
                             **params, **({"nextToken": token} if token else {}))
            lines += [e["message"] for e in page.get("events", [])]
            if not page.get("events") or page.get("nextForwardToken") in (None, token):
                return lines
            token = page["nextForwardToken"]

    # -- serving ------------------------------------------------------------------------------------
    def deploy_model(self, bundle_dir: Path, *, model: str, version: int, settings: Mapping[str, Any],
                     tags: Mapping[str, str], replaces: Mapping[str, Any] | None = None,
                     on_spawn: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Serve a bundle: upload model.tar.gz, then Model -> EndpointConfig -> Endpoint (create or update).

        Args:
            bundle_dir: the local bundle.
            model: registered model name.
            version: registered model version.
            settings: the ``deploy`` config (``serverless``, ``instance_type``, ``instance_count``, ``profile``).
            tags: tags for every resource (model, version, profile).
            replaces: unused: the profile's endpoint is updated in place (SageMaker shifts traffic once
                the new variant is healthy).
            on_spawn: unused: no local process is started.

        Returns:
            ``url`` (the invocations URL), ``endpoint``, ``endpoint_config``, ``model_name``, ``region``,
            ``model_data`` and ``tags`` (what ``undeploy_model`` tears down).

        Raises:
            ConfigError: a setting is missing or the image lacks a package the bundle needs.
            DeployError: SageMaker reports the endpoint failed, or it is not InService in time.
        """
        missing = [f"backend.{k}" for k in _REQUIRED if not self.settings.get(k)]
        if missing:
            raise ConfigError(f"deploying to SageMaker needs {', '.join(missing)}; set them in conf/backend/"
                              "sagemaker.yaml or on the command line", key=missing[0])
        manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
        self._check_packages([manifest["estimator"]], f"search.estimators (model {model}@{version})")
        data = tar_directory(bundle_dir)
        sha = hashlib.sha256(data).hexdigest()
        key = self.layout.model_key(sha)
        if not self._exists(key):
            self._put(key, data)
        endpoint = resource_name("tesla", model, settings["profile"])
        all_tags = {**tesla_tags(extra={**(self.settings.get("tags") or {}), **tags}), "tesla-deployment": endpoint}
        names = self._create_model_and_config(model, version, sha, settings, all_tags)
        self._create_or_update_endpoint(endpoint, names["endpoint_config"], all_tags)
        return {"url": f"https://runtime.sagemaker.{self.clients.region}.amazonaws.com/endpoints/{endpoint}/invocations",
                "endpoint": endpoint, **names, "region": self.clients.region,
                "model_data": f"s3://{self.layout.bucket}/{key}", "serverless": bool(settings.get("serverless")),
                "tags": all_tags}

    def _create_model_and_config(self, model: str, version: int, sha: str, deploy: Mapping[str, Any],
                                 tags: Mapping[str, str]) -> dict[str, str]:
        name = resource_name("tesla", model, f"v{version}", sha[:8])
        env = {"TESLA_MODEL_REF": f"{model}@{version}", "TESLA_UNSEEN_CATEGORY": str(deploy.get("unseen_category", "error")),
               "TESLA_MAX_BODY_BYTES": str(deploy.get("max_body_bytes", 6_000_000))}
        request = model_request(name, image_uri=self.settings["image_uri"], role_arn=self.settings["role_arn"],
                                model_data_url=f"s3://{self.layout.bucket}/{self.layout.model_key(sha)}",
                                environment=env, tags=tags)
        if not self._found("describe_model", ModelName=name):
            self._send("CreateModel", self.clients.sagemaker.create_model, request)
        draft = endpoint_config_request("x", model_name=name, deploy=deploy, settings=self.settings, tags=tags)
        variant_sha = hashlib.sha256(json.dumps(draft["ProductionVariants"], sort_keys=True).encode()).hexdigest()
        config = resource_name("tesla", model, f"v{version}", variant_sha[:8])
        if not self._found("describe_endpoint_config", EndpointConfigName=config):
            self._send("CreateEndpointConfig", self.clients.sagemaker.create_endpoint_config,
                       {**draft, "EndpointConfigName": config})
        return {"model_name": name, "endpoint_config": config}

    def _found(self, operation: str, **params: Any) -> dict[str, Any] | None:
        """The resource's description, or None when SageMaker does not know it."""
        try:
            return getattr(self.clients.sagemaker, operation)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
                return None
            raise BackendError(f"SageMaker backend could not {operation}: {exc}") from exc

    def _send(self, operation: str, call: Callable[..., Any], request: Mapping[str, Any]) -> Any:
        errors = request_errors(operation, request)
        if errors:
            raise DeployError(f"the {operation} request is invalid: {'; '.join(errors)}")
        return self._aws(operation, call, **request)

    def _create_or_update_endpoint(self, endpoint: str, config: str, tags: Mapping[str, str]) -> None:
        current = self._found("describe_endpoint", EndpointName=endpoint)
        if current is None:
            self._send("CreateEndpoint", self.clients.sagemaker.create_endpoint,
                       endpoint_request(endpoint, config_name=config, tags=tags))
        elif current.get("EndpointConfigName") != config:
            # SageMaker swaps the variant behind the endpoint without downtime (blue/green)
            self._send("UpdateEndpoint", self.clients.sagemaker.update_endpoint,
                       {"EndpointName": endpoint, "EndpointConfigName": config})
        self._wait_in_service(endpoint)

    def _wait_in_service(self, endpoint: str) -> None:
        timeout = float(self.settings.get("endpoint_timeout_s") or 1800)
        deadline = self.clock() + timeout
        delay = self.poll_initial_s
        while True:
            desc = self._aws(f"describe endpoint {endpoint}", self.clients.sagemaker.describe_endpoint,
                             EndpointName=endpoint)
            status = desc.get("EndpointStatus")
            if status == "InService":
                return
            if status in ("Failed", "OutOfService"):
                raise DeployError(f"SageMaker endpoint {endpoint} is {status}: {desc.get('FailureReason', 'no reason')}"
                                  f"; see its CloudWatch logs (/aws/sagemaker/Endpoints/{endpoint})", key=endpoint)
            if self.clock() >= deadline:
                raise DeployError(f"SageMaker endpoint {endpoint} is still {status} after {timeout:.0f} s; raise "
                                  "backend.endpoint_timeout_s or check the endpoint in the console", key=endpoint)
            self.sleep(delay)
            delay = min(delay * 2, self.poll_max_s)

    def undeploy_model(self, info: Mapping[str, Any]) -> None:
        """Delete the endpoint, endpoint configs and models tagged with the deployment's ``tesla-deployment``.

        Args:
            info: what ``deploy_model`` returned.
        """
        self.teardown({"tesla-deployment": info["endpoint"]})

    def teardown(self, match: Mapping[str, str]) -> list[str]:
        """Delete every Tesla endpoint, endpoint config and model whose tags include ``match``.

        Args:
            match: tag key -> value that a resource must carry (all of them).

        Returns:
            The deleted resources as ``kind/name``.
        """
        kinds = (("list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "delete_endpoint"),
                 ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn",
                  "delete_endpoint_config"),
                 ("list_models", "Models", "ModelName", "ModelArn", "delete_model"))
        deleted = []
        for list_op, key, name_key, arn_key, delete_op in kinds:
            for item in self._paginate(f"{list_op.replace('_', ' ')}", list_op, key, NameContains="tesla"):
                tags = self._aws(f"list tags of {item[name_key]}", self.clients.sagemaker.list_tags,
                                 ResourceArn=item[arn_key])
                have = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
                if all(have.get(k) == v for k, v in match.items()):
                    self._aws(f"delete {item[name_key]}", getattr(self.clients.sagemaker, delete_op),
                              **{name_key: item[name_key]})
                    deleted.append(f"{name_key.removesuffix('Name').lower()}/{item[name_key]}")
        return deleted


def _state(desc: Mapping[str, Any]) -> tuple[StepState, str | None]:
    status = desc.get("TrainingJobStatus", "")
    secondary = desc.get("SecondaryStatus")
    if secondary in _LIMITS:
        return StepState.FAILED, (f"{secondary}: the job hit {_LIMITS[secondary]}; raise it or lower "
                                  "search.time_budget_s / search.max_iter")
    state = _STATES.get(status)
    if state is None:
        return StepState.RUNNING, None  # a status newer than this Tesla: keep waiting
    if state is StepState.RUNNING and secondary in _PENDING:
        return StepState.PENDING, None
    if state is StepState.FAILED:
        return state, desc.get("FailureReason") or "SageMaker gave no reason; see `tesla jobs logs`"
    if state is StepState.CANCELLED:
        return state, f"stopped ({secondary or status})"
    return state, None


def _extract(data: bytes, dest: Path, uri: str) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths, .. and links out of dest
    except tarfile.TarError as exc:
        raise BackendError(f"{uri} is not a readable tar.gz ({exc}); the job's /opt/ml/model upload is damaged") from exc
