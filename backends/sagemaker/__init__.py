"""The SageMaker backend: steps run as SageMaker training jobs; deploy creates Model/EndpointConfig/Endpoint.

Only the config dataclass and the spec live here (cheap to import); boto3 is imported by
``tesla_backends.sagemaker._backend`` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from tesla.execution.registry import BackendSpec

__all__ = ["DEFAULT_IMAGE_PACKAGES", "SPEC", "SageMakerConfig"]

# what an image built with `pip install tesla-ml` holds (tesla-ml depends on all of these)
DEFAULT_IMAGE_PACKAGES = ("tesla-ml", "scikit-learn", "lightgbm", "xgboost", "flaml")


@dataclass
class SageMakerConfig:
    name: str = "sagemaker"  # the backend
    region: Optional[str] = None  # AWS region; null: the default chain (AWS_DEFAULT_REGION, profile)
    role_arn: Optional[str] = None  # execution role SageMaker assumes (required to run or deploy)
    bucket: Optional[str] = None  # S3 bucket for plans, code, data and outputs (required to run)
    prefix: str = "tesla"  # key prefix inside the bucket
    image_uri: Optional[str] = None  # container image with tesla-ml installed (required to run)
    instance_type: str = "ml.m5.large"  # training instance type
    instance_count: int = 1  # training instances per step
    volume_size_gb: int = 30  # EBS volume per training instance
    use_spot: bool = False  # managed spot training
    max_runtime_s: int = 3600  # hard stop for each training job
    max_wait_s: Optional[int] = None  # spot only: most time to wait for capacity + run; null: 2 x max_runtime_s
    max_usd: Optional[float] = None  # refuse plans whose estimated cost is above this
    tags: dict[str, str] = field(default_factory=dict)  # extra tags on every resource
    endpoint_url: Optional[str] = None  # override the service endpoint (tests, VPC endpoints)
    # pip packages installed in image_uri; a plan or bundle whose estimators need others is refused
    image_packages: list[str] = field(default_factory=lambda: list(DEFAULT_IMAGE_PACKAGES))
    endpoint_instance_type: str = "ml.m5.large"  # endpoint instances when deploy.instance_type is null
    serverless_memory_mb: int = 2048  # deploy.serverless: memory per concurrent invocation, 1024-6144
    serverless_max_concurrency: int = 5  # deploy.serverless: concurrent invocations, 1-200
    endpoint_timeout_s: int = 1800  # how long deploy waits for an endpoint to be InService


SPEC = BackendSpec(
    name="sagemaker",
    config_class=SageMakerConfig,
    implementation="tesla_backends.sagemaker._backend:SageMakerBackend",
    extra="sagemaker",
    description="steps as Amazon SageMaker training jobs; deploy to SageMaker endpoints",
)
