"""The command of Tesla's serving container on a Vertex AI endpoint.

    python -m tesla_backends.vertex._serve --model-ref NAME@VERSION

Vertex gives the container ``AIP_STORAGE_URI`` (a ``gs://`` copy of the model's artifact
folder, not a mounted path), ``AIP_HTTP_PORT``, ``AIP_PREDICT_ROUTE`` and ``AIP_HEALTH_ROUTE``.
This downloads the bundle with the container's own credentials, then serves it with Tesla's
one serving app (``tesla.serving.app.create_app``), which registers the AIP routes.

It listens on all interfaces without a bearer token: on Vertex, callers authenticate to the
Vertex API (IAM) and only Vertex's front end reaches the container port. ``--host`` exists
for tests, which must bind loopback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tesla.errors import TeslaError


def fetch_bundle(uri: str, dest: Path) -> Path:
    """The bundle at ``uri`` as a local folder: a ``gs://`` folder is downloaded, a path used as is."""
    if not uri.startswith("gs://"):
        return Path(uri)
    # lazy: google-cloud-storage is only needed inside a Vertex serving container
    from tesla_backends.vertex._clients import Gcs, storage_client

    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    count = Gcs(storage_client(), bucket).download_tree(prefix.rstrip("/"), dest)
    if count == 0:
        raise TeslaError(f"AIP_STORAGE_URI {uri} holds no files; was the model uploaded by Tesla?")
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tesla_backends.vertex._serve",
                                 description="Serve a Tesla bundle inside a Vertex AI prediction container.")
    ap.add_argument("--model-ref", default="")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=int(os.environ.get("AIP_HTTP_PORT", "8080")))
    args = ap.parse_args(argv)
    uri = os.environ.get("AIP_STORAGE_URI")
    if not uri:
        print("Error: AIP_STORAGE_URI is not set; this command runs inside a Vertex AI serving container",
              file=sys.stderr)
        return 1
    try:
        bundle = fetch_bundle(uri, Path(tempfile.mkdtemp(prefix="tesla-bundle-")))
    except TeslaError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    from tesla.serving.__main__ import main as serve  # the one serving command, in Vertex's provider mode

    return serve(["--bundle", str(bundle), "--host", args.host, "--port", str(args.port),
                  "--model-ref", args.model_ref, "--behind-provider", "vertex"])


if __name__ == "__main__":
    sys.exit(main())
