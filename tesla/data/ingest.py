"""Ingest in one streaming pass: a CSV, TSV, Parquet, JSON-lines or Feather/Arrow IPC file becomes one
canonical Parquet file.

Text may be compressed (``.gz``, ``.bz2``, ``.zst``: Arrow decompresses as it reads; a ``.zip`` holding
one file is unpacked to a temporary file first); a CSV's separator is sniffed among ``DELIMITERS`` and a
byte-order mark names its encoding. Excel workbooks, JSON arrays and SQL query results cannot be read
in batches: they are read whole (``_FrameSource``), then written batch by batch like the rest.

The file is read as Arrow record batches (``_BLOCK_BYTES`` of text at a time), never whole; each
batch is checked, counted into per-column statistics and written to the Parquet file straight away,
whose bytes are hashed as they are written. So the memory a load needs is a few batches, whatever
the size of the file. The decisions this pass makes, and why:

- **Types**: Arrow infers each column's type from the first block of the file (the sample); every
  later batch is converted to that type, which validates it. A later value that does not fit
  *widens* the column rather than failing the load, as reading the whole file with pandas did: an
  integer column meeting ``1.5`` becomes float64, a column that was empty in the sample becomes
  float64 or string, anything else becomes string. The pass then starts again with the widened
  types (a progress message says which column and why); a file's types never depend on where its
  batches happen to split.
- **Values** mean what they meant to ``pandas.read_csv``: the same missing-value words, ``True``/
  ``False`` as booleans (``1``/``0`` stay integers), dates kept as text (the schema calls them
  ``datetime``; steps parse them to UTC), an empty column as float64.
- **Version hash**: the sha256 of the canonical Parquet bytes, hashed while they are written. The
  same file again gives the same bytes, so the same version ("Unchanged"); the stored object is
  the Parquet file and its address is that hash, so ``verify`` checks it like any artifact.
  (A different pyarrow release may write different bytes: loading the same file after an upgrade
  can make one new version.)
- **Schema** (``type``, ``dtype``, ``nullable``, ``n_unique``, ``categories``): computed from the
  per-column statistics of every batch, with the same rules as ``infer_schema``. Distinct values are
  counted exactly up to ``DISTINCT_CAP`` per column; above it ``n_unique`` is that lower bound and
  the entry says ``"n_unique_at_least": true`` (such a column is text or numeric either way).

Every refusal of ``read_table`` keeps its message; the few only pandas can phrase (a JSON-lines
file pyarrow cannot parse) are produced by reading the file with ``read_table``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tesla.data.io import (
    _BINARY_FORMATS,
    _COMPRESSED,
    _SEPARATORS,
    _check_text,
    _encoding_error,
    detect_format,
    is_json_array,
    read_excel,
    read_json_array,
    read_table,
)
from tesla.data.schema import MAX_CATEGORIES, inf_warning, refuse_target, string_kind
from tesla.errors import DataError, DataNotFoundError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DELIMITERS", "DISTINCT_CAP", "Ingested", "ingest", "ingest_frame"]

_BLOCK_BYTES = 1 << 20  # text per batch (pyarrow's default; larger blocks measured slower on 2 cores)
_GROUP_ROWS = 65_536  # batches are written together as Parquet row groups of at least this many rows
DISTINCT_CAP = 10_000  # distinct values counted exactly per column
_SNIFF_CHARS = 64 * 1024  # text read to sniff a CSV's separator
_SAMPLE = 200  # first non-missing values kept per text column (the datetime sniff of infer_schema)
# pandas.read_csv's default missing-value words, so a file means what it meant before
_NULL_WORDS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
               "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to ([\w\[\], ]+?): invalid value '(.*)'",
                         re.DOTALL)
_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")
DELIMITERS = (",", ";", "\t", "|")  # what a CSV/TSV file's separator is sniffed among
_BOMS = {b"\xef\xbb\xbf": "utf-8-sig", b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}
_MAX_PASSES = 32  # each restart widens one column at least once; a column widens at most twice

Progress = Callable[[int, int], None]  # (bytes read, rows read)


@dataclass
class Ingested:
    """What one pass over a file found and wrote."""

    sha256: str  # of the Parquet bytes written
    rows: int
    schema: dict[str, dict[str, Any]]
    warnings: list[str]
    total_bytes: int


@dataclass
class _Column:
    """Statistics of one column over every batch seen so far."""

    name: str
    type: Any  # pa.DataType
    rows: int = 0
    missing: int = 0
    distinct: Any = None  # pa.Array of the distinct non-missing values; None once over DISTINCT_CAP
    over_cap: bool = False
    sample: list[Any] = field(default_factory=list)
    inf_rows: list[int] = field(default_factory=list)  # the first three (0-based)
    inf_count: int = 0

    def update(self, col: Any, offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.rows += len(col)
        present = col
        self.missing += col.null_count
        if pa.types.is_floating(col.type):
            # pc.sum skips the nulls is_nan/is_inf give for null values; no fill_null (slow in pyarrow 26)
            nan, inf = pc.is_nan(col), pc.is_inf(col)
            n_nan, n_inf = pc.sum(nan).as_py() or 0, pc.sum(inf).as_py() or 0
            if n_nan:  # only Parquet or JSON input: CSV's "nan" is already missing
                self.missing += n_nan
                present = pc.filter(col, pc.invert(nan), null_selection_behavior="emit_null")
            if n_inf:
                if len(self.inf_rows) < 3:
                    self.inf_rows += [offset + i for i in pc.indices_nonzero(inf).to_pylist()[:3 - len(self.inf_rows)]]
                self.inf_count += n_inf
        if not self.over_cap:
            uniques = pc.unique(present.drop_null())
            merged = uniques if self.distinct is None else pc.unique(pa.concat_arrays([self.distinct, uniques]))
            if len(merged) > DISTINCT_CAP:
                self.over_cap, self.distinct = True, merged.slice(0, DISTINCT_CAP)
            else:
                self.distinct = merged
        if len(self.sample) < _SAMPLE and _is_text(col.type):
            self.sample += present.drop_null().slice(0, _SAMPLE - len(self.sample)).to_pylist()

    @property
    def n_unique(self) -> int:
        return 0 if self.distinct is None else len(self.distinct)

    def values(self) -> list[Any]:
        return [] if self.distinct is None else self.distinct.to_pylist()

    def entry(self) -> dict[str, Any]:
        """This column's schema entry, by the rules of ``infer_schema``."""
        import pyarrow as pa

        t, nullable = self.type, self.missing > 0
        if pa.types.is_boolean(t):
            kind, dtype = "boolean", "object" if nullable else "bool"
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            kind = "numeric"
            dtype = "float64" if nullable and pa.types.is_integer(t) else str(t.to_pandas_dtype().__name__)
        elif pa.types.is_timestamp(t):
            kind, dtype = "datetime", f"datetime64[{t.unit}{', ' + t.tz if t.tz else ''}]"
        else:
            text = [str(v) for v in self.values()]
            kind = "text" if self.over_cap else string_kind(text, self.sample, self.rows - self.missing)
            dtype = "str" if _is_text(t) else "object"
        entry: dict[str, Any] = {"type": kind, "dtype": dtype, "nullable": nullable, "n_unique": self.n_unique}
        if self.over_cap:
            entry["n_unique_at_least"] = True
        if kind in {"categorical", "boolean"} and self.n_unique <= MAX_CATEGORIES:
            entry["categories"] = sorted(str(v) for v in self.values())
        return entry


