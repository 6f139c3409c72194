"""Request bodies -> rows (one dict per row), and rows -> the frame a bundle predicts on.

Accepted shapes (``parse_payload``):

- JSON records: ``[{...}, ...]`` or ``{"records": [...]}``;
- JSON columnar: ``{"columns": [...], "data": [[...], ...]}``;
- MLflow / SageMaker: ``{"dataframe_split": {"columns", "data"}}``, ``{"dataframe_records": [...]}``,
  ``{"instances": [...]}`` (objects, or lists in signature order), ``{"inputs": {col: [values]}}``;
- Vertex AI: ``{"instances": [...], "parameters": {...}}``;
- CSV with a header row (``content-type: text/csv``).

``rows_from_v2`` reads Open Inference Protocol v2 ``inputs`` (one tensor per column, or one
``[rows, columns]`` tensor in signature order).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from tesla.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PayloadError", "PayloadTooLarge", "UnsupportedMediaType", "loads", "parse_payload", "rows_from_v2",
           "rows_to_frame"]

Signature = Sequence[Mapping[str, Any]]
_SHAPES = ('a JSON list of records, {"records": [...]}, {"columns": [...], "data": [...]}, '
           '{"dataframe_split": ...}, {"dataframe_records": [...]}, {"instances": [...]}, '
           '{"inputs": ...} or CSV with a header row')
# curl -d sends x-www-form-urlencoded and SageMaker's SDK octet-stream by default: both are read as JSON
_JSON_MEDIA = frozenset({"", "application/json", "text/json", "text/plain", "application/x-www-form-urlencoded",
                         "application/octet-stream"})
_V2_DATATYPES = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                           "FP16", "FP32", "FP64", "BYTES"})
_LAST_KEY = re.compile(rb'"((?:[^"\\]|\\.){1,200})"\s*:\s*[^"]*$')
_V2_SHAPE = '{"inputs": [{"name", "shape", "datatype", "data"}, ...]}'


class PayloadError(DataError):
    """The request body cannot be read as rows; ``key`` names the part that is wrong (``body``,
    ``columns[2]``, ``inputs[0].shape``) and the message says what is accepted."""


class UnsupportedMediaType(PayloadError):
    """The request's content type is neither JSON nor CSV (HTTP 415)."""


class PayloadTooLarge(PayloadError):
    """The request body or its row count is over the server's limit (HTTP 413)."""


def _not_json(body: bytes, exc: orjson.JSONDecodeError) -> PayloadError:
    """Say where the JSON broke: the field it broke in, and the usual causes in words."""
    before = body[max(0, exc.pos - 2048):exc.pos]
    found = _LAST_KEY.search(before)
    key = found.group(1).decode("utf-8", "replace") if found else "body"
    near = f" (in field '{key}')" if found else ""
    literal = next((t for t in ("NaN", "Infinity", "-Infinity") if body.startswith(t.encode(), exc.pos)), None)
    if any(word in exc.msg for word in ("depth", "recursion", "allocate")):
        why = "it nests deeper than the 1024 levels JSON bodies may have"
    elif literal:
        why = f"{literal} is not JSON; send null for a missing value and only finite numbers"
    elif "infinity" in exc.msg:
        why = "a number is too large for a 64-bit float; send only finite numbers"
    else:
        why = exc.msg
    return PayloadError(f"body is not valid JSON{near}: {why} (line {exc.lineno}, column {exc.colno})", key=key)


