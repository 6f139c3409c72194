"""`-f pytorch`, `-f tensorflow` and `-f auto` end to end through the real `tesla` executable:
train -> evaluate -> predict -> serve one row, the safe bundle formats on disk, and the
one-line error when a framework's extra is not installed."""

from __future__ import annotations

import io
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import run_tesla

WEIGHTS = {"pytorch": "model.safetensors", "tensorflow": "model.keras"}
ESTIMATOR = {"pytorch": "torch_mlp", "tensorflow": "keras_mlp"}
MODULE = {"pytorch": "torch", "tensorflow": "tensorflow"}


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _blocking(tmp_path: Path, *modules: str) -> dict[str, str]:
    """Environment whose Python cannot import ``modules``, as if their extras were not installed."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    for module in modules:
        message = f"No module named '{module}'"
        (shim / f"{module}.py").write_text(f"raise ModuleNotFoundError({message!r}, name={module!r})\n")
    return {"PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}


def _project(tmp_path: Path, csv: Path, dataset: str, target: str) -> Path:
    run_tesla("init", "proj", cwd=tmp_path)
    project = tmp_path / "proj"
    run_tesla("load", "-d", str(csv), "-o", dataset, "--target", target, cwd=project)
    return project


@pytest.fixture(scope="module")
def iris_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    """One project with iris loaded, shared by the tests below (each uses its own model name)."""
    return _project(tmp_path_factory.mktemp("iris"), datasets_dir / "iris.csv", "iris", "target")


def _bundle_files(project: Path) -> set[str]:
    return {p.name for p in (project / ".tesla").rglob("model.*")}


def _serve_one_row(project: Path, model: str, row: pd.DataFrame) -> dict[str, Any]:
    dep = run_tesla("deploy", "-m", model, "-p", "production", cwd=project).stdout
    url = dep.split(" at ", 1)[1].split()[0]
    try:
        return _post(f"{url}/predict", {"records": json.loads(row.to_json(orient="records"))})["predictions"][0]
    finally:
        run_tesla("deployments", "stop", model, cwd=project)


def _assert_same_prediction(served: dict[str, Any], batch: pd.Series, classes: list[str] | None) -> None:
    if classes is None:
        assert served["prediction"] == pytest.approx(batch["prediction"], rel=1e-5)
        return
    assert served["prediction"] == batch["prediction"]
    for cls in classes:  # float32 networks: a batch of one may round differently in the last bits
        assert served["probabilities"][cls] == pytest.approx(batch[f"proba_{cls}"], rel=1e-4, abs=1e-7)


CASES = [  # framework, dataset, classes (None: regression), metric that must beat the baseline, overrides
    pytest.param("pytorch", "iris", ["setosa", "versicolor", "virginica"], "accuracy", [], id="pytorch-iris"),
    # holdout instead of 5-fold cv: TensorFlow fits cost more, and cv is exercised by the case above
    pytest.param("tensorflow", "diabetes", None, "r2", ["search.eval_method=holdout"], id="tensorflow-diabetes"),
]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize(("framework", "dataset", "classes", "metric", "overrides"), CASES)
def test_train_evaluate_predict_serve(request: pytest.FixtureRequest, tmp_path: Path, datasets_dir: Path,
                                      framework: str, dataset: str, classes: list[str] | None, metric: str,
                                      overrides: list[str]) -> None:
    csv = datasets_dir / f"{dataset}.csv"
    shared = dataset == "iris"  # the iris project is shared with the tests below
    project = request.getfixturevalue("iris_project") if shared else _project(tmp_path, csv, dataset, "target")
    train = run_tesla("train", "-m", "nn", "-f", framework, "-p", "2", *overrides, cwd=project)
    assert f"nn@1 registered: {ESTIMATOR[framework]}" in train.stdout
    assert framework in run_tesla("models", "list", "nn", cwd=project).stdout
    assert WEIGHTS[framework] in _bundle_files(project) and "model.skops" not in _bundle_files(project)

    report = json.loads(run_tesla("evaluate", "-m", "nn", "-d", str(csv), "--json", cwd=project).stdout)
    assert report["metrics"][metric] > report["baseline"][metric]

    row = pd.read_csv(csv).drop(columns=["target"]).sample(1, random_state=0)
    row.to_csv(tmp_path / "row.csv", index=False)
    batch = pd.read_csv(io.StringIO(run_tesla("predict", "-m", "nn", "-d", str(tmp_path / "row.csv"),
                                              cwd=project).stdout))
    served = _serve_one_row(project, "nn", row)
    _assert_same_prediction(served, batch.iloc[0], classes)

    # the bundle names its framework: without the extra, scoring says what to install
    blocked = run_tesla("predict", "-m", "nn", "-d", str(tmp_path / "row.csv"), cwd=project, check=False,
                        env=_blocking(tmp_path, MODULE[framework]))
    assert blocked.returncode == 1
    assert blocked.stderr.strip().splitlines()[-1] == (
        f"Error: the {framework} framework is not installed ({MODULE[framework]}); "
        f"run: pip install 'tesla-ml[{framework}]'")


@pytest.mark.slow
@pytest.mark.e2e
def test_auto_with_a_neural_winner_on_mixed_types_writes_that_framework_s_bundle(
        tmp_path: Path, datasets_dir: Path) -> None:
    project = _project(tmp_path, datasets_dir / "churn.csv", "churn", "churn")
    train = run_tesla("train", "-m", "auto_nn", "-f", "auto", "-p", "2", "search.estimators=[torch_mlp]",
                      "search.eval_method=holdout", cwd=project)
    assert "auto_nn@1 registered: torch_mlp" in train.stdout
    assert "pytorch" in run_tesla("models", "list", "auto_nn", cwd=project).stdout
    assert "model.safetensors" in _bundle_files(project)
    rows = pd.read_csv(datasets_dir / "churn_test.csv").drop(columns=["churn"]).head(3)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = pd.read_csv(io.StringIO(run_tesla("predict", "-m", "auto_nn", "-d", str(tmp_path / "rows.csv"),
                                            cwd=project).stdout))
    assert set(out["prediction"]) <= {"yes", "no"}
    assert (out["proba_yes"] + out["proba_no"]).round(6).eq(1.0).all()


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_missing_extra_is_one_line_with_the_pip_command(tmp_path: Path, iris_project: Path, framework: str) -> None:
    # --force: the shared project may hold a cached search of this framework from the test above
    out = run_tesla("train", "-m", "missing", "-f", framework, "-p", "2", "--force", cwd=iris_project, check=False,
                    env=_blocking(tmp_path, MODULE[framework]))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"Error: -f {framework} needs {MODULE[framework]}, which is not installed; "
        f"run: pip install 'tesla-ml[{framework}]'")
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_plan_for_neural_frameworks_imports_neither(tmp_path: Path, iris_project: Path) -> None:
    env = _blocking(tmp_path, "torch", "tensorflow", "keras")  # importing any of them would fail the command
    for framework in ("pytorch", "tensorflow", "auto"):
        out = run_tesla("plan", "-m", "planned", "-f", framework, "-p", "3", cwd=iris_project, env=env)
        assert "search" in out.stdout
