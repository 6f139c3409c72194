"""Every file format and compression ``tesla load`` reads, through the streaming ingest; and the clear refusals."""

from __future__ import annotations

import bz2
import gzip
import json
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest

from tesla.data.ingest import ingest
from tesla.errors import DataError

FRAME = pd.DataFrame({"x": [1, 2, 3, 4], "c": ["a", "b", "a", "é"], "y": [0.5, 1.5, 2.5, 3.5]})
CSV = FRAME.to_csv(index=False)


def _read(path: Path, tmp_path: Path, **kw: object) -> tuple[pd.DataFrame, str, list[str]]:
    said: list[str] = []
    found = ingest(path, tmp_path / "out.parquet", say=said.append, **kw)
    return pd.read_parquet(tmp_path / "out.parquet"), found.sha256, said


def _plain_sha(tmp_path: Path) -> str:
    (tmp_path / "plain.csv").write_text(CSV, encoding="utf-8")
    return _read(tmp_path / "plain.csv", tmp_path)[1]


def _zst(path: Path, data: bytes) -> None:
    with pa.output_stream(str(path), compression="zstd") as out:
        out.write(data)


@pytest.mark.parametrize("name, write", [
    ("d.csv.gz", lambda p: p.write_bytes(gzip.compress(CSV.encode()))),
    ("d.csv.bz2", lambda p: p.write_bytes(bz2.compress(CSV.encode()))),
    ("d.csv.zst", lambda p: _zst(p, CSV.encode())),
    ("d.zip", lambda p: zipfile.ZipFile(p, "w").writestr("inner/d.csv", CSV)),
    ("semi.csv", lambda p: p.write_text(CSV.replace(",", ";"), encoding="utf-8")),
    ("pipe.csv", lambda p: p.write_text(CSV.replace(",", "|"), encoding="utf-8")),
    ("tabs.csv", lambda p: p.write_text(CSV.replace(",", "\t"), encoding="utf-8")),
    ("d.tsv", lambda p: p.write_text(CSV.replace(",", "\t"), encoding="utf-8")),
    ("bom.csv", lambda p: p.write_bytes(b"\xef\xbb\xbf" + CSV.encode())),
    ("utf16.csv", lambda p: p.write_text(CSV, encoding="utf-16")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_compressed_and_differently_separated_text_is_the_same_content(tmp_path: Path, name: str, write) -> None:
    path = tmp_path / name
    write(path)
    frame, sha, _ = _read(path, tmp_path)
    pd.testing.assert_frame_equal(frame, FRAME)
    assert sha == _plain_sha(tmp_path)  # same content, same version, whatever the wrapping


def test_a_sniffed_separator_is_said(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text(CSV.replace(",", ";"))
    assert "'semi.csv' is separated by ';'" in _read(tmp_path / "semi.csv", tmp_path)[2]


def test_a_legacy_encoding_is_refused_unless_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(CSV.encode("cp1252"))
    with pytest.raises(DataError, match=r"line 5 holds byte 0xe9 .*load it with --encoding cp1252"):
        _read(path, tmp_path)
    frame, sha, _ = _read(path, tmp_path, encoding="cp1252")
    pd.testing.assert_frame_equal(frame, FRAME)
    assert sha == _plain_sha(tmp_path)


@pytest.mark.parametrize("name, write", [
    ("d.parquet", lambda p: FRAME.to_parquet(p)),
    ("d.feather", lambda p: feather.write_feather(pa.Table.from_pandas(FRAME, preserve_index=False), p)),
    ("d.arrow", lambda p: _ipc_stream(p)),
    ("d.xlsx", lambda p: FRAME.to_excel(p, index=False)),
    ("array.json", lambda p: p.write_text(FRAME.to_json(orient="records"))),
    ("lines.json", lambda p: p.write_text(FRAME.to_json(orient="records", lines=True))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_binary_and_json_formats_read_as_the_csv(tmp_path: Path, name: str, write) -> None:
    write(tmp_path / name)
    frame, _, _ = _read(tmp_path / name, tmp_path)
    pd.testing.assert_frame_equal(frame, FRAME)


def _ipc_stream(path: Path) -> None:
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    with ipc.new_stream(str(path), table.schema) as writer:
        writer.write_table(table)


@pytest.mark.parametrize("name, text", [
    ("array.json", json.dumps([{"id": 1, "geo": {"lat": 1.5}}, {"id": 2, "geo": {"lat": 2.5}}])),
    ("lines.jsonl", '{"id": 1, "geo": {"lat": 1.5}}\n{"id": 2, "geo": {"lat": 2.5}}\n'),
])
def test_nested_objects_are_refused_as_every_reader_refuses_them(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=rf"column 'geo' in '.*{name}' holds nested values \(objects, first at row 1\); "
                                        "flatten it into plain columns or drop it"):
        _read(tmp_path / name, tmp_path)


@pytest.mark.parametrize("name, write, message", [
    ("list.jsonl", lambda p: p.write_text('{"id": 1, "tags": [1, 2]}\n{"id": 2, "tags": [3]}\n'),
     r"column 'tags' in '.*list\.jsonl' holds nested values \(lists, first at row 1\)"),
    ("numbers.json", lambda p: p.write_text("[1, 2, 3]"),
     r"numbers\.json' is a JSON array whose item 1 is int, not an object"),
    ("broken.json", lambda p: p.write_text('[{"a": 1},'), r"cannot read '.*broken\.json' as a JSON array"),
    ("two.zip", lambda p: _two_members(p), r"two\.zip' holds 2 files \(a\.csv, b\.csv\); a zip archive must hold "
                                           "exactly one table"),
    ("dup.xlsx", lambda p: pd.DataFrame([[1, 2]], columns=["a", "a"]).to_excel(p, index=False),
     r"dup\.xlsx' has two columns named 'a'; rename or drop one"),
    ("bad.xlsx", lambda p: p.write_bytes(b"PK\x03\x04not really"), r"cannot read '.*bad\.xlsx' as an Excel workbook"),
    ("text.xlsx", lambda p: p.write_text(CSV), r"text\.xlsx' is not an Excel workbook \(\.xlsx files are zip "
                                               r"archives\); if it is CSV text, rename it to end in \.csv"),
    ("bad.feather", lambda p: p.write_bytes(b"ARROW1 nonsense"), r"cannot read '.*bad\.feather' as Feather/Arrow IPC"),
    ("d.xls", lambda p: p.write_bytes(b"\xd0\xcf"), r"cannot tell the format of '.*d\.xls'; use a file ending in "),
])
def test_bad_files_get_one_line_naming_them(tmp_path: Path, name: str, write, message: str) -> None:
    write(tmp_path / name)
    with pytest.raises(DataError, match=message):
        _read(tmp_path / name, tmp_path)


def _two_members(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", CSV)
        z.writestr("b.csv", CSV)


@pytest.mark.parametrize("name, write", [
    ("d.feather", lambda p: feather.write_feather(pa.Table.from_pandas(FRAME, preserve_index=False), p)),
    ("d.xlsx", lambda p: FRAME.to_excel(p, index=False)),
    ("array.json", lambda p: p.write_text(FRAME.to_json(orient="records"))),
], ids=["feather", "excel", "json-array"])
def test_evaluate_and_predict_read_the_new_formats_too(tmp_path: Path, name: str, write) -> None:
    from tesla.data import read_table

    write(tmp_path / name)
    pd.testing.assert_frame_equal(read_table(tmp_path / name), FRAME, check_dtype=False)
