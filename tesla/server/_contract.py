"""Mount the REST contract (``tesla/routes.py``): one FastAPI endpoint per short route, plus uploads.

Each endpoint's parameters come from its service method's signature: path parameters from the
route's path, the rest as query parameters on a GET or DELETE and as a JSON body (a pydantic model
that refuses unknown fields) otherwise. Values are rebuilt with ``tesla.wire.decode`` from the
method's own annotations and the answer is ``tesla.wire.encode(return value)``, so the remote
client decodes exactly what the method returns. Long operations (``job`` routes) are not mounted
here: they go through ``POST /jobs``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import re
import tempfile
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from tesla import wire
from tesla.errors import DataError
from tesla.routes import ROUTES, UPLOADS_PATH, Param, Route, params
from tesla.server._auth import Caller, caller_with

__all__ = ["callers_paths", "mount_contract", "upload_dir"]


def upload_dir(root: Path) -> Path:
    """Where uploaded files live: ``.tesla/uploads/<sha256>/<original name>``."""
    return root / ".tesla" / "uploads"


_INT = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # what the store's INTEGER holds: larger is a 422, not a 500


def _http_type(hint: Any) -> Any:
    """The JSON type a parameter travels as (a path is a string, a plan or mapping an object)."""
    if hint is int:
        return _INT
    if hint in (str, float, bool):
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        arms = [a for a in args if a is not type(None)]
        mapped = {_http_type(a) for a in arms}
        inner = mapped.pop() if len(mapped) == 1 else Any
        return inner | None if type(None) in args and inner is not Any else inner
    if origin is os.PathLike or (isinstance(hint, type) and issubclass(hint, PurePath)):
        return str
    if origin in (list, tuple, set, frozenset, Sequence):
        return list[_http_type(args[0]) if args else Any]
    if origin in (dict, Mapping) or dataclasses.is_dataclass(hint) or hasattr(hint, "from_dict"):
        return dict[str, Any]
    return Any


def _default(p: Param) -> Any:
    if p.default is inspect.Parameter.empty:
        return ...
    return list(p.default) if isinstance(p.default, tuple) else p.default


def _body_model(route: Route, body: list[Param]) -> type[BaseModel]:
    fields: dict[str, Any] = {p.name: (_http_type(p.hint), Field(_default(p))) for p in body}
    name = "".join(part.title() for part in route.call.replace("_", ".").split(".")) + "Request"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _signature(route: Route, ps: list[Param]) -> tuple[inspect.Signature, type[BaseModel] | None]:
    project = Caller if not route.role else caller_with(route.needs)
    sig = [inspect.Parameter("project", inspect.Parameter.KEYWORD_ONLY, annotation=project)]
    in_path = set(route.path_params)
    rest = [p for p in ps if p.name not in in_path]
    for p in ps:
        if p.name in in_path:
            sig.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                         annotation=Annotated[_http_type(p.hint), PathParam()]))
    model = None
    if route.method in ("GET", "DELETE"):
        for p in rest:
            sig.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                         annotation=Annotated[_http_type(p.hint), Query()],
                                         default=inspect.Parameter.empty if p.default is inspect.Parameter.empty
                                         else _default(p)))
    elif rest:
        model = _body_model(route, rest)
        sig.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[model, Body()]))
    return inspect.Signature(sig), model


# answers that are not JSON, by content type. A stored page is shown sandboxed whatever it holds: its own
# origin, no script, nothing fetched from anywhere (Tesla's reports need only inline styles and SVG)
_MEDIA: dict[str, type[Response]] = {"text/html": HTMLResponse}
_PAGE_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                 "X-Content-Type-Options": "nosniff"}


def _endpoint(route: Route) -> Callable[..., Any]:
    ps = params(route)
    hints = {p.name: p.hint for p in ps}
    signature, model = _signature(route, ps)

    def endpoint(project: Any, body: BaseModel | None = None, **values: Any) -> Response:
        if body is not None:
            values.update(body.model_dump())
        kwargs = {k: _decoded(hints[k], k, v) for k, v in values.items()}
        result = getattr(getattr(project, route.service), route.name)(**kwargs)
        if route.media:
            return _MEDIA[route.media](result, headers=_PAGE_HEADERS)
        return JSONResponse(callers_paths(project.root, wire.encode(result)))

    endpoint.__signature__ = signature  # type: ignore[attr-defined]  # what FastAPI reads the parameters from
    endpoint.__name__ = route.call.replace(".", "_")
    return endpoint


def _decoded(hint: Any, name: str, value: Any) -> Any:
    """``value`` rebuilt as ``hint``; a value that cannot be (a plan missing its steps) is the caller's mistake."""
    try:
        return wire.decode(hint, value)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise DataError(f"'{name}' is not a valid {getattr(hint, '__name__', hint)}: {exc}", key=name) from None


def _upload(root: Path, name: str, origin: str | None, content: bytes) -> dict[str, str]:
    if not name or name in {".", ".."} or Path(name).name != name or not name.isprintable() or name.startswith("."):
        raise DataError(f"upload name {name!r} must be a plain file name (no directory, no leading '.')", key="name")
    sha = hashlib.sha256(content).hexdigest()
    target = upload_dir(root) / sha / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        _write_atomic(target, content)  # complete before anyone can read it by name
    if origin:
        _write_atomic(target.parent / f".{name}.origin", origin.encode())
    return {"path": str(target), "sha256": sha}


def _write_atomic(target: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.replace(tmp, target)


def callers_paths(root: Path, value: Any) -> Any:
    """``value`` (encoded JSON) with each uploaded file's path on the server named as its caller wrote it
    (``data list`` shows the ``source`` the caller typed, as it does locally). Without a recorded
    origin the server's path stays."""
    prefix = str(upload_dir(root)) + os.sep
    if isinstance(value, str):
        if prefix not in value:
            return value
        pattern = re.compile(re.escape(prefix) + r"([0-9a-f]{64})" + re.escape(os.sep) + r"([^\s'\"/]+)")
        return pattern.sub(lambda m: _origin(upload_dir(root) / m[1], m[2]) or m[0], value)
    if isinstance(value, list):
        return [callers_paths(root, v) for v in value]
    if isinstance(value, dict):
        return {k: callers_paths(root, v) for k, v in value.items()}
    return value


def _origin(folder: Path, name: str) -> str | None:
    try:
        return (folder / f".{name}.origin").read_text()
    except OSError:
        return None


def mount_contract(app: FastAPI) -> None:
    """Add every short route of ``tesla.routes.ROUTES`` and ``POST /uploads`` to ``app``."""
    for route in ROUTES:
        if route.job:
            continue
        app.add_api_route(route.path, _endpoint(route), methods=[route.method], tags=[route.service],
                          summary=route.summary, response_class=_MEDIA.get(route.media, JSONResponse),
                          description=f"Calls `Project.{route.call}`. Role: {route.needs}.",
                          openapi_extra={"x-tesla-call": route.call, "x-tesla-role": route.needs})

    async def upload(request: Request, project: Caller,
                     name: Annotated[str, Query(description="The file's original name (kept, so "
                                                "messages and formats read as the caller's file).")],
                     origin: Annotated[str | None, Query(description="The path as the caller wrote it; "
                                                         "answers name the upload so.")] = None) -> dict[str, str]:
        return _upload(project.root, name, origin, await request.body())

    app.add_api_route(UPLOADS_PATH, upload, methods=["POST"], tags=["uploads"],
                      summary="Upload a caller's input file (content-addressed under .tesla/uploads/).",
                      openapi_extra={"x-tesla-role": "write", "requestBody": {"required": True, "content": {
                          "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