def loads(body: bytes) -> Any:
    """JSON from a request body; PayloadError when it is empty or not JSON."""
    if not body.strip():
        raise PayloadError(f"body is empty; send {_SHAPES}", key="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _not_json(body, exc) from exc


def _check_columns(columns: Any, where: str) -> list[str]:
    if not isinstance(columns, list):
        raise PayloadError(f"{where}.columns must be a list of column names; got {type(columns).__name__}",
                           key=f"{where}.columns")
    seen: set[str] = set()
    for i, name in enumerate(columns):
        if not isinstance(name, str):
            raise PayloadError(f"{where}.columns[{i}] must be a column name (a string); got "
                               f"{type(name).__name__} {orjson.dumps(name).decode()[:80]}", key=f"{where}.columns[{i}]")
        if name in seen:
            raise PayloadError(f"{where}.columns[{i}] repeats column '{name}'; name each column once",
                               key=f"{where}.columns[{i}]")
        seen.add(name)
    return columns


def _rows_from_columns(columns: Any, data: Any, where: str) -> list[dict[str, Any]]:
    names = _check_columns(columns, where)
    if not isinstance(data, list):
        raise PayloadError(f"{where}.data must be a list of rows (lists of values); got {type(data).__name__}",
                           key=f"{where}.data")
    width = len(names)
    rows = []
    for i, values in enumerate(data):
        if not isinstance(values, list) or len(values) != width:
            raise PayloadError(f"{where}.data[{i}] must be a list of {width} values, one per column",
                               key=f"{where}.data[{i}]")
        rows.append(dict(zip(names, values)))
    return rows


def _rows_from_mapping(columns: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    if not columns:
        raise PayloadError(f"{where} must map each column name to a list of values; got no columns", key=where)
    first = next(iter(columns))
    for name, values in columns.items():
        if not isinstance(values, list):
            raise PayloadError(f"{where}.{name} must be a list of values (one per row); got "
                               f"{type(values).__name__}", key=f"{where}.{name}")
        if len(values) != len(columns[first]):
            raise PayloadError(f"{where}: every column must be a list of the same length; '{first}' has "
                               f"{len(columns[first])}, '{name}' has {len(values)}", key=f"{where}.{name}")
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


def _rows_from_instances(instances: Any, signature: Signature, where: str) -> list[dict[str, Any]]:
    if not isinstance(instances, list):
        raise PayloadError(f"{where} must be a list of rows; got {type(instances).__name__}", key=where)
    names = [f["name"] for f in signature]
    rows = []
    for i, inst in enumerate(instances):
        if isinstance(inst, list):
            if len(inst) != len(names):
                raise PayloadError(f"{where}[{i}] has {len(inst)} values; a list row needs {len(names)}, "
                                   f"in signature order ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''})",
                                   key=f"{where}[{i}]")
            rows.append(dict(zip(names, inst)))
        else:
            rows.append(inst)  # objects (and junk, which validation names)
    return rows


def _rows_from_csv(text: str, signature: Signature) -> list[dict[str, Any]]:
    numeric = {f["name"] for f in signature if f["type"] == "numeric"}
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise PayloadError("CSV body has no header row; the first line must name the columns", key="body")
    repeated = sorted({name for name in reader.fieldnames if reader.fieldnames.count(name) > 1})
    if repeated:
        raise PayloadError(f"CSV header repeats column '{repeated[0]}'; name each column once", key=repeated[0])
    rows = []
    for raw in reader:
        if None in raw:
            raise PayloadError(f"CSV line {reader.line_num} has more values than the header has columns",
                               key=f"line {reader.line_num}")
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if value in ("", None):
                row[key] = None
            elif key in numeric:
                try:
                    row[key] = float(value)
                except ValueError:
                    row[key] = value  # validation names it
            else:
                row[key] = value
        rows.append(row)
    return rows


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def parse_payload(body: bytes, content_type: str, signature: Signature) -> list[Any]:
    """Rows from any accepted body shape (see the module docstring).

    Raises:
        PayloadError: the body is not one of the accepted shapes (``key`` names the part).
        UnsupportedMediaType: the content type is neither JSON nor CSV.
    """
    media = _media_type(content_type)
    if "csv" in media:
        try:
            return _rows_from_csv(body.decode("utf-8-sig"), signature)
        except UnicodeDecodeError as exc:
            raise PayloadError(f"CSV body is not UTF-8: {exc}", key="body") from exc
        except csv.Error as exc:
            raise PayloadError(f"CSV body cannot be read: {exc}", key="body") from exc
    if media not in _JSON_MEDIA and not media.endswith("json"):
        raise UnsupportedMediaType(f"content-type '{media}' is not accepted; send application/json or text/csv",
                                   key="content-type")
    payload = loads(body)
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, Mapping):
        raise PayloadError(f"body must be {_SHAPES}; got a JSON {type(payload).__name__}", key="body")
    for key in ("records", "dataframe_records"):
        if key in payload:
            return payload[key]
    if "columns" in payload:
        return _rows_from_columns(payload["columns"], payload.get("data"), "body")
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, Mapping):
            raise PayloadError('"dataframe_split" must be {"columns": [...], "data": [[...], ...]}',
                               key="dataframe_split")
        return _rows_from_columns(split.get("columns"), split.get("data"), "dataframe_split")
    if "instances" in payload:
        return _rows_from_instances(payload["instances"], signature, "instances")
    if "inputs" in payload:
        inputs = payload["inputs"]
        if isinstance(inputs, Mapping):
            return _rows_from_mapping(inputs, "inputs")
        return _rows_from_instances(inputs, signature, "inputs")
    raise PayloadError(f"body must be {_SHAPES}; got an object with keys "
                       f"{', '.join(map(repr, list(payload)[:5])) or 'none'}", key="body")


