"""The remote session: the same services as ``tesla.Project``, reached over a ``tesla server``.

``tesla.Project.connect(url, token=...)`` (or ``RemoteProject(url, token=...)``) returns an object
with ``.data .training .evaluation .deployments .monitoring .users`` whose methods take the same
arguments and return the same types as the local ones::

    project = tesla.Project.connect("http://build-box:8765", token=os.environ["TESLA_TOKEN"])
    project.data.load("iris.csv", "iris", target="target")     # the file is uploaded first
    result = project.training.train("iris-clf", max_iter=20)   # a TrainResult, as locally

Every method comes from the REST contract (``tesla/routes.py``); its answer is decoded with
``tesla.wire.decode`` and the local method's return annotation, so the two transports cannot
drift apart. A long operation is a server job: submitted to ``POST /jobs``, its events (server-sent)
feed the ``on_event`` / ``progress`` callback given here, as they would locally, and Ctrl-C cancels
it. An error answer is raised as the same ``TeslaError`` class with the same message; the server's
copy of an uploaded file is named as the caller's own path. Not reaching the server, a wrong URL, or
a missing, bad or too weak token is one ``TeslaError`` naming ``--remote`` / ``TESLA_SERVER`` /
``--token`` / ``TESLA_TOKEN``.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tesla import wire
from tesla.errors import AuthError, BackendError, NotSupportedError, PermissionDenied, TeslaError
from tesla.routes import CALLBACKS, UPLOADS_PATH, Route, by_call, method_of, returns

__all__ = ["SERVICES", "RemoteProject"]

SERVICES = ("data", "training", "evaluation", "deployments", "monitoring", "users")
_TERMINAL = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
_WHERE = "--remote / TESLA_SERVER"
_TOKEN = "--token / TESLA_TOKEN"


class RemoteProject:
    """A project behind a ``tesla server``: the five services (and users) over HTTP.

    Args:
        url: the server, e.g. ``http://build-box:8765``.
        token: an API token (``tesla tokens create USER`` on the server's project); needed once
            the project has users.
        timeout_s: how long one request may take (a job's event stream has no limit).
    """

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 300.0) -> None:
        import httpx  # lazy: only a remote session needs it

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers,
                                  timeout=httpx.Timeout(timeout_s, connect=10.0))
        for name in SERVICES:
            setattr(self, name, RemoteService(self, name))

    def __repr__(self) -> str:
        return f"RemoteProject({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteProject:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- one call of a service method -------------------------------------------------------------
    def call(self, route: Route, *args: Any, **kwargs: Any) -> Any:
        """Call ``route``'s service method on the server with the local method's arguments."""
        bound = inspect.signature(method_of(route.call)).bind(None, *args, **kwargs)  # None: self
        arguments = {k: v for k, v in bound.arguments.items() if k != "self"}
        callbacks = {k: arguments.pop(k) for k in CALLBACKS if k in arguments}
        local = {k: arguments.pop(k) for k in route.local if k in arguments}
        paths: dict[str, str] = {}  # the server's copy -> the caller's path, for messages
        for name in route.files:
            if _is_frame(arguments.get(name)):  # a DataFrame travels as the Parquet file of its rows
                arguments[name] = self._upload_frame(arguments[name])
            elif arguments.get(name) is not None and Path(arguments[name]).is_file():
                server = self._upload(Path(arguments[name]))
                paths[server] = str(arguments[name])
                arguments[name] = server
            # a path that is no file here travels as it is: the server's check names it as the caller wrote it
        params = {k: wire.encode(v) for k, v in arguments.items()}
        try:
            body = self._job(route, params, callbacks, paths) if route.job else self._request(route, params)
        except TeslaError as exc:
            raise _renamed(exc, paths) from None
        result = wire.decode(returns(route.call), _as_callers(body, paths))
        finish = _FINISH.get(route.call)
        return finish(result, local) if finish else _refuse_local(route, local, result)

    def _request(self, route: Route, params: dict[str, Any]) -> Any:
        path = route.path.format(**{k: params.pop(k) for k in route.path_params})
        if route.method in ("GET", "DELETE"):
            query = {k: v for k, v in params.items() if v is not None}
            return self._send(route.method, path, params=query, text=bool(route.media))
        return self._send(route.method, path, json=params, text=bool(route.media))

    def _send(self, method: str, path: str, *, text: bool = False, **kw: Any) -> Any:
        import httpx

        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise BackendError(f"cannot reach the Tesla server at {self.url} ({type(exc).__name__}: {exc}); check "
                               f"{_WHERE} and that `tesla server` runs there", key="remote") from None
        return self._answer(resp, f"{method} {path}", text=text)

    def _answer(self, resp: Any, what: str, *, text: bool = False) -> Any:
        if text and resp.status_code < 400:
            return resp.text  # a route whose answer is a page, not JSON (``Route.media``)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code < 400:
            if body is None and resp.content:
                raise BackendError(f"{self.url} answered {what} with no JSON (HTTP {resp.status_code}); is it a "
                                   f"Tesla server? check {_WHERE}", key="remote")
            return body
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict) or (
                body["error"].get("type") == "NotFound" and body["error"].get("key") == "path"):
            raise BackendError(f"{self.url} is not a Tesla server of this version (HTTP {resp.status_code} on "
                               f"{what}); check {_WHERE}", key="remote")
        exc = wire.error_from_body(body)
        if isinstance(exc, AuthError):
            raise AuthError(f"{exc.message} (the server at {self.url}; pass the token with {_TOKEN})",
                            key=exc.key) from None
        if isinstance(exc, PermissionDenied):
            raise PermissionDenied(f"{exc.message} (the token from {_TOKEN})", key=exc.key) from None
        raise exc

    def _upload(self, path: Path, origin: str | None = None) -> str:
        with path.open("rb") as f:
            content = f.read()
        answer = self._send("POST", UPLOADS_PATH, params={"name": path.name, "origin": origin or str(path)},
                            content=content, headers={"content-type": "application/octet-stream"})
        return str(answer["path"])

    def _upload_frame(self, frame: Any) -> str:
        import tempfile

        from tesla.services._common import frame_file

        with tempfile.TemporaryDirectory(prefix="tesla-frame-") as tmp, frame_file(frame, Path(tmp)) as path:
            return self._upload(path, origin="the DataFrame")

    # -- long operations: server jobs -------------------------------------------------------------
    def _job(self, route: Route, params: dict[str, Any], callbacks: dict[str, Any], paths: dict[str, str]) -> Any:
        job = self._send("POST", "/jobs", json={"kind": route.call, "params": params})
        try:
            final = self._follow(job["id"], callbacks, paths)
        except KeyboardInterrupt:
            self._send("POST", f"/jobs/{job['id']}/cancel")  # Ctrl-C here stops the work there
            raise
        return _outcome(final)

    def _follow(self, job_id: str, callbacks: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
        """Feed the job's events to the callbacks until its terminal status; reconnect from the last seen one."""
        import httpx

        from tesla.execution import Event

        seen, drops = 0, 0
        while True:
            try:
                with self._http.stream("GET", f"/jobs/{job_id}/events", params={"after": seen},
                                       timeout=httpx.Timeout(None, connect=10.0)) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        self._answer(resp, f"GET /jobs/{job_id}/events")
                    for seq, kind, raw in _sse(resp.iter_lines()):
                        seen, data = max(seen, seq), _as_callers(raw, paths)
                        if kind == "event" and callbacks.get("on_event"):
                            callbacks["on_event"](wire.decode(Event, data))
                        elif kind == "message" and callbacks.get("progress"):
                            callbacks["progress"](data.get("text", ""))
                        elif kind == "status" and data.get("status") in _TERMINAL:
                            return data
            except httpx.TransportError:
                drops += 1
                if drops > 5:
                    raise BackendError(f"lost the Tesla server at {self.url} while following job {job_id}; it "
                                       f"may still run: check {_WHERE}", key="remote") from None
            job = self._send("GET", f"/jobs/{job_id}")  # the stream ended early: maybe the job did too
            if job.get("status") in _TERMINAL:
                return job


class RemoteService:
    """One service of a ``RemoteProject``: its methods are the contract's routes for it."""

    def __init__(self, project: RemoteProject, name: str) -> None:
        self._project = project
        self._name = name

    def __repr__(self) -> str:
        return f"<remote {self._name} service of {self._project.url}>"

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        route = by_call().get(f"{self._name}.{method}")
        if route is None:
            raise NotSupportedError(f"'{self._name}.{method}' is not offered by the REST server; run it on the "
                                    f"server's project without {_WHERE}", key="remote")
        call = functools.partial(self._project.call, route)
        functools.update_wrapper(call, method_of(route.call))  # type: ignore[arg-type]  # same name, doc, signature
        return call


def _sse(lines: Iterator[str]) -> Iterator[tuple[int, str, Any]]:
    """(seq, event kind, JSON data) of each server-sent event."""
    seq, kind, data = 0, "message", []
    for line in lines:
        if not line:
            if data:
                yield seq, kind, json.loads("\n".join(data))
            kind, data = "message", []
        elif line.startswith("id:"):
            seq = int(line[3:].strip() or 0)
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield seq, kind, json.loads("\n".join(data))


def _outcome(job: dict[str, Any]) -> Any:
    """A finished job's result, or its error raised."""
    status = job.get("status")
    if status == "succeeded":
        return job.get("result")
    if status == "failed":
        raise wire.error_from_body({"error": job.get("error") or {}})
    raise BackendError(f"server job {job.get('id')} was {status} before it finished; run the command again (steps "
                       "that finished are cached)", key="job")


def _as_callers(value: Any, paths: dict[str, str]) -> Any:
    """``value`` with every server copy of an uploaded file named by the caller's path."""
    if not paths:
        return value
    if isinstance(value, str):
        for server, mine in paths.items():
            value = value.replace(server, mine)
        return value
    if isinstance(value, list):
        return [_as_callers(v, paths) for v in value]
    if isinstance(value, dict):
        return {k: _as_callers(v, paths) for k, v in value.items()}
    return value


def _renamed(exc: TeslaError, paths: dict[str, str]) -> TeslaError:
    if not paths:
        return exc
    return type(exc)(_as_callers(exc.message, paths), key=_as_callers(exc.key, paths))


def _refuse_local(route: Route, local: dict[str, Any], result: Any) -> Any:
    given = [k for k, v in local.items() if v is not None]
    if given:
        raise NotSupportedError(f"'{given[0]}' names a file on this machine, which '{route.call}' through a server "
                                f"cannot write; leave it out (the server writes its default) or run without {_WHERE}",
                                key=given[0])
    return result


def _is_frame(value: Any) -> bool:
    from tesla.services._common import is_frame

    return is_frame(value)


def _predicted(result: Any, local: dict[str, Any]) -> Any:
    """``evaluation.predict``: the DataFrame rebuilt here, and written here when ``output`` was asked for."""
    import pandas as pd

    from tesla.services._common import output_file, write_table

    columns = result or {}
    frame = pd.DataFrame({c: list(values.values()) for c, values in columns.items()})
    output = local.get("output")
    if output is not None:
        write_table(frame, output_file(output))
    return frame


_FINISH: dict[str, Callable[[Any, dict[str, Any]], Any]] = {"evaluation.predict": _predicted}
