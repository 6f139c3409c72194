"""One monitoring check end to end: traffic written by the real capture writer, the real model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.errors import ConfigError, DataError, DataNotFoundError, ModelNotFoundError
from tesla.models import load_bundle
from tesla.monitor.captures import capture_dir
from tesla.serving.capture import CaptureWriter


@pytest.fixture(scope="module")
def proj(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the trained project (captures are written into it); each test uses its own profile."""
    return Path(shutil.copytree(trained_project, tmp_path_factory.mktemp("monitor") / "proj"))


@pytest.fixture(scope="module")
def holdout(datasets_dir: Path) -> pd.DataFrame:
    """The 114 breast-cancer rows the model never saw, with their labels."""
    return pd.read_csv(datasets_dir / "bc_test.csv")


def serve(proj: Path, rows: pd.DataFrame, profile: str, *, model_ref: str = "bc_model@1", latency_ms: float = 3.0,
          batch: int = 10, errors: int = 0, unsent: tuple[str, ...] = ()) -> list[str]:
    """Predict ``rows`` with the registered model and capture them as a deployment would; returns request ids."""
    store = api.open_store(proj)
    bundle = load_bundle(store.artifacts.path(store.model("bc_model", 1).bundle_sha))
    writer = CaptureWriter(capture_dir(store.state_dir, "bc_model", profile), model_ref=model_ref)
    features = rows.drop(columns=["target"], errors="ignore")
    ids = []
    for start in range(0, len(features), batch):
        chunk = features.iloc[start:start + batch]
        ids.append(f"{profile}-{start}")
        sent = chunk.drop(columns=list(unsent)).to_dict("records")  # as if clients left these fields out
        writer.predictions(ids[-1], sent, bundle.predict_records(chunk), latency_ms)
    for i in range(errors):
        writer.error(f"{profile}-bad-{i}", 422, "validation")
    writer.close()
    return ids


def check(proj: Path, profile: str, model: str = "bc_model", **kwargs: object) -> object:
    return api.monitor(model, profile=profile, project_dir=proj, **kwargs)


# -- drift ------------------------------------------------------------------------------------------------
def test_unshifted_holdout_traffic_is_ok(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout, "holdout")
    report = check(proj, "holdout")
    assert report.status == "ok" and not report.alerting
    assert report.model == "bc_model@1" and report.reference == "bc@1"
    assert report.rows == 114 and report.requests == 12 and report.errors == 0
    assert {f.test for f in report.features} == {"ks"} and len(report.features) == 30
    # a binary model's predictions are compared as the positive-class probability
    assert (report.prediction.name, report.prediction.test, report.prediction.drifted) == ("P(malignant)", "ks", False)
    assert report.pvalue_applied == pytest.approx(0.01 / 31)  # Bonferroni over 30 features + predictions
    assert report.latency_ms == {"p50": 3.0, "p90": 3.0, "p99": 3.0}
    html = report.report_path.read_text()
    # a name of its own (content hash) under reports/monitor/: a later check never overwrites it
    assert report.report_path.parent.name == "monitor" and report.report_path.name.startswith("bc_model-holdout-")
    assert html.count("<svg") == 31 and "mean_radius" in html and "<script" not in html


def test_a_scaled_feature_is_found_and_alerts(proj: Path, holdout: pd.DataFrame) -> None:
    shifted = holdout.assign(mean_radius=holdout["mean_radius"] * 1.5)
    serve(proj, shifted, "shifted")
    report = check(proj, "shifted")
    assert report.status == "alert" and report.alerting and report.wants_retrain
    drifted = [f.name for f in report.features if f.drifted]
    assert drifted == ["mean_radius"]
    # whether the model's probabilities move too depends on how much the trained model leans on mean_radius;
    # the prediction alert is there exactly when the prediction test says they drifted
    checks = [a.check for a in report.alerts]
    assert checks == ["feature_drift"] + (["prediction_drift"] if report.prediction.drifted else [])
    assert report.alerts[0].message.startswith("feature 'mean_radius' drifted: KS D=")
    assert "DRIFT" in report.report_path.read_text()


