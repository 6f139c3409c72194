"""Request validation against a model signature: every bad field is named, nothing bad reaches the model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FieldError", "json_schema", "validate_records"]

FieldError = dict[str, Any]  # {"loc": ["records", row, column], "msg": str}
_BOOL_TEXT = {"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1"}


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
            return f"unknown category {value!r}; expected one of {shown}"
        return None
    if not isinstance(value, str):  # datetime and text come as strings
        return f"must be a string; got {type(value).__name__}"
    return None


def validate_records(records: Any, signature: Sequence[Mapping[str, Any]], *,
                     unseen: str = "error", max_errors: int = 100) -> list[FieldError]:
    """Every problem with ``records`` (a list of row dicts) against ``signature``."""
    if not isinstance(records, list):
        return [{"loc": ["records"], "msg": "must be a list of objects (one per row)"}]
    if not records:
        return [{"loc": ["records"], "msg": "must hold at least one row"}]
    fields = {f["name"]: f for f in signature}
    errors: list[FieldError] = []
    for i, row in enumerate(records):
        if not isinstance(row, Mapping):
            errors.append({"loc": ["records", i], "msg": "must be an object mapping column to value"})
            continue
        for name in row:
            if name not in fields:
                errors.append({"loc": ["records", i, name], "msg": "unknown column; the model takes: "
                               + ", ".join(fields)})
        for name, field in fields.items():
            value = row.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                if name not in row and not field.get("nullable"):
                    errors.append({"loc": ["records", i, name], "msg": "required column is missing"})
                elif not field.get("nullable"):
                    errors.append({"loc": ["records", i, name], "msg": "must not be null"})
                continue
            problem = _check_value(field, value, unseen)
            if problem:
                errors.append({"loc": ["records", i, name], "msg": problem})
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
