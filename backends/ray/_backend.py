"""Ray orchestration: connect, submit each step as a Ray task, poll, collect, cancel, read logs.

Every step's task is started by Tesla's *job book*, a small detached actor (no CPU reserved)
named ``tesla-job-book`` in ``backend.namespace``. The book owns the tasks, so a step keeps
running when the ``tesla`` process that submitted it is gone (as a cloud job does), and any
later process can list, inspect, read the logs of and cancel it through ``tesla jobs``
without Ray's dashboard. The task runs the step body on a worker, reads its inputs from and
puts its outputs into the project's artifact store: the workers must reach its root (a
bucket, or a filesystem every node mounts at the same path; a local cluster shares the disk).
Control steps (``register``) run in this process, in the base class.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# the SDK import lives here only: `tesla --help` and `tesla plan` never load ray
import ray
from ray.exceptions import GetTimeoutError, RayError, TaskCancelledError

from tesla.errors import BackendError, TeslaError
from tesla.execution import Backend, DryRun, JobAdmin, RunRecorder, StepHandle, StepOutcome, StepState
from tesla.execution.backend import Event, EventSink
from tesla.execution.cost import CostEstimate, CostLine
from tesla.plan import Plan, Step
from tesla_backends.ray import SPEC, RayResources

__all__ = ["RayBackend", "step_resources"]

BOOK_NAME = "tesla-job-book"
_MAX_JOBS = 1000  # finished jobs beyond this many are forgotten by the book, oldest first
_ACTIVE = ("pending", "running")
_CALL_TIMEOUT_S = 60.0  # a job-book call that takes longer means the cluster is in trouble
_connected: dict[str, str] = {}  # "address" -> the address this process's Ray connection was made to


# -- resources and placement (pure) ------------------------------------------------------------------
def step_resources(settings: Mapping[str, Any], step: Step) -> dict[str, Any]:
    """The resources ``step``'s task asks for: ``backend.steps[<kind>]``, then ``[<id>]``, over the defaults.

    A search with concurrent trials reserves no CPU of its own unless told to: its Ray Tune
    trials reserve theirs, and a coordinator holding one would starve a small cluster.

    Returns:
        ``{"num_cpus", "num_gpus", "memory_mb"}`` (``memory_mb`` None: no reservation).
    """
    overrides = settings.get("steps") or {}
    own = {k: v for src in (overrides.get(step.kind), overrides.get(step.id)) for k, v in (src or {}).items()
           if v is not None}
    cpus = settings.get("num_cpus", 1.0)
    if step.kind == "search" and int(step.params.get("n_concurrent_trials", 1)) > 1:
        cpus = 0.0
    return {"num_cpus": float(own.get("num_cpus", cpus)), "num_gpus": float(own.get("num_gpus",
                                                                                     settings.get("num_gpus", 0.0))),
            "memory_mb": own.get("memory_mb", settings.get("memory_mb"))}


def _ray_options(resources: Mapping[str, Any]) -> dict[str, Any]:
    options = {"num_cpus": resources["num_cpus"], "num_gpus": resources["num_gpus"]}
    if resources.get("memory_mb"):
        options["memory"] = int(resources["memory_mb"]) * 1024 * 1024
    return options


def _resource_problems(where: str, resources: Mapping[str, Any]) -> list[str]:
    problems = [f"{where}.{key}={resources[key]} is negative; use 0 or more"
                for key in ("num_cpus", "num_gpus", "memory_mb") if (resources.get(key) or 0) < 0]
    gpus = resources.get("num_gpus") or 0
    if gpus > 1 and gpus != int(gpus):
        problems.append(f"{where}.num_gpus={gpus}: Ray takes a fraction of one GPU or a whole number; "
                        f"use {int(gpus)} or {int(gpus) + 1}")
    return problems


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto`` / ``local`` / a bad address."""
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _address_problem(address: str) -> str | None:
    if address in ("auto", "local") or _host_port(address):
        return None
    return (f"backend.address='{address}' is not a Ray address; use auto, local, HOST:PORT (the head's GCS "
            "port, 6379 by default) or ray://HOST:PORT (Ray Client, 10001 by default)")


