"""The deployments service: serve registered models (local servers or cloud endpoints), roll back, stop, inspect."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.errors import ConfigError, DeployError
from tesla.execution import ModelHosting
from tesla.services._common import parse_model_ref
from tesla.store import Deployment, ModelVersion
from tesla.store.records import DeploymentStatus
from tesla.store.faults import fault_point

if TYPE_CHECKING:
    from tesla.project import Project

__all__ = ["DeployResult", "DeploymentService", "LiveMetrics"]


@dataclass
class DeployResult:
    model: ModelVersion
    profile: str
    target: str
    url: str
    changed: bool  # False: this version was already serving on this profile
    info: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        from tesla.report.notebook import card_html

        return card_html(f"{self.model.ref} serving '{self.profile}'", {
            "url": self.url, "target": self.target, "changed": self.changed, **self.info})


class DeploymentService:
    """Deployments of one project: a new version replaces the old only once it is healthy."""

    def __init__(self, project: Project) -> None:
        self.project = project

    # -- rollout ------------------------------------------------------------------------------------
    def deploy(self, model: str, profile: str = "production", *, overrides: Sequence[str] = ()) -> DeployResult:
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
        plain = self.project.plain_config([f"deploy={profile}", *overrides])
        stage = plain["deploy"].get("model_stage")
        if stage and "@" not in model:  # the profile names which version a bare NAME means
            model = f"{model}@{stage}"
        mv = self.project.training.resolve_model(model)
        return self._deploy_version(plain, mv, compare=True)

    def rollback(self, profile: str = "production", *, model: str | None = None,
                 overrides: Sequence[str] = ()) -> DeployResult:
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
        store = self.project.store
        name = self._rollback_model(profile, model)
        history = store.deployments(model=name, profile=profile)  # newest first
        current = self._live(name, profile)
        now = current.version if current else history[0].version
        previous = next((d for d in history if d.version != now), None)
        if previous is None:
            raise DeployError(f"{name} has only ever served version {now} on profile '{profile}'; there is no "
                              f"earlier version to roll back to (deploy one with `tesla deploy -m {name}@N`)",
                              key=name)
        plain = self.project.plain_config([f"deploy={profile}", *overrides])
        if current and current.info.get("handoff") and not plain["deploy"]["port"]:
            plain["deploy"]["port"] = current.port  # it serves on a fixed port (e.g. -o deploy.port=N): stay there
        return self._deploy_version(plain, store.model(name, previous.version), compare=False)

    def _rollback_model(self, profile: str, model: str | None) -> str:
        store = self.project.store
        if model:
            name, _ = parse_model_ref(model)
            if not store.deployments(model=name, profile=profile):
                raise self._no_deployment(name, profile, what="deployment history")
            return name
        history = store.deployments(profile=profile)
        running = sorted({d.model for d in history if d.status == "running"})
        names = running or sorted({d.model for d in history})
        if not names:
            raise DeployError(f"nothing has been deployed on profile '{profile}'; deploy with "
                              f"`tesla deploy -m NAME -p {profile}` first", key=profile)
        if len(names) > 1:
            raise DeployError(f"profile '{profile}' serves several models ({', '.join(names)}); choose one with "
                              "-m NAME", key=profile)
        return names[0]

    def _deploy_version(self, plain: Mapping[str, Any], mv: ModelVersion, *, compare: bool) -> DeployResult:
        from tesla.models import verified_bundle_dir

        store = self.project.store
        dep = plain["deploy"]
        verified_bundle_dir(store.artifacts, mv.bundle_sha, ref=mv.ref)  # refused here, before anything starts or stops
        self.project.evaluation.check_gates(plain["evaluation"]["gates"], mv, compare=compare)
        current = self._live(mv.name, dep["profile"])
        if current and current.version == mv.version and current.target == dep["target"]:
            return DeployResult(mv, dep["profile"], dep["target"], current.url or "", changed=False,
                                info={**current.info, "id": current.id})
        hosting = self._hosting(plain, dep["target"])
        if dep["port"]:
            self._check_port_owner(dep["port"], mv.name, dep["profile"], dep["target"])
        tags = {"tesla-model": mv.name, "tesla-version": str(mv.version), "tesla-profile": dep["profile"]}
        # recorded as starting first: killed before it is healthy, the next start stops its server and drops it
        dep_id = store.start_deployment(model=mv.name, version=mv.version, profile=dep["profile"],
                                        target=dep["target"])
        fault_point("deploy.after_intent")

        def spawned(pid: int) -> None:  # recorded before the health wait, so recovery can stop this server
            store.update_deployment(dep_id, pid=pid)
            fault_point("deploy.after_spawn")

        try:
            info = hosting.deploy_model(store.artifacts.path(mv.bundle_sha), model=mv.name, version=mv.version,
                                        settings=dep, tags=tags, on_spawn=spawned,
                                        replaces=_hosted(current) if current and current.target == dep["target"] else None)
        except BaseException:
            store.drop_deployment(dep_id)  # nothing was deployed
            raise
        fault_point("deploy.after_healthy")
        store.activate_deployment(dep_id, stage=dep["profile"], url=info["url"], pid=info.get("pid"),
                                  port=info.get("port"), log_path=info.get("log_path"), info=info)
        fault_point("deploy.after_activate")
        if current:
            # only now: the new deployment is healthy
            self._retire(current, hosting if current.target == dep["target"] else None)
            fault_point("deploy.after_retire")
        return DeployResult(mv, dep["profile"], dep["target"], info["url"], changed=True, info={**info, "id": dep_id})

    def _live(self, model: str, profile: str) -> Deployment | None:
        from tesla.serving.process import is_alive

        store = self.project.store
        live = None
        for d in store.deployments(model=model, profile=profile, active_only=True):  # newest first
            if d.target == "local" and not is_alive(d.pid):
                store.update_deployment(d.id, status="failed")  # the process died since
            elif live is None:
                live = d
            else:
                self._retire(d)  # a replace killed before it stopped the old server: finish it now
        return live

    # -- hosting: every target through its backend's ModelHosting role --------------------------------------
    def _hosting(self, plain: Mapping[str, Any], target: str) -> ModelHosting:
        """The backend that hosts ``target``: the local one (it needs no settings) or the configured cloud one.

        Raises:
            ConfigError: a cloud target whose backend is not the configured one (its region, bucket, role).
            NotSupportedError: the backend does not host models.
        """
        if target == "local":
            return self.project.backend({"backend": {"name": "local"}}).role(ModelHosting)
        if plain["backend"]["name"] != target:
            raise ConfigError(f"deploy.target={target} needs backend={target} (its region, bucket and role); "
                              f"got backend={plain['backend']['name']}", key="deploy.target")
        return self.project.backend(plain).role(ModelHosting)

    def _hosting_of(self, dep: Deployment) -> ModelHosting:
        """The backend hosting a recorded deployment (a cloud one with this project's settings for it)."""
        if dep.target == "local":
            return self._hosting({}, "local")
        plain = self.project.plain_config([f"backend={dep.target}"])
        return self._hosting(plain, dep.target)

    def _check_port_owner(self, port: int, model: str, profile: str, target: str) -> None:
        """A fixed port is handed over only by the deployment this one replaces."""
        for d in self.project.store.deployments(active_only=True):
            if d.target == target and d.port == port and (d.model, d.profile) != (model, profile):
                raise DeployError(f"port {port} is serving {d.model}@{d.version} on profile "
                                  f"'{d.profile}'; pick another deploy.port (0 picks a free one) or stop that "
                                  "deployment", key="deploy.port")

    def _retire(self, dep: Deployment, hosting: ModelHosting | None = None) -> None:
        # a local server stops (it finishes its requests and flushes its capture first); a cloud endpoint was
        # updated in place by the deployment that replaced this one
        (hosting or self._hosting_of(dep)).retire_model(_hosted(dep))
        self.project.store.update_deployment(dep.id, status="replaced", info=_with_capture_drops(dep.info))

    # -- listings, status, logs, stop --------------------------------------------------------------------------
    def list(self, *, model: str | None = None, active_only: bool = False) -> list[Deployment]:
        """Deployments, newest first; a local one whose process died is reported as failed."""
        from tesla.serving.process import is_alive

        store = self.project.store
        rows = store.deployments(model=model, active_only=active_only)
        for i, d in enumerate(rows):
            if d.status == "running" and d.target == "local" and not is_alive(d.pid):
                store.update_deployment(d.id, status="failed")
                rows[i] = dataclasses.replace(d, status="failed")
        return [d for d in rows if d.status == "running"] if active_only else rows

    def stop(self, model: str, *, profile: str | None = None) -> list[Deployment]:
        """Stop every running deployment of ``model`` (optionally only ``profile``)."""
        name, _ = parse_model_ref(model)
        store = self.project.store
        live = [d for d in store.deployments(model=name, profile=profile, active_only=True)]
        if not live:
            raise self._no_deployment(name, profile)
        for d in live:
            self._hosting_of(d).undeploy_model(_hosted(d))
            store.update_deployment(d.id, status="stopped", info=_with_capture_drops(d.info))
        return live

    def _no_deployment(self, name: str, profile: str | None, what: str = "running deployment") -> DeployError:
        known = sorted({d.model for d in self.project.store.deployments(active_only=True)})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else (f" Running: {', '.join(known)}." if known else "")
        return DeployError(f"no {what} of '{name}'{f' on profile {profile}' if profile else ''}.{hint}", key=name)

    def status(self, model: str | None = None, *, profile: str | None = None) -> list[DeploymentStatus]:
        """Running deployments, each with a live ``health`` probe and its ``capture`` counts.

        Raises:
            DeployError: ``model`` is given and has no running deployment.
        """
        return [DeploymentStatus(**{f.name: getattr(d, f.name) for f in dataclasses.fields(d)},
                                 health=_probe_health(d), capture=_capture_counts(d.info))
                for d in self._running(model, profile)]

    def live(self, model: str | None = None, *, profile: str | None = None) -> list[LiveMetrics]:
        """Running deployments' traffic now (requests, errors, rows, latency), read from each one's own
        ``/metrics`` at the URL its deployment recorded: the caller names deployments, never a URL.

        A server that asks for a bearer token (``deploy.auth_token_env``) is sent it when that variable is
        set here. Cloud endpoints report to their provider's console and are listed as not available.

        Raises:
            DeployError: ``model`` is given and has no running deployment.
        """
        return [_read_live(d) for d in self._running(model, profile)]

    def _running(self, model: str | None, profile: str | None) -> list[Deployment]:
        name = parse_model_ref(model)[0] if model else None
        rows = [d for d in self.list(model=name, active_only=True) if profile is None or d.profile == profile]
        if name and not rows:
            raise self._no_deployment(name, profile)
        return rows

    def logs(self, model: str, *, profile: str | None = None, lines: int = 50) -> tuple[Deployment, str]:
        """(deployment, the last ``lines`` lines of its server log) for the newest deployment of ``model``.

        Raises:
            DeployError: no local deployment of ``model`` (cloud targets log to their provider).
        """
        store = self.project.store
        name, _ = parse_model_ref(model)
        rows = store.deployments(model=name, profile=profile)
        if not rows:
            raise self._no_deployment(name, profile, what="deployment")
        dep = rows[0]
        if not dep.log_path:
            raise DeployError(f"{dep.ref} runs on {dep.target}, whose logs stay with the provider; "
                              "see its console", key=name)
        path = Path(dep.log_path)
        text = path.read_text(errors="replace") if path.exists() else ""
        return dep, "\n".join(text.splitlines()[-lines:]) if lines > 0 else text


@dataclass(frozen=True)
class LiveMetrics:
    """A running deployment's traffic as its own server's ``/metrics`` tells it now: totals since it started."""

    id: int
    model: str  # NAME@VERSION
    profile: str
    url: str | None
    read_at: float  # when it was read (Unix seconds, on the machine reading it): rates come from two readings
    available: bool  # False: nothing was read; ``reason`` says why
    reason: str = ""
    requests: int = 0  # requests to its model routes (health, metrics and schema probes are not counted)
    errors: int = 0  # of those, answered with a 4xx or 5xx status
    rows: int = 0  # rows predicted
    in_flight: int = 0
    latency_sum_s: float = 0.0  # of those requests
    latency_count: int = 0
    latency_buckets: list[list[float]] = field(default_factory=list)  # cumulative [upper bound s, count], ascending
    latency_ms: dict[str, float] = field(default_factory=dict)  # mean, p50, p90, p99 since it started


def _hosted(dep: Deployment) -> dict[str, Any]:
    """What the hosting backend returned for ``dep``, with the columns the store keeps of it (pid, port, url)."""
    columns = {"url": dep.url, "pid": dep.pid, "port": dep.port, "log_path": dep.log_path}
    return {**dep.info, **{k: v for k, v in columns.items() if v is not None}}


def _probe_health(dep: Deployment) -> dict[str, Any]:
    import httpx

    if dep.target != "local":
        return {"status": f"see the {dep.target} console (tesla probes local servers only)"}
    try:
        response = httpx.get(f"{dep.url}/health", timeout=2.0)
        return response.json() if response.status_code == 200 else {"status": f"HTTP {response.status_code}"}
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": f"unreachable: {type(exc).__name__}"}


def _read_live(dep: Deployment) -> LiveMetrics:
    import os
    import time

    import httpx

    from tesla.serving.metrics import traffic

    now = LiveMetrics(id=dep.id, model=dep.ref, profile=dep.profile, url=dep.url, read_at=time.time(), available=False)
    if dep.target != "local" or not dep.url:
        return dataclasses.replace(now, reason=f"see the {dep.target} console (tesla reads local servers only)")
    env = dep.info.get("auth_token_env")
    token = os.environ.get(env) if env else None
    try:
        response = httpx.get(f"{dep.url}/metrics", timeout=2.0,
                             headers={"Authorization": f"Bearer {token}"} if token else {})
    except httpx.HTTPError as exc:
        return dataclasses.replace(now, reason=f"unreachable: {type(exc).__name__}")
    if response.status_code == 401:
        variable = env or "its token variable"
        return dataclasses.replace(now, reason=f"its server asks for its bearer token: set {variable} "
                                               "(deploy.auth_token_env) where tesla server runs")
    if response.status_code != 200:
        return dataclasses.replace(now, reason=f"HTTP {response.status_code} from its /metrics")
    return dataclasses.replace(now, available=True, **traffic(response.text))


def _capture_counts(info: Mapping[str, Any]) -> dict[str, Any]:
    if not info.get("capture_dir"):
        return {"enabled": False}
    directory = Path(info["capture_dir"])
    files = sorted(directory.glob("predictions-*.jsonl")) if directory.is_dir() else []
    return {"enabled": True, "dir": str(directory), "files": len(files),
            "bytes": sum(f.stat().st_size for f in files), "dropped": _with_capture_drops(info)["capture_dropped"]}


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
