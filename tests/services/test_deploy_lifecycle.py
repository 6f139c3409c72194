"""The deployments service drives every target the same way, through the backend's ``ModelHosting`` role:
deploy (with the deployment it replaces and a spawn callback), retire the replaced one once the new
one is healthy, undeploy on stop. A fake hosting backend stands in for a provider; no server starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tesla import Project
from tesla.errors import DeployError
from tesla.execution import ModelHosting
from tesla.testing.fake import FakeBackend
from tests.conftest import project_store


class Hosting(FakeBackend, ModelHosting):
    """Records every hosting call; ``fail`` makes the next deploy unhealthy."""

    calls: list[tuple[str, Any]] = []
    fail = False

    def deploy_model(self, bundle_dir: Path, *, model: str, version: int, settings: Mapping[str, Any],
                     tags: Mapping[str, str], replaces: Mapping[str, Any] | None = None,
                     on_spawn: Callable[[int], None] | None = None) -> dict[str, Any]:
        self.calls.append(("deploy", (f"{model}@{version}", dict(replaces or {}).get("endpoint"), dict(tags))))
        if on_spawn:
            on_spawn(4242)
            self.calls.append(("spawned", self.store.deployments()[0].pid))  # recorded before the health wait
        if Hosting.fail:
            raise DeployError(f"{model}@{version} never became healthy")
        return {"url": f"https://fake/{model}/v{version}", "endpoint": f"ep-{model}-v{version}"}

    def undeploy_model(self, info: Mapping[str, Any]) -> None:
        self.calls.append(("undeploy", info["endpoint"]))

    def retire_model(self, info: Mapping[str, Any]) -> None:
        self.calls.append(("retire", info["endpoint"]))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    store = project_store(tmp_path / "p")
    sha = store.artifacts.put(_bundle(tmp_path))
    store.register_model("m", bundle_sha=sha, framework="sklearn", task="binary", run_id=None, dataset=None,
                         dataset_version=None, plan_fingerprint=None, metrics={"roc_auc": 0.9}, config={})
    project = Project(store.state_dir.parent)
    monkeypatch.setattr("tesla.models.verified_bundle_dir", lambda *a, **k: Path("."))
    project.backend = lambda plain: Hosting(plain["backend"], project.store)  # type: ignore[method-assign]
    Hosting.calls, Hosting.fail = [], False
    return project


def _bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    return bundle


def _plain(target: str = "fake") -> dict[str, Any]:
    return {"backend": {"name": target}, "evaluation": {"gates": {}},
            "deploy": {"target": target, "profile": "production", "port": 0}}


def _mv(project: Project, version: int) -> Any:
    """``m@version``: one registered bundle stands in for every version (hosting is faked)."""
    return dataclasses.replace(project.store.model("m", 1), version=version)


def test_a_replace_deploys_with_the_old_one_then_retires_it(project: Project) -> None:
    deployments = project.deployments
    first = deployments._deploy_version(_plain(), _mv(project, 1), compare=False)
    second = deployments._deploy_version(_plain(), _mv(project, 2), compare=False)
    assert first.url == "https://fake/m/v1" and second.url == "https://fake/m/v2" and second.changed
    assert Hosting.calls == [
        ("deploy", ("m@1", None, {"tesla-model": "m", "tesla-version": "1", "tesla-profile": "production"})),
        ("spawned", 4242),
        ("deploy", ("m@2", "ep-m-v1", {"tesla-model": "m", "tesla-version": "2", "tesla-profile": "production"})),
        ("spawned", 4242),
        ("retire", "ep-m-v1"),  # only after the new one is healthy
    ]
    assert [(d.version, d.status) for d in project.store.deployments()] == [(2, "running"), (1, "replaced")]


def test_an_unhealthy_deploy_leaves_the_old_one_serving(project: Project) -> None:
    deployments = project.deployments
    deployments._deploy_version(_plain(), _mv(project, 1), compare=False)
    Hosting.fail = True
    with pytest.raises(DeployError, match="never became healthy"):
        deployments._deploy_version(_plain(), _mv(project, 2), compare=False)
    assert [c[0] for c in Hosting.calls] == ["deploy", "spawned", "deploy", "spawned"]  # nothing retired
    assert [(d.version, d.status) for d in project.store.deployments()] == [(1, "running")]


def test_stop_undeploys_through_the_role(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.deployments._deploy_version(_plain(), _mv(project, 1), compare=False)
    monkeypatch.setattr(project, "plain_config", lambda overrides=(): _plain())
    stopped = project.deployments.stop("m")
    assert [d.ref for d in stopped] == ["m@1"] and Hosting.calls[-1] == ("undeploy", "ep-m-v1")
    assert [d.status for d in project.store.deployments()] == ["stopped"]


def test_a_cloud_target_needs_its_backend_configured(project: Project) -> None:
    plain = {**_plain(), "backend": {"name": "local"}}
    with pytest.raises(Exception, match=r"deploy.target=fake needs backend=fake"):
        project.deployments._deploy_version(plain, _mv(project, 1), compare=False)
    assert project.store.deployments() == []  # refused before anything was recorded


def test_a_profile_naming_a_stage_deploys_that_version_of_a_bare_name(project: Project, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = project.store
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text('{"v": 2}')
    store.register_model("m", bundle_sha=store.artifacts.put(other), framework="sklearn", task="binary", run_id=None,
                         dataset=None, dataset_version=None, plan_fingerprint=None, metrics={}, config={})
    project.training.promote("m@1", "candidate")
    chosen = []
    monkeypatch.setattr(project.deployments, "_deploy_version", lambda plain, mv, compare: chosen.append(mv.ref))
    project.deployments.deploy("m", "staging", overrides=["deploy.model_stage=candidate"])
    project.deployments.deploy("m", "staging")  # no stage on the profile: the newest
    project.deployments.deploy("m@2", "staging", overrides=["deploy.model_stage=candidate"])  # an explicit @ wins
    assert chosen == ["m@1", "m@2", "m@2"]