# -- the job book (a detached actor on the cluster) -----------------------------------------------------
class _LogSink(io.TextIOBase):
    """A text stream that sends each complete line to the job book (the step's log)."""

    def __init__(self, book: Any, job: str) -> None:
        super().__init__()
        self.book, self.job, self._partial = book, job, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        if lines:
            self.book.log.remote(self.job, lines)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.book.log.remote(self.job, [self._partial])
            self._partial = ""


def _run_on_worker(book: Any, job: str, plan_json: str, step_id: str, root: str,
                   inputs: Mapping[str, str]) -> dict[str, Any]:
    """A step's Ray task: run the body on this worker; inputs from, outputs into, the shared artifact store.

    Returns:
        ``{"outputs": {name: sha}, "result": {...}}``, or ``{"error": "<the step's own one-line error>"}``.
    """
    import tempfile

    from tesla.steps import StepContext, run_step
    from tesla.store.artifacts import ArtifactStore

    book.mark_running.remote(job, socket.gethostname(), os.getpid())
    sink = _LogSink(book, job)
    with tempfile.TemporaryDirectory(prefix="tesla-ray-") as tmp:
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                store = ArtifactStore(root, cache_dir=Path(tmp) / "cache")
                step = Plan.from_json(plan_json).step(step_id)
                outdir = Path(tmp) / "out"
                outdir.mkdir()

                def progress(data: dict[str, Any]) -> None:
                    book.progress.remote(job, data)
                    print(json.dumps({"step": step_id, "progress": data}, default=str))

                result = run_step(StepContext(step=step, inputs={n: store.path(s) for n, s in inputs.items()},
                                              outdir=outdir, progress=progress))
                shas = {name: store.put(outdir / name) for name in step.outputs}
        except Exception as exc:  # noqa: BLE001 - the step's own error is the job's failure reason
            message = str(exc) if isinstance(exc, TeslaError) else f"{type(exc).__name__}: {exc}"
            print(f"Error: {message}", file=sink)
            return {"error": message}
        finally:
            sink.flush()
    return {"outputs": shas, "result": json.loads(json.dumps(result, default=str))}


_step_task = ray.remote(max_retries=0)(_run_on_worker)


