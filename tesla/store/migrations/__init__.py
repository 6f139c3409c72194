"""The store's schema migrations (Alembic): every store is brought to ``HEAD`` under the schema lock.

``upgrade(engine)`` is what opening a store and ``tesla store upgrade`` run:

- a new, empty database gets every revision in order;
- a store made before migrations (tables, no ``alembic_version``) gets the tables and nullable columns
  it lacks of revision 0001 (as ``_add_missing_columns`` always did), is stamped 0001, then upgraded;
- a store at a revision this Tesla does not know was upgraded by a newer Tesla: refused.

Alembic is imported here, on the slow path only: an up-to-date store is recognised by one query
(``metadata.store_revision``) without it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tesla.errors import DependencyError
from tesla.store.metadata import HEAD, _add_missing_columns

__all__ = ["UNVERSIONED", "newer_store_error", "refuse", "upgrade"]

_HERE = Path(__file__).parent
UNVERSIONED = "unversioned"  # a store made before migrations existed


def _config(connection: sa.Connection):  # noqa: ANN202 - alembic.config.Config, imported lazily
    # lazy import: alembic (and mako) only load when a store needs upgrading
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


def newer_store_error(revision: str) -> DependencyError:
    return DependencyError(f"this store was upgraded by a newer Tesla (rev {revision}); this Tesla knows revisions "
                           f"up to {HEAD}: upgrade tesla-ml (pip install -U tesla-ml)", key="TESLA_DB_URL")


def refuse(revision: str) -> None:
    """Raise the error for a shared store at ``revision`` (not ``HEAD``): newer than this Tesla, or to upgrade."""
    from alembic.script import ScriptDirectory

    known = {rev.revision for rev in ScriptDirectory(str(_HERE)).walk_revisions()}
    if revision not in known:
        raise newer_store_error(revision)
    raise DependencyError(f"this store is at schema revision {revision}, this Tesla needs {HEAD}; run "
                          "`tesla store upgrade` once (everyone sharing the store then uses the new schema)",
                          key="TESLA_DB_URL")


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Bring the store to ``HEAD``; returns (the revision it was at, the one it is at now).

    The revision it was at is None for a new database, ``UNVERSIONED`` for a store made before migrations.

    Raises:
        DependencyError: the store is at a revision newer than this Tesla's.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from tesla.store.metadata import schema_lock

    with schema_lock(engine), engine.begin() as connection:
        config = _config(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        if before == HEAD:
            return before, HEAD
        known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
        if before is not None and before not in known:
            raise newer_store_error(before)
        if before is None and sa.inspect(connection).has_table("datasets"):
            _adopt_unversioned(connection)
            command.stamp(config, "0001")
            before = UNVERSIONED
        command.upgrade(config, "head")
    return before, HEAD


def _adopt_unversioned(connection: sa.Connection) -> None:
    """A store made before migrations: give it what revision 0001 has and it lacks (all additive)."""
    import importlib

    first = importlib.import_module("tesla.store.migrations.versions.0001_initial").schema()
    first.create_all(connection)  # only the missing tables
    _add_missing_columns(connection, first)
