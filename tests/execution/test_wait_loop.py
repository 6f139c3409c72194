"""The one wait loop: capped exponential backoff, provider reasons, timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla.errors import BackendError, StepFailedError
from tesla.store import Store
from tesla.testing.contract import _dataset_csv, contract_plan
from tesla.testing.fake import FakeBackend, FakeClock
from tests.conftest import project_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return project_store(tmp_path / "p")


def _plan(store: Store, tmp_path: Path):  # noqa: ANN202 - test helper
    return contract_plan(store.artifacts.put(_dataset_csv(tmp_path / "d.csv")), backend={"name": "fake"})


def test_backoff_doubles_up_to_the_cap(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, sleep=clock.advance, polls=8)
    backend.poll_max_s = 4.0  # type: ignore[misc]
    backend.run(_plan(store, tmp_path))
    per_step = clock.sleeps[:8]
    assert per_step == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]


def test_provider_failure_reason_reaches_the_user(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, sleep=clock.advance,
                          fail={"split": "AlgorithmError: out of memory"})
    with pytest.raises(StepFailedError, match="step 'split' failed: AlgorithmError: out of memory") as info:
        backend.run(_plan(store, tmp_path))
    assert info.value.step == "split"
    steps = {r.step_id: r.status for r in store.run_steps(store.runs(1)[0].id)}
    assert steps == {"load": "succeeded", "split": "failed"}


def test_wait_gives_up_after_the_timeout(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, sleep=clock.advance, polls=1000)
    with pytest.raises(BackendError, match=r"still (pending|running) after 60 s .*tesla jobs status"):
        backend.run(_plan(store, tmp_path), timeout_s=60)


def test_cancelled_job_is_reported_as_cancelled(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    backend = FakeBackend({"name": "fake"}, store, clock=clock, polls=5)

    def cancel_on_first_sleep(seconds: float) -> None:
        for job in list(backend.jobs):
            backend.cancel(job)
        clock.advance(seconds)

    backend.sleep = cancel_on_first_sleep
    with pytest.raises(StepFailedError, match="step 'load' cancelled: cancelled by the user"):
        backend.run(_plan(store, tmp_path))
