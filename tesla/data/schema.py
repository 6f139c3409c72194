"""Schema inference: each column becomes numeric, categorical, boolean, datetime or text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMN_TYPES", "infer_schema", "infer_task"]

COLUMN_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")
_BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f"}
MAX_CATEGORIES = 1000  # a string column with more distinct values (and mostly unique) is text


def _string_kind(col: pd.Series) -> str:
    import pandas as pd

    values = col.dropna().astype(str)
    if values.empty:
        return "categorical"
    uniques = set(values.str.lower().unique()[:10])
    if len(uniques) <= 2 and uniques <= _BOOL_WORDS:
        return "boolean"
    sample = values.head(200)
    if sample.str.contains(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}/\d{1,2}/\d{2,4}", regex=True).mean() > 0.95:
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
        if parsed.notna().mean() > 0.95:
            return "datetime"
    n_unique = values.nunique()
    if n_unique <= 100 or (n_unique <= MAX_CATEGORIES and n_unique / len(values) <= 0.2):
        return "categorical"
    return "text"


def _column_kind(col: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return "boolean"
    if pd.api.types.is_numeric_dtype(col):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(col):
        return "datetime"
    return _string_kind(col)


def infer_schema(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Column name -> {type, dtype, nullable, n_unique, [categories]} in column order."""
    schema: dict[str, dict[str, Any]] = {}
    for name in df.columns:
        col = df[name]
        kind = _column_kind(col)
        entry: dict[str, Any] = {"type": kind, "dtype": str(col.dtype),
                                 "nullable": bool(col.isna().any()), "n_unique": int(col.nunique())}
        if kind in {"categorical", "boolean"} and entry["n_unique"] <= MAX_CATEGORIES:
            entry["categories"] = sorted(col.dropna().astype(str).unique().tolist())
        schema[str(name)] = entry
    return schema


def infer_task(target: pd.Series) -> str:
    """binary, multiclass or regression from the target's values."""
    import pandas as pd

    values = target.dropna()
    n_unique = values.nunique()
    if n_unique <= 2:
        return "binary"
    if pd.api.types.is_float_dtype(values) and not (values == values.round()).all():
        return "regression"
    if pd.api.types.is_numeric_dtype(values) and n_unique > 20:
        return "regression"
    return "multiclass"
