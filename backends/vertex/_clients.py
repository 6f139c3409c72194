"""The Vertex AI and Cloud Storage clients the backend talks through, built in one place.

Production builds them from the backend settings with credentials from Application
Default Credentials (``google.auth.default()``, what the clients do when given none): Tesla
never reads, stores or logs a credential. Tests inject clients pointed at loopback fakes
with anonymous credentials.

All Vertex clients use the REST transport, in production too: it is the transport the
loopback fake exercises, so the tested wire path is the shipped one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# google-cloud-aiplatform / google-cloud-storage are imported here and in _backend.py only;
# `tesla_backends.vertex` (the light __init__) and Tesla core never import them
from google.api_core.client_options import ClientOptions
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage

from tesla_backends.vertex import VertexConfig

__all__ = ["Gcs", "VertexClients", "make_clients", "storage_client"]


@dataclass
class VertexClients:
    """The GAPIC clients of the four Vertex services Tesla uses, plus Cloud Storage."""

    jobs: v1.JobServiceClient
    models: v1.ModelServiceClient
    endpoints: v1.EndpointServiceClient
    predictions: v1.PredictionServiceClient
    storage: storage.Client


def make_clients(cfg: VertexConfig, *, credentials: Any = None, storage_endpoint: str | None = None) -> VertexClients:
    """Clients for ``cfg.region`` (or ``cfg.api_endpoint``).

    Args:
        cfg: the backend settings.
        credentials: None in production (Application Default Credentials); tests pass
            ``AnonymousCredentials``.
        storage_endpoint: a Cloud Storage endpoint override (tests; otherwise the default,
            or ``STORAGE_EMULATOR_HOST`` when set).
    """
    endpoint = cfg.api_endpoint or f"{cfg.region}-aiplatform.googleapis.com"
    options = ClientOptions(api_endpoint=endpoint)

    def build(cls: type) -> Any:
        return cls(credentials=credentials, transport="rest", client_options=options)

    gcs_options = ClientOptions(api_endpoint=storage_endpoint) if storage_endpoint else None
    return VertexClients(jobs=build(v1.JobServiceClient), models=build(v1.ModelServiceClient),
                         endpoints=build(v1.EndpointServiceClient), predictions=build(v1.PredictionServiceClient),
                         storage=storage.Client(project=cfg.project, credentials=credentials,
                                                client_options=gcs_options))


def storage_client() -> storage.Client:
    """A Cloud Storage client from the environment alone (inside a serving container)."""
    return storage.Client()


class Gcs:
    """The few Cloud Storage operations the backend needs, on one bucket."""

    def __init__(self, client: storage.Client, bucket: str) -> None:
        self.client = client
        self.bucket = client.bucket(bucket)

    def upload_file(self, key: str, path: Path) -> None:
        self.bucket.blob(key).upload_from_filename(str(path))

    def upload_bytes(self, key: str, data: bytes) -> None:
        self.bucket.blob(key).upload_from_string(data)

    def upload_tree(self, key: str, root: Path) -> int:
        """Upload every file under ``root`` to ``key/<relative path>``; returns the file count."""
        files = sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            self.upload_file(f"{key}/{path.relative_to(root).as_posix()}", path)
        return len(files)

    def exists(self, key: str) -> bool:
        return self.bucket.blob(key).exists()

    def read_text(self, key: str) -> str | None:
        """The object's text, or None when it does not exist."""
        blob = self.bucket.blob(key)
        return blob.download_as_text() if blob.exists() else None

    def keys(self, prefix: str) -> Iterator[str]:
        for blob in self.client.list_blobs(self.bucket, prefix=prefix):
            yield blob.name

    def download_tree(self, key: str, dest: Path) -> int:
        """Download ``key`` (one object) or everything under ``key/`` into ``dest``; returns the count."""
        count = 0
        for name in self.keys(key):
            if name != key and not name.startswith(key + "/"):
                continue  # "outputs/model" must not pick up "outputs/model2"
            target = dest if name == key else dest / name[len(key) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.bucket.blob(name).download_to_filename(str(target))
            count += 1
        return count

    def delete_tree(self, key: str) -> None:
        for name in list(self.keys(key)):
            self.bucket.blob(name).delete()
