"""The ``Backend`` base class, the step-runner role: it owns checks, caching, recording and the one wait loop.

A backend implements three hooks (``_start_step``, ``_poll_step``, ``_collect_step``) and
optionally ``_interrupt_step`` (what to do with a started step when the wait is interrupted,
e.g. stop the provider job) and ``_check``. ``run`` drives a plan step by step in dependency
order: a step whose fingerprint already succeeded (and whose outputs still exist) is
skipped; control steps (``placement == "control"``) always run here, in-process.

The other roles (dry runs and pricing, job admin, model hosting) are in
``tesla.execution.roles``; a backend inherits those it plays, and its ``capabilities``
follow from them. The store is reached only through ``RunRecorder``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tesla.errors import BackendError, NotSupportedError, StepFailedError, TeslaError
from tesla.execution.recorder import RunRecorder
from tesla.execution.registry import BackendSpec
from tesla.execution.roles import Capabilities, Role
from tesla.plan import Plan, Step
from tesla.steps import StepContext, run_step
from tesla.store.faults import fault_point
from tesla.store.recovery import SCRATCH_DIR

__all__ = ["Backend", "Event", "RunResult", "StepHandle", "StepOutcome", "StepState"]

EventSink = Callable[["Event"], None]
R = TypeVar("R", bound=Role)


class StepState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self in {StepState.SUCCEEDED, StepState.FAILED, StepState.CANCELLED}


@dataclass(frozen=True)
class Event:
    """Something a user may want to see while a plan runs (rendered by the CLI)."""

    kind: str  # run_started | step_cached | step_started | step_progress | step_finished | step_failed | run_finished
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepHandle:
    """A started step; ``data`` is private to the backend (job names, futures...)."""

    step: Step
    run_id: str
    job_ref: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutcome:
    """What a finished step produced: local paths of its outputs and its small JSON result."""

    outputs: dict[str, Path]
    result: dict[str, Any]


@dataclass
class RunResult:
    """The outcome of ``Backend.run``."""

    run_id: str
    plan: Plan
    status: str
    steps: dict[str, dict[str, Any]]  # step id -> {"status", "outputs" (name -> sha), "result"}

    def output(self, step_id: str, name: str) -> str:
        return self.steps[step_id]["outputs"][name]

    def result(self, step_id: str) -> dict[str, Any]:
        return self.steps[step_id]["result"]


class Backend(ABC):
    """Runs plans (the step-runner role). Subclasses place steps; this class owns everything else.

    Args:
        settings: the plan's ``backend`` mapping (plain JSON).
        store: where runs are recorded (cache lookups, run and step records, artifacts); the
            project's ``Store``, seen through the ``RunRecorder`` protocol.
        clock: monotonic clock, injectable so tests of the wait loop need not sleep.
        sleep: sleep function, injectable likewise.
    """

    spec: ClassVar[BackendSpec]
    capabilities: ClassVar[Capabilities] = Capabilities()  # derived from the roles a subclass inherits
    poll_initial_s: ClassVar[float] = 1.0
    poll_max_s: ClassVar[float] = 30.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.capabilities = Capabilities.of(cls)

    def __init__(self, settings: Mapping[str, Any], store: RunRecorder, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = dict(settings)
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self._scratch_root: Path | None = None  # the running step's scratch directory (set by run)
        self._scratch: list[Path] = []  # the running step's work directories, removed once it is stored

    @property
    def name(self) -> str:
        return self.spec.name

    def role(self, role: type[R], what: str | None = None) -> R:
        """This backend as ``role``, or ``NotSupportedError`` when it does not play it.

        Args:
            role: a role class from ``tesla.execution.roles`` (``DryRun``, ``JobAdmin``, ``ModelHosting``).
            what: what the caller wanted, for the message (default: the role's name).

        Raises:
            NotSupportedError: "<what> is not supported by the '<name>' backend".
        """
        if isinstance(self, role):
            return self
        raise NotSupportedError(f"{what or role.what} is not supported by the '{self.name}' backend")

    # -- public API -----------------------------------------------------------
    def check(self, plan: Plan) -> list[str]:
        """Problems that would stop ``plan`` from running here (empty when it can run).

        Args:
            plan: the compiled plan.

        Returns:
            One message per problem, each naming the step or setting and the fix.
        """
        from tesla.steps import STEP_KINDS

        problems = [f"step '{s.id}' has unknown kind '{s.kind}'; known: {', '.join(sorted(STEP_KINDS))}"
                    for s in plan.steps if s.kind not in STEP_KINDS]
        return problems + self._check(plan)

    def run(self, plan: Plan, *, force: bool = False, on_event: EventSink | None = None,
            parent_id: str | None = None, timeout_s: float | None = None) -> RunResult:
        """Run ``plan`` to completion, skipping steps whose fingerprint already succeeded.

        Args:
            plan: the compiled plan.
            force: run every step even when a cached result exists.
            on_event: receives progress events.
            parent_id: the sweep this run belongs to.
            timeout_s: give up waiting for one step after this long.

        Returns:
            The run id, status and each step's outputs and result.

        Raises:
            BackendError: the plan cannot run on this backend.
            StepFailedError: a step failed; ``step`` names it.
        """
        emit = on_event or (lambda _e: None)
        problems = self.check(plan)
        if problems:
            raise BackendError(f"plan '{plan.name}' cannot run on the '{self.name}' backend: "
                               + "; ".join(problems))
        run_id = self.store.create_run(plan_name=plan.name, plan_fingerprint=plan.fingerprint,
                                       backend=self.name, plan_json=plan.to_json(),
                                       meta=plan.meta, parent_id=parent_id)
        fault_point("train.after_run_row")
        emit(Event("run_started", data={"run_id": run_id, "plan": plan.name}))
        done: dict[str, dict[str, Any]] = {}
        try:
            for step in plan.ordered():
                done[step.id] = self._run_one(plan, step, run_id, done, force, emit, timeout_s)
        except BaseException as exc:
            self.store.finish_run(run_id, "failed", error=str(exc))
            emit(Event("run_finished", data={"run_id": run_id, "status": "failed"}))
            raise
        finally:
            shutil.rmtree(self.store.scratch_dir(run_id), ignore_errors=True)
        fault_point("train.before_run_finished")
        self.store.finish_run(run_id, "succeeded")
        emit(Event("run_finished", data={"run_id": run_id, "status": "succeeded"}))
        return RunResult(run_id=run_id, plan=plan, status="succeeded", steps=done)

    # -- the run loop ---------------------------------------------------------
    def _run_one(self, plan: Plan, step: Step, run_id: str, done: Mapping[str, dict[str, Any]],
                 force: bool, emit: EventSink, timeout_s: float | None) -> dict[str, Any]:
        cached = None if force else self.store.completed_step(step.fingerprint)
        if cached is not None:
            self.store.record_step(run_id, step, status="cached", outputs=cached.outputs,
                                   result=cached.result, seconds=0.0)
            emit(Event("step_cached", step.id, {"from_run": cached.run_id}))
            return {"status": "cached", "outputs": cached.outputs, "result": cached.result}
        emit(Event("step_started", step.id, {"kind": step.kind, "reason": self._miss_reason(plan, step, force)}))
        inputs = {name: (ref.sha256 if ref.step is None else done[ref.step]["outputs"][ref.output])
                  for name, ref in step.inputs.items()}
        started = self.clock()
        self.store.record_step(run_id, step, status="running")
        fault_point("train.step_running")
        self._scratch_root = self.store.scratch_dir(run_id)
        try:
            outcome, job_ref = self._execute(plan, step, run_id, inputs, emit, timeout_s)
            fault_point("train.step_outputs")
            shas = {name: self.store.artifacts.put(path) for name, path in outcome.outputs.items()}
            fault_point("train.step_stored")
        except BaseException as exc:
            self.store.record_step(run_id, step, status="failed", error=str(exc),
                                   seconds=self.clock() - started)
            emit(Event("step_failed", step.id, {"error": str(exc)}))
            if isinstance(exc, TeslaError):
                exc.step = exc.step or step.id
                exc.run_id = exc.run_id or run_id
                raise  # already says what is wrong and how to fix it
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise StepFailedError(f"step '{step.id}' ({step.kind}) failed: {exc}", step=step.id,
                                  run_id=run_id) from exc
        finally:
            for path in self._scratch:
                shutil.rmtree(path, ignore_errors=True)
            self._scratch = []
        seconds = self.clock() - started
        if "trials" in shas:  # before the step counts as succeeded: a succeeded search always has its trials
            trials = json.loads(Path(self.store.artifacts.path(shas["trials"])).read_text())
            self.store.add_trials(run_id, step.id, trials)
        self.store.record_step(run_id, step, status="succeeded", outputs=shas, result=outcome.result,
                               seconds=seconds, job_ref=job_ref)
        fault_point("train.step_recorded")
        emit(Event("step_finished", step.id, {"seconds": seconds, "result": outcome.result}))
        return {"status": "succeeded", "outputs": shas, "result": outcome.result}

    def _execute(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                 emit: EventSink, timeout_s: float | None) -> tuple[StepOutcome, str | None]:
        if step.placement == "control":
            return self.run_in_process(step, inputs, emit), None
        handle = self._start_step(plan, step, run_id, inputs, emit)
        state, message = self.wait(handle, timeout_s=timeout_s)
        if state is not StepState.SUCCEEDED:
            raise StepFailedError(f"step '{step.id}' {state.value}"
                                  + (f": {message}" if message else "")
                                  + (f" (job {handle.job_ref})" if handle.job_ref else ""),
                                  step=step.id, run_id=run_id)
        return self._collect_step(handle), handle.job_ref

    def wait(self, handle: StepHandle, *, timeout_s: float | None = None) -> tuple[StepState, str | None]:
        """Poll a started step until it ends, with capped exponential backoff.

        The one wait loop: implementers do not override it. When the wait is interrupted
        (Ctrl-C), ``_interrupt_step`` is given the handle first (best effort: a failure there
        never hides the interrupt).

        Args:
            handle: the started step.
            timeout_s: give up waiting after this long (the provider job keeps running).

        Returns:
            (state, reason) once the step ends.

        Raises:
            BackendError: the step did not end within ``timeout_s``.
        """
        try:
            return self._wait(handle, timeout_s)
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):  # interrupting must not hide the interrupt
                self._interrupt_step(handle)
            raise

    def _wait(self, handle: StepHandle, timeout_s: float | None) -> tuple[StepState, str | None]:
        deadline = None if timeout_s is None else self.clock() + timeout_s
        delay = self.poll_initial_s
        while True:
            state, message = self._poll_step(handle)
            if state.done:
                return state, message
            if deadline is not None and self.clock() >= deadline:
                raise BackendError(f"step '{handle.step.id}' still {state.value} after {timeout_s:.0f} s "
                                   f"(job {handle.job_ref}); see `tesla jobs status {handle.job_ref}`",
                                   step=handle.step.id, run_id=handle.run_id)
            self.sleep(delay)
            delay = min(delay * 2, self.poll_max_s)

    def run_in_process(self, step: Step, inputs: Mapping[str, str], emit: EventSink) -> StepOutcome:
        """Run a step body here, reading inputs from the store; used by local and control steps."""
        workdir = self._workdir(f"{step.id}-")
        ctx = StepContext(step=step, inputs={k: self.store.artifacts.path(v) for k, v in inputs.items()},
                          outdir=workdir,
                          progress=lambda data: emit(Event("step_progress", step.id, data)))
        result = run_step(ctx)
        return StepOutcome(outputs={name: workdir / name for name in step.outputs}, result=result)

    def _workdir(self, prefix: str, under: Path | None = None) -> Path:
        """A fresh directory for a step's outputs, removed once they are stored (or the step failed).

        Args:
            prefix: the directory name's start (the step id, say).
            under: where to make it; default the run's scratch directory.
        """
        root = under or self._scratch_root or self.store.state_dir / SCRATCH_DIR / "_"
        root.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
        self._scratch.append(workdir)
        return workdir

    def _miss_reason(self, plan: Plan, step: Step, force: bool) -> str:
        if force:
            return "--force"
        previous = self.store.previous_step_params(plan.name, step.id)
        if previous is None:
            return "never run"
        changed = sorted(k for k in set(previous) | set(step.params)
                         if previous.get(k) != step.params.get(k))
        if changed:
            parts = [f"{step.id}.{k}: {previous.get(k)!r} -> {step.params.get(k)!r}" for k in changed[:3]]
            return "changed " + ", ".join(parts)
        return "an upstream step or input changed"

    # -- hooks for implementers -------------------------------------------------
    def _check(self, plan: Plan) -> list[str]:
        """Backend-specific problems with ``plan``; default none."""
        return []

    @abstractmethod
    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        """Start ``step``; ``inputs`` maps input names to artifact shas in ``self.store``."""

    @abstractmethod
    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        """The step's state and, when it failed, the provider's reason."""

    @abstractmethod
    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        """Fetch a succeeded step's outputs to local paths."""

    def _interrupt_step(self, handle: StepHandle) -> None:
        """The wait for ``handle`` was interrupted (Ctrl-C); e.g. stop its provider job. Default: nothing."""
