"""Every validation failure is a 422 naming the field; nothing invalid reaches the model."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tesla.serving.validation import validate_records


def _rows_predicted(client: TestClient) -> int:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("tesla_rows_predicted_total "):
            return int(float(line.split()[1]))
    raise AssertionError("tesla_rows_predicted_total is missing from /metrics")


def _change(**changes: Any) -> Any:
    def edit(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key, value in changes.items():
            if value is _DROP:
                out.pop(key)
            else:
                out[key] = value
        return out
    return edit


_DROP = object()

# (id, edit of a valid row, the field named, words in the message)
FAILURES = [
    ("unknown-column", _change(plann="pro"), "plann", "did you mean 'plan'"),
    ("missing-required", _change(tenure=_DROP), "tenure", "required column is missing"),
    ("null-in-required", _change(tenure=None), "tenure", "must not be null"),
    ("string-for-number", _change(tenure="12"), "tenure", "must be a number; got str '12'"),
    ("bool-for-number", _change(charges=True), "charges", "must be a number; got bool"),
    ("bad-boolean", _change(autopay="maybe"), "autopay", "must be a boolean"),
    ("unseen-category", _change(plan="enterprise"), "plan", "unknown category 'enterprise'"),
    ("object-for-category", _change(plan={"a": 1}), "plan", "must be a category"),
    ("number-for-date", _change(signup=20240301), "signup", "must be a string"),
    ("list-for-text", _change(note=["x"]), "note", "must be a string"),
]


@pytest.fixture
def client(mixed_bundle: Bundle) -> TestClient:
    return TestClient(create_app(mixed_bundle, ServingSettings(model_ref="mixed@1")))


@pytest.mark.parametrize(("edit", "column", "words"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_each_failure_is_422_naming_the_field(client: TestClient, mixed_row: dict[str, Any], edit: Any,
                                              column: str, words: str) -> None:
    response = client.post("/predict", json={"records": [mixed_row, edit(mixed_row)]})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert [f["loc"] for f in error["fields"]] == [["records", 1, column]]
    assert words in error["fields"][0]["msg"] and words in error["message"]
    assert _rows_predicted(client) == 0  # the valid row in the same request was not predicted either


def test_every_bad_field_is_named_at_once(client: TestClient, mixed_row: dict[str, Any]) -> None:
    bad = {**mixed_row, "tenure": "x", "autopay": "maybe", "extra": 1}
    del bad["plan"]
    response = client.post("/invocations", json={"dataframe_records": [bad, bad]})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert {(f["loc"][1], f["loc"][2]) for f in fields} == {
        (i, c) for i in (0, 1) for c in ("extra", "plan", "tenure", "autopay")}
    assert "(and 7 more; see 'fields')" in response.json()["error"]["message"]


@pytest.mark.parametrize(("body", "loc", "words"), [
    ({"records": []}, ["records"], "at least one row"),
    ({"records": "x"}, ["records"], "must be a list"),
    ({"records": [1]}, ["records", 0], "must be an object"),
])
def test_malformed_record_lists(client: TestClient, body: Any, loc: list[Any], words: str) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["loc"] == loc and words in response.json()["error"]["message"]


def test_nullable_columns_may_be_null_or_missing(client: TestClient, mixed_row: dict[str, Any]) -> None:
    missing = {k: v for k, v in mixed_row.items() if k not in ("region", "charges")}
    nulls = {**mixed_row, "region": None, "charges": None}
    response = client.post("/predict", json={"records": [missing, nulls]})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2


def test_unseen_category_maps_to_unknown_when_configured(mixed_bundle: Bundle, mixed_row: dict[str, Any]) -> None:
    lenient = TestClient(create_app(mixed_bundle, ServingSettings(unseen_category="unknown")))
    response = lenient.post("/predict", json={"records": [{**mixed_row, "plan": "enterprise"}]})
    assert response.status_code == 200, response.text
    schema = lenient.get("/schema").json()["request"]["properties"]["records"]["items"]["properties"]
    assert "enum" not in schema["plan"]  # any string is accepted
    strict = TestClient(create_app(mixed_bundle)).get("/schema").json()
    plan = strict["request"]["properties"]["records"]["items"]["properties"]["plan"]
    assert sorted(plan["enum"]) == ["basic", "pro", "team"]


def test_schema_models_nullable_columns(mixed_bundle: Bundle) -> None:
    schema = TestClient(create_app(mixed_bundle)).get("/schema").json()["request"]
    row = schema["properties"]["records"]["items"]
    assert "region" not in row["required"] and "charges" not in row["required"]
    assert {"type": "null"} in row["properties"]["charges"]["anyOf"]
    assert "plan" in row["required"] and "anyOf" not in row["properties"]["plan"]


def test_boolean_spellings_are_accepted(mixed_bundle: Bundle, mixed_row: dict[str, Any]) -> None:
    for value in (True, False, 1, 0, "yes", "False", "t"):
        assert validate_records([{**mixed_row, "autopay": value}], mixed_bundle.signature) == []


def test_validation_stops_at_max_errors(mixed_bundle: Bundle, mixed_row: dict[str, Any]) -> None:
    rows = [{**mixed_row, "tenure": "x"}] * 500
    assert len(validate_records(rows, mixed_bundle.signature, max_errors=100)) == 100


def test_infinite_number_from_csv(client: TestClient) -> None:
    body = "plan,region,tenure,charges,autopay,signup,note\npro,north,3,inf,true,2024-01-02,hi\n"
    response = client.post("/predict", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [{"loc": ["records", 0, "charges"], "msg": "must be a finite number"}]


def test_requests_with_different_utc_offsets_may_share_a_batch(mixed_bundle: Bundle, mixed_row: dict[str, Any]) -> None:
    """Requests with different offsets merged into one batch: dates are read as UTC, so all are predicted."""
    import asyncio

    import httpx

    app = create_app(mixed_bundle, ServingSettings(max_latency_ms=200))
    offsets = ("+01:00", "-05:00", "")

    async def send_together() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serving") as client:
            return await asyncio.gather(*(client.post("/predict", json={"records": [
                {**mixed_row, "signup": f"2024-03-01T10:00:00{tz}"}]}) for tz in offsets))

    responses = asyncio.run(send_together())
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]


def test_an_unreadable_date_is_named_not_predicted_as_no_date(client: TestClient, mixed_row: dict[str, Any]) -> None:
    response = client.post("/predict", json={"records": [{**mixed_row, "signup": "2024-13-45"}]})
    assert response.status_code == 422
    assert response.json()["error"]["key"] == "records.0.signup"
    assert "cannot read '2024-13-45'" in response.json()["error"]["message"]
