"""`tesla evaluate` through the project: stored threshold, gates recorded and read by deploy, --against, compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tesla import Project, api
from tesla.errors import DeployError, GateError

from .test_plots import assert_self_contained


@pytest.fixture(scope="module")
def bc_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    """bc loaded, bc_model v1 and v2 trained (3 trials each, different seeds)."""
    root = api.init_project(tmp_path_factory.mktemp("eval") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    api.train("bc_model", max_iter=3, project_dir=root)
    api.train("bc_model", max_iter=3, overrides=["search.seed=1"], project_dir=root)
    return root


def test_evaluate_stores_a_unique_self_contained_report(bc_project: Path, datasets_dir: Path, tmp_path: Path) -> None:
    pd.read_csv(datasets_dir / "bc_test.csv").head(80).to_csv(tmp_path / "bc_test.csv", index=False)
    first = Project(bc_project).evaluation.evaluate("bc_model@1", tmp_path / "bc_test.csv")
    second = Project(bc_project).evaluation.evaluate("bc_model@1", datasets_dir / "bc_test.csv")
    # the same name stem (model, version, file name); the content hash keeps both
    assert first.report_path != second.report_path and first.report_path.exists() and second.report_path.exists()
    assert first.report_path.parent.name == "evaluation" and first.report_path.name.startswith("bc_model-v1-bc_test-")
    again = Project(bc_project).evaluation.evaluate("bc_model@1", datasets_dir / "bc_test.csv", force=True)
    assert again.report_path == second.report_path  # the same bytes are the same report
    page = second.report_path.read_text()
    assert_self_contained(page)
    assert "<h2>ROC</h2>" in page and "<td style='text-align:left'>bc_model@1</td>" in page
    record = Project(bc_project).store.evaluations("bc_model", 1)[0]
    assert record.report_sha == second.report_sha and record.metrics["gates"] == []


def test_a_failed_gate_exits_naming_it_is_recorded_and_deploy_reads_it(bc_project: Path, datasets_dir: Path,
                                                                       tmp_path: Path) -> None:
    shuffled = pd.read_csv(datasets_dir / "bc_test.csv")
    shuffled["target"] = shuffled["target"].sample(frac=1, random_state=0).to_numpy()  # the model cannot do well
    shuffled.to_csv(tmp_path / "noise.csv", index=False)
    gate = ["evaluation.gates={roc_auc:{min:0.9}}"]
    project = Project(bc_project)
    with pytest.raises(GateError, match=r"bc_model@2 fails the gate roc_auc >= 0.9: it scored 0\.\d+; the evaluation "
                                        r"is recorded, report: .*evaluation.*\.html") as caught:
        project.evaluation.evaluate("bc_model@2", tmp_path / "noise.csv", overrides=gate)
    assert caught.value.key == "evaluation.gates.roc_auc"
    recorded = project.store.evaluations("bc_model", 2)[0]
    assert recorded.metrics["gates"][0]["passed"] is False
    mv = project.store.model("bc_model", 2)
    assert mv.metrics["roc_auc"] >= 0.9  # the held-out score passes: only the recorded evaluation blocks
    with pytest.raises(GateError, match="in its latest evaluation on 'noise.csv'"):
        project.evaluation.check_gates({"roc_auc": {"min": 0.9}}, mv)
    project.evaluation.check_gates({"roc_auc": {"min": 0.5}}, mv)  # a loosened gate is not the one it failed
    passing = project.evaluation.evaluate("bc_model@2", datasets_dir / "bc_test.csv", overrides=gate)
    assert [g["passed"] for g in passing.gates] == [True]
    project.evaluation.check_gates({"roc_auc": {"min": 0.9}}, mv)  # the newest evaluation passed


def test_against_production_and_models_compare_give_paired_intervals(bc_project: Path, datasets_dir: Path) -> None:
    project = Project(bc_project)
    with pytest.raises(DeployError, match="no version of 'bc_model' is serving profile 'production'"):
        project.evaluation.evaluate("bc_model@2", datasets_dir / "bc_test.csv", against="production")
    dep = project.store.add_deployment(model="bc_model", version=1, profile="production", target="local",
                                       status="running")
    try:
        result = project.evaluation.evaluate("bc_model@2", datasets_dir / "bc_test.csv", against="production")
    finally:
        project.store.update_deployment(dep, status="stopped")
    assert result.against.ref == "bc_model@1" and {d.metric for d in result.deltas} == set(result.metrics)
    for d in result.deltas:
        assert d.low <= d.delta <= d.high and d.delta == pytest.approx(d.b - d.a)
    assert "Against bc_model@1 (serving &#x27;production&#x27;)" in result.report_path.read_text()
    compared = project.evaluation.compare("bc_model@1", "bc_model@2", datasets_dir / "bc_test.csv")
    assert compared.rows == 114 and compared.report_path.parent.name == "compare"
    assert [d.delta for d in compared.deltas] == pytest.approx([d.delta for d in result.deltas])
    assert_self_contained(compared.report_path.read_text())


def test_a_threshold_chosen_at_training_is_stored_and_predict_uses_it(tmp_path: Path, datasets_dir: Path) -> None:
    root = api.init_project(tmp_path / "churn")
    api.load(datasets_dir / "churn.csv", "churn", target="churn", project_dir=root)
    api.train("churn", max_iter=2, project_dir=root,
              overrides=["evaluation.threshold.objective=recall", "evaluation.threshold.target_recall=0.9",
                         "data.exclude=[customer_id]"])
    project = Project(root)
    mv = project.store.model("churn", 1)
    from tesla.models import load_verified_bundle

    bundle = load_verified_bundle(project.store.artifacts, mv.bundle_sha, ref=mv.ref)
    decision = bundle.manifest["decision"]
    assert decision["objective"] == "recall" and 0 < decision["threshold"] < 0.5
    frame = project.evaluation.predict("churn", datasets_dir / "churn_test.csv")
    p_yes = frame["proba_yes"].to_numpy()
    assert (frame["prediction"].to_numpy() == np.where(p_yes >= decision["threshold"], "yes", "no")).all()
    assert ((p_yes >= decision["threshold"]) & (p_yes < 0.5)).any()  # decisions argmax would not make


def test_the_cli_names_a_failed_gate_exits_1_and_compares(bc_project: Path, datasets_dir: Path) -> None:
    from tests.conftest import run_tesla

    test = str(datasets_dir / "bc_test.csv")
    failed = run_tesla("evaluate", "-m", "bc_model@1", "-d", test, "evaluation.gates={roc_auc:{min:1.01}}",
                       cwd=bc_project, check=False)
    assert failed.returncode == 1, failed.stderr
    assert "Error: bc_model@1 fails the gate roc_auc >= 1.01: it scored" in failed.stderr
    assert "Traceback" not in failed.stderr
    compared = run_tesla("models", "compare", "bc_model@1", "bc_model@2", "-d", test, cwd=bc_project)
    assert "bc_model@2 minus bc_model@1 on the same rows" in compared.stdout and "roc_auc" in compared.stdout
    assert compared.stdout.strip().splitlines()[-1].startswith("report: ")


def test_open_hands_the_report_to_the_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import webbrowser

    from tesla.report.files import open_report

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda uri: opened.append(uri) or True)
    report = tmp_path / "r.html"
    report.write_text("<html></html>")
    assert open_report(report) and opened == [report.resolve().as_uri()]
