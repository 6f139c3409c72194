"""The seed commands end to end through the real `tesla` executable on bundled data."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_tesla


def _post(url: str, payload: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
@pytest.mark.e2e
def test_init_load_plan_train_evaluate_deploy_predict_stop(tmp_path: Path, datasets_dir: Path) -> None:
    run_tesla("init", "my-project", cwd=tmp_path)
    project = tmp_path / "my-project"
    assert (project / "conf" / "config.yaml").exists() and (project / ".github" / "workflows" / "tesla.yml").exists()

    out = run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "cancer", "--target", "target", cwd=project)
    assert "Loaded cancer@1" in out.stdout
    again = run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "cancer", cwd=project)
    assert "Unchanged" in again.stdout and "cancer@1" in again.stdout

    plan = run_tesla("plan", "-m", "my_model", "-f", "scikit-learn", "-p", "4", cwd=project).stdout
    assert "0 cached, 5 to run" in plan and "search" in plan

    train = run_tesla("train", "-m", "my_model", "-f", "scikit-learn", "-p", "4", cwd=project)
    assert "my_model@1 registered" in train.stdout and "leaderboard" in train.stdout
    assert "trial 4/4" in train.stderr  # plain progress lines when not a terminal

    ev = run_tesla("evaluate", "-m", "my_model", "-d", str(datasets_dir / "bc_test.csv"), "--json", cwd=project)
    report = json.loads(ev.stdout)
    assert report["model"] == "my_model@1" and report["metrics"]["roc_auc"] > 0.9
    assert report["metrics"]["accuracy"] > report["baseline"]["accuracy"]
    html = Path(report["report"]).read_text()
    assert "Confusion matrix" in html and "<script" not in html

    dep = run_tesla("deploy", "-m", "my_model", "-p", "production", cwd=project).stdout
    url = dep.split(" at ", 1)[1].split()[0]
    try:
        rows = pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"]).head(5)
        served = _post(f"{url}/predict", {"records": json.loads(rows.to_json(orient="records"))})["predictions"]
        rows.to_csv(tmp_path / "rows.csv", index=False)
        run_tesla("predict", "-m", "my_model@1", "-d", str(tmp_path / "rows.csv"), "-o", str(tmp_path / "p.csv"), cwd=project)
        batch = pd.read_csv(tmp_path / "p.csv")
        assert [p["prediction"] for p in served] == batch["prediction"].tolist()
        for p, (_, row) in zip(served, batch.iterrows()):
            assert p["probabilities"]["malignant"] == pytest.approx(row["proba_malignant"], abs=1e-9)
        again = run_tesla("deploy", "-m", "my_model", "-p", "production", cwd=project).stdout
        assert "already serving" in again and url in again
        listing = run_tesla("deployments", "list", cwd=project).stdout
        assert "my_model" in listing and "running" in listing
    finally:
        stopped = run_tesla("deployments", "stop", "my_model", cwd=project).stdout
    assert "stopped my_model@1" in stopped
    assert "running" not in run_tesla("deployments", "list", cwd=project).stdout
    assert "stopped" in run_tesla("deployments", "list", "--all", cwd=project).stdout


def test_python_dash_m_tesla_works(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tesla", "--version"], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.stdout.strip().startswith("tesla ")
