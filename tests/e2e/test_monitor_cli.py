"""`tesla monitor` through the real executable: exit 0 when calm, exit 1 on an alert, `Error:` on a mistake."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.models import load_bundle
from tesla.monitor.captures import capture_dir
from tesla.serving.capture import CaptureWriter
from tests.conftest import run_tesla

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def proj(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(shutil.copytree(trained_project, tmp_path_factory.mktemp("monitor-cli") / "proj"))


def _serve(proj: Path, rows: pd.DataFrame, profile: str, batch: int = 10) -> list[tuple[str, int]]:
    """Capture ``rows`` as requests of ``batch`` rows; returns (request_id, row) per row."""
    store = api.open_store(proj)
    bundle = load_bundle(store.artifacts.path(store.model("bc_model", 1).bundle_sha))
    writer = CaptureWriter(capture_dir(store.state_dir, "bc_model", profile), model_ref="bc_model@1")
    keys = []
    for start in range(0, len(rows), batch):
        chunk = rows.iloc[start:start + batch]
        writer.predictions(f"{profile}-{start}", chunk.to_dict("records"), bundle.predict_records(chunk), 4.0)
        keys += [(f"{profile}-{start}", i) for i in range(len(chunk))]
    writer.close()
    return keys


def _size_feature_the_model_leans_on(proj: Path, features: pd.DataFrame) -> str:
    """The tumour-size feature whose 1.5x scaling moves the model's probabilities most (which one a trained
    model uses depends on its search): a shift of it must move the predictions too."""
    store = api.open_store(proj)
    bundle = load_bundle(store.artifacts.path(store.model("bc_model", 1).bundle_sha))

    def probabilities(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([r["probabilities"] for r in bundle.predict_records(rows)])

    base = probabilities(features)
    moved = {name: float((probabilities(features.assign(**{name: features[name] * 1.5})) - base).abs().mean().sum())
             for name in ("mean_radius", "mean_perimeter", "mean_area", "worst_radius", "worst_perimeter",
                          "worst_area")}
    return max(moved, key=moved.__getitem__)


def test_no_traffic_exits_0(trained_project: Path, tmp_path: Path) -> None:
    fresh = shutil.copytree(trained_project, tmp_path / "proj")
    out = run_tesla("monitor", "-m", "bc_model", cwd=fresh)
    assert out.stdout.splitlines()[-1] == "status: NO TRAFFIC (nothing to check; exit 0)"
    assert "note: no traffic captured for bc_model on 'production'; nothing to check" in out.stdout


def test_calm_traffic_exits_0_and_a_shift_exits_1(proj: Path, datasets_dir: Path, tmp_path: Path) -> None:
    holdout = pd.read_csv(datasets_dir / "bc_test.csv")
    features = holdout.drop(columns=["target"])
    keys = _serve(proj, features, "production")
    size = _size_feature_the_model_leans_on(proj, features)
    _serve(proj, features.assign(**{size: features[size] * 1.5}), "canary")

    calm = run_tesla("monitor", "-m", "bc_model", "-p", "production", cwd=proj)
    assert calm.stdout.splitlines()[-1] == "status: OK (no threshold crossed)"
    assert "bc_model@1 on 'production' vs training data bc@1" in calm.stdout
    assert "114 rows in 12 requests, 0 failed" in calm.stdout

    alert = run_tesla("monitor", "-m", "bc_model", "-p", "canary", cwd=proj, check=False)
    assert alert.returncode == 1 and "Error:" not in alert.stderr
    assert f"ALERT feature_drift: feature '{size}' drifted: KS D=" in alert.stdout
    assert "ALERT prediction_drift: predictions (P(malignant)) drifted: KS D=" in alert.stdout
    assert alert.stdout.splitlines()[-1] == "status: ALERT (2 threshold(s) crossed; exit 1)"

    report = tmp_path / "canary.html"
    as_json = run_tesla("monitor", "-m", "bc_model", "-p", "canary", "--json", "--report", str(report), cwd=proj,
                        check=False)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["status"] == "alert" and [a["subject"] for a in data["alerts"]] == [size, "P(malignant)"]
    assert data["report"] == str(report) and "<svg" in report.read_text()

    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": [k[0] for k in keys], "row": [k[1] for k in keys],
                  "label": holdout["target"]}).to_csv(labels, index=False)
    fed = run_tesla("monitor", "feedback", "-m", "bc_model", "-p", "production", "-d", str(labels), cwd=proj)
    assert fed.stdout.startswith("recorded 114 labels for bc_model@1 on 'production'; 114 match a captured prediction")

    # every check is recorded in the store (DESIGN's monitoring events), newest first
    events = api.monitor_history("bc_model", project_dir=proj)
    assert [(e.profile, e.status) for e in events[:3]] == [("canary", "alert"), ("canary", "alert"),
                                                                  ("production", "ok")]
    assert events[0].report_path == str(report) and len(events[0].alerts) == 2
    history = run_tesla("monitor", "history", "-m", "bc_model", cwd=proj).stdout
    assert "canary" in history and f"feature '{size}' drifted" in history


@pytest.mark.parametrize(("args", "code", "stderr"), [
    (["-m", "bc_modle"], 1, "Error: no model named 'bc_modle'. Did you mean 'bc_model'?"),
    (["-m", "bc_model", "--since", "yesterday"], 1,
     "Error: --since 'yesterday' is neither a duration (30m, 2h, 7d, 1w) nor an ISO-8601 time (2024-05-01T12:00:00Z)"),
    (["-m", "bc_model", "--set", "monitor.js_threshold=2"], 1,
     "Error: override 'monitor.js_threshold=2': 'monitor.js_threshold' must be in the range (0.0, 1.0]; got 2"),
    ([], 2, "Error: Missing option '-m' / '--model'."),
], ids=["unknown-model", "bad-since", "bad-threshold", "no-model"])
def test_mistakes_are_errors(proj: Path, args: list[str], code: int, stderr: str) -> None:
    out = run_tesla("monitor", *args, cwd=proj, check=False)
    assert out.returncode == code
    assert stderr in out.stderr and "Traceback" not in out.stderr
