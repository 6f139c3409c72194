"""The store's schema as Tesla 0.x shipped it before migrations: every table, as ``create_all`` made them.

A store made before migrations existed (no ``alembic_version`` table) is brought to this revision
by ``tesla.store.migrations.upgrade`` (missing tables created, missing nullable columns added, as
``_add_missing_columns`` always did) and stamped with it; later revisions then run as for any store.
This file is frozen: a schema change is a new revision, never an edit here.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_now = sa.func.current_timestamp


def schema() -> sa.MetaData:
    """The tables of this revision (a frozen copy, not ``tesla.store.metadata``'s living one)."""
    schema = sa.MetaData()
    datasets = sa.Table(
        "datasets", schema,
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("target", sa.String),
        sa.Column("created_at", sa.DateTime, server_default=_now()),
    )

    dataset_versions = sa.Table(
        "dataset_versions", schema,
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

    runs = sa.Table(
        "runs", schema,
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
        "steps", schema,
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
        "trials", schema,
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
        "models", schema,
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
        sa.UniqueConstraint("name", "bundle_sha"),
    )

    evaluations = sa.Table(
        "evaluations", schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.String, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("report_sha", sa.String),
        sa.Column("created_at", sa.DateTime, server_default=_now()),
    )

    deployments = sa.Table(
        "deployments", schema,
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

    # who is doing a piece of work that is not finished yet: a run, or a deployment being started
    leases = sa.Table(
        "leases", schema,
        sa.Column("kind", sa.String, primary_key=True),  # run | deployment
        sa.Column("ref", sa.String, primary_key=True),  # the run id, or the deployment id
        sa.Column("host", sa.String, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started", sa.String, nullable=False),  # the process's start time: a guard against pid reuse
        sa.Column("created_at", sa.DateTime, server_default=_now()),
    )

    monitor_events = sa.Table(
        "monitor_events", schema,
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
        "users", schema,
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("role", sa.String, nullable=False),  # read | write | admin (each includes the ones before it)
        sa.Column("created_at", sa.DateTime, server_default=_now()),
        sa.Column("created_by", sa.String),
    )

    # API tokens: only the sha256 of the token is kept; ``id`` is the short public part of the token itself
    api_tokens = sa.Table(
        "api_tokens", schema,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("user", sa.String, sa.ForeignKey("users.name"), nullable=False, index=True),
        sa.Column("sha256", sa.String, nullable=False, unique=True),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime, server_default=_now()),
        sa.Column("created_by", sa.String),
        sa.Column("revoked_at", sa.DateTime),
    )

    jobs = sa.Table(
        "jobs", schema,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("kind", sa.String, nullable=False),  # "<service>.<method>", e.g. training.train
        sa.Column("status", sa.String, nullable=False),  # see STATUSES
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("created_by", sa.String),
        sa.Column("created_at", sa.DateTime, server_default=_now()),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("result_json", sa.Text),  # tesla.wire.encode of the method's return value
        sa.Column("error_json", sa.Text),  # {"type", "message", "key"}
        sa.Column("progress_json", sa.Text),  # the last progress data
        sa.Column("attempt", sa.Integer, nullable=False, default=0),  # how many times a worker claimed it
        sa.Column("pid", sa.Integer),  # the worker: spawned (queued) or running it
        sa.Column("host", sa.String),
        sa.Column("pid_started", sa.String),  # the worker's start time: a guard against pid reuse
        sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    )

    job_events = sa.Table(
        "job_events", schema,
        sa.Column("job_id", sa.String, sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),  # 1, 2, ... per job, in the order they happened
        sa.Column("kind", sa.String, nullable=False),  # status | event | message
        sa.Column("data_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=_now()),
    )
    return schema


def upgrade() -> None:
    schema().create_all(op.get_bind())


def downgrade() -> None:
    schema().drop_all(op.get_bind())
