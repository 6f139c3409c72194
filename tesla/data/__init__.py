"""Tabular data: reading files and inferring column types."""

from __future__ import annotations

from tesla.data.io import FORMATS, detect_format, read_table, write_table
from tesla.data.schema import COLUMN_TYPES, infer_schema, infer_task

__all__ = ["COLUMN_TYPES", "FORMATS", "detect_format", "infer_schema", "infer_task", "read_table",
           "write_table"]
