"""Reading what the server captured: predictions, failed requests, ground-truth feedback.

A deployment writes under ``<project>/.tesla/captures/<model>/<profile>/``:

- ``predictions-*.jsonl``: one line per predicted row, ``{"ts", "request_id", "row", "model":
  "name@v", "inputs": {col: value}, "prediction", "probabilities" (classifiers), "latency_ms"}``
- ``errors.jsonl``: one line per failed request, ``{"ts", "request_id", "status", "type"}``
- ``feedback.jsonl``: ground truth, ``{"ts", "request_id", "row", "label"}``
- ``dropped.json``: ``{"dropped": N}``, lines the bounded capture queue had to drop

Every file is optional. A line that is not valid JSON (a file being written, a crash) is
skipped and counted, never fatal: monitoring must keep working on imperfect logs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tesla.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Captures", "append_feedback", "capture_dir", "capture_profiles", "labelled_rows", "parse_since",
           "read_captures"]

CAPTURES = "captures"
FEEDBACK = "feedback.jsonl"
ERRORS = "errors.jsonl"
DROPPED = "dropped.json"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def capture_dir(state_dir: Path, model: str, profile: str) -> Path:
    """Where the deployment of ``model`` on ``profile`` writes its captures."""
    return Path(state_dir) / CAPTURES / model / profile


def capture_profiles(state_dir: Path, model: str) -> list[str]:
    """Profiles that have a capture directory for ``model``."""
    root = Path(state_dir) / CAPTURES / model
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``7d``, ``1w`` (ago) or an ISO-8601 time -> an aware UTC datetime."""
    now = now or datetime.now(timezone.utc)
    match = _DURATION.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since '{text}' is neither a duration (30m, 2h, 7d, 1w) nor an ISO-8601 time "
                          "(2024-05-01T12:00:00Z)", key="--since") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@dataclass
class Captures:
    """The captured traffic of one deployment, as frames aligned on their index.

    ``predictions`` has ts, request_id, row, model, prediction, latency_ms; ``inputs`` has one
    column per request field; ``probabilities`` one column per class (empty for regressors).
    """

    predictions: pd.DataFrame
    inputs: pd.DataFrame
    probabilities: pd.DataFrame
    errors: pd.DataFrame  # ts, request_id, status, type (+ model when the server wrote it)
    feedback: pd.DataFrame  # request_id, row, label, ts; the newest label of a row wins
    dropped: int = 0
    bad_lines: int = 0  # lines skipped because they were not JSON objects
    files: list[str] = field(default_factory=list)

    def only(self, mask: Any) -> Captures:
        """The captures whose prediction rows match the boolean ``mask``."""
        keep = mask.to_numpy() if hasattr(mask, "to_numpy") else mask
        return Captures(self.predictions[keep], self.inputs[keep], self.probabilities[keep], self.errors,
                        self.feedback, self.dropped, self.bad_lines, self.files)

    @property
    def requests(self) -> int:
        """Distinct successful requests (a request may predict many rows)."""
        return int(self.predictions["request_id"].nunique())


def _parse_lines(lines: list[bytes]) -> tuple[list[dict[str, Any]], int]:
    """JSON objects of ``lines`` and how many lines were not JSON objects."""
    try:
        # one document of all lines parses about twice as fast as a loads() per line
        items = json.loads(b"[" + b",".join(lines) + b"]") if lines else []
    except (json.JSONDecodeError, UnicodeDecodeError):
        items = []
        for line in lines:  # some line is broken (a file being written, a crash): find it
            try:
                items.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                items.append(None)
    good = [i for i in items if isinstance(i, dict)]
    return good, len(items) - len(good)


def _read_jsonl(paths: Iterable[Path]) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    bad = 0
    for path in paths:
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        good, broken = _parse_lines(lines)
        items += good
        bad += broken
    return items, bad


def _timestamps(values: Any) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601", errors="coerce")


