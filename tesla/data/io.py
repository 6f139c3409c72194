"""Reading tabular files (CSV, TSV, Parquet, JSON lines or arrays, Feather/Arrow IPC, Excel) with errors that name the file.

Everything a user can get wrong about a file is refused here, at the boundary, with one line
naming the file, the line or column and the fix: an unknown extension, an empty file, a header
without rows, binary bytes or a non-UTF-8 encoding in a text file, a ragged CSV row, duplicate
column names, and nested values (JSON objects or arrays, Parquet list/struct/map columns), which
no feature encoding can use. Steps, ``predict``, ``evaluate`` and the monitor all read through
``read_table``, so a file that loads is a file every command can read the same way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tesla.errors import DataError, DataNotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "detect_format", "is_json_array", "read_excel", "read_json_array", "read_table", "write_table"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",  # a .json file holding an array too
           ".feather": "feather", ".arrow": "feather", ".ipc": "feather", ".xlsx": "excel", ".xlsm": "excel"}
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_BINARY_FORMATS = {"parquet", "feather", "excel"}
_SEPARATORS = {"csv": ",", "tsv": "\t"}
_SNIFF_BYTES = 64 * 1024
# bytes that never occur in a text file (NUL and the C0 controls other than tab, newline, CR, FF)
_BINARY = bytes(range(9)) + bytes(range(14, 32))
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` from its suffix (``.csv.gz`` counts as csv)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in _COMPRESSED]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(f"cannot tell the format of '{path}'; use a file ending in "
                        f"{', '.join(sorted(FORMATS))}", key=str(path))
    return fmt


def _check_text(path: Path, fmt: str) -> None:
    """Refuse a text-format file that holds binary bytes (e.g. Parquet or a spreadsheet renamed .csv)."""
    if any(s.lower() in _COMPRESSED for s in path.suffixes):
        return  # pandas decompresses it; its own errors name the problem
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        raise DataError(f"'{path}' is a Parquet file, not {fmt}; rename it to end in .parquet", key=str(path))
    if head.startswith(b"PK\x03\x04"):
        raise DataError(f"'{path}' is a zip archive (an .xlsx spreadsheet?), not {fmt} text; "
                        "export it as CSV (UTF-8)", key=str(path))
    binary = sum(head.count(b) for b in _BINARY)
    if binary and (b"\x00" in head or binary > len(head) // 100):
        raise DataError(f"'{path}' holds binary data, not {fmt} text; pass a CSV, TSV, Parquet or "
                        "JSON-lines file", key=str(path))


def _encoding_error(path: Path, fmt: str) -> DataError:
    """Name the first line that is not UTF-8 and what its byte would be in Latin-1."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = line[exc.start]
                return DataError(
                    f"'{path}' is not UTF-8: line {number} holds byte 0x{byte:02x} ('{bytes([byte]).decode('cp1252', 'replace')}' "
                    f"in Latin-1/Windows-1252); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) or "
                    "load it with --encoding cp1252",
                    key=str(path))
    return DataError(f"'{path}' is not UTF-8 {fmt} text; save the file as UTF-8", key=str(path))


def _parse_error(path: Path, fmt: str, exc: Exception) -> DataError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    ragged = _RAGGED.search(reason)
    if ragged:
        want, line, got = ragged.groups()
        return DataError(f"'{path}' line {line} has {got} fields but the header has {want}; fix that row "
                         "(quote values that hold the separator)", key=str(path))
    return DataError(f"cannot read '{path}' as {fmt}: {reason}", key=str(path))


def _check_header(path: Path, fmt: str) -> None:
    """Duplicate column names: pandas would silently rename the second 'x' to 'x.1'."""
    import pandas as pd

    header = pd.read_csv(path, sep=_SEPARATORS[fmt], header=None, nrows=1, dtype=str).iloc[0].dropna().tolist()
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"'{path}' has two columns named '{name}'; rename or drop one", key=name)
        seen.add(name)


