"""Tesla's library API: the CLI, the REST server and notebooks all call these functions.

Every function takes ``project_dir`` (default: the current directory): any directory in a
project, whose root (found by walking up, as git does; see ``tesla.store.find_project_root``)
holds ``conf/``, which overrides the default config, and ``.tesla/``, the store. A directory
in no project is refused before anything is read or written. Errors are ``TeslaError``
subclasses with one-line messages.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from tesla.compiler import DatasetInput, FileInput, compile_evaluate, compile_train
from tesla.config import DEFAULT_CONF_DIR, check_config, compose
from tesla.errors import ConfigError, DataError, DataNotFoundError, DeployError, GateError, ProjectError
from tesla.execution import Backend, Event, RunResult, backend_spec, backend_specs
from tesla.plan import Plan
from tesla.store import DatasetVersion, ModelVersion, Store, find_project_root, hash_path, is_project
from tesla.store.faults import fault_point

__all__ = [
    "DeployResult",
    "DryRunResult",
    "EvaluateResult",
    "LoadResult",
    "ReplayResult",
    "RunReport",
    "SweepPlan",
    "SweepResult",
    "TrainResult",
    "compile_plan",
    "compile_sweep_plans",
    "compose_config",
    "data_diff",
    "deploy",
    "deployment_logs",
    "deployment_status",
    "deployments",
    "dry_run",
    "evaluate",
    "init_project",
    "jobs_cancel",
    "jobs_list",
    "jobs_logs",
    "jobs_status",
    "load",
    "monitor",
    "monitor_feedback",
    "monitor_history",
    "open_store",
    "parse_model_ref",
    "plan_status",
    "predict",
    "replay",
    "resolve_model",
    "rollback",
    "run_report",
    "stop_deployment",
    "sweep",
    "train",
]

PathLike = str | os.PathLike[str]
EventSink = Callable[[Event], None]
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _in_project(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with its ``project_dir`` replaced by the root of the project holding it.

    The one place the library resolves a project, so that every entry point refuses a
    directory in no project (``ProjectNotFoundError``) before it reads or writes anything,
    and reads ``conf/`` and the store from the root when called from a subdirectory.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def in_project(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        bound = signature.bind(*args, **kwargs)
        bound.arguments["project_dir"] = find_project_root(bound.arguments.get("project_dir", "."))
        return fn(*bound.args, **bound.kwargs)

    return in_project


# -- results -------------------------------------------------------------------------------
@dataclass
class LoadResult:
    version: DatasetVersion
    created: bool  # False: the same content was already a version


@dataclass
class TrainResult:
    model: ModelVersion
    created: bool  # False: an identical bundle was already registered
    run: RunResult
    leaderboard: dict[str, float]
    search: dict[str, Any]


@dataclass
class EvaluateResult:
    model: ModelVersion
    metrics: dict[str, float]
    baseline: dict[str, float]
    rows: int
    report_path: Path
    run: RunResult


@dataclass
class DeployResult:
    model: ModelVersion
    profile: str
    target: str
    url: str
    changed: bool  # False: this version was already serving on this profile
    info: dict[str, Any] = field(default_factory=dict)


# -- helpers ---------------------------------------------------------------------------------
def open_store(project_dir: PathLike = ".") -> Store:
    """The store of the project holding ``project_dir`` (its ``.tesla/`` is made on first use).

    ``Store.open`` finds the root itself (``find_project_root``), so no ``_in_project`` here.
    """
    return Store.open(project_dir)


def _input_file(data: PathLike, what: str = "data file") -> Path:
    """``data`` as a path, once it is known to be a readable file (checked before anything is stored)."""
    path = Path(data)
    if not path.exists():
        raise DataNotFoundError(f"{what} '{path}' does not exist; check the path", key=str(path))
    if path.is_dir():
        raise DataError(f"{what} '{path}' is a directory; pass a CSV, Parquet or JSON-lines file", key=str(path))
    if not os.access(path, os.R_OK):
        raise DataError(f"{what} '{path}' is not readable (permission denied); allow it with chmod u+r '{path}' "
                        "or run as its owner", key=str(path))
    return path


def _output_file(output: PathLike) -> Path:
    """``output`` as a path a file can be written to; missing parent directories are made when it is written."""
    path = Path(output)
    if path.is_dir():
        raise DataError(f"output '{path}' is a directory; name a file in it, e.g. {path / 'predictions.csv'}",
                        key=str(path))
    existing = next(p for p in path.absolute().parents if p.exists())  # the filesystem root always does
    if not existing.is_dir():
        raise DataError(f"cannot write '{path}': '{existing}' is a file, not a directory; choose another path",
                        key=str(path))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"cannot write '{path}': directory '{existing}' is not writable (permission denied); "
                        "choose another path", key=str(path))
    return path


def _write_table(frame: Any, path: Path) -> None:
    """Write ``frame`` as Parquet (a ``.parquet`` name) or CSV, making missing parent directories."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    except OSError as exc:
        raise DataError(f"cannot write '{path}': {exc.strerror or exc}; choose another path", key=str(path)) from exc


_MAX_VERSION = 2**63 - 1  # SQLite's INTEGER: a bigger version number is in no store


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``"name@3"`` -> ("name", 3); ``"name"`` -> ("name", None)."""
    name, _, version = ref.partition("@")
    if not name:
        raise ConfigError(f"model reference '{ref}' has no name; use NAME or NAME@VERSION", key="model")
    # ASCII digits only ('²'.isdigit() is true, int('²') fails), and no more than the store's INTEGER holds
    if version and not (version.isascii() and version.isdigit() and int(version) <= _MAX_VERSION):
        raise ConfigError(f"model reference '{ref}': the version after '@' must be a number, e.g. {name}@2",
                          key="model")
    return name, int(version) if version else None


def _backend_schemas() -> dict[str, type]:
    return {name: spec.config_class for name, spec in backend_specs().items()}


@_in_project
def compose_config(overrides: Sequence[str] = (), *, project_dir: PathLike = ".") -> tuple[Any, dict[str, Any]]:
    """The composed config as (OmegaConf node, plain dict), checked in both phases."""
    from omegaconf import OmegaConf

    cfg = compose(list(overrides), project_dir=project_dir, backend_schemas=_backend_schemas())
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    check_config(plain)
    backend_spec(plain["backend"]["name"])  # raises with the installed backends listed
    return cfg, plain


def _backend(plain: Mapping[str, Any], store: Store) -> Backend:
    spec = backend_spec(plain["backend"]["name"])
    return spec.load()(plain["backend"], store)


# -- project and data -----------------------------------------------------------------------
_GITIGNORE = ".tesla/\n__pycache__/\n*.pyc\n.venv/\n"
_WORKFLOW = """name: tesla
on: [pull_request]
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install tesla-ml
      - run: tesla plan --format md >> "$GITHUB_STEP_SUMMARY"