def _flatten(data: Any) -> list[Any]:
    """Row-major values of a tensor's (possibly nested) ``data``."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(d, list) for d in data):
        return data
    return [v for d in data for v in _flatten(d)]


def _tensor(i: int, tensor: Any) -> tuple[str, list[int], list[Any]]:
    """(name, shape, flat values) of ``inputs[i]``, each part checked."""
    where = f"inputs[{i}]"
    if not isinstance(tensor, Mapping):
        raise PayloadError(f"{where} must be a tensor object {{\"name\", \"shape\", \"datatype\", \"data\"}}; got "
                           f"{type(tensor).__name__}", key=where)
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise PayloadError(f"{where}.name must be a feature name (a non-empty string)", key=f"{where}.name")
    if not isinstance(datatype, str) or datatype not in _V2_DATATYPES:
        raise PayloadError(f"{where}.datatype must be one of {', '.join(sorted(_V2_DATATYPES))}; got "
                           f"{orjson.dumps(datatype).decode()[:40]}", key=f"{where}.datatype")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(n, int | float) and not isinstance(n, bool) and n >= 0 and n == int(n)
                       for n in shape)):
        raise PayloadError(f"{where}.shape must be a list of non-negative integers; got "
                           f"{orjson.dumps(shape).decode()[:40]}", key=f"{where}.shape")
    shape = [int(n) for n in shape]  # 2.0 is an integer in JSON
    if "data" not in tensor:
        raise PayloadError(f"{where}.data is missing; give the tensor's values", key=f"{where}.data")
    values = _flatten(tensor["data"])
    size = 1
    for n in shape:
        size *= n
    if size != len(values):
        raise PayloadError(f"{where}.shape {shape} holds {size} values but data has {len(values)}",
                           key=f"{where}.shape")
    return name, shape, values


def rows_from_v2(payload: Any, signature: Signature) -> list[dict[str, Any]]:
    """Rows from an Open Inference Protocol v2 request's ``inputs``.

    Raises:
        PayloadError: not a JSON object, no ``inputs``, a malformed tensor (name, datatype, shape not
            matching its data), a repeated name, or tensors of different lengths.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(f"body must be a JSON object {_V2_SHAPE}; got a JSON {type(payload).__name__}",
                           key="body")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        got = "nothing" if inputs is None else f"a {type(inputs).__name__}" if inputs else "an empty list"
        raise PayloadError(f"inputs must be a non-empty list of tensors: {_V2_SHAPE}; got {got}", key="inputs")
    tensors = [_tensor(i, t) for i, t in enumerate(inputs)]
    names = [f["name"] for f in signature]
    if len(tensors) == 1 and tensors[0][0] not in names:
        _, shape, values = tensors[0]
        if len(shape) != 2 or shape[1] != len(names):
            raise PayloadError(f"inputs[0].shape: a single tensor must have shape [rows, {len(names)}] (columns in "
                               f"signature order: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}), "
                               f"or be named after a feature; got shape {shape}", key="inputs[0].shape")
        width = len(names)
        return [dict(zip(names, values[r * width:(r + 1) * width])) for r in range(shape[0])]
    columns: dict[str, list[Any]] = {}
    for i, (name, shape, values) in enumerate(tensors):
        if name in columns:
            raise PayloadError(f"inputs[{i}].name repeats '{name}'; send one tensor per feature",
                               key=f"inputs[{i}].name")
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise PayloadError(f"inputs[{i}].shape: the tensor of feature '{name}' must have shape [rows] or "
                               f"[rows, 1]; got {shape}", key=f"inputs[{i}].shape")
        columns[name] = values
    return _rows_from_mapping(columns, "inputs")  # unknown names become unknown columns: validation names them


def rows_to_frame(rows: Sequence[Mapping[str, Any]], signature: Signature) -> pd.DataFrame:
    """The frame (signature columns, in order) that a bundle predicts on, built without per-row pandas work."""
    from tesla.models.bundle import records_frame

    return records_frame(rows, signature)
