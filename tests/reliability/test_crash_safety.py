"""Crash safety proven at the write points: ``kill -9`` at each write of load, train, register, deploy.

Each trial copies a prepared project, runs the real ``tesla`` executable with ``TESLA_FAULT``
naming one write point (``tesla.store.faults.POINTS``; ``point:N`` for the Nth time it is
reached), expects it to die by SIGKILL there, then checks what the next start sees: the SQLite
file passes ``PRAGMA integrity_check``; no run, step or deployment is left ``running`` or
``starting`` by the dead process (runs and steps are ``interrupted``); every listed dataset
version, model version and succeeded step points at a complete artifact; scratch and staging
are gone; no server process of the project is left unrecorded. Then the same command, without
the fault, succeeds and the listings show exactly the expected outcome.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tesla.store import Store
from tesla.store.faults import ENV, POINTS
from tests.conftest import TESLA
from tests.reliability.corpus import cli

pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds server processes in /proc")]

TRAIN_STEPS = ("load", "split", "search", "evaluate", "register")
PER_STEP = ("train.step_running", "train.step_outputs", "train.step_stored", "train.step_recorded")


@dataclass(frozen=True)
class Trial:
    source: str  # which prepared project the trial starts from
    argv: tuple[str, ...]
    fault: str  # TESLA_FAULT: a point, or point:N
    expect: str  # the outcome the rerun must reach (see _check_outcome)
    interrupts_run: bool = False  # the kill lands inside a run: the next start must find it interrupted
    setup_deploy: tuple[str, ...] = ()  # deploy this first (in-process), so the command replaces it


def _trials(port: int) -> dict[str, Trial]:
    load = ("load", "-d", "d.csv", "-o", "bc", "--target", "target")
    load2 = ("load", "-d", "d2.csv", "-o", "bc", "--target", "target")
    load_other = ("load", "-d", "d2.csv", "-o", "bc2", "--target", "target")
    train = ("train", "-m", "m", "-p", "1")
    retrain = ("train", "-m", "m", "-p", "2", "search.seed=7")
    trials: dict[str, Trial] = {}
    for point in ("artifact.staged", "load.after_artifact", "load.after_version"):
        trials[f"load-first-{point}"] = Trial("base", load, point, "bc@1 200")
        trials[f"load-second-{point}"] = Trial("loaded", load2, point, "bc@2 150")
        trials[f"load-other-name-{point}"] = Trial("loaded", load_other, point, "bc2@1 150")
    trials["train-train.after_run_row"] = Trial("loaded", train, "train.after_run_row", "m@1", True)
    for point in PER_STEP:
        every = point in ("train.step_outputs", "train.step_recorded")  # the others: all but evaluate
        for n, step in enumerate(TRAIN_STEPS, 1):
            if every or step != "evaluate":
                trials[f"train-{point}-{step}"] = Trial("loaded", train, f"{point}:{n}", "m@1", True)
    for n in (1, 2, 3):  # the Nth artifact a training run stores
        trials[f"train-artifact.staged:{n}"] = Trial("loaded", train, f"artifact.staged:{n}", "m@1", True)
    trials["train-train.before_run_finished"] = Trial("loaded", train, "train.before_run_finished", "m@1", True)
    for point in ("register.before_model_row", "register.after_model_row"):
        trials[f"train-{point}"] = Trial("loaded", train, point, "m@1")
    for point in ("train.after_run_row", "train.step_outputs:1", "artifact.staged:1", "train.step_recorded:3",
                  "register.before_model_row", "register.after_model_row"):
        trials[f"retrain-{point}"] = Trial("trained", retrain, point, "m@2", not point.startswith("register."))
    first = ("deploy.after_intent", "deploy.after_spawn", "deploy.after_healthy", "deploy.after_activate")
    for point in first:
        trials[f"deploy-first-{point}"] = Trial("trained", ("deploy", "-m", "m"), point, "serving m@1")
    fixed = f"deploy.port={port}"
    for point in (*first, "deploy.after_retire"):
        trials[f"deploy-replace-{point}"] = Trial("two", ("deploy", "-m", "m@2"), point, "serving m@2",
                                                  setup_deploy=("m@1",))
        if point in ("deploy.after_healthy", "deploy.after_activate"):  # both serve one socket (handoff)
            trials[f"deploy-replace-fixed-port-{point}"] = Trial(
                "two", ("deploy", "-m", "m@2", fixed), point, f"serving m@2 port {port}", setup_deploy=("m@1", fixed))
    return trials


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = _free_port()
TRIALS = _trials(PORT)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> dict[str, Path]:
    """Prepared projects: base (two CSVs), loaded (bc@1), trained (m@1), two (m@1 and m@2)."""
    import pandas as pd

    from tesla import api

    root = tmp_path_factory.mktemp("crash")
    base = api.init_project(root / "base")
    frame = pd.read_csv(datasets_dir / "bc.csv").head(200)
    frame.to_csv(base / "d.csv", index=False)
    frame.head(150).to_csv(base / "d2.csv", index=False)
    projects = {"base": base}
    for name, previous in (("loaded", "base"), ("trained", "loaded"), ("two", "trained")):
        projects[name] = Path(shutil.copytree(projects[previous], root / name))
    api.load(base / "d.csv", "bc", target="target", project_dir=projects["loaded"])
    for name in ("trained", "two"):
        api.load(base / "d.csv", "bc", target="target", project_dir=projects[name])
        assert api.train("m", max_iter=1, project_dir=projects[name]).model.version == 1
    second = api.train("m", max_iter=2, overrides=["search.seed=7"], project_dir=projects["two"])
    assert second.model.version == 2
    return projects


def _server_pids(project: Path) -> set[int]:
    """Every live ``tesla.serving`` process serving a bundle of this project (recorded or not)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "tesla.serving" in cmdline and any(arg.startswith(str(project)) for arg in cmdline):
            found.add(int(proc.name))
    return found


