"""The optional roles a backend plays besides running steps, and the capabilities they imply.

Every backend is a step runner (``tesla.execution.backend.Backend``). A backend that talks
to a provider may also be one or more of:

- ``DryRun``: render, validate and price the provider requests of a plan, sending nothing;
- ``JobAdmin``: list, inspect, read the logs of and cancel the provider jobs Tesla started;
- ``ModelHosting``: serve a model bundle on the provider and take it down again.

A backend says which roles it plays by inheriting them; ``Capabilities.of`` derives the
frozen capability flags from that, once, when the class is made (no ``hasattr`` probes).
A caller asking a backend for a role it lacks gets ``NotSupportedError`` naming the backend
(``Backend.role``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from tesla.plan import Plan

__all__ = ["Capabilities", "DryRun", "JobAdmin", "ModelHosting", "Role"]


class Role(ABC):
    """A role a backend may play; ``what`` names it in "... is not supported by" errors."""

    what: ClassVar[str] = "this"


class DryRun(Role):
    """Dry runs and pricing: what running a plan would send, checked and priced, sending nothing."""

    what = "dry runs and pricing"

    @abstractmethod
    def render_requests(self, plan: Plan) -> list[dict[str, Any]]:
        """The exact provider requests running ``plan`` would send, without sending any.

        Pure: no network, no credentials. Each item is ``{"step", "operation", "request"}``.
        """

    @abstractmethod
    def validate_requests(self, requests: list[dict[str, Any]]) -> list[str]:
        """Strict validation problems of rendered requests (service model / proto rules)."""

    @abstractmethod
    def estimate_cost(self, plan: Plan, prices: Mapping[str, float]) -> dict[str, Any]:
        """Upper-bound cost of ``plan``: ``{"usd": float, "lines": [{"step", "instance", "hours", "usd"}]}``.

        Args:
            plan: the compiled plan.
            prices: instance/machine type -> USD per hour (from ``conf/``; users may override).
        """


class JobAdmin(Role):
    """Job admin: the provider jobs Tesla started, listed, inspected, their logs read, cancelled."""

    what = "managing provider jobs"

    @abstractmethod
    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Provider jobs started by Tesla: ``{"job", "step", "run_id", "state", "created"}``."""

    @abstractmethod
    def job_status(self, job_ref: str) -> dict[str, Any]:
        """``{"job", "state" (a StepState value), "provider_state", "reason"}`` of one job."""

    @abstractmethod
    def job_logs(self, job_ref: str) -> str:
        """The job's log text (``NotSupportedError`` with where to read them when the provider keeps them)."""

    @abstractmethod
    def cancel(self, job_ref: str) -> None:
        """Cancel a running provider job.

        Args:
            job_ref: the provider's job name (see ``tesla jobs list``).
        """


class ModelHosting(Role):
    """Model hosting: serve a model bundle (a local server or a provider endpoint), and take it down again.

    The deployments service drives every target through these methods alike: it records the
    deployment as starting, calls ``deploy_model``, marks it running once that returns (the new
    deployment is healthy), and only then ``retire_model``s the one it replaced.
    """

    what = "deploying models"

    @abstractmethod
    def deploy_model(self, bundle_dir: Path, *, model: str, version: int, settings: Mapping[str, Any],
                     tags: Mapping[str, str], replaces: Mapping[str, Any] | None = None,
                     on_spawn: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Serve a model bundle; return once it is healthy.

        Args:
            bundle_dir: the local model bundle directory.
            model: registered model name.
            version: registered model version.
            settings: the ``deploy`` config (plain JSON).
            tags: labels to put on every resource created.
            replaces: what ``deploy_model`` returned for the deployment this one replaces on the
                profile (same target), or None. It keeps serving until ``retire_model``; a local
                server on the same fixed port hands its listening socket over.
            on_spawn: called with the pid of a process started for the deployment, before waiting
                for it to be healthy, so that the store can stop it should this process die first.

        Returns:
            Plain-JSON facts about the deployment: ``url``, and what ``undeploy_model`` needs
            (resource names; a local server's ``pid``, ``port``, ``log_path``).

        Raises:
            DeployError: the deployment did not start or report healthy (``replaces`` still serves).
        """

    @abstractmethod
    def undeploy_model(self, info: Mapping[str, Any]) -> None:
        """Delete what ``deploy_model`` created (``info`` is what it returned): ``tesla deployments stop``."""

    def retire_model(self, info: Mapping[str, Any]) -> None:
        """A newer deployment on the same profile is healthy: release what only ``info``'s deployment holds.

        By default nothing: a provider endpoint is per profile, and the newer ``deploy_model`` updated it
        in place. A backend whose deployments each hold their own resources (a local server) frees them.
        """


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do besides running steps; derived from the roles its class inherits."""

    dry_run: bool = False  # renders, validates and prices provider requests (DryRun)
    jobs: bool = False  # provider jobs can be listed, inspected and cancelled (JobAdmin)
    hosting: bool = False  # model bundles can be served on the provider (ModelHosting)

    @classmethod
    def of(cls, backend_class: type) -> Capabilities:
        """The capabilities of ``backend_class``: one flag per role it inherits."""
        return cls(dry_run=issubclass(backend_class, DryRun), jobs=issubclass(backend_class, JobAdmin),
                   hosting=issubclass(backend_class, ModelHosting))