def _prediction_frames(items: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    preds = pd.DataFrame({
        "ts": _timestamps([i.get("ts") for i in items]),
        "request_id": [str(i.get("request_id", "")) for i in items],
        "row": pd.to_numeric(pd.Series([i.get("row", 0) for i in items], dtype=object), errors="coerce")
        .fillna(0).astype("int64"),
        "model": [str(i.get("model", "")) for i in items],
        "prediction": pd.Series([i.get("prediction") for i in items], dtype=object),
        "latency_ms": pd.to_numeric(pd.Series([i.get("latency_ms") for i in items], dtype=object), errors="coerce"),
    })
    inputs = pd.DataFrame.from_records([i.get("inputs") or {} for i in items], index=preds.index)
    probabilities = pd.DataFrame.from_records([i.get("probabilities") or {} for i in items], index=preds.index)
    return preds, inputs, probabilities


def _simple_frame(items: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series([i.get(c) for i in items], dtype=object) for c in columns})
    frame["ts"] = _timestamps(frame["ts"].tolist()) if len(frame) else pd.Series([], dtype="datetime64[ns, UTC]")
    return frame


def _feedback_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    frame = _simple_frame(items, ["ts", "request_id", "row", "label"])
    frame["request_id"] = frame["request_id"].astype(str)
    frame["row"] = frame["row"].fillna(0).astype("int64")
    # a corrected label arrives later: keep the newest per (request, row)
    return frame.drop_duplicates(["request_id", "row"], keep="last").reset_index(drop=True)


def _dropped(directory: Path) -> int:
    try:
        return int(json.loads((directory / DROPPED).read_text()).get("dropped", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0  # absent or being rewritten: nothing known to be dropped


def read_captures(directory: Path, *, since: datetime | None = None) -> Captures:
    """Everything captured in ``directory``, predictions and errors from ``since`` on.

    Feedback is not filtered by time: a label may arrive long after its prediction.
    """
    files = sorted(directory.glob("predictions-*.jsonl")) if directory.is_dir() else []
    items, bad = _read_jsonl(files)
    preds, inputs, probabilities = _prediction_frames(items)
    error_items, bad_errors = _read_jsonl([p for p in [directory / ERRORS] if p.is_file()])
    feedback_items, bad_feedback = _read_jsonl([p for p in [directory / FEEDBACK] if p.is_file()])
    errors = _simple_frame(error_items, ["ts", "request_id", "status", "type", "model"])
    captures = Captures(preds, inputs, probabilities, errors, _feedback_frame(feedback_items), _dropped(directory),
                        bad + bad_errors + bad_feedback, [f.name for f in files])
    if since is None:
        return captures
    captures = captures.only(preds["ts"] >= since)
    captures.errors = errors[errors["ts"] >= since]
    return captures


def labelled_rows(captures: Captures) -> pd.DataFrame:
    """Predicted rows that have ground truth: the predictions frame plus a ``label`` column."""
    fb = captures.feedback[["request_id", "row", "label"]]
    preds = captures.predictions.reset_index()
    joined = preds.merge(fb, on=["request_id", "row"], how="inner")
    return joined.set_index("index").rename_axis(None)


def append_feedback(directory: Path, rows: Iterable[Mapping[str, Any]], now: datetime | None = None) -> int:
    """Append ground-truth rows (request_id, row, label) to ``feedback.jsonl``; returns how many."""
    stamp = (now or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")
    text = "".join(json.dumps({"ts": stamp, "request_id": str(r["request_id"]), "row": int(r.get("row", 0)),
                               "label": r["label"]}, default=_json_default) + "\n" for r in rows)
    directory.mkdir(parents=True, exist_ok=True)
    # one O_APPEND write: the server may append POST /feedback lines to the same file meanwhile
    fd = os.open(directory / FEEDBACK, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    return text.count("\n")


def _json_default(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)
