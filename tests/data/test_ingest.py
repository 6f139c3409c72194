"""The streaming ingest (``tesla.data.ingest``): one pass, Arrow batches, canonical Parquet, bounded memory.

Small blocks (``_BLOCK_BYTES`` patched to a few KB) make a file of a few hundred KB span dozens of
batches, so what happens past the sampled first block is tested without a large file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tesla.data import infer_schema, read_table
from tesla.data import ingest as ingest_module
from tesla.data.ingest import DISTINCT_CAP, ingest
from tesla.errors import DataError

BLOCK = 4096


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ingest_module, "_BLOCK_BYTES", BLOCK)
    monkeypatch.setattr(ingest_module, "_GROUP_ROWS", 500)
    yield


def _mixed(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n), "i": rng.integers(0, 50, n), "c": rng.choice(["a", "b", "c"], n),
        "d": pd.date_range("2020-01-01", periods=n, freq="h").astype(str), "t": [f"id{i}" for i in range(n)],
        "b": rng.choice([True, False], n), "bn": rng.choice([True, False, None], n), "e": None,
        "f": rng.integers(0, 5, n).astype(float), "y": rng.choice(["yes", "no"], n)})
    df.loc[[3, 40], "x"] = np.nan
    df.loc[5, "c"] = None
    df.loc[7, "f"] = np.nan
    df.loc[[9, 2000], "x"] = [np.inf, -np.inf]
    return df


def test_csv_schema_values_and_warnings_match_reading_it_whole(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "m.csv"
    _mixed().to_csv(path, index=False)
    got = ingest(path, tmp_path / "out.parquet", target="y")
    whole = read_table(path)
    assert got.rows == len(whole) == 3000
    assert got.schema == infer_schema(whole)  # every column's type, dtype, n_unique, categories
    stored = pd.read_parquet(tmp_path / "out.parquet")
    _same_frame(stored, whole)  # steps read what pandas would have read
    assert got.warnings == ["warning: column 'x' holds inf/-inf at rows 10, 2001; they count as missing values "
                            "(imputed with the training median)"]
    assert pq_row_groups(tmp_path / "out.parquet") >= 5  # written as it was read, a row group at a time


def _same_frame(stored: pd.DataFrame, whole: pd.DataFrame) -> None:
    """Equal values and dtypes; a missing value in an object column may be None or NaN."""
    def missing_as_none(df: pd.DataFrame) -> pd.DataFrame:
        return df.apply(lambda c: c.astype(object).where(c.notna(), None) if c.dtype == object else c)

    pd.testing.assert_frame_equal(missing_as_none(stored), missing_as_none(whole))


def pq_row_groups(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_row_groups


def test_a_late_batch_that_breaks_the_sampled_type_widens_the_column(tmp_path: Path, small_blocks: None) -> None:
    df = _mixed()
    n = df["i"].astype(object)
    n.iloc[2500] = 1.5  # int64 in the sampled block, a float far past it
    df["n"] = n
    df["s"] = df["i"].astype(object)
    df.loc[2900, "s"] = "abc"  # int64, then text
    df["late"] = None
    df.loc[2800, "late"] = 7  # empty in the sample
    path = tmp_path / "late.csv"
    df.to_csv(path, index=False)
    said: list[str] = []
    got = ingest(path, tmp_path / "out.parquet", say=said.append)
    whole = read_table(path)
    _same_frame(pd.read_parquet(tmp_path / "out.parquet"), whole)
    assert got.schema == infer_schema(whole)
    assert (got.schema["n"]["dtype"], got.schema["s"]["dtype"], got.schema["late"]["dtype"]) == (
        "float64", "str", "float64")
    assert any("column 'n' holds '1.5' after the sampled rows; reading it as float64" in line for line in said)
    assert any("column 's' holds 'abc' after the sampled rows; reading it as string" in line for line in said)


def test_a_late_ragged_row_and_late_bad_bytes_name_their_line(tmp_path: Path, small_blocks: None) -> None:
    lines = ["x,c,y"] + [f"{i},a,yes" for i in range(5000)]
    ragged = list(lines)
    ragged[4000] = "1,a,yes,extra"
    (tmp_path / "ragged.csv").write_text("\n".join(ragged) + "\n")
    with pytest.raises(DataError, match=r"ragged\.csv' line 4001 has 4 fields but the header has 3"):
        ingest(tmp_path / "ragged.csv", tmp_path / "out.parquet")
    latin = "\n".join(lines[:4500]) + "\n1,caf\xe9,yes\n"
    (tmp_path / "latin.csv").write_bytes(latin.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv' is not UTF-8: line 4501 holds byte 0xe9"):
        ingest(tmp_path / "latin.csv", tmp_path / "out.parquet")


def test_quoted_line_breaks_across_blocks_are_values(tmp_path: Path, small_blocks: None) -> None:
    df = pd.DataFrame({"x": range(2000), "note": [f"line one\nline {i}" for i in range(2000)]})
    df.to_csv(tmp_path / "notes.csv", index=False)
    got = ingest(tmp_path / "notes.csv", tmp_path / "out.parquet")
    assert got.rows == 2000
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), read_table(tmp_path / "notes.csv"))


def test_the_hash_is_of_the_content_not_the_file_name_or_the_run(tmp_path: Path, small_blocks: None) -> None:
    _mixed().to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "copy.csv").write_bytes((tmp_path / "a.csv").read_bytes())
    first = ingest(tmp_path / "a.csv", tmp_path / "1.parquet").sha256
    again = ingest(tmp_path / "a.csv", tmp_path / "2.parquet").sha256
    copy = ingest(tmp_path / "copy.csv", tmp_path / "3.parquet").sha256
    assert first == again == copy
    from tesla.store import hash_path

    assert hash_path(tmp_path / "1.parquet") == first  # the sha hashed while writing is the stored bytes'
    _mixed(seed=1).to_csv(tmp_path / "b.csv", index=False)
    assert ingest(tmp_path / "b.csv", tmp_path / "4.parquet").sha256 != first


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_parquet_and_json_lines_stream_to_the_same_values(suffix: str, tmp_path: Path, small_blocks: None) -> None:
    df = _mixed().drop(columns=["e", "bn"])  # pandas reads these two differently per format; see the docstring
    df["x"] = df["x"].replace([np.inf, -np.inf], np.nan)  # JSON has no inf
    path = tmp_path / f"m{suffix}"
    df.to_parquet(path, index=False) if suffix == ".parquet" else df.to_json(path, orient="records", lines=True)
    got = ingest(path, tmp_path / "out.parquet", target="y")
    stored, whole = pd.read_parquet(tmp_path / "out.parquet"), read_table(path)
    assert list(stored.columns) == list(whole.columns) and got.rows == len(whole)
    for name in ["i", "c", "d", "t", "b", "y"]:
        assert stored[name].tolist() == whole[name].tolist(), name
    np.testing.assert_allclose(stored["x"], whole["x"], rtol=1e-12)  # pandas' JSON floats are not exact
    assert {k: v["type"] for k, v in got.schema.items()} == {k: v["type"] for k, v in infer_schema(whole).items()}


def test_a_json_lines_column_whose_type_changes_is_read_by_pandas(tmp_path: Path) -> None:
    rows = [{"x": i, "v": "text" if i == 50 else i, "y": i % 2} for i in range(120)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(pd.io.json.ujson_dumps(r) + "\n" for r in rows))
    got = ingest(path, tmp_path / "out.parquet", target="y")
    assert got.rows == 120 and got.schema["v"]["type"] in {"categorical", "text"}


def test_high_cardinality_counts_stop_at_the_cap(tmp_path: Path) -> None:
    n = DISTINCT_CAP + 500
    pd.DataFrame({"id": [f"u{i}" for i in range(n)], "y": [i % 2 for i in range(n)]}).to_csv(tmp_path / "u.csv",
                                                                                           index=False)
    got = ingest(tmp_path / "u.csv", tmp_path / "out.parquet", target="y")
    assert got.schema["id"] == {"type": "text", "dtype": "str", "nullable": False, "n_unique": DISTINCT_CAP,
                                "n_unique_at_least": True}
    assert got.schema["y"]["n_unique"] == 2


def test_memory_stays_a_few_batches_whatever_the_file_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow's allocations while reading a file of ~330 blocks stay flat once the distinct counts are full
    (the batches read are released) and far below the file's size."""
    block = 32 << 10
    monkeypatch.setattr(ingest_module, "_BLOCK_BYTES", block)
    monkeypatch.setattr(ingest_module, "_GROUP_ROWS", 2000)  # a row group is held until written: ~2 blocks
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    n = 320_000
    pd.DataFrame({"x": rng.normal(size=n), "k": rng.choice(["a", "b"], n), "s": [f"row-{i}" for i in range(n)],
                  "y": rng.integers(0, 2, n)}).to_csv(path, index=False)
    size = path.stat().st_size
    assert size > 300 * block
    pa.default_memory_pool().release_unused()
    base = pa.total_allocated_bytes()
    peaks: list[int] = []
    got = ingest(path, tmp_path / "out.parquet", target="y",
                 on_progress=lambda done, rows: peaks.append(pa.total_allocated_bytes() - base))
    assert got.rows == n and len(peaks) > 300  # one progress call per batch
    half = len(peaks) // 2
    assert max(peaks[half:]) <= 1.1 * max(peaks[:half]), peaks  # reading more rows holds no more memory
    assert max(peaks) < size / 5, (max(peaks), size, peaks[::5])


def test_progress_reports_bytes_and_rows_up_to_the_file_size(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "m.csv"
    _mixed().to_csv(path, index=False)
    calls: list[tuple[int, int]] = []
    ingest(path, tmp_path / "out.parquet", on_progress=lambda done, rows: calls.append((done, rows)))
    assert [r for _, r in calls] == sorted(r for _, r in calls) and calls[-1][1] == 3000
    assert all(0 < done <= path.stat().st_size for done, _ in calls) and calls[-1][0] == path.stat().st_size
