"""Data steps: ``load`` a dataset version into a feature table, ``split`` it for evaluation."""

from __future__ import annotations

import difflib
import json
from typing import Any

from tesla.data import (
    MIN_TRAINING_ROWS,
    check_training_data,
    infer_schema,
    infer_task,
    parse_datetimes,
    read_table,
    write_table,
)
from tesla.errors import DataError
from tesla.steps import StepContext

__all__ = ["check_target", "load", "select_features", "split"]


def check_target(columns: list[str], target: str | None, where: str) -> str:
    """``target`` if it is a column, else a DataError naming the columns and a close match."""
    if not target:
        raise DataError(f"no target column for {where}; pass --target COL to `tesla load` "
                        f"or set data.target=COL (columns: {', '.join(columns)})", key="data.target")
    if target not in columns:
        close = difflib.get_close_matches(target, columns, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise DataError(f"target column '{target}' is not in {where}; columns: {', '.join(columns)}.{hint}",
                        key="data.target")
    return target


def select_features(columns: list[str], target: str, include: list[str], exclude: list[str]) -> list[str]:
    unknown = [c for c in [*include, *exclude] if c not in columns]
    if unknown:
        raise DataError(f"feature column '{unknown[0]}' in data.include/data.exclude is not in the data; "
                        f"columns: {', '.join(columns)}", key="data.include")
    chosen = include or [c for c in columns if c != target]
    return [c for c in chosen if c not in exclude and c != target]


def load(ctx: StepContext) -> dict[str, Any]:
    """Read the dataset version, keep the chosen features and the target, resolve the task."""
    p = ctx.params
    # a data.source file has no version of its own (its content is its identity): named alone
    where = f"dataset '{p['dataset']}'" if p["version"] is None else f"dataset '{p['dataset']}@{p['version']}'"
    df = read_table(ctx.input_file("source"), p["format"])
    target = check_target(list(df.columns), p["target"], where)
    features = select_features(list(df.columns), target, list(p["include"]), list(p["exclude"]))
    if not features:
        raise DataError(f"{where} has no feature columns left after data.include/data.exclude", key="data.exclude")
    df = df[[*features, target]]
    # the refusals of `tesla load --target` (its warnings were shown there), and enough rows to split
    check_training_data(df, target, where, min_rows=MIN_TRAINING_ROWS)
    df = df[df[target].notna()]
    task = infer_task(df[target]) if p["task"] == "auto" else p["task"]
    if task != "regression" and df[target].nunique() < 2:
        raise DataError(f"target '{target}' has a single class in {where}; classification needs two or more",
                        key="data.target")
    schema = infer_schema(df[features])
    write_table(df, ctx.output("table"))
    meta = {"target": target, "task": task, "features": features, "schema": schema, "rows": len(df)}
    ctx.output("schema").write_text(json.dumps(meta, sort_keys=True, indent=2))
    return {"rows": len(df), "task": task, "target": target, "features": len(features)}


def split(ctx: StepContext) -> dict[str, Any]:
    """Hold out ``test_size`` of the rows: by time when a time column is set, else at random."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    p = ctx.params
    df = pd.read_parquet(ctx.input_file("table"))
    meta = json.loads(ctx.input_file("schema").read_text())
    if p["time_column"]:
        if p["time_column"] not in df.columns:
            raise DataError(f"data.split.time_column '{p['time_column']}' is not a feature column",
                            key="data.split.time_column")
        order = parse_datetimes(df[p["time_column"]]).sort_values(kind="stable")
        cut = int(round(len(df) * (1 - p["test_size"])))
        train, test = df.loc[order.index[:cut]], df.loc[order.index[cut:]]
    else:
        target = df[meta["target"]]
        stratify = target if p["stratify"] and meta["task"] != "regression" and target.value_counts().min() >= 2 else None
        train, test = train_test_split(df, test_size=p["test_size"], random_state=p["seed"], stratify=stratify)
    if len(train) < 2 or len(test) < 1:
        raise DataError(f"data.split.test_size={p['test_size']} leaves {len(train)} training and {len(test)} "
                        "test rows; load more data or change the split", key="data.split.test_size")
    write_table(train, ctx.output("train"))
    write_table(test, ctx.output("test"))
    return {"train_rows": len(train), "test_rows": len(test)}
