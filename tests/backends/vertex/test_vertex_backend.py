"""The Vertex backend's orchestration against the loopback fakes: requests, retries, errors, states, jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1 as v1

from tesla.errors import BackendError, NotSupportedError, TeslaError
from tesla.execution import StepState
from tesla.plan import Plan
from tesla.store import Store
from tesla.testing.contract import _dataset_csv, contract_plan
from tesla_backends.vertex._backend import VertexBackend
from tesla_backends.vertex._clients import Gcs
from tests.conftest import project_store
from tests.fakes.vertex_fake import VertexFake

pytestmark = pytest.mark.slow  # steps run as subprocesses

JOBS = r"projects/tesla-test-project/locations/us-central1/customJobs"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return project_store(tmp_path / "proj")


@pytest.fixture
def backend(store: Store, make_backend: Callable[..., VertexBackend]) -> VertexBackend:
    return make_backend(store)


def _plan(backend: VertexBackend, tmp_path: Path, **kwargs: Any) -> Plan:
    sha = backend.store.artifacts.put(_dataset_csv(tmp_path / "contract.csv"))
    return contract_plan(sha, backend=dict(backend.settings), **kwargs)


def test_a_run_sends_exactly_the_rendered_requests(backend: VertexBackend, vertex_fake: VertexFake,
                                                   tmp_path: Path) -> None:
    plan = _plan(backend, tmp_path)
    run = backend.run(plan)
    sent = vertex_fake.received(JOBS + "$")
    rendered = [json.dumps(r["request"]["customJob"]).replace("dry-run", run.run_id)
                for r in backend.render_requests(plan)]
    assert len(sent) == len(rendered) == 2
    for body, expected in zip(sent, rendered):
        assert v1.CustomJob.from_json(json.dumps(body)) == v1.CustomJob.from_json(expected)


def test_staged_inputs_are_uploaded_once_across_runs(store: Store, make_backend: Callable[..., VertexBackend],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads: list[str] = []
    real = Gcs.upload_file
    monkeypatch.setattr(Gcs, "upload_file", lambda self, key, path: (uploads.append(key), real(self, key, path))[1])
    plan = _plan(make_backend(store), tmp_path)
    make_backend(store).run(plan)
    make_backend(store).run(plan, force=True)  # a new backend object: nothing remembered in memory
    assert [k for k in uploads if "/artifacts/" in k] == [f"tesla/artifacts/{plan.steps[0].inputs['source'].sha256}"]


def test_unavailable_is_retried_with_capped_backoff(backend: VertexBackend, vertex_fake: VertexFake,
                                                    tmp_path: Path) -> None:
    vertex_fake.inject("UNAVAILABLE", "GET", JOBS + "/", times=3)
    vertex_fake.inject("UNAVAILABLE", "POST", JOBS + "$", times=1)
    assert backend.run(_plan(backend, tmp_path)).status == "succeeded"
    assert backend.sleep.__self__.sleeps[:4] == [2.0, 2.0, 4.0, 8.0]  # type: ignore[attr-defined]


def test_a_create_whose_reply_was_lost_is_not_duplicated(backend: VertexBackend, vertex_fake: VertexFake,
                                                         tmp_path: Path) -> None:
    vertex_fake.inject("UNAVAILABLE", "POST", JOBS + "$", times=1, after=True)
    assert backend.run(_plan(backend, tmp_path)).status == "succeeded"
    assert [j.labels["tesla-step"] for j in vertex_fake.jobs.values()] == ["load", "split"]


def test_unavailable_for_good_gives_up_in_one_line(backend: VertexBackend, vertex_fake: VertexFake,
                                                   tmp_path: Path) -> None:
    vertex_fake.inject("UNAVAILABLE", "POST", JOBS + "$", times=99, message="The service is currently unavailable.")
    with pytest.raises(BackendError) as info:
        backend.run(_plan(backend, tmp_path))
    assert str(info.value).startswith("Vertex AI CreateCustomJob still unavailable after 6 tries (")
    assert info.value.step == "load" and "\n" not in str(info.value)


@pytest.mark.parametrize(("status", "message"), [
    pytest.param("INVALID_ARGUMENT", "Vertex AI CreateCustomJob failed (INVALID_ARGUMENT): Machine type "
                 '"n1-nope" is not supported.; see the request with `tesla plan backend=vertex --dry-run`',
                 id="invalid"),
    pytest.param("PERMISSION_DENIED", "Vertex AI CreateCustomJob failed (PERMISSION_DENIED): Machine type "
                 '"n1-nope" is not supported.; check Application Default Credentials', id="permission"),
    pytest.param("RESOURCE_EXHAUSTED", "Vertex AI CreateCustomJob failed (RESOURCE_EXHAUSTED): Machine type "
                 '"n1-nope" is not supported.; a Vertex AI quota is used up', id="quota"),
])
def test_api_errors_surface_the_server_message(backend: VertexBackend, vertex_fake: VertexFake, tmp_path: Path,
                                               status: str, message: str) -> None:
    vertex_fake.inject(status, "POST", JOBS + "$", message='Machine type "n1-nope" is not supported.')
    with pytest.raises(BackendError) as info:
        backend.run(_plan(backend, tmp_path))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert info.value.step == "load"
    assert len(vertex_fake.received(JOBS + "$")) == 1  # an error that is not UNAVAILABLE is never retried


def test_a_failed_step_reports_its_own_error_and_vertexs(backend: VertexBackend, tmp_path: Path) -> None:
    with pytest.raises(TeslaError) as info:
        backend.run(_plan(backend, tmp_path, target="no_such_column"))
    assert "no_such_column" in str(info.value)
    assert "(Vertex AI: The replica workerpool0-0 exited with a non-zero status of 1." in str(info.value)
    [job] = backend.list_jobs()
    status = backend.job_status(job["job"])
    assert status["state"] == "failed" and "no_such_column" in status["reason"]
    assert backend.job_status(job["job"].rsplit("/", 1)[-1])["job"] == job["job"]  # the bare id works too


# -- states, cancel, listing: the fake's states are driven by the test ----------------------------------
@pytest.fixture
def started(backend: VertexBackend, vertex_fake: VertexFake, tmp_path: Path) -> Any:
    vertex_fake.runner = None  # the job stays where the test puts it
    plan = _plan(backend, tmp_path)
    step = plan.steps[0]
    return backend._start_step(plan, step, "r1", {"source": step.inputs["source"].sha256}, lambda _e: None)


@pytest.mark.parametrize(("provider", "expected"), [
    ("JOB_STATE_QUEUED", StepState.PENDING), ("JOB_STATE_PENDING", StepState.PENDING),
    ("JOB_STATE_RUNNING", StepState.RUNNING), ("JOB_STATE_CANCELLING", StepState.RUNNING),
    ("JOB_STATE_SUCCEEDED", StepState.SUCCEEDED), ("JOB_STATE_FAILED", StepState.FAILED),
    ("JOB_STATE_EXPIRED", StepState.FAILED), ("JOB_STATE_CANCELLED", StepState.CANCELLED),
    ("JOB_STATE_PAUSED", StepState.RUNNING),
])
def test_provider_states_map_to_teslas(backend: VertexBackend, vertex_fake: VertexFake, started: Any,
                                       provider: str, expected: StepState) -> None:
    vertex_fake.set_job_state(started.job_ref, provider)
    status = backend.job_status(started.job_ref)
    assert (status["state"], status["provider_state"]) == (expected.value, provider)


def test_cancel_ends_the_wait_as_cancelled(backend: VertexBackend, started: Any) -> None:
    backend.cancel(started.job_ref)
    assert backend.wait(started) == (StepState.CANCELLED, "CANCELED")


def test_waiting_gives_up_after_the_timeout(backend: VertexBackend, started: Any) -> None:
    with pytest.raises(BackendError, match=r"^step 'load' still pending after 60 s \(job projects/"):
        backend.wait(started, timeout_s=60)


def test_list_jobs_shows_only_teslas_jobs(backend: VertexBackend, vertex_fake: VertexFake, started: Any) -> None:
    import httpx

    foreign = {"displayName": "someone-else", "jobSpec": {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": {"imageUri": "x"}}]}}
    assert httpx.post(f"{vertex_fake.url}/v1/{JOBS}", json=foreign).status_code == 200
    [row] = backend.list_jobs()
    assert (row["job"], row["step"], row["run_id"], row["state"]) == (started.job_ref, "load", "r1", "pending")


def test_job_logs_point_to_cloud_logging(backend: VertexBackend) -> None:
    with pytest.raises(NotSupportedError, match=r"run: gcloud ai custom-jobs stream-logs 42 --region=us-central1$"):
        backend.job_logs("42")
