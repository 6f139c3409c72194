"""Request validation against a model signature: every bad field is named, nothing bad reaches the model."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FieldError", "json_schema", "validate_records"]

FieldError = dict[str, Any]  # {"loc": ["records", row, column], "msg": str}
_BOOL_TEXT = {"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1"}
_INF = (math.inf, -math.inf)


def _check_value(field: Mapping[str, Any], value: Any, unseen: str) -> str | None:
    kind = field["type"]
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number; got {type(value).__name__} {value!r}"
        if isinstance(value, float) and math.isinf(value):
            return "must be a finite number"
        return None
    if kind == "boolean":
        if isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 1)):
            return None
        if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
            return None
        return f"must be a boolean; got {value!r}"
    if kind == "categorical":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return f"must be a category (string); got {type(value).__name__}"
        cats = field.get("categories")
        if unseen == "error" and cats is not None and str(value) not in cats:
            shown = ", ".join(map(repr, cats[:10])) + (" ..." if len(cats) > 10 else "")
            return (f"unknown category {value!r}; expected one of {shown} (deploy.unseen_category=unknown "
                    "maps new categories to 'unknown' instead)")
        return None
    if not isinstance(value, str):  # datetime and text come as strings
        return f"must be a string; got {type(value).__name__}"
    return None


def _unknown_column(name: Any, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), names, n=1)
    if close:
        return f"unknown column; did you mean '{close[0]}'?"
    shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
    return f"unknown column; the model takes: {shown}"


def _check_row(i: int, row: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]], unseen: str,
               categories: Mapping[str, frozenset[str]]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in row:
        if name not in fields:
            errors.append({"loc": ["records", i, name], "msg": _unknown_column(name, list(fields))})
    for name, field in fields.items():
        value = row.get(name)
        kind = type(value)
        if kind is float and value == value and value not in _INF and field["type"] == "numeric":
            continue  # the common case, checked without the general path
        if kind is str and name in categories and value in categories[name]:
            continue
        if value is None or (kind is float and math.isnan(value)):
            if not field.get("nullable"):
                msg = "required column is missing" if name not in row else "must not be null"
                errors.append({"loc": ["records", i, name], "msg": msg})
            continue
        problem = _check_value(field, value, unseen)
        if problem:
            errors.append({"loc": ["records", i, name], "msg": problem})
    return errors


def validate_records(records: Any, signature: Sequence[Mapping[str, Any]], *,
                     unseen: str = "error", max_errors: int = 100) -> list[FieldError]:
    """Every problem with ``records`` (a list of row dicts) against ``signature``.

    A column the signature marks ``nullable`` may be missing or null (the model fills it as in
    training); any other column must be present and non-null. Each error is
    ``{"loc": ["records", row, column], "msg": ...}``; at most ``max_errors`` are returned.
    """
    if not isinstance(records, list):
        return [{"loc": ["records"], "msg": "must be a list of objects (one per row)"}]
    if not records:
        return [{"loc": ["records"], "msg": "must hold at least one row"}]
    fields = {f["name"]: f for f in signature}
    categories = {f["name"]: frozenset(map(str, f["categories"])) for f in signature
                  if f["type"] == "categorical" and f.get("categories") is not None}
    errors: list[FieldError] = []
    for i, row in enumerate(records):
        if not isinstance(row, Mapping):
            errors.append({"loc": ["records", i], "msg": "must be an object mapping column to value"})
        else:
            errors += _check_row(i, row, fields, unseen, categories)
        if len(errors) >= max_errors:
            break
    return errors[:max_errors]


def json_schema(signature: Sequence[Mapping[str, Any]], *, unseen: str = "error") -> dict[str, Any]:
    """JSON Schema of a ``{"records": [...]}`` request built from the signature."""
    props: dict[str, Any] = {}
    for f in signature:
        kind = f["type"]
        if kind == "numeric":
            prop: dict[str, Any] = {"type": "number"}
        elif kind == "boolean":
            prop = {"type": ["boolean", "string", "integer"]}
        elif kind == "categorical" and f.get("categories") is not None and unseen == "error":
            prop = {"type": "string", "enum": list(f["categories"])}
        elif kind == "datetime":
            prop = {"type": "string", "format": "date-time"}
        else:
            prop = {"type": "string"}
        if f.get("nullable"):
            prop = {"anyOf": [prop, {"type": "null"}]}
        props[f["name"]] = prop
    required = [f["name"] for f in signature if not f.get("nullable")]
    row = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"records": {"type": "array", "items": row, "minItems": 1}}, "required": ["records"]}
