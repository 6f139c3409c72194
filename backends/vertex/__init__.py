"""The Vertex AI backend: steps run as CustomJobs; deploy uploads a Model and deploys it to an Endpoint.

Only the config dataclass and the spec live here (cheap to import); google-cloud-aiplatform
is imported by ``tesla_backends.vertex._backend`` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from tesla.execution.registry import BackendSpec

__all__ = ["DEFAULT_IMAGE_PACKAGES", "SPEC", "VertexConfig"]

# what `pip install "tesla-ml[vertex]"` puts in the image: enough for Tesla's default estimators
DEFAULT_IMAGE_PACKAGES = ("tesla-ml", "scikit-learn", "lightgbm", "xgboost", "flaml", "google-cloud-storage")


@dataclass
class VertexConfig:
    name: str = "vertex"  # the backend
    project: Optional[str] = None  # GCP project id (required to run)
    region: str = "us-central1"  # Vertex AI location
    staging_bucket: Optional[str] = None  # gs:// bucket for plans, code, data and outputs (required to run)
    image_uri: Optional[str] = None  # container image with tesla-ml[vertex] installed (required to run)
    # pip packages the image holds; a plan or model needing another one is refused before it runs
    image_packages: list[str] = field(default_factory=lambda: list(DEFAULT_IMAGE_PACKAGES))
    machine_type: str = "n1-standard-4"  # machine type of each CustomJob worker
    replica_count: int = 1  # workers per step
    service_account: Optional[str] = None  # service account the jobs run as
    max_runtime_s: int = 3600  # hard stop for each CustomJob
    max_usd: Optional[float] = None  # refuse plans whose estimated cost is above this
    labels: dict[str, str] = field(default_factory=dict)  # extra labels on every resource
    api_endpoint: Optional[str] = None  # override the API endpoint (tests, private endpoints)


SPEC = BackendSpec(
    name="vertex",
    config_class=VertexConfig,
    implementation="tesla_backends.vertex._backend:VertexBackend",
    extra="vertex",
    description="steps as Google Vertex AI CustomJobs; deploy to Vertex endpoints",
)
