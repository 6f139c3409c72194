"""Property tests of the serving boundary: no generated body gets a 5xx.

Three generators, each run against the app serving the mixed-type bundle: arbitrary bytes,
arbitrary JSON values, and mutations of a valid body of every accepted shape (a value replaced
by any JSON value, a key dropped or renamed, a list emptied or wrapped). Every answer must be
a 2xx or a 4xx in the one error shape that names its key. About 10 s in all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tests.serving.conftest import MIXED_ROW

NAMES = list(MIXED_ROW)
ROUTES = ("/predict", "/invocations", "/v2/models/mixed/infer")
PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
            | st.sampled_from(["", "pro", "2024-03-01", "2024-03-01T10:00:00+01:00", "2024-03-01T10:00:00Z",
                               "true", "nan", "inf", *NAMES]))
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


def _valid_bodies() -> dict[str, tuple[str, Any]]:
    rows = [MIXED_ROW, {**MIXED_ROW, "plan": "team", "region": None}]
    columnar = {"columns": NAMES, "data": [[r.get(n) for n in NAMES] for r in rows]}
    tensors = [{"name": n, "shape": [2], "datatype": "FP64" if n in ("tenure", "charges") else "BYTES",
                "data": [r.get(n) for r in rows]} for n in NAMES]
    return {
        "records-list": ("/predict", rows), "records": ("/predict", {"records": rows}),
        "columnar": ("/predict", columnar), "dataframe_split": ("/invocations", {"dataframe_split": columnar}),
        "dataframe_records": ("/invocations", {"dataframe_records": rows}),
        "instances-lists": ("/invocations", {"instances": [[r.get(n) for n in NAMES] for r in rows]}),
        "inputs-columns": ("/invocations", {"inputs": {n: [r.get(n) for r in rows] for n in NAMES}}),
        "v2-tensors": ("/v2/models/mixed/infer", {"id": "x", "inputs": tensors}),
        "v2-matrix": ("/v2/models/mixed/infer", {"inputs": [{"name": "m", "shape": [2, len(NAMES)],
                                                             "datatype": "BYTES",
                                                             "data": [[r.get(n) for n in NAMES] for r in rows]}]}),
    }


VALID = _valid_bodies()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _set(value[path[0]], path[1:], new)
    return copy


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid body of some accepted shape with one to three mutations."""
    route, body = draw(st.sampled_from(list(VALID.values())))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(body))))
        target = _get(body, path)
        op = draw(st.sampled_from(["replace", "drop", "rename", "empty", "wrap"]))
        if op == "replace" or (op in ("drop", "rename") and not isinstance(target, dict | list)):
            body = _set(body, path, draw(json_values))
        elif op in ("drop", "rename") and target:
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            key = draw(st.sampled_from(keys))
            if isinstance(target, dict):
                new = {k: v for k, v in target.items() if k != key}
                if op == "rename":
                    new[draw(st.text(max_size=8) | st.sampled_from(NAMES))] = target[key]
            else:
                new = [v for i, v in enumerate(target) if i != key]
            body = _set(body, path, new)
        elif op == "empty":
            body = _set(body, path, type(target)() if isinstance(target, dict | list) else None)
        else:
            body = _set(body, path, [target])
    return route, body


@pytest.fixture(scope="module")
def client(mixed_bundle: Bundle) -> Iterator[TestClient]:
    settings_ = ServingSettings(model_ref="mixed@1", max_body_bytes=200_000, max_rows=100)
    with TestClient(create_app(mixed_bundle, settings_), raise_server_exceptions=False) as test_client:
        yield test_client


def _assert_not_a_server_error(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str) and error["key"], error


@PROPERTY
@given(route=st.sampled_from(ROUTES), body=st.binary(max_size=200),
       content_type=st.sampled_from(["application/json", "text/csv", "text/plain", ""]))
def test_any_bytes_get_no_5xx(client: TestClient, route: str, body: bytes, content_type: str) -> None:
    _assert_not_a_server_error(client.post(route, content=body, headers={"content-type": content_type}))


@PROPERTY
@given(route=st.sampled_from(ROUTES), body=json_values)
def test_any_json_value_gets_no_5xx(client: TestClient, route: str, body: Any) -> None:
    _assert_not_a_server_error(client.post(route, content=json.dumps(body), headers={"content-type": "application/json"}))


@settings(PROPERTY, max_examples=300)
@given(case=near_valid())
def test_mutated_valid_bodies_get_no_5xx(client: TestClient, case: tuple[str, Any]) -> None:
    route, body = case
    _assert_not_a_server_error(client.post(route, content=json.dumps(body), headers={"content-type": "application/json"}))


@pytest.mark.parametrize("shape", list(VALID))
def test_the_unmutated_bodies_are_valid(client: TestClient, shape: str) -> None:
    """The generators start from bodies the app accepts: the mutations, not the seeds, are bad."""
    route, body = VALID[shape]
    response = client.post(route, json=body)
    assert response.status_code == 200, response.text
