"""One ASGI app that serves any bundle, locally, on SageMaker and on Vertex AI.

Routes: ``POST /predict`` (JSON records, JSON columnar, CSV), ``GET /health``,
``GET /schema``, ``GET /metrics``; SageMaker's ``GET /ping`` + ``POST /invocations`` (also
MLflow-style ``dataframe_split`` / ``dataframe_records`` / ``instances`` payloads); Vertex's
``AIP_HEALTH_ROUTE`` / ``AIP_PREDICT_ROUTE`` when those variables are set. Requests are
validated against the model signature: a bad one gets 422 naming every bad field.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from tesla.models import Bundle, load_bundle
from tesla.serving.validation import json_schema, validate_records

__all__ = ["ServingSettings", "create_app", "parse_payload"]


@dataclass
class ServingSettings:
    model_ref: str = ""  # "name@version", reported by /health and in responses
    unseen_category: str = "error"  # error | unknown
    max_body_bytes: int = 10_000_000
    auth_token: str | None = None  # when set, every route but health needs "Authorization: Bearer <token>"
    extra: dict[str, Any] = field(default_factory=dict)


class PayloadError(ValueError):
    """The request body cannot be read as rows."""


def _rows_from_columns(columns: Any, data: Any) -> list[dict[str, Any]]:
    if not isinstance(columns, list) or not isinstance(data, list):
        raise PayloadError("'columns' must be a list of names and 'data' a list of rows")
    rows = []
    for i, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise PayloadError(f"data[{i}] must be a list of {len(columns)} values, one per column")
        rows.append(dict(zip(columns, values)))
    return rows


def _rows_from_csv(text: str, signature: list[dict[str, Any]]) -> list[dict[str, Any]]:
    numeric = {f["name"] for f in signature if f["type"] == "numeric"}
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if value in ("", None):
                row[key] = None
            elif key in numeric:
                try:
                    row[key] = float(value)
                except ValueError:
                    row[key] = value  # validation names it
            else:
                row[key] = value
        rows.append(row)
    return rows


def parse_payload(body: bytes, content_type: str, signature: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from any supported payload shape; PayloadError says what shape was expected."""
    if "csv" in content_type:
        return _rows_from_csv(body.decode("utf-8-sig"), signature)
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, Mapping):
        raise PayloadError('body must be {"records": [...]}, {"columns": [...], "data": [...]} or CSV')
    if "records" in payload or "dataframe_records" in payload:
        return payload.get("records", payload.get("dataframe_records"))
    if "columns" in payload:
        return _rows_from_columns(payload["columns"], payload.get("data"))
    if "dataframe_split" in payload:
        split = payload["dataframe_split"] or {}
        return _rows_from_columns(split.get("columns"), split.get("data"))
    if "instances" in payload:
        names = [f["name"] for f in signature]
        return [dict(zip(names, inst)) if isinstance(inst, list) else inst for inst in payload["instances"]]
    raise PayloadError('body must hold "records", "columns"+"data", "dataframe_split", '
                       '"dataframe_records" or "instances"')


