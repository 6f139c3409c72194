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

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tesla.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMN_TYPES", "MAX_CATEGORIES", "MIN_TRAINING_ROWS", "check_columns", "check_training_data", "inf_warning",
           "infer_schema", "infer_task", "parse_datetimes", "refuse_target", "string_kind"]

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
    return string_kind(values.unique().tolist(), values.head(200).tolist(), len(values))


def string_kind(distinct: Sequence[str], sample: Sequence[str], present: int) -> str:
    """boolean, datetime, categorical or text for a column of strings.

    Args:
        distinct: its distinct non-missing values, in order of first appearance.
        sample: its first 200 non-missing values (sniffed for dates).
        present: how many values are not missing.
    """
    if not present:
        return "categorical"
    uniques = {v.lower() for v in distinct}
    if len(uniques) <= 2 and uniques <= _BOOL_WORDS:
        return "boolean"
    if sample and _looks_like_dates(sample):
        return "datetime"
    n_unique = len(distinct)
    if n_unique <= 100 or (n_unique <= MAX_CATEGORIES and n_unique / present <= 0.2):
        return "categorical"
    return "text"


def _looks_like_dates(sample: Sequence[str]) -> bool:
    pattern = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}/\d{1,2}/\d{2,4}")
    if sum(bool(pattern.match(v)) for v in sample) / len(sample) <= 0.95:
        return False
    import pandas as pd  # lazy: only a column that looks like dates pays for parsing them

    return bool(parse_datetimes(pd.Series(list(sample), dtype=object)).notna().mean() > 0.95)


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

    rows = np.flatnonzero(mask.to_numpy()).tolist()
    return _rows_text(rows[:3], len(rows))


def _rows_text(first: Sequence[int], count: int) -> str:
    """'rows 3, 7 and 2 more' from the first three (0-based) rows and how many there are."""
    shown = ", ".join(str(r + 1) for r in first[:3])
    return f"row{'s' if count > 1 else ''} {shown}" + (f" and {count - 3} more" if count > 3 else "")


def inf_warning(name: str, first: Sequence[int], count: int) -> str:
    """The load warning for a feature holding ±inf at ``count`` rows, the first (0-based) ones given."""
    return (f"warning: column '{name}' holds inf/-inf at {_rows_text(first, count)}; they count as "
            "missing values (imputed with the training median)")


def refuse_target(target: str, where: str, *, present: int, inf_rows: Sequence[int], inf_count: int,
                  n_unique: int, first: Any, min_rows: int = 2) -> None:
    """The refusals of a target column no model can learn from, from counts of its values.

    Args:
        target: the label column.
        where: how messages name the table.
        present: its values that are not missing.
        inf_rows: the first (0-based) rows holding ±inf; ``inf_count`` how many do.
        n_unique: its distinct values; ``first`` the first of them.
        min_rows: the fewest labelled rows accepted.

    Raises:
        DataError: as ``check_training_data`` words it.
    """
    if not present:
        raise DataError(f"target '{target}' in {where} has no values (every row is empty); "
                        "fill in the labels or pick another --target", key=target)
    if inf_count:
        raise DataError(f"target '{target}' in {where} holds inf/-inf at {_rows_text(inf_rows, inf_count)}; "
                        "replace or drop those rows", key=target)
    labelled = present
    if labelled < min_rows:
        raise DataError(f"{where} has {labelled} labelled row{'s' if labelled != 1 else ''}; training needs "
                        f"at least {MIN_TRAINING_ROWS} (some are held out to score the model)", key=target)
    if n_unique < 2:
        raise DataError(f"target '{target}' in {where} has a single value ('{first}'); "
                        "a model needs two or more classes (or varying values) to learn", key=target)


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
    import numpy as np

    if target is not None:
        label = df[target]
        infinite = np.flatnonzero(_infinite(label).to_numpy()).tolist()
        present = int(label.notna().sum())
        first = label.dropna().iloc[0] if present else None
        refuse_target(target, where, present=present, inf_rows=infinite[:3], inf_count=len(infinite),
                      n_unique=int(label.nunique()), first=first, min_rows=min_rows)
    warnings = []
    for name in df.columns:
        if name == target:
            continue
        infinite = np.flatnonzero(_infinite(df[name]).to_numpy()).tolist()
        if infinite:
            warnings.append(inf_warning(name, infinite[:3], len(infinite)))
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
