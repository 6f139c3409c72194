"""Every accepted payload shape gives the same predictions as the bundle itself, in row order."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from starlette.testclient import TestClient

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tesla.serving.payload import rows_to_frame


def _expected(bundle: Bundle, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return bundle.predict_records(rows_to_frame(rows, bundle.signature))


def _columnar(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(rows[0])
    return {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


PAYLOADS = {
    "records-list": lambda rows: rows,
    "records": lambda rows: {"records": rows},
    "columnar": _columnar,
    "mlflow-dataframe_split": lambda rows: {"dataframe_split": _columnar(rows)},
    "mlflow-dataframe_records": lambda rows: {"dataframe_records": rows},
    "mlflow-instances-objects": lambda rows: {"instances": rows},
    "mlflow-instances-lists": lambda rows: {"instances": [list(r.values()) for r in rows]},
    "mlflow-inputs-columns": lambda rows: {"inputs": {c: [r[c] for r in rows] for c in rows[0]}},
    "vertex-instances-parameters": lambda rows: {"instances": rows, "parameters": {}},
}


@pytest.fixture(scope="module")
def client(bc_bundle: Bundle) -> TestClient:
    return TestClient(create_app(bc_bundle, ServingSettings(model_ref="bc_model@1")))


@pytest.mark.parametrize("route", ["/predict", "/invocations"])
@pytest.mark.parametrize("shape", list(PAYLOADS))
def test_json_payloads(client: TestClient, bc_bundle: Bundle, bc_rows: list[dict[str, Any]], shape: str,
                       route: str) -> None:
    rows = bc_rows[:7]
    response = client.post(route, json=PAYLOADS[shape](rows))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == _expected(bc_bundle, rows)
    assert body["model"] == "bc_model@1"
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("content_type", ["text/csv", "application/csv; charset=utf-8"])
def test_csv_payload(client: TestClient, bc_bundle: Bundle, bc_rows: list[dict[str, Any]], content_type: str) -> None:
    rows = bc_rows[:5]
    response = client.post("/predict", content=_csv(rows), headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == _expected(bc_bundle, rows)


def test_incoming_request_id_is_kept(client: TestClient, bc_rows: list[dict[str, Any]]) -> None:
    response = client.post("/predict", json=bc_rows[:1], headers={"x-request-id": "order-42"})
    assert response.headers["x-request-id"] == "order-42" and response.json()["request_id"] == "order-42"
    junk = client.post("/predict", json=bc_rows[:1], headers={"x-request-id": "has spaces\tand tabs"})
    assert junk.json()["request_id"] != "has spaces\tand tabs"  # replaced, not echoed into logs


def test_open_inference_protocol_v2(client: TestClient, bc_bundle: Bundle, bc_rows: list[dict[str, Any]]) -> None:
    rows = bc_rows[:4]
    names = [f["name"] for f in bc_bundle.signature]
    expected = _expected(bc_bundle, rows)
    per_column = {"id": "abc", "inputs": [{"name": n, "shape": [4], "datatype": "FP64", "data": [r[n] for r in rows]}
                                         for n in names]}
    matrix = {"inputs": [{"name": "input-0", "shape": [4, len(names)], "datatype": "FP64",
                          "data": [[r[n] for n in names] for r in rows]}]}
    for payload in (per_column, matrix):
        response = client.post("/v2/models/bc_model/infer", json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "bc_model" and body["model_version"] == "1"
        outputs = {o["name"]: o for o in body["outputs"]}
        assert outputs["predict"]["data"] == [str(e["prediction"]) for e in expected]
        classes = outputs["predict_proba"]["parameters"]["classes"]
        assert outputs["predict_proba"]["shape"] == [4, len(classes)]
        assert outputs["predict_proba"]["data"] == [e["probabilities"][c] for e in expected for c in classes]
    assert client.post("/v2/models/bc_model/versions/1/infer", json=matrix).status_code == 200
    assert client.post("/v2/models/bc_model/infer", json=per_column).json()["id"] == "abc"
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/health/live").json() == {"live": True}
    meta = client.get("/v2/models/bc_model").json()
    assert [i["name"] for i in meta["inputs"]] == names and meta["versions"] == ["1"]
    wrong = client.post("/v2/models/other/infer", json=matrix)
    assert wrong.status_code == 404 and "serves model 'bc_model'" in wrong.json()["error"]["message"]


def test_vertex_routes_from_environment(monkeypatch: pytest.MonkeyPatch, bc_bundle: Bundle,
                                        bc_rows: list[dict[str, Any]]) -> None:
    monkeypatch.setenv("AIP_PREDICT_ROUTE", "/v1/endpoints/e1/deployedModels/m1:predict")
    monkeypatch.setenv("AIP_HEALTH_ROUTE", "/v1/endpoints/e1/deployedModels/m1")
    vertex = TestClient(create_app(bc_bundle, ServingSettings(model_ref="bc_model@1", auth_token="s3cret")))
    response = vertex.post("/v1/endpoints/e1/deployedModels/m1:predict", json={"instances": bc_rows[:2]},
                           headers={"authorization": "Bearer s3cret"})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2
    assert vertex.get("/v1/endpoints/e1/deployedModels/m1").status_code == 200  # health: no token needed


def test_health_ping_schema(client: TestClient, bc_bundle: Bundle) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "bc_model@1" and isinstance(health["pid"], int)
    assert client.get("/ping").status_code == 200
    schema = client.get("/schema").json()
    row = schema["request"]["properties"]["records"]["items"]
    assert list(row["properties"]) == [f["name"] for f in bc_bundle.signature]
    assert row["additionalProperties"] is False and row["required"]


BAD_BODIES = [
    ("not-json", b"{nope", "application/json", "not valid JSON"),
    ("scalar", b"3", "application/json", "body must be"),
    ("unknown-keys", b'{"rows": []}', "application/json", "keys 'rows'"),
    ("ragged-columnar", b'{"columns": ["a", "b"], "data": [[1]]}', "application/json", "data[0] must be a list of 2"),
    ("bad-split", b'{"dataframe_split": 5}', "application/json", '"dataframe_split" must be'),
    ("short-instance", b'{"instances": [[1, 2]]}', "application/json", "a list row needs 30"),
    ("ragged-inputs", b'{"inputs": {"a": [1], "b": [1, 2]}}', "application/json", "same length"),
    ("csv-without-header", b"", "text/csv", "no header row"),
]


@pytest.mark.parametrize(("body", "ctype", "needle"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES])
def test_unreadable_bodies_get_400_saying_what_is_accepted(client: TestClient, body: bytes, ctype: str,
                                                           needle: str) -> None:
    response = client.post("/predict", content=body, headers={"content-type": ctype})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "PayloadError" and needle in error["message"]


def test_the_all_numeric_fast_path_matches_the_per_column_one(bc_bundle: Bundle, bc_rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    from tesla.models.preprocess import Preprocessor

    rows = [dict(r) for r in bc_rows[:12]]
    first, second = (f["name"] for f in bc_bundle.signature[:2])
    rows[3][first] = None
    rows[5][second] = None
    frame = rows_to_frame(rows, bc_bundle.signature)
    slow = Preprocessor(bc_bundle.preprocessor.features)
    slow._all_numeric = lambda df: None  # type: ignore[method-assign]
    for variant in (frame, frame.astype(object), frame.astype(str).replace("nan", None)):
        pd.testing.assert_frame_equal(bc_bundle.preprocessor.transform(variant), slow.transform(variant))
