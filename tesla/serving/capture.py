"""Prediction capture: every predicted row, failed request and label, as JSON lines for ``tesla monitor``.

The contract (``tesla monitor`` reads exactly this) for a server started with ``--capture-dir DIR``:

- ``DIR/predictions-<YYYYmmddTHHMMSS>-<pid>.jsonl``, rotated by size, one line per predicted row:
  ``{"ts", "request_id", "row", "model": "name@v", "inputs": {col: value}, "prediction",
  "probabilities" (classifiers only), "latency_ms"}``;
- ``DIR/errors.jsonl``: one line per failed request, ``{"ts", "request_id", "status", "type"}``
  (this file and ``feedback.jsonl`` are shared by every server process, so each is written unbuffered);
- ``DIR/feedback.jsonl``: one line per label, ``{"ts", "request_id", "row", "label"}``;
- ``DIR/dropped.json``: ``{"dropped": N}``, the rows the writer had to drop (the store of drops;
  ``/metrics`` shows the same count as ``tesla_capture_dropped_total``).

``ts`` is ISO-8601 UTC. Serving never waits on the disk: the event loop only appends to a
bounded queue, one writer thread empties it, and a full queue drops (and counts) instead of
blocking. ``close`` drains the queue, so a server stopped with SIGTERM loses nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["CaptureWriter"]

_CLOSE = object()
_DUMP_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=_DUMP_OPTS, default=str) + b"\n"


class CaptureWriter:
    """Bounded, asynchronous JSON-lines writer of predictions, errors and feedback.

    Args:
        directory: where the files go (created).
        model_ref: ``"name@version"``, written on every prediction line.
        max_queue: most requests waiting to be written; beyond it rows are dropped and counted.
        max_file_bytes: a predictions file is rotated once it grows past this size.
    """

    def __init__(self, directory: str | os.PathLike[str], *, model_ref: str, max_queue: int = 20_000,
                 max_file_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = Path(directory)
        self.model_ref = model_ref
        self.max_file_bytes = max_file_bytes
        self.dropped = 0  # rows (and error/feedback lines) that never reached the disk
        self.written = 0  # prediction rows written
        self._persisted_dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._files: dict[str, IO[bytes]] = {}
        self._predictions: IO[bytes] | None = None
        self._predictions_bytes = 0
        self._lock = threading.Lock()

    # -- called on the event loop: never blocks -------------------------------------------------
    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def predictions(self, request_id: str, rows: Sequence[Any], results: Sequence[Any], latency_ms: float) -> None:
        """Queue one request's rows and results; drops (and counts) them when the queue is full."""
        self._offer(("p", time.time(), request_id, rows, results, latency_ms), len(rows))

    def error(self, request_id: str, status: int, type_: str) -> None:
        """Queue one failed request."""
        self._offer(("e", time.time(), request_id, status, type_), 1)

    def feedback(self, request_id: str, labels: Sequence[Any], first_row: int = 0) -> bool:
        """Queue labels for rows ``first_row...`` of a request; False when the queue is full."""
        return self._offer(("f", time.time(), request_id, list(labels), first_row), len(labels))

    def _offer(self, item: tuple[Any, ...], rows: int) -> bool:
        self.start()
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += rows
            return False

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent; the first queued item also starts it)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._thread = threading.Thread(target=self._run, name="tesla-capture", daemon=True)
                self._thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything queued, flush, persist the drop count, and stop the thread."""
        if self._thread is None:
            self._write_dropped()
            return
        self._queue.put(_CLOSE, timeout=timeout_s)  # blocking is fine here: the server is stopping
        self._thread.join(timeout_s)
        self._thread = None

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _CLOSE:
                    break
                self._write(item)
                if self._queue.empty():  # a burst is over: make it visible to readers
                    self._flush()
        finally:
            self._flush()
            for fh in self._files.values():
                fh.close()
            self._files.clear()
            if self._predictions is not None:
                self._predictions.close()
                self._predictions = None

    def _write(self, item: tuple[Any, ...]) -> None:
        kind, ts = item[0], _iso(item[1])
        if kind == "p":
            self._write_predictions(ts, *item[2:])
        elif kind == "e":
            _, _, request_id, status, type_ = item
            self._file("errors.jsonl").write(_dumps({"ts": ts, "request_id": request_id, "status": status,
                                                     "type": type_}))
        else:
            _, _, request_id, labels, first_row = item
            self._file("feedback.jsonl").write(b"".join(
                _dumps({"ts": ts, "request_id": request_id, "row": first_row + i, "label": label})
                for i, label in enumerate(labels)))

    def _write_predictions(self, ts: str, request_id: str, rows: Sequence[Any], results: Sequence[Any],
                           latency_ms: float) -> None:
        lines = []
        for i, (row, result) in enumerate(zip(rows, results)):
            line = {"ts": ts, "request_id": request_id, "row": i, "model": self.model_ref, "inputs": row,
                    "prediction": result["prediction"]}
            if "probabilities" in result:
                line["probabilities"] = result["probabilities"]
            line["latency_ms"] = latency_ms
            lines.append(_dumps(line))
        data = b"".join(lines)
        self._predictions_file().write(data)
        self._predictions_bytes += len(data)
        self.written += len(lines)

    def _predictions_file(self) -> IO[bytes]:
        if self._predictions is not None and self._predictions_bytes >= self.max_file_bytes:
            self._predictions.close()
            self._predictions = None
        if self._predictions is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
            path = self.directory / f"predictions-{stamp}-{os.getpid()}.jsonl"
            # a rotation within the same second reopens the same name: appending keeps every line
            self._predictions = open(path, "ab")  # noqa: SIM115 - closed by _run
            self._predictions_bytes = self._predictions.tell()
        return self._predictions

    def _file(self, name: str) -> IO[bytes]:
        if name not in self._files:
            # shared by every server process of this model and profile (--workers N, a replace): unbuffered,
            # so each item is one append (O_APPEND) that no other process's lines can cut into
            self._files[name] = open(self.directory / name, "ab", buffering=0)  # noqa: SIM115 - closed by _run
        return self._files[name]

    def _flush(self) -> None:
        for fh in self._files.values():
            fh.flush()
        if self._predictions is not None:
            self._predictions.flush()
        self._write_dropped()

    def _write_dropped(self) -> None:
        # dropped.json is shared by every server of this model and profile (old and new ones run
        # side by side during a replace), so add this process's new drops to what the file holds
        path = self.directory / "dropped.json"
        delta = self.dropped - self._persisted_dropped
        if delta == 0 and path.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".dropped.lock", "ab") as lock:
            _lock(lock)  # read, add, replace: one process at a time, or two workers' drops would lose one
            try:
                current = int(orjson.loads(path.read_bytes()).get("dropped", 0))
            except (OSError, ValueError, AttributeError):
                current = 0
            tmp = self.directory / f".dropped.json.{os.getpid()}.tmp"
            tmp.write_bytes(orjson.dumps({"dropped": current + delta}))
            os.replace(tmp, path)  # readers never see a half-written count
        self._persisted_dropped += delta


def _lock(fh: IO[bytes]) -> None:
    """An exclusive lock on ``fh`` until it is closed (where the platform has one)."""
    try:
        import fcntl
    except ImportError:  # Windows: one server process per capture directory there
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
