"""schemathesis over an ASGI app's own OpenAPI document, in-process, derandomized.

Both the serving app (tests/serving) and the REST server (tests/server) use it. It drives
``operation.as_strategy()`` with hypothesis directly: ``schemathesis.pytest.from_fixture`` breaks
on pytest 9.2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

__all__ = ["asgi_schema", "fuzz", "operations"]


def asgi_schema(app: Any) -> Any:
    """``app``'s document (``GET /openapi.json``), loaded so calls go to the app in-process, the same
    cases every run."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    loaded.config.generation.update(deterministic=True, database="none")
    return loaded


def operations(schema: Any) -> Iterator[tuple[str, str, Any]]:
    """``(METHOD, path, operation)`` for every operation the document describes."""
    for result in schema.get_all_operations():
        operation = result.ok()
        yield operation.method.upper(), operation.path, operation


def fuzz(operation: Any, mode: str, examples: int, checks: list[Callable[..., Any]] | None = None) -> None:
    """Send ``examples`` generated requests of ``mode`` (``positive``: requests that fit the document,
    ``negative``: requests that break it) to ``operation``; a failed check (by default: any 5xx) raises,
    with the shrunk request."""
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def check(case: Any) -> None:
        case.call_and_validate(checks=checks or [not_a_server_error])

    check()