def test_large_unshifted_traffic_uses_effect_sizes_and_does_not_alarm(proj: Path, datasets_dir: Path) -> None:
    rows = pd.read_csv(datasets_dir / "bc.csv").sample(n=6000, replace=True, random_state=3)
    serve(proj, rows, "large", batch=200)
    report = check(proj, "large")
    assert report.rows == 6000 and report.status == "ok", [a.message for a in report.alerts]
    assert {f.test for f in report.features} == {"psi+wasserstein"}
    assert report.prediction.test == "psi+wasserstein" and report.prediction.drifted is False
    assert max(f.psi for f in report.features) < 0.05
    assert max(f.wasserstein for f in report.features) < 0.08


def test_large_shifted_traffic_alerts(proj: Path, datasets_dir: Path) -> None:
    rows = pd.read_csv(datasets_dir / "bc.csv").sample(n=6000, replace=True, random_state=4)
    rows["worst_texture"] = rows["worst_texture"] + rows["worst_texture"].std()
    serve(proj, rows, "large-shifted", batch=200)
    report = check(proj, "large-shifted")
    worst = next(f for f in report.features if f.name == "worst_texture")
    assert worst.drifted is True and worst.test == "psi+wasserstein" and worst.wasserstein > 0.9
    assert [f.name for f in report.features if f.drifted] == ["worst_texture"]


# -- traffic edge cases ---------------------------------------------------------------------------------
def test_no_traffic_is_a_clean_outcome(proj: Path) -> None:
    report = check(proj, "never-deployed")
    assert report.status == "no_traffic" and not report.alerting
    assert report.notes[0] == "no traffic captured for bc_model on 'never-deployed'; nothing to check"


def test_since_in_the_future_leaves_no_traffic(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(40), "windowed")
    assert check(proj, "windowed", since="2h").rows == 40
    report = check(proj, "windowed", since="2999-01-01T00:00:00Z")
    assert report.status == "no_traffic"
    assert report.notes[0] == ("no traffic captured for bc_model on 'windowed' since 2999-01-01T00:00:00+00:00; "
                               "nothing to check")


def test_slow_traffic_alerts_without_asking_for_a_retrain(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(40), "ops", latency_ms=900.0, batch=1, errors=2)
    report = check(proj, "ops", overrides=["monitor.max_p99_latency_ms=250"])
    assert [(a.check, a.message) for a in report.alerts] == [("latency", "p99 latency 900.0 ms > 250 ms")]
    assert report.error_rate == pytest.approx(2 / 42)  # under 5 %
    assert not report.wants_retrain  # a retrain cannot fix latency


def test_a_handful_of_requests_is_too_few_to_alert_on_rates(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(40), "ops-few", latency_ms=900.0, batch=10, errors=2)
    report = check(proj, "ops-few", overrides=["monitor.max_p99_latency_ms=250"])
    # 2 failures in 6 requests is 33 % and every request was slow, but 6 requests are under min_rows
    assert report.error_rate == pytest.approx(2 / 6) and report.latency_ms["p99"] == 900.0
    assert report.alerts == []


def test_error_rate_alerts_once_there_are_enough_requests(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout, "errors", batch=1, errors=12)  # 114 requests + 12 failures
    report = check(proj, "errors")
    assert [a.message for a in report.alerts if a.check == "error_rate"] == [
        "error rate 9.5% (12 of 126 requests) > 5.0%"]


def test_a_feature_no_request_sends_and_dropped_rows_are_noted(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(60), "partial", unsent=("mean_texture",))
    (capture_dir(api.open_store(proj).state_dir, "bc_model", "partial") / "dropped.json").write_text('{"dropped": 9}')
    report = check(proj, "partial")
    texture = next(f for f in report.features if f.name == "mean_texture")
    assert texture.drifted is None and texture.live_rows == 0 and texture.missing_live == 1.0
    assert "no request sent feature(s) mean_texture" in report.notes
    assert "the capture queue dropped 9 rows under load; these numbers do not include them" in report.notes


def test_rows_of_other_versions_are_left_out(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(50), "mixed")
    serve(proj, holdout.tail(20), "mixed", model_ref="bc_model@7")
    report = check(proj, "mixed", model="bc_model@1")
    assert report.rows == 50
    assert "ignored 20 rows served by other versions (bc_model@7); monitor one with -m bc_model@N" in report.notes


