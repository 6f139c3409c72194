"""Tesla's library API: the CLI, the REST server and notebooks all call these functions.

Every function takes ``project_dir`` (default: the current directory), whose ``conf/``
overrides the default config and whose ``.tesla/`` holds the store. Errors are
``TeslaError`` subclasses with one-line messages.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tesla.compiler import DatasetInput, FileInput, compile_evaluate, compile_train
from tesla.config import DEFAULT_CONF_DIR, check_config, compose
from tesla.errors import ConfigError, DataError, DataNotFoundError, DeployError, GateError
from tesla.execution import Backend, Event, RunResult, backend_spec, backend_specs
from tesla.plan import Plan
from tesla.store import DatasetVersion, ModelVersion, Store, hash_path

__all__ = [
    "DeployResult",
    "EvaluateResult",
    "LoadResult",
    "TrainResult",
    "compile_plan",
    "compose_config",
    "deploy",
    "deployments",
    "evaluate",
    "init_project",
    "load",
    "open_store",
    "parse_model_ref",
    "plan_status",
    "predict",
    "resolve_model",
    "stop_deployment",
    "train",
]

PathLike = str | os.PathLike[str]
EventSink = Callable[[Event], None]


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
    """The project's store (creates ``.tesla/`` when missing)."""
    return Store.open(project_dir)


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``"name@3"`` -> ("name", 3); ``"name"`` -> ("name", None)."""
    name, _, version = ref.partition("@")
    if not name:
        raise ConfigError(f"model reference '{ref}' has no name; use NAME or NAME@VERSION", key="model")
    if version and not version.isdigit():
        raise ConfigError(f"model reference '{ref}': the version after '@' must be a number, e.g. {name}@2",
                          key="model")
    return name, int(version) if version else None


def _backend_schemas() -> dict[str, type]:
    return {name: spec.config_class for name, spec in backend_specs().items()}


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

    Raises:
        ConfigError: the directory already holds a Tesla project.
    """
    root = Path(path)
    if (root / "conf" / "config.yaml").exists():
        raise ConfigError(f"'{root}' already holds a Tesla project (conf/config.yaml exists); "
                          "pick another directory", key=str(root))
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEFAULT_CONF_DIR, root / "conf", dirs_exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(_GITIGNORE)
    workflow = root / ".github" / "workflows" / "tesla.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(_WORKFLOW)
    return root


def load(data: PathLike, name: str, *, target: str | None = None, message: str | None = None,
         project_dir: PathLike = ".", progress: Callable[[str], None] | None = None) -> LoadResult:
    """Ingest ``data`` as a new immutable version of dataset ``name``.

    The same content again is not a new version (``created`` is False). Nothing is stored
    when the file cannot be read or ``target`` is not one of its columns.
    """
    from tesla.data import detect_format, infer_schema, read_table
    from tesla.steps.data import check_target

    if not name or any(c in name for c in "/@ "):
        raise DataError(f"dataset name '{name}' may not be empty or hold '/', '@' or spaces", key="name")
    path = Path(data)
    say = progress or (lambda _m: None)
    say(f"reading {path}")
    df = read_table(path)
    if target:
        check_target(list(df.columns), target, f"'{path}'")
    store = open_store(project_dir)
    sha = hash_path(path)
    existing = store.find_dataset_version(name, sha)
    if existing is not None:
        return LoadResult(existing, created=False)
    say(f"inferring the schema of {len(df)} rows x {len(df.columns)} columns")
    schema = infer_schema(df)
    store.artifacts.put(path)  # the artifact first: a row never points at a missing file
    version = store.add_dataset_version(name, sha256=sha, format=detect_format(path), source=str(path),
                                        rows=len(df), schema=schema, target=target, message=message)
    return LoadResult(version, created=True)


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
        cfg = mv.config.get("best_config")
        estimator = mv.config.get("best_estimator")
        if cfg and estimator and estimator not in starts:
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


def plan_status(plan: Plan, *, project_dir: PathLike = ".") -> dict[str, str]:
    """step id -> "cached" or "will run", as the next run would see it."""
    store = open_store(project_dir)
    status: dict[str, str] = {}
    for step in plan.ordered():
        upstream_runs = any(status.get(r.step) == "will run" for r in step.inputs.values() if r.step)
        cached = not upstream_runs and store.completed_step(step.fingerprint) is not None
        status[step.id] = "cached" if cached else "will run"
    return status