class _HashingSink:
    """A write-only file that hashes every byte on its way to disk (so the Parquet file is read once: never)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()
        self._pos = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self._pos += view.nbytes
        return self._fh.write(view)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._fh.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._fh.close()


class _Widen(Exception):  # noqa: N818 - control flow inside this module, never raised to a caller
    def __init__(self, column: str, to: Any, value: str) -> None:
        super().__init__(column)
        self.column, self.to, self.value = column, to, value


# -- readers: each yields (schema, batches, bytes read so far) -------------------------------------------
class _Source:
    """One input file, read as Arrow batches; ``types`` are the column types forced on the reader."""

    def __init__(self, path: Path, fmt: str, *, delimiter: str | None = None, encoding: str | None = None,
                 total_bytes: int | None = None) -> None:
        self.path, self.fmt = path, fmt
        self.types: dict[str, Any] = {}
        self.compressed = any(s.lower() in _COMPRESSED for s in path.suffixes)
        self.total_bytes = path.stat().st_size if total_bytes is None else total_bytes
        self.delimiter = delimiter or _SEPARATORS.get(fmt, ",")
        self.encoding = encoding
        self.where = f"'{path}'"  # how messages name it
        self.newlines_in_values = False
        self._fh: Any = None

    def bytes_read(self) -> int:
        try:
            return min(self._fh.tell(), self.total_bytes) if self._fh is not None and not self.compressed else 0
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def open(self) -> tuple[Any, Iterator[Any]]:
        raise NotImplementedError


class _CsvSource(_Source):
    def open(self) -> tuple[Any, Iterator[Any]]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        self.close()
        # a native file (not a Python one): reads release the GIL; tell() still says how far it got
        self._fh = pa.input_stream(str(self.path), compression="detect") if self.compressed else pa.OSFile(str(self.path))
        reader = pcsv.open_csv(
            self._fh, read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES, encoding=self.encoding or "utf8"),
            parse_options=pcsv.ParseOptions(delimiter=self.delimiter,
                                            newlines_in_values=self.newlines_in_values),
            convert_options=pcsv.ConvertOptions(
                column_types=self.types, null_values=_NULL_WORDS, strings_can_be_null=True,
                true_values=["True", "TRUE", "true"], false_values=["False", "FALSE", "false"]))
        if any(pa.types.is_binary(f.type) for f in reader.schema):  # Arrow's type for bytes that are not UTF-8
            raise _encoding_error(self.path, self.fmt)
        # dates stay text, as pandas read them: the schema sniffs them, steps parse them to UTC
        dated = {f.name: pa.string() for f in reader.schema
                 if (pa.types.is_temporal(f.type)) and f.name not in self.types}
        if dated:
            self.types.update(dated)
            return self.open()
        return reader.schema, iter(reader)

    def translate(self, exc: Exception) -> Exception:
        """A pyarrow error as a widening to retry with, or the DataError read_table gives for it."""
        import pyarrow as pa

        text = str(exc)
        if text.startswith("Empty CSV file"):
            return DataError(f"data file '{self.path}' is empty; it needs a header row and data rows", key=str(self.path))
        conversion = _CONVERSION.search(text)
        if conversion:
            index, to, value = int(conversion.group(1)), conversion.group(2), conversion.group(3)
            if "invalid UTF8" in text or to == "binary":
                return _encoding_error(self.path, self.fmt)
            name = self._names()[index]
            return _Widen(name, pa.float64() if to in {"null", "int64"} and _is_number(value) else pa.string(), value)
        if "invalid UTF8" in text:
            return _encoding_error(self.path, self.fmt)
        if "newlines_in_values" in text and not self.newlines_in_values:  # a quoted value spans lines
            self.newlines_in_values = True
            return _Widen("", None, "")
        if _RAGGED.search(text):
            return self._ragged()
        reason = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return DataError(f"cannot read '{self.path}' as {self.fmt}: {reason}", key=str(self.path))

    def _names(self) -> list[str]:
        with _text(self.path, self.encoding) as fh:
            return next(csv.reader(fh, delimiter=self.delimiter), [])

    def _ragged(self) -> Exception:
        """Name the first row whose field count differs from the header's (streamed, as pandas words it)."""
        with _text(self.path, self.encoding) as fh:
            rows = csv.reader(fh, delimiter=self.delimiter)
            want = len(next(rows, []))
            for fields in rows:
                if len(fields) != want and fields:
                    return DataError(f"'{self.path}' line {rows.line_num} has {len(fields)} fields but the header has "
                                     f"{want}; fix that row (quote values that hold the separator)", key=str(self.path))
        if not self.newlines_in_values:  # every row fits: a quoted value holds a line break
            self.newlines_in_values = True
            return _Widen("", None, "")
        return DataError(f"cannot read '{self.path}' as {self.fmt}: rows of uneven length", key=str(self.path))


