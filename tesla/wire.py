"""Service results as JSON and back: what the REST server sends and the remote client rebuilds.

One rule both transports follow, so a result read over HTTP is the object the in-process call
returns: ``encode`` turns dataclasses, plans, paths, datetimes and numpy scalars into JSON values;
``decode(type_hint, value)`` rebuilds the value the annotation names (the service method's return
annotation is the one source of truth)::

    body = encode(project.data.load("iris.csv", "iris"))        # server side
    result = decode(LoadResult, body)                           # client side: a LoadResult again

Floats that JSON cannot carry (NaN, +-inf) travel as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` and come back as floats wherever the annotation says ``float``. Errors travel as
``{"error": {"type", "message", "key"}}``; ``error_from_body`` rebuilds the ``TeslaError``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from tesla.errors import TeslaError

__all__ = ["decode", "encode", "error_body", "error_from_body"]

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (dicts, lists, strings, numbers, booleans, None)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return encode(value.to_dict())
    if isinstance(value, Enum):
        return encode(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    item = getattr(value, "item", None)  # numpy / pandas scalars
    if callable(item):
        return encode(item())
    if hasattr(value, "tolist"):  # numpy arrays
        return encode(value.tolist())
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def decode(hint: Any, value: Any) -> Any:
    """Rebuild ``value`` (JSON data from ``encode``) as the type ``hint`` names."""
    if hint is Any or hint is object or hint is None:
        return value
    if isinstance(hint, str):
        raise TypeError(f"unresolved annotation {hint!r}: pass the type, not its name")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        if len(arms) == 1:
            return decode(arms[0], value)
        for arm in arms:  # first arm the value fits (e.g. str | Path: the value stays a str)
            if _fits(arm, value):
                return decode(arm, value)
        return value
    if origin is typing.Literal:
        return value
    if value is None:
        return None
    if origin in (list, set, frozenset) or origin is typing.get_origin(typing.Sequence[int]):
        inner = args[0] if args else Any
        items = [decode(inner, v) for v in value]
        return items if origin not in (set, frozenset) else origin(items)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in value)
        return tuple(decode(a, v) for a, v in zip(args, value, strict=True)) if args else tuple(value)
    if origin in (dict, Mapping) or origin is typing.get_origin(typing.Mapping[str, int]):
        vt = args[1] if len(args) == 2 else Any
        return {k: decode(vt, v) for k, v in value.items()}
    if not isinstance(hint, type):
        return value  # TypeVars, NewTypes, callables: nothing to rebuild
    if hint is float:
        return _NON_FINITE[value] if isinstance(value, str) else float(value)
    if hint in (int, str, bool):
        return value
    if dataclasses.is_dataclass(hint):
        fields = _field_types(hint)
        kwargs = {name: decode(tp, value[name]) for name, tp in fields.items() if name in value}
        return hint(**kwargs)
    from_dict = getattr(hint, "from_dict", None)
    if callable(from_dict):
        return from_dict(value)
    if issubclass(hint, PurePath):
        return hint(value)
    if issubclass(hint, dt.datetime):
        return dt.datetime.fromisoformat(value)
    if issubclass(hint, dt.date):
        return dt.date.fromisoformat(value)
    if issubclass(hint, Enum):
        return hint(value)
    return value


def _fits(hint: Any, value: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple, set, frozenset):
        return isinstance(value, list)
    if origin in (dict, Mapping) or dataclasses.is_dataclass(origin):
        return isinstance(value, dict)
    if origin is float:
        return isinstance(value, (int, float)) or value in _NON_FINITE
    if origin in (int, str, bool):
        return isinstance(value, origin)
    if isinstance(origin, type) and issubclass(origin, Path):
        return isinstance(value, str)
    return True


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def error_body(exc: TeslaError) -> dict[str, Any]:
    """The wire form of a ``TeslaError``: ``{"error": {"type", "message", "key"}}``."""
    return {"error": {"type": type(exc).__name__, "message": exc.message, "key": exc.key}}


def error_from_body(body: Mapping[str, Any]) -> TeslaError:
    """The ``TeslaError`` an error body describes: the same class (by name) where Tesla has one."""
    err = body.get("error") or {}
    cls = _error_classes().get(str(err.get("type")), TeslaError)
    return cls(str(err.get("message") or "the server gave no reason"), key=err.get("key"))


def _error_classes() -> dict[str, type[TeslaError]]:
    import tesla.serving.payload  # noqa: F401 - PayloadError and its subclasses live there

    found: dict[str, type[TeslaError]] = {}
    todo: list[type[TeslaError]] = [TeslaError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found
