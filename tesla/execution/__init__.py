"""Running plans: the Backend base class (the step runner), its roles, events, and backend discovery."""

from __future__ import annotations

from tesla.execution.backend import Backend, Event, RunResult, StepHandle, StepOutcome, StepState
from tesla.execution.recorder import ArtifactAccess, RunRecorder
from tesla.execution.registry import BackendSpec, backend_spec, backend_specs
from tesla.execution.roles import Capabilities, DryRun, JobAdmin, ModelHosting, Role

__all__ = [
    "ArtifactAccess",
    "Backend",
    "BackendSpec",
    "Capabilities",
    "DryRun",
    "Event",
    "JobAdmin",
    "ModelHosting",
    "Role",
    "RunRecorder",
    "RunResult",
    "StepHandle",
    "StepOutcome",
    "StepState",
    "backend_spec",
    "backend_specs",
]
