"""Fixtures of the Vertex backend tests: a Cloud Storage emulator and the Vertex REST fake, both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tesla.store import Store
from tesla.testing.fake import FakeClock
from tests.fakes.vertex_fake import BUCKET, TEST_SETTINGS, VertexFake, free_port, play_batch_job, play_custom_job


@pytest.fixture
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator in memory, with the staging bucket; yields its URL."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def vertex_fake(gcs_emulator: str, tmp_path: Path) -> Iterator[VertexFake]:
    """The Vertex fake; CustomJobs and batch jobs are played by real subprocesses."""
    workdir = tmp_path / "vertex-fake"
    workdir.mkdir()
    fake = VertexFake(gcs_endpoint=gcs_emulator, workdir=workdir,
                      runner=lambda job: play_custom_job(job, gcs_endpoint=gcs_emulator, workdir=workdir),
                      batch_runner=play_batch_job)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def make_backend(vertex_fake: VertexFake, gcs_emulator: str) -> Callable[..., Any]:
    """Build a VertexBackend on a store, wired to the fakes with anonymous credentials and a fake clock."""
    from google.auth.credentials import AnonymousCredentials

    from tesla_backends.vertex._backend import VertexBackend
    from tesla_backends.vertex._clients import make_clients
    from tesla_backends.vertex._requests import config

    def build(store: Store, **overrides: Any) -> VertexBackend:
        settings = {**TEST_SETTINGS, "api_endpoint": vertex_fake.url, **overrides}
        clients = make_clients(config(settings), credentials=AnonymousCredentials(), storage_endpoint=gcs_emulator)
        clock = FakeClock()
        return VertexBackend(settings, store, clients=clients, clock=clock, sleep=clock.advance)

    return build
