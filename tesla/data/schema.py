"""Schema inference (each column becomes numeric, categorical, boolean, datetime or text) and the
value rules every reader shares.

Two rules hold wherever Tesla turns raw values into features (load, train, evaluate, predict
and the server), so a row means the same thing in each:

- datetimes are parsed to UTC (``parse_datetimes``): one column may mix offsets
  (``+01:00``, ``-05:00``) and naive values, which count as UTC, as ``pd.to_datetime(utc=True)``;
- ``inf``/``-inf`` in a numeric feature is a missing value (imputed like NaN), reported once at
  load (``check_training_data``); in the target it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tesla.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMN_TYPES", "MIN_TRAINING_ROWS", "check_columns", "check_training_data", "infer_schema",
           "infer_task", "parse_datetimes"]

COLUMN_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")
_BOOL_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f"}
MAX_CATEGORIES = 1000  # a string column with more distinct values (and mostly unique) is text
MIN_TRAINING_ROWS = 10  # fewer labelled rows cannot be split into training and held-out rows


def parse_datetimes(values: pd.Series) -> pd.Series:
    """Timestamps in UTC; unparseable values become NaT, naive ones count as UTC."""
    import pandas as pd

    return pd.to_datetime(values, errors="coerce", format="mixed", utc=True)


def _string_kind(col: pd.Series) -> str:
    values = col.dropna().astype(str)
    if values.empty:
        return "categorical"
    uniques = set(values.str.lower().unique()[:10])
    if len(uniques) <= 2 and uniques <= _BOOL_WORDS:
        return "boolean"
    sample = values.head(200)
    if sample.str.contains(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}/\d{1,2}/\d{2,4}", regex=True).mean() > 0.95:
        parsed = parse_datetimes(sample)
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


def _rows(mask: pd.Series) -> str:
    """'rows 3, 7 and 2 more' (1-based data rows) for a boolean mask."""
    import numpy as np

    rows = (np.flatnonzero(mask.to_numpy()) + 1).tolist()
    shown = ", ".join(map(str, rows[:3]))
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")


def _infinite(col: pd.Series) -> pd.Series:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return pd.Series(False, index=col.index)
    return pd.Series(np.isinf(col.to_numpy(dtype="float64", na_value=np.nan)), index=col.index)


def check_training_data(df: pd.DataFrame, target: str | None, where: str, *, min_rows: int = 2) -> list[str]:
    """Refuse a table no model can learn from; return one warning line per feature holding ±inf.

    Args:
        df: the table as read.
        target: the label column (already known to be in ``df``), or None when not known yet.
        where: how messages name the table (a file or a dataset version).
        min_rows: the fewest labelled rows accepted: 2 to record a dataset version (one row is
            no dataset), ``MIN_TRAINING_ROWS`` to train on it.

    Returns:
        Warning lines, one per numeric feature holding ``inf``/``-inf`` (treated as missing).

    Raises:
        DataError: the target is empty, holds ±inf or a single class, or there are too few rows.
    """
    if target is not None:
        label = df[target]
        if label.isna().all():
            raise DataError(f"target '{target}' in {where} has no values (every row is empty); "
                            "fill in the labels or pick another --target", key=target)
        infinite = _infinite(label)
        if infinite.any():
            raise DataError(f"target '{target}' in {where} holds inf/-inf at {_rows(infinite)}; "
                            "replace or drop those rows", key=target)
        labelled = int(label.notna().sum())
        if labelled < min_rows:
            raise DataError(f"{where} has {labelled} labelled row{'s' if labelled != 1 else ''}; training needs "
                            f"at least {MIN_TRAINING_ROWS} (some are held out to score the model)", key=target)
        if label.nunique() < 2:
            raise DataError(f"target '{target}' in {where} has a single value ('{label.dropna().iloc[0]}'); "
                            "a model needs two or more classes (or varying values) to learn", key=target)
    warnings = []
    for name in df.columns:
        infinite = _infinite(df[name]) if name != target else None
        if infinite is not None and infinite.any():
            warnings.append(f"warning: column '{name}' holds inf/-inf at {_rows(infinite)}; they count as "
                            "missing values (imputed with the training median)")
    return warnings


def check_columns(df: pd.DataFrame, signature: Sequence[Mapping[str, Any]], where: str) -> None:
    """Refuse rows a model cannot score: a feature column missing, or text in a numeric feature.

    Args:
        df: the rows as read.
        signature: the model's input features (``name`` and ``type`` each), as its manifest lists them.
        where: how messages name the rows (a file).

    Raises:
        DataError: naming the first missing column, or the numeric column and its first bad value.
    """
    import pandas as pd

    names = [f["name"] for f in signature]
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise DataError(f"{where} lacks the feature column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(c) for c in missing)} the model was trained on; add "
                        f"{'them' if len(missing) > 1 else 'it'} (the model takes: {', '.join(names)})",
                        key=missing[0])
    for f in signature:
        col = df[f["name"]]
        if f["type"] != "numeric" or pd.api.types.is_numeric_dtype(col):
            continue
        bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
        if bad.any():
            raise DataError(f"column '{f['name']}' in {where} must be numeric, as in training; "
                            f"{_rows(bad)} hold{'s' if bad.sum() == 1 else ''} {col[bad].iloc[0]!r}",
                            key=f["name"])