class _ParquetSource(_Source):
    def open(self) -> tuple[Any, Iterator[Any]]:
        import pyarrow.parquet as pq

        self.close()
        self._fh = pq.ParquetFile(self.path)
        meta, done = self._fh.metadata, [0]

        def batches() -> Iterator[Any]:
            for batch in self._fh.iter_batches(batch_size=65_536):
                done[0] += len(batch)
                yield batch

        self._done, self._rows = done, max(meta.num_rows, 1)
        return self._fh.schema_arrow, batches()

    def bytes_read(self) -> int:
        return self.total_bytes * self._done[0] // self._rows if self._fh is not None else 0

    def translate(self, exc: Exception) -> Exception:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DataError(f"cannot read '{self.path}' as parquet: {reason}", key=str(self.path))


class _JsonSource(_Source):
    def open(self) -> tuple[Any, Iterator[Any]]:
        import pyarrow as pa
        import pyarrow.json as pjson

        self.close()
        self._fh = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        schema = pa.schema([pa.field(n, t) for n, t in self.types.items()]) if self.types else None
        reader = pjson.open_json(self._fh, read_options=pjson.ReadOptions(block_size=_BLOCK_BYTES),
                                 parse_options=pjson.ParseOptions(explicit_schema=schema,
                                                                  unexpected_field_behavior="infer"))
        dated = {f.name: pa.string() for f in reader.schema if pa.types.is_temporal(f.type) and f.name not in self.types}
        if dated:  # ISO strings stay text, as pandas read them
            self.types = {f.name: dated.get(f.name, f.type) for f in reader.schema}
            return self.open()
        return reader.schema, iter(reader)

    def translate(self, exc: Exception) -> Exception:
        """pyarrow could not read it: pandas words the refusal, or reads it (types varying by row)."""
        self.close()
        return _Fallback(read_table(self.path, self.fmt))


