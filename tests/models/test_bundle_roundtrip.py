"""Bundles: raw rows in, the same predictions after a save/load; preprocessing is plain JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.errors import DataError
from tesla.models import load_bundle


@pytest.fixture(scope="module")
def churn_bundle(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("bundle") / "proj")
    api.load(datasets_dir / "churn.csv", "churn", target="churn", project_dir=root)
    mv = api.train("c", max_iter=3, overrides=["data.exclude=[customer_id]"], project_dir=root).model
    return api.open_store(root).artifacts.path(mv.bundle_sha)


def test_manifest_records_signature_classes_and_lineage(churn_bundle: Path) -> None:
    manifest = json.loads((churn_bundle / "manifest.json").read_text())
    assert manifest["classes"] == ["False", "True"] or manifest["classes"] == ["no", "yes"]
    names = [f["name"] for f in manifest["signature"]]
    assert "customer_id" not in names and "churn" not in names
    plan = next(f for f in manifest["signature"] if f["name"] == "plan")
    assert plan["type"] == "categorical" and set(plan["categories"]) == {"basic", "standard", "premium"}
    assert manifest["lineage"]["dataset"] == "churn" and manifest["lineage"]["dataset_version"] == 1
    assert set(manifest["metrics"]) >= {"roc_auc", "log_loss", "accuracy"}
    json.loads((churn_bundle / "preprocess.json").read_text())  # plain JSON, no code


def test_raw_rows_predict_and_unseen_categories_are_handled_by_policy(churn_bundle: Path, datasets_dir: Path) -> None:
    bundle = load_bundle(churn_bundle)
    rows = pd.read_csv(datasets_dir / "churn_test.csv").drop(columns=["churn", "customer_id"]).head(20)
    first = bundle.predict(rows)
    assert len(first) == 20 and set(first) <= set(bundle.classes)
    again = load_bundle(churn_bundle).predict_proba(rows)
    assert again.shape == (20, 2)
    rows.loc[rows.index[0], "plan"] = "enterprise"
    with pytest.raises(DataError, match="column 'plan' has category 'enterprise' not seen in training"):
        bundle.predict(rows)
    assert len(bundle.predict(rows, unseen="unknown")) == 20


def test_missing_column_is_named(churn_bundle: Path, datasets_dir: Path) -> None:
    rows = pd.read_csv(datasets_dir / "churn_test.csv").drop(columns=["churn", "tenure_months"])
    with pytest.raises(DataError, match="missing column\\(s\\) 'tenure_months'"):
        load_bundle(churn_bundle).predict(rows)


def test_regression_bundle_predicts_values(tmp_path: Path, datasets_dir: Path) -> None:
    root = api.init_project(tmp_path / "reg")
    api.load(datasets_dir / "diabetes.csv", "diab", target="target", project_dir=root)
    result = api.train("r", max_iter=3, project_dir=root)
    assert result.model.task == "regression" and set(result.model.metrics) == {"rmse", "mae", "r2"}
    frame = api.predict("r", datasets_dir / "diabetes.csv", project_dir=root)
    assert frame["prediction"].dtype.kind == "f"


def test_dates_become_days_month_and_weekday_and_hours_only_with_times() -> None:
    from tesla.models import Preprocessor

    df = pd.DataFrame({"d": ["2020-01-01", "2021-06-15", None], "t": ["2020-01-01 10:00", "2020-01-02 11:30", None]})
    pre = Preprocessor.fit(df, {"d": {"type": "datetime"}, "t": {"type": "datetime"}})
    assert pre.output_columns == ["d.days", "d.month", "d.day_of_week", "t.days", "t.month", "t.day_of_week", "t.hour"]
    out = pre.transform(df)
    assert out.loc[0, "d.days"] == 18262.0 and out.loc[1, "d.month"] == 6.0 and out.loc[2, "d.days"] == -1.0
    assert out.loc[1, "t.days"] == pytest.approx(18263 + 11.5 / 24) and out.loc[0, "t.hour"] == 10.0
