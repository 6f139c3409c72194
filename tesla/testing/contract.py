"""``BackendContract``: the conformance suite every backend passes.

Subclass it in a test module and provide a ``backend`` fixture built on the ``contract_store``
fixture (wired to whatever fakes your provider needs)::

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self, contract_store):
            return MyBackend({"name": "mine", ...}, contract_store)

The suite runs a two-step plan (``load`` -> ``split``) on a small CSV, a second time to
check caching, and a plan whose ``load`` step fails, and checks what every backend must do:
outputs land in the store, steps are recorded, the failing step and its reason reach the
user, dry-run rendering touches no network, capabilities follow from the roles the backend
plays, and asking for a role it lacks raises ``NotSupportedError`` naming the backend.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tesla.errors import NotSupportedError, TeslaError
from tesla.execution import Backend, BackendSpec, Capabilities, DryRun, JobAdmin, ModelHosting
from tesla.plan import ArtifactRef, Plan, Step
from tesla.store import Store

__all__ = ["BackendContract", "contract_plan"]


def _dataset_csv(path: Path) -> Path:
    rows = ["x1,x2,color,label"]
    for i in range(60):
        rows.append(f"{i * 0.5},{(i * 7) % 11},{['red', 'green', 'blue'][i % 3]},{'yes' if i % 2 else 'no'}")
    path.write_text("\n".join(rows) + "\n")
    return path


def contract_plan(source_sha: str, *, target: str = "label", backend: dict[str, Any] | None = None) -> Plan:
    """A load -> split plan over the artifact ``source_sha`` (a CSV)."""
    steps: dict[str, Step] = {}
    steps["load"] = Step.create("load", "load", {
        "dataset": "contract", "version": 1, "format": "csv", "target": target, "task": "auto",
        "include": [], "exclude": []}, inputs={"source": ArtifactRef("source", sha256=source_sha)},
        outputs=("table", "schema"))
    steps["split"] = Step.create("split", "split", {"test_size": 0.25, "stratify": True, "time_column": None,
                                                    "seed": 0},
                                 inputs={"table": ArtifactRef("table", step="load"),
                                         "schema": ArtifactRef("schema", step="load")},
                                 outputs=("train", "test"), upstream=steps)
    return Plan(name="contract/check", steps=tuple(steps.values()), backend=backend or {"name": "contract"},
                meta={"purpose": "backend contract"})


class BackendContract:
    """Tests every backend must pass; subclasses provide the ``backend`` fixture."""

    @pytest.fixture
    def _no_network(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        real_connect = socket.socket.connect

        def guarded(sock: socket.socket, address: Any) -> Any:
            host = address[0] if isinstance(address, tuple) else str(address)
            if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("127."):
                raise AssertionError(f"network connection attempted to {address!r}")
            return real_connect(sock, address)

        monkeypatch.setattr(socket.socket, "connect", guarded)
        yield

    @pytest.fixture
    def contract_store(self, tmp_path: Path) -> Store:
        from tesla import api  # a store belongs to a project: Store.open refuses a directory in none

        return Store.open(api.init_project(tmp_path / "project"))

    @pytest.fixture
    def backend(self, contract_store: Store) -> Backend:  # pragma: no cover - always overridden
        raise NotImplementedError("subclasses of BackendContract provide a `backend` fixture")

    @pytest.fixture
    def source_sha(self, backend: Backend, tmp_path: Path) -> str:
        return backend.store.artifacts.put(_dataset_csv(tmp_path / "contract.csv"))

    @staticmethod
    def recorded(backend: Backend) -> Store:
        """The store the backend recorded into (a backend itself only sees it as a ``RunRecorder``)."""
        assert isinstance(backend.store, Store)
        return backend.store

    def plan_for(self, backend: Backend, source_sha: str, **kwargs: Any) -> Plan:
        return contract_plan(source_sha, backend=dict(backend.settings), **kwargs)

    def test_spec_is_frozen_light_data(self, backend: Backend) -> None:
        assert isinstance(backend.spec, BackendSpec)
        with pytest.raises(dataclasses.FrozenInstanceError):
            backend.spec.name = "other"  # type: ignore[misc]
        assert backend.name == backend.spec.name

    def test_capabilities_follow_from_the_roles(self, backend: Backend) -> None:
        caps = type(backend).capabilities
        assert caps == Capabilities(dry_run=isinstance(backend, DryRun), jobs=isinstance(backend, JobAdmin),
                                    hosting=isinstance(backend, ModelHosting))
        assert backend.capabilities is caps
        with pytest.raises(dataclasses.FrozenInstanceError):
            caps.jobs = not caps.jobs  # type: ignore[misc]

    def test_check_accepts_a_valid_plan(self, backend: Backend, source_sha: str) -> None:
        assert backend.check(self.plan_for(backend, source_sha)) == []

    def test_check_names_an_unknown_step_kind(self, backend: Backend, source_sha: str) -> None:
        plan = self.plan_for(backend, source_sha)
        bad = Step.create("mystery", "teleport", {}, outputs=())
        problems = backend.check(Plan(name=plan.name, steps=(*plan.steps, bad), backend=plan.backend))
        assert any("teleport" in p and "mystery" in p for p in problems)

    def test_run_stores_outputs_and_records_steps(self, backend: Backend, source_sha: str) -> None:
        import pandas as pd

        result = backend.run(self.plan_for(backend, source_sha))
        assert result.status == "succeeded"
        train = pd.read_parquet(backend.store.artifacts.path(result.output("split", "train")))
        test = pd.read_parquet(backend.store.artifacts.path(result.output("split", "test")))
        assert (len(train), len(test)) == (45, 15)
        store = self.recorded(backend)
        rows = {r.step_id: r.status for r in store.run_steps(result.run_id)}
        assert rows == {"load": "succeeded", "split": "succeeded"}
        assert store.run(result.run_id).status == "succeeded"

    def test_unchanged_rerun_is_cached(self, backend: Backend, source_sha: str) -> None:
        first = backend.run(self.plan_for(backend, source_sha))
        second = backend.run(self.plan_for(backend, source_sha))
        assert {s["status"] for s in second.steps.values()} == {"cached"}
        assert second.output("split", "train") == first.output("split", "train")

    def test_failing_step_names_the_step_and_reason(self, backend: Backend, source_sha: str) -> None:
        with pytest.raises(TeslaError) as info:
            backend.run(self.plan_for(backend, source_sha, target="no_such_column"))
        assert info.value.step == "load"
        assert "no_such_column" in str(info.value)
        runs = self.recorded(backend).runs(limit=1)
        assert runs[0].status == "failed"

    def test_render_requests_is_pure(self, backend: Backend, source_sha: str, _no_network: None) -> None:
        if not isinstance(backend, DryRun):
            pytest.skip("backend sends no provider requests")
        requests = backend.render_requests(self.plan_for(backend, source_sha))
        json.dumps(requests)  # plain data
        for item in requests:
            assert {"step", "operation", "request"} <= set(item)
        assert backend.validate_requests(requests) == []

    @pytest.mark.parametrize("role", [DryRun, JobAdmin, ModelHosting], ids=lambda r: r.__name__)
    def test_roles_answer_by_name(self, backend: Backend, role: type) -> None:
        if isinstance(backend, role):
            assert backend.role(role) is backend
            return
        with pytest.raises(NotSupportedError, match=f"^{role.what} is not supported by the '{backend.name}' backend$"):
            backend.role(role)
