"""Running plans: the Backend base class, its events, and backend discovery."""

from __future__ import annotations

from tesla.execution.backend import Backend, Event, RunResult, StepHandle, StepOutcome, StepState
from tesla.execution.registry import BackendSpec, Capabilities, backend_spec, backend_specs

__all__ = [
    "Backend",
    "BackendSpec",
    "Capabilities",
    "Event",
    "RunResult",
    "StepHandle",
    "StepOutcome",
    "StepState",
    "backend_spec",
    "backend_specs",
]
