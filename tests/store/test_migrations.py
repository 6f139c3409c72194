"""The migrations and the living schema agree: a new store migrated to HEAD is exactly ``METADATA``."""

from __future__ import annotations

from tesla.store import metadata


def test_head_is_the_newest_revision_and_a_migrated_store_matches_the_tables(tmp_path) -> None:  # noqa: ANN001
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from tesla.store import migrations

    assert ScriptDirectory(migrations.__path__[0]).get_current_head() == metadata.HEAD
    engine = metadata.create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), metadata.METADATA)
    assert diff == [], f"METADATA changed without a migration (add a revision and move HEAD): {diff}"


def test_tesla_store_upgrade_reports_the_revisions(project, tmp_path) -> None:  # noqa: ANN001
    from tests.conftest import run_tesla

    assert run_tesla("store", "upgrade", cwd=project).stdout.strip() == f"store created at schema revision {metadata.HEAD}"
    again = run_tesla("store", "upgrade", cwd=project).stdout.strip()
    assert again == f"store schema at revision {metadata.HEAD} (up to date)"


def test_a_shared_store_behind_is_refused_until_tesla_store_upgrade(project, store_db: str) -> None:  # noqa: ANN001
    import pytest
    from alembic import command

    from tesla.store import Store, migrations
    from tests.conftest import run_tesla

    if store_db != "postgresql":
        pytest.skip("an embedded SQLite store upgrades itself when opened")
    run_tesla("store", "upgrade", cwd=project)
    engine = metadata.create_engine(Store.open(project).db_url)
    with engine.begin() as c:
        command.downgrade(migrations._config(c), "0001")
    engine.dispose()
    proc = run_tesla("data", "list", cwd=project, check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"Error: this store is at schema revision 0001, this Tesla needs {metadata.HEAD}; "
        "run `tesla store upgrade` once "
        "(everyone sharing the store then uses the new schema)")
    assert run_tesla("store", "upgrade", cwd=project).stdout.strip() == (
        f"store schema upgraded from revision 0001 to {metadata.HEAD}")
    run_tesla("data", "list", cwd=project)
