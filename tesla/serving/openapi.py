"""The serving app's OpenAPI 3.1 document, built from the model's signature (``GET /openapi.json``).

The app's routes are plain Starlette routes (the hot path skips FastAPI's request models), so
FastAPI cannot describe them; this module does, with every request body shape the app reads
(``tesla.serving.payload``) and the one error shape it answers with. A generated client, or
schemathesis, can then send every documented body and see 2xx or a documented 4xx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tesla.serving.validation import row_schema

__all__ = ["example_row", "openapi_document"]

_REF = "#/components/schemas/"
_V2_DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                 "FP16", "FP32", "FP64", "BYTES"]
_ERROR = {
    "type": "object", "required": ["error", "request_id"],
    "properties": {
        "request_id": {"type": "string"},
        "error": {"type": "object", "required": ["type", "message", "key"], "properties": {
            "type": {"type": "string"}, "message": {"type": "string"},
            "key": {"type": "string", "description": "the field, header or part of the request at fault"},
            "fields": {"type": "array", "items": {"type": "object", "required": ["loc", "msg"], "properties": {
                "loc": {"type": "array", "items": {"type": ["string", "integer"]}}, "msg": {"type": "string"}}}}}},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json_body(schema: dict[str, Any], **extra_media: Any) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}, **extra_media}}


def _responses(ok: str, *codes: int, ok_code: int = 200) -> dict[str, Any]:
    words = {400: "unreadable body (not JSON, wrong shape)", 404: "unknown model name", 409: "capture is off",
             413: "body or row count over the limit", 415: "content type neither JSON nor CSV",
             422: "a field does not fit the model's signature", 503: "capture writer busy; retry"}
    out: dict[str, Any] = {str(ok_code): {"description": ok, "content": {"application/json": {"schema": {
        "type": "object"}}}}}
    for code in codes:
        out[str(code)] = {"description": words[code], "content": {"application/json": {"schema": _ref("Error")}}}
    return out


def _schemas(signature: Sequence[Mapping[str, Any]], unseen: str) -> dict[str, Any]:
    names = [f["name"] for f in signature]
    records = {"type": "array", "items": _ref("Row"), "minItems": 1}
    columnar = {"type": "object", "required": ["columns", "data"], "additionalProperties": False, "properties": {
        "columns": {"type": "array", "items": {"type": "string", "enum": names}, "uniqueItems": True,
                    "minItems": 1},
        "data": {"type": "array", "items": {"type": "array"}, "minItems": 1}}}
    tensor = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"type": "string", "minLength": 1, "description": "a feature name, or any name for one [rows, columns] tensor"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 2,
                  "description": "[rows] for a feature's tensor, [rows, columns] for one tensor of every feature; "
                                 "the product must equal the number of values in data"},
        "datatype": {"type": "string", "enum": _V2_DATATYPES},
        "data": {"type": "array"}, "parameters": {"type": "object"}}}
    return {
        "Row": row_schema(signature, unseen=unseen),
        "Records": records,
        "Columnar": columnar,
        "PredictRequest": {"anyOf": [
            records,
            {"type": "object", "required": ["records"], "properties": {"records": records},
             "additionalProperties": False},
            {"type": "object", "required": ["dataframe_records"], "properties": {"dataframe_records": records},
             "additionalProperties": False},
            columnar,
            {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": columnar},
             "additionalProperties": False},
            {"type": "object", "required": ["instances"], "additionalProperties": False, "properties": {
                "instances": {"type": "array", "minItems": 1, "items": {"anyOf": [
                    _ref("Row"), {"type": "array", "minItems": len(names), "maxItems": len(names)}]}},
                "parameters": {"type": "object"}}},
            {"type": "object", "required": ["inputs"], "additionalProperties": False, "properties": {"inputs": {
                "type": "object", "additionalProperties": {"type": "array", "minItems": 1},
                "propertyNames": {"enum": names}, "minProperties": 1}}},
        ]},
        "V2InferRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string"}, "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": tensor, "minItems": 1},
            "outputs": {"type": "array", "items": {"type": "object"}}}},
        "Feedback": {"type": "object", "required": ["request_id"], "properties": {
            "request_id": {"type": "string", "minLength": 1}, "label": {}, "labels": {"type": "array", "minItems": 1}},
            "additionalProperties": False},
        "Error": _ERROR,
    }


def example_row(signature: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A row the model accepts, for the document's examples."""
    values = {"numeric": 1.0, "boolean": True, "datetime": "2024-01-01T00:00:00", "text": "text"}
    return {f["name"]: (f.get("categories") or ["a"])[0] if f["type"] == "categorical" else values[f["type"]]
            for f in signature}