def train(model: str | None = None, *, framework: str | None = None, max_iter: int | None = None,
          overrides: Sequence[str] = (), force: bool = False, project_dir: PathLike = ".",
          on_event: EventSink | None = None, parent_id: str | None = None) -> TrainResult:
    """Compile and run the training plan, then register the bundle as the next model version."""
    _, plain = compose_config(_train_overrides(model, framework, max_iter, overrides), project_dir=project_dir)
    name = _model_name(plain)
    plan = compile_plan(model, framework=framework, max_iter=max_iter, overrides=overrides,
                        project_dir=project_dir, ingest=True)
    store = open_store(project_dir)
    run = _backend(plain, store).run(plan, force=force, on_event=on_event, parent_id=parent_id)
    search = run.result("search")
    registered = run.result("register")
    mv, created = store.register_model(
        name, bundle_sha=run.output("register", "bundle"), framework=registered["framework"],
        task=registered["task"], run_id=run.run_id, dataset=plan.meta["dataset"].split("@")[0],
        dataset_version=plan.step("load").params["version"], plan_fingerprint=plan.fingerprint,
        metrics=registered["metrics"],
        config={"best_estimator": search["best_estimator"], "best_config": search["best_config"],
                "best_loss": search["best_loss"], "search_metric": search["metric"],
                "resolved": {k: plain[k] for k in ("data", "search", "evaluation")}})
    return TrainResult(model=mv, created=created, run=run, leaderboard=search.get("leaderboard", {}), search=search)


# -- models: evaluate, predict ---------------------------------------------------------------------
def resolve_model(ref: str, *, project_dir: PathLike = ".") -> ModelVersion:
    name, version = parse_model_ref(ref)
    return open_store(project_dir).model(name, version)


