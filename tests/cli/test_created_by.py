"""Who made each write: `data log`, `models list` and `runs list` show it in a `by` column."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla.project import Project
from tesla.store import Store
from tests.conftest import stand_in_bundle
from tests.reliability.corpus import cli


def _by_column(table: str, row_key: str) -> str:
    """The `by` cell of the table row containing ``row_key`` (rich's box table, one row a line)."""
    lines = table.splitlines()
    header = next(line for line in lines if "┃" in line)
    names = [c.strip() for c in header.strip("┃").split("┃")]
    row = next(line for line in lines if row_key in line and "│" in line)
    return [c.strip() for c in row.strip("│").split("│")][names.index("by")]


def test_data_log_shows_who_loaded_each_version(project: Path, datasets_dir: Path) -> None:
    assert cli("load", "-d", str(datasets_dir / "iris.csv"), "-o", "iris", cwd=project,
               env={"TESLA_USER": "alice"}).code == 0
    outcome = cli("data", "log", "iris", cwd=project)
    assert outcome.code == 0, outcome.err
    assert _by_column(outcome.out, "1 (current)") == "alice"


def test_models_list_and_runs_list_show_who_made_them(project: Path, tmp_path: Path) -> None:
    store = Store.open(project, actor="bob")
    run_id = store.create_run(plan_name="train/m", plan_fingerprint="f" * 64, backend="local", plan_json="{}",
                              meta={})
    store.finish_run(run_id, "succeeded")
    store.register_model("m", bundle_sha=stand_in_bundle(store, tmp_path / "bundle"), framework="sklearn", task="binary", run_id=run_id,
                         dataset="d", dataset_version=1, plan_fingerprint="f" * 64, metrics={}, config={})
    runs = cli("runs", "list", cwd=project)
    assert runs.code == 0 and _by_column(runs.out, run_id) == "bob"
    models = cli("models", "list", cwd=project)
    assert models.code == 0 and _by_column(models.out, "m@1") == "bob"


def test_the_actor_defaults_to_tesla_user_then_the_os_user(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    monkeypatch.delenv("TESLA_USER", raising=False)
    assert Project(project).user == getpass.getuser()
    monkeypatch.setenv("TESLA_USER", "carol")
    assert Project(project).user == "carol"
    assert Project(project, user="dave").user == "dave"
    assert Project(project, user="dave").store.actor == "dave"


def test_a_real_train_records_the_user_on_its_run_and_model(project: Path, datasets_dir: Path) -> None:
    env = {"TESLA_USER": "trainer"}
    assert cli("load", "-d", str(datasets_dir / "iris.csv"), "-o", "iris", "--target", "target", cwd=project,
               env=env).code == 0
    trained = cli("train", "-m", "m", "-p", "2", "data.dataset=iris", cwd=project, env=env)
    assert trained.code == 0, trained.err
    run = Project(project).training.runs(1)[0]
    assert run.created_by == "trainer"
    assert _by_column(cli("runs", "list", cwd=project).out, run.id) == "trainer"
    assert _by_column(cli("models", "list", cwd=project).out, "m@1") == "trainer"
