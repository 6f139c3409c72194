"""The Ray backend: steps run as Ray tasks on a team's own cluster (or a local one started for the run).

Only the config dataclasses and the spec live here (cheap to import); ``ray`` is imported by
``tesla_backends.ray._backend`` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from tesla.execution.registry import BackendSpec

__all__ = ["SPEC", "RayConfig", "RayResources"]


@dataclass
class RayResources:
    """What one step asks the cluster for (an entry of ``backend.steps``); a null field keeps the backend-wide value."""

    num_cpus: Optional[float] = None  # logical CPUs reserved for the step's task
    num_gpus: Optional[float] = None  # GPUs reserved for the step's task
    memory_mb: Optional[int] = None  # memory reserved for the step's task, MB (Ray schedules by it, does not cap it)


@dataclass
class RayConfig:
    name: str = "ray"  # the backend
    # auto: the cluster `ray start` runs on this machine (or $RAY_ADDRESS); HOST:PORT: its GCS;
    # ray://HOST:PORT: Ray Client; local: a private cluster started in this process for the run
    address: str = "auto"
    namespace: str = "tesla"  # Ray namespace of Tesla's job book (one per team or project)
    num_cpus: float = 1.0  # logical CPUs reserved for each step's task
    num_gpus: float = 0.0  # GPUs reserved for each step's task
    memory_mb: Optional[int] = None  # memory reserved for each step's task, MB; null: no reservation
    # step id or kind -> its own resources (RayResources' keys), checked against the plan before it runs
    steps: dict[str, Any] = field(default_factory=dict)
    local_num_cpus: Optional[int] = None  # address=local: CPUs of the cluster started for the run; null: all
    connect_timeout_s: float = 10.0  # how long to try to reach backend.address before giving up
    max_runtime_s: Optional[float] = None  # cancel a step's task after this long; null: no limit


SPEC = BackendSpec(
    name="ray",
    config_class=RayConfig,
    implementation="tesla_backends.ray._backend:RayBackend",
    extra="ray",
    description="steps as Ray tasks on your own Ray cluster (or a local one)",
)
