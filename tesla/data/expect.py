"""What a new dataset version is held to: a declared schema and expectations, the previous version's schema,
and the warnings about columns no model should learn from.

- **Declared** (``conf/data/NAME.yaml``: ``schema`` per column, ``expect`` for the table; see
  ``tesla.config.schema.DataConfig``; ``tesla.services.data.declaration`` reads it): every rule is checked over the whole staged Parquet file, one
  column at a time (so memory is one column, not the table), and every broken rule is listed with its
  count and example rows; any of them refuses the load and nothing is stored.
- **Not declared**: the current version's inferred schema is the reference; a type change, an added or
  removed column and new categories are reported (and not refused).
- **Warnings**, declared or not: a feature equal to or a function of the target (leakage), a column that
  is a row index, a constant column. They are computed on the first ``SAMPLE_ROWS`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SAMPLE_ROWS", "column_warnings", "enforce", "schema_changes"]

SAMPLE_ROWS = 200_000  # rows the leakage and index checks look at
_MIN_LEAK_ROWS = 20  # fewer rows: only an exact copy of the target is called leakage
_INDEX_NAMES = {"index", "level_0"}


# -- the declared rules ------------------------------------------------------------------------------------
def enforce(parquet: Path, schema: Mapping[str, Mapping[str, Any]], rows: int, declared: Mapping[str, Any],
            where: str, origin: str) -> list[str]:
    """Check the staged version against its declaration.

    Args:
        parquet: the staged canonical Parquet file.
        schema: its inferred schema (column -> type entry).
        rows: its row count.
        declared: the ``declaration`` (``schema`` and ``expect``).
        where: how the message names the input (a file, a URL, a query).
        origin: the declaration's file, for the message.

    Returns:
        Warning lines (undeclared columns when ``expect.other_columns`` is ``warn``).

    Raises:
        DataError: one summary line, then one line per broken rule with its count and example rows.
    """
    expect, columns = declared["expect"], declared["schema"]
    problems: list[str] = []
    if expect["min_rows"] is not None and rows < expect["min_rows"]:
        problems.append(f"rows: {rows}, fewer than expect.min_rows {expect['min_rows']}")
    if expect["max_rows"] is not None and rows > expect["max_rows"]:
        problems.append(f"rows: {rows}, more than expect.max_rows {expect['max_rows']}")
    missing = [c for c in [*columns, *expect["key"]] if c not in schema]
    problems += [f"{c}: declared but missing from the data" for c in dict.fromkeys(missing)]
    others = [c for c in schema if c not in columns and c not in expect["key"]] if columns else []
    warnings = []
    if others and expect["other_columns"] == "refuse":
        problems.append(f"columns not in the declared schema: {', '.join(others)} (declare them, or set "
                        "data.expect.other_columns: warn)")
    elif others and expect["other_columns"] == "warn":
        warnings.append(f"warning: columns not in the declared schema of {origin}: {', '.join(others)}")
    for name, rules in columns.items():
        if name in schema:
            problems += _column_problems(parquet, name, schema[name], rules)
    present_key = [c for c in expect["key"] if c in schema]
    if present_key and len(present_key) == len(expect["key"]):
        problems += _key_problems(parquet, present_key)
    if problems:
        raise DataError(f"{where} breaks the declared schema ({origin}): {len(problems)} problem"
                        f"{'s' if len(problems) > 1 else ''}; nothing was stored\n"
                        + "\n".join(f"  {p}" for p in problems), key=origin)
    return warnings


def _column_problems(parquet: Path, name: str, inferred: Mapping[str, Any], rules: Mapping[str, Any]) -> list[str]:
    import pandas as pd

    problems = []
    if rules["type"] and inferred["type"] != rules["type"]:
        problems.append(f"{name}: type {inferred['type']} (dtype {inferred['dtype']}), declared {rules['type']}")
    col = _column(parquet, name)
    checks: list[tuple[str, pd.Series]] = []
    if not rules["nullable"]:
        checks.append(("missing values (declared nullable: false)", col.isna()))
    numeric = pd.to_numeric(col, errors="coerce") if rules["min"] is not None or rules["max"] is not None else None
    if numeric is not None and rules["min"] is not None:
        checks.append((f"values below min {rules['min']:g}", numeric < rules["min"]))
    if numeric is not None and rules["max"] is not None:
        checks.append((f"values above max {rules['max']:g}", numeric > rules["max"]))
    if rules["allowed"]:
        allowed = {str(v) for v in rules["allowed"]}
        checks.append((f"values not in allowed [{', '.join(sorted(allowed))}]",
                       col.notna() & ~col.map(_text).isin(allowed)))
    if rules["unique"]:
        checks.append(("repeated values (declared unique)", col.notna() & col.duplicated(keep="first")))
    for what, mask in checks:
        if mask.any():
            problems.append(f"{name}: {int(mask.sum())} {what}{_examples(col, mask)}")
    return problems


def _key_problems(parquet: Path, key: Sequence[str]) -> list[str]:
    import pyarrow.parquet as pq

    frame = pq.read_table(parquet, columns=list(key)).to_pandas()
    repeated = frame.duplicated(keep="first")
    if not repeated.any():
        return []
    first = frame[repeated].head(3).to_dict("records")
    rows = ", ".join(str(i + 1) for i in frame.index[repeated][:3])
    return [f"key ({', '.join(key)}): {int(repeated.sum())} rows repeat a key (rows {rows}: "
            f"{', '.join(str(r) for r in first)})"]


def _column(parquet: Path, name: str) -> pd.Series:
    import pyarrow.parquet as pq

    return pq.read_table(parquet, columns=[name]).column(0).to_pandas()


def _text(value: Any) -> str:
    """A value as the text ``allowed`` lists it in (``1.0`` read from CSV as float still matches ``1``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _examples(col: pd.Series, mask: pd.Series) -> str:
    import numpy as np

    rows = np.flatnonzero(mask.to_numpy())[:3]
    values = ", ".join(repr(_plain(v)) for v in col.iloc[rows])
    return f" (row{'s' if len(rows) > 1 else ''} {', '.join(str(r + 1) for r in rows)}: {values})"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# -- against the current version -------------------------------------------------------------------------
def schema_changes(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """How ``new`` differs from ``old``: added and removed columns, type changes, new categories (one line each)."""
    lines = []
    added, removed = [c for c in new if c not in old], [c for c in old if c not in new]
    if added:
        lines.append(f"added column{'s' if len(added) > 1 else ''}: {', '.join(added)}")
    if removed:
        lines.append(f"removed column{'s' if len(removed) > 1 else ''}: {', '.join(removed)}")
    for name in (c for c in new if c in old):
        a, b = old[name], new[name]
        if a["type"] != b["type"]:
            lines.append(f"column '{name}' changed type: {a['type']} -> {b['type']}")
        elif a.get("categories") is not None and b.get("categories") is not None:
            fresh = sorted(set(b["categories"]) - set(a["categories"]))
            if fresh:
                shown = ", ".join(repr(v) for v in fresh[:5]) + (f" and {len(fresh) - 5} more" if len(fresh) > 5 else "")
                lines.append(f"column '{name}' has new categor{'ies' if len(fresh) > 1 else 'y'}: {shown}")
    return lines


# -- warnings about columns ------------------------------------------------------------------------------
def column_warnings(parquet: Path, schema: Mapping[str, Mapping[str, Any]], target: str | None) -> list[str]:
    """Warnings naming columns: constant, a row index, a copy or function of the target (leakage)."""
    lines = []
    for name, entry in schema.items():
        empty, constant = entry["n_unique"] == 0, entry["n_unique"] == 1 and not entry["nullable"]
        if name != target and (empty or constant):
            lines.append(f"warning: column '{name}' has {'no values' if empty else 'one value in every row'}; "
                         "it carries no information (drop it, or list it in data.exclude)")
    sample = _sample(parquet)
    for name in sample.columns:
        if name != target and _is_index(name, sample[name]):
            lines.append(f"warning: column '{name}' looks like a row index (a written pandas index, or 0, 1, 2, ... "
                         "in order); drop it or "
                         "list it in data.exclude: as a feature it only teaches the row order")
    if target is not None and target in sample.columns:
        for name in sample.columns:
            if name != target and schema[name]["n_unique"] > 1:
                leak = _leak(sample[name], sample[target])
                if leak:
                    lines.append(f"warning: column '{name}' {leak} the target '{target}': a model would learn "
                                 "the answer from it (leakage); drop it or list it in data.exclude")
    return lines


def _sample(parquet: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    batches, rows = [], 0
    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=65_536):
        batches.append(batch)
        rows += len(batch)
        if rows >= SAMPLE_ROWS:
            break
    return pa.Table.from_batches(batches).slice(0, SAMPLE_ROWS).to_pandas()


def _is_index(name: str, col: pd.Series) -> bool:
    import numpy as np
    import pandas as pd

    lowered = str(name).lower()
    if (lowered in _INDEX_NAMES or lowered.startswith("unnamed: ")) and col.is_unique:
        return True  # what pandas' to_csv writes as the index, under an empty header
    if not pd.api.types.is_integer_dtype(col) or len(col) < 3:
        return False
    start = int(col.iloc[0])
    return start in (0, 1) and bool(np.array_equal(col.to_numpy(), np.arange(start, start + len(col))))


def _leak(feature: pd.Series, target: pd.Series) -> str | None:
    """How ``feature`` gives the target away, or None: equal to it, one value per class, or a linear function."""
    import pandas as pd

    rows = pd.DataFrame({"f": feature.map(_text, na_action="ignore"),
                         "t": target.map(_text, na_action="ignore")}).dropna()
    if len(rows) < 2:
        return None
    if (rows["f"] == rows["t"]).all():
        return "is a copy of"
    if len(rows) < _MIN_LEAK_ROWS:  # a small table matches by chance
        return None
    n_f, n_t = rows["f"].nunique(), rows["t"].nunique()
    if 1 < n_t <= len(rows) // 2 and (rows.groupby("t")["f"].nunique() == 1).all():
        return "is a function of (one value per target value)"
    if 1 < n_f <= min(50, len(rows) // 10) and n_t > 1 and (rows.groupby("f")["t"].nunique() == 1).all():
        return "determines"
    if pd.api.types.is_numeric_dtype(feature) and pd.api.types.is_numeric_dtype(target):
        both = pd.DataFrame({"f": feature, "t": target}).dropna()
        if len(both) > 2 and both["f"].std() > 0 and both["t"].std() > 0 and abs(both["f"].corr(both["t"])) > 0.9999:
            return "is a linear function of"
    return None
