"""Jobs: the long service calls (load, train, sweep, replay, evaluate, deploy, rollback, monitor) run in worker processes.

``project.jobs.submit("training.train", {"model": "iris-clf", "max_iter": 20})`` checks the kind and
its parameters at once (a mistake is refused before anything is queued), records a ``queued`` job
in the store and starts a worker for it: ``python -m tesla.server.worker ROOT JOB_ID``, a process
of its own (its own session, its output in ``.tesla/jobs/<id>.log``) that calls::

    getattr(getattr(Project(root, user=job.created_by), service), method)(**params, on_event=sink)

and records every progress event, then the result (``tesla.wire.encode``) or the error. So a job
survives the server that started it, a crash in it cannot take the server down, and ``cancel`` is
real: SIGTERM to the worker's process group, which the worker turns into a clean stop (its run is
recorded ``interrupted``, the job ``cancelled``). At most ``$TESLA_JOB_WORKERS`` (default 2) jobs
run at once; the rest wait ``queued`` and start as workers finish (a finishing worker starts the
next one, the server's keeper checks every second). A job whose worker died (``kill -9``, a reboot)
is ``interrupted``: submit it again; training is cached by fingerprint, so that is cheap.
"""

from __future__ import annotations

import _thread
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
import traceback
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.errors import ConfigError, DataNotFoundError, TeslaError, did_you_mean
from tesla.execution import Event
from tesla.services._common import input_file, parse_model_ref, train_overrides
from tesla.store.jobs import STATUSES, TERMINAL, Job, JobEvent, JobStore
from tesla.store.recovery import Owner
from tesla.wire import encode, error_body

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["KINDS", "STATUSES", "TERMINAL", "WORKERS_ENV", "WORKER_MODULE", "Job", "JobEvent", "JobService",
           "worker_limit"]

KINDS = ("data.load", "training.train", "training.sweep", "training.replay", "evaluation.evaluate",
         "deployments.deploy", "deployments.rollback", "monitoring.monitor")
WORKER_MODULE = "tesla.server.worker"  # the worker's entry point (python -m)
WORKERS_ENV = "TESLA_JOB_WORKERS"  # how many jobs may run at once (default 2)
_CALLBACKS = ("on_event", "progress")  # the sink the worker passes, not a parameter a caller sets
_INTERNAL = ("parent_id",)  # set by the services themselves (a sweep's points), never by a job
_INTERRUPTED = {"type": "Interrupted", "key": "job",
                "message": "the worker running this job stopped before it finished (killed, or the machine "
                           "restarted); submit it again (training steps already done are cached)"}
_children: list[subprocess.Popen[bytes]] = []  # workers this process spawned, reaped as they end
_stopping = {"asked": False}  # in a worker: SIGTERM came (a C callback may have swallowed its KeyboardInterrupt)


def worker_limit() -> int:
    """How many jobs may run at once: ``$TESLA_JOB_WORKERS``, default 2."""
    raw = os.environ.get(WORKERS_ENV, "2").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{WORKERS_ENV}={raw!r} is not a whole number of workers (1 or more); unset it for 2",
                          key=WORKERS_ENV)
    return int(raw)