def evaluate(model: str, data: PathLike, *, overrides: Sequence[str] = (), force: bool = False,
             project_dir: PathLike = ".", on_event: EventSink | None = None) -> EvaluateResult:
    """Score a registered model (``NAME`` or ``NAME@N``) on a labelled file; store metrics and report."""
    _, plain = compose_config(overrides, project_dir=project_dir)
    store = open_store(project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    _check_labelled(Path(data), mv, store)  # before anything is stored or a run is recorded
    test = _stage_file(str(Path(data).resolve()), store, project_dir, "-d", put=True)
    assert test is not None
    plan = compile_evaluate(plain, model_ref=mv.ref, bundle_sha=mv.bundle_sha, test_file=test)
    run = _backend(plain, store).run(plan, force=force, on_event=on_event)
    result = run.result("evaluate")
    report_sha = run.output("evaluate", "report")
    store.add_evaluation(mv.name, mv.version, test.label, result["metrics"], report_sha)
    report = store.state_dir / "reports" / f"{mv.name}-v{mv.version}-{Path(test.label).stem}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store.artifacts.path(report_sha), report)  # a readable name that opens in a browser
    return EvaluateResult(model=mv, metrics=result["metrics"], baseline=result["baseline"], rows=result["rows"],
                          report_path=report, run=run)


def _check_labelled(path: Path, mv: ModelVersion, store: Store) -> None:
    from tesla.data import read_table
    from tesla.models import read_manifest

    if not path.exists():
        raise DataNotFoundError(f"-d file '{path}' does not exist; check the path", key="-d")
    target = read_manifest(store.artifacts.path(mv.bundle_sha))["target"]
    columns = list(read_table(path).columns)
    if target not in columns:
        raise DataError(f"evaluation data '{path}' has no target column '{target}' (columns: {', '.join(columns)}); "
                        f"{mv.ref} needs labelled rows", key=target)


def predict(model: str, data: PathLike, output: PathLike | None = None, *,
            project_dir: PathLike = ".") -> tuple[Any, Path | None]:
    """Batch-score ``data`` with a registered model; returns (frame with predictions, output path)."""
    import pandas as pd

    from tesla.data import read_table
    from tesla.models import load_bundle

    store = open_store(project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    bundle = load_bundle(store.artifacts.path(mv.bundle_sha))
    df = read_table(data)
    target = bundle.manifest["target"]
    features = df.drop(columns=[target]) if target in df.columns else df
    records = bundle.predict_records(features, unseen="unknown")
    out = df.copy()
    out["prediction"] = [r["prediction"] for r in records]
    if bundle.task != "regression":
        probs = pd.DataFrame([r["probabilities"] for r in records], index=df.index)
        for col in probs.columns:
            out[f"proba_{col}"] = probs[col]
    path = None
    if output is not None:
        path = Path(output)
        out.to_parquet(path, index=False) if path.suffix == ".parquet" else out.to_csv(path, index=False)
    return out, path


# -- deployment -----------------------------------------------------------------------------------
def check_gates(gates: Mapping[str, Any], mv: ModelVersion, store: Store) -> None:
    """Raise GateError when the model's recorded metrics fail ``evaluation.gates``."""
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
        if rule.get("vs"):
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


def deploy(model: str, profile: str = "production", *, overrides: Sequence[str] = (),
           project_dir: PathLike = ".") -> DeployResult:
    """Serve a registered model with a deploy profile (``conf/deploy/<profile>.yaml``).

    Idempotent: the same version already serving on the profile is a no-op. A new version
    replaces the old one only after it reports healthy.
    """
    _, plain = compose_config([f"deploy={profile}", *overrides], project_dir=project_dir)
    store = open_store(project_dir)
    mv = resolve_model(model, project_dir=project_dir)
    dep = plain["deploy"]
    check_gates(plain["evaluation"]["gates"], mv, store)
    current = _live(store, mv.name, dep["profile"])
    if current and current["version"] == mv.version and current["target"] == dep["target"]:
        return DeployResult(mv, dep["profile"], dep["target"], current["url"], changed=False, info=current)
    if dep["target"] == "local":
        info = _deploy_local(store, mv, dep, current)
    else:
        info = _deploy_cloud(store, plain, mv)
    dep_id = store.add_deployment(model=mv.name, version=mv.version, profile=dep["profile"], target=dep["target"],
                                  status="running", url=info["url"], pid=info.get("pid"), port=info.get("port"),
                                  log_path=info.get("log_path"), info=info)
    if current:
        _retire(store, current)
    store.set_model_stage(mv.name, mv.version, dep["profile"])
    return DeployResult(mv, dep["profile"], dep["target"], info["url"], changed=True, info={**info, "id": dep_id})


def _live(store: Store, model: str, profile: str) -> dict[str, Any] | None:
    from tesla.serving.process import is_alive

    for d in store.deployments(model=model, profile=profile, active_only=True):
        if d["target"] != "local" or is_alive(d["pid"]):
            return d
        store.update_deployment(d["id"], status="failed")  # the process died since
    return None


def _deploy_local(store: Store, mv: ModelVersion, dep: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    from tesla.serving.process import start_server, stop_server

    if current and current["target"] == "local" and dep["port"] and current["port"] == dep["port"]:
        stop_server(current["pid"])  # a fixed port cannot be shared: the old server must go first
    log_path = store.state_dir / "logs" / f"{mv.name}-{dep['profile']}-v{mv.version}.log"
    proc = start_server(store.artifacts.path(mv.bundle_sha), host=dep["host"], port=dep["port"], model_ref=mv.ref,
                        log_path=log_path, unseen_category=dep["unseen_category"],
                        max_body_bytes=dep["max_body_bytes"], auth_token_env=dep["auth_token_env"],
                        health_timeout_s=dep["health_timeout_s"])
    return {"url": proc.url, "pid": proc.pid, "port": proc.port, "log_path": str(proc.log_path)}


def _deploy_cloud(store: Store, plain: Mapping[str, Any], mv: ModelVersion) -> dict[str, Any]:
    target = plain["deploy"]["target"]
    if plain["backend"]["name"] != target:
        raise ConfigError(f"deploy.target={target} needs backend={target} (its region, bucket and role); "
                          f"got backend={plain['backend']['name']}", key="deploy.target")
    backend = _backend(plain, store)
    tags = {"tesla-model": mv.name, "tesla-version": str(mv.version), "tesla-profile": plain["deploy"]["profile"]}
    return backend.deploy_model(store.artifacts.path(mv.bundle_sha), model=mv.name, version=mv.version,
                                settings=plain["deploy"], tags=tags)


def _retire(store: Store, dep: Mapping[str, Any]) -> None:
    from tesla.serving.process import stop_server

    if dep["target"] == "local":
        stop_server(dep["pid"])
    store.update_deployment(dep["id"], status="replaced")


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


def stop_deployment(model: str, *, profile: str | None = None, project_dir: PathLike = ".") -> list[dict[str, Any]]:
    """Stop every running deployment of ``model`` (optionally only ``profile``)."""
    from tesla.serving.process import stop_server

    name, _ = parse_model_ref(model)
    store = open_store(project_dir)
    live = [d for d in store.deployments(model=name, profile=profile, active_only=True)]
    if not live:
        known = sorted({d["model"] for d in store.deployments(active_only=True)})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else (f" Running: {', '.join(known)}." if known else "")
        raise DeployError(f"no running deployment of '{name}'{f' on profile {profile}' if profile else ''}.{hint}",
                          key=name)
    for d in live:
        if d["target"] == "local":
            stop_server(d["pid"])
        else:
            _, plain = compose_config([f"backend={d['target']}"], project_dir=project_dir)
            _backend(plain, store).undeploy_model(d["info"])
        store.update_deployment(d["id"], status="stopped")
    return live
