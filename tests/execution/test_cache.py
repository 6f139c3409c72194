"""Caching: an unchanged re-run skips every step; an override names the key that changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla import api
from tesla.execution import Event
from tests.conftest import run_tesla


@pytest.fixture(scope="module")
def cached_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("cache") / "proj")
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=root)
    api.train("m", max_iter=3, project_dir=root)
    return root


def _events(project: Path, *overrides: str, force: bool = False) -> list[Event]:
    seen: list[Event] = []
    api.train("m", max_iter=3, overrides=list(overrides), project_dir=project, on_event=seen.append, force=force)
    return seen


def test_unchanged_rerun_skips_every_step_and_registers_nothing_new(cached_project: Path) -> None:
    versions = len(api.open_store(cached_project).model_versions("m"))
    events = _events(cached_project)
    assert [e.step for e in events if e.kind == "step_cached"] == ["load", "split", "search", "evaluate", "register"]
    assert not [e for e in events if e.kind == "step_started"]
    assert len(api.open_store(cached_project).model_versions("m")) == versions


def test_an_override_misses_the_cache_and_names_the_changed_key(cached_project: Path) -> None:
    events = _events(cached_project, "search.metric=accuracy")
    cached = [e.step for e in events if e.kind == "step_cached"]
    started = {e.step: e.data["reason"] for e in events if e.kind == "step_started"}
    assert cached == ["load", "split"]
    assert "search.metric: 'log_loss' -> 'accuracy'" in started["search"] or \
        "search.metric: 'auto' -> 'accuracy'" in started["search"]
    assert started["evaluate"] == "an upstream step or input changed"


def test_force_reruns_everything(cached_project: Path) -> None:
    events = _events(cached_project, force=True)
    assert {e.data["reason"] for e in events if e.kind == "step_started"} == {"--force"}


def test_the_cli_says_which_steps_were_cached(cached_project: Path) -> None:
    out = run_tesla("train", "-m", "m", "-p", "3", cwd=cached_project)
    assert out.stderr.count("cached (fingerprint unchanged") == 5
    assert "unchanged (the same bundle is already registered)" in out.stdout
    plan = run_tesla("plan", "-m", "m", "-p", "3", cwd=cached_project).stdout
    assert "5 cached, 0 to run" in plan
