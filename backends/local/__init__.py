"""The local backend: every step runs in this process; state stays under ``.tesla/``."""

from __future__ import annotations

from dataclasses import dataclass

from tesla.execution.registry import BackendSpec

__all__ = ["SPEC", "LocalConfig"]


@dataclass
class LocalConfig:
    name: str = "local"  # the backend


SPEC = BackendSpec(
    name="local",
    config_class=LocalConfig,
    implementation="tesla_backends.local._backend:LocalBackend",
    description="run steps in this process (embedded SQLite + local artifacts)",
)
