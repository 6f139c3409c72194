"""Reading tabular files (CSV, TSV, Parquet, JSON lines) with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tesla.errors import DataError, DataNotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "detect_format", "read_table", "write_table"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` from its suffix (``.csv.gz`` counts as csv)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in {".gz", ".bz2", ".zip", ".xz"}]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(f"cannot tell the format of '{path}'; use a file ending in "
                        f"{', '.join(sorted(FORMATS))}", key=str(path))
    return fmt


def read_table(path: str | os.PathLike[str], fmt: str | None = None) -> pd.DataFrame:
    """Read a table; a missing, empty or malformed file raises a one-line DataError."""
    import pandas as pd  # lazy: pandas costs ~0.25 s and the CLI's --help must not pay it

    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"data file '{path}' does not exist; check the path", key=str(path))
    if path.is_dir():
        raise DataError(f"'{path}' is a directory; pass a CSV, Parquet or JSON-lines file", key=str(path))
    fmt = fmt or detect_format(path)
    try:
        if fmt == "csv":
            df = pd.read_csv(path)
        elif fmt == "tsv":
            df = pd.read_csv(path, sep="\t")
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_json(path, lines=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file '{path}' is empty; it needs a header row and data rows",
                        key=str(path)) from exc
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read '{path}' as {fmt}: {reason}", key=str(path)) from exc
    if df.empty or len(df.columns) == 0:
        raise DataError(f"data file '{path}' has no rows; it needs a header row and data rows",
                        key=str(path))
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed: ")]
    if unnamed and len(unnamed) == len(df.columns):
        raise DataError(f"data file '{path}' has no header row", key=str(path))
    df.columns = [str(c) for c in df.columns]
    return df


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``df`` as Parquet (the format steps exchange tables in)."""
    df.to_parquet(path, index=False)
