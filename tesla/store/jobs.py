"""Jobs as the store keeps them: long service calls run by worker processes, and their ordered events.

A job is one call of a long service method (``kind`` = ``"<service>.<method>"``, ``params`` its
keyword arguments as JSON). Its life::

    queued ──claim──> running ──> succeeded | failed | cancelled | interrupted
       └──cancel──> cancelled

Every status change and every progress line is an *event* with a per-job ``seq`` (1, 2, ...);
the last event of a finished job is its terminal ``status`` event, and nothing is appended after
it. Several processes write at once (the server, one worker per job), so every write is one
transaction whose first statement writes: SQLite then holds its write lock for the whole
transaction, and the next ``seq`` is computed inside the ``INSERT`` itself (``max(seq) + 1``).
A database that lets two writers compute the same ``seq`` (PostgreSQL under READ COMMITTED)
fails one on the primary key; that append is retried, so no event is lost or duplicated.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tesla.store.metadata import METADATA, allocating
from tesla.store.recovery import Owner

__all__ = ["STATUSES", "TERMINAL", "Job", "JobEvent", "JobStore"]

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
_now = sa.func.current_timestamp

jobs = sa.Table(
    "jobs", METADATA,
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
    "job_events", METADATA,
    sa.Column("job_id", sa.String, sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),  # 1, 2, ... per job, in the order they happened
    sa.Column("kind", sa.String, nullable=False),  # status | event | message
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, server_default=_now()),
)


@dataclass(frozen=True)
class Job:
    """One long service call and where it stands."""

    id: str
    kind: str
    status: str
    params: dict[str, Any] = field(default_factory=dict)
    created_by: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: Any = None  # tesla.wire.encode(return value) once succeeded
    error: dict[str, Any] | None = None  # {"type", "message", "key"} once failed (or interrupted)
    progress: dict[str, Any] | None = None
    attempt: int = 0
    pid: int | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job: a status change, a plan event or a line of text."""

    job_id: str
    seq: int
    kind: str  # status (data: the job) | event (data: a tesla.execution.Event) | message (data: {"text"})
    data: Any
    created_at: str | None = None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _job(row: Any) -> Job:
    return Job(id=row.id, kind=row.kind, status=row.status, params=json.loads(row.params_json),
               created_by=row.created_by, created_at=_text(row.created_at), started_at=_text(row.started_at),
               finished_at=_text(row.finished_at), result=_loads(row.result_json), error=_loads(row.error_json),
               progress=_loads(row.progress_json), attempt=row.attempt or 0, pid=row.pid)


def _dumps(value: Any) -> str:
    # key order is kept: a result's dicts are ordered (metrics in the order the CLI prints them)
    return json.dumps(value, allow_nan=False)


