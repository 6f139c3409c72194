"""Multirun sweeps: Hydra's sweeper expands the grid, its launcher runs one training per point, and the
sweep records each point's run, a leaderboard across them, and registers the best."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla import api
from tesla.config.sweep import BASIC_SWEEPER, is_hydra_override, sweep_setup
from tesla.errors import ConfigError, DataError
from tesla.store.sweeps import is_sweep

GRID = ["search.metric=roc_auc,log_loss", "data.split.test_size=0.2,0.3"]


@pytest.fixture(scope="module")
def bc_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("sweep") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    return root


def _schemas() -> dict[str, type]:
    return api._backend_schemas()


# -- expanding the grid -------------------------------------------------------------------------------------------
def test_the_basic_sweeper_expands_the_cartesian_grid(project: Path) -> None:
    setup = sweep_setup(["model.name=m", *GRID], project_dir=project, backend_schemas=_schemas())
    assert setup.sweeper == BASIC_SWEEPER and setup.launcher.endswith("BasicLauncher")
    assert setup.points == [
        ["model.name=m", "search.metric=roc_auc", "data.split.test_size=0.2"],
        ["model.name=m", "search.metric=roc_auc", "data.split.test_size=0.3"],
        ["model.name=m", "search.metric=log_loss", "data.split.test_size=0.2"],
        ["model.name=m", "search.metric=log_loss", "data.split.test_size=0.3"],
    ]
    assert setup.base["model"]["name"] == "m" and setup.base["search"]["metric"] == "auto"  # swept keys stay default
    assert "hydra" not in setup.base


def test_hydra_settings_choose_the_launcher_and_are_not_tesla_overrides(project: Path) -> None:
    setup = sweep_setup(["search.seed=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], project_dir=project,
                        backend_schemas=_schemas())
    assert setup.launcher.endswith("JoblibLauncher") and setup.points == [["search.seed=1"], ["search.seed=2"]]
    assert is_hydra_override("hydra/launcher=joblib") and is_hydra_override("+hydra.sweeper.params={}")
    assert not is_hydra_override("search.seed=1")


@pytest.mark.parametrize(("overrides", "message"), [
    (["search.metrc=roc_auc,log_loss"], "unknown config key 'search.metrc'. Did you mean 'search.metric'?"),
    (["hydra/launcher=jobllib"], "unknown option 'jobllib' for config group 'hydra/launcher'. Available: basic, joblib. "
                                "Did you mean 'joblib'?"),
])
def test_a_bad_sweep_override_is_a_config_error(project: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        sweep_setup(overrides, project_dir=project, backend_schemas=_schemas())
    assert str(err.value).startswith(message), str(err.value)


def test_each_points_plan_is_the_plan_tesla_train_would_run(bc_project: Path) -> None:
    planned = api.compile_sweep_plans("m", max_iter=3, overrides=GRID, project_dir=bc_project)
    assert planned.model == "m" and len(planned.points) == 4
    for overrides, plan in planned.points:
        alone = api.compile_plan(overrides=[o for o in overrides if not is_hydra_override(o)], project_dir=bc_project)
        assert plan.to_json() == alone.to_json()
    assert len({plan.fingerprint for _, plan in planned.points}) == 4
    assert api.open_store(bc_project).runs() == []  # planning ran nothing


def test_sweeping_the_model_name_is_refused(bc_project: Path) -> None:
    with pytest.raises(ConfigError) as err:
        api.compile_sweep_plans(overrides=["model.name=a,b"], project_dir=bc_project)
    assert str(err.value) == "a sweep registers one model, but its points name a, b; do not sweep model.name"


# -- running a sweep -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_sweep_records_one_run_per_point_a_leaderboard_and_registers_the_best(bc_project: Path) -> None:
    seen: list[int] = []
    result = api.sweep("swept", max_iter=2, overrides=GRID, project_dir=bc_project,
                       on_event=lambda e: seen.append(e.data["num"]) if e.kind == "sweep_point" else None)
    store = api.open_store(bc_project)
    children = store.runs(parent_id=result.sweep_id)
    assert len(children) == 4 and seen == [0, 1, 2, 3] and {r.status for r in children} == {"succeeded"}
    assert {r.plan_fingerprint for r in children} == {p.fingerprint for _, p in
                                                        api.compile_sweep_plans("swept", max_iter=2, overrides=GRID,
                                                                                project_dir=bc_project).points}
    board = result.leaderboard
    assert result.rank_metric == "roc_auc" and [r.rank for r in board] == [1, 2, 3, 4]
    assert [r.score for r in board] == sorted((r.score for r in board), reverse=True)
    assert {r.point for r in board} == {f"search.metric={m} data.split.test_size={t}"
                                           for m in ("roc_auc", "log_loss") for t in ("0.2", "0.3")}
    # only the best point registers, from its own run
    versions = store.model_versions("swept")
    assert [v.version for v in versions] == [1] and result.model.ref == "swept@1" and result.created
    assert versions[0].run_id == board[0].run_id and versions[0].metrics["roc_auc"] == board[0].score
    assert versions[0].config["resolved"]["search"]["metric"] == board[0].search_metric
    parent = store.run(result.sweep_id)
    assert is_sweep(parent) and parent.status == "succeeded" and parent.plan_name == "sweep/swept"
    meta = parent.meta
    assert meta["registered"] == "swept@1" and [r["run_id"] for r in meta["leaderboard"]] == [r.run_id for r in board]
    assert (result.sweep_dir / "0" / ".hydra" / "overrides.yaml").exists()  # Hydra's own per-point record
    report = api.run_report(result.sweep_id, project_dir=bc_project)
    assert report.leaderboard == board and "Leaderboard across points" in report.path.read_text()


@pytest.mark.slow
def test_a_failed_point_fails_the_sweep_and_registers_nothing(bc_project: Path) -> None:
    with pytest.raises(DataError) as err:
        api.sweep("broken", max_iter=2, project_dir=bc_project,
                  overrides=["data.split.test_size=0.2,0.997", "data.split.stratify=false"])
    store = api.open_store(bc_project)
    sweep_id = next(r.id for r in store.runs() if r.plan_name == "sweep/broken")
    assert str(err.value).startswith(f"sweep {sweep_id} failed and registered nothing: data.split.test_size=0.997 "
                                     "leaves 1 training and 454 test rows")
    assert str(err.value).endswith(f"(see `tesla runs show {sweep_id}`)")
    assert store.run(sweep_id).status == "failed" and store.model_versions("broken") == []
    statuses = sorted(r.status for r in store.runs(parent_id=sweep_id))
    assert statuses == ["failed", "succeeded"]  # the good point still ran and is cached for next time


@pytest.mark.slow
def test_joblib_launcher_runs_points_in_two_worker_processes(bc_project: Path) -> None:
    result = api.sweep("parallel", max_iter=2, project_dir=bc_project,
                       overrides=["search.seed=3,4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    store = api.open_store(bc_project)
    children = store.runs(parent_id=result.sweep_id)
    assert len(children) == 2 and {r.status for r in children} == {"succeeded"}  # SQLite took both writers
    assert result.model.ref == "parallel@1" and result.model.run_id == result.leaderboard[0].run_id
