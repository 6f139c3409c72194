"""Tesla's state: metadata rows (SQLAlchemy) plus content-addressed artifacts (fsspec).

``Store.open(project_dir)`` gives the embedded defaults: SQLite at ``.tesla/tesla.db`` and
artifacts under ``.tesla/artifacts``. ``TESLA_DB_URL`` and ``TESLA_ARTIFACTS`` override both.
The project is found as git finds a repository: ``find_project_root`` walks up from
``project_dir`` to the nearest directory holding ``conf/config.yaml`` or ``.tesla/``; only
``tesla init`` creates one, so no command leaves a stray store outside a project.

A store is opened for one acting user (``Store.open(dir, actor=...)``, set by ``tesla.Project``):
every dataset version, run, model version and deployment it writes records that name in
``created_by``. Users, roles and API tokens of the REST server live here too (``tesla.store.auth``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tesla.errors import DataNotFoundError, ModelNotFoundError, ProjectNotFoundError
from tesla.store import jobs as _jobs  # noqa: F401 - defines the jobs tables, so opening a store makes them
from tesla.store import metadata as t
from tesla.store.artifacts import ArtifactStore, hash_path
from tesla.store.auth import ApiToken, User
from tesla.store.identity import content_identity
from tesla.store.records import (
    DatasetVersion,
    Deployment,
    Evaluation,
    ModelVersion,
    MonitorEvent,
    Run,
    StepRecord,
    Trial,
    dataset_from_row,
    deployment_from_row,
    evaluation_from_row,
    model_from_row,
    monitor_event_from_row,
    run_from_row,
    step_from_row,
    trial_from_row,
)
from tesla.store.recovery import SCRATCH_DIR, Owner, recover

__all__ = ["ApiToken", "ArtifactStore", "DatasetVersion", "Deployment", "Evaluation", "ModelVersion", "MonitorEvent",
           "Run", "StepRecord", "Store", "Trial", "User", "find_project_root", "hash_path", "is_project"]

STATE_DIR = ".tesla"
PROJECT_CONF = Path("conf") / "config.yaml"  # written by `tesla init`


def is_project(directory: Path) -> bool:
    """Whether ``directory`` is a Tesla project's root: it holds ``conf/config.yaml`` or ``.tesla/``."""
    return (directory / PROJECT_CONF).is_file() or (directory / STATE_DIR).is_dir()


def find_project_root(start: str | os.PathLike[str] = ".") -> Path:
    """The root of the Tesla project holding ``start``: it or its nearest parent that ``is_project``.

    Args:
        start: a directory in the project (the working directory, or ``--project``).

    Returns:
        The project root, absolute.

    Raises:
        ProjectNotFoundError: ``start`` is missing or a file, or no directory from it up is a project.
    """
    begin = Path(start).expanduser()
    if not begin.exists():
        raise ProjectNotFoundError(f"project directory '{begin}' does not exist; create a project there with "
                                   f"'tesla init {begin}' or pass --project DIR of an existing one", key=str(begin))
    if not begin.is_dir():
        raise ProjectNotFoundError(f"project directory '{begin}' is a file, not a directory; pass --project DIR "
                                   "of a Tesla project", key=str(begin))
    here = begin.resolve()
    for directory in (here, *here.parents):
        if is_project(directory):
            return directory
    raise ProjectNotFoundError(f"no Tesla project in {here} or any parent directory; create one with "
                               "'tesla init DIR' or pass --project DIR", key=str(here))


def _db_url(state: Path) -> str:
    return os.environ.get("TESLA_DB_URL") or f"sqlite:///{state / 'tesla.db'}"


def _set_stage(c: sa.Connection, name: str, version: int, stage: str | None, actor: str | None = None) -> None:
    """Make ``version`` the one ``name@stage`` names (its alias) and its stage; deploy and promote both do this."""
    if stage:
        c.execute(t.models.update().where(t.models.c.name == name, t.models.c.stage == stage).values(stage=None))
        c.execute(t.model_aliases.delete().where(t.model_aliases.c.name == name, t.model_aliases.c.alias == stage))
        c.execute(t.model_aliases.insert().values(name=name, alias=stage, version=version, updated_by=actor))
    c.execute(t.models.update().where(t.models.c.name == name, t.models.c.version == version).values(stage=stage))


