"""The training service: plans, training runs, sweeps, replay, the model registry and cloud jobs."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.compiler import compile_train
from tesla.config import check_config
from tesla.errors import ConfigError, DataError
from tesla.execution import Backend, DryRun, Event, JobAdmin, RunResult
from tesla.plan import Plan
from tesla.services._common import (
    EventSink,
    backend_schemas,
    model_name,
    parse_model_ref,
    train_overrides,
)
from tesla.store import ModelVersion, Run, StepRecord, Trial
from tesla.store.records import EstimatorScore, SweepPoint
from tesla.store.faults import fault_point

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["DryRunResult", "ReplayResult", "RunReport", "SweepPlan", "SweepResult", "TrainResult", "TrainingService"]


@dataclass
class TrainResult:
    model: ModelVersion
    created: bool  # False: an identical bundle was already registered
    run: RunResult
    leaderboard: dict[str, float]
    search: dict[str, Any]

    @property
    def warnings(self) -> list[str]:
        """What the held-out evaluation warns about: one class for every row, importance cut by the budget..."""
        return list(self.run.steps.get("evaluate", {}).get("result", {}).get("warnings", []))

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html, rows_html

        board = [{"estimator": k, "best loss": v} for k, v in sorted(self.leaderboard.items(), key=lambda kv: kv[1])]
        return card_html(f"Trained {self.model.ref}", {
            "new version": self.created, "run": self.run.run_id, "best estimator": self.search.get("best_estimator"),
            "held-out metrics": self.model.metrics}, [("Leaderboard", rows_html(board))])


@dataclass
class SweepPlan:
    """A grid sweep before it runs: every point's overrides and training plan."""

    model: str
    sweeper: str
    launcher: str
    points: list[tuple[list[str], Plan]]  # (the point's overrides as Hydra lists them, its plan)

    def tesla_overrides(self, index: int) -> list[str]:
        """A point's overrides without Hydra's own (launcher, sweeper): what ``train`` would take."""
        from tesla.config.sweep import is_hydra_override

        return [o for o in self.points[index][0] if not is_hydra_override(o)]


@dataclass
class SweepResult:
    """A finished sweep: the leaderboard across its points and the registered best point."""

    sweep_id: str
    rank_metric: str | None  # the held-out metric the points are ranked by
    leaderboard: list[SweepPoint]  # best first; see tesla.store.sweeps
    model: ModelVersion  # the best point's bundle, registered
    created: bool  # False: that bundle was already registered
    sweep_dir: Path  # Hydra's per-point records (.hydra/ config and overrides)


@dataclass
class ReplayResult:
    """A replay that reproduced the recorded held-out metrics."""

    model: ModelVersion
    run: RunResult  # the replay's own run (plan ``replay/<name>``)
    recorded: dict[str, float]
    replayed: dict[str, float]


@dataclass
class RunReport:
    """A run's record and the HTML report written for it."""

    run: Run
    steps: list[StepRecord]
    trials: list[Trial]
    estimators: list[EstimatorScore]  # a training run's leaderboard, best first (a sweep: empty)
    points: list[SweepPoint]  # a sweep's leaderboard across its points, best first (a training run: empty)
    rank_metric: str | None  # a sweep's held-out ranking metric
    path: Path

    @property
    def leaderboard(self) -> list[EstimatorScore] | list[SweepPoint]:
        """The leaderboard this run has: per point for a sweep, per estimator otherwise."""
        return self.points if self.run.plan_name.startswith("sweep/") else self.estimators

    def _repr_html_(self) -> str:
        from tesla.report.html import line_svg
        from tesla.report.notebook import card_html, rows_html

        columns = (["rank", "point", "status", "score", "best_estimator"] if self.points
                   else ["rank", "estimator", "best_loss", "trials", "best_trial"])
        scored = [t for t in self.trials if t.best_loss is not None]
        progress = line_svg([t.n for t in scored], [t.best_loss for t in scored], x_label="trial",
                            y_label="best loss") if len(scored) > 1 else ""
        return card_html(f"Run {self.run.id} ({self.run.plan_name})", {
            "status": self.run.status, "backend": self.run.backend, "trials": len(self.trials), "report": self.path},
            [("Leaderboard", rows_html(self.leaderboard, columns)), ("Search progress", progress),
             ("Steps", rows_html(self.steps, ["step_id", "kind", "status", "seconds"]))])


