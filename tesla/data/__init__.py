"""Tabular data: reading files and inferring column types (``tesla.data.ingest``: loading one in a streaming pass)."""

from __future__ import annotations

from tesla.data.io import FORMATS, detect_format, read_table, write_table
from tesla.data.schema import (
    COLUMN_TYPES,
    MIN_TRAINING_ROWS,
    check_columns,
    check_training_data,
    infer_schema,
    infer_task,
    parse_datetimes,
)

__all__ = ["COLUMN_TYPES", "FORMATS", "MIN_TRAINING_ROWS", "check_columns", "check_training_data", "detect_format",
           "infer_schema", "infer_task", "parse_datetimes", "read_table", "write_table"]