class _IpcSource(_Source):
    """Feather v2 / Arrow IPC: the file format (random access) or the stream format, batch by batch."""

    def open(self) -> tuple[Any, Iterator[Any]]:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self.close()
        self._fh = pa.OSFile(str(self.path))
        try:
            reader = ipc.open_file(self._fh)
            return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:  # not the file format: the stream format has no footer
            self._fh.seek(0)
            stream = ipc.open_stream(self._fh)
            return stream.schema, iter(stream)

    def translate(self, exc: Exception) -> Exception:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DataError(f"cannot read '{self.path}' as Feather/Arrow IPC: {reason}", key=str(self.path))


class _FrameSource(_Source):
    """A table only read whole (Excel, a JSON array, a SQL query's rows): read once, then written in batches."""

    def __init__(self, path: Path, fmt: str, read: Callable[[], Any], **kw: Any) -> None:
        super().__init__(path, fmt, **kw)
        self._read = read

    def open(self) -> tuple[Any, Iterator[Any]]:
        table = _frame_table(self._read())
        return table.schema, iter(table.to_batches(max_chunksize=65_536))

    def translate(self, exc: Exception) -> Exception:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DataError(f"cannot read {self.where} as {self.fmt}: {reason}", key=str(self.path))


class _Fallback(Exception):  # noqa: N818 - control flow: the frame pandas read where pyarrow could not
    def __init__(self, frame: Any) -> None:
        super().__init__("fallback")
        self.frame = frame


_SOURCES: dict[str, type[_Source]] = {"csv": _CsvSource, "tsv": _CsvSource, "parquet": _ParquetSource,
                                      "jsonl": _JsonSource, "feather": _IpcSource}


