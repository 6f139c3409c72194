"""Recovery on the next start, without killing anything real: leases of dead processes are settled.

``test_crash_safety.py`` proves the same with real ``kill -9``s at every write point (slow);
these tests pin the logic in a second: what counts as dead, what is marked, what is removed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tesla.store import Store
from tesla.store import metadata as t
from tesla.store.faults import ENV, POINTS, fault_point
from tesla.store.recovery import Owner
from tests.conftest import project_store, stand_in_bundle


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # exited and reaped: no process has it (until the kernel hands it out again)


def _run_with_lease(store: Store, run_id: str, *, pid: int, host: str | None = None, started: str = "") -> None:
    with store.engine.begin() as c:
        c.execute(t.runs.insert().values(id=run_id, plan_name="train/m", plan_fingerprint="f", backend="local",
                                         status="running", plan_json="{}", meta_json="{}"))
        c.execute(t.steps.insert().values(run_id=run_id, step_id="search", kind="search", fingerprint="s",
                                          status="running", params_json="{}"))
        c.execute(t.leases.insert().values(kind="run", ref=run_id, host=host or socket.gethostname(), pid=pid,
                                           started=started))
    (store.scratch_dir(run_id) / "search-x").mkdir(parents=True)


def _reopen(project: Path) -> Store:
    from tesla.store import recovery

    recovery._recovered.clear()  # a new process would recover afresh
    return Store.open(project)


def test_a_run_whose_process_died_is_interrupted_and_its_scratch_removed(tmp_path: Path) -> None:
    store = project_store(tmp_path)
    me = Owner.me()
    _run_with_lease(store, "dead", pid=_dead_pid())
    _run_with_lease(store, "reused", pid=me.pid, started="1")  # our pid, another start time: pid reuse
    _run_with_lease(store, "alive", pid=me.pid, started=me.started)
    _run_with_lease(store, "elsewhere", pid=_dead_pid(), host="another-host")  # only that host can tell
    (tmp_path / ".tesla" / "tesla-search-old").mkdir()  # the older scratch layout

    store = _reopen(tmp_path)

    assert {r.id: r.status for r in store.runs()} == {
        "dead": "interrupted", "reused": "interrupted", "alive": "running", "elsewhere": "running"}
    assert store.run("dead").ended_at is not None and "interrupted" in store.run("dead").error
    assert [s.status for s in store.run_steps("dead")] == ["interrupted"]
    assert [s.status for s in store.run_steps("alive")] == ["running"]
    scratch = sorted(p.name for p in (tmp_path / ".tesla" / "scratch").iterdir())
    assert scratch == ["alive", "elsewhere"]
    assert (tmp_path / ".tesla" / "tesla-search-old").exists()  # a live run might own it
    with store.engine.connect() as c:
        assert sorted(c.execute(sa.select(t.leases.c.ref)).scalars()) == ["alive", "elsewhere"]


def test_finished_runs_hold_no_lease_and_old_scratch_goes_when_nothing_runs(tmp_path: Path) -> None:
    store = project_store(tmp_path)
    run_id = store.create_run(plan_name="p", plan_fingerprint="f", backend="local", plan_json="{}", meta={})
    store.finish_run(run_id, "succeeded")
    (tmp_path / ".tesla" / "tesla-search-old").mkdir()
    store = _reopen(tmp_path)
    assert store.run(run_id).status == "succeeded"
    assert not (tmp_path / ".tesla" / "tesla-search-old").exists()
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.leases)).scalar() == 0


def test_artifact_staging_of_a_dead_writer_is_removed(tmp_path: Path) -> None:
    project_store(tmp_path)
    staging = tmp_path / ".tesla" / "artifacts" / "tmp"
    (staging / f"{_dead_pid()}-abc").mkdir(parents=True)
    (staging / f"{os.getpid()}-def").mkdir()
    _reopen(tmp_path)
    assert [p.name for p in staging.iterdir()] == [f"{os.getpid()}-def"]


def test_a_deployment_left_starting_by_a_dead_deployer_is_dropped(tmp_path: Path) -> None:
    store = project_store(tmp_path)
    dead = store.start_deployment(model="m", version=1, profile="production", target="local")
    with store.engine.begin() as c:
        c.execute(t.leases.update().where(t.leases.c.ref == str(dead)).values(pid=_dead_pid()))
    mine = store.start_deployment(model="m", version=2, profile="staging", target="local")
    store = _reopen(tmp_path)
    assert [(d.id, d.status) for d in store.deployments()] == [(mine, "starting")]
    store.drop_deployment(mine)  # a failed start leaves nothing behind
    assert store.deployments() == []


def test_activating_a_deployment_sets_the_stage_in_the_same_step(tmp_path: Path) -> None:
    store = project_store(tmp_path)
    store.register_model("m", bundle_sha=stand_in_bundle(store, tmp_path / "bundle"), framework="f", task="t", run_id=None, dataset=None,
                         dataset_version=None, plan_fingerprint=None, metrics={}, config={})
    dep = store.start_deployment(model="m", version=1, profile="production", target="local")
    assert store.model("m", 1).stage is None
    store.activate_deployment(dep, stage="production", url="http://x", pid=1, port=1, log_path=None, info={})
    assert store.model("m", 1).stage == "production"
    assert store.deployments()[0].status == "running"


def test_a_fault_point_is_a_no_op_unless_named() -> None:
    os.environ.pop(ENV, None)
    for point in POINTS:
        fault_point(point)  # still here


@pytest.mark.parametrize("spec, dies", [("load.after_version", True), ("load.after_version:2", True),
                                        ("load.after_version:3", False), ("load.after_artifact", False)])
def test_a_named_fault_point_kills_the_process_like_kill_9(spec: str, dies: bool) -> None:
    code = "from tesla.store.faults import fault_point\nfor _ in range(2): fault_point('load.after_version')\n"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, ENV: spec}, capture_output=True,
                          check=False)
    assert proc.returncode == (-9 if dies else 0), proc.stderr


def test_every_declared_fault_point_is_placed_in_the_code() -> None:
    import tesla

    source = "\n".join(p.read_text() for p in Path(tesla.__file__).parent.rglob("*.py"))
    placed = set(re.findall(r'fault_point\("([a-z_.]+)"\)', source))
    assert placed == set(POINTS)