@dataclass
class DryRunResult:
    """What ``tesla plan --dry-run`` shows; producing it sent nothing anywhere."""

    plan: Plan
    backend: str
    requests: list[dict[str, Any]]  # {"step", "operation", "request"} in run order
    problems: list[str]  # strict-validation and backend-check failures
    cost: dict[str, Any]  # CostEstimate.to_dict(); cached steps left out
    budget_error: str | None  # why backend.max_usd refuses the plan; None when it does not


class TrainingService:
    """Training of one project: compile and run plans, register bundles, and read back runs and models."""

    def __init__(self, project: Project) -> None:
        self.project = project

    # -- plans --------------------------------------------------------------------------------------
    def config(self, model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
               overrides: Sequence[str] = ()) -> tuple[Any, dict[str, Any]]:
        """The composed training config (``-m``, ``-f``, ``-p`` and overrides applied) as (node, plain dict)."""
        return self.project.config(train_overrides(model, framework, max_iter, overrides))

    def compile_plan(self, model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
                     overrides: Sequence[str] = (), ingest: bool = False) -> Plan:
        """Compose the config and compile the training plan, without running anything.

        Args:
            model: the model name (``-m``); default ``model.name`` from config, else ``model``.
            framework: ``-f``; overrides ``search.framework``.
            max_iter: ``-p``; overrides ``search.max_iter``.
            overrides: Hydra overrides (``key=value``).
            ingest: load ``data.source`` as a dataset version first (``train`` does; ``plan`` does not).
        """
        plain = self.project.plain_config(train_overrides(model, framework, max_iter, overrides))
        if not plain["model"]["name"]:
            plain["model"]["name"] = "model"
        return self.compile(plain, ingest=ingest)

    def compile(self, plain: Mapping[str, Any], *, ingest: bool) -> Plan:
        """The training plan of an already composed and checked config."""
        store = self.project.store
        dataset = self.project.data.resolve(plain, ingest=ingest)
        test_file = self.project.data.stage_file(plain["evaluation"]["data"], "evaluation.data", put=ingest)
        name = model_name(plain)
        return compile_train(plain, dataset, model_name=name, test_file=test_file,
                             warm_start=warm_start(plain, store.model_versions(name)))

    def plan_status(self, plan: Plan) -> dict[str, str]:
        """step id -> "cached" or "will run", as the next run would see it."""
        store = self.project.store
        status: dict[str, str] = {}
        for step in plan.ordered():
            upstream_runs = any(status.get(r.step) == "will run" for r in step.inputs.values() if r.step)
            cached = not upstream_runs and store.completed_step(step.fingerprint) is not None
            status[step.id] = "cached" if cached else "will run"
        return status

    # -- training ------------------------------------------------------------------------------------
    def train(self, model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
              overrides: Sequence[str] = (), force: bool = False, on_event: EventSink | None = None,
              parent_id: str | None = None) -> TrainResult:
        """Compile and run the training plan, then register the bundle as the next model version."""
        plain = self.project.plain_config(train_overrides(model, framework, max_iter, overrides))
        name = model_name(plain)
        plan, run = self.run_training(plain, force=force, on_event=on_event, parent_id=parent_id)
        mv, created = self.register(name, plan, run.run_id, run.steps, plain)
        search = run.result("search")
        return TrainResult(model=mv, created=created, run=run, leaderboard=search.get("leaderboard", {}),
                           search=search)

    def run_training(self, plain: Mapping[str, Any], *, force: bool, on_event: EventSink | None,
                     parent_id: str | None, meta: Mapping[str, Any] | None = None) -> tuple[Plan, RunResult]:
        """Compile (loading ``data.source`` first) and run the training plan of a composed config."""
        from tesla.lineage import run_meta

        plan = self.compile(plain, ingest=True)
        # meta is not part of the fingerprint: the steps cache exactly as without it; the run records its
        # resolved config, code and package versions there (`tesla models show`, `tesla diff`)
        plan = dataclasses.replace(plan, meta={**plan.meta, **run_meta(self.project.root, plain), **(meta or {})})
        backend = self.project.backend(plain)
        self.guard_budget(backend, plan, plain)  # before anything is uploaded or submitted
        return plan, backend.run(plan, force=force, on_event=on_event, parent_id=parent_id)

    def register(self, name: str, plan: Plan, run_id: str, steps: Mapping[str, Mapping[str, Any]],
                 plain: Mapping[str, Any]) -> tuple[ModelVersion, bool]:
        """Register a training run's bundle as the next version of ``name`` (the same bundle again: unchanged)."""
        from tesla.models import verified_bundle_dir

        store = self.project.store
        search, registered = steps["search"]["result"], steps["register"]["result"]
        # a bundle that fails its hashes or schemas never becomes a version
        verified_bundle_dir(store.artifacts, steps["register"]["outputs"]["bundle"], ref=name)
        fault_point("register.before_model_row")
        registration = store.register_model(
            name, bundle_sha=steps["register"]["outputs"]["bundle"], framework=registered["framework"],
            task=registered["task"], run_id=run_id, dataset=plan.meta["dataset"].split("@")[0],
            dataset_version=_dataset_version(plan), plan_fingerprint=plan.fingerprint,
            metrics=registered["metrics"],
            config={"best_estimator": search["best_estimator"], "best_config": search["best_config"],
                    "best_loss": search["best_loss"], "search_metric": search["metric"],
                    "best_config_per_estimator": search.get("best_config_per_estimator", {}),
                    "ensemble": search.get("ensemble", []),
                    "resolved": {k: plain[k] for k in ("data", "search", "evaluation")}})
        fault_point("register.after_model_row")
        return registration

    # -- sweeps -----------------------------------------------------------------------------------------
    def compile_sweep_plans(self, model: str | None = None, *, framework: str | None = None,
                            max_iter: int | None = None, overrides: Sequence[str] = (),
                            ingest: bool = False) -> SweepPlan:
        """Expand a ``--multirun`` grid with Hydra's sweeper and compile each point's plan; runs nothing.

        Args: as for ``compile_plan``; ``overrides`` may hold comma-separated sweeps and ``hydra/...`` settings.

        Raises:
            ConfigError: a point does not compose, the sweeper picks points as it runs (not a grid),
                or the points would register different models.
        """
        from tesla.config.sweep import is_hydra_override, sweep_setup

        setup = sweep_setup(train_overrides(model, framework, max_iter, overrides), project_dir=self.project.root,
                            backend_schemas=backend_schemas())
        if setup.points is None:
            raise ConfigError(f"the sweeper {setup.sweeper.rsplit('.', 1)[-1]} picks its points while it runs, so "
                              "they cannot be planned ahead; plans are listed for grid sweeps (hydra/sweeper=basic)",
                              key="hydra/sweeper")
        points = []
        for overrides_of_point in setup.points:
            plain = self.project.plain_config([o for o in overrides_of_point if not is_hydra_override(o)])
            plain["model"]["name"] = plain["model"]["name"] or "model"
            points.append((overrides_of_point, self.compile(plain, ingest=ingest)))
        names = sorted({plan.meta["model"] for _, plan in points})
        if len(names) > 1:
            raise ConfigError(f"a sweep registers one model, but its points name {', '.join(names)}; do not sweep "
                              "model.name", key="model.name")
        return SweepPlan(model=names[0], sweeper=setup.sweeper, launcher=setup.launcher, points=points)

    def sweep(self, model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
              overrides: Sequence[str] = (), force: bool = False, on_event: EventSink | None = None) -> SweepResult:
        """Train once per point of a Hydra multirun sweep, then register the best point as the next model version.

        Every point is an ordinary training run (cached like ``train``) recorded under one parent
        sweep run; none registers by itself. The points are ranked by a held-out metric (the first
        of ``evaluation.metrics``, default the task's: roc_auc, log_loss or rmse) and only the best
        point's bundle is registered. A failed point fails the sweep and nothing is registered.

        Args:
            model, framework, max_iter, force: as for ``train``.
            overrides: Hydra overrides; ``key=a,b`` sweeps, ``hydra/launcher=joblib`` runs points in
                parallel processes (``hydra.launcher.n_jobs=N``).
            on_event: progress events; only points run in this process (the basic launcher) report.

        Raises:
            ConfigError: a point does not compose or the sweep names no model (``-m``).
            TeslaError: a point failed (the message names the sweep run to inspect).
        """
        from tesla.config.sweep import run_sweep, sweep_setup
        from tesla.errors import TeslaError
        from tesla.store.sweeps import (
            finish_sweep,
            point_rows,
            rank_points,
            start_sweep,
        )

        root = self.project.root
        ov = train_overrides(model, framework, max_iter, overrides)
        setup = sweep_setup(ov, project_dir=root, backend_schemas=backend_schemas())
        planned, plans = None, None
        if setup.points is not None:  # every point composes, and data.source is loaded once, before any worker starts
            plans = self.compile_sweep_plans(model, framework=framework, max_iter=max_iter, overrides=overrides,
                                             ingest=True).points
            planned = [{"num": i, "overrides": o, "plan_fingerprint": p.fingerprint} for i, (o, p) in enumerate(plans)]
        name = model_name(setup.base)
        store = self.project.store
        if plans:
            self.guard_budget(self.project.backend(setup.base), plans[0][1], setup.base, points=len(plans))
        sweep_id = start_sweep(store, model=name, overrides=ov, backend=setup.base["backend"]["name"],
                               sweeper=setup.sweeper, launcher=setup.launcher, points=planned)
        sweep_dir = store.state_dir / "sweeps" / sweep_id
        in_process = setup.launcher.endswith("BasicLauncher")  # a renderer cannot travel to other processes
        task = functools.partial(sweep_point, project_dir=str(Path(root).resolve()), sweep_id=sweep_id,
                                 force=force, on_event=on_event if in_process else None)
        try:
            run_sweep(ov, task, project_dir=root, sweep_dir=sweep_dir, backend_schemas=backend_schemas())
        except BaseException as exc:
            finish_sweep(store, sweep_id, status="failed", leaderboard=point_rows(store, sweep_id), rank_metric=None,
                         registered=None, error=str(exc))
            if isinstance(exc, TeslaError):
                raise type(exc)(f"sweep {sweep_id} failed and registered nothing: {exc} (see `tesla runs show "
                                f"{sweep_id}`)", key=exc.key, step=exc.step, run_id=exc.run_id) from exc
            raise
        rows, metric = rank_points(point_rows(store, sweep_id))
        return self._register_best(sweep_id, name, rows, metric, sweep_dir)

    def _register_best(self, sweep_id: str, name: str, rows: list[SweepPoint], metric: str | None,
                       sweep_dir: Path) -> SweepResult:
        from tesla.config.sweep import is_hydra_override
        from tesla.store.sweeps import finish_sweep

        store = self.project.store
        best = rows[0] if rows and rows[0].rank == 1 else None
        if best is None:
            finish_sweep(store, sweep_id, status="failed", leaderboard=rows, rank_metric=metric, registered=None,
                         error="no point has a held-out score")
            raise DataError(f"sweep {sweep_id}: no point has a held-out score to rank by, so nothing was registered "
                            f"(see `tesla runs show {sweep_id}`)", run_id=sweep_id)
        # the best point's own config, composed from its overrides as `tesla train` would
        plain = self.project.plain_config([o for o in best.overrides if not is_hydra_override(o)])
        plan = Plan.from_json(store.run(best.run_id).plan_json)
        steps = {s.step_id: {"status": s.status, "outputs": s.outputs, "result": s.result}  # RunResult.steps' shape
                 for s in store.run_steps(best.run_id)}
        mv, created = self.register(name, plan, best.run_id, steps, plain)
        finish_sweep(store, sweep_id, status="succeeded", leaderboard=rows, rank_metric=metric, registered=mv.ref)
        return SweepResult(sweep_id=sweep_id, rank_metric=metric, leaderboard=rows, model=mv, created=created,
                           sweep_dir=sweep_dir)

    # -- replay and run reports --------------------------------------------------------------------------
    def replay(self, model: str, *, on_event: EventSink | None = None) -> ReplayResult:
        """Refit ``NAME@VERSION``'s winning config on its recorded dataset version and split; check the score.

        Raises:
            ReplayError: a held-out metric differs from the recorded one (both numbers are named).
            PlanError: the model's run cannot be replayed (not a training run, or too old).
        """
        from tesla.automl.replay import REL_TOL, compare_scores, replay_plan
        from tesla.errors import PlanError, ReplayError

        store = self.project.store
        mv = self.resolve_model(model)
        if not mv.run_id:
            raise PlanError(f"{mv.ref} records no training run, so there is nothing to replay", key=mv.ref)
        recorded = Plan.from_json(store.run(mv.run_id).plan_json)
        search = {s.step_id: s for s in store.run_steps(mv.run_id)}["search"].result
        plan = replay_plan(recorded, search, model_ref=mv.ref, run_id=mv.run_id)
        run = self.project.backend({"backend": dict(plan.backend)}).run(plan, force=True, on_event=on_event)
        replayed = run.result("evaluate")["metrics"]
        mismatches = compare_scores(mv.metrics, replayed)
        if mismatches:
            diffs = "; ".join(f"{m} recorded {want:.10g}, replayed {got:.10g}" for m, want, got in mismatches)
            raise ReplayError(f"{mv.ref} does not replay: {diffs} (relative tolerance {REL_TOL:g}; replay run "
                              f"{run.run_id})", key=mv.ref, run_id=run.run_id)
        return ReplayResult(model=mv, run=run, recorded=dict(mv.metrics), replayed=dict(replayed))

    def run_report(self, run_id: str) -> RunReport:
        """Write ``.tesla/reports/run-<id>.html``: steps, leaderboard, search progress and trials (or a sweep's points)."""
        from tesla.report.run_report import estimator_leaderboard, render_run_report
        from tesla.store.sweeps import is_sweep, point_rows, rank_points

        store = self.project.store
        run = store.run(run_id)
        steps, trials = store.run_steps(run.id), store.trials(run.id)
        points, metric = rank_points(point_rows(store, run.id)) if is_sweep(run) else ([], None)
        estimators = [] if is_sweep(run) else estimator_leaderboard(trials)
        path = store.state_dir / "reports" / f"run-{run.id}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_run_report(run, steps, trials, points or estimators, rank_metric=metric))
        return RunReport(run=run, steps=steps, trials=trials, estimators=estimators, points=points,
                         rank_metric=metric, path=path)

    # -- the registry and run listings ----------------------------------------------------------------------
    def resolve_model(self, ref: str) -> ModelVersion:
        """The registered version ``NAME@N`` names (``NAME``: its newest)."""
        name, version = parse_model_ref(ref)
        return self.project.store.model(name, version)

    def promote(self, ref: str, alias: str) -> ModelVersion:
        """Make ``NAME@ALIAS`` (``production``, ``staging`` or any alias) name the version ``ref`` names."""
        mv = self.resolve_model(ref)
        _, checked = parse_model_ref(f"{mv.name}@{alias}")
        if not isinstance(checked, str):
            raise ConfigError(f"alias '{alias}' is a number; an alias starts with a letter, e.g. production",
                              key="alias")
        return self.project.store.promote(mv.name, mv.version, checked)

    def models(self, name: str | None = None) -> list[ModelVersion]:
        """Registered model versions (of ``name``, or of every model)."""
        return self.project.store.model_versions(name)

    def runs(self, limit: int = 20) -> list[Run]:
        """The most recent runs, newest first."""
        return self.project.store.runs(limit)

    def trials(self, run_id: str) -> list[Trial]:
        """The search trials a run recorded, in order."""
        return self.project.store.trials(run_id)

    # -- dry runs, cost and cloud jobs ------------------------------------------------------------------------
    def _estimate(self, backend: Backend, plan: Plan, points: int) -> Any:
        from tesla.execution.cost import CostEstimate, load_prices

        cached = {step for step, state in self.plan_status(plan).items() if state == "cached"}
        if isinstance(backend, DryRun):
            cost = backend.estimate_cost(plan, load_prices(backend.name, project_dir=self.project.root))
        else:  # it starts no provider jobs, so running the plan costs nothing
            cost = {"usd": 0.0, "lines": []}
        estimate = CostEstimate.from_dict({"backend": backend.name, **cost})
        return estimate.without(cached).times(points)

    def guard_budget(self, backend: Backend, plan: Plan, plain: Mapping[str, Any], points: int = 1) -> None:
        """Refuse (``ConfigError``) a plan whose estimated cost exceeds ``backend.max_usd``."""
        from tesla.execution.cost import check_budget

        max_usd = plain["backend"].get("max_usd")
        if max_usd is not None:
            check_budget(self._estimate(backend, plan, points), max_usd, what=f"plan '{plan.name}'")

    def dry_run(self, model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
                overrides: Sequence[str] = (), points: int = 1) -> DryRunResult:
        """Compile the training plan and show what running it would send, without sending anything.

        No network connection and no credentials are needed: the backend renders its provider
        requests, validates them strictly (service model / proto rules) and prices them from
        ``conf/prices.yaml`` (a project's own copy overrides entries).

        Args:
            model, framework, max_iter, overrides: as for ``compile_plan``.
            points: sweep points the plan will run for (the cost is multiplied out).

        Returns:
            The plan, the requests, problems found, the cost estimate and the budget verdict.
        """
        from tesla.errors import TeslaError
        from tesla.execution.cost import check_budget

        plain = self.project.plain_config(train_overrides(model, framework, max_iter, overrides))
        plan = self.compile_plan(model, framework=framework, max_iter=max_iter, overrides=overrides)
        backend = self.project.backend(plain)
        requests = backend.render_requests(plan) if isinstance(backend, DryRun) else []  # else it sends none
        try:
            problems = backend.check(plan)
        except TeslaError as exc:  # e.g. an estimator the image cannot load: show it with the rest
            problems = [str(exc)]
        if not problems and isinstance(backend, DryRun):  # with settings missing they would only repeat those
            problems = backend.validate_requests(requests)
        estimate = self._estimate(backend, plan, points)
        budget_error = None
        try:
            check_budget(estimate, plain["backend"].get("max_usd"), what=f"plan '{plan.name}'")
        except ConfigError as exc:
            budget_error = str(exc)
        return DryRunResult(plan=plan, backend=backend.name, requests=requests, problems=problems,
                            cost=estimate.to_dict(), budget_error=budget_error)

    def _jobs_backend(self, overrides: Sequence[str]) -> JobAdmin:
        from tesla.errors import NotSupportedError

        plain = self.project.plain_config(overrides)
        backend = self.project.backend(plain)
        if not isinstance(backend, JobAdmin):
            raise NotSupportedError(f"`tesla jobs` needs a cloud backend and this project's backend is "
                                    f"'{backend.name}'; pass backend=sagemaker or backend=vertex (or set it in "
                                    "conf/config.yaml)", key="backend")
        return backend

    def jobs_list(self, *, overrides: Sequence[str] = (), limit: int = 50) -> list[dict[str, Any]]:
        """Provider jobs Tesla started on the configured cloud backend, newest first."""
        return self._jobs_backend(overrides).list_jobs(limit)

    def jobs_status(self, job: str, *, overrides: Sequence[str] = ()) -> dict[str, Any]:
        """One job's Tesla state, provider state and failure reason."""
        return self._jobs_backend(overrides).job_status(job)

    def jobs_logs(self, job: str, *, overrides: Sequence[str] = ()) -> str:
        """One job's log text from the provider."""
        return self._jobs_backend(overrides).job_logs(job)

    def jobs_cancel(self, job: str, *, overrides: Sequence[str] = ()) -> dict[str, Any]:
        """Ask the provider to stop a job; returns its status afterwards."""
        backend = self._jobs_backend(overrides)
        backend.cancel(job)
        return backend.job_status(job)