def _text(path: Path, encoding: str | None = None) -> IO[str]:
    """The file as text, decompressed (.gz, .bz2, .zst) by Arrow's codecs."""
    import pyarrow as pa

    raw = pa.input_stream(str(path), compression="detect")
    return io.TextIOWrapper(io.BufferedReader(raw), encoding=encoding or "utf-8", errors="replace", newline="")


def sniff_delimiter(path: Path, fmt: str, encoding: str | None = None) -> str:
    """The separator of a CSV/TSV file: the one of ``DELIMITERS`` that splits its first lines into the same
    number (above one) of fields, the most fields winning; the extension's own when none does."""
    with _text(path, encoding) as fh:
        head = fh.read(_SNIFF_CHARS)
    lines = head.splitlines()[:20]
    if len(lines) > 1 and len(head) == _SNIFF_CHARS:
        lines = lines[:-1]  # the last line may be cut short
    best, best_fields = _SEPARATORS[fmt], 1
    for sep in DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=sep)}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = sep, fields
    return best


def sniff_encoding(path: Path) -> str | None:
    """The encoding a byte-order mark names (UTF-8 with BOM, UTF-16), or None (UTF-8 is assumed)."""
    if any(s.lower() in _COMPRESSED for s in path.suffixes):
        return None
    with path.open("rb") as fh:
        head = fh.read(4)
    return next((enc for bom, enc in _BOMS.items() if head.startswith(bom)), None)


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


