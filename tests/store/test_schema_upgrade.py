"""A store made before `created_by`, users and tokens existed opens, gains them, and keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tesla.store import Store
from tests.conftest import project_store, run_tesla

SQLITE_ONLY = True  # builds an old store by editing its SQLite file

UPGRADED = ("dataset_versions", "runs", "models", "deployments")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"pragma table_info({table})")}


def _unmigrate(db: sqlite3.Connection) -> None:
    """Undo revisions 0003 and 0002 and forget migrations: the store as the last release before them made it."""
    db.execute("drop table alembic_version")
    db.execute("drop table dataset_tags")
    db.execute("drop table model_aliases")
    db.execute("drop index ix_models_name_content_sha")
    db.execute("alter table models drop column content_sha")


def test_an_old_store_gains_the_new_columns_and_tables(tmp_path: Path) -> None:
    store = project_store(tmp_path / "proj")
    old_run = store.create_run(plan_name="p", plan_fingerprint="f", backend="local", plan_json="{}", meta={})
    store.finish_run(old_run, "succeeded")
    store.engine.dispose()
    # make it look like a store of an older release, made before migrations: no created_by columns, no
    # users or tokens, no content identity or aliases of models, no alembic_version
    with sqlite3.connect(tmp_path / "proj" / ".tesla" / "tesla.db") as db:
        _unmigrate(db)
        for table in UPGRADED:
            db.execute(f"alter table {table} drop column created_by")
        db.execute("drop table api_tokens")
        db.execute("drop table users")
        assert all("created_by" not in _columns(db, t) for t in UPGRADED)

    reopened = Store.open(tmp_path / "proj", actor="erin")
    with sqlite3.connect(tmp_path / "proj" / ".tesla" / "tesla.db") as db:
        assert all("created_by" in _columns(db, t) for t in UPGRADED)
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {"users", "api_tokens"} <= tables
    assert reopened.run(old_run).created_by is None  # old rows read the new column as NULL
    new_run = reopened.create_run(plan_name="p", plan_fingerprint="f", backend="local", plan_json="{}", meta={})
    assert reopened.run(new_run).created_by == "erin"
    assert not reopened.has_users()
    Store.open(tmp_path / "proj")  # a second open has nothing left to add


def test_a_store_of_the_release_before_migrations_upgrades_in_place_and_keeps_its_rows(
        tmp_path: Path, datasets_dir: Path) -> None:
    from tesla import api
    from tesla.store.metadata import HEAD, store_revision

    root = api.init_project(tmp_path / "proj")
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=root)
    trained = api.train("m", max_iter=1, project_dir=root).model
    api.open_store(root).engine.dispose()
    with sqlite3.connect(root / ".tesla" / "tesla.db") as db:
        _unmigrate(db)
        assert "content_sha" not in _columns(db, "models")

    proc = run_tesla("store", "upgrade", cwd=root)
    assert proc.stdout.strip() == f"store schema upgraded from revision unversioned to {HEAD}"
    store = Store.open(root)
    assert store_revision(store.engine) == HEAD
    assert store.model("m", 1).bundle_sha == trained.bundle_sha and store.dataset_version("iris").version == 1
    again = api.train("m", max_iter=1, project_dir=root, force=True).model  # the old row has no content_sha
    assert again.version in (1, 2)


def test_a_store_upgraded_by_a_newer_tesla_is_refused_untouched(tmp_path: Path) -> None:
    from tesla.store.metadata import HEAD

    store = project_store(tmp_path / "proj")
    store.engine.dispose()
    db_file = tmp_path / "proj" / ".tesla" / "tesla.db"
    with sqlite3.connect(db_file) as db:
        db.execute("update alembic_version set version_num = '9999'")
    proc = run_tesla("data", "list", cwd=tmp_path / "proj", check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == ("Error: this store was upgraded by a newer Tesla (rev 9999); this Tesla knows "
                                   f"revisions up to {HEAD}: upgrade tesla-ml (pip install -U tesla-ml)")
    with sqlite3.connect(db_file) as db:
        assert db.execute("select version_num from alembic_version").fetchone()[0] == "9999"
