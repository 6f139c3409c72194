"""schemathesis over the serving app's own OpenAPI document: no generated request gets a 5xx.

The document (``GET /openapi.json``, built from the model's signature) describes every route
and every request body shape, so schemathesis generates both bodies that fit (they must be
predicted: 200) and bodies that do not (negative mode: they must be refused with a 4xx).
In-process through ASGI (no network), derandomized (the same cases every run), well under 60 s.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tests.openapi_fuzz import asgi_schema, fuzz

POSTS = ("/predict", "/invocations", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer",
         "/feedback")
GETS = ("/health", "/ping", "/schema", "/openapi.json", "/metrics", "/v2", "/v2/health/ready", "/v2/health/live",
        "/v2/models/{name}", "/v2/models/{name}/ready", "/v2/models/{name}/versions/{version}")
EXAMPLES = {"positive": 30, "negative": 30}  # per POST operation; GETs take a tenth


def _app(bundle: Bundle) -> Any:
    return create_app(bundle, ServingSettings(model_ref="mixed@1", max_body_bytes=200_000, max_rows=100))


@pytest.fixture(scope="module")
def api_schema(mixed_bundle: Bundle) -> Any:
    """The app's document, loaded the way schemathesis loads any ASGI app's (calls go to the app in-process)."""
    return asgi_schema(_app(mixed_bundle))


@pytest.mark.parametrize("mode", EXAMPLES)
@pytest.mark.parametrize("path", POSTS)
def test_no_generated_body_gets_a_5xx(api_schema: Any, path: str, mode: str) -> None:
    fuzz(api_schema[path]["POST"], mode, EXAMPLES[mode])


@pytest.mark.parametrize("mode", EXAMPLES)
def test_no_generated_metadata_request_gets_a_5xx(api_schema: Any, mode: str) -> None:
    for path in GETS:
        if mode == "negative" and "{" not in path:
            continue  # nothing to get wrong: no parameters, no body
        fuzz(api_schema[path]["GET"], mode, max(1, EXAMPLES[mode] // 10))


def test_the_document_describes_every_route_and_body(mixed_bundle: Bundle) -> None:
    app = _app(mixed_bundle)
    document = TestClient(app).get("/openapi.json").json()
    routes = {route.path for route in app.routes if getattr(route, "path", "") not in ("/openapi.json",)}
    assert routes <= set(document["paths"]), routes - set(document["paths"])
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    row = document["components"]["schemas"]["Row"]
    assert set(row["properties"]) == {f["name"] for f in mixed_bundle.signature}
    assert row["additionalProperties"] is False and "plan" in row["required"]
    assert document["paths"]["/v2/models/{name}/infer"]["parameters"][0]["schema"] == {"type": "string",
                                                                                     "enum": ["mixed"]}
    assert {"400", "413", "415", "422"} <= set(document["paths"]["/predict"]["post"]["responses"])
    client = TestClient(app)
    for path in ("/predict", "/v2/models/mixed/infer"):  # the documented examples are valid requests
        template = path.replace("mixed", "{name}")
        example = document["paths"][template]["post"]["requestBody"]["content"]["application/json"]["example"]
        assert client.post(path, json=example).status_code == 200, path
