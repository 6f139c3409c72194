"""The plan is data: same config -> byte-identical JSON; fingerprints move only with content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tesla import api
from tesla.errors import PlanError
from tesla.plan import ArtifactRef, Plan, Step
from tests.conftest import run_tesla


@pytest.fixture
def loaded(project: Path, datasets_dir: Path) -> Path:
    api.load(datasets_dir / "bc.csv", "bc", target="target", project_dir=project)
    return project


def test_two_compiles_are_byte_identical(loaded: Path) -> None:
    first = api.compile_plan("m", max_iter=5, project_dir=loaded).to_json()
    second = api.compile_plan("m", max_iter=5, project_dir=loaded).to_json()
    assert first == second


def test_plan_json_is_identical_across_processes_and_has_no_machine_paths(loaded: Path) -> None:
    a = run_tesla("plan", "-m", "m", "-p", "5", "--format", "json", cwd=loaded).stdout
    b = run_tesla("plan", "-m", "m", "-p", "5", "--format", "json", cwd=loaded).stdout
    assert a == b
    assert str(loaded) not in a and "/tmp" not in a
    data = json.loads(a)
    assert [s["id"] for s in data["steps"]] == ["load", "split", "search", "evaluate", "register"]
    assert list(data) == sorted(data)


def test_round_trip_keeps_every_fingerprint(loaded: Path) -> None:
    plan = api.compile_plan("m", max_iter=5, project_dir=loaded)
    again = Plan.from_json(plan.to_json())
    assert again.to_json() == plan.to_json()
    assert again.fingerprint == plan.fingerprint


@pytest.mark.parametrize(("override", "changed"), [
    ("search.metric=accuracy", {"search", "evaluate", "register"}),
    ("data.split.test_size=0.3", {"split", "search", "evaluate", "register"}),
    ("evaluation.metrics=[accuracy]", {"evaluate", "register"}),
])
def test_fingerprints_change_only_downstream_of_an_edit(loaded: Path, override: str, changed: set[str]) -> None:
    base = {s.id: s.fingerprint for s in api.compile_plan("m", max_iter=5, project_dir=loaded).steps}
    edited = {s.id: s.fingerprint for s in api.compile_plan("m", max_iter=5, overrides=[override],
                                                              project_dir=loaded).steps}
    assert {k for k in base if base[k] != edited[k]} == changed


def test_a_cycle_is_reported_with_its_loop() -> None:
    a = Step(id="a", kind="load", params={}, inputs={"x": ArtifactRef("x", step="b")}, outputs=("x",), fingerprint="1")
    b = Step(id="b", kind="split", params={}, inputs={"x": ArtifactRef("x", step="a")}, outputs=("x",), fingerprint="2")
    with pytest.raises(PlanError, match=r"has a cycle: (a -> b -> a|b -> a -> b)"):
        Plan(name="loop", steps=(a, b))


def test_unknown_plan_schema_is_refused() -> None:
    with pytest.raises(PlanError, match="schema 99 is not supported"):
        Plan.from_dict({"schema": 99, "name": "x", "steps": []})