class JobStore:
    """The ``jobs`` and ``job_events`` tables of one store (``JobStore(store.engine)``).

    Args:
        engine: the store's engine (its tables are made when the store opens).
        encode: turns a ``Job`` into the JSON data of its ``status`` events (``tesla.wire.encode``).
    """

    def __init__(self, engine: sa.Engine, encode: Any) -> None:
        self.engine = engine
        self._encode = encode

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return _job(row) if row else None

    def list(self, *, status: str | None = None, limit: int | None = 50) -> list[Job]:
        """Jobs newest first (``status``: only those)."""
        q = sa.select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        if status is not None:
            q = q.where(jobs.c.status == status)
        with self.engine.connect() as c:
            return [_job(r) for r in c.execute(q)]

    def queued(self) -> list[tuple[Job, Owner | None]]:
        """Queued jobs oldest first, each with the worker spawned for it (``None``: none yet)."""
        q = sa.select(jobs).where(jobs.c.status == "queued").order_by(jobs.c.created_at, jobs.c.id)
        with self.engine.connect() as c:
            return [(_job(r), _owner(r)) for r in c.execute(q)]

    def owner(self, job_id: str) -> Owner | None:
        """The worker process a job names (spawned for it, or running it)."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return _owner(row) if row else None

    def cancel_requested(self, job_id: str) -> bool:
        with self.engine.connect() as c:
            return bool(c.execute(sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar())

    def count(self, status: str) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status == status))
                       .scalar() or 0)

    def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        """The job's events with ``seq > after``, in order."""
        q = (sa.select(job_events).where(job_events.c.job_id == job_id, job_events.c.seq > after)
             .order_by(job_events.c.seq))
        with self.engine.connect() as c:
            return [JobEvent(job_id=r.job_id, seq=r.seq, kind=r.kind, data=json.loads(r.data_json),
                             created_at=_text(r.created_at)) for r in c.execute(q)]

    # -- writing ---------------------------------------------------------------------------------------
    def create(self, kind: str, params: Mapping[str, Any], created_by: str | None) -> Job:
        """A new ``queued`` job (its first event is that status)."""
        job_id = uuid.uuid4().hex[:12]
        with self.engine.begin() as c:
            # UTC like current_timestamp, but to the microsecond: jobs are listed (and started) in this order
            created = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            c.execute(jobs.insert().values(id=job_id, kind=kind, status="queued", params_json=_dumps(dict(params)),
                                           created_by=created_by, created_at=created, attempt=0,
                                           cancel_requested=False))
            job = self._status_event(c, job_id)
        return job

    def append(self, job_id: str, kind: str, data: Any, *, progress: Any = None) -> int | None:
        """Add an event to a job that has not ended; returns its ``seq`` (``None``: the job had ended).

        ``progress``, when given, becomes the job's ``progress`` in the same transaction.
        """
        def write(c: sa.Connection) -> int | None:
            # the job's row picks the rows to insert: none once the job has ended
            live = (sa.select(sa.literal(job_id), _next_seq(job_id), sa.literal(kind), sa.literal(_dumps(data)))
                    .where(jobs.c.id == job_id, jobs.c.status.not_in(TERMINAL)))
            # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT ... SELECT
            seq = c.execute(job_events.insert().from_select(["job_id", "seq", "kind", "data_json"], live)
                            .returning(job_events.c.seq)).scalar()
            if seq is None:
                return None
            if progress is not None:
                c.execute(jobs.update().where(jobs.c.id == job_id).values(progress_json=_dumps(progress)))
            return int(seq)

        return self._retrying(write)

    def transition(self, job_id: str, status: str, *, from_: tuple[str, ...], **values: Any) -> Job | None:
        """Move a job from one of ``from_`` to ``status`` and record the ``status`` event, atomically.

        ``values`` are columns to set with it (``error``/``result`` as data). Returns the job, or
        ``None`` when it was not in ``from_`` (someone else moved it first: nothing is written).
        """
        assert status in STATUSES, status
        columns = _columns(values)
        if status in TERMINAL:
            columns.setdefault("finished_at", _now())

        def write(c: sa.Connection) -> Job | None:
            moved = c.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.status.in_(from_))
                              .values(status=status, **columns))
            return self._status_event(c, job_id) if moved.rowcount else None

        return self._retrying(write)

    def claim(self, job_id: str, owner: Owner, *, limit: int) -> Job | None:
        """``owner`` starts running a queued job, unless ``limit`` jobs already run (then ``None``, still queued)."""
        others = jobs.alias("running_jobs")
        running = (sa.select(sa.func.count()).select_from(others).where(others.c.status == "running")
                   .correlate(None).scalar_subquery())

        def write(c: sa.Connection) -> Job | None:
            claimed = c.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.status == "queued", running < limit)
                                .values(status="running", pid=owner.pid, host=owner.host, pid_started=owner.started,
                                        started_at=_now(), finished_at=None, attempt=jobs.c.attempt + 1))
            return self._status_event(c, job_id) if claimed.rowcount else None

        return self._retrying(write)

    def mark_spawned(self, job_id: str, owner: Owner) -> None:
        """Note the worker just spawned for a queued job, so the next dispatch does not spawn another."""
        with self.engine.begin() as c:
            c.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.status == "queued")
                      .values(pid=owner.pid, host=owner.host, pid_started=owner.started))

    def request_cancel(self, job_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(jobs.update().where(jobs.c.id == job_id).values(cancel_requested=True))

    def _status_event(self, c: sa.Connection, job_id: str) -> Job:
        job = _job(c.execute(sa.select(jobs).where(jobs.c.id == job_id)).one())
        c.execute(job_events.insert().values(job_id=job_id, seq=_next_seq(job_id), kind="status",
                                             data_json=_dumps(self._encode(job))))
        return job

    def _retrying(self, write: Any) -> Any:
        return allocating(self.engine, write)  # appends lost to a concurrent writer on the same seq are retried


def _next_seq(job_id: str) -> Any:
    # never correlated with the INSERT's own table: the subquery reads every stored event of the job
    return (sa.select(sa.func.coalesce(sa.func.max(job_events.c.seq), 0) + 1)
            .where(job_events.c.job_id == job_id).correlate(None).scalar_subquery())


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("result", "error", "progress"):
            out[f"{name}_json"] = None if value is None else _dumps(value)
        else:
            out[name] = value
    return out


def _owner(row: Any) -> Owner | None:
    if row.pid is None or row.host is None:
        return None
    return Owner(row.host, row.pid, row.pid_started or "")
