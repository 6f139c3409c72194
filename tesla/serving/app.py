"""One ASGI app that serves any bundle, locally, on SageMaker and on Vertex AI.

Routes:

- ``POST /predict``: JSON records, JSON columnar, CSV (and every shape ``/invocations`` takes);
- ``POST /invocations`` + ``GET /ping``: SageMaker's container contract, with MLflow's
  ``dataframe_split`` / ``dataframe_records`` / ``instances`` / ``inputs`` payloads;
- ``AIP_PREDICT_ROUTE`` / ``AIP_HEALTH_ROUTE``: Vertex AI's routes, when those variables are set;
- ``/v2/health/ready|live``, ``/v2/models/{name}[/versions/{v}]/infer``: Open Inference Protocol v2;
- ``GET /health``, ``GET /schema`` (JSON Schema of a request), ``GET /openapi.json`` (every route and
  request body, from the signature), ``GET /metrics`` (Prometheus);
- ``POST /feedback``: ground-truth labels for earlier request ids.

Every request gets a request id (an incoming ``X-Request-ID`` is kept), returned in the body
and the ``X-Request-ID`` header. Bodies are decoded (``tesla.serving.payload``: 400 naming the
part that cannot be read, 415 for a content type that is neither JSON nor CSV, 413 over the size
or row limit), validated against the model signature (``tesla.serving.validation``: 422 naming
every bad field; nothing reaches the model), micro-batched (``tesla.serving.batching``) and
captured for monitoring (``tesla.serving.capture``). ``_Server.failed`` is the one place an
exception becomes a response. Errors are ``{"error": {"type", "message", "key", ["fields"]}, "request_id"}``.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from tesla import __version__
from tesla.errors import TeslaError
from tesla.models import Bundle, load_bundle
from tesla.serving.batching import MicroBatcher
from tesla.serving.capture import CaptureWriter
from tesla.serving.metrics import ServingMetrics
from tesla.serving.openapi import openapi_document
from tesla.serving.payload import (
    PayloadError,
    PayloadTooLarge,
    UnsupportedMediaType,
    loads,
    parse_payload,
    rows_from_v2,
)
from tesla.serving.validation import FieldError, json_schema, validate_records

__all__ = ["ServingSettings", "create_app", "parse_payload"]

log = logging.getLogger("tesla.serving")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
_REQUEST_ID = re.compile(r"^[\w.:@/+=-]{1,128}$")
_JSON_OPTS = orjson.OPT_SERIALIZE_NUMPY
_V2_TYPES = {"numeric": "FP64", "boolean": "BOOL"}
_RECENT_IDS = 100_000  # request ids remembered to check /feedback label counts


@dataclass
class ServingSettings:
    """How one server serves its bundle (``python -m tesla.serving`` fills it from flags)."""

    model_ref: str = ""  # "name@version", reported by /health, /metrics and every response
    unseen_category: str = "error"  # error | unknown: a category not seen in training
    max_body_bytes: int = 10_000_000  # larger request bodies get 413
    max_rows: int = 100_000  # requests with more rows get 413
    auth_token: str | None = None  # when set, every route but the health checks needs "Bearer <token>"
    capture_dir: Path | None = None  # where predictions, errors and feedback are logged; None: off
    max_batch_size: int = 64  # most rows merged into one predict call
    max_latency_ms: float = 2.0  # longest a request waits for others to join its batch
    predict_threads: int = 1  # predict calls running at once; above 1 a big request is split across them
    server_pid: int | None = None  # the pid /health reports: a --workers supervisor's; None: this process's
    extra: dict[str, Any] = field(default_factory=dict)


# the one exception -> response mapping of the app: (status, error type); the first match wins
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (PayloadTooLarge, 413), (UnsupportedMediaType, 415), (PayloadError, 400),
    (TeslaError, 422),  # e.g. a value the preprocessing refuses: the caller's fault
)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=_JSON_OPTS, default=str), status_code=status,
                    media_type="application/json", headers=headers)


class _Server:
    """State and handlers of one app: the model, its batcher, capture writer and metrics."""

    def __init__(self, model: Bundle, cfg: ServingSettings) -> None:
        self.model, self.cfg = model, cfg
        self.name = cfg.model_ref.partition("@")[0] or "model"
        self.version = cfg.model_ref.partition("@")[2] or "1"
        self.started = time.time()
        self.metrics = ServingMetrics(cfg.model_ref or self.name)
        self.batcher = MicroBatcher(self._predict_rows, max_batch_size=cfg.max_batch_size,
                                    max_latency_ms=cfg.max_latency_ms, on_batch=self.metrics.observe_batch,
                                    workers=cfg.predict_threads)
        self.capture = CaptureWriter(cfg.capture_dir, model_ref=cfg.model_ref or self.name) if cfg.capture_dir else None
        if self.capture is not None:
            capture = self.capture
            self.metrics.gauges.update({
                "tesla_capture_dropped_total": ("Captured rows dropped because the writer queue was full.",
                                                lambda: capture.dropped),
                "tesla_capture_rows_total": ("Prediction rows written to the capture files.",
                                             lambda: capture.written),
                "tesla_capture_queue_depth": ("Requests waiting for the capture writer.", lambda: capture.queued)})
        self.aip_predict = os.environ.get("AIP_PREDICT_ROUTE")
        self.aip_health = os.environ.get("AIP_HEALTH_ROUTE")
        self.open_paths = {"/health", "/ping", "/v2/health/ready", "/v2/health/live", self.aip_health}
        self.predict_routes = {"/predict", "/invocations", "/v2/models/{name}/infer", self.aip_predict}
        self.recent: dict[str, int] = {}  # request id -> rows, for /feedback

    # -- helpers -------------------------------------------------------------------------------
    def _predict_rows(self, rows: list[Any]) -> list[dict[str, Any]]:
        """Runs in the batcher's worker thread."""
        return self.model.predict_request(rows, unseen=self.cfg.unseen_category)

    def route_label(self, path: str) -> str:
        """A bounded set of route names for metrics (no per-model or per-scan label values)."""
        if path in ("/predict", "/invocations", "/health", "/ping", "/schema", "/openapi.json", "/metrics", "/feedback",
                    "/v2",
                    "/v2/health/ready", "/v2/health/live", self.aip_predict, self.aip_health):
            return path
        if path.startswith("/v2/models/"):
            return "/v2/models/{name}/infer" if path.endswith("/infer") else "/v2/models/{name}"
        return "other"

    def error(self, status: int, type_: str, message: str, request_id: str, route: str, *, key: str,
              **extra: Any) -> Response:
        """The one shape of every error response (``key`` names the field, header or part at fault);
        failed predictions are also captured."""
        self.metrics.observe_error(type_)
        if self.capture is not None and route in self.predict_routes:
            self.capture.error(request_id, status, type_)
        return _json({"error": {"type": type_, "message": message, "key": key, **extra}, "request_id": request_id},
                     status)

    def failed(self, exc: Exception, rid: str, route: str) -> Response:
        """The response to an exception while serving a request: 4xx for the caller's mistakes, else 500."""
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        if status == 500:
            log.error("request %s failed", rid, exc_info=exc)
            return self.error(500, "PredictError", f"the model failed on this request: {type(exc).__name__}: {exc}",
                              rid, route, key="model")
        key = getattr(exc, "key", None) or "body"
        return self.error(status, type(exc).__name__, str(exc), rid, route, key=key)

    async def body(self, request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.cfg.max_body_bytes:
                raise PayloadTooLarge(_too_large(self.cfg.max_body_bytes), key="body")
            chunks.append(chunk)
        return b"".join(chunks)

    def remember(self, request_id: str, rows: int) -> None:
        if len(self.recent) >= _RECENT_IDS:
            del self.recent[next(iter(self.recent))]
        self.recent[request_id] = rows

    # -- prediction --------------------------------------------------------------------------------
    async def predict(self, request: Request) -> Response:
        """POST /predict, /invocations and Vertex's predict route."""
        rid, route = request.state.request_id, self.route_label(request.url.path)
        content_type = request.headers.get("content-type", "")
        done = await self._serve(request, rid, route, lambda body: parse_payload(body, content_type,
                                                                                  self.model.signature))
        if isinstance(done, Response):
            return done
        return _json({"predictions": done[1], "model": self.cfg.model_ref, "request_id": rid})

    async def v2_infer(self, request: Request) -> Response:
        """POST /v2/models/{name}[/versions/{version}]/infer (Open Inference Protocol v2)."""
        rid, route = request.state.request_id, "/v2/models/{name}/infer"
        name = request.path_params["name"]
        if name != self.name:
            return self.error(404, "ModelNotFound", f"this server serves model '{self.name}', not '{name}'; "
                              f"POST /v2/models/{self.name}/infer", rid, route, key="name")
        payload: dict[str, Any] = {}

        def read(body: bytes) -> list[Any]:
            decoded = loads(body)
            rows = rows_from_v2(decoded, self.model.signature)  # refuses anything but an object
            payload.update(decoded)
            return rows

        done = await self._serve(request, rid, route, read)
        if isinstance(done, Response):
            return done
        return _json({"model_name": self.name, "model_version": self.version,
                      "id": str(payload.get("id") or rid), "outputs": self._v2_outputs(done[1])})

    async def _serve(self, request: Request, rid: str, route: str,
                     read: Callable[[bytes], list[Any]]) -> Response | tuple[list[Any], list[Any]]:
        """Read, validate, predict (batched) and capture one request: (rows, results) or an error response."""
        self.batcher.expect()  # the batcher may wait for this request while it is being read
        try:
            rows = read(await self.body(request))
            if isinstance(rows, list) and len(rows) > self.cfg.max_rows:
                raise PayloadTooLarge(f"records: the request has {len(rows)} rows; this server takes at most "
                                      f"{self.cfg.max_rows} per request; split it", key="records")
            errors = validate_records(rows, self.model.signature, unseen=self.cfg.unseen_category)
        except Exception as exc:  # noqa: BLE001 - mapped to a response in one place (4xx or a logged 500)
            return self.failed(exc, rid, route)
        finally:
            self.batcher.cancel_expect()  # from here it is either queued at once or never
        if errors:
            return self.error(422, "ValidationError", _summary(errors), rid, route,
                              key=".".join(map(str, errors[0]["loc"])), fields=errors)
        started = time.perf_counter()
        try:
            results = await self.batcher.submit(rows)
        except Exception as exc:  # noqa: BLE001 - one request's failure must not take the server down
            return self.failed(exc, rid, route)
        if self.capture is not None:
            self.capture.predictions(rid, rows, results, round((time.perf_counter() - started) * 1000.0, 3))
            self.remember(rid, len(rows))
        return rows, results

    def _v2_outputs(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        labels = [r["prediction"] for r in results]
        kind = ("FP64" if all(isinstance(v, float) for v in labels) else
                "INT64" if all(isinstance(v, int) and not isinstance(v, bool) for v in labels) else "BYTES")
        outputs = [{"name": "predict", "shape": [len(labels)], "datatype": kind,
                    "data": labels if kind != "BYTES" else [str(v) for v in labels]}]
        if results and "probabilities" in results[0]:
            classes = list(results[0]["probabilities"])
            outputs.append({"name": "predict_proba", "shape": [len(results), len(classes)], "datatype": "FP64",
                            "parameters": {"classes": classes},
                            "data": [r["probabilities"][c] for r in results for c in classes]})
        return outputs

    # -- feedback ----------------------------------------------------------------------------------
    async def feedback(self, request: Request) -> Response:
        """POST /feedback: {"request_id", "label"} (row 0) or {"request_id", "labels": [...]} (per row)."""
        rid, route = request.state.request_id, "/feedback"
        if self.capture is None:
            return self.error(409, "CaptureDisabled", "this server does not capture predictions "
                              "(deploy.data_capture is false), so labels cannot be joined to them", rid, route,
                              key="deploy.data_capture")
        try:
            payload = loads(await self.body(request))
        except PayloadError as exc:
            return self.failed(exc, rid, route)
        problems = _feedback_errors(payload, self.recent)
        if problems:
            return self.error(422, "ValidationError", _summary(problems), rid, route,
                              key=".".join(map(str, problems[0]["loc"])), fields=problems)
        labels = payload["labels"] if "labels" in payload else [payload["label"]]
        if not self.capture.feedback(payload["request_id"], labels):
            return self.error(503, "CaptureBusy", "the capture writer is full; retry the feedback shortly",
                              rid, route, key="capture")
        return _json({"accepted": len(labels), "request_id": payload["request_id"]}, 202)

    # -- metadata ------------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        """GET /health, /ping and Vertex's health route."""
        return _json({"status": "ok", "model": self.cfg.model_ref, "task": self.model.task,
                      "framework": self.model.manifest["framework"], "estimator": self.model.manifest["estimator"],
                      "pid": self.cfg.server_pid or os.getpid(), "worker_pid": os.getpid(),
                      "uptime_s": round(time.time() - self.started, 3),
                      "capture": str(self.cfg.capture_dir) if self.cfg.capture_dir else None})

    async def schema(self, request: Request) -> Response:
        """GET /schema: the signature and the JSON Schema of a ``{"records": [...]}`` request."""
        return _json({"model": self.cfg.model_ref, "task": self.model.task, "classes": self.model.classes,
                      "signature": self.model.signature, "unseen_category": self.cfg.unseen_category,
                      "request": json_schema(self.model.signature, unseen=self.cfg.unseen_category)})

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.json: every route and the request bodies it takes, from the model's signature."""
        return _json(openapi_document(self.model.signature, name=self.name, title=f"Tesla model {self.name}",
                                      version=__version__, unseen=self.cfg.unseen_category,
                                      aip_predict=self.aip_predict, aip_health=self.aip_health))

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (unknown route, wrong method) in the one error shape."""
        status = getattr(exc, "status_code", 500)
        rid = getattr(request.state, "request_id", "") or uuid.uuid4().hex
        route = self.route_label(request.url.path)
        if status == 405:
            return self.error(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}; "
                              "see GET /openapi.json for the routes", rid, route, key="method")
        if status == 404:
            return self.error(404, "NotFound", f"no route {request.url.path}; see GET /openapi.json for the routes",
                              rid, route, key="path")
        return self.failed(exc, rid, route)

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def v2_ready(self, request: Request) -> Response:
        return _json({"ready": True} if request.url.path.endswith("ready") else {"live": True})

    async def v2_server(self, request: Request) -> Response:
        return _json({"name": "tesla", "version": __version__, "extensions": []})

    async def v2_model(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name != self.name:
            return self.error(404, "ModelNotFound", f"this server serves model '{self.name}', not '{name}'",
                              request.state.request_id, "/v2/models/{name}", key="name")
        if request.url.path.endswith("/ready"):
            return _json({"name": self.name, "ready": True})
        inputs = [{"name": f["name"], "datatype": _V2_TYPES.get(f["type"], "BYTES"), "shape": [-1]}
                  for f in self.model.signature]
        outputs = [{"name": "predict", "datatype": "FP64" if self.model.task == "regression" else "BYTES",
                    "shape": [-1]}]
        if self.model.task != "regression":
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(self.model.classes or [])]})
        return _json({"name": self.name, "versions": [self.version],
                      "platform": f"tesla-{self.model.manifest['framework']}", "inputs": inputs, "outputs": outputs})

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """Start the capture writer; on shutdown finish batches, then flush every captured line."""
        if self.capture is not None:
            self.capture.start()
        yield
        await self.batcher.close()
        if self.capture is not None:
            await run_in_threadpool(self.capture.close)  # joins the writer: off the event loop


def _too_large(limit: int) -> str:
    return f"request body is over {limit} bytes (deploy.max_body_bytes); send fewer rows per request"


def _summary(errors: list[FieldError]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more; see 'fields')" if len(errors) > 1 else ""
    return f"{'.'.join(map(str, first['loc']))}: {first['msg']}{more}"


def _feedback_errors(payload: Any, recent: dict[str, int]) -> list[FieldError]:
    if not isinstance(payload, dict):
        return [{"loc": ["body"], "msg": 'must be {"request_id": ..., "label": ...} or {"request_id": ..., '
                 '"labels": [...]}'}]
    errors: list[FieldError] = []
    rid = payload.get("request_id")
    if not isinstance(rid, str) or not rid:
        errors.append({"loc": ["request_id"], "msg": "required: the request_id a prediction response returned"})
    if ("label" in payload) == ("labels" in payload):
        errors.append({"loc": ["label"], "msg": "give exactly one of 'label' (row 0) or 'labels' (one per row)"})
    elif "labels" in payload:
        labels = payload["labels"]
        if not isinstance(labels, list) or not labels:
            errors.append({"loc": ["labels"], "msg": "must be a non-empty list, one label per predicted row"})
        elif isinstance(rid, str) and rid in recent and len(labels) != recent[rid]:
            errors.append({"loc": ["labels"], "msg": f"request {rid} predicted {recent[rid]} rows; "
                           f"got {len(labels)} labels"})
    unknown = sorted(set(payload) - {"request_id", "label", "labels"})
    errors += [{"loc": [k], "msg": "unknown field; feedback takes request_id and label or labels"} for k in unknown]
    return errors


class _Gate:
    """Outermost ASGI middleware: request ids, bearer auth, body limit, latency and status metrics."""

    def __init__(self, app: ASGIApp, server: _Server) -> None:
        self.app, self.server = app, server
        token = server.cfg.auth_token
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid, auth, length = None, b"", b""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                rid = value.decode("latin-1")
            elif key == b"authorization":
                auth = value
            elif key == b"content-length":
                length = value
        if rid is None or not _REQUEST_ID.match(rid):
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = [500]
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        server, route = self.server, self.server.route_label(scope["path"])
        server.metrics.in_flight += 1
        try:
            refused = self._refuse(scope["path"], auth, length, rid, route)
            if refused is not None:
                await refused(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            server.metrics.in_flight -= 1
            server.metrics.observe_request(route, status[0], time.perf_counter() - started)

    def _refuse(self, path: str, auth: bytes, length: bytes, rid: str, route: str) -> Response | None:
        server = self.server
        # constant-time compare: the token must not leak through response timing
        if self.expected is not None and path not in server.open_paths and not hmac.compare_digest(auth, self.expected):
            return server.error(401, "AuthError", "missing or wrong bearer token; send 'Authorization: Bearer "
                                "<token>' with the token from deploy.auth_token_env", rid, route, key="authorization")
        if length.isdigit() and int(length) > server.cfg.max_body_bytes:
            return server.error(413, "PayloadTooLarge", _too_large(server.cfg.max_body_bytes), rid, route,
                                key="body")
        return None


def create_app(bundle: Bundle | str | os.PathLike[str], settings: ServingSettings | None = None) -> FastAPI:
    """The serving app for ``bundle`` (a loaded Bundle or a bundle directory).

    Args:
        bundle: the model.
        settings: how to serve it; default: no auth, no capture, batching 64 rows / 2 ms.

    Returns:
        A FastAPI app; run it with uvicorn (``python -m tesla.serving`` does).
    """
    model = bundle if isinstance(bundle, Bundle) else load_bundle(Path(bundle))
    server = _Server(model, settings or ServingSettings())
    app = FastAPI(title=f"Tesla model {server.cfg.model_ref or model.manifest.get('estimator')}",
                  version=__version__, docs_url=None, redoc_url=None, openapi_url=None, lifespan=server.lifespan)
    app.state.bundle, app.state.settings, app.state.metrics = model, server.cfg, server.metrics
    app.state.server = server
    # plain Starlette routes: the hot path skips FastAPI's dependency solving
    routes: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
        ("/predict", server.predict, ["POST"]), ("/invocations", server.predict, ["POST"]),
        ("/feedback", server.feedback, ["POST"]),
        ("/health", server.health, ["GET"]), ("/ping", server.health, ["GET"]),
        ("/schema", server.schema, ["GET"]), ("/openapi.json", server.openapi, ["GET"]),
        ("/metrics", server.prometheus, ["GET"]),
        ("/v2", server.v2_server, ["GET"]),
        ("/v2/health/ready", server.v2_ready, ["GET"]), ("/v2/health/live", server.v2_ready, ["GET"]),
        ("/v2/models/{name}", server.v2_model, ["GET"]), ("/v2/models/{name}/ready", server.v2_model, ["GET"]),
        ("/v2/models/{name}/versions/{version}", server.v2_model, ["GET"]),
        ("/v2/models/{name}/infer", server.v2_infer, ["POST"]),
        ("/v2/models/{name}/versions/{version}/infer", server.v2_infer, ["POST"]),
    ]
    if server.aip_predict:
        routes.append((server.aip_predict, server.predict, ["POST"]))
    if server.aip_health:
        routes.append((server.aip_health, server.health, ["GET"]))
    for path, endpoint, methods in routes:
        app.add_route(path, endpoint, methods=methods)
    app.add_exception_handler(StarletteHTTPException, server.http_error)
    app.add_exception_handler(Exception, server.http_error)
    app.add_middleware(_Gate, server=server)
    return app
