"""The Ray backend on a real local cluster: a train, its jobs, cancel, and the one-line errors."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from tesla import Project, api
from tesla.errors import BackendError, DependencyError, StepFailedError
from tests.conftest import project_store, run_tesla, store_snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def iris_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("ray") / "proj")
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=root)
    return root


def _on(ray_cluster: str, namespace: str) -> list[str]:
    return ["backend=ray", f"backend.address={ray_cluster}", f"backend.namespace={namespace}"]


def test_dry_run_shows_placement_and_resources_per_step(iris_project: Path) -> None:
    result = api.dry_run(overrides=["backend=ray", "backend.address=ray://head:10001",
                                    "+backend.steps={search: {num_cpus: 2, num_gpus: 1}}"], project_dir=iris_project)
    by_step = {item["step"]: item for item in result.requests}
    assert result.problems == []
    assert by_step["search"]["request"]["resources"] == {"num_cpus": 2.0, "num_gpus": 1.0, "memory_mb": None}
    assert by_step["load"]["request"]["resources"] == {"num_cpus": 1.0, "num_gpus": 0.0, "memory_mb": None}
    assert by_step["search"]["request"]["placement"] == "a Ray task on the cluster at ray://head:10001"
    assert by_step["register"]["operation"] == "in-process"


@pytest.mark.parametrize(("override", "message"), [
    ("+backend.steps={serch: {num_cpus: 2}}", "backend.steps.serch names no step id or kind of this plan; "
                                              "did you mean 'search'?"),
    ("backend.num_gpus=1.5", "backend.num_gpus=1.5: Ray takes a fraction of one GPU or a whole number; use 1 or 2"),
    ("backend.address=head", "backend.address='head' is not a Ray address; use auto, local, HOST:PORT"),
], ids=["step-typo", "gpu-fraction", "address-form"])
def test_dry_run_names_the_bad_setting(iris_project: Path, override: str, message: str) -> None:
    result = api.dry_run(overrides=["backend=ray", override], project_dir=iris_project)
    assert any(message in problem for problem in result.problems), result.problems


def test_unreachable_cluster_is_one_line_and_records_nothing(iris_project: Path) -> None:
    before = store_snapshot(iris_project)
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    proc = run_tesla("train", "-m", "iris_ray", "-p", "2", "backend=ray", f"backend.address=127.0.0.1:{free}",
                     "backend.connect_timeout_s=2", cwd=iris_project, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"Error: cannot reach the Ray cluster at backend.address=127.0.0.1:{free} (Connection "
                     f"refused); start it with `ray start --head --port={free}` on 127.0.0.1, or fix backend.address "
                     "(backend.connect_timeout_s=2)"], proc.stderr
    counts, _ = store_snapshot(iris_project)
    assert counts.get("runs") == before[0].get("runs")


def test_train_runs_every_step_on_the_cluster_and_its_jobs_answer(iris_project: Path, ray_cluster: str) -> None:
    on = _on(ray_cluster, "t-train")
    result = api.train("iris_ray", max_iter=3, overrides=on, project_dir=iris_project)
    assert result.model.name == "iris_ray"
    steps = {s.step_id: s for s in project_store(iris_project).run_steps(result.run.run_id)}
    assert steps["search"].job_ref == f"tesla-{result.run.run_id}-search"
    assert steps["register"].job_ref is None  # a control step runs in this process
    jobs = {j["step"]: j for j in api.jobs_list(overrides=on, project_dir=iris_project)}
    assert set(jobs) == {"load", "split", "search", "evaluate"}
    assert {j["state"] for j in jobs.values()} == {"succeeded"}
    status = api.jobs_status(jobs["search"]["job"], overrides=on, project_dir=iris_project)
    assert status["resources"] == {"num_cpus": 1.0, "num_gpus": 0.0} and status["pid"]
    logs = api.jobs_logs(jobs["search"]["job"], overrides=on, project_dir=iris_project)
    assert '"trials": 3' in logs


def test_concurrent_trials_run_on_ray_tune_inside_the_search_task(iris_project: Path, ray_cluster: str) -> None:
    on = [*_on(ray_cluster, "t-parallel"), "search.n_concurrent_trials=2"]
    sequential = Project(iris_project).training.compile_plan("iris_par", max_iter=4, overrides=on[:-1])
    assert "n_concurrent_trials" not in sequential.step("search").params  # sequential plans keep their fingerprints
    result = api.train("iris_par", max_iter=4, overrides=on, project_dir=iris_project)
    assert result.run.plan.step("search").params["n_concurrent_trials"] == 2
    assert len(Project(iris_project).training.trials(result.run.run_id)) == 4
    job = f"tesla-{result.run.run_id}-search"
    # the search task reserves no CPU itself: its two trials hold the cluster's two
    assert api.jobs_status(job, overrides=on, project_dir=iris_project)["resources"]["num_cpus"] == 0.0


def test_a_two_point_sweep_submits_each_point_to_the_cluster(iris_project: Path, ray_cluster: str) -> None:
    on = _on(ray_cluster, "t-sweep")
    proc = run_tesla("train", "-m", "iris_sweep", "-p", "2", "--multirun", "search.seed=1,2", *on,
                     "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=iris_project)
    assert "iris_sweep@1 registered: point #" in proc.stdout, proc.stdout
    searches = [j for j in api.jobs_list(overrides=on, project_dir=iris_project) if j["step"] == "search"]
    assert len(searches) == 2 and {j["state"] for j in searches} == {"succeeded"}


def test_concurrent_trials_without_ray_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tesla.automl.adapter import _concurrent_trials

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as when it is not installed
    with pytest.raises(DependencyError, match=r"^search.n_concurrent_trials=2 runs trials on Ray Tune, which is not "
                                              r"installed; run: pip install 'tesla-ml\[ray\]'"), \
            _concurrent_trials(2, tmp_path):
        pass


def test_a_failing_step_reports_its_own_error(iris_project: Path, ray_cluster: str) -> None:
    proc = run_tesla("train", "-m", "iris_fail", "-p", "2", *_on(ray_cluster, "t-fail"), "data.target=no_such_column",
                     cwd=iris_project, check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [proc.stderr.strip().splitlines()[-1]] and "Traceback" not in proc.stderr, proc.stderr
    # the step's own error, as the local backend reports it, and the job to read its logs by
    assert errors[0].startswith("Error: step 'load' failed: target column 'no_such_column' is not in dataset 'iris@1'")
    assert errors[0].endswith(")") and "(job tesla-" in errors[0]


def test_cancel_stops_a_running_step(iris_project: Path, ray_cluster: str) -> None:
    on = _on(ray_cluster, "t-cancel")
    failure: list[BaseException] = []

    def train() -> None:
        try:
            api.train("iris_long", max_iter=5000, overrides=on, project_dir=iris_project)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    deadline = time.monotonic() + 300
    search = None
    while search is None and time.monotonic() < deadline and worker.is_alive():
        search = next((j for j in api.jobs_list(overrides=on, project_dir=iris_project)
                       if j["step"] == "search" and j["state"] == "running"), None)
        time.sleep(0.5)
    assert search is not None, failure
    status = api.jobs_cancel(search["job"], overrides=on, project_dir=iris_project)
    assert status["state"] == "cancelled"
    worker.join(120)
    assert not worker.is_alive()
    assert isinstance(failure[0], StepFailedError) and failure[0].step == "search"
    assert f"step 'search' cancelled: cancelled by the user (job {search['job']})" in str(failure[0])
    with pytest.raises(BackendError, match="has no Tesla job 'tesla-nope'"):
        api.jobs_status("tesla-nope", overrides=on, project_dir=iris_project)