class JobService:
    """The project's jobs: submit, look, follow, cancel; and, in a worker, run one."""

    def __init__(self, project: Project) -> None:
        self.project = project

    @property
    def _jobs(self) -> JobStore:
        return JobStore(self.project.store.engine, encode)

    # -- what a client calls ------------------------------------------------------------------------------
    def submit(self, kind: str, params: Mapping[str, Any] | None = None) -> Job:
        """Queue ``kind`` (``"<service>.<method>"``) with ``params`` (its keyword arguments as JSON) and start it.

        Raises:
            ConfigError: an unknown kind, an unknown, missing or mistyped parameter.
            TeslaError: what the call would refuse at once (a config that does not compose, an unknown
                model or dataset, a missing file), as the service would raise it.
        """
        params = dict(params or {})
        _check_params(kind, _method(self.project, kind), params)
        _PRECHECKS[kind](self.project, params)
        job = self._jobs.create(kind, params, self.project.user)
        self.dispatch()
        return self.get(job.id)

    def get(self, job_id: str) -> Job:
        """The job ``job_id``.

        Raises:
            DataNotFoundError: there is no such job.
        """
        job = self._jobs.get(job_id)
        if job is None:
            raise DataNotFoundError(f"no job '{job_id}' in this project; see `GET /jobs` for the jobs", key="job")
        return job

    def list(self, *, status: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs newest first (only those with ``status``, when given)."""
        if status is not None and status not in STATUSES:
            raise ConfigError(f"unknown job status '{status}'; one of {', '.join(STATUSES)}.{did_you_mean(status, STATUSES)}",
                              key="status")
        return self._jobs.list(status=status, limit=limit)

    def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        """The job's events after ``seq`` ``after``, in order (the last one of a finished job is its ``status``)."""
        self.get(job_id)
        return self._jobs.events(job_id, after)

    def logs(self, job_id: str) -> str:
        """What the job's worker wrote (progress lines, warnings, the traceback of a bug)."""
        self.get(job_id)
        path = self.log_path(job_id)
        return path.read_text(errors="replace") if path.is_file() else ""

    def log_path(self, job_id: str) -> Path:
        return self.project.store.state_dir / "jobs" / f"{job_id}.log"

    def cancel(self, job_id: str, *, grace_s: float = 10.0) -> Job:
        """Stop a job: a queued one never starts; a running one's worker gets SIGTERM and stops cleanly.

        Returns once the job has ended (a finished job is returned as it is). A worker that has not
        stopped ``grace_s`` seconds after SIGTERM is killed, and its runs are recorded interrupted.
        """
        jobs = self._jobs
        job = self.get(job_id)
        if job.done:
            return job
        jobs.request_cancel(job_id)
        if jobs.transition(job_id, "cancelled", from_=("queued",)) is None:
            self._stop_worker(job_id, grace_s)
        return self.get(job_id)

    def _stop_worker(self, job_id: str, grace_s: float) -> None:
        jobs = self._jobs
        owner = jobs.owner(job_id)
        if owner is not None and owner.alive():
            _signal_group(owner, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while not self.get(job_id).done and owner is not None and owner.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.get(job_id).done:
            if owner is not None:
                _reap(owner.pid)
            return
        if owner is not None and owner.alive():
            _signal_group(owner, signal.SIGKILL)
            _reap(owner.pid)
        self._settle_runs(job_id)
        jobs.transition(job_id, "cancelled", from_=("running",))

    # -- keeping jobs going (the server's keeper, and every finishing worker) --------------------------------
    def recover(self) -> list[Job]:
        """Jobs ``running`` whose worker is gone (killed, or the machine restarted) become ``interrupted``."""
        jobs, settled = self._jobs, []
        for job in jobs.list(status="running", limit=None):
            owner = jobs.owner(job.id)
            if owner is not None and owner.alive():
                continue
            self._settle_runs(job.id)
            moved = jobs.transition(job.id, "interrupted", from_=("running",), error=_INTERRUPTED)
            settled += [moved] if moved else []
        return settled

    def dispatch(self) -> list[str]:
        """Start a worker for each queued job that has none, while fewer than ``worker_limit()`` run."""
        _reap()
        jobs = self._jobs
        queued = jobs.queued()
        starting = sum(1 for _, owner in queued if owner is not None and owner.alive())
        free = worker_limit() - jobs.count("running") - starting
        started = []
        for job, owner in queued:
            if free <= 0:
                break
            if owner is not None and owner.alive():
                continue  # its worker is starting
            jobs.mark_spawned(job.id, self._spawn(job.id))
            started.append(job.id)
            free -= 1
        return started

    def _spawn(self, job_id: str) -> Owner:
        log = self.log_path(job_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, str(self.project.root), job_id],
                                    cwd=self.project.root, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,  # outlives the server
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        _children.append(proc)
        return Owner(Owner.me().host, proc.pid, "")  # its start time is recorded when it claims the job

    # -- the worker -----------------------------------------------------------------------------------------
    def run(self, job_id: str) -> Job | None:
        """Run a queued job in this process (the worker's body); ``None`` if it was not this process's to run.

        SIGTERM stops the call (as Ctrl-C would): the job ends ``cancelled`` when cancel was asked
        for, ``interrupted`` otherwise. The next queued job is started before this returns.
        """
        jobs = self._jobs
        job = jobs.claim(job_id, Owner.me(), limit=worker_limit())
        if job is None:
            return None
        try:
            return self._call(job)
        finally:
            self.dispatch()

    def _call(self, job: Job) -> Job | None:
        jobs = self._jobs
        session = type(self.project)(self.project.root, user=job.created_by)
        method = _method(session, job.kind)
        kwargs = {**job.params, **_sink(jobs, job.id, inspect.signature(method).parameters)}
        running = ("running",)
        try:
            with _terminate_interrupts():
                value = method(**kwargs)
            return jobs.transition(job.id, "succeeded", from_=running, result=encode(value))
        except KeyboardInterrupt:
            self._settle_runs(job.id)
            if jobs.cancel_requested(job.id):
                print(f"job {job.id} cancelled", flush=True)
                return jobs.transition(job.id, "cancelled", from_=running)
            return jobs.transition(job.id, "interrupted", from_=running, error=_INTERRUPTED)
        except TeslaError as exc:
            print(f"Error: {exc}", flush=True)
            if self._cancelled_mid_call(job.id):
                return jobs.transition(job.id, "cancelled", from_=running)
            return jobs.transition(job.id, "failed", from_=running, error=error_body(exc)["error"])
        except Exception as exc:  # a bug, not a mistake: the job must still end, and the log shows where
            traceback.print_exc()
            sys.stdout.flush()
            if self._cancelled_mid_call(job.id):
                return jobs.transition(job.id, "cancelled", from_=running)
            return jobs.transition(job.id, "failed", from_=running, error={
                "type": "InternalError", "key": "job", "message": f"unexpected {type(exc).__name__}: {exc}"})

    def _cancelled_mid_call(self, job_id: str) -> bool:
        """Whether an error ending the call came from a cancel: SIGTERM arrived and cancel was asked. The
        interrupt can land inside a library (a FLAML or LightGBM callback) that raises its own error for it, or
        in a step the backend then reports failed; the job was still stopped by its cancel, not by a fault."""
        if not (_stopping["asked"] and self._jobs.cancel_requested(job_id)):
            return False
        self._settle_runs(job_id, stopped=True)
        print(f"job {job_id} cancelled (the stop surfaced as the error above)", flush=True)
        return True

    def _settle_runs(self, job_id: str, *, stopped: bool = False) -> None:
        """The runs a stopped job started are ``interrupted``, not left ``running`` or called ``failed``
        (``stopped``: the cancel surfaced as an error, so a run failed with a message was stopped too)."""
        from tesla.store.recovery import _settle_runs

        store = self.project.store
        _settle_runs(store)  # a killed worker's runs and steps, by their dead leases (as Store.open would)
        run_ids = [e.data["data"]["run_id"] for e in self._jobs.events(job_id)
                   if e.kind == "event" and e.data.get("kind") == "run_started"]
        for run_id in run_ids:
            run = store.run(run_id)
            # the backend records a run stopped by SIGTERM (KeyboardInterrupt) as failed with no message
            if run.status == "running" or (run.status == "failed" and (stopped or not run.error)):
                store.finish_run(run_id, "interrupted", error="interrupted: its job was stopped; submit it again")


def _method(project: Project, kind: str) -> Callable[..., Any]:
    if kind not in KINDS:
        raise ConfigError(f"unknown job kind '{kind}'; one of {', '.join(KINDS)}.{did_you_mean(kind, KINDS)}",
                          key="kind")
    service, name = kind.split(".")
    return getattr(getattr(project, service), name)


def _sink(jobs: JobStore, job_id: str, parameters: Mapping[str, inspect.Parameter]) -> dict[str, Any]:
    """The callback keyword the method takes: ``on_event`` (plan events) or ``progress`` (text lines)."""
    if "on_event" in parameters:
        def on_event(event: Event) -> None:
            if _stopping["asked"] and event.kind == "step_progress":
                # SIGTERM's KeyboardInterrupt was swallowed (it landed in a C library's callback) and the
                # search goes on: interrupt the main thread again (progress may come from another thread)
                _thread.interrupt_main()
            data = encode(event)
            progress = {"step": event.step, **data["data"]} if event.kind == "step_progress" else None
            jobs.append(job_id, "event", data, progress=progress)
            if event.kind != "step_progress":
                print(f"{event.kind} {event.step or ''} {data['data']}".rstrip(), flush=True)

        return {"on_event": on_event}
    if "progress" in parameters:
        def progress(text: str) -> None:
            jobs.append(job_id, "message", {"text": text}, progress={"text": text})
            print(text, flush=True)

        return {"progress": progress}
    return {}


@contextlib.contextmanager
def _terminate_interrupts() -> Iterator[None]:
    """Within: SIGTERM raises KeyboardInterrupt (the backends' clean stop). After: it is ignored, so a cancel
    that comes too late cannot break the recording of the result."""
    def interrupt(_signum: int, _frame: Any) -> None:
        _stopping["asked"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _reap(pid: int | None = None) -> None:
    """Collect the exit of workers this process spawned (``pid``: wait for that one), so none stays a zombie."""
    for proc in list(_children):
        if proc.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if proc.poll() is not None:
            _children.remove(proc)


def _signal_group(owner: Owner, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(owner.pid, sig)  # the worker leads its own session: this reaches its children too


# -- checking a submission --------------------------------------------------------------------------------
def _check_params(kind: str, method: Callable[..., Any], params: Mapping[str, Any]) -> None:
    parameters = {name: p for name, p in inspect.signature(method).parameters.items()
                  if name not in _CALLBACKS + _INTERNAL and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    for name in params:
        if name not in parameters:
            raise ConfigError(f"{kind} takes no parameter '{name}'; it takes {', '.join(parameters)}."
                              f"{did_you_mean(name, parameters)}", key=f"params.{name}")
    hints = _hints(method)
    for name, parameter in parameters.items():
        if name not in params:
            if parameter.default is parameter.empty:
                raise ConfigError(f"{kind} needs the parameter '{name}' ({_describe(hints.get(name, Any))})",
                                  key=f"params.{name}")
            continue
        hint = hints.get(name, Any)
        if not _fits(hint, params[name]):
            raise ConfigError(f"{kind} parameter '{name}' must be {_describe(hint)}, not "
                              f"{type(params[name]).__name__} {params[name]!r:.60}", key=f"params.{name}")


def _hints(method: Callable[..., Any]) -> dict[str, Any]:
    """The method's parameter annotations, resolved one by one (a name imported only for type checkers
    stays unchecked rather than breaking the submit)."""
    namespace = vars(sys.modules[method.__module__])
    hints = {}
    for name, annotation in getattr(method, "__annotations__", {}).items():
        try:
            hints[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307
        except Exception:  # noqa: BLE001 - unresolvable: accept any value for it
            hints[name] = Any
    return hints


def _fits(hint: Any, value: Any) -> bool:
    """Whether the JSON ``value`` can be the argument ``hint`` annotates (paths arrive as strings)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str or hint is os.PathLike or origin is os.PathLike:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence) or hint in (list, tuple, Sequence):
        return isinstance(value, list) and all(_fits(args[0] if args else Any, v) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, dict)
    return True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(arms)) + (" or null" if type(None) in args else "")
    if origin in (list, tuple, Sequence):
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", os.PathLike: "a string"}
    return names.get(hint, names.get(origin, "a JSON value") if origin else "a JSON value")


# what each kind would refuse at once, checked before the job is queued (the call itself checks again)
def _check_train(project: Project, p: Mapping[str, Any]) -> None:
    project.training.compile_plan(p.get("model"), framework=p.get("framework"), max_iter=p.get("max_iter"),
                                  overrides=p.get("overrides", ()))


def _check_sweep(project: Project, p: Mapping[str, Any]) -> None:
    from tesla.config.sweep import sweep_setup
    from tesla.services._common import backend_schemas

    sweep_setup(train_overrides(p.get("model"), p.get("framework"), p.get("max_iter"), p.get("overrides", ())),
                project_dir=project.root, backend_schemas=backend_schemas())


def _check_evaluate(project: Project, p: Mapping[str, Any]) -> None:
    project.training.resolve_model(p["model"])
    input_file(p["data"], "evaluation data")  # the words evaluate itself uses, so both transports say the same
    project.config(p.get("overrides", ()))


def _check_deploy(project: Project, p: Mapping[str, Any]) -> None:
    if "model" in p:
        project.training.resolve_model(p["model"])
    project.config([f"deploy={p.get('profile', 'production')}", *p.get("overrides", ())])


def _check_monitor(project: Project, p: Mapping[str, Any]) -> None:
    name, version = parse_model_ref(p["model"])
    project.store.model(name, version)
    project.config(p.get("overrides", ()))


def check_server_fetch(project: Project, data: Any, sql: str | None) -> bool:
    """Whether a load the server runs for a caller fetches its source itself (a URL, or a SQL query); if so,
    with users on, the caller must be an admin: the server would open any URL or database it can reach
    (``sqlite:///any/file``, ``file://...``) with its own rights.

    Raises:
        PermissionDenied: it does, and the caller is not an admin.
    """
    if sql is None and not (data is not None and "://" in str(data)):
        return False
    users = project.users
    if users.auth_required():
        users.authorize(users.get(project.user or ""), "admin", "a load the server fetches itself (a URL or --sql)")
    return True


def _check_load(project: Project, p: Mapping[str, Any]) -> None:
    if not check_server_fetch(project, p.get("data"), p.get("sql")):
        input_file(p["data"])  # an uploaded file, or one in the server's project


def _check_replay(project: Project, p: Mapping[str, Any]) -> None:
    project.training.resolve_model(p["model"])


_PRECHECKS: dict[str, Callable[[Project, Mapping[str, Any]], None]] = {
    "data.load": _check_load,
    "training.train": _check_train,
    "training.sweep": _check_sweep,
    "training.replay": _check_replay,
    "evaluation.evaluate": _check_evaluate,
    "deployments.deploy": _check_deploy,
    "deployments.rollback": _check_deploy,
    "monitoring.monitor": _check_monitor,
}
