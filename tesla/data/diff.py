"""Row-level differences between two versions of a dataset.

With a key (``--key id``, or the declared ``data.expect.key``) rows are matched by it: a key only in
the new version is an added row, only in the old a removed one, and a key in both whose other values
differ is a changed row, counted per column. Without a key rows are compared by the hash of their
values (over the columns both versions have), as a multiset: a changed row shows as one removed and
one added. Both versions are read whole (the columns compared), so a diff needs memory for two tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tesla.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXAMPLES", "ColumnChange", "RowDiff", "diff_rows"]

EXAMPLES = 3  # example rows shown per kind of change


@dataclass(frozen=True)
class ColumnChange:
    """One column both versions have: how many matched rows changed it, and how far its distribution moved."""

    column: str
    changed: int | None  # cells changed among rows matched by the key; None without a key
    measure: str  # ks (numeric: Kolmogorov-Smirnov statistic) | tvd (others: total variation distance)
    shift: float  # 0: the same distribution; 1: disjoint
    old: str  # a summary of the old values (mean/std, or the top categories)
    new: str


@dataclass(frozen=True)
class RowDiff:
    key: list[str]  # empty: compared by row hash
    added: int
    removed: int
    changed: int | None  # None without a key (a changed row is one removed plus one added)
    unchanged: int
    examples_added: list[dict[str, Any]] = field(default_factory=list)
    examples_removed: list[dict[str, Any]] = field(default_factory=list)
    examples_changed: list[dict[str, Any]] = field(default_factory=list)  # key columns + {column: [old, new]}
    columns: list[ColumnChange] = field(default_factory=list)


def diff_rows(old: pd.DataFrame, new: pd.DataFrame, key: list[str], labels: tuple[str, str]) -> RowDiff:
    """Compare two tables row by row (by ``key`` when given, else by row hash) and column by column.

    Args:
        old: the earlier version.
        new: the later version.
        key: the columns that identify a row; empty compares by row hash.
        labels: how messages name the two versions (``bc@1``, ``bc@2``).

    Raises:
        DataError: a key column is missing from a version, or a key repeats in one.
    """
    common = [c for c in old.columns if c in new.columns]
    if key:
        for frame, label in zip((old, new), labels, strict=True):
            missing = [k for k in key if k not in frame.columns]
            if missing:
                raise DataError(f"--key {', '.join(missing)}: no such column in {label}; its columns: "
                                f"{', '.join(frame.columns)}", key="key")
            repeated = frame.duplicated(subset=key, keep="first")
            if repeated.any():
                first = frame.loc[repeated, key].iloc[0].to_dict()
                raise DataError(f"--key {', '.join(key)} does not identify rows in {label}: {int(repeated.sum())} rows "
                                f"repeat a key (first {_jsonable(first)}); pick columns that are unique together",
                                key="key")
        return _by_key(old, new, key, common)
    return _by_hash(old, new, common)


def _by_hash(old: pd.DataFrame, new: pd.DataFrame, common: list[str]) -> RowDiff:
    import pandas as pd

    h_old = pd.util.hash_pandas_object(old[common], index=False)
    h_new = pd.util.hash_pandas_object(new[common], index=False)
    n_old, n_new = h_old.value_counts(), h_new.value_counts()
    extra = n_new.sub(n_old, fill_value=0)
    added, removed = int(extra.clip(lower=0).sum()), int((-extra).clip(lower=0).sum())
    only_new, only_old = ~h_new.isin(n_old.index), ~h_old.isin(n_new.index)
    return RowDiff(key=[], added=added, removed=removed, changed=None, unchanged=len(new) - added,
                   examples_added=_records(new[only_new.to_numpy()]),
                   examples_removed=_records(old[only_old.to_numpy()]),
                   columns=[_column_change(old[c], new[c], None) for c in common])


def _by_key(old: pd.DataFrame, new: pd.DataFrame, key: list[str], common: list[str]) -> RowDiff:
    import pandas as pd

    merged = pd.merge(old, new, on=key, how="outer", suffixes=("\x00old", "\x00new"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    values = [c for c in common if c not in key]
    differs = {c: _differs(both[f"{c}\x00old"], both[f"{c}\x00new"]) for c in values}
    any_change = pd.Series(False, index=both.index)
    for mask in differs.values():
        any_change |= mask
    examples = []
    for idx in both.index[any_change.to_numpy()][:EXAMPLES]:
        row = {k: _plain(both.at[idx, k]) for k in key}
        row.update({c: [_as(both.at[idx, f"{c}\x00old"], old[c]), _as(both.at[idx, f"{c}\x00new"], new[c])]
                    for c in values if differs[c].at[idx]})
        examples.append(row)
    new_keys = merged.loc[merged["_merge"] == "right_only", key]
    old_keys = merged.loc[merged["_merge"] == "left_only", key]
    added_rows = new.merge(new_keys, on=key, how="inner") if len(new_keys) else new.head(0)
    removed_rows = old.merge(old_keys, on=key, how="inner") if len(old_keys) else old.head(0)
    changed = int(any_change.sum())
    return RowDiff(key=list(key), added=len(new_keys), removed=len(old_keys), changed=changed,
                   unchanged=len(both) - changed, examples_added=_records(added_rows),
                   examples_removed=_records(removed_rows), examples_changed=examples,
                   columns=[_column_change(old[c], new[c], int(differs[c].sum()) if c in differs else 0)
                            for c in common])


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    """Cells that differ; two missing values are equal; 1 and 1.0 are equal."""
    import pandas as pd

    a_na, b_na = a.isna(), b.isna()
    try:
        unequal = (a != b).fillna(True)
    except TypeError:  # values of types that cannot be compared (a retyped column)
        unequal = a.astype(str) != b.astype(str)
    return pd.Series((unequal & ~(a_na & b_na)) | (a_na ^ b_na), index=a.index).astype(bool)


def _column_change(old: pd.Series, new: pd.Series, changed: int | None) -> ColumnChange:
    import numpy as np
    import pandas as pd

    a, b = old.dropna(), new.dropna()
    numeric = all(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (a, b))
    if numeric and len(a) and len(b):
        x, y = np.sort(a.to_numpy(dtype=float)), np.sort(b.to_numpy(dtype=float))
        grid = np.concatenate([x, y])
        ks = float(np.max(np.abs(np.searchsorted(x, grid, side="right") / len(x)
                                 - np.searchsorted(y, grid, side="right") / len(y))))
        return ColumnChange(str(old.name), changed, "ks", round(ks, 4), _moments(x), _moments(y))
    p, q = a.astype(str).value_counts(normalize=True), b.astype(str).value_counts(normalize=True)
    tvd = float(p.sub(q, fill_value=0).abs().sum() / 2) if len(p) or len(q) else 0.0
    return ColumnChange(str(old.name), changed, "tvd", round(tvd, 4), _top(p), _top(q))


def _moments(values: Any) -> str:
    return f"mean {values.mean():.4g}, std {values.std():.4g}" if len(values) else "no values"


def _top(shares: Any) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in shares.head(3).items()) if len(shares) else "no values"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.head(EXAMPLES).to_dict("records")]


def _plain(value: Any) -> Any:
    """A value JSON carries: numpy scalars as Python ones, missing values as None, timestamps as text."""
    import pandas as pd

    if value is None or (not isinstance(value, list | dict | str) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _as(value: Any, column: pd.Series) -> Any:
    """A merged cell as its own column holds it: an integer column's 30.0 (the outer merge's float) is 30."""
    import pandas as pd

    plain = _plain(value)
    if isinstance(plain, float) and plain.is_integer() and pd.api.types.is_integer_dtype(column):
        return int(plain)
    return plain


def _jsonable(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in mapping.items()}
