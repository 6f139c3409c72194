"""Metadata tables (SQLAlchemy Core): datasets (and their tags), runs, steps, trials, models, deployments, leases, users, tokens.

Embedded SQLite under the project's ``.tesla/`` by default; any SQLAlchemy URL
(``postgresql://...``) for a team. Rows that point at artifacts are written only after
the artifact is complete in the artifact store.

The schema is versioned by Alembic migrations (``tesla.store.migrations``): a change to a table here
needs a new revision there and ``HEAD`` moved to it. Opening a store brings an embedded SQLite store
up to date; a shared PostgreSQL store is upgraded on purpose with ``tesla store upgrade``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa

from tesla.errors import DependencyError

try:
    import fcntl
except ImportError:  # Windows: no flock; a single user there opens a new store one process at a time
    fcntl = None  # type: ignore[assignment]

__all__ = ["METADATA", "allocating", "create_engine", "schema_lock"]

_T = TypeVar("_T")
HEAD = "0003"  # the newest migration revision (tesla/store/migrations/versions); a test checks they agree
_ALLOCATION_ATTEMPTS = 200  # each retry is one other writer winning the same number: far more than needed

_PG_SCHEMA_LOCK = 0x7E51A  # the advisory-lock key every Tesla takes to create or upgrade a PostgreSQL store

METADATA = sa.MetaData()

_now = sa.func.current_timestamp

datasets = sa.Table(
    "datasets", METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("target", sa.String),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
)

dataset_versions = sa.Table(
    "dataset_versions", METADATA,
    sa.Column("name", sa.String, sa.ForeignKey("datasets.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("sha256", sa.String, nullable=False),
    sa.Column("format", sa.String, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("schema_json", sa.Text, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
    sa.Column("created_by", sa.String),  # who loaded it: a token's user, or the local OS user
    sa.UniqueConstraint("name", "sha256"),
)

# names for dataset versions (`tesla data tag NAME@V TAG`); a tagged version is never garbage-collected
dataset_tags = sa.Table(
    "dataset_tags", METADATA,
    sa.Column("name", sa.String, sa.ForeignKey("datasets.name"), primary_key=True),
    sa.Column("tag", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
    sa.Column("created_by", sa.String),
)

runs = sa.Table(
    "runs", METADATA,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("plan_name", sa.String, nullable=False),
    sa.Column("plan_fingerprint", sa.String, nullable=False),
    sa.Column("backend", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # running | succeeded | failed | interrupted
    sa.Column("parent_id", sa.String),  # the sweep a multirun point belongs to
    sa.Column("plan_json", sa.Text, nullable=False),
    sa.Column("meta_json", sa.Text, nullable=False, default="{}"),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime, server_default=_now()),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("created_by", sa.String),  # who started it
)

steps = sa.Table(
    "steps", METADATA,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("step_id", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("fingerprint", sa.String, nullable=False, index=True),
    sa.Column("status", sa.String, nullable=False),  # succeeded | cached | failed | running | interrupted
    sa.Column("params_json", sa.Text, nullable=False),
    sa.Column("outputs_json", sa.Text, nullable=False, default="{}"),  # output name -> sha256
    sa.Column("result_json", sa.Text, nullable=False, default="{}"),
    sa.Column("job_ref", sa.String),  # provider job name for cloud backends
    sa.Column("seconds", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime, server_default=_now()),
)

trials = sa.Table(
    "trials", METADATA,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("step_id", sa.String, primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True),
    sa.Column("estimator", sa.String, nullable=False),
    sa.Column("loss", sa.Float),
    sa.Column("best_loss", sa.Float),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("wall_s", sa.Float),
)

models = sa.Table(
    "models", METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("bundle_sha", sa.String, nullable=False),
    sa.Column("run_id", sa.String),
    sa.Column("framework", sa.String, nullable=False),
    sa.Column("task", sa.String, nullable=False),
    sa.Column("dataset", sa.String),
    sa.Column("dataset_version", sa.Integer),
    sa.Column("plan_fingerprint", sa.String),
    sa.Column("metrics_json", sa.Text, nullable=False, default="{}"),
    sa.Column("config_json", sa.Text, nullable=False, default="{}"),
    sa.Column("stage", sa.String),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
    sa.Column("created_by", sa.String),  # who registered it
    # what the bundle means (tesla.store.identity): equal for two bundles of one model whose bytes differ
    sa.Column("content_sha", sa.String),
    sa.UniqueConstraint("name", "bundle_sha"),
    sa.Index("ix_models_name_content_sha", "name", "content_sha", unique=True),  # NULLs (older rows) never clash
)

evaluations = sa.Table(
    "evaluations", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("data", sa.String, nullable=False),
    sa.Column("metrics_json", sa.Text, nullable=False),
    sa.Column("report_sha", sa.String),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
)

deployments = sa.Table(
    "deployments", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("profile", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # starting | running | stopped | failed | replaced
    sa.Column("url", sa.String),
    sa.Column("pid", sa.Integer),
    sa.Column("port", sa.Integer),
    sa.Column("log_path", sa.String),
    sa.Column("info_json", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
    sa.Column("stopped_at", sa.DateTime),
    sa.Column("created_by", sa.String),  # who deployed it
)

# aliases of model versions: one version per (name, alias); stages (production, staging) are aliases
model_aliases = sa.Table(
    "model_aliases", METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("alias", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime, server_default=_now()),
    sa.Column("updated_by", sa.String),
)

# who is doing a piece of work that is not finished yet: a run, or a deployment being started
leases = sa.Table(
    "leases", METADATA,
    sa.Column("kind", sa.String, primary_key=True),  # run | deployment
    sa.Column("ref", sa.String, primary_key=True),  # the run id, or the deployment id
    sa.Column("host", sa.String, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started", sa.String, nullable=False),  # the process's start time: a guard against pid reuse
    sa.Column("created_at", sa.DateTime, server_default=_now()),
)

monitor_events = sa.Table(
    "monitor_events", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String, nullable=False),  # name@version the checked traffic was served by
    sa.Column("profile", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # ok | alert | no_traffic
    sa.Column("alerts_json", sa.Text, nullable=False, default="[]"),
    sa.Column("summary_json", sa.Text, nullable=False, default="{}"),
    sa.Column("report_path", sa.String),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
)

# people who may use this project's REST server; the store is one project's, so a role is per project
users = sa.Table(
    "users", METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),  # read | write | admin (each includes the ones before it)
    sa.Column("created_at", sa.DateTime, server_default=_now()),
    sa.Column("created_by", sa.String),
)

# API tokens: only the sha256 of the token is kept; ``id`` is the short public part of the token itself
api_tokens = sa.Table(
    "api_tokens", METADATA,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("user", sa.String, sa.ForeignKey("users.name"), nullable=False, index=True),
    sa.Column("sha256", sa.String, nullable=False, unique=True),
    sa.Column("note", sa.Text),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
    sa.Column("created_by", sa.String),
    sa.Column("revoked_at", sa.DateTime),
)


def _add_missing_columns(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Add to a store made by an older Tesla the nullable columns its tables lack (``ALTER TABLE ADD COLUMN``).

    ``create_all`` makes missing tables but never changes existing ones; every column added before
    migrations existed is nullable, so adding it is safe and old rows read it as NULL. Called under
    the schema lock, for stores made before migrations (``tesla.store.migrations``).
    """
    inspector = sa.inspect(connection)
    existing = set(inspector.get_table_names())
    preparer = connection.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in (c for c in table.columns if c.name not in have):
            assert column.nullable and column.server_default is None, f"{table.name}.{column.name} is not additive"
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(sa.text(f"ALTER TABLE {preparer.quote(table.name)} ADD COLUMN "
                                       f"{preparer.quote(column.name)} {kind}"))