class JobBook:
    """Tesla's jobs on one cluster: starts each step's task, and answers for it to any later process."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}

    def submit(self, job: str, meta: Mapping[str, Any], options: Mapping[str, Any], plan_json: str, step_id: str,
               root: str, inputs: Mapping[str, str]) -> None:
        if job in self.jobs and self.jobs[job]["state"] in _ACTIVE:
            return  # already running: a resubmission after a lost reply starts nothing twice
        me = ray.get_runtime_context().current_actor
        ref = _step_task.options(name=job, **options).remote(me, job, plan_json, step_id, root, dict(inputs))
        self.jobs[job] = {**meta, "job": job, "ref": ref, "state": "pending", "reason": None, "created": time.time(),
                          "ended": None, "node": None, "pid": None, "log": [], "progress": [], "out": None,
                          "resources": dict(options)}
        self._forget_old()

    def _forget_old(self) -> None:
        done = [k for k, v in self.jobs.items() if v["state"] not in _ACTIVE]
        for key in done[:max(0, len(self.jobs) - _MAX_JOBS)]:
            del self.jobs[key]

    def mark_running(self, job: str, node: str, pid: int) -> None:
        if job in self.jobs and self.jobs[job]["state"] == "pending":
            self.jobs[job].update(state="running", node=node, pid=pid)

    def log(self, job: str, lines: list[str]) -> None:
        if job in self.jobs:
            self.jobs[job]["log"].extend(lines)

    def progress(self, job: str, data: Mapping[str, Any]) -> None:
        if job in self.jobs:
            self.jobs[job]["progress"].append(dict(data))

    def _settle(self, entry: dict[str, Any]) -> None:
        if entry["state"] not in _ACTIVE:
            return
        ready, _ = ray.wait([entry["ref"]], timeout=0)
        if not ready:
            return
        try:
            out = ray.get(entry["ref"])
        except TaskCancelledError:
            entry.update(state="cancelled", reason="cancelled")
        except RayError as exc:  # the worker died (out of memory, node lost...): its last line says why
            lines = [line for line in str(exc).splitlines() if line.strip()]
            entry.update(state="failed", reason=lines[-1] if lines else type(exc).__name__)
        else:
            entry.update(state="failed" if "error" in out else "succeeded", reason=out.get("error"), out=out)
        entry["ended"] = time.time()

    def status(self, job: str, since: int = 0) -> dict[str, Any] | None:
        entry = self.jobs.get(job)
        if entry is None:
            return None
        self._settle(entry)
        return {k: v for k, v in entry.items() if k not in ("ref", "log", "progress", "out")} | {
            "progress": entry["progress"][since:], "seen": len(entry["progress"])}

    def result(self, job: str) -> dict[str, Any] | None:
        entry = self.jobs.get(job)
        return entry["out"] if entry else None

    def logs(self, job: str) -> list[str] | None:
        entry = self.jobs.get(job)
        return list(entry["log"]) if entry else None

    def cancel(self, job: str) -> bool:
        entry = self.jobs.get(job)
        if entry is None:
            return False
        self._settle(entry)
        if entry["state"] in _ACTIVE:
            ray.cancel(entry["ref"], force=True)
            entry.update(state="cancelled", reason="cancelled by the user", ended=time.time())
        return True

    def list(self, limit: int) -> list[dict[str, Any]]:
        for entry in self.jobs.values():
            self._settle(entry)
        newest = sorted(self.jobs.values(), key=lambda e: e["created"], reverse=True)[:limit]
        return [{"job": e["job"], "run_id": e["run_id"], "step": e["step"], "state": e["state"],
                 "provider_state": e["state"], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["created"]))}
                for e in newest]


# -- the backend --------------------------------------------------------------------------------------------
class RayBackend(Backend, DryRun, JobAdmin):
    """Runs each non-control plan step as a Ray task on ``backend.address``.

    Args:
        settings: the plan's ``backend`` mapping (``RayConfig`` as plain JSON).
        store: the project's store; its artifact root must be reachable from the workers.
        clock: monotonic clock for the wait loop.
        sleep: sleep function for the wait loop.
    """

    spec = SPEC
    poll_initial_s = 0.1  # a cluster answers in milliseconds; a short step should not wait a second
    poll_max_s = 2.0

    def __init__(self, settings: Mapping[str, Any], store: RunRecorder, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings, store, clock=clock, sleep=sleep)
        self.address = str(self.settings.get("address") or "auto")
        self.namespace = str(self.settings.get("namespace") or "tesla")

    def run(self, plan: Plan, **kwargs: Any) -> Any:
        """``Backend.run``, after connecting: an unreachable cluster fails before any run is recorded.

        Args:
            plan: the compiled plan.
            **kwargs: as for ``Backend.run`` (``force``, ``on_event``, ``parent_id``, ``timeout_s``).

        Raises:
            BackendError: the cluster cannot be reached, or the plan cannot run here.
            StepFailedError: a step failed; its message is the step's own error.
        """
        if any(step.placement != "control" for step in plan.steps) and not self.check(plan):
            self.connect()
        return super().run(plan, **kwargs)

    # -- connection ---------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect this process to the cluster (once); a one-line ``BackendError`` when it cannot be reached.

        Raises:
            BackendError: ``backend.address`` is malformed, refuses connections or runs no Ray.
        """
        if ray.is_initialized() and _connected.get("address") == self.address:
            return
        problem = _address_problem(self.address)
        if problem:
            raise BackendError(problem)
        if ray.is_initialized():
            ray.shutdown()
        timeout = float(self.settings.get("connect_timeout_s") or 10.0)
        target = _host_port(self.address)
        if target is not None:
            self._probe(*target, timeout=timeout)
        kwargs: dict[str, Any] = {"namespace": self.namespace, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        try:
            if self.address == "local":
                ray.init(num_cpus=self.settings.get("local_num_cpus"), include_dashboard=False, **kwargs)
            else:
                ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"cannot connect to the Ray cluster at backend.address={self.address}: {first}; "
                               "start one with `ray start --head` or fix backend.address (a cluster with token "
                               "authentication also needs RAY_AUTH_MODE=token and its token in RAY_AUTH_TOKEN)") from exc
        _connected["address"] = self.address

    def _probe(self, host: str, port: int, *, timeout: float) -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BackendError(f"cannot reach the Ray cluster at backend.address={self.address} ({reason}); "
                               f"start it with `ray start --head --port={port}` on {host}, or fix backend.address "
                               f"(backend.connect_timeout_s={timeout:g})") from exc

    def _book(self, *, create: bool) -> Any:
        self.connect()
        if create:
            actor = ray.remote(num_cpus=0, max_restarts=0)(JobBook)
            return actor.options(name=BOOK_NAME, namespace=self.namespace, lifetime="detached",
                                 get_if_exists=True).remote()
        try:
            return ray.get_actor(BOOK_NAME, namespace=self.namespace)
        except ValueError:
            return None

    def _call(self, what: str, ref: Any) -> Any:
        try:
            return ray.get(ref, timeout=_CALL_TIMEOUT_S)
        except GetTimeoutError as exc:
            raise BackendError(f"the Ray cluster at {self.address} did not answer ({what}) within "
                               f"{_CALL_TIMEOUT_S:.0f} s; check `ray status` there") from exc
        except RayError as exc:
            raise BackendError(f"the Ray job book at {self.address} failed to {what}: "
                               f"{str(exc).strip().splitlines()[-1]}") from exc

    def _artifact_root(self) -> str:
        root = str(getattr(self.store.artifacts, "root", ""))
        if not root:
            raise BackendError("the Ray backend needs an artifact store with a root the workers can reach")
        return root if "://" in root else str(Path(root).resolve())

    # -- checks, dry runs and cost ----------------------------------------------------------------------
    def _check(self, plan: Plan) -> list[str]:
        """A malformed address, bad resources, or ``backend.steps`` naming no step of the plan."""
        return self.validate_requests(self.render_requests(plan))

    def render_requests(self, plan: Plan) -> list[dict[str, Any]]:
        """Where each step runs and what it reserves, without connecting to anything.

        Args:
            plan: the compiled plan.

        Returns:
            ``[{"step", "operation", "request"}]`` in run order: ``ray.remote`` with the task's
            name, address and resources, or ``in-process`` for control steps.
        """
        out: list[dict[str, Any]] = []
        for step in plan.ordered():
            if step.placement == "control":
                out.append({"step": step.id, "operation": "in-process",
                            "request": {"placement": "control: runs in the tesla process that drives the plan"}})
                continue
            inputs = {name: ref.sha256 if ref.step is None else f"{{{ref.step}.{ref.output}}}"
                      for name, ref in step.inputs.items()}
            out.append({"step": step.id, "operation": "ray.remote", "request": {
                "placement": f"a Ray task on the cluster at {self.address}",
                "address": self.address, "namespace": self.namespace,
                "name": f"tesla-{plan.fingerprint[:12]}-{step.id}", "resources": step_resources(self.settings, step),
                "max_retries": 0, "inputs": inputs, "outputs": list(step.outputs)}})
        return out

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[str]:
        """Problems of rendered requests: the address's form, negative or unschedulable resources, unknown step keys.

        Args:
            requests: what ``render_requests`` returned.

        Returns:
            One message per problem naming the key.
        """
        problems = [p for p in [_address_problem(self.address)] if p]
        for item in requests:
            if item["operation"] == "ray.remote":
                problems += [f"step '{item['step']}': {p}" for p in
                             _resource_problems("backend", item["request"]["resources"])]
        return problems + self._unknown_step_keys(requests)

    def _unknown_step_keys(self, requests: list[dict[str, Any]]) -> list[str]:
        import dataclasses
        import difflib

        from tesla.steps import STEP_KINDS

        known = sorted({item["step"] for item in requests} | set(STEP_KINDS))
        fields = [f.name for f in dataclasses.fields(RayResources)]
        problems = []
        for key, value in (self.settings.get("steps") or {}).items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                problems.append(f"backend.steps.{key} names no step id or kind of this plan"
                                + (f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(known)}"))
            elif not isinstance(value, Mapping) or set(value) - set(fields):
                problems.append(f"backend.steps.{key} must map some of {', '.join(fields)} to numbers; got {value!r}")
            elif any(v is not None and (isinstance(v, bool) or not isinstance(v, int | float)) for v in value.values()):
                problems.append(f"backend.steps.{key}: every value must be a number or null; got {dict(value)!r}")
        return problems

    def estimate_cost(self, plan: Plan, prices: Mapping[str, float]) -> dict[str, Any]:
        """Not priced: the cluster is the team's own; each task is listed with what it reserves.

        Args:
            plan: the compiled plan.
            prices: unused unless the project prices ``ray-task`` in ``conf/prices.yaml``.

        Returns:
            ``CostEstimate.to_dict()`` with one line per non-control step.
        """
        hours = float(self.settings.get("max_runtime_s") or 0.0) / 3600.0
        lines = []
        for step in plan.ordered():
            if step.placement == "control":
                continue
            res = step_resources(self.settings, step)
            lines.append(CostLine(step=step.id, resource="ray-task", count=1, hours=round(hours, 4),
                                  usd_per_hour=prices.get("ray-task"),
                                  note=f"{res['num_cpus']:g} CPU, {res['num_gpus']:g} GPU on your own cluster"))
        return CostEstimate(backend=self.name, lines=tuple(lines), basis="your own cluster: not priced").to_dict()

    # -- steps ------------------------------------------------------------------------------------------
    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        """Hand the step to the job book, which starts its Ray task.

        Args:
            plan: the plan being run (sent with the task: a worker needs nothing else).
            step: the step to start.
            run_id: the Tesla run id.
            inputs: input name -> artifact sha256 in the shared store.
            emit: progress sink (the task's progress arrives through ``_poll_step``).

        Returns:
            A handle whose ``job_ref`` is the task's name, ``tesla-<run>-<step>``.
        """
        book = self._book(create=True)
        job = f"tesla-{run_id}-{step.id}"
        resources = step_resources(self.settings, step)
        self._call(f"start step '{step.id}'", book.submit.remote(
            job, {"run_id": run_id, "step": step.id, "plan": plan.name}, _ray_options(resources), plan.to_json(),
            step.id, self._artifact_root(), dict(inputs)))
        emit(Event("step_progress", step.id, {"job": job, "address": self.address, **resources}))
        return StepHandle(step=step, run_id=run_id, job_ref=job,
                          data={"book": book, "emit": emit, "seen": 0, "started": self.clock()})

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        """The task's state from the job book; its progress is re-emitted here as ``step_progress`` events."""
        status = self._call(f"read the state of {handle.job_ref}",
                            handle.data["book"].status.remote(handle.job_ref, handle.data["seen"]))
        if status is None:
            return StepState.FAILED, f"the Ray job book has no job {handle.job_ref} (was the cluster restarted?)"
        for data in status["progress"]:
            handle.data["emit"](Event("step_progress", handle.step.id, data))
        handle.data["seen"] = status["seen"]
        state = StepState(status["state"])
        limit = self.settings.get("max_runtime_s")
        if not state.done and limit and self.clock() - handle.data["started"] > float(limit):
            self.cancel(handle.job_ref or "")
            return StepState.FAILED, f"ran past backend.max_runtime_s={float(limit):g}; raise it or lower search.max_iter"
        return state, status["reason"]

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        """The outputs the task put into the shared store, as local paths of that store."""
        out = self._call(f"read the result of {handle.job_ref}", handle.data["book"].result.remote(handle.job_ref))
        missing = [name for name, sha in out["outputs"].items() if not _exists(self.store.artifacts, sha)]
        if missing:
            raise BackendError(f"job {handle.job_ref} stored {', '.join(missing)} where this process cannot read "
                               f"them: the Ray workers must share the artifact store ({self._artifact_root()}); "
                               "use a bucket or a filesystem mounted at the same path on every node",
                               step=handle.step.id, run_id=handle.run_id)
        return StepOutcome(outputs={n: self.store.artifacts.path(s) for n, s in out["outputs"].items()},
                           result=out["result"])

    def _interrupt_step(self, handle: StepHandle) -> None:
        """On Ctrl-C the task is cancelled too: the book would otherwise keep it running."""
        if handle.job_ref:
            self.cancel(handle.job_ref)

    # -- jobs ---------------------------------------------------------------------------------------------
    def _known_book(self, job_ref: str) -> Any:
        book = self._book(create=False)
        if book is None:
            raise BackendError(f"no Tesla jobs on the Ray cluster at {self.address} (namespace "
                               f"'{self.namespace}'), so no job '{job_ref}'; see `tesla jobs list backend=ray`")
        return book

    def _unknown(self, job_ref: str) -> BackendError:
        return BackendError(f"the Ray cluster at {self.address} has no Tesla job '{job_ref}'; see "
                            "`tesla jobs list backend=ray`", key=job_ref)

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Step tasks Tesla started on the cluster, newest first.

        Args:
            limit: at most this many.

        Returns:
            ``{"job", "run_id", "step", "state", "provider_state", "created"}`` per job.
        """
        book = self._book(create=False)
        return [] if book is None else self._call("list jobs", book.list.remote(limit))

    def job_status(self, job_ref: str) -> dict[str, Any]:
        """One job's state, failure reason, node, worker pid, resources and times.

        Args:
            job_ref: the job name (``tesla-<run>-<step>``).

        Returns:
            ``{"job", "state", "provider_state", "reason", "node", "pid", "resources", "created", "ended"}``.
        """
        status = self._call(f"read the state of {job_ref}", self._known_book(job_ref).status.remote(job_ref, 0))
        if status is None:
            raise self._unknown(job_ref)
        return {"job": job_ref, "state": status["state"], "provider_state": status["state"],
                "reason": status["reason"], "run_id": status["run_id"], "step": status["step"],
                "node": status["node"], "pid": status["pid"], "resources": status["resources"],
                "created": _utc(status["created"]), "ended": _utc(status["ended"])}

    def job_logs(self, job_ref: str) -> str:
        """What the step printed (its progress lines and its error), as the job book collected it.

        Args:
            job_ref: the job name.

        Returns:
            The log text; empty when the task has not printed yet.
        """
        lines = self._call(f"read the logs of {job_ref}", self._known_book(job_ref).logs.remote(job_ref))
        if lines is None:
            raise self._unknown(job_ref)
        return "\n".join(lines) + ("\n" if lines else "")

    def cancel(self, job_ref: str) -> None:
        """Cancel a step's task (its worker is stopped); the job stays in the book as cancelled.

        Args:
            job_ref: the job name (see ``tesla jobs list``).
        """
        if not self._call(f"cancel {job_ref}", self._known_book(job_ref).cancel.remote(job_ref)):
            raise self._unknown(job_ref)


def _exists(artifacts: Any, sha: str) -> bool:
    exists = getattr(artifacts, "exists", None)
    return bool(exists(sha)) if exists is not None else True


def _utc(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)) if stamp else ""
