"""The Backend interface split by role: a step runner with three hooks (and an interrupt hook),
plus the optional roles dry run/pricing, job admin and model hosting; capabilities follow
from the roles a class inherits; execution records through the narrow RunRecorder protocol."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tesla.errors import NotSupportedError, StepFailedError
from tesla.execution import (
    Backend,
    BackendSpec,
    Capabilities,
    DryRun,
    JobAdmin,
    ModelHosting,
    RunRecorder,
    StepHandle,
    StepOutcome,
    StepState,
)
from tesla.execution.backend import EventSink
from tesla.plan import Plan, Step
from tesla.store import Store
from tesla.testing.contract import _dataset_csv, contract_plan
from tesla.testing.fake import FakeBackend, FakeClock
from tesla_backends.local._backend import LocalBackend
from tests.conftest import project_store


@dataclass
class _Config:
    name: str = "hooks"


class ThreeHooks(Backend):
    """A step runner that writes only the three hooks: start, poll, collect."""

    spec = BackendSpec(name="hooks", config_class=_Config, implementation="tests:ThreeHooks")

    def __init__(self, settings: Mapping[str, Any], store: RunRecorder, *, polls: int = 2) -> None:
        clock = FakeClock()
        super().__init__(settings, store, clock=clock, sleep=clock.advance)
        self.polls = polls
        self.calls: list[str] = []

    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        self.calls.append(f"start {step.id}")
        return StepHandle(step=step, run_id=run_id, job_ref=f"job-{step.id}",
                          data={"inputs": dict(inputs), "emit": emit, "polls": 0})

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        self.calls.append(f"poll {handle.step.id}")
        handle.data["polls"] += 1
        if handle.data["polls"] <= self.polls:
            return StepState.RUNNING, None
        return StepState.SUCCEEDED, None

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        self.calls.append(f"collect {handle.step.id}")
        return self.run_in_process(handle.step, handle.data["inputs"], handle.data["emit"])


class Priced(ThreeHooks, DryRun):
    def render_requests(self, plan: Plan) -> list[dict[str, Any]]:
        return [{"step": s.id, "operation": "Start", "request": {}} for s in plan.steps]

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[str]:
        return []

    def estimate_cost(self, plan: Plan, prices: Mapping[str, float]) -> dict[str, Any]:
        return {"usd": 1.0, "lines": []}


class NarrowRecorder:
    """Only what the RunRecorder protocol names, delegated to a real store: proves it is enough."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.artifacts = store.artifacts
        self.state_dir = store.state_dir
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        allowed = {"create_run", "record_step", "add_trials", "finish_run", "completed_step",
                   "previous_step_params", "scratch_dir"}
        if name not in allowed:
            raise AttributeError(f"the runner reached past RunRecorder for Store.{name}")
        self.calls.append(name)
        return getattr(self._store, name)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return project_store(tmp_path / "p")


def _plan(store: Store, tmp_path: Path, name: str = "hooks") -> Plan:
    return contract_plan(store.artifacts.put(_dataset_csv(tmp_path / "d.csv")), backend={"name": name})


# -- capabilities follow from roles ---------------------------------------------------------------------
def test_capabilities_are_derived_from_the_roles_a_class_inherits() -> None:
    assert ThreeHooks.capabilities == Capabilities()
    assert LocalBackend.capabilities == Capabilities(hosting=True)  # local model servers
    assert Priced.capabilities == Capabilities(dry_run=True)
    assert FakeBackend.capabilities == Capabilities(jobs=True)

    class Everything(Priced, JobAdmin, ModelHosting):  # never instantiated: abstract methods left
        pass

    assert Everything.capabilities == Capabilities(dry_run=True, jobs=True, hosting=True)


def test_cloud_backends_play_every_role() -> None:
    from tesla_backends.sagemaker._backend import SageMakerBackend
    from tesla_backends.vertex._backend import VertexBackend

    full = Capabilities(dry_run=True, jobs=True, hosting=True)
    assert SageMakerBackend.capabilities == full
    assert VertexBackend.capabilities == full


def test_capabilities_are_frozen_data() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FakeBackend.capabilities.hosting = True  # type: ignore[misc]


def test_a_backend_without_hosting_refuses_deploy_by_name(store: Store) -> None:
    backend = ThreeHooks({"name": "hooks"}, store)
    with pytest.raises(NotSupportedError, match=r"^deploying models is not supported by the 'hooks' backend$"):
        backend.role(ModelHosting)
    fake = FakeBackend({"name": "fake"}, store)
    assert fake.role(JobAdmin) is fake
    local = LocalBackend({"name": "local"}, store)
    assert local.role(ModelHosting) is local  # it serves models as local processes
    with pytest.raises(NotSupportedError, match=r"^cancelling jobs is not supported by the 'local' backend$"):
        local.role(JobAdmin, "cancelling jobs")