# -- the pass ----------------------------------------------------------------------------------------------
def ingest(path: str | os.PathLike[str], dest: str | os.PathLike[str], *, target: str | None = None,
           check_names: Callable[[list[str]], None] | None = None, on_progress: Progress | None = None,
           say: Callable[[str], None] | None = None, delimiter: str | None = None,
           encoding: str | None = None) -> Ingested:
    """Read ``path`` once, batch by batch, into the Parquet file ``dest``; check it as ``tesla load`` does.

    Args:
        path: a CSV/TSV (``.gz``, ``.bz2``, ``.zst`` too), Parquet, JSON-lines or JSON-array, Feather/Arrow
            IPC or Excel file; a ``.zip`` holding one such file is unpacked next to ``dest`` first.
        dest: where the canonical Parquet file is written (overwritten).
        target: the label column, checked as ``check_training_data`` checks it (after the pass).
        check_names: called with the column names before any row is read (e.g. to check the target).
        on_progress: called after each batch with (bytes read, rows read).
        say: called with each line worth showing (a widened column, a warning).
        delimiter: a CSV's separator; None sniffs it among ``DELIMITERS``.
        encoding: a text file's encoding; None: UTF-8, or what a byte-order mark says.

    Returns:
        The sha256 of the Parquet bytes, the row count, the schema and the warnings.

    Raises:
        DataError: the messages of ``read_table`` and ``check_training_data``, naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"data file '{path}' does not exist; check the path", key=str(path))
    if path.is_dir():
        raise DataError(f"'{path}' is a directory; pass a CSV, Parquet or JSON-lines file", key=str(path))
    say = say or (lambda _text: None)
    if path.suffix.lower() == ".zip":
        with _unzipped(path, Path(dest).parent) as inner:
            return ingest(inner, dest, target=target, check_names=check_names, on_progress=on_progress, say=say,
                          delimiter=delimiter, encoding=encoding)
    fmt = detect_format(path)
    encoding = encoding or sniff_encoding(path)
    if fmt not in _BINARY_FORMATS and not (encoding or "").startswith("utf-16"):
        _check_text(path, fmt)
    if fmt in _SEPARATORS:
        delimiter = delimiter or sniff_delimiter(path, fmt, encoding)
        if delimiter != _SEPARATORS[fmt]:
            say(f"'{path.name}' is separated by {delimiter!r}" + (" (tab)" if delimiter == "\t" else ""))
    if fmt == "excel":
        source: _Source = _FrameSource(path, fmt, lambda: read_excel(path))
    elif fmt == "jsonl" and is_json_array(path):
        source = _FrameSource(path, "a JSON array", lambda: read_json_array(path))
    else:
        source = _SOURCES[fmt](path, fmt, delimiter=delimiter, encoding=encoding)
    return _passes(source, Path(dest), target, check_names, on_progress, say)


def ingest_frame(label: str, read: Callable[[], Any], dest: str | os.PathLike[str], *, target: str | None = None,
                 check_names: Callable[[list[str]], None] | None = None,
                 say: Callable[[str], None] | None = None) -> Ingested:
    """``ingest`` for rows that are not a file (a SQL query's): ``read()`` returns them as a DataFrame.

    Args:
        label: how messages name the rows (e.g. the query).
        read: returns the rows (called once).
        dest: where the canonical Parquet file is written.
        target: as for ``ingest``; ``check_names`` and ``say`` too.
    """
    source = _FrameSource(Path("query"), "rows", read, total_bytes=0)
    source.where = label
    return _passes(source, Path(dest), target, check_names, None, say or (lambda _text: None))


def _passes(source: _Source, dest: Path, target: str | None, check_names: Callable[[list[str]], None] | None,
            on_progress: Progress | None, say: Callable[[str], None]) -> Ingested:
    """One pass, again with wider types while a later value does not fit the sampled ones."""
    try:
        for _ in range(_MAX_PASSES):
            try:
                return _one_pass(source, dest, target, check_names, on_progress, say)
            except _Widen as widen:
                if widen.column:
                    source.types[widen.column] = widen.to
                    say(f"column '{widen.column}' holds {widen.value!r} after the sampled rows; "
                        f"reading it as {'float64' if str(widen.to) == 'double' else widen.to} (starting again)")
            except _Fallback as fallback:
                return _write_frame(fallback.frame, source, dest, target, on_progress)
    finally:
        source.close()
    raise DataError(f"the column types of '{source.path}' kept changing while reading it; save it as Parquet",
                    key=str(source.path))


@contextmanager
def _unzipped(path: Path, workdir: Path) -> Iterator[Path]:
    """The one table a .zip archive holds, unpacked (streamed) into a temporary directory under ``workdir``."""
    import shutil
    import tempfile
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"'{path}' is not a zip archive ({exc}); pass the file itself", key=str(path)) from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        if len(members) != 1:
            names = ", ".join(m.filename for m in members[:5]) or "nothing"
            raise DataError(f"'{path}' holds {len(members)} files ({names}); a zip archive must hold exactly one "
                            "table", key=str(path))
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            inner = Path(tmp) / Path(members[0].filename).name
            with archive.open(members[0]) as src, inner.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            yield inner


def _one_pass(source: _Source, dest: Path, target: str | None, check_names: Callable[[list[str]], None] | None,
              on_progress: Progress | None, say: Callable[[str], None]) -> Ingested:
    try:
        schema, batches = source.open()
    except (_Widen, DataError):
        raise
    except Exception as exc:  # pyarrow's errors: ArrowInvalid, OSError, ...
        raise source.translate(exc) from exc
    names = _checked_names(source.path, [f.name for f in schema])
    if check_names:
        check_names(names)
    return _write(source, dest, target, _batches(source, batches), on_progress, names)


def _batches(source: _Source, batches: Iterator[Any]) -> Iterator[Any]:
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except _Widen:
            raise
        except Exception as exc:
            raise source.translate(exc) from exc
        yield batch


def _write(source: _Source, dest: Path, target: str | None, batches: Iterator[Any], on_progress: Progress | None,
           names: list[str]) -> Ingested:
    import pyarrow.parquet as pq

    columns: list[_Column] | None = None
    rows = written = 0
    group: list[Any] = []
    with open(dest, "wb") as fh:
        sink = _HashingSink(fh)
        writer: Any = None
        try:
            for batch in batches:
                batch = _canonical(batch, names, source.path)
                if columns is None:
                    columns = [_Column(f.name, f.type) for f in batch.schema]
                    writer = pq.ParquetWriter(sink, batch.schema)
                group.append(batch)
                rows += len(batch)
                if rows - written >= _GROUP_ROWS:
                    written = _flush(writer, group, columns, written)
                if on_progress:
                    on_progress(source.bytes_read(), rows)
            if group:
                _flush(writer, group, columns, written)
        finally:
            if writer is not None:
                writer.close()
    if not rows or columns is None:
        what = f"data file {source.where}" if source.where.startswith("'") else source.where
        raise DataError(f"{what} has no rows; it needs a header row and data rows", key=str(source.path))
    warnings = _checks(columns, target, source.where)
    return Ingested(sha256=sink.digest.hexdigest(), rows=rows, schema={c.name: c.entry() for c in columns},
                    warnings=warnings, total_bytes=source.total_bytes)


def _flush(writer: Any, group: list[Any], columns: list[_Column], written: int) -> int:
    """Count the batches held into the statistics, write them as one row group and release them.

    Statistics per row group rather than per batch: the same work in Arrow, a tenth of the calls.
    Returns the rows written so far.
    """
    import pyarrow as pa

    table = pa.Table.from_batches(group)
    for col, chunked in zip(columns, table.columns, strict=True):
        col.update(chunked, written)
    writer.write_table(table, row_group_size=len(table))
    group.clear()
    return written + len(table)


def _write_frame(frame: Any, source: _Source, dest: Path, target: str | None, on_progress: Progress | None) -> Ingested:
    """The file pandas read where pyarrow could not (a JSON-lines column whose type varies by row)."""
    table = _frame_table(frame)
    return _write(source, dest, target, iter(table.to_batches(max_chunksize=65_536)), on_progress, table.column_names)


def _frame_table(frame: Any) -> Any:
    """A DataFrame as an Arrow table; a column of values of several types becomes text, as pandas shows them."""
    import pyarrow as pa

    arrays = []
    for name in frame.columns:
        try:
            arrays.append(pa.array(frame[name], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # values of several types: as text, as pandas shows them
            arrays.append(pa.array(frame[name].map(lambda v: None if v is None or v != v else str(v)), pa.string()))
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def _checked_names(path: Path, names: list[str]) -> list[str]:
    """Column names as pandas gives them; duplicate names or no header at all are refused."""
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise DataError(f"'{path}' has two columns named '{name}'; rename or drop one", key=name)
        seen.add(name)
    if names and not any(names):
        raise DataError(f"data file '{path}' has no header row", key=str(path))
    return [name or f"Unnamed: {i}" for i, name in enumerate(names)]


def _canonical(batch: Any, names: list[str], path: Path) -> Any:
    """The batch as stored: pandas' names, an empty column as float64, no dictionaries or nested values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for name, array in zip(names, batch.columns, strict=True):
        t = array.type
        if pa.types.is_null(t):
            array = array.cast(pa.float64())
        elif pa.types.is_dictionary(t):
            array = array.cast(t.value_type)
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):  # pandas 3's str: the same text as CSV's
            array = array.cast(pa.string())
        elif pa.types.is_nested(array.type):
            first = pc.indices_nonzero(pc.is_valid(array))
            row = first[0].as_py() + 1 if len(first) else 1
            kind = "objects" if pa.types.is_struct(t) else "lists"
            raise DataError(f"column '{name}' in '{path}' holds nested values ({kind}, first at row {row}); "
                            "flatten it into plain columns or drop it", key=name)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _checks(columns: list[_Column], target: str | None, where: str) -> list[str]:
    """``check_training_data`` over the statistics: refusals of the target, warnings for ±inf features."""
    if target is not None:
        label = next(c for c in columns if c.name == target)
        first = label.values()[0] if label.distinct is not None and len(label.distinct) else None
        if isinstance(first, int) and not isinstance(first, bool) and label.missing:
            first = float(first)  # pandas reads an integer column with gaps as float64
        refuse_target(target, where, present=label.rows - label.missing, inf_rows=label.inf_rows,
                      inf_count=label.inf_count, n_unique=label.n_unique, first=first)
    return [inf_warning(c.name, c.inf_rows, c.inf_count) for c in columns if c.inf_count and c.name != target]