def store_revision(engine: sa.Engine) -> str | None:
    """The migration revision the store is at (``alembic_version``), or None for a new or pre-migration store."""
    with engine.connect() as c:
        if not sa.inspect(c).has_table("alembic_version"):
            return None
        return c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def schema_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold the store's schema lock: one process at a time creates or upgrades its tables.

    Without it, processes opening a brand-new store at once race on ``CREATE TABLE`` (``table
    datasets already exists``). SQLite: an exclusive ``flock`` on ``<db>.lock`` beside the file;
    PostgreSQL: a session advisory lock; other databases: none.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            c.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
            c.commit()
            try:
                yield
            finally:
                c.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_SCHEMA_LOCK})
                c.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or fcntl is None:
        yield
        return
    with open(f"{database}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def allocating(engine: sa.Engine, work: Callable[[sa.Connection], _T], *, lock: str | None = None) -> _T:
    """Run ``work`` (read the highest number, insert the next) in a transaction that no other allocation
    interleaves with: versions and event numbers get no gap and no duplicate.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the read, so writers queue (busy timeout).
    PostgreSQL: ``lock`` (e.g. ``models/NAME``) names a transaction advisory lock taken first, so writers
    of one name queue too; without it (or should a writer slip past it) the second insert of a number
    fails on the key and is retried after a random pause. benchmarks/store/README.md has the figures.
    """
    for attempt in range(_ALLOCATION_ATTEMPTS):
        try:
            with engine.begin() as c:
                if engine.dialect.name == "sqlite":
                    c.exec_driver_sql("BEGIN IMMEDIATE")
                elif lock is not None and engine.dialect.name == "postgresql":
                    c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": lock})
                return work(c)
        except sa.exc.IntegrityError:
            if attempt == _ALLOCATION_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 20)))
    raise AssertionError("unreachable")


def create_engine(url: str, *, check_schema: bool = True) -> sa.Engine:
    """An engine on a store at the current schema (``HEAD``); SQLite gets WAL and a busy timeout.

    A new database is created at ``HEAD`` and an embedded SQLite store upgraded to it; a shared store
    at another revision is refused (``tesla store upgrade`` opens it with ``check_schema=False``).

    ``postgresql://`` means psycopg 3 (the ``postgres`` extra), not SQLAlchemy's default psycopg2.

    Raises:
        DependencyError: the URL names a database whose driver is not installed, or the store's schema
            is newer than this Tesla's, or (shared store) older.
    """
    parsed = sa.engine.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = sa.create_engine(parsed, future=True)
    except ModuleNotFoundError as exc:
        extra = "postgres" if parsed.get_backend_name() == "postgresql" else None
        fix = f"pip install 'tesla-ml[{extra}]'" if extra else f"install the Python driver '{exc.name}'"
        raise DependencyError(f"TESLA_DB_URL names a {parsed.get_backend_name()} database, whose driver "
                              f"'{exc.name}' is not installed; {fix}", key="TESLA_DB_URL") from None
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL itself waits for other openers
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    revision = store_revision(engine) if check_schema else HEAD
    if revision != HEAD:
        from tesla.store import migrations  # lazy: alembic loads only when a store needs creating or upgrading

        if revision is None or engine.dialect.name == "sqlite":  # new, or a project's own embedded store
            migrations.upgrade(engine)
        else:  # a team's shared store: upgraded on purpose, by one person, not by whoever opens it first
            migrations.refuse(revision)
    return engine
