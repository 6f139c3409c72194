"""Prediction drift and live metrics for regression and multiclass models (the bc tests cover binary)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.models import load_bundle
from tesla.monitor.captures import append_feedback, capture_dir
from tesla.serving.capture import CaptureWriter

pytestmark = pytest.mark.slow


def _trained(project: Path, csv: Path, name: str, target: str) -> tuple[pd.DataFrame, object]:
    api.load(csv, name, target=target, project_dir=project)
    mv = api.train(f"{name}_model", max_iter=3, overrides=["search.estimators=[lgbm]"], project_dir=project).model
    store = api.open_store(project)
    return pd.read_csv(csv), (store, mv, load_bundle(store.artifacts.path(mv.bundle_sha)))


def _serve(store: object, mv: object, bundle: object, rows: pd.DataFrame, target: str) -> None:
    directory = capture_dir(store.state_dir, mv.name, "production")
    writer = CaptureWriter(directory, model_ref=mv.ref)
    for start in range(0, len(rows), 10):
        chunk = rows.iloc[start:start + 10]
        writer.predictions(f"r{start}", chunk.drop(columns=[target]).to_dict("records"),
                           bundle.predict_records(chunk.drop(columns=[target])), 2.0)
    writer.close()
    append_feedback(directory, [{"request_id": f"r{start - start % 10}", "row": start % 10, "label": label}
                                for start, label in enumerate(rows[target].tolist())])


def test_regression_predictions_and_metrics(project: Path, datasets_dir: Path) -> None:
    df, (store, mv, bundle) = _trained(project, datasets_dir / "diabetes.csv", "diabetes", "target")
    _serve(store, mv, bundle, df.sample(n=200, random_state=1), "target")
    report = api.monitor("diabetes_model", project_dir=project)
    assert (report.prediction.name, report.prediction.feature_type, report.prediction.test) == \
        ("prediction", "prediction", "ks")
    assert set(report.live_metrics) == {"rmse", "mae", "r2"} and report.labelled_rows == 200
    assert report.live_metrics["rmse"] > 0


def test_multiclass_predictions_are_a_class_mix(project: Path, datasets_dir: Path) -> None:
    df, (store, mv, bundle) = _trained(project, datasets_dir / "iris.csv", "iris", "target")
    only_setosa = df[df["target"] == "setosa"]
    _serve(store, mv, bundle, pd.concat([only_setosa] * 2), "target")
    report = api.monitor("iris_model", project_dir=project)
    assert report.prediction.test == "chi2" and report.prediction.drifted is True
    assert set(report.prediction.histogram.labels) == {"setosa", "versicolor", "virginica"}
    assert any(a.check == "prediction_drift" for a in report.alerts)
    assert report.live_metrics["accuracy"] > 0.9  # setosa is easy: drift without any loss of accuracy
