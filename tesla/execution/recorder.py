"""``RunRecorder``: the few store operations running a plan needs (the ``Store`` implements it).

Execution reaches the store only through this protocol: look up a cached step, create a
run, record each step's start, finish and outputs, add a search's trials, finish the run,
and put/read artifacts. Anything else the store can do (models, deployments, datasets) is
none of a backend's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import os

    from tesla.store.records import StepRecord

__all__ = ["ArtifactAccess", "RunRecorder"]


@runtime_checkable
class ArtifactAccess(Protocol):
    """Content-addressed artifacts: ``put`` a file or directory, get the local ``path`` of a sha."""

    def put(self, source: str | os.PathLike[str]) -> str: ...

    def path(self, sha: str) -> Path: ...


@runtime_checkable
class RunRecorder(Protocol):
    """Where a backend records a run (``tesla.store.Store`` is the implementation).

    Attributes:
        artifacts: the artifact store step inputs are read from and outputs put into.
        state_dir: the project's ``.tesla`` directory (scratch space for downloads).
    """

    artifacts: ArtifactAccess
    state_dir: Path

    def create_run(self, *, plan_name: str, plan_fingerprint: str, backend: str, plan_json: str,
                   meta: Mapping[str, Any], parent_id: str | None = None) -> str: ...

    def record_step(self, run_id: str, step: Any, *, status: str, outputs: Mapping[str, str] | None = None,
                    result: Mapping[str, Any] | None = None, seconds: float | None = None,
                    error: str | None = None, job_ref: str | None = None) -> None: ...

    def add_trials(self, run_id: str, step_id: str, rows: Iterable[Mapping[str, Any]]) -> None: ...

    def finish_run(self, run_id: str, status: str, error: str | None = None,
                   meta: Mapping[str, Any] | None = None) -> None: ...

    def completed_step(self, fingerprint: str) -> StepRecord | None: ...

    def previous_step_params(self, plan_name: str, step_id: str) -> dict[str, Any] | None: ...

    def scratch_dir(self, run_id: str) -> Path: ...
