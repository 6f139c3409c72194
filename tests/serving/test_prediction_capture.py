"""Prediction capture follows the contract `tesla monitor` reads, never blocks, and counts what it drops."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tesla.models import Bundle
from tesla.serving.app import ServingSettings, create_app
from tesla.serving.capture import CaptureWriter

_ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _predictions(directory: Path) -> list[dict[str, Any]]:
    return [line for f in sorted(directory.glob("predictions-*.jsonl")) for line in _lines(f)]


def test_predictions_errors_and_feedback_lines(tmp_path: Path, bc_bundle: Bundle,
                                               bc_rows: list[dict[str, Any]]) -> None:
    capture = tmp_path / "cap"
    app = create_app(bc_bundle, ServingSettings(model_ref="bc_model@1", capture_dir=capture))
    with TestClient(app) as client:  # leaving the block runs the lifespan shutdown: everything is flushed
        ok = client.post("/predict", json={"records": bc_rows[:3]}, headers={"x-request-id": "req-1"})
        assert ok.status_code == 200
        bad = client.post("/predict", json={"records": [{"nope": 1}]}, headers={"x-request-id": "req-2"})
        assert bad.status_code == 422
        assert client.post("/feedback", json={"request_id": "req-1", "labels": ["benign", "malignant", "benign"]}
                           ).status_code == 202
        assert client.post("/feedback", json={"request_id": "older", "label": "benign"}).status_code == 202
    files = list(capture.glob("predictions-*.jsonl"))
    assert len(files) == 1 and re.fullmatch(r"predictions-\d{8}T\d{6}-\d+\.jsonl", files[0].name)
    lines = _predictions(capture)
    predictions = ok.json()["predictions"]
    assert [ln["row"] for ln in lines] == [0, 1, 2]
    for line, row, prediction in zip(lines, bc_rows[:3], predictions):
        assert list(line) == ["ts", "request_id", "row", "model", "inputs", "prediction", "probabilities", "latency_ms"]
        assert _ISO_UTC.match(line["ts"]) and line["request_id"] == "req-1" and line["model"] == "bc_model@1"
        assert line["inputs"] == row
        assert line["prediction"] == prediction["prediction"]
        assert line["probabilities"] == prediction["probabilities"]
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    errors = _lines(capture / "errors.jsonl")
    assert [(e["request_id"], e["status"], e["type"]) for e in errors] == [("req-2", 422, "ValidationError")]
    assert list(errors[0]) == ["ts", "request_id", "status", "type"]
    feedback = _lines(capture / "feedback.jsonl")
    assert [(f["request_id"], f["row"], f["label"]) for f in feedback] == [
        ("req-1", 0, "benign"), ("req-1", 1, "malignant"), ("req-1", 2, "benign"), ("older", 0, "benign")]
    assert json.loads((capture / "dropped.json").read_text()) == {"dropped": 0}


def test_regression_lines_have_no_probabilities(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, model_ref="reg@2")
    writer.predictions("r", [{"x": 1.5}], [{"prediction": 3.25}], 1.0)
    writer.close()
    (line,) = _predictions(tmp_path)
    assert line["prediction"] == 3.25 and "probabilities" not in line


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"label": 1}, "request_id", "required"),
    ({"request_id": "a"}, "label", "exactly one of"),
    ({"request_id": "a", "label": 1, "labels": [1]}, "label", "exactly one of"),
    ({"request_id": "a", "labels": []}, "labels", "non-empty list"),
    ({"request_id": "a", "label": 1, "score": 3}, "score", "unknown field"),
])
def test_bad_feedback_is_422_naming_the_field(tmp_path: Path, bc_bundle: Bundle, body: dict[str, Any], field: str,
                                              words: str) -> None:
    client = TestClient(create_app(bc_bundle, ServingSettings(capture_dir=tmp_path)))
    response = client.post("/feedback", json=body)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert any(f["loc"] == [field] and words in f["msg"] for f in fields), fields


def test_feedback_label_count_must_match_the_request(tmp_path: Path, bc_bundle: Bundle,
                                                     bc_rows: list[dict[str, Any]]) -> None:
    client = TestClient(create_app(bc_bundle, ServingSettings(capture_dir=tmp_path)))
    rid = client.post("/predict", json=bc_rows[:2]).json()["request_id"]
    response = client.post("/feedback", json={"request_id": rid, "labels": ["benign"]})
    assert response.status_code == 422 and "predicted 2 rows; got 1 labels" in response.json()["error"]["message"]


def test_feedback_without_capture_is_refused(bc_bundle: Bundle) -> None:
    response = TestClient(create_app(bc_bundle)).post("/feedback", json={"request_id": "a", "label": 1})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["type"] == "CaptureDisabled" and "data_capture" in error["message"]


def test_full_queue_drops_without_blocking_and_counts_everything(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, model_ref="m@1", max_queue=3)
    release = threading.Event()
    original = writer._write

    def slow_write(item: Any) -> None:
        release.wait(10)  # the disk is stuck: serving must not be
        original(item)

    writer._write = slow_write  # type: ignore[method-assign]
    for i in range(20):
        writer.predictions(f"r{i}", [{"x": i}, {"x": -i}], [{"prediction": i}, {"prediction": -i}], 0.5)
    assert writer.dropped > 0
    release.set()
    writer.close()
    written = len(_predictions(tmp_path))
    assert written + writer.dropped == 40  # every row is either on disk or counted as dropped
    assert json.loads((tmp_path / "dropped.json").read_text()) == {"dropped": writer.dropped}


def test_dropped_count_adds_up_across_servers(tmp_path: Path) -> None:
    (tmp_path / "dropped.json").write_text('{"dropped": 5}')  # an earlier server of this profile
    writer = CaptureWriter(tmp_path, model_ref="m@1")
    writer.dropped = 2
    writer.close()
    assert json.loads((tmp_path / "dropped.json").read_text()) == {"dropped": 7}


def test_files_rotate_by_size(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, model_ref="m@1", max_file_bytes=1)
    for i in range(3):
        writer.predictions(f"r{i}", [{"x": i}], [{"prediction": i}], 0.1)
    writer.close()
    assert [ln["request_id"] for ln in _predictions(tmp_path)] == ["r0", "r1", "r2"]
    # a rotation within the same second appends to the same name, so count lines, not files
    assert all(re.fullmatch(r"predictions-\d{8}T\d{6}-\d+\.jsonl", f.name) for f in tmp_path.glob("predictions-*"))


def test_metrics_expose_capture_and_batches(tmp_path: Path, bc_bundle: Bundle, bc_rows: list[dict[str, Any]]) -> None:
    with TestClient(create_app(bc_bundle, ServingSettings(model_ref="bc_model@1", capture_dir=tmp_path))) as client:
        client.post("/predict", json=bc_rows[:3])
        client.post("/predict", json=[{"bad": 1}])
        text = client.get("/metrics").text
    for needle in ('tesla_model_info{model="bc_model@1",name="bc_model",version="1"} 1',
                   'tesla_requests_total{route="/predict",status="200"} 1',
                   'tesla_requests_total{route="/predict",status="422"} 1',
                   'tesla_errors_total{type="ValidationError"} 1',
                   'tesla_request_duration_seconds_count{route="/predict"} 2',
                   "tesla_batch_rows_count 1", "tesla_rows_predicted_total 3",
                   "# TYPE tesla_capture_dropped_total counter", "tesla_capture_dropped_total 0"):
        assert needle in text, needle
