"""A store made before `created_by`, users and tokens existed opens, gains them, and keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tesla.store import Store
from tests.conftest import project_store

SQLITE_ONLY = True  # builds an old store by editing its SQLite file

UPGRADED = ("dataset_versions", "runs", "models", "deployments")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"pragma table_info({table})")}


def test_an_old_store_gains_the_new_columns_and_tables(tmp_path: Path) -> None:
    store = project_store(tmp_path / "proj")
    old_run = store.create_run(plan_name="p", plan_fingerprint="f", backend="local", plan_json="{}", meta={})
    store.finish_run(old_run, "succeeded")
    store.engine.dispose()
    # make it look like a store of the previous release: no created_by columns, no users or tokens
    with sqlite3.connect(tmp_path / "proj" / ".tesla" / "tesla.db") as db:
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
