"""The closed loop: an alert retrains the recorded recipe on the newest data; the gates decide."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tesla.errors import DataError, GateError
from tesla.models import load_bundle
from tesla.monitor.captures import capture_dir
from tesla.monitor.retrain import hydra_value, retrain, training_overrides
from tesla.serving.capture import CaptureWriter
from tesla.store import ModelVersion


@pytest.mark.parametrize(("value", "text"), [
    (None, "null"), (True, "true"), (3, "3"), (0.25, "0.25"), ("lgbm", "'lgbm'"), ("it's", "'it\\'s'"),
    (["lgbm", "rf"], "['lgbm','rf']"), ({"roc_auc": {"min": 0.8}}, "{roc_auc:{min:0.8}}"), ([], "[]"),
], ids=["null", "bool", "int", "float", "str", "quote", "list", "dict", "empty-list"])
def test_hydra_value(value: object, text: str) -> None:
    assert hydra_value(value) == text


def test_training_overrides_reproduce_the_recorded_recipe(trained_project: Path) -> None:
    mv = api.open_store(trained_project).model("bc_model")
    overrides = training_overrides(mv, extra=["search.max_iter=2"])
    assert overrides[-4:] == ["data.dataset='bc'", "data.source=null", "data.version=null", "search.max_iter=2"]
    _, plain = api.compose_config(overrides, project_dir=trained_project)
    recorded = mv.config["resolved"]
    assert plain["search"] == {**recorded["search"], "max_iter": 2}
    assert plain["data"] == {**recorded["data"], "dataset": "bc"}  # recorded null: "the only dataset"
    assert plain["evaluation"]["metrics"] == recorded["evaluation"]["metrics"]


def _mv(version: int = 1, dataset_version: int | None = 1) -> ModelVersion:
    return ModelVersion(name="m", version=version, bundle_sha="x", framework="sklearn", task="binary", run_id=None,
                        dataset="d", dataset_version=dataset_version, plan_fingerprint=None,
                        metrics={"roc_auc": 0.91, "accuracy": 0.88}, config={"resolved": {}}, stage=None)


def _no_deploy(ref: str) -> str:
    raise AssertionError(f"deploy({ref}) must not be called")


def test_no_newer_data_skips_the_retrain() -> None:
    outcome = retrain(_mv(), 1, lambda ov: pytest.fail("train must not run"), _no_deploy)
    assert outcome.status == "skipped"
    assert outcome.message == ("no retrain: d@1 is still the newest data and m@1 was trained on it; load fresh data "
                               "with `tesla load -d FILE -o d`")


def test_a_gate_refusal_is_reported_with_its_numbers() -> None:
    calls: list[list[str]] = []

    def train(overrides: list[str]) -> tuple[ModelVersion, bool]:
        calls.append(overrides)
        return _mv(version=2, dataset_version=2), True

    def deploy(ref: str) -> str:
        raise GateError(f"{ref} fails the gate roc_auc >= 0.95: it scored 0.9100; the current deployment is unchanged")

    outcome = retrain(_mv(), 2, train, deploy, extra=["search.max_iter=2"])
    assert outcome.status == "refused" and outcome.model == "m@2" and outcome.dataset == "d@2"
    assert outcome.message == ("retrained m@2 on d@2 (roc_auc 0.9100, accuracy 0.8800) but it was not deployed: "
                               "m@2 fails the gate roc_auc >= 0.95: it scored 0.9100; "
                               "the current deployment is unchanged")
    assert calls[0][-2:] == ["data.version=null", "search.max_iter=2"]


def test_a_failed_training_is_an_outcome_not_a_crash() -> None:
    def train(overrides: list[str]) -> tuple[ModelVersion, bool]:
        raise DataError("target 'y' has a single class in dataset 'd@2'; classification needs two or more")

    outcome = retrain(_mv(), 2, train, _no_deploy)
    assert outcome.status == "failed"
    assert outcome.message == ("retraining m on d@2 failed: target 'y' has a single class in dataset 'd@2'; "
                               "classification needs two or more")


def test_a_passing_model_is_deployed() -> None:
    outcome = retrain(_mv(), 3, lambda ov: (_mv(version=2, dataset_version=3), True), lambda ref: "http://127.0.0.1:9")
    assert outcome.status == "deployed" and outcome.url == "http://127.0.0.1:9"
    assert outcome.message.startswith("retrained m@2 on d@3 (roc_auc 0.9100, accuracy 0.8800), passed the gates")


@pytest.mark.slow
def test_an_alert_retrains_on_new_data_and_the_gates_decide(trained_project: Path, datasets_dir: Path,
                                                            tmp_path: Path) -> None:
    proj = Path(shutil.copytree(trained_project, tmp_path / "proj"))
    store = api.open_store(proj)
    bundle = load_bundle(store.artifacts.path(store.model("bc_model", 1).bundle_sha))
    shifted = pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"])
    shifted["mean_radius"] = shifted["mean_radius"] * 1.5
    writer = CaptureWriter(capture_dir(store.state_dir, "bc_model", "production"), model_ref="bc_model@1")
    writer.predictions("r1", shifted.to_dict("records"), bundle.predict_records(shifted), 3.0)
    writer.close()
    api.load(datasets_dir / "bc.csv", "bc", target="target", project_dir=proj)  # fresh data: bc@2

    # lgbm only: a 2-trial xgboost's float32 probabilities trip sklearn's log_loss warning (an error here)
    quick = ["monitor.retrain=true", "search.max_iter=2", "search.estimators=[lgbm]"]
    strict = [*quick, "evaluation.gates={roc_auc:{min:1.01}}"]
    report = api.monitor("bc_model", overrides=strict, project_dir=proj)
    assert report.alerting and report.retrain.status == "refused"
    assert report.retrain.model == "bc_model@2" and report.retrain.dataset == "bc@2"
    assert "bc_model@2 fails the gate roc_auc >= 1.01: it scored 0." in report.retrain.message
    assert api.deployments(model="bc_model", project_dir=proj) == []

    report = api.monitor("bc_model@1", overrides=quick, project_dir=proj)
    try:
        assert report.retrain.status == "deployed", report.retrain.message
        assert report.retrain.model == "bc_model@2"  # the same recipe on the same data: the cached bundle
        assert "(an identical bundle was already registered), passed the gates" in report.retrain.message
        live = api.deployments(model="bc_model", project_dir=proj, active_only=True)
        assert [(d.version, d.profile) for d in live] == [(2, "production")]
    finally:
        api.stop_deployment("bc_model", project_dir=proj)
