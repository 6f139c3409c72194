"""Request validation against a model signature: every bad field is named, nothing bad reaches the model."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FieldError", "json_schema", "row_schema", "validate_records"]

FieldError = dict[str, Any]  # {"loc": ["records", row, column], "msg": str}
_BOOL_TEXT = {"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1"}
_INF = (math.inf, -math.inf)
# tree models (scikit-learn, LightGBM, XGBoost) compute in 32-bit floats: a larger magnitude cannot reach them
FLOAT32_MAX = 3.4028234663852886e38


def _check_value(field: Mapping[str, Any], value: Any, unseen: str) -> str | None:
    kind = field["type"]
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number; got {type(value).__name__} {value!r}"
        if isinstance(value, float) and math.isinf(value):
            return "must be a finite number"
        if abs(value) > FLOAT32_MAX:
            return f"must be between -3.4e38 and 3.4e38 (the model computes in 32-bit floats); got {value:.3g}"
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
        if kind is float and -FLOAT32_MAX <= value <= FLOAT32_MAX and field["type"] == "numeric":
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


def _check_dates(name: str, cells: list[tuple[int, str]]) -> list[FieldError]:
    """The datetime strings of one column of one request: each must parse.

    The model reads dates as training did (``tesla.data.parse_datetimes``: UTC, naive values
    count as UTC, so one request may mix offsets); an unreadable value would silently become
    "no date", so it is refused here.
    """
    import pandas as pd

    from tesla.data import parse_datetimes

    try:
        parsed = parse_datetimes(pd.Series([v for _, v in cells], dtype=object))
    except (ValueError, OverflowError):
        parsed = pd.Series([pd.NaT] * len(cells))
    bad = parsed.isna().to_numpy().nonzero()[0]
    return [{"loc": ["records", cells[i][0], name], "msg": f"must be a date/time (e.g. 2024-03-01 or "
             f"2024-03-01T09:30:00+01:00); cannot read {cells[i][1][:60]!r}"} for i in bad]


def validate_records(records: Any, signature: Sequence[Mapping[str, Any]], *,
                     unseen: str = "error", max_errors: int = 100) -> list[FieldError]:
    """Every problem with ``records`` (a list of row dicts) against ``signature``.

    A column the signature marks ``nullable`` may be missing or null (the model fills it as in
    training); any other column must be present and non-null. A datetime column's strings must
    parse (any mix of UTC offsets; naive counts as UTC). Each error is
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
            return errors[:max_errors]
    for name in (f["name"] for f in signature if f["type"] == "datetime"):
        cells = [(i, row[name]) for i, row in enumerate(records)
                 if isinstance(row, Mapping) and isinstance(row.get(name), str)]
        if cells:
            errors += _check_dates(name, cells)
    return errors[:max_errors]


def _value_schema(f: Mapping[str, Any], unseen: str) -> dict[str, Any]:
    kind = f["type"]
    if kind == "numeric":
        return {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
    if kind == "boolean":
        return {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]}, {"type": "string", "enum": sorted(_BOOL_TEXT)}]}
    if kind == "categorical" and f.get("categories") is not None and unseen == "error":
        return {"type": "string", "enum": list(f["categories"])}
    if kind == "datetime":
        return {"type": "string", "format": "date-time",
                "description": "a date or date-time; offsets may differ (read as UTC, naive counts as UTC)"}
    return {"type": "string"}


def row_schema(signature: Sequence[Mapping[str, Any]], *, unseen: str = "error") -> dict[str, Any]:
    """JSON Schema of one row (an object mapping column to value) built from the signature."""
    props: dict[str, Any] = {}
    for f in signature:
        prop = _value_schema(f, unseen)
        props[f["name"]] = {"anyOf": [prop, {"type": "null"}]} if f.get("nullable") else prop
    required = [f["name"] for f in signature if not f.get("nullable")]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def json_schema(signature: Sequence[Mapping[str, Any]], *, unseen: str = "error") -> dict[str, Any]:
    """JSON Schema of a ``{"records": [...]}`` request built from the signature."""
    row = row_schema(signature, unseen=unseen)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"records": {"type": "array", "items": row, "minItems": 1}}, "required": ["records"]}
