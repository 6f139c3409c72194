"""In-process implementation of the local backend."""

from __future__ import annotations

from collections.abc import Mapping

from tesla.execution import Backend, StepHandle, StepOutcome, StepState
from tesla.execution.backend import EventSink
from tesla.plan import Plan, Step
from tesla_backends.local import SPEC

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Runs each step synchronously in this process.

    A step runner only: it sends no provider requests (nothing to dry-run or price), starts
    no provider jobs, and local serving is the deployments service's own.
    """

    spec = SPEC

    def _start_step(self, plan: Plan, step: Step, run_id: str, inputs: Mapping[str, str],
                    emit: EventSink) -> StepHandle:
        outcome = self.run_in_process(step, inputs, emit)
        return StepHandle(step=step, run_id=run_id, data={"outcome": outcome})

    def _poll_step(self, handle: StepHandle) -> tuple[StepState, str | None]:
        return StepState.SUCCEEDED, None

    def _collect_step(self, handle: StepHandle) -> StepOutcome:
        return handle.data["outcome"]
