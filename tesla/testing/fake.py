"""``FakeBackend``: a backend for testing app code and the base class's run loop.

Steps run in this process like the local backend, but report ``pending`` then
``running`` for a configurable number of polls first (so the wait loop really waits), and a
step can be made to fail with a provider-style reason. It plays the job-admin role (its jobs
can be listed, inspected and cancelled; an interrupted wait cancels the job) but not dry
runs or model hosting. Use it with a fake clock::

    backend = FakeBackend({"name": "fake"}, store, clock=clock, sleep=clock.advance, polls=3)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tesla.execution import Backend, BackendSpec, JobAdmin, RunRecorder, StepHandle, StepOutcome, StepState
from tesla.execution.backend import EventSink
from tesla.plan import Plan, Step

__all__ = ["FAKE_SPEC", "FakeBackend", "FakeClock"]


@dataclass
class FakeConfig:
    name: str = "fake"


FAKE_SPEC = BackendSpec(name="fake", config_class=FakeConfig, implementation="tesla.testing.fake:FakeBackend",
                        description="in-process backend with provider-like job states, for tests")


@dataclass
class FakeClock:
    """A monotonic clock that only moves when ``advance`` is called (pass it as ``sleep``)."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeBackend(Backend, JobAdmin):
    """In-process steps with pending/running polls, failure injection and cancellation."""

    spec = FAKE_SPEC

    def __init__(self, settings: Mapping[str, Any], store: RunRecorder, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None, polls: int = 2,
                 fail: Mapping[str, str] | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = clock
        if sleep is not None:
            kwargs["sleep"] = sleep
        super().__init__(settings, store, **kwargs)
        self.polls = polls
        self.fail = dict(fail or {})  # step id -> failure reason
        self.jobs: dict[str, dict[str, Any]] = {}
        self.interrupted: list[str] = []  # job refs whose wait was interrupted, in order

    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        job = f"fake-{run_id}-{step.id}"
        self.jobs[job] = {"step": step.id, "run_id": run_id, "polls": 0, "state": StepState.PENDING}
        return StepHandle(step=step, run_id=run_id, job_ref=job, data={"inputs": dict(inputs), "emit": emit})

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        job = self.jobs[handle.job_ref or ""]
        if job["state"] is StepState.CANCELLED:
            return StepState.CANCELLED, "cancelled by the user"
        job["polls"] += 1
        if job["polls"] <= self.polls:
            job["state"] = StepState.PENDING if job["polls"] == 1 else StepState.RUNNING
            return job["state"], None
        if handle.step.id in self.fail:
            job["state"] = StepState.FAILED
            return StepState.FAILED, self.fail[handle.step.id]
        handle.data["outcome"] = self.run_in_process(handle.step, handle.data["inputs"], handle.data["emit"])
        job["state"] = StepState.SUCCEEDED
        return StepState.SUCCEEDED, None

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        return handle.data["outcome"]

    def _interrupt_step(self, handle: StepHandle) -> None:
        self.interrupted.append(handle.job_ref or "")
        if handle.job_ref:
            self.cancel(handle.job_ref)

    def cancel(self, job_ref: str) -> None:
        self.jobs[job_ref]["state"] = StepState.CANCELLED

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        return [{"job": k, "step": v["step"], "run_id": v["run_id"], "state": v["state"].value, "created": None}
                for k, v in list(self.jobs.items())[-limit:]]

    def job_status(self, job_ref: str) -> dict[str, Any]:
        job = self.jobs[job_ref]
        return {"job": job_ref, "state": job["state"].value, "provider_state": job["state"].name, "reason": None}

    def job_logs(self, job_ref: str) -> str:
        job = self.jobs[job_ref]
        return f"{job_ref}: step {job['step']} of run {job['run_id']} is {job['state'].value}\n"
