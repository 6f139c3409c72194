"""Metadata tables (SQLAlchemy Core): datasets, runs, steps, trials, models, deployments, leases.

Embedded SQLite under the project's ``.tesla/`` by default; any SQLAlchemy URL
(``postgresql://...``) for a team. Rows that point at artifacts are written only after
the artifact is complete in the artifact store.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["METADATA", "create_engine"]

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
    sa.UniqueConstraint("name", "sha256"),
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
    sa.UniqueConstraint("name", "bundle_sha"),
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


def create_engine(url: str) -> sa.Engine:
    """An engine with the tables created; SQLite gets WAL and a busy timeout."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    METADATA.create_all(engine)
    return engine
