"""The boto3 clients the SageMaker backend uses, made in one place so tests can inject their own.

Credentials come only from boto3's default chain (environment, shared config/SSO profile,
container or instance role); Tesla never reads, stores or logs them. ``endpoint_url`` (or
the standard ``AWS_ENDPOINT_URL`` variable, which botocore honours by itself) points every
client at a stand-in such as moto on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# the SDK import lives here and in _backend.py only: `tesla --help` and `tesla plan` never load boto3
import boto3
from botocore.config import Config

from tesla import __version__
from tesla.errors import ConfigError
from tesla_backends.sagemaker._validate import install_strict_validation

__all__ = ["SageMakerClients", "make_clients"]


@dataclass
class SageMakerClients:
    """The four clients the backend calls (each a boto3 client, or a stand-in with the same methods)."""

    sagemaker: Any
    runtime: Any
    s3: Any
    logs: Any
    region: str


def make_clients(settings: Mapping[str, Any], *, strict: bool = False, session: Any = None) -> SageMakerClients:
    """Clients for ``settings`` (the plan's ``backend`` mapping).

    Args:
        settings: ``region`` (None: the default chain's region) and ``endpoint_url`` (None: AWS).
        strict: check every SageMaker call against the service model before sending it (tests).
        session: a ``boto3.Session`` to use (e.g. one naming a profile); None: the default chain.

    Returns:
        The clients, sharing one boto3 session.
    """
    session = session or boto3.Session(region_name=settings.get("region") or None)
    # standard retry mode backs off on throttling; the user agent says who is calling
    config = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra=f"tesla/{__version__}")
    extra = {"endpoint_url": settings["endpoint_url"]} if settings.get("endpoint_url") else {}
    if strict:
        install_strict_validation(session.events)
    region = session.region_name
    if not region:  # never guess: resources would land in a region the user did not choose
        raise ConfigError("no AWS region: set backend.region=REGION or AWS_DEFAULT_REGION", key="backend.region")
    return SageMakerClients(
        sagemaker=session.client("sagemaker", region_name=region, config=config, **extra),
        runtime=session.client("sagemaker-runtime", region_name=region, config=config, **extra),
        s3=session.client("s3", region_name=region, config=config, **extra),
        logs=session.client("logs", region_name=region, config=config, **extra),
        region=region,
    )