def _lease(kind: str, ref: str) -> sa.Insert:
    """This process takes on ``kind`` ``ref``: if it dies first, recovery settles what it left."""
    me = Owner.me()
    return t.leases.insert().values(kind=kind, ref=ref, host=me.host, pid=me.pid, started=me.started)


class Store:
    """Metadata and artifacts of one project.

    Args:
        db_url: SQLAlchemy URL of the metadata database.
        artifacts: the artifact store.
        state_dir: the project's ``.tesla`` directory (logs, caches).
        actor: who the writes made through this store are recorded as made by (``created_by``).
    """

    def __init__(self, db_url: str, artifacts: ArtifactStore, state_dir: Path, actor: str | None = None) -> None:
        self.db_url = db_url
        self.engine = t.create_engine(db_url)
        self.artifacts = artifacts
        self.state_dir = state_dir
        self.actor = actor

    @staticmethod
    def upgrade(project_dir: str | os.PathLike[str] = ".") -> tuple[str | None, str]:
        """Bring the project's store (``TESLA_DB_URL`` or the embedded one) to this Tesla's schema.

        Returns:
            (the revision it was at, None for a new or pre-migration store; the revision it is at now).

        Raises:
            ProjectNotFoundError: ``project_dir`` is in no Tesla project.
            DependencyError: the store was upgraded by a newer Tesla.
        """
        from tesla.store import migrations

        state = find_project_root(project_dir) / STATE_DIR
        state.mkdir(exist_ok=True)
        engine = t.create_engine(_db_url(state), check_schema=False)
        try:
            return migrations.upgrade(engine)
        finally:
            engine.dispose()

    @classmethod
    def open(cls, project_dir: str | os.PathLike[str] = ".", *, actor: str | None = None) -> Store:
        """The store of the project holding ``project_dir`` (its ``.tesla/`` is made on first use).

        Args:
            project_dir: a directory in the project.
            actor: the acting user its writes record (``created_by``); ``None`` records nobody.

        Raises:
            ProjectNotFoundError: ``project_dir`` is in no Tesla project (see ``find_project_root``).
        """
        state = find_project_root(project_dir) / STATE_DIR
        state.mkdir(exist_ok=True)
        root = os.environ.get("TESLA_ARTIFACTS") or str(state / "artifacts")
        store = cls(_db_url(state), ArtifactStore(root, cache_dir=state / "cache"), state, actor=actor)
        recover(store)  # runs and deployments whose process was killed: interrupted, scratch removed
        return store

    # -- datasets -----------------------------------------------------------
    def find_dataset_version(self, name: str, sha256: str) -> DatasetVersion | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.dataset_versions).where(
                t.dataset_versions.c.name == name, t.dataset_versions.c.sha256 == sha256)).first()
            target = c.execute(sa.select(t.datasets.c.target).where(t.datasets.c.name == name)).scalar()
        return dataset_from_row(row, target) if row else None

    def add_dataset_version(self, name: str, *, sha256: str, format: str, source: str, rows: int,
                            schema: Mapping[str, Any], target: str | None,
                            message: str | None = None) -> DatasetVersion:
        """Record a new version (the artifact must already be stored) and make it current.

        The version number is allocated atomically (``metadata.allocating``): writers loading into one
        dataset at once each get their own number, with no gap and no duplicate.
        """
        def allocate(c: sa.Connection) -> int:
            current = c.execute(sa.select(sa.func.max(t.dataset_versions.c.version))
                                .where(t.dataset_versions.c.name == name)).scalar()
            version = (current or 0) + 1
            if current is None:
                c.execute(t.datasets.insert().values(name=name, current_version=version, target=target))
            else:
                values: dict[str, Any] = {"current_version": version}
                if target:
                    values["target"] = target
                c.execute(t.datasets.update().where(t.datasets.c.name == name).values(**values))
            c.execute(t.dataset_versions.insert().values(
                name=name, version=version, sha256=sha256, format=format, source=source, rows=rows,
                schema_json=json.dumps(dict(schema), sort_keys=True), message=message, created_by=self.actor))
            return version

        return self.dataset_version(name, t.allocating(self.engine, allocate, lock=f"datasets/{name}"))

    def dataset_names(self) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(t.datasets.c.name).order_by(t.datasets.c.name)).scalars())

    def dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """A dataset version; ``None`` means the current one."""
        with self.engine.connect() as c:
            ds = c.execute(sa.select(t.datasets).where(t.datasets.c.name == name)).first()
            if ds is None:
                known = self.dataset_names()
                hint = f"; datasets: {', '.join(known)}" if known else "; load one with `tesla load -d FILE -o NAME`"
                raise DataNotFoundError(f"no dataset named '{name}'{hint}", key="data.dataset")
            wanted = ds.current_version if version is None else version
            row = c.execute(sa.select(t.dataset_versions).where(
                t.dataset_versions.c.name == name, t.dataset_versions.c.version == wanted)).first()
        if row is None:
            raise DataNotFoundError(f"dataset '{name}' has no version {wanted}; see `tesla data log {name}`",
                                    key="data.version")
        return dataset_from_row(row, ds.target)

    def dataset_log(self, name: str) -> list[DatasetVersion]:
        current = self.dataset_version(name)
        with self.engine.connect() as c:
            rows = c.execute(sa.select(t.dataset_versions).where(t.dataset_versions.c.name == name)
                             .order_by(t.dataset_versions.c.version.desc())).all()
        return [dataset_from_row(r, current.target) for r in rows]

    def set_current_dataset_version(self, name: str, version: int) -> DatasetVersion:
        self.dataset_version(name, version)  # raises when missing
        with self.engine.begin() as c:
            c.execute(t.datasets.update().where(t.datasets.c.name == name).values(current_version=version))
        return self.dataset_version(name)

    def tag_dataset_version(self, name: str, version: int, tag: str) -> int | None:
        """Point ``tag`` of dataset ``name`` at ``version``; returns the version it pointed at before, if any."""
        self.dataset_version(name, version)  # raises when missing
        with self.engine.begin() as c:
            before = c.execute(sa.select(t.dataset_tags.c.version).where(
                t.dataset_tags.c.name == name, t.dataset_tags.c.tag == tag)).scalar()
            if before is None:
                c.execute(t.dataset_tags.insert().values(name=name, tag=tag, version=version, created_by=self.actor))
            else:
                c.execute(t.dataset_tags.update().where(t.dataset_tags.c.name == name, t.dataset_tags.c.tag == tag)
                          .values(version=version, created_by=self.actor))
        return before

    def dataset_tags(self, name: str | None = None) -> list[tuple[str, str, int]]:
        """(dataset, tag, version) of every tag (of dataset ``name``), by dataset and tag."""
        query = sa.select(t.dataset_tags.c.name, t.dataset_tags.c.tag, t.dataset_tags.c.version)
        if name is not None:
            query = query.where(t.dataset_tags.c.name == name)
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(query.order_by(t.dataset_tags.c.name, t.dataset_tags.c.tag))]

    def delete_dataset_version(self, name: str, version: int) -> None:
        """Forget one version (``tesla data gc``; the caller checked nothing refers to it)."""
        with self.engine.begin() as c:
            c.execute(t.dataset_versions.delete().where(t.dataset_versions.c.name == name,
                                                        t.dataset_versions.c.version == version))

    def dataset_shas_in_use(self) -> set[str]:
        """The sha256 of every dataset version still recorded (of any dataset)."""
        with self.engine.connect() as c:
            return set(c.execute(sa.select(t.dataset_versions.c.sha256).distinct()).scalars())

    # -- runs and steps -----------------------------------------------------
    def create_run(self, *, plan_name: str, plan_fingerprint: str, backend: str, plan_json: str,
                   meta: Mapping[str, Any], parent_id: str | None = None) -> str:
        run_id = uuid.uuid4().hex[:12]
        with self.engine.begin() as c:
            c.execute(t.runs.insert().values(
                id=run_id, plan_name=plan_name, plan_fingerprint=plan_fingerprint, backend=backend,
                status="running", plan_json=plan_json, meta_json=json.dumps(dict(meta), sort_keys=True),
                parent_id=parent_id, created_by=self.actor))
            c.execute(_lease("run", run_id))
        return run_id

    def scratch_dir(self, run_id: str) -> Path:
        """Where the steps of ``run_id`` run in-process; removed when the run ends (or, killed, on the next open)."""
        return self.state_dir / SCRATCH_DIR / run_id

    def finish_run(self, run_id: str, status: str, error: str | None = None,
                   meta: Mapping[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"status": status, "error": error, "ended_at": sa.func.current_timestamp()}
        if meta is not None:
            values["meta_json"] = json.dumps(dict(meta), sort_keys=True)
        with self.engine.begin() as c:
            c.execute(t.runs.update().where(t.runs.c.id == run_id).values(**values))
            c.execute(t.leases.delete().where(t.leases.c.kind == "run", t.leases.c.ref == run_id))

    def run(self, run_id: str) -> Run:
        """The run whose id is or starts with ``run_id``."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.runs).where(t.runs.c.id.startswith(run_id))).first()
        if row is None:
            raise DataNotFoundError(f"no run '{run_id}'; see `tesla runs list`", key="run")
        return run_from_row(row)

    def runs(self, limit: int = 50, parent_id: str | None = None) -> list[Run]:
        q = sa.select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.id).limit(limit)
        if parent_id is not None:
            q = q.where(t.runs.c.parent_id == parent_id)
        with self.engine.connect() as c:
            return [run_from_row(r) for r in c.execute(q)]

    def record_step(self, run_id: str, step: Any, *, status: str, outputs: Mapping[str, str] | None = None,
                    result: Mapping[str, Any] | None = None, seconds: float | None = None,
                    error: str | None = None, job_ref: str | None = None) -> None:
        """Insert or update the row of ``step`` (a ``tesla.plan.Step``) in ``run_id``."""
        values = dict(kind=step.kind, fingerprint=step.fingerprint, status=status,
                      params_json=json.dumps(dict(step.params), sort_keys=True),
                      outputs_json=json.dumps(dict(outputs or {}), sort_keys=True),
                      result_json=json.dumps(dict(result or {}), sort_keys=True, default=str),
                      seconds=seconds, error=error, job_ref=job_ref)
        with self.engine.begin() as c:
            updated = c.execute(t.steps.update().where(
                t.steps.c.run_id == run_id, t.steps.c.step_id == step.id).values(**values)).rowcount
            if not updated:
                c.execute(t.steps.insert().values(run_id=run_id, step_id=step.id, **values))

    def completed_step(self, fingerprint: str) -> StepRecord | None:
        """The newest successful record of a step with this fingerprint whose outputs all exist."""
        q = (sa.select(t.steps).where(t.steps.c.fingerprint == fingerprint,
                                      t.steps.c.status == "succeeded")
             .order_by(t.steps.c.started_at.desc()))
        with self.engine.connect() as c:
            for row in c.execute(q):
                step = step_from_row(row)
                if all(self.artifacts.exists(sha) for sha in step.outputs.values()):
                    return step
        return None

    def previous_step_params(self, plan_name: str, step_id: str) -> dict[str, Any] | None:
        """Params of the last successful step ``step_id`` of a plan with this name (for cache-miss reasons)."""
        q = (sa.select(t.steps.c.params_json).join(t.runs, t.runs.c.id == t.steps.c.run_id)
             .where(t.runs.c.plan_name == plan_name, t.steps.c.step_id == step_id,
                    t.steps.c.status == "succeeded")
             .order_by(t.steps.c.started_at.desc()).limit(1))
        with self.engine.connect() as c:
            text = c.execute(q).scalar()
        return json.loads(text) if text else None

    def run_steps(self, run_id: str) -> list[StepRecord]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(t.steps).where(t.steps.c.run_id == run_id)
                             .order_by(t.steps.c.started_at)).all()
        return [step_from_row(r) for r in rows]

    def add_trials(self, run_id: str, step_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        payload = [dict(run_id=run_id, step_id=step_id, n=r["n"], estimator=r["estimator"],
                        loss=r.get("loss"), best_loss=r.get("best_loss"),
                        config_json=json.dumps(r.get("config", {}), sort_keys=True, default=str),
                        wall_s=r.get("wall_s")) for r in rows]
        if not payload:
            return
        with self.engine.begin() as c:
            c.execute(t.trials.delete().where(t.trials.c.run_id == run_id, t.trials.c.step_id == step_id))
            c.execute(t.trials.insert(), payload)

    def trials(self, run_id: str) -> list[Trial]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(t.trials).where(t.trials.c.run_id == run_id).order_by(t.trials.c.n)).all()
        return [trial_from_row(r) for r in rows]

    # -- models -------------------------------------------------------------
    def register_model(self, name: str, *, bundle_sha: str, framework: str, task: str, run_id: str | None,
                       dataset: str | None, dataset_version: int | None, plan_fingerprint: str | None,
                       metrics: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[ModelVersion, bool]:
        """Register ``bundle_sha`` as the next version of ``name``; returns (version, created).

        Registering the same bundle again returns the existing version (``created`` False), also when
        another process registers it at the same moment, and so does a bundle whose bytes differ but whose
        content does (``tesla.store.identity``: skops archives differ from run to run); versions are allocated as in ``add_dataset_version``.
        """
        content_sha = content_identity(self.artifacts.path(bundle_sha))

        def allocate(c: sa.Connection) -> tuple[int, bool]:
            row = c.execute(sa.select(t.models).where(
                t.models.c.name == name,
                sa.or_(t.models.c.bundle_sha == bundle_sha, t.models.c.content_sha == content_sha))).first()
            if row is not None:
                return row.version, False
            current = c.execute(sa.select(sa.func.max(t.models.c.version)).where(t.models.c.name == name)).scalar()
            version = (current or 0) + 1
            c.execute(t.models.insert().values(
                name=name, version=version, bundle_sha=bundle_sha, content_sha=content_sha, framework=framework, task=task,
                run_id=run_id, dataset=dataset, dataset_version=dataset_version,
                plan_fingerprint=plan_fingerprint, metrics_json=json.dumps(dict(metrics), sort_keys=True),
                config_json=json.dumps(dict(config), sort_keys=True, default=str), created_by=self.actor))
            return version, True

        version, created = t.allocating(self.engine, allocate, lock=f"models/{name}")
        return self.model(name, version), created

    def model_names(self) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(t.models.c.name).distinct().order_by(t.models.c.name)).scalars())

    def model(self, name: str, version: int | str | None = None) -> ModelVersion:
        """A model version; ``None`` means the newest, a string the version that alias names (``production``)."""
        q = sa.select(t.models).where(t.models.c.name == name)
        if isinstance(version, str):
            q = q.join(t.model_aliases, sa.and_(t.model_aliases.c.name == t.models.c.name,
                                                t.model_aliases.c.version == t.models.c.version)
                       ).where(t.model_aliases.c.alias == version)
        elif version is not None:
            q = q.where(t.models.c.version == version)
        else:
            q = q.order_by(t.models.c.version.desc())
        with self.engine.connect() as c:
            row = c.execute(q.limit(1)).first()
        if row is not None:
            return model_from_row(row, self._aliases(name).get(row.version, ()))
        if isinstance(version, str) and name in self.model_names():
            known = sorted({a for names in self._aliases(name).values() for a in names})
            hint = f" (aliases: {', '.join(known)})" if known else ""
            raise ModelNotFoundError(f"model '{name}' has no version called '{version}'{hint}; promote one with "
                                     f"`tesla models promote {name}@VERSION {version}`", key=name)
        names = self.model_names()
        if name in names:
            raise ModelNotFoundError(f"model '{name}' has no version {version}; see `tesla models list`", key=name)
        import difflib

        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else (
            " Train one with `tesla train -m NAME`." if not names else f" Models: {', '.join(names)}.")
        raise ModelNotFoundError(f"no model named '{name}'.{hint}", key=name)

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        q = sa.select(t.models).order_by(t.models.c.name, t.models.c.version)
        if name:
            q = q.where(t.models.c.name == name)
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        aliases = {n: self._aliases(n) for n in {r.name for r in rows}}
        return [model_from_row(r, aliases[r.name].get(r.version, ())) for r in rows]

    def _aliases(self, name: str) -> dict[int, tuple[str, ...]]:
        q = sa.select(t.model_aliases).where(t.model_aliases.c.name == name).order_by(t.model_aliases.c.alias)
        out: dict[int, tuple[str, ...]] = {}
        with self.engine.connect() as c:
            for row in c.execute(q):
                out[row.version] = (*out.get(row.version, ()), row.alias)
        return out

    def set_model_stage(self, name: str, version: int, stage: str | None) -> None:
        with self.engine.begin() as c:
            _set_stage(c, name, version, stage, self.actor)

    def promote(self, name: str, version: int, alias: str) -> ModelVersion:
        """Make ``name@alias`` (a stage such as ``production``, or any alias) name ``version``; returns it."""
        self.model(name, version)  # raises when missing
        self.set_model_stage(name, version, alias)
        return self.model(name, version)

    # -- evaluations --------------------------------------------------------
    def add_evaluation(self, model: str, version: int, data: str, metrics: Mapping[str, Any],
                       report_sha: str | None) -> None:
        with self.engine.begin() as c:
            c.execute(t.evaluations.insert().values(model=model, version=version, data=data,
                                                    metrics_json=json.dumps(dict(metrics), sort_keys=True),
                                                    report_sha=report_sha))

    def evaluations(self, model: str, version: int | None = None) -> list[Evaluation]:
        q = sa.select(t.evaluations).where(t.evaluations.c.model == model).order_by(t.evaluations.c.id.desc())
        if version is not None:
            q = q.where(t.evaluations.c.version == version)
        with self.engine.connect() as c:
            return [evaluation_from_row(r) for r in c.execute(q)]

    # -- deployments --------------------------------------------------------
    def add_deployment(self, **values: Any) -> int:
        info = values.pop("info", {})
        values.setdefault("created_by", self.actor)
        with self.engine.begin() as c:
            res = c.execute(t.deployments.insert().values(info_json=json.dumps(info, sort_keys=True), **values))
            return int(res.inserted_primary_key[0])

    def start_deployment(self, **values: Any) -> int:
        """Record a deployment about to start (status ``starting``), leased to this process.

        Should this process die before ``activate_deployment``, the next ``Store.open`` stops the
        server it may have spawned and drops the row: only deployments that served are listed.
        """
        info = values.pop("info", {})
        values.setdefault("created_by", self.actor)
        with self.engine.begin() as c:
            res = c.execute(t.deployments.insert().values(status="starting", info_json=json.dumps(info, sort_keys=True),
                                                          **values))
            dep_id = int(res.inserted_primary_key[0])
            c.execute(_lease("deployment", str(dep_id)))
        return dep_id

    def activate_deployment(self, dep_id: int, *, stage: str, **values: Any) -> None:
        """A started deployment is healthy: mark it running and its model version ``stage``, in one transaction."""
        if "info" in values:
            values["info_json"] = json.dumps(values.pop("info"), sort_keys=True)
        with self.engine.begin() as c:
            row = c.execute(sa.select(t.deployments).where(t.deployments.c.id == dep_id)).one()
            c.execute(t.deployments.update().where(t.deployments.c.id == dep_id).values(status="running", **values))
            _set_stage(c, row.model, row.version, stage, self.actor)
            c.execute(t.leases.delete().where(t.leases.c.kind == "deployment", t.leases.c.ref == str(dep_id)))

    def drop_deployment(self, dep_id: int) -> None:
        """Forget a deployment that never started (its server failed): nothing was deployed."""
        with self.engine.begin() as c:
            c.execute(t.leases.delete().where(t.leases.c.kind == "deployment", t.leases.c.ref == str(dep_id)))
            c.execute(t.deployments.delete().where(t.deployments.c.id == dep_id))

    def update_deployment(self, dep_id: int, **values: Any) -> None:
        if "info" in values:
            values["info_json"] = json.dumps(values.pop("info"), sort_keys=True)
        if values.get("status") in {"stopped", "replaced", "failed"}:
            values.setdefault("stopped_at", sa.func.current_timestamp())
        with self.engine.begin() as c:
            c.execute(t.deployments.update().where(t.deployments.c.id == dep_id).values(**values))

    def deployments(self, *, model: str | None = None, profile: str | None = None,
                    active_only: bool = False) -> list[Deployment]:
        q = sa.select(t.deployments).order_by(t.deployments.c.id.desc())
        if model:
            q = q.where(t.deployments.c.model == model)
        if profile:
            q = q.where(t.deployments.c.profile == profile)
        if active_only:
            q = q.where(t.deployments.c.status == "running")
        with self.engine.connect() as c:
            return [deployment_from_row(r) for r in c.execute(q)]

    # -- monitoring -----------------------------------------------------------
    def add_monitor_event(self, *, model: str, profile: str, status: str, alerts: list[Any],
                          summary: Mapping[str, Any], report_path: str | None) -> int:
        """Record the outcome of one ``tesla monitor`` check."""
        with self.engine.begin() as c:
            res = c.execute(t.monitor_events.insert().values(
                model=model, profile=profile, status=status, report_path=report_path,
                alerts_json=json.dumps(alerts, sort_keys=True, default=str),
                summary_json=json.dumps(dict(summary), sort_keys=True, default=str)))
            return int(res.inserted_primary_key[0])

    def monitor_events(self, *, model: str | None = None, limit: int = 20) -> list[MonitorEvent]:
        """Monitoring checks, newest first; ``model`` is a name (any version) or name@version."""
        q = sa.select(t.monitor_events).order_by(t.monitor_events.c.id.desc()).limit(limit)
        if model:
            column = t.monitor_events.c.model
            q = q.where(column == model) if "@" in model else q.where(column.startswith(f"{model}@"))
        with self.engine.connect() as c:
            return [monitor_event_from_row(r) for r in c.execute(q)]


    # -- users and API tokens (the REST server's; see tesla.store.auth) ---------------------------------
    def users(self) -> list[User]:
        with self.engine.connect() as c:
            return [_row_to_user(r) for r in c.execute(sa.select(t.users).order_by(t.users.c.name))]

    def user(self, name: str) -> User | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.users).where(t.users.c.name == name)).first()
        return _row_to_user(row) if row else None

    def has_users(self) -> bool:
        """Whether anyone is a user: the REST server then asks every request for a token."""
        with self.engine.connect() as c:
            return c.execute(sa.select(t.users.c.name).limit(1)).first() is not None

    def add_user(self, name: str, role: str) -> User:
        with self.engine.begin() as c:
            c.execute(t.users.insert().values(name=name, role=role, created_by=self.actor))
        user = self.user(name)
        assert user is not None
        return user

    def set_user_role(self, name: str, role: str) -> None:
        with self.engine.begin() as c:
            c.execute(t.users.update().where(t.users.c.name == name).values(role=role))

    def remove_user(self, name: str) -> int:
        """Delete a user and their tokens (revoked or not); returns how many tokens went with them."""
        with self.engine.begin() as c:
            tokens = c.execute(t.api_tokens.delete().where(t.api_tokens.c.user == name)).rowcount
            c.execute(t.users.delete().where(t.users.c.name == name))
        return int(tokens)

    def add_token(self, token_id: str, user: str, sha256: str, note: str | None) -> ApiToken:
        """Record a token by its hash (never the token itself)."""
        with self.engine.begin() as c:
            c.execute(t.api_tokens.insert().values(id=token_id, user=user, sha256=sha256, note=note,
                                                   created_by=self.actor))
        token = self.token(token_id)
        assert token is not None
        return token

    def tokens(self, user: str | None = None) -> list[ApiToken]:
        q = sa.select(t.api_tokens).order_by(t.api_tokens.c.user, t.api_tokens.c.created_at, t.api_tokens.c.id)
        if user is not None:
            q = q.where(t.api_tokens.c.user == user)
        with self.engine.connect() as c:
            return [_row_to_token(r) for r in c.execute(q)]

    def token(self, token_id: str) -> ApiToken | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()
        return _row_to_token(row) if row else None

    def token_hash(self, token_id: str) -> tuple[ApiToken, str] | None:
        """An active token and its stored sha256, for checking a presented token; ``None`` if unknown or revoked."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.api_tokens).where(t.api_tokens.c.id == token_id,
                                                          t.api_tokens.c.revoked_at.is_(None))).first()
        return (_row_to_token(row), row.sha256) if row else None

    def revoke_token(self, token_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(t.api_tokens.update().where(t.api_tokens.c.id == token_id, t.api_tokens.c.revoked_at.is_(None))
                      .values(revoked_at=sa.func.current_timestamp()))


def _row_to_user(row: Any) -> User:
    return User(name=row.name, role=row.role, created_at=str(row.created_at), created_by=row.created_by)


def _row_to_token(row: Any) -> ApiToken:
    return ApiToken(id=row.id, user=row.user, note=row.note, created_at=str(row.created_at),
                    created_by=row.created_by, revoked_at=str(row.revoked_at) if row.revoked_at else None)
