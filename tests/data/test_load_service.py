"""``DataService.load`` over the streaming ingest: events, what is stored, and the CLI's progress line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.cli.render import IngestRenderer
from tesla.errors import DataError
from tesla.execution import Event
from tesla.store import Store, hash_path


def _csv(path: Path, n: int = 400) -> Path:
    pd.DataFrame({"x": range(n), "c": ["a", "b"] * (n // 2), "y": [i % 3 for i in range(n)]}).to_csv(path, index=False)
    return path


def test_load_sends_messages_and_progress_events(project: Path, tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv")
    events: list[Event] = []
    result = api.load(path, "d", target="y", project_dir=project, on_event=events.append)
    kinds = {e.kind for e in events}
    assert kinds == {"message", "ingest_progress"}
    assert events[0].data == {"text": f"reading {path}"}
    last = [e.data for e in events if e.kind == "ingest_progress"][-1]
    assert last == {"bytes": path.stat().st_size, "total_bytes": path.stat().st_size, "rows": 400}
    assert result.created and result.version.rows == 400 and result.raw_sha256 is None


def test_the_version_stores_parquet_and_the_raw_file_only_when_asked(project: Path, tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv")
    plain = api.load(path, "d", target="y", project_dir=project)
    store = Store.open(project)
    assert not store.artifacts.exists(hash_path(path))  # the CSV itself is not copied into the store
    stored = pd.read_parquet(store.artifacts.verify(plain.version.sha256))
    pd.testing.assert_frame_equal(stored, pd.read_csv(path))
    kept = api.load(path, "kept", target="y", project_dir=project, keep_raw=True)
    assert kept.raw_sha256 == hash_path(path) and store.artifacts.exists(kept.raw_sha256)
    assert kept.version.sha256 == plain.version.sha256  # same content, same hash, whatever the dataset


def test_the_same_content_under_another_file_name_is_unchanged(project: Path, tmp_path: Path) -> None:
    first = api.load(_csv(tmp_path / "a.csv"), "d", target="y", project_dir=project)
    again = api.load(_csv(tmp_path / "renamed.csv"), "d", project_dir=project)
    assert first.created and not again.created and again.version.version == 1


def test_a_refused_file_leaves_no_staged_bytes(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n" + "1,2\n" * 3000 + "1,2,3\n")
    with pytest.raises(DataError, match=r"line 3002 has 3 fields"):
        api.load(bad, "bad", project_dir=project)
    staging = project / ".tesla" / "artifacts" / "tmp"
    assert staging.is_dir() and not any(staging.iterdir())  # the pass staged there, and cleaned up
    assert Store.open(project).dataset_names() == []


def test_the_progress_line_shows_bytes_rows_and_eta() -> None:
    render = IngestRenderer(stream_is_tty=False)
    render.started -= 10  # ten seconds in
    line = render.line({"bytes": 250_000_000, "total_bytes": 1_000_000_000, "rows": 1_400_000})
    assert line == "  250.0 MB / 1.0 GB (25%)  1.4 M rows  ETA 30 s"
    assert render.line({"bytes": 0, "total_bytes": 0, "rows": 12}) == "  0 B  12 rows"


def test_piped_output_gets_the_messages_but_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with IngestRenderer(stream_is_tty=False) as render:
        render(Event("ingest_progress", data={"bytes": 1, "total_bytes": 2, "rows": 3}))
        render(Event("message", data={"text": "reading [x].csv"}))
    err = capsys.readouterr().err
    assert "reading [x].csv" in err and "rows" not in err and "\r" not in err
