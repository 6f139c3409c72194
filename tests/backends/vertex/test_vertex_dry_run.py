"""`tesla plan backend=vertex --dry-run`: the exact requests, strict validation, a cost estimate, no connection."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tesla import api
from tests.conftest import run_tesla

OVERRIDES = ["backend=vertex", "backend.project=tesla-test-project", "backend.staging_bucket=gs://tesla-test",
             "backend.image_uri=us-docker.pkg.dev/tesla-test-project/tesla/tesla:test"]


@pytest.fixture
def loaded(project: Path, datasets_dir: Path) -> Path:
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=project)
    return project


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse every connection, loopback included: nothing may be contacted at all."""
    attempts: list[Any] = []

    def refuse(sock: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"dry run tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_dry_run_renders_validates_and_prices_without_any_connection(loaded: Path, no_connections: list[Any]) -> None:
    result = api.dry_run("bc_model", max_iter=5, overrides=OVERRIDES, project_dir=loaded)
    assert [(r["step"], r["operation"]) for r in result.requests] == [
        ("load", "CreateCustomJob"), ("split", "CreateCustomJob"), ("search", "CreateCustomJob"),
        ("evaluate", "CreateCustomJob")]
    assert result.problems == []
    assert result.cost["usd"] == pytest.approx(4 * 0.2185)  # four 1-hour n1-standard-4 jobs, conf/prices.yaml
    assert result.budget_error is None
    assert no_connections == []


def test_the_budget_guard_refuses_a_plan_above_max_usd(loaded: Path, no_connections: list[Any]) -> None:
    result = api.dry_run("bc_model", overrides=[*OVERRIDES, "backend.max_usd=0.5"], project_dir=loaded)
    assert result.budget_error is not None and "above backend.max_usd=0.5" in result.budget_error


def test_dry_run_reports_invalid_settings_as_problems(loaded: Path, no_connections: list[Any]) -> None:
    result = api.dry_run("bc_model", overrides=[*OVERRIDES, "backend.machine_type=ml.m5.large"], project_dir=loaded)
    assert any("'ml.m5.large' is not a Compute Engine machine type" in p for p in result.problems)


@pytest.mark.e2e
@pytest.mark.slow
def test_the_cli_prints_the_requests_and_the_cost(loaded: Path) -> None:
    out = run_tesla("plan", "-m", "bc_model", *OVERRIDES, "--dry-run", cwd=loaded).stdout
    assert "CreateCustomJob" in out and "n1-standard-4" in out and "tesla-managed" in out