"""


def init_project(path: PathLike) -> Path:
    """Scaffold a project: ``conf/`` (a copy of the defaults), ``data/``, ``.gitignore``, a CI workflow.

    ``path`` may be a new directory or an existing one that is not yet a project.

    Raises:
        ProjectError: ``path`` is a file, lies under a file, cannot be created, or already holds a project.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ProjectError(f"'{root}' is a file; tesla init needs a directory (a new one, or an existing one "
                           "without a project)", key=str(root))
    if is_project(root):
        marker = "conf/config.yaml" if (root / "conf" / "config.yaml").is_file() else ".tesla/"
        raise ProjectError(f"'{root}' already holds a Tesla project ({marker} exists); use it as it is or "
                           "pick another directory", key=str(root))
    existing = next(p for p in root.absolute().parents if p.exists())
    if not existing.is_dir():
        raise ProjectError(f"cannot create '{root}': '{existing}' is a file, not a directory; pick another path",
                           key=str(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"cannot create '{root}': {exc.strerror or exc}; pick another path", key=str(root)) from exc
    shutil.copytree(DEFAULT_CONF_DIR, root / "conf", dirs_exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(_GITIGNORE)
    workflow = root / ".github" / "workflows" / "tesla.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(_WORKFLOW)
    return root


@_in_project
def load(data: PathLike, name: str, *, target: str | None = None, message: str | None = None,
         project_dir: PathLike = ".", progress: Callable[[str], None] | None = None) -> LoadResult:
    """Ingest ``data`` as a new immutable version of dataset ``name``.

    The same content again is not a new version (``created`` is False). Nothing is stored
    when the file cannot be read or ``target`` is not one of its columns.
    """
    from tesla.data import check_training_data, detect_format, infer_schema, read_table
    from tesla.steps.data import check_target

    if not name or any(c in name for c in "/@ ") or not name.isprintable():
        raise DataError(f"dataset name {name!r} may not be empty or hold '/', '@', spaces or control characters",
                        key="name")
    path = _input_file(data)
    say = progress or (lambda _m: None)
    say(f"reading {path}")
    df = read_table(path)
    if target:
        check_target(list(df.columns), target, f"'{path}'")
    for warning in check_training_data(df, target, f"'{path}'"):
        say(warning)
    store = open_store(project_dir)
    sha = hash_path(path)
    existing = store.find_dataset_version(name, sha)
    if existing is not None:
        return LoadResult(existing, created=False)
    say(f"inferring the schema of {len(df)} rows x {len(df.columns)} columns")
    schema = infer_schema(df)
    store.artifacts.put(path)  # the artifact first: a row never points at a missing file
    fault_point("load.after_artifact")
    version = store.add_dataset_version(name, sha256=sha, format=detect_format(path), source=str(path),
                                        rows=len(df), schema=schema, target=target, message=message)
    fault_point("load.after_version")
    return LoadResult(version, created=True)


@_in_project
def data_diff(name: str, old: int, new: int, *, project_dir: PathLike = ".") -> dict[str, Any]:
    """What changed between two versions of a dataset: rows, and added, removed or retyped columns."""
    store = open_store(project_dir)
    a, b = store.dataset_version(name, old), store.dataset_version(name, new)
    retyped = {c: f"{a.schema[c]['type']} -> {b.schema[c]['type']}" for c in sorted(set(a.schema) & set(b.schema))
               if a.schema[c]["type"] != b.schema[c]["type"]}
    return {"dataset": name, "old": old, "new": new, "rows": {"old": a.rows, "new": b.rows},
            "added": sorted(set(b.schema) - set(a.schema)), "removed": sorted(set(a.schema) - set(b.schema)),
            "retyped": retyped, "same_content": a.sha256 == b.sha256}


def _resolve_dataset(plain: Mapping[str, Any], store: Store, project_dir: PathLike,
                     *, ingest: bool) -> DatasetInput:
    data = plain["data"]
    if data["source"]:
        source = Path(data["source"])
        if not source.is_absolute():
            source = Path(project_dir) / source
        name = data["dataset"] or source.stem
        if ingest:
            version = load(source, name, target=data["target"], project_dir=project_dir).version
            return DatasetInput(name, version.version, version.sha256, version.format, version.target)
        from tesla.data import detect_format

        if not source.exists():
            raise DataNotFoundError(f"data.source '{source}' does not exist; check the path", key="data.source")
        return DatasetInput(name, 0, hash_path(source), detect_format(source), data["target"])
    name = data["dataset"] or _only_dataset(store)
    version = store.dataset_version(name, data["version"])
    return DatasetInput(name, version.version, version.sha256, version.format, version.target)


def _only_dataset(store: Store) -> str:
    names = store.dataset_names()
    if not names:
        raise DataNotFoundError("the project has no dataset yet; load one with "
                                "`tesla load -d FILE -o NAME --target COLUMN` or set data.source=FILE",
                                key="data.dataset")
    if len(names) > 1:
        raise ConfigError(f"the project has {len(names)} datasets ({', '.join(names)}); choose one with "
                          f"data.dataset=NAME", key="data.dataset")
    return names[0]


def _warm_start(plain: Mapping[str, Any], store: Store, model_name: str) -> dict[str, Any]:
    """estimator -> best config of the newest earlier version that searched it."""
    if plain["search"]["starting_points"] != "previous":
        return {}
    starts: dict[str, Any] = {}
    for mv in reversed(store.model_versions(model_name)):
        # every searched estimator's best config where recorded, else the winner's alone
        per_estimator = mv.config.get("best_config_per_estimator") or {}
        if mv.config.get("best_estimator") and mv.config.get("best_config"):
            per_estimator = {mv.config["best_estimator"]: mv.config["best_config"], **per_estimator}
        for estimator, cfg in per_estimator.items():
            if cfg and estimator not in starts:
                starts[estimator] = cfg
    return starts


# -- plans and training ---------------------------------------------------------------------------
def _train_overrides(model: str | None, framework: str | None, max_iter: int | None,
                     overrides: Sequence[str]) -> list[str]:
    out = []
    if model:
        out.append(f"model.name={model}")
    if framework:
        out.append(f"search.framework={framework}")
    if max_iter is not None:
        out.append(f"search.max_iter={max_iter}")
    return out + list(overrides)


def _model_name(plain: Mapping[str, Any]) -> str:
    name = plain["model"]["name"]
    if not name:
        raise ConfigError("no model name; pass -m NAME (or set model.name=NAME)", key="model.name")
    if any(c in name for c in "/@ "):
        raise ConfigError(f"model name '{name}' may not hold '/', '@' or spaces", key="model.name")
    return name


@_in_project
def compile_plan(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
                 overrides: Sequence[str] = (), project_dir: PathLike = ".", ingest: bool = False) -> Plan:
    """Compose the config and compile the training plan, without running anything.

    Args:
        model: the model name (``-m``); default ``model.name`` from config, else ``model``.
        framework: ``-f``; overrides ``search.framework``.
        max_iter: ``-p``; overrides ``search.max_iter``.
        overrides: Hydra overrides (``key=value``).
        project_dir: the project.
        ingest: load ``data.source`` as a dataset version first (``train`` does; ``plan`` does not).
    """
    _, plain = compose_config(_train_overrides(model, framework, max_iter, overrides), project_dir=project_dir)
    if not plain["model"]["name"]:
        plain["model"]["name"] = "model"
    return _compile(plain, project_dir, ingest=ingest)


def _compile(plain: Mapping[str, Any], project_dir: PathLike, *, ingest: bool) -> Plan:
    """The training plan of an already composed and checked config."""
    store = open_store(project_dir)
    dataset = _resolve_dataset(plain, store, project_dir, ingest=ingest)
    test_file = _stage_file(plain["evaluation"]["data"], store, project_dir, "evaluation.data", put=ingest)
    name = _model_name(plain)
    return compile_train(plain, dataset, model_name=name, test_file=test_file,
                         warm_start=_warm_start(plain, store, name))


def _stage_file(path: str | None, store: Store, project_dir: PathLike, key: str, *, put: bool) -> FileInput | None:
    if not path:
        return None
    from tesla.data import detect_format, read_table

    source = Path(path) if Path(path).is_absolute() else Path(project_dir) / path
    if not source.exists():
        raise DataNotFoundError(f"{key} file '{path}' does not exist; check the path", key=key)
    read_table(source)  # fail now, with the file named, rather than inside a step
    sha = store.artifacts.put(source) if put else hash_path(source)
    return FileInput(sha256=sha, format=detect_format(source), label=source.name)


@_in_project
def plan_status(plan: Plan, *, project_dir: PathLike = ".") -> dict[str, str]:
    """step id -> "cached" or "will run", as the next run would see it."""
    store = open_store(project_dir)
    status: dict[str, str] = {}
    for step in plan.ordered():
        upstream_runs = any(status.get(r.step) == "will run" for r in step.inputs.values() if r.step)
        cached = not upstream_runs and store.completed_step(step.fingerprint) is not None
        status[step.id] = "cached" if cached else "will run"
    return status


@_in_project
def train(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
          overrides: Sequence[str] = (), force: bool = False, project_dir: PathLike = ".",
          on_event: EventSink | None = None, parent_id: str | None = None) -> TrainResult:
    """Compile and run the training plan, then register the bundle as the next model version."""
    _, plain = compose_config(_train_overrides(model, framework, max_iter, overrides), project_dir=project_dir)
    name = _model_name(plain)
    plan, run = _run_training(plain, project_dir, force=force, on_event=on_event, parent_id=parent_id)
    mv, created = _register(open_store(project_dir), name, plan, run.run_id, run.steps, plain)
    search = run.result("search")
    return TrainResult(model=mv, created=created, run=run, leaderboard=search.get("leaderboard", {}), search=search)


def _run_training(plain: Mapping[str, Any], project_dir: PathLike, *, force: bool, on_event: EventSink | None,
                  parent_id: str | None, meta: Mapping[str, Any] | None = None) -> tuple[Plan, RunResult]:
    """Compile (loading ``data.source`` first) and run the training plan of a composed config."""
    import dataclasses

    plan = _compile(plain, project_dir, ingest=True)
    if meta:  # meta is not part of the fingerprint: the steps cache exactly as without it
        plan = dataclasses.replace(plan, meta={**plan.meta, **meta})
    store = open_store(project_dir)
    backend = _backend(plain, store)
    _guard_budget(backend, plan, plain, project_dir)  # before anything is uploaded or submitted
    return plan, backend.run(plan, force=force, on_event=on_event, parent_id=parent_id)


def _register(store: Store, name: str, plan: Plan, run_id: str, steps: Mapping[str, Mapping[str, Any]],
              plain: Mapping[str, Any]) -> tuple[ModelVersion, bool]:
    """Register a training run's bundle as the next version of ``name`` (the same bundle again: unchanged)."""
    from tesla.models import verified_bundle_dir

    search, registered = steps["search"]["result"], steps["register"]["result"]
    # a bundle that fails its hashes or schemas never becomes a version
    verified_bundle_dir(store.artifacts, steps["register"]["outputs"]["bundle"], ref=name)
    fault_point("register.before_model_row")
    registration = store.register_model(
        name, bundle_sha=steps["register"]["outputs"]["bundle"], framework=registered["framework"],
        task=registered["task"], run_id=run_id, dataset=plan.meta["dataset"].split("@")[0],
        dataset_version=plan.step("load").params["version"], plan_fingerprint=plan.fingerprint,
        metrics=registered["metrics"],
        config={"best_estimator": search["best_estimator"], "best_config": search["best_config"],
                "best_loss": search["best_loss"], "search_metric": search["metric"],
                "best_config_per_estimator": search.get("best_config_per_estimator", {}),
                "ensemble": search.get("ensemble", []),
                "resolved": {k: plain[k] for k in ("data", "search", "evaluation")}})
    fault_point("register.after_model_row")
    return registration


# -- sweeps, replay, run reports ---------------------------------------------------------------------
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
    leaderboard: list[dict[str, Any]]  # best first; see tesla.store.sweeps
    model: ModelVersion  # the best point's bundle, registered
    created: bool  # False: that bundle was already registered
    sweep_dir: Path  # Hydra's per-point records (.hydra/ config and overrides)


@_in_project
def compile_sweep_plans(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
                        overrides: Sequence[str] = (), project_dir: PathLike = ".",
                        ingest: bool = False) -> SweepPlan:
    """Expand a ``--multirun`` grid with Hydra's sweeper and compile each point's plan; runs nothing.

    Args: as for ``compile_plan``; ``overrides`` may hold comma-separated sweeps and ``hydra/...`` settings.

    Raises:
        ConfigError: a point does not compose, the sweeper picks points as it runs (not a grid),
            or the points would register different models.
    """
    from tesla.config.sweep import is_hydra_override, sweep_setup

    setup = sweep_setup(_train_overrides(model, framework, max_iter, overrides), project_dir=project_dir,
                        backend_schemas=_backend_schemas())
    if setup.points is None:
        raise ConfigError(f"the sweeper {setup.sweeper.rsplit('.', 1)[-1]} picks its points while it runs, so "
                          "they cannot be planned ahead; plans are listed for grid sweeps (hydra/sweeper=basic)",
                          key="hydra/sweeper")
    points = []
    for overrides_of_point in setup.points:
        _, plain = compose_config([o for o in overrides_of_point if not is_hydra_override(o)], project_dir=project_dir)
        plain["model"]["name"] = plain["model"]["name"] or "model"
        points.append((overrides_of_point, _compile(plain, project_dir, ingest=ingest)))
    names = sorted({plan.meta["model"] for _, plan in points})
    if len(names) > 1:
        raise ConfigError(f"a sweep registers one model, but its points name {', '.join(names)}; do not sweep "
                          "model.name", key="model.name")
    return SweepPlan(model=names[0], sweeper=setup.sweeper, launcher=setup.launcher, points=points)


def _sweep_point(cfg: Any, *, project_dir: str, sweep_id: str, force: bool,
                 on_event: EventSink | None = None) -> float | None:
    """Hydra's task function for one point: train without registering; return the held-out score.

    Module-level (and given its arguments through ``functools.partial``) so that launchers
    running points in other processes can pickle it. The score lets score-driven sweepers
    (e.g. Optuna) steer; the basic grid sweeper ignores it.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from tesla.store.sweeps import point_row

    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    check_config(plain)
    hydra = HydraConfig.get()
    point = {"id": sweep_id, "num": int(hydra.job.num), "overrides": list(hydra.overrides.task)}
    if on_event:
        on_event(Event("sweep_point", data=point))
    _, run = _run_training(plain, project_dir, force=force, on_event=on_event, parent_id=sweep_id,
                           meta={"sweep": point})
    return point_row(open_store(project_dir), run.run_id)["score"]


@_in_project
def sweep(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
          overrides: Sequence[str] = (), force: bool = False, project_dir: PathLike = ".",
          on_event: EventSink | None = None) -> SweepResult:
    """Train once per point of a Hydra multirun sweep, then register the best point as the next model version.

    Every point is an ordinary training run (cached like ``train``) recorded under one parent
    sweep run; none registers by itself. The points are ranked by a held-out metric (the first
    of ``evaluation.metrics``, default the task's: roc_auc, log_loss or rmse) and only the best
    point's bundle is registered. A failed point fails the sweep and nothing is registered.

    Args:
        model, framework, max_iter, force, project_dir: as for ``train``.
        overrides: Hydra overrides; ``key=a,b`` sweeps, ``hydra/launcher=joblib`` runs points in
            parallel processes (``hydra.launcher.n_jobs=N``).
        on_event: progress events; only points run in this process (the basic launcher) report.

    Raises:
        ConfigError: a point does not compose or the sweep names no model (``-m``).
        TeslaError: a point failed (the message names the sweep run to inspect).
    """
    import functools

    from tesla.config.sweep import run_sweep, sweep_setup
    from tesla.errors import TeslaError
    from tesla.store.sweeps import finish_sweep, point_rows, rank_points, start_sweep

    ov = _train_overrides(model, framework, max_iter, overrides)
    setup = sweep_setup(ov, project_dir=project_dir, backend_schemas=_backend_schemas())
    planned, plans = None, None
    if setup.points is not None:  # every point composes, and data.source is loaded once, before any worker starts
        plans = compile_sweep_plans(model, framework=framework, max_iter=max_iter, overrides=overrides,
                                    project_dir=project_dir, ingest=True).points
        planned = [{"num": i, "overrides": o, "plan_fingerprint": p.fingerprint} for i, (o, p) in enumerate(plans)]
    name = _model_name(setup.base)
    store = open_store(project_dir)
    if plans:
        _guard_budget(_backend(setup.base, store), plans[0][1], setup.base, project_dir, points=len(plans))
    sweep_id = start_sweep(store, model=name, overrides=ov, backend=setup.base["backend"]["name"],
                           sweeper=setup.sweeper, launcher=setup.launcher, points=planned)
    sweep_dir = store.state_dir / "sweeps" / sweep_id
    in_process = setup.launcher.endswith("BasicLauncher")  # a renderer cannot travel to other processes
    task = functools.partial(_sweep_point, project_dir=str(Path(project_dir).resolve()), sweep_id=sweep_id,
                             force=force, on_event=on_event if in_process else None)
    try:
        run_sweep(ov, task, project_dir=project_dir, sweep_dir=sweep_dir, backend_schemas=_backend_schemas())
    except BaseException as exc:
        finish_sweep(store, sweep_id, status="failed", leaderboard=point_rows(store, sweep_id), rank_metric=None,
                     registered=None, error=str(exc))
        if isinstance(exc, TeslaError):
            raise type(exc)(f"sweep {sweep_id} failed and registered nothing: {exc} (see `tesla runs show "
                            f"{sweep_id}`)", key=exc.key, step=exc.step, run_id=exc.run_id) from exc
        raise
    rows, metric = rank_points(point_rows(store, sweep_id))
    return _register_best(store, sweep_id, name, rows, metric, sweep_dir, project_dir)


def _register_best(store: Store, sweep_id: str, name: str, rows: list[dict[str, Any]], metric: str | None,
                   sweep_dir: Path, project_dir: PathLike) -> SweepResult:
    from tesla.config.sweep import is_hydra_override
    from tesla.store.sweeps import finish_sweep

    best = rows[0] if rows and rows[0]["rank"] == 1 else None
    if best is None:
        finish_sweep(store, sweep_id, status="failed", leaderboard=rows, rank_metric=metric, registered=None,
                     error="no point has a held-out score")
        raise DataError(f"sweep {sweep_id}: no point has a held-out score to rank by, so nothing was registered "
                        f"(see `tesla runs show {sweep_id}`)", run_id=sweep_id)
    # the best point's own config, composed from its overrides as `tesla train` would
    _, plain = compose_config([o for o in best["overrides"] if not is_hydra_override(o)], project_dir=project_dir)
    plan = Plan.from_json(store.run(best["run_id"])["plan_json"])
    steps = {s["step_id"]: s for s in store.run_steps(best["run_id"])}
    mv, created = _register(store, name, plan, best["run_id"], steps, plain)
    finish_sweep(store, sweep_id, status="succeeded", leaderboard=rows, rank_metric=metric, registered=mv.ref)
    return SweepResult(sweep_id=sweep_id, rank_metric=metric, leaderboard=rows, model=mv, created=created,
                       sweep_dir=sweep_dir)


@dataclass
class ReplayResult:
    """A replay that reproduced the recorded held-out metrics."""

    model: ModelVersion
    run: RunResult  # the replay's own run (plan ``replay/<name>``)
    recorded: dict[str, float]
    replayed: dict[str, float]


@_in_project
def replay(model: str, *, project_dir: PathLike = ".", on_event: EventSink | None = None) -> ReplayResult:
    """Refit ``NAME@VERSION``'s winning config on its recorded dataset version and split; check the score.

    Raises:
        ReplayError: a held-out metric differs from the recorded one (both numbers are named).
        PlanError: the model's run cannot be replayed (not a training run, or too old).
    """
    from tesla.automl.replay import REL_TOL, compare_scores, replay_plan
    from tesla.errors import PlanError, ReplayError

    store = open_store(project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    if not mv.run_id:
        raise PlanError(f"{mv.ref} records no training run, so there is nothing to replay", key=mv.ref)
    recorded = Plan.from_json(store.run(mv.run_id)["plan_json"])
    search = {s["step_id"]: s for s in store.run_steps(mv.run_id)}["search"]["result"]
    plan = replay_plan(recorded, search, model_ref=mv.ref, run_id=mv.run_id)
    run = _backend({"backend": dict(plan.backend)}, store).run(plan, force=True, on_event=on_event)
    replayed = run.result("evaluate")["metrics"]
    mismatches = compare_scores(mv.metrics, replayed)
    if mismatches:
        diffs = "; ".join(f"{m} recorded {want:.10g}, replayed {got:.10g}" for m, want, got in mismatches)
        raise ReplayError(f"{mv.ref} does not replay: {diffs} (relative tolerance {REL_TOL:g}; replay run "
                          f"{run.run_id})", key=mv.ref, run_id=run.run_id)
    return ReplayResult(model=mv, run=run, recorded=dict(mv.metrics), replayed=dict(replayed))


@dataclass
class RunReport:
    """A run's record and the HTML report written for it."""

    run: dict[str, Any]
    steps: list[dict[str, Any]]
    trials: list[dict[str, Any]]
    leaderboard: list[dict[str, Any]]  # per estimator (a training run) or per point (a sweep), best first
    rank_metric: str | None  # a sweep's held-out ranking metric
    path: Path


@_in_project
def run_report(run_id: str, *, project_dir: PathLike = ".") -> RunReport:
    """Write ``.tesla/reports/run-<id>.html``: steps, leaderboard, search progress and trials (or a sweep's points)."""
    from tesla.report.run_report import estimator_leaderboard, render_run_report
    from tesla.store.sweeps import is_sweep, point_rows, rank_points

    store = open_store(project_dir)
    run = store.run(run_id)
    steps, trials = store.run_steps(run["id"]), store.trials(run["id"])
    board, metric = rank_points(point_rows(store, run["id"])) if is_sweep(run) else (estimator_leaderboard(trials), None)
    path = store.state_dir / "reports" / f"run-{run['id']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_run_report(run, steps, trials, board, rank_metric=metric))
    return RunReport(run=run, steps=steps, trials=trials, leaderboard=board, rank_metric=metric, path=path)


# -- models: evaluate, predict ---------------------------------------------------------------------
@_in_project
def resolve_model(ref: str, *, project_dir: PathLike = ".") -> ModelVersion:
    name, version = parse_model_ref(ref)
    return open_store(project_dir).model(name, version)


@_in_project
def evaluate(model: str, data: PathLike, *, overrides: Sequence[str] = (), force: bool = False,
             project_dir: PathLike = ".", on_event: EventSink | None = None) -> EvaluateResult:
    """Score a registered model (``NAME`` or ``NAME@N``) on a labelled file; store metrics and report."""
    _, plain = compose_config(overrides, project_dir=project_dir)
    store = open_store(project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    path = _input_file(data, "evaluation data")
    _check_labelled(path, mv, store)  # before anything is stored or a run is recorded
    test = _stage_file(str(path.resolve()), store, project_dir, "-d", put=True)
    assert test is not None
    plan = compile_evaluate(plain, model_ref=mv.ref, bundle_sha=mv.bundle_sha, test_file=test)
    backend = _backend(plain, store)
    _guard_budget(backend, plan, plain, project_dir)
    run = backend.run(plan, force=force, on_event=on_event)
    result = run.result("evaluate")
    report_sha = run.output("evaluate", "report")
    store.add_evaluation(mv.name, mv.version, test.label, result["metrics"], report_sha)
    report = store.state_dir / "reports" / f"{mv.name}-v{mv.version}-{Path(test.label).stem}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store.artifacts.path(report_sha), report)  # a readable name that opens in a browser
    return EvaluateResult(model=mv, metrics=result["metrics"], baseline=result["baseline"], rows=result["rows"],
                          report_path=report, run=run)


def _check_labelled(path: Path, mv: ModelVersion, store: Store) -> None:
    from tesla.data import check_columns, read_table
    from tesla.models import read_manifest, verified_bundle_dir

    manifest = read_manifest(verified_bundle_dir(store.artifacts, mv.bundle_sha, ref=mv.ref))
    target, df = manifest["target"], read_table(path)
    columns = list(df.columns)
    if target not in columns:
        raise DataError(f"evaluation data '{path}' has no target column '{target}' (columns: {', '.join(columns)}); "
                        f"{mv.ref} needs labelled rows", key=target)
    check_columns(df, manifest["signature"], f"evaluation data '{path}'")


@_in_project
def predict(model: str, data: PathLike, output: PathLike | None = None, *,
            project_dir: PathLike = ".") -> tuple[Any, Path | None]:
    """Batch-score ``data`` with a registered model; returns (frame with predictions, output path).

    ``output`` (``.parquet`` or else CSV) is checked before anything is scored; its missing parent
    directories are made, as ``tesla monitor --report`` and the evaluation reports do.
    """
    import pandas as pd

    from tesla.data import check_columns, read_table
    from tesla.models import load_verified_bundle

    store = open_store(project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    source = _input_file(data)
    path = _output_file(output) if output is not None else None
    bundle = load_verified_bundle(store.artifacts, mv.bundle_sha, ref=mv.ref)
    df = read_table(source)
    check_columns(df, bundle.signature, f"'{data}'")
    target = bundle.manifest["target"]
    features = df.drop(columns=[target]) if target in df.columns else df
    records = bundle.predict_records(features, unseen="unknown")
    out = df.copy()
    out["prediction"] = [r["prediction"] for r in records]
    if bundle.task != "regression":
        probs = pd.DataFrame([r["probabilities"] for r in records], index=df.index)
        for col in probs.columns:
            out[f"proba_{col}"] = probs[col]
    if path is not None:
        _write_table(out, path)
    return out, path


# -- deployment -----------------------------------------------------------------------------------
def check_gates(gates: Mapping[str, Any], mv: ModelVersion, store: Store, *, compare: bool = True) -> None:
    """Raise GateError when the model's recorded metrics fail ``evaluation.gates``.

    ``compare=False`` skips the ``vs`` (beat the champion) rules: a rollback returns to the former
    champion on purpose, so only the absolute ``min``/``max`` rules apply to it.
    """
    from tesla.evaluation.metrics import higher_is_better

    for metric, rule in gates.items():
        if metric not in mv.metrics:
            raise GateError(f"gate on '{metric}' cannot be checked: {mv.ref} has no recorded '{metric}' "
                            f"(it has {', '.join(sorted(mv.metrics))})", key=f"evaluation.gates.{metric}")
        value = float(mv.metrics[metric])
        if "min" in rule and value < float(rule["min"]):
            raise GateError(f"{mv.ref} fails the gate {metric} >= {rule['min']}: it scored {value:.4f}; "
                            "the current deployment is unchanged", key=f"evaluation.gates.{metric}")
        if "max" in rule and value > float(rule["max"]):
            raise GateError(f"{mv.ref} fails the gate {metric} <= {rule['max']}: it scored {value:.4f}; "
                            "the current deployment is unchanged", key=f"evaluation.gates.{metric}")
        if rule.get("vs") and compare:
            _check_vs(metric, rule, value, mv, store, higher_is_better(metric))


def _check_vs(metric: str, rule: Mapping[str, Any], value: float, mv: ModelVersion, store: Store,
              higher: bool) -> None:
    live = [d for d in store.deployments(model=mv.name, profile=rule["vs"], active_only=True)]
    if not live or live[0]["version"] == mv.version:
        return
    champion = store.model(mv.name, live[0]["version"])
    if metric not in champion.metrics:
        return
    delta = (value - float(champion.metrics[metric])) * (1 if higher else -1)
    if delta < float(rule.get("min_delta", 0.0)):
        raise GateError(f"{mv.ref} does not beat {champion.ref} (serving '{rule['vs']}') on {metric} by "
                        f"{rule.get('min_delta', 0.0)}: {value:.4f} vs {float(champion.metrics[metric]):.4f}; "
                        "the current deployment is unchanged", key=f"evaluation.gates.{metric}")


@_in_project
def deploy(model: str, profile: str = "production", *, overrides: Sequence[str] = (),
           project_dir: PathLike = ".") -> DeployResult:
    """Serve a registered model with a deploy profile (``conf/deploy/<profile>.yaml``).

    Idempotent: the same version already serving on the profile is a no-op. A new version
    replaces the old one only after it reports healthy, so there is no moment without a healthy
    server: with ``deploy.port=0`` the new server gets its own port (the deployment's URL changes);
    with a fixed port the new server takes over the old one's listening socket (both accept on it
    until the old one stops; see ``tesla.serving.handoff``).

    Raises:
        GateError: the model fails ``evaluation.gates``; nothing is started or stopped.
        DeployError: the new server did not start or report healthy; the old one keeps serving.
    """
    _, plain = compose_config([f"deploy={profile}", *overrides], project_dir=project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    return _deploy_version(open_store(project_dir), plain, mv, compare=True)


def _deploy_version(store: Store, plain: Mapping[str, Any], mv: ModelVersion, *, compare: bool) -> DeployResult:
    from tesla.models import verified_bundle_dir

    dep = plain["deploy"]
    verified_bundle_dir(store.artifacts, mv.bundle_sha, ref=mv.ref)  # refused here, before anything starts or stops
    check_gates(plain["evaluation"]["gates"], mv, store, compare=compare)
    current = _live(store, mv.name, dep["profile"])
    if current and current["version"] == mv.version and current["target"] == dep["target"]:
        return DeployResult(mv, dep["profile"], dep["target"], current["url"], changed=False, info=current)
    # recorded as starting first: killed before it is healthy, the next start stops its server and drops it
    dep_id = store.start_deployment(model=mv.name, version=mv.version, profile=dep["profile"], target=dep["target"])
    fault_point("deploy.after_intent")

    def spawned(pid: int) -> None:  # recorded before the health wait, so recovery can stop this server
        store.update_deployment(dep_id, pid=pid)
        fault_point("deploy.after_spawn")

    try:
        if dep["target"] == "local":
            info = _deploy_local(store, mv, dep, current, on_spawn=spawned)
        else:
            info = _deploy_cloud(store, plain, mv)
    except BaseException:
        store.drop_deployment(dep_id)  # nothing was deployed
        raise
    fault_point("deploy.after_healthy")
    store.activate_deployment(dep_id, stage=dep["profile"], url=info["url"], pid=info.get("pid"),
                              port=info.get("port"), log_path=info.get("log_path"), info=info)
    fault_point("deploy.after_activate")
    if current:
        _retire(store, current)  # only now: the new server is already healthy
        fault_point("deploy.after_retire")
    return DeployResult(mv, dep["profile"], dep["target"], info["url"], changed=True, info={**info, "id": dep_id})


def _live(store: Store, model: str, profile: str) -> dict[str, Any] | None:
    from tesla.serving.process import is_alive

    live = None
    for d in store.deployments(model=model, profile=profile, active_only=True):  # newest first
        if d["target"] == "local" and not is_alive(d["pid"]):
            store.update_deployment(d["id"], status="failed")  # the process died since
        elif live is None:
            live = d
        else:
            _retire(store, d)  # a replace killed before it stopped the old server: finish it now
    return live


def _deploy_local(store: Store, mv: ModelVersion, dep: Mapping[str, Any], current: Mapping[str, Any] | None,
                  on_spawn: Callable[[int], None] | None = None) -> dict[str, Any]:
    import secrets

    from tesla.serving import handoff
    from tesla.serving.process import start_server, stop_server

    port = dep["port"]
    if port:
        _check_port_owner(store, port, mv.name, dep["profile"])
    same_port = bool(port and current and current["target"] == "local" and current["port"] == port)
    take_from = current["info"].get("handoff") if same_port and current else None
    if same_port and current and not (handoff.SUPPORTED and take_from):
        stop_server(current["pid"])  # the port cannot be handed over here: it must be freed first
    # a fixed port outlives its servers: each offers its socket to the next (no moment without a server)
    offer_at = (handoff.handoff_path(store.state_dir, f"{mv.name}-{dep['profile']}-{secrets.token_hex(4)}")
                if port and handoff.SUPPORTED else None)
    capture = store.state_dir / "captures" / mv.name / dep["profile"] if dep["data_capture"] else None
    log_path = store.state_dir / "logs" / f"{mv.name}-{dep['profile']}-v{mv.version}.log"
    proc = start_server(store.artifacts.path(mv.bundle_sha), host=dep["host"], port=port, model_ref=mv.ref,
                        log_path=log_path, unseen_category=dep["unseen_category"],
                        max_body_bytes=dep["max_body_bytes"], auth_token_env=dep["auth_token_env"],
                        capture_dir=capture, max_batch_size=dep["batching"]["max_batch_size"],
                        max_latency_ms=dep["batching"]["max_latency_ms"],
                        handoff_from=Path(take_from) if take_from else None, handoff_at=offer_at,
                        health_timeout_s=dep["health_timeout_s"], on_spawn=on_spawn)
    return {"url": proc.url, "pid": proc.pid, "port": proc.port, "log_path": str(proc.log_path),
            "capture_dir": str(capture) if capture else None, "handoff": str(offer_at) if offer_at else None}


def _check_port_owner(store: Store, port: int, model: str, profile: str) -> None:
    """A fixed port is handed over only by the deployment this one replaces."""
    for d in store.deployments(active_only=True):
        if d["target"] == "local" and d["port"] == port and (d["model"], d["profile"]) != (model, profile):
            raise DeployError(f"port {port} is serving {d['model']}@{d['version']} on profile '{d['profile']}'; "
                              f"pick another deploy.port (0 picks a free one) or stop that deployment",
                              key="deploy.port")


def _deploy_cloud(store: Store, plain: Mapping[str, Any], mv: ModelVersion) -> dict[str, Any]:
    target = plain["deploy"]["target"]
    if plain["backend"]["name"] != target:
        raise ConfigError(f"deploy.target={target} needs backend={target} (its region, bucket and role); "
                          f"got backend={plain['backend']['name']}", key="deploy.target")
    backend = _backend(plain, store)
    tags = {"tesla-model": mv.name, "tesla-version": str(mv.version), "tesla-profile": plain["deploy"]["profile"]}
    return backend.deploy_model(store.artifacts.path(mv.bundle_sha), model=mv.name, version=mv.version,
                                settings=plain["deploy"], tags=tags)


def _retire(store: Store, dep: Mapping[str, Any], status: str = "replaced") -> None:
    from tesla.serving.process import stop_server

    if dep["target"] == "local":
        stop_server(dep["pid"])  # SIGTERM: the server finishes its requests and flushes its capture first
    store.update_deployment(dep["id"], status=status, info=_with_capture_drops(dep["info"]))


def _with_capture_drops(info: Mapping[str, Any]) -> dict[str, Any]:
    """``info`` plus ``capture_dropped``: the drop count in the capture directory's dropped.json."""
    import json

    if not info.get("capture_dir"):
        return dict(info)
    try:
        dropped = int(json.loads((Path(info["capture_dir"]) / "dropped.json").read_text()).get("dropped", 0))
    except (OSError, ValueError, AttributeError):
        dropped = 0
    return {**info, "capture_dropped": dropped}


@_in_project
def deployments(*, model: str | None = None, project_dir: PathLike = ".",
                active_only: bool = False) -> list[dict[str, Any]]:
    """Deployments, newest first; a local one whose process died is reported as failed."""
    from tesla.serving.process import is_alive

    store = open_store(project_dir)
    rows = store.deployments(model=model, active_only=active_only)
    for d in rows:
        if d["status"] == "running" and d["target"] == "local" and not is_alive(d["pid"]):
            store.update_deployment(d["id"], status="failed")
            d["status"] = "failed"
    return [d for d in rows if d["status"] == "running"] if active_only else rows


@_in_project
def stop_deployment(model: str, *, profile: str | None = None, project_dir: PathLike = ".") -> list[dict[str, Any]]:
    """Stop every running deployment of ``model`` (optionally only ``profile``)."""
    from tesla.serving.process import stop_server

    name, _ = parse_model_ref(model)
    store = open_store(project_dir)
    live = [d for d in store.deployments(model=name, profile=profile, active_only=True)]
    if not live:
        raise _no_deployment(store, name, profile)
    for d in live:
        if d["target"] == "local":
            stop_server(d["pid"])
        else:
            _, plain = compose_config([f"backend={d['target']}"], project_dir=project_dir)
            _backend(plain, store).undeploy_model(d["info"])
        store.update_deployment(d["id"], status="stopped", info=_with_capture_drops(d["info"]))
    return live


def _no_deployment(store: Store, name: str, profile: str | None, what: str = "running deployment") -> DeployError:
    known = sorted({d["model"] for d in store.deployments(active_only=True)})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else (f" Running: {', '.join(known)}." if known else "")
    return DeployError(f"no {what} of '{name}'{f' on profile {profile}' if profile else ''}.{hint}", key=name)


@_in_project
def rollback(profile: str = "production", *, model: str | None = None, overrides: Sequence[str] = (),
             project_dir: PathLike = ".") -> DeployResult:
    """Serve again the version that served ``profile`` before the current one.

    It goes through the same path as ``deploy`` (the new server is healthy before the current one
    stops) and the absolute ``evaluation.gates``; the ``vs`` rules are skipped, since returning to
    the former champion is the point. A deployment on a fixed port stays on it even when the
    profile says ``port: 0``. Rolling back twice returns to where you started.

    Args:
        profile: the deploy profile.
        model: the model name; default: the only model deployed on ``profile``.

    Raises:
        DeployError: nothing was deployed on the profile before, or ``model`` is needed.
    """
    store = open_store(project_dir)
    name = _rollback_model(store, profile, model)
    history = store.deployments(model=name, profile=profile)  # newest first
    current = _live(store, name, profile)
    now = current["version"] if current else history[0]["version"]
    previous = next((d for d in history if d["version"] != now), None)
    if previous is None:
        raise DeployError(f"{name} has only ever served version {now} on profile '{profile}'; there is no "
                          f"earlier version to roll back to (deploy one with `tesla deploy -m {name}@N`)", key=name)
    _, plain = compose_config([f"deploy={profile}", *overrides], project_dir=project_dir)
    if current and current["info"].get("handoff") and not plain["deploy"]["port"]:
        plain["deploy"]["port"] = current["port"]  # it serves on a fixed port (e.g. -o deploy.port=N): stay there
    return _deploy_version(store, plain, store.model(name, previous["version"]), compare=False)


def _rollback_model(store: Store, profile: str, model: str | None) -> str:
    if model:
        name, _ = parse_model_ref(model)
        if not store.deployments(model=name, profile=profile):
            raise _no_deployment(store, name, profile, what="deployment history")
        return name
    history = store.deployments(profile=profile)
    running = sorted({d["model"] for d in history if d["status"] == "running"})
    names = running or sorted({d["model"] for d in history})
    if not names:
        raise DeployError(f"nothing has been deployed on profile '{profile}'; deploy with "
                          f"`tesla deploy -m NAME -p {profile}` first", key=profile)
    if len(names) > 1:
        raise DeployError(f"profile '{profile}' serves several models ({', '.join(names)}); choose one with -m NAME",
                          key=profile)
    return names[0]


@_in_project
def deployment_status(model: str | None = None, *, profile: str | None = None,
                      project_dir: PathLike = ".") -> list[dict[str, Any]]:
    """Running deployments, each with a live ``health`` probe and its ``capture`` counts.

    Raises:
        DeployError: ``model`` is given and has no running deployment.
    """
    store = open_store(project_dir)
    name = parse_model_ref(model)[0] if model else None
    rows = [d for d in deployments(model=name, project_dir=project_dir, active_only=True)
            if profile is None or d["profile"] == profile]
    if name and not rows:
        raise _no_deployment(store, name, profile)
    for d in rows:
        d["health"] = _probe_health(d)
        d["capture"] = _capture_counts(d["info"])
    return rows


def _probe_health(dep: Mapping[str, Any]) -> dict[str, Any]:
    import httpx

    if dep["target"] != "local":
        return {"status": f"see the {dep['target']} console (tesla probes local servers only)"}
    try:
        response = httpx.get(f"{dep['url']}/health", timeout=2.0)
        return response.json() if response.status_code == 200 else {"status": f"HTTP {response.status_code}"}
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": f"unreachable: {type(exc).__name__}"}


def _capture_counts(info: Mapping[str, Any]) -> dict[str, Any]:
    if not info.get("capture_dir"):
        return {"enabled": False}
    directory = Path(info["capture_dir"])
    files = sorted(directory.glob("predictions-*.jsonl")) if directory.is_dir() else []
    return {"enabled": True, "dir": str(directory), "files": len(files),
            "bytes": sum(f.stat().st_size for f in files), "dropped": _with_capture_drops(info)["capture_dropped"]}


@_in_project
def deployment_logs(model: str, *, profile: str | None = None, lines: int = 50,
                    project_dir: PathLike = ".") -> tuple[dict[str, Any], str]:
    """(deployment, the last ``lines`` lines of its server log) for the newest deployment of ``model``.

    Raises:
        DeployError: no local deployment of ``model`` (cloud targets log to their provider).
    """
    store = open_store(project_dir)
    name, _ = parse_model_ref(model)
    rows = store.deployments(model=name, profile=profile)
    if not rows:
        raise _no_deployment(store, name, profile, what="deployment")
    dep = rows[0]
    if not dep["log_path"]:
        raise DeployError(f"{name}@{dep['version']} runs on {dep['target']}, whose logs stay with the provider; "
                          "see its console", key=name)
    path = Path(dep["log_path"])
    text = path.read_text(errors="replace") if path.exists() else ""
    return dep, "\n".join(text.splitlines()[-lines:]) if lines > 0 else text


# -- monitoring -----------------------------------------------------------------------------------
@_in_project
def monitor(model: str, *, profile: str | None = None, since: str | None = None, overrides: Sequence[str] = (),
            report: PathLike | None = None, project_dir: PathLike = ".") -> Any:
    """Check a deployment's captured traffic against the model's training data (``tesla monitor``).

    Returns a ``tesla.monitor.MonitorReport`` (``alerting`` is True when a ``monitor.*`` threshold is
    crossed; no captured traffic is a clean ``no_traffic`` report) and writes its HTML to ``report``
    (default ``.tesla/reports/monitor-<model>-<profile>.html``). With ``monitor.retrain=true`` a drift
    or live-metric alert retrains on the newest dataset version and deploys the result if it passes
    ``evaluation.gates``; ``overrides`` apply to that retrain and deploy too.

    Args:
        model: NAME (the newest version seen in the traffic) or NAME@N.
        profile: the deploy profile whose captures to read; default: the only one with captures.
        since: only traffic from then on: a duration (``30m``, ``2h``, ``7d``) or an ISO-8601 time.
    """
    from tesla.monitor import MonitorSettings, check_deployment, write_report
    from tesla.monitor.captures import parse_since

    report = _output_file(report) if report is not None else None
    _, plain = compose_config(overrides, project_dir=project_dir)
    store = open_store(project_dir)
    name, version = parse_model_ref(model)
    store.model(name, version)  # an unknown model is a mistake, not "no traffic"
    result = check_deployment(store, name, version, profile=profile, since=parse_since(since) if since else None,
                              settings=MonitorSettings.from_config(plain["monitor"]))
    report_path = Path(report) if report else store.state_dir / "reports" / f"monitor-{name}-{result.profile}.html"
    write_report(result, report_path)
    if result.wants_retrain and plain["monitor"]["retrain"]:
        result.retrain = _monitor_retrain(store, result.model, result.profile, overrides, project_dir)
    summary = result.to_dict()
    store.add_monitor_event(model=result.model or f"{name}@{version or '?'}", profile=result.profile or "",
                            status=result.status, alerts=summary.get("alerts", []), summary=summary,
                            report_path=str(report_path))
    return result


@_in_project
def monitor_history(model: str | None = None, *, limit: int = 20, project_dir: PathLike = ".") -> list[dict[str, Any]]:
    """Recorded ``tesla monitor`` checks, newest first (status, alerts, report path)."""
    return open_store(project_dir).monitor_events(model=model, limit=limit)


def _monitor_retrain(store: Store, ref: str, profile: str, overrides: Sequence[str], project_dir: PathLike) -> Any:
    from tesla.monitor.retrain import retrain

    mv = resolve_model(ref, project_dir=project_dir)
    newest = store.dataset_version(mv.dataset).version if mv.dataset else None

    def run_train(train_overrides: list[str]) -> tuple[ModelVersion, bool]:
        result = train(mv.name, overrides=train_overrides, project_dir=project_dir)
        return result.model, result.created

    def run_deploy(new_ref: str) -> str:
        return deploy(new_ref, profile, overrides=overrides, project_dir=project_dir).url

    return retrain(mv, newest, run_train, run_deploy, extra=overrides)


@_in_project
def monitor_feedback(model: str, data: PathLike, *, profile: str | None = None, project_dir: PathLike = ".") -> Any:
    """Append ground-truth labels (request_id, label[, row]) from a file to a deployment's feedback.

    Returns a ``tesla.monitor.FeedbackResult`` (how many were recorded, how many match a captured
    prediction). Nothing is written when a label is not one the model knows.
    """
    from tesla.monitor import record_feedback

    mv = resolve_model(model, project_dir=project_dir)
    return record_feedback(open_store(project_dir), mv, _input_file(data, "labels file"), profile=profile)


# -- dry runs, cost and cloud jobs ------------------------------------------------------------------
@dataclass
class DryRunResult:
    """What ``tesla plan --dry-run`` shows; producing it sent nothing anywhere."""

    plan: Plan
    backend: str
    requests: list[dict[str, Any]]  # {"step", "operation", "request"} in run order
    problems: list[str]  # strict-validation and backend-check failures
    cost: dict[str, Any]  # CostEstimate.to_dict(); cached steps left out
    budget_error: str | None  # why backend.max_usd refuses the plan; None when it does not


def _estimate(backend: Backend, plan: Plan, project_dir: PathLike, points: int) -> Any:
    from tesla.execution.cost import CostEstimate, load_prices

    cached = {step for step, state in plan_status(plan, project_dir=project_dir).items() if state == "cached"}
    prices = load_prices(backend.name, project_dir=project_dir)
    estimate = CostEstimate.from_dict({"backend": backend.name, **backend.estimate_cost(plan, prices)})
    return estimate.without(cached).times(points)


def _guard_budget(backend: Backend, plan: Plan, plain: Mapping[str, Any], project_dir: PathLike,
                  points: int = 1) -> None:
    from tesla.execution.cost import check_budget

    max_usd = plain["backend"].get("max_usd")
    if max_usd is not None:
        check_budget(_estimate(backend, plan, project_dir, points), max_usd, what=f"plan '{plan.name}'")


@_in_project
def dry_run(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
            overrides: Sequence[str] = (), project_dir: PathLike = ".", points: int = 1) -> DryRunResult:
    """Compile the training plan and show what running it would send, without sending anything.

    No network connection and no credentials are needed: the backend renders its provider
    requests, validates them strictly (service model / proto rules) and prices them from
    ``conf/prices.yaml`` (a project's own copy overrides entries).

    Args:
        model, framework, max_iter, overrides, project_dir: as for ``compile_plan``.
        points: sweep points the plan will run for (the cost is multiplied out).

    Returns:
        The plan, the requests, problems found, the cost estimate and the budget verdict.
    """
    from tesla.errors import TeslaError
    from tesla.execution.cost import check_budget

    _, plain = compose_config(_train_overrides(model, framework, max_iter, overrides), project_dir=project_dir)
    plan = compile_plan(model, framework=framework, max_iter=max_iter, overrides=overrides, project_dir=project_dir)
    backend = _backend(plain, open_store(project_dir))
    requests = backend.render_requests(plan)
    try:
        problems = backend.check(plan)
    except TeslaError as exc:  # e.g. an estimator the image cannot load: show it with the rest
        problems = [str(exc)]
    if not problems:  # requests rendered with settings still missing would only repeat those problems
        problems = backend.validate_requests(requests)
    estimate = _estimate(backend, plan, project_dir, points)
    budget_error = None
    try:
        check_budget(estimate, plain["backend"].get("max_usd"), what=f"plan '{plan.name}'")
    except ConfigError as exc:
        budget_error = str(exc)
    return DryRunResult(plan=plan, backend=backend.name, requests=requests, problems=problems,
                        cost=estimate.to_dict(), budget_error=budget_error)


def _jobs_backend(overrides: Sequence[str], project_dir: PathLike) -> Backend:
    from tesla.errors import NotSupportedError

    _, plain = compose_config(overrides, project_dir=project_dir)
    spec = backend_spec(plain["backend"]["name"])
    if not spec.capabilities.remote:
        raise NotSupportedError(f"`tesla jobs` needs a cloud backend and this project's backend is '{spec.name}'; "
                                "pass backend=sagemaker or backend=vertex (or set it in conf/config.yaml)",
                                key="backend")
    return _backend(plain, open_store(project_dir))


@_in_project
def jobs_list(*, overrides: Sequence[str] = (), limit: int = 50, project_dir: PathLike = ".") -> list[dict[str, Any]]:
    """Provider jobs Tesla started on the configured cloud backend, newest first."""
    return _jobs_backend(overrides, project_dir).list_jobs(limit)


@_in_project
def jobs_status(job: str, *, overrides: Sequence[str] = (), project_dir: PathLike = ".") -> dict[str, Any]:
    """One job's Tesla state, provider state and failure reason."""
    return _jobs_backend(overrides, project_dir).job_status(job)


@_in_project
def jobs_logs(job: str, *, overrides: Sequence[str] = (), project_dir: PathLike = ".") -> str:
    """One job's log text from the provider."""
    return _jobs_backend(overrides, project_dir).job_logs(job)


@_in_project
def jobs_cancel(job: str, *, overrides: Sequence[str] = (), project_dir: PathLike = ".") -> dict[str, Any]:
    """Ask the provider to stop a job; returns its status afterwards."""
    backend = _jobs_backend(overrides, project_dir)
    backend.cancel(job)
    return backend.job_status(job)
