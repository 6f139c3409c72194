"""Deploy on the Vertex fake: Model.upload -> Endpoint -> DeployModel -> predict -> batch -> teardown.

The fake runs the model's real serving container command (with the AIP_* variables Vertex
sets, the bundle fetched from the GCS emulator) on a loopback port, so predictions are real.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tesla.errors import ConfigError, DeployError
from tesla.models import load_bundle
from tesla.store import Store
from tesla_backends.vertex._backend import VertexBackend
from tests.conftest import project_store
from tests.fakes.vertex_fake import VertexFake

pytestmark = pytest.mark.slow  # serving containers are real subprocesses

DEPLOY = {"profile": "production", "instance_type": None, "instance_count": 1}
TAGS = {"tesla-model": "bc_model", "tesla-version": "1", "tesla-profile": "production"}


@pytest.fixture
def bundle(trained_project: Path) -> Path:
    store = Store.open(trained_project)
    return store.artifacts.path(store.model("bc_model").bundle_sha)


@pytest.fixture
def backend(tmp_path: Path, make_backend: Callable[..., VertexBackend]) -> VertexBackend:
    return make_backend(project_store(tmp_path / "proj"))


def _rows(datasets_dir: Path, n: int = 6) -> list[dict[str, float]]:
    return pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"]).head(n).to_dict("records")


def test_deploy_predict_batch_redeploy_teardown(backend: VertexBackend, vertex_fake: VertexFake, bundle: Path,
                                                datasets_dir: Path, tmp_path: Path) -> None:
    info = backend.deploy_model(bundle, model="bc_model", version=1, settings=DEPLOY, tags=TAGS)
    [deploy_request] = vertex_fake.received(r":deployModel$")
    assert deploy_request["deployedModel"]["dedicatedResources"]["machineSpec"] == {"machineType": "n1-standard-2"}
    assert info["url"] == f"{vertex_fake.url}/v1/{info['endpoint']}:predict"
    model = vertex_fake.models[info["model"]]
    assert dict(model.labels) == {"team": "ml", "tesla-managed": "true", **TAGS}
    assert model.artifact_uri.startswith("gs://tesla-test/tesla/artifacts/")

    rows = _rows(datasets_dir)
    served = backend.predict(info, rows)
    local = load_bundle(bundle).predict(pd.DataFrame(rows))
    assert [p["prediction"] for p in served] == list(local)

    lines = tmp_path / "instances.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    scored = backend.batch_predict(info, lines)
    assert [r["instance"] for r in scored] == rows
    assert [r["prediction"]["prediction"] for r in scored] == list(local)

    again = backend.deploy_model(bundle, model="bc_model", version=2, settings=DEPLOY,
                                 tags={**TAGS, "tesla-version": "2"})
    assert again["endpoint"] == info["endpoint"] and again["url"] == info["url"]  # the URL survives a new version
    [endpoint] = vertex_fake.endpoints.values()
    assert [dm.id for dm in endpoint.deployed_models] == [again["deployed_model_id"]]
    assert list(vertex_fake.models) == [again["model"]]  # the old model was undeployed and deleted
    assert [p["prediction"] for p in backend.predict(again, rows)] == list(local)

    removed = backend.teardown(**{"tesla-model": "bc_model"})
    assert removed == [again["endpoint"], again["model"]]
    assert vertex_fake.endpoints == {} and vertex_fake.models == {} and vertex_fake.servers == {}


def test_a_refused_deploy_removes_what_it_created(backend: VertexBackend, vertex_fake: VertexFake,
                                                  bundle: Path) -> None:
    vertex_fake.inject("INVALID_ARGUMENT", "POST", r":deployModel$",
                       message="Machine type n1-standard-2 is not supported for this model.")
    with pytest.raises(DeployError) as info:
        backend.deploy_model(bundle, model="bc_model", version=1, settings=DEPLOY, tags=TAGS)
    assert str(info.value) == (
        "deploying bc_model@1 to Vertex AI failed: Vertex AI DeployModel failed (INVALID_ARGUMENT): Machine type "
        "n1-standard-2 is not supported for this model.; see the request with `tesla plan backend=vertex --dry-run`")
    assert vertex_fake.endpoints == {} and vertex_fake.models == {}


def test_a_model_server_that_never_gets_ready_fails_the_deploy(backend: VertexBackend, vertex_fake: VertexFake,
                                                               bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-bundle"
    broken.mkdir()
    manifest = json.loads((Path(bundle) / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps(manifest))  # a manifest, but no weights: loading fails
    with pytest.raises(DeployError, match=r"DeployModel failed \(FAILED_PRECONDITION\): Model server never became "
                                          r"ready"):
        backend.deploy_model(broken, model="bc_model", version=1, settings=DEPLOY, tags=TAGS)
    assert vertex_fake.endpoints == {} and vertex_fake.models == {}


def test_a_model_the_image_cannot_load_is_refused_before_any_upload(backend: VertexBackend, vertex_fake: VertexFake,
                                                                    bundle: Path, tmp_path: Path) -> None:
    torch_bundle = tmp_path / "torch-bundle"
    torch_bundle.mkdir()
    manifest = json.loads((Path(bundle) / "manifest.json").read_text())
    (torch_bundle / "manifest.json").write_text(json.dumps({**manifest, "estimator": "torch_mlp"}))
    with pytest.raises(ConfigError, match=r"^the image backend.image_uri cannot load every model this may pick "
                                          r"\('torch_mlp' needs 'torch'\)"):
        backend.deploy_model(torch_bundle, model="bc_model", version=1, settings=DEPLOY, tags=TAGS)
    assert vertex_fake.requests == []
