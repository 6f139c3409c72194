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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PayloadError", "loads", "parse_payload", "rows_from_v2", "rows_to_frame"]

Signature = Sequence[Mapping[str, Any]]
_SHAPES = ('a JSON list of records, {"records": [...]}, {"columns": [...], "data": [...]}, '
           '{"dataframe_split": ...}, {"dataframe_records": [...]}, {"instances": [...]}, '
           '{"inputs": ...} or CSV with a header row')


class PayloadError(ValueError):
    """The request body cannot be read as rows; the message says which shapes are accepted."""


def loads(body: bytes) -> Any:
    """JSON from a request body; PayloadError when it is not JSON."""
    try:
        return orjson.loads(body or b"null")
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc


def _rows_from_columns(columns: Any, data: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(columns, list) or not isinstance(data, list):
        raise PayloadError(f"{where}: 'columns' must be a list of names and 'data' a list of rows")
    width = len(columns)
    rows = []
    for i, values in enumerate(data):
        if not isinstance(values, list) or len(values) != width:
            raise PayloadError(f"{where}: data[{i}] must be a list of {width} values, one per column")
        rows.append(dict(zip(columns, values)))
    return rows


def _rows_from_mapping(columns: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise PayloadError(f"{where}: every column must be a list of values, all of the same length")
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


def _rows_from_instances(instances: Any, signature: Signature, where: str) -> list[dict[str, Any]]:
    if not isinstance(instances, list):
        raise PayloadError(f"{where} must be a list of rows")
    names = [f["name"] for f in signature]
    rows = []
    for i, inst in enumerate(instances):
        if isinstance(inst, list):
            if len(inst) != len(names):
                raise PayloadError(f"{where}[{i}] has {len(inst)} values; a list row needs {len(names)}, "
                                   f"in signature order ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''})")
            rows.append(dict(zip(names, inst)))
        else:
            rows.append(inst)  # objects (and junk, which validation names)
    return rows


def _rows_from_csv(text: str, signature: Signature) -> list[dict[str, Any]]:
    numeric = {f["name"] for f in signature if f["type"] == "numeric"}
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise PayloadError("CSV body has no header row; the first line must name the columns")
    rows = []
    for raw in reader:
        if None in raw:
            raise PayloadError(f"CSV line {reader.line_num} has more values than the header has columns")
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


def parse_payload(body: bytes, content_type: str, signature: Signature) -> list[Any]:
    """Rows from any accepted body shape (see the module docstring).

    Raises:
        PayloadError: the body is not one of the accepted shapes.
    """
    if "csv" in content_type:
        try:
            return _rows_from_csv(body.decode("utf-8-sig"), signature)
        except UnicodeDecodeError as exc:
            raise PayloadError(f"CSV body is not UTF-8: {exc}") from exc
    payload = loads(body)
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, Mapping):
        raise PayloadError(f"body must be {_SHAPES}")
    for key in ("records", "dataframe_records"):
        if key in payload:
            return payload[key]
    if "columns" in payload:
        return _rows_from_columns(payload["columns"], payload.get("data"), "body")
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, Mapping):
            raise PayloadError('"dataframe_split" must be {"columns": [...], "data": [[...], ...]}')
        return _rows_from_columns(split.get("columns"), split.get("data"), "dataframe_split")
    if "instances" in payload:
        return _rows_from_instances(payload["instances"], signature, "instances")
    if "inputs" in payload:
        inputs = payload["inputs"]
        if isinstance(inputs, Mapping):
            return _rows_from_mapping(inputs, "inputs")
        return _rows_from_instances(inputs, signature, "inputs")
    raise PayloadError(f"body must be {_SHAPES}; got an object with keys {', '.join(map(repr, list(payload)[:5]))}")


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list) and data and all(isinstance(d, list) for d in data):
        return [v for d in data for v in d]
    return data if isinstance(data, list) else [data]


def rows_from_v2(payload: Any, signature: Signature) -> list[dict[str, Any]]:
    """Rows from an Open Inference Protocol v2 request's ``inputs``.

    Raises:
        PayloadError: no ``inputs``, unknown tensor names, or tensors of different lengths.
    """
    inputs = payload.get("inputs") if isinstance(payload, Mapping) else None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, Mapping) for t in inputs):
        raise PayloadError('body must be {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    names = [f["name"] for f in signature]
    if len(inputs) == 1 and inputs[0].get("name") not in names:
        shape = inputs[0].get("shape") or []
        values = _flatten(inputs[0].get("data"))
        if len(shape) != 2 or shape[1] != len(names) or len(values) != shape[0] * shape[1]:
            raise PayloadError(f"a single tensor must have shape [rows, {len(names)}] (columns in signature "
                               f"order) and rows*{len(names)} values; got shape {shape} with {len(values)} values")
        width = len(names)
        return [dict(zip(names, values[i * width:(i + 1) * width])) for i in range(shape[0])]
    columns = {}
    for tensor in inputs:
        columns[str(tensor.get("name"))] = _flatten(tensor.get("data"))
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise PayloadError(f"every input tensor must hold the same number of rows; got {sorted(lengths)}")
    return _rows_from_mapping(columns, "inputs")  # unknown names become unknown columns: validation names them


def rows_to_frame(rows: Sequence[Mapping[str, Any]], signature: Signature) -> pd.DataFrame:
    """The frame (signature columns, in order) that a bundle predicts on, built without per-row pandas work."""
    import numpy as np
    import pandas as pd

    names = [f["name"] for f in signature]
    if all(f["type"] == "numeric" for f in signature):
        # validated rows hold numbers or None: one float block (None -> NaN) is the cheapest frame
        matrix = np.array([[row.get(n) for n in names] for row in rows], dtype="float64")
        return pd.DataFrame(matrix.reshape(len(rows), len(names)), columns=names)
    columns: dict[str, Any] = {}
    for f in signature:
        values = [row.get(f["name"]) for row in rows]
        columns[f["name"]] = (np.array(values, dtype="float64") if f["type"] == "numeric"
                              else np.array(values, dtype=object))
    return pd.DataFrame(columns, columns=names)