class _Metrics:
    """Prometheus text-format counters and a latency histogram, kept in-process."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.buckets = [0] * len(self.BUCKETS)
        self.latency_sum = 0.0
        self.rows = 0

    def observe(self, route: str, status: int, seconds: float, rows: int) -> None:
        self.requests[(route, status)] = self.requests.get((route, status), 0) + 1
        self.latency_sum += seconds
        self.rows += rows
        for i, bound in enumerate(self.BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1

    def render(self, model_ref: str) -> str:
        lines = ["# TYPE tesla_requests_total counter"]
        lines += [f'tesla_requests_total{{route="{r}",status="{s}"}} {n}' for (r, s), n in sorted(self.requests.items())]
        lines.append("# TYPE tesla_request_seconds histogram")
        for bound, count in zip(self.BUCKETS, self.buckets):
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'tesla_request_seconds_bucket{{le="{le}"}} {count}')
        lines += [f"tesla_request_seconds_sum {self.latency_sum}",
                  f"tesla_request_seconds_count {self.buckets[-1]}",
                  "# TYPE tesla_rows_predicted_total counter", f"tesla_rows_predicted_total {self.rows}",
                  "# TYPE tesla_model_info gauge", f'tesla_model_info{{model="{model_ref}"}} 1']
        return "\n".join(lines) + "\n"


def _error(status: int, type_: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message, **extra}}, status_code=status)


def create_app(bundle: Bundle | str | os.PathLike[str], settings: ServingSettings | None = None) -> FastAPI:
    """The serving app for ``bundle`` (a loaded Bundle or a bundle directory)."""
    model = bundle if isinstance(bundle, Bundle) else load_bundle(Path(bundle))
    cfg = settings or ServingSettings()
    metrics = _Metrics()
    app = FastAPI(title=f"Tesla model {cfg.model_ref or model.manifest.get('estimator')}",
                  docs_url=None, redoc_url=None)
    app.state.bundle, app.state.settings, app.state.metrics = model, cfg, metrics
    open_routes = {"/health", "/ping", os.environ.get("AIP_HEALTH_ROUTE", "/health")}

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if cfg.auth_token and request.url.path not in open_routes:
            if request.headers.get("authorization", "") != f"Bearer {cfg.auth_token}":
                return _error(401, "AuthError", "missing or wrong bearer token (Authorization: Bearer ...)")
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > cfg.max_body_bytes:
            return _error(413, "PayloadTooLarge", f"request body is over {cfg.max_body_bytes} bytes")
        return await call_next(request)

    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        route = request.url.path
        body = await request.body()
        if len(body) > cfg.max_body_bytes:
            return _error(413, "PayloadTooLarge", f"request body is over {cfg.max_body_bytes} bytes")
        try:
            rows = parse_payload(body, request.headers.get("content-type", ""), model.signature)
        except PayloadError as exc:
            metrics.observe(route, 400, time.perf_counter() - started, 0)
            return _error(400, "PayloadError", str(exc))
        errors = validate_records(rows, model.signature, unseen=cfg.unseen_category)
        if errors:
            metrics.observe(route, 422, time.perf_counter() - started, 0)
            first = errors[0]
            return _error(422, "ValidationError", f"{'.'.join(map(str, first['loc']))}: {first['msg']}",
                          fields=errors)
        predictions = await run_in_threadpool(_predict_rows, model, rows, cfg.unseen_category)
        metrics.observe(route, 200, time.perf_counter() - started, len(rows))
        return JSONResponse({"predictions": predictions, "model": cfg.model_ref})

    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": cfg.model_ref, "task": model.task,
                "framework": model.manifest["framework"], "estimator": model.manifest["estimator"]}

    app.add_api_route("/predict", predict, methods=["POST"])
    app.add_api_route("/invocations", predict, methods=["POST"])
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/ping", health, methods=["GET"])
    if os.environ.get("AIP_PREDICT_ROUTE"):
        app.add_api_route(os.environ["AIP_PREDICT_ROUTE"], predict, methods=["POST"])
    if os.environ.get("AIP_HEALTH_ROUTE"):
        app.add_api_route(os.environ["AIP_HEALTH_ROUTE"], health, methods=["GET"])

    @app.get("/schema")
    async def schema() -> dict[str, Any]:
        return {"model": cfg.model_ref, "task": model.task, "classes": model.classes,
                "signature": model.signature, "request": json_schema(model.signature, unseen=cfg.unseen_category)}

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(cfg.model_ref), media_type="text/plain; version=0.0.4")

    return app


def _predict_rows(model: Bundle, rows: list[dict[str, Any]], unseen: str) -> list[dict[str, Any]]:
    import pandas as pd

    names = [f["name"] for f in model.signature]
    frame = pd.DataFrame.from_records(rows, columns=names)
    return model.predict_records(frame, unseen=unseen)