def _dataset_version(plan: Plan) -> int | None:
    """The dataset version a training plan read: pinned in its load step, else the one its meta records."""
    pinned = plan.step("load").params["version"]
    if pinned is not None:
        return int(pinned)
    _, _, recorded = str(plan.meta["dataset"]).partition("@")
    return int(recorded) if recorded.isdigit() else None


def warm_start(plain: Mapping[str, Any], history: Sequence[ModelVersion]) -> dict[str, Any]:
    """estimator -> best config of the newest earlier version (of ``history``, oldest first) that searched it."""
    if plain["search"]["starting_points"] != "previous":
        return {}
    starts: dict[str, Any] = {}
    for mv in reversed(history):
        # every searched estimator's best config where recorded, else the winner's alone
        per_estimator = mv.config.get("best_config_per_estimator") or {}
        if mv.config.get("best_estimator") and mv.config.get("best_config"):
            per_estimator = {mv.config["best_estimator"]: mv.config["best_config"], **per_estimator}
        for estimator, cfg in per_estimator.items():
            if cfg and estimator not in starts:
                starts[estimator] = cfg
    return starts


def sweep_point(cfg: Any, *, project_dir: str, sweep_id: str, force: bool,
                on_event: EventSink | None = None) -> float | None:
    """Hydra's task function for one point: train without registering; return the held-out score.

    Module-level (and given its arguments through ``functools.partial``) so that launchers
    running points in other processes can pickle it; each point opens the project itself. The
    score lets score-driven sweepers (e.g. Optuna) steer; the basic grid sweeper ignores it.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from tesla.project import Project
    from tesla.store.sweeps import point_row

    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    check_config(plain)
    hydra = HydraConfig.get()
    point = {"id": sweep_id, "num": int(hydra.job.num), "overrides": list(hydra.overrides.task)}
    if on_event:
        on_event(Event("sweep_point", data=point))
    project = Project(project_dir)
    _, run = project.training.run_training(plain, force=force, on_event=on_event, parent_id=sweep_id,
                                           meta={"sweep": point})
    return point_row(project.store, run.run_id).score

