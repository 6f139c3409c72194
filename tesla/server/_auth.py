"""Who is calling: the one FastAPI dependency every service route takes, giving the request its ``Project``.

``Authorization: Bearer <token>`` is checked when the project's store has at least one user, or
when the server was told to require it (``tesla server`` bound off loopback: removing the last
user then locks the server instead of opening it). A GET needs role ``read``; anything else
(POST, DELETE) needs ``write``, unless the route says otherwise (``caller_with``: users and tokens need
``admin``). A missing, unknown or revoked token is a 401 ``AuthError``, a role
too low a 403 ``PermissionDenied``, both in the one error shape (``_errors.py``). The session the
route gets acts as the token's user, so what it writes records who made it. With no users and
loopback only, requests need no token and act as the user who started the server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tesla.project import Project

__all__ = ["READ_METHODS", "Caller", "caller_project", "caller_with", "document_auth"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # need role "read"; any other method needs "write"

_bearer = HTTPBearer(auto_error=False, scheme_name="token",
                     description="An API token made with `tesla tokens create USER` (needed once the project "
                                 "has users).")


def caller_project(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Project:
    """The ``Project`` of the app's project (``app.state.project``), acting for the request's caller.

    Raises:
        AuthError: auth is on and the request has no valid token.
        PermissionDenied: the token's user has too low a role for the request's method.
    """
    return _session(request, credentials, "read" if request.method in READ_METHODS else "write")


def _session(request: Request, credentials: HTTPAuthorizationCredentials | None, needed: str) -> Project:
    project = Project(request.app.state.project)
    users = project.users
    if request.app.state.require_auth or users.auth_required():
        user = users.authenticate(credentials.credentials if credentials else None)
        users.authorize(user, needed, f"{request.method} {request.url.path}")
        project.act_as(user.name)
    return project


Caller = Annotated[Project, Depends(caller_project)]  # a route's parameter: its caller's project session


def caller_with(role: str) -> Any:
    """A route parameter like ``Caller`` whose token needs ``role`` whatever the HTTP method (a POST that
    only reads, e.g. a plan's cache status, needs ``read``; users and tokens need ``admin``)."""

    def caller(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Project:
        return _session(request, credentials, role)

    return Annotated[Project, Depends(caller)]


def document_auth(app: FastAPI) -> None:
    """Say in the OpenAPI document when the token is optional: on a server not told to require it
    (loopback), every route also takes no credentials (``security: [{token}, {}]``) until the
    project has a user. Bound off loopback the document says the token is required, as it is."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        if not app.state.require_auth:
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict) and operation.get("security"):
                        operation["security"].append({})
        return document

    app.openapi = openapi  # type: ignore[method-assign]