def _open(project: Path) -> Store:
    from tesla.store import recovery

    recovery._recovered.clear()  # what a new process would do on its first Store.open
    return Store.open(project)


def _check_consistent(project: Path) -> dict[str, object]:
    """The store invariants after any crash; returns the store's listings for further checks."""
    from tesla.serving.process import is_alive

    with sqlite3.connect(project / ".tesla" / "tesla.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = _open(project)
    runs = store.runs(limit=1000)
    assert not [r.id for r in runs if r.status == "running"], runs
    for run in runs:
        for step in store.run_steps(run.id):
            assert step.status != "running", (run.id, step)
            if step.status in ("succeeded", "cached"):
                assert all(store.artifacts.exists(sha) for sha in step.outputs.values()), step
    for name in store.dataset_names():
        for version in store.dataset_log(name):
            assert store.artifacts.exists(version.sha256), version
    for model in store.model_versions():
        assert store.artifacts.exists(model.bundle_sha), model
    deployments = store.deployments()
    assert not [d for d in deployments if d.status == "starting"], deployments
    recorded = {d.pid for d in deployments if d.status == "running"}
    assert all(is_alive(pid) for pid in recorded), deployments
    assert _server_pids(project) <= recorded, "a server process runs that no deployment records"
    with store.engine.connect() as c:
        import sqlalchemy as sa

        from tesla.store import metadata as t

        assert c.execute(sa.select(sa.func.count()).select_from(t.leases)).scalar() == 0
    for leftover in (project / ".tesla" / "scratch", project / ".tesla" / "artifacts" / "tmp"):
        assert not (leftover.is_dir() and any(leftover.iterdir())), list(leftover.iterdir())
    assert not list((project / ".tesla").glob("tesla-*"))
    return {"runs": runs, "deployments": deployments, "store": store}


def _check_outcome(project: Path, expect: str) -> None:
    seen = _check_consistent(project)
    store = seen["store"]
    if expect.startswith("bc"):
        ref, rows = expect.split()
        name, version = ref.split("@")
        assert [v.version for v in store.dataset_log(name)] == list(range(int(version), 0, -1))
        assert store.dataset_version(name).rows == int(rows)
    elif expect.startswith("m@"):
        assert [m.version for m in store.model_versions("m")] == list(range(1, int(expect[2:]) + 1))
        newest = store.model("m")
        assert store.run(newest.run_id).status == "succeeded"
        assert {r.status for r in seen["runs"]} <= {"succeeded", "interrupted"}, seen["runs"]
    else:
        _, ref, *port = expect.split()
        running = [d for d in seen["deployments"] if d.status == "running"]
        assert [f"{d.model}@{d.version}" for d in running] == [ref], running
        name, version = ref.split("@")
        assert store.model(name, int(version)).stage == "production"
        if port:
            assert running[0].port == int(port[1])
        import httpx

        assert httpx.get(f"{running[0].url}/health", timeout=10).json()["pid"] == running[0].pid


def _stop_servers(project: Path) -> None:
    from tesla.serving.process import stop_server

    store = _open(project)
    for d in store.deployments():
        if d.status == "running":
            stop_server(d.pid)
            store.update_deployment(d.id, status="stopped")
    for pid in _server_pids(project):  # none should be; stop them anyway, then fail below
        stop_server(pid)


def test_every_point_is_tried() -> None:
    tried = {trial.fault.partition(":")[0] for trial in TRIALS.values()}
    assert tried == set(POINTS) and len(TRIALS) >= 50, (set(POINTS) - tried, len(TRIALS))


@pytest.mark.parametrize("trial", TRIALS.values(), ids=TRIALS.keys())
def test_a_kill_at_a_write_point_loses_nothing_and_the_rerun_succeeds(trial: Trial, sources: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    from tesla import api

    project = Path(shutil.copytree(sources[trial.source], tmp_path / "proj"))
    try:
        if trial.setup_deploy:
            ref, *overrides = trial.setup_deploy
            api.deploy(ref, overrides=overrides, project_dir=project)
        killed = subprocess.run([TESLA, *trial.argv], cwd=project, capture_output=True, text=True, timeout=300,
                                env={**os.environ, ENV: trial.fault}, check=False)
        assert killed.returncode == -9, f"not killed at {trial.fault}: exit {killed.returncode}\n{killed.stderr}"
        after_crash = _check_consistent(project)
        interrupted = [r for r in after_crash["runs"] if r.status == "interrupted"]
        assert len(interrupted) == (1 if trial.interrupts_run else 0), after_crash["runs"]
        rerun = cli(*trial.argv, cwd=project)
        assert rerun.code == 0, rerun.err
        _check_outcome(project, trial.expect)
    finally:
        _stop_servers(project)
    assert not _server_pids(project)