def _check_flat(path: Path, df: pd.DataFrame) -> None:
    """Every cell a scalar: nested JSON objects/arrays or Parquet list/struct/map columns are refused."""
    import numpy as np

    for name in df.columns:
        col = df[name]
        if col.dtype != object:
            continue
        nested = col.map(lambda v: isinstance(v, dict | list | tuple | np.ndarray | set))
        if nested.any():
            row = int(np.argmax(nested.to_numpy()))
            kind = "objects" if isinstance(col.iloc[row], dict) else "lists"
            raise DataError(f"column '{name}' in '{path}' holds nested values ({kind}, first at row {row + 1}); "
                            "flatten it into plain columns or drop it", key=str(name))


def read_table(path: str | os.PathLike[str], fmt: str | None = None) -> pd.DataFrame:
    """Read a table; a missing, empty, malformed or nested file raises a one-line DataError."""
    import pandas as pd  # lazy: pandas costs ~0.25 s and the CLI's --help must not pay it

    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"data file '{path}' does not exist; check the path", key=str(path))
    if path.is_dir():
        raise DataError(f"'{path}' is a directory; pass a CSV, Parquet or JSON-lines file", key=str(path))
    fmt = fmt or detect_format(path)
    if fmt not in _BINARY_FORMATS:
        _check_text(path, fmt)
    try:
        if fmt in _SEPARATORS:
            df = pd.read_csv(path, sep=_SEPARATORS[fmt])
            _check_header(path, fmt)
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        elif fmt == "feather":
            df = pd.read_feather(path)
        elif fmt == "excel":
            df = read_excel(path)
        elif is_json_array(path):
            df = read_json_array(path)
        else:
            df = pd.read_json(path, lines=True)
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file '{path}' is empty; it needs a header row and data rows",
                        key=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, fmt) from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise _parse_error(path, fmt, exc) from exc
    if df.empty or len(df.columns) == 0:
        raise DataError(f"data file '{path}' has no rows; it needs a header row and data rows",
                        key=str(path))
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed: ")]
    if unnamed and len(unnamed) == len(df.columns):
        raise DataError(f"data file '{path}' has no header row", key=str(path))
    df.columns = [str(c) for c in df.columns]
    _check_flat(path, df)
    return df


def is_json_array(path: Path) -> bool:
    """Whether a JSON file holds one array (``[{...}, ...]``) rather than one object per line."""
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def read_json_array(path: Path) -> pd.DataFrame:
    """A JSON array of objects as a table (one object per row; nested values are refused by the reader).

    The whole array is parsed at once (JSON arrays cannot be streamed by pyarrow); a file too big
    for memory should be JSON lines.
    """
    import json

    import pandas as pd

    try:
        records = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read '{path}' as a JSON array: {exc}", key=str(path)) from exc
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError(f"'{path}' is a JSON array whose item {bad + 1} is {type(records[bad]).__name__}, not an "
                        'object; each item must be one row, {"column": value, ...}', key=str(path))
    return pd.DataFrame.from_records(records)


def read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of an .xlsx workbook; its header row may not repeat a name (pandas would rename it)."""
    import pandas as pd

    try:
        import openpyxl  # noqa: F401 - pandas' engine for .xlsx
    except ImportError as exc:
        raise DataError(f"reading '{path}' needs openpyxl; install it with pip install 'tesla-ml[data]'",
                        key=str(path)) from exc
    with path.open("rb") as fh:
        if not fh.read(4).startswith(b"PK\x03\x04"):  # an .xlsx workbook is a zip archive
            raise DataError(f"'{path}' is not an Excel workbook (.xlsx files are zip archives); if it is CSV text, "
                            "rename it to end in .csv", key=str(path))
    try:
        header = pd.read_excel(path, header=None, nrows=1, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a damaged workbook
        raise DataError(f"cannot read '{path}' as an Excel workbook: {exc}", key=str(path)) from exc
    seen: set[str] = set()
    for name in header.iloc[0].dropna().tolist() if len(header) else []:
        if name in seen:
            raise DataError(f"'{path}' has two columns named '{name}'; rename or drop one", key=name)
        seen.add(name)
    return pd.read_excel(path, engine="openpyxl")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``df`` as Parquet (the format steps exchange tables in)."""
    df.to_parquet(path, index=False)