def test_json_output_is_plain_data(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(60), "as-json")
    data = json.loads(json.dumps(check(proj, "as-json").to_dict()))
    assert data["status"] == "ok" and data["rows"] == 60
    assert {"name", "test", "drifted", "p_value", "detail"} <= set(data["features"][0])
    assert "histogram" not in data["features"][0]
    assert data["settings"]["psi_threshold"] == 0.2 and data["report"].endswith(".html")


# -- live metrics from feedback ---------------------------------------------------------------------------
def _labels(path: Path, ids: list[str], labels: list[str], batch: int = 10) -> Path:
    rows = [{"request_id": rid, "row": j, "label": labels[i * batch + j]}
            for i, rid in enumerate(ids) for j in range(min(batch, len(labels) - i * batch))]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_true_labels_give_live_metrics_and_no_alert(proj: Path, holdout: pd.DataFrame, tmp_path: Path) -> None:
    ids = serve(proj, holdout, "labelled")
    result = api.monitor_feedback("bc_model", _labels(tmp_path / "l.csv", ids, holdout["target"].tolist()),
                                  profile="labelled", project_dir=proj)
    assert (result.recorded, result.matched, result.profile) == (114, 114, "labelled")
    report = check(proj, "labelled")
    assert report.labelled_rows == 114
    assert set(report.live_metrics) == {"roc_auc", "log_loss", "accuracy", "f1", "precision", "recall"}
    assert report.live_metrics["accuracy"] > 0.85
    assert not [a for a in report.alerts if a.check == "metric"]


def test_wrong_labels_alert_on_the_metrics(proj: Path, holdout: pd.DataFrame, tmp_path: Path) -> None:
    ids = serve(proj, holdout, "mislabelled")
    flipped = ["benign" if t == "malignant" else "malignant" for t in holdout["target"]]
    api.monitor_feedback("bc_model", _labels(tmp_path / "l.csv", ids, flipped), profile="mislabelled",
                         project_dir=proj)
    report = check(proj, "mislabelled")
    alert = next(a for a in report.alerts if a.subject == "accuracy")
    assert alert.check == "metric" and report.wants_retrain
    assert alert.message.startswith("live accuracy 0.")
    assert "95% bootstrap bound" in alert.message and "on 114 labelled rows" in alert.message


# -- mistakes are errors, with the fix in the message ------------------------------------------------
def test_an_unknown_model_is_an_error_not_no_traffic(proj: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^no model named 'bc_modle'\. Did you mean 'bc_model'\?$"):
        api.monitor("bc_modle", project_dir=proj)


def test_several_profiles_need_a_choice(proj: Path, holdout: pd.DataFrame) -> None:
    serve(proj, holdout.head(5), "choose-a")
    with pytest.raises(ConfigError, match=r"^model 'bc_model' has captures on profiles .*choose-a.*; choose one "
                                          r"with --profile NAME$"):
        api.monitor("bc_model", project_dir=proj)


@pytest.mark.parametrize(("content", "message"), [
    ("request_id,verdict\nr1,benign\n",
     r"needs columns request_id and label \(or 'target'\), optionally row; it has request_id, verdict$"),
    ("request_id,label\nr1,maybe\n",
     r"has label\(s\) 'maybe' the model does not know; its classes: 'benign', 'malignant'$"),
    ("request_id,label\nr1,\n", r"line 2 has an empty request_id or label$"),
], ids=["no-label-column", "unknown-class", "empty-label"])
def test_bad_labels_files(proj: Path, holdout: pd.DataFrame, tmp_path: Path, content: str, message: str) -> None:
    serve(proj, holdout.head(5), "feedback-errors")
    path = tmp_path / "labels.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        api.monitor_feedback("bc_model", path, profile="feedback-errors", project_dir=proj)
    assert not (capture_dir(api.open_store(proj).state_dir, "bc_model", "feedback-errors") / "feedback.jsonl").exists()


def test_feedback_without_captures_says_what_to_do(proj: Path, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\nr1,benign\n")
    with pytest.raises(DataNotFoundError, match=r"^no captured predictions for 'bc_model' on profile 'nowhere' "
                                                r"\(looked in .*\); deploy it with deploy.data_capture=true first$"):
        api.monitor_feedback("bc_model", path, profile="nowhere", project_dir=proj)