def _get(summary: str, *codes: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": _responses(summary, *codes)}}


def openapi_document(signature: Sequence[Mapping[str, Any]], *, name: str, title: str, version: str,
                     unseen: str = "error", aip_predict: str | None = None,
                     aip_health: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a server for a model with ``signature``.

    Args:
        signature: the bundle's input columns (``Bundle.signature``).
        name: the model name the Open Inference Protocol routes answer to.
        title: the document's title.
        version: the document's version (Tesla's).
        unseen: ``error`` (categorical columns take only their training categories) or ``unknown``.
        aip_predict: Vertex AI's predict route, when the server has one.
        aip_health: Vertex AI's health route, when the server has one.

    Returns:
        The document as JSON-serialisable data.
    """
    row = example_row(signature)
    predict_body = _json_body(_ref("PredictRequest"), **{"text/csv": {"schema": {"type": "string"}}})
    predict_body["content"]["application/json"]["example"] = {"records": [row]}
    v2_example = {"inputs": [{"name": k, "shape": [1], "datatype": "FP64" if isinstance(v, float) else
                              "BOOL" if isinstance(v, bool) else "BYTES", "data": [v]} for k, v in row.items()]}
    predict = {"post": {"summary": "Predict rows (records, columnar, MLflow, SageMaker, Vertex or CSV)",
                        "requestBody": predict_body, "responses": _responses("predictions", 400, 413, 415, 422)}}
    model = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": [name]}}
    version_param = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
    infer_body = _json_body(_ref("V2InferRequest"))
    infer_body["content"]["application/json"]["example"] = v2_example
    infer = {"summary": "Open Inference Protocol v2 inference", "requestBody": infer_body,
             "responses": _responses("outputs", 400, 404, 413, 422)}
    paths: dict[str, Any] = {
        "/predict": predict, "/invocations": predict,
        "/feedback": {"post": {"summary": "Ground-truth labels for an earlier request id",
                               "requestBody": _json_body(_ref("Feedback")),
                               "responses": _responses("accepted", 400, 409, 413, 422, 503, ok_code=202)}},
        "/health": _get("health"), "/ping": _get("health"), "/schema": _get("signature and request schema"),
        "/openapi.json": _get("this document"),
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/v2": _get("server metadata"), "/v2/health/ready": _get("ready"), "/v2/health/live": _get("live"),
        "/v2/models/{name}": {"parameters": [model], **_get("model metadata", 404)},
        "/v2/models/{name}/ready": {"parameters": [model], **_get("model ready", 404)},
        "/v2/models/{name}/versions/{version}": {"parameters": [model, version_param],
                                                  **_get("model metadata", 404)},
        "/v2/models/{name}/infer": {"parameters": [model], "post": infer},
        "/v2/models/{name}/versions/{version}/infer": {"parameters": [model, version_param], "post": infer},
    }
    if aip_predict:
        paths[aip_predict] = predict
    if aip_health:
        paths[aip_health] = _get("health")
    return {"openapi": "3.1.0", "info": {"title": title, "version": version},
            "paths": paths, "components": {"schemas": _schemas(signature, unseen)}}
