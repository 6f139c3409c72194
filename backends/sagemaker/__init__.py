"""The SageMaker backend: steps run as SageMaker training jobs; deploy creates Model/EndpointConfig/Endpoint.

Only the config dataclass and the spec live here (cheap to import); boto3 is imported by
``tesla_backends.sagemaker._backend`` on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from tesla.execution.registry import BackendSpec, Capabilities

__all__ = ["SPEC", "SageMakerConfig"]


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


SPEC = BackendSpec(
    name="sagemaker",
    config_class=SageMakerConfig,
    implementation="tesla_backends.sagemaker._backend:SageMakerBackend",
    capabilities=Capabilities(remote=True, deploy_targets=("sagemaker",), cancel=True, logs=True),
    extra="sagemaker",
    description="steps as Amazon SageMaker training jobs; deploy to SageMaker endpoints",
)
