"""Reading the capture contract: optional files, broken lines, --since windows, feedback joins."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tesla.errors import ConfigError
from tesla.monitor.captures import append_feedback, labelled_rows, parse_since, read_captures

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def _write(path: Path, items: list[object], extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(i) + "\n" for i in items) + extra)


def _prediction(ts: str, rid: str, row: int = 0, model: str = "m@1", x: float = 1.0) -> dict[str, object]:
    return {"ts": ts, "request_id": rid, "row": row, "model": model, "inputs": {"x": x, "c": "a"},
            "prediction": "yes", "probabilities": {"no": 0.2, "yes": 0.8}, "latency_ms": 4.5}


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)),
    ("30m", datetime(2024, 5, 1, 11, 30, tzinfo=timezone.utc)),
    ("1.5d", datetime(2024, 4, 30, 0, 0, tzinfo=timezone.utc)),
    ("1w", datetime(2024, 4, 24, 12, 0, tzinfo=timezone.utc)),
    ("2024-04-30T08:00:00Z", datetime(2024, 4, 30, 8, 0, tzinfo=timezone.utc)),
    ("2024-04-30T10:00:00+02:00", datetime(2024, 4, 30, 8, 0, tzinfo=timezone.utc)),
    ("2024-04-30", datetime(2024, 4, 30, 0, 0, tzinfo=timezone.utc)),  # naive: read as UTC
], ids=["hours", "minutes", "fractional-days", "weeks", "iso-z", "iso-offset", "date"])
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


def test_parse_since_rejects_nonsense_with_the_formats() -> None:
    with pytest.raises(ConfigError, match=r"^--since '2 fortnights' is neither a duration \(30m, 2h, 7d, 1w\) nor "
                                          r"an ISO-8601 time \(2024-05-01T12:00:00Z\)$"):
        parse_since("2 fortnights", now=NOW)


def test_a_missing_directory_is_no_traffic(tmp_path: Path) -> None:
    captures = read_captures(tmp_path / "nothing")
    assert len(captures.predictions) == 0 and len(captures.errors) == 0 and len(captures.feedback) == 0
    assert captures.requests == 0 and captures.dropped == 0


def test_reads_every_file_and_skips_broken_lines(tmp_path: Path) -> None:
    _write(tmp_path / "predictions-1.jsonl", [_prediction("2024-05-01T10:00:00+00:00", "r1", 0),
                                              _prediction("2024-05-01T10:00:00+00:00", "r1", 1)])
    # a second, rotated file whose last line a crashed writer left half-written
    _write(tmp_path / "predictions-2.jsonl", [_prediction("2024-05-01T11:00:00+00:00", "r2")], extra='{"ts": "2024')
    _write(tmp_path / "errors.jsonl", [{"ts": "2024-05-01T11:00:01+00:00", "request_id": "r3", "status": 422,
                                        "type": "validation"}, ["not", "an", "object"]])
    (tmp_path / "dropped.json").write_text('{"dropped": 7}')
    captures = read_captures(tmp_path)
    assert len(captures.predictions) == 3 and captures.requests == 2
    assert captures.bad_lines == 2
    assert captures.dropped == 7
    assert captures.files == ["predictions-1.jsonl", "predictions-2.jsonl"]
    assert list(captures.inputs.columns) == ["x", "c"]
    assert captures.probabilities.loc[0, "yes"] == 0.8
    assert captures.errors["status"].tolist() == [422]


def test_since_keeps_the_window_of_predictions_and_errors(tmp_path: Path) -> None:
    _write(tmp_path / "predictions-1.jsonl", [_prediction("2024-05-01T08:00:00Z", "old"),
                                              _prediction("2024-05-01T11:30:00Z", "new")])
    _write(tmp_path / "errors.jsonl", [{"ts": "2024-05-01T08:00:00Z", "request_id": "e1", "status": 500,
                                        "type": "internal"}])
    captures = read_captures(tmp_path, since=parse_since("2h", now=NOW))
    assert captures.predictions["request_id"].tolist() == ["new"]
    assert captures.inputs.index.tolist() == captures.predictions.index.tolist()
    assert len(captures.errors) == 0


def test_feedback_joins_on_request_and_row_and_the_newest_label_wins(tmp_path: Path) -> None:
    _write(tmp_path / "predictions-1.jsonl", [_prediction("2024-05-01T10:00:00Z", "r1", 0),
                                              _prediction("2024-05-01T10:00:00Z", "r1", 1),
                                              _prediction("2024-05-01T10:00:00Z", "r2", 0)])
    append_feedback(tmp_path, [{"request_id": "r1", "row": 1, "label": "no"}])
    append_feedback(tmp_path, [{"request_id": "r1", "row": 1, "label": "yes"},  # a correction
                               {"request_id": "r2", "label": "no"},  # row defaults to 0
                               {"request_id": "unknown", "row": 0, "label": "yes"}])
    rows = labelled_rows(read_captures(tmp_path))
    assert sorted(zip(rows["request_id"], rows["row"], rows["label"])) == [("r1", 1, "yes"), ("r2", 0, "no")]


def test_append_feedback_writes_the_contract_format(tmp_path: Path) -> None:
    assert append_feedback(tmp_path / "new", [{"request_id": 12, "label": 3.5}], now=NOW) == 1
    line = json.loads((tmp_path / "new" / "feedback.jsonl").read_text())
    assert line == {"ts": "2024-05-01T12:00:00Z", "request_id": "12", "row": 0, "label": 3.5}
