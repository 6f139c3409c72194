"""Opt-in smoke test against the real Vertex AI (costs a few cents; skipped unless asked for).

    TESLA_CLOUD_TESTS=1 TESLA_VERTEX_PROJECT=my-project TESLA_VERTEX_BUCKET=gs://my-staging \\
    TESLA_VERTEX_IMAGE=us-docker.pkg.dev/my-project/tesla/tesla:VERSION \\
    .venv/bin/python -m pytest tests/backends/vertex/test_vertex_cloud_smoke.py

Credentials come from Application Default Credentials (`gcloud auth application-default
login`); the test never reads or writes one. It runs the two-step contract plan as two
n1-standard-4 CustomJobs with a 10-minute limit each (backend.max_runtime_s=600).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tesla.testing.contract import _dataset_csv, contract_plan
from tests.conftest import project_store

NEEDED = ("TESLA_VERTEX_PROJECT", "TESLA_VERTEX_BUCKET", "TESLA_VERTEX_IMAGE")

pytestmark = [
    pytest.mark.cloud,
    pytest.mark.skipif(os.environ.get("TESLA_CLOUD_TESTS") != "1" or not all(os.environ.get(k) for k in NEEDED),
                       reason=f"real-cloud test: set TESLA_CLOUD_TESTS=1 and {', '.join(NEEDED)}"),
]


def test_contract_plan_runs_on_real_vertex(tmp_path: Path) -> None:
    from tesla_backends.vertex._backend import VertexBackend

    settings = {"name": "vertex", "project": os.environ["TESLA_VERTEX_PROJECT"],
                "region": os.environ.get("TESLA_VERTEX_REGION", "us-central1"),
                "staging_bucket": os.environ["TESLA_VERTEX_BUCKET"], "image_uri": os.environ["TESLA_VERTEX_IMAGE"],
                "machine_type": "n1-standard-4", "replica_count": 1, "max_runtime_s": 600,
                "labels": {"tesla-smoke": "true"}}
    store = project_store(tmp_path / "proj")
    backend = VertexBackend(settings, store)
    plan = contract_plan(store.artifacts.put(_dataset_csv(tmp_path / "c.csv")), backend=settings)
    assert backend.check(plan) == []
    result = backend.run(plan, timeout_s=1800)
    assert result.status == "succeeded"
    assert {row["run_id"] for row in backend.list_jobs(limit=10)} >= {result.run_id}