def test_the_deployments_service_asks_for_the_hosting_role(tmp_path: Path) -> None:
    from tesla import Project

    project = Project(project_store(tmp_path / "p").state_dir.parent)
    project.backend = lambda plain: FakeBackend(plain["backend"], project.store)  # type: ignore[method-assign]
    plain = {"backend": {"name": "fake"}, "deploy": {"target": "fake", "profile": "default"}}
    with pytest.raises(NotSupportedError, match=r"^deploying models is not supported by the 'fake' backend$"):
        project.deployments._hosting(plain, "fake")


# -- the step runner: three hooks are enough ------------------------------------------------------------
def test_a_runner_with_only_the_three_hooks_runs_a_plan_end_to_end(store: Store, tmp_path: Path) -> None:
    backend = ThreeHooks({"name": "hooks"}, store)
    plan = _plan(store, tmp_path)
    result = backend.run(plan)
    assert result.status == "succeeded"
    assert backend.calls == ["start load", "poll load", "poll load", "poll load", "collect load",
                             "start split", "poll split", "poll split", "poll split", "collect split"]
    assert backend.clock.sleeps == [1.0, 2.0, 1.0, 2.0]  # type: ignore[attr-defined]  # the base's backoff
    assert {r.step_id: r.status for r in store.run_steps(result.run_id)} == {"load": "succeeded",
                                                                                   "split": "succeeded"}
    assert {r.step_id: r.job_ref for r in store.run_steps(result.run_id)} == {"load": "job-load",
                                                                                    "split": "job-split"}
    again = backend.run(plan)  # the base owns caching too
    assert {s["status"] for s in again.steps.values()} == {"cached"}
    assert backend.calls.count("start load") == 1


def test_the_runner_records_only_through_the_recorder_protocol(store: Store, tmp_path: Path) -> None:
    assert isinstance(store, RunRecorder)
    recorder = NarrowRecorder(store)
    assert isinstance(recorder, RunRecorder)
    result = ThreeHooks({"name": "hooks"}, recorder).run(_plan(store, tmp_path))  # type: ignore[arg-type]
    assert result.status == "succeeded"
    assert {"create_run", "record_step", "finish_run", "completed_step"} <= set(recorder.calls)
    assert store.run(result.run_id).status == "succeeded"


# -- the interrupt hook -------------------------------------------------------------------------------------
def _interrupting(backend: FakeBackend, clock: FakeClock, after: int = 1) -> None:
    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if len(clock.sleeps) >= after:
            raise KeyboardInterrupt

    backend.sleep = sleep


def test_ctrl_c_calls_the_interrupt_hook_which_cancels_the_job(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, polls=5)
    _interrupting(backend, clock)
    with pytest.raises(KeyboardInterrupt):
        backend.run(_plan(store, tmp_path, "fake"))
    run_id = store.runs(1)[0].id
    job = f"fake-{run_id}-load"
    assert backend.interrupted == [job]
    assert backend.job_status(job)["state"] == "cancelled"  # the hook cancelled it through JobAdmin.cancel
    assert store.run(run_id).status == "failed"
    assert {r.step_id: r.status for r in store.run_steps(run_id)} == {"load": "failed"}


def test_a_failing_interrupt_hook_never_hides_the_interrupt(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, polls=5)
    _interrupting(backend, clock)

    def broken(handle: StepHandle) -> None:
        raise RuntimeError("provider unreachable")

    backend._interrupt_step = broken  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        backend.run(_plan(store, tmp_path, "fake"))


def test_the_interrupt_hook_is_not_called_when_a_step_ends(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, sleep=clock.advance, polls=2,
                          fail={"split": "AlgorithmError: boom"})
    with pytest.raises(StepFailedError, match="AlgorithmError: boom"):
        backend.run(_plan(store, tmp_path, "fake"))
    assert backend.interrupted == []


def test_a_job_cancelled_while_waiting_ends_the_step_cancelled(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, polls=5)

    def cancel_then_sleep(seconds: float) -> None:
        for job in list(backend.jobs):
            backend.role(JobAdmin).cancel(job)
        clock.advance(seconds)

    backend.sleep = cancel_then_sleep
    with pytest.raises(StepFailedError, match="step 'load' cancelled: cancelled by the user"):
        backend.run(_plan(store, tmp_path, "fake"))
    assert backend.interrupted == []  # the provider ended it; nothing left to interrupt


def test_a_runner_without_an_interrupt_hook_just_reraises(store: Store, tmp_path: Path) -> None:
    backend = ThreeHooks({"name": "hooks"}, store, polls=3)

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    backend.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        backend.run(_plan(store, tmp_path))
    assert store.runs(1)[0].status == "failed"
