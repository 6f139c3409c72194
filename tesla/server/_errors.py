"""The REST shell's one exception -> response mapping: every error is ``{"error": {"type", "message", "key"}}``.

``key`` names what is at fault where something is: the config key or file of a ``TeslaError``, the
dotted location of a bad request field (``body.trials``, ``query.all``), ``path`` for an unknown
route, ``method`` for a wrong method. A request that fails validation also lists every problem in
``fields`` (``[{"loc": [...], "msg": ...}]``). Anything unexpected is a 500 ``InternalError`` that
says it is a bug; the traceback goes to the server log, not to the client.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tesla.errors import (
    AuthError,
    BackendError,
    BundleError,
    ConfigError,
    DataError,
    DataNotFoundError,
    DependencyError,
    DeployError,
    GateError,
    IntegrityError,
    ModelNotFoundError,
    NotSupportedError,
    PermissionDenied,
    PlanError,
    ProjectError,
    ProjectNotFoundError,
    ReplayError,
    StepFailedError,
    TeslaError,
    UserNotFoundError,
)

__all__ = ["error_body", "install_error_handlers", "status_of"]

# the first match wins, so subclasses come before their bases. Stored data that fails its checks
# (a tampered bundle) is a conflict with the store's state, not a bad request and not a server bug;
# a missing optional extra is something this server cannot do (501); a cloud service that failed is a
# bad gateway (502); a step that raised stays a 500. No or a bad API token is 401, a role too low 403
_STATUS: list[tuple[type[TeslaError], int]] = [
    (AuthError, 401), (PermissionDenied, 403), (UserNotFoundError, 404),
    (DataNotFoundError, 404), (ModelNotFoundError, 404), (ProjectNotFoundError, 404),
    (GateError, 409), (DeployError, 409), (BundleError, 409), (IntegrityError, 409), (ReplayError, 409),
    (ConfigError, 422), (DataError, 422), (ProjectError, 422), (PlanError, 422), (NotSupportedError, 422),
    (DependencyError, 501), (StepFailedError, 500), (BackendError, 502),
]


def status_of(exc: TeslaError) -> int:
    """The HTTP status of ``exc`` (500 for a ``TeslaError`` no row names)."""
    return next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)


def error_body(type_: str, message: str, key: str | None, **extra: Any) -> dict[str, Any]:
    """The one error shape (``extra`` adds fields such as ``fields``)."""
    return {"error": {"type": type_, "message": message, "key": key, **extra}}


def _response(status: int, type_: str, message: str, key: str | None, *, headers: dict[str, str] | None = None,
              **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(type_, message, key, **extra), status_code=status, headers=headers)


async def _tesla_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TeslaError)
    # RFC 6750: a 401 names the scheme the client should authenticate with
    headers = {"WWW-Authenticate": 'Bearer realm="tesla"'} if isinstance(exc, AuthError) else None
    return _response(status_of(exc), type(exc).__name__, str(exc), exc.key, headers=headers)


def _loc(loc: Any) -> str:
    return ".".join(map(str, loc))


def _problem(err: dict[str, Any]) -> str:
    if tuple(err["loc"]) == ("body",) and err["type"] in ("missing", "model_attributes_type"):
        return "required: a JSON object (Content-Type: application/json)"
    if err["type"] == "extra_forbidden":
        return "unknown field; see GET /openapi.json for the fields this route takes"
    return str(err["msg"])


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e["type"] == "json_invalid"), None)
    if bad_json is not None:
        reason = (bad_json.get("ctx") or {}).get("error", bad_json["msg"])
        return _response(400, "PayloadError", f"the request body is not valid JSON: {reason} "
                         f"(at character {bad_json['loc'][-1]})", "body")
    if not errors:  # nothing to point at; FastAPI always lists at least one, but do not crash on it
        return _response(422, "ValidationError", "the request is invalid", None)
    problems = [_problem(e) for e in errors]
    more = f" (and {len(problems) - 1} more; see 'fields')" if len(problems) > 1 else ""
    return _response(422, "ValidationError", f"{_loc(errors[0]['loc'])}: {problems[0]}{more}", _loc(errors[0]["loc"]),
                     fields=[{"loc": list(e["loc"]), "msg": p} for e, p in zip(errors, problems, strict=True)])


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (unknown route, wrong method, a missing docs asset) in the one shape."""
    assert isinstance(exc, StarletteHTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return _response(404, "NotFound", f"no route {where}; see GET /openapi.json (or /docs) for the routes",
                         "path")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return _response(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}"
                         + (f" (allowed: {allowed})" if allowed else ""), "method", headers=exc.headers)
    phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in set(HTTPStatus) else "Error"
    return _response(exc.status_code, phrase.title().replace(" ", "").replace("-", ""), str(exc.detail), None,
                     headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's outermost middleware calls this, sends the answer, then re-raises, so the ASGI server
    # (uvicorn) logs the traceback once
    return _response(500, "InternalError", f"{request.method} {request.url.path} failed unexpectedly "
                     f"({type(exc).__name__}: {exc}); this is a bug in Tesla, the server log has the traceback",
                     None)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception ``app`` can raise to the one error shape."""
    app.add_exception_handler(TeslaError, _tesla_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
