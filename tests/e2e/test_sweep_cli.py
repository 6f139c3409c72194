"""`tesla plan --multirun` and `tesla train --multirun` through the real executable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tesla import api
from tests.conftest import run_tesla

SWEEP = ["search.metric=roc_auc,log_loss", "data.split.test_size=0.2,0.3"]


@pytest.fixture
def cli_project(tmp_path: Path, datasets_dir: Path) -> Path:
    run_tesla("init", "p", cwd=tmp_path)
    root = tmp_path / "p"
    run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "bc", "--target", "target", cwd=root)
    return root


@pytest.mark.e2e
def test_plan_multirun_shows_every_points_plan_before_anything_runs(cli_project: Path) -> None:
    out = run_tesla("plan", "-m", "m", "-f", "scikit-learn", "-p", "50", "--multirun", *SWEEP, cwd=cli_project).stdout
    for label in ("search.metric=roc_auc data.split.test_size=0.2", "search.metric=log_loss data.split.test_size=0.3"):
        assert f"{label}\nplan train/m" in out
    assert out.count("plan train/m") == 4 and "max_iter=50 metric=log_loss" in out
    assert "sweep of 4 points · sweeper BasicSweeper · launcher BasicLauncher" in out
    doc = json.loads(run_tesla("plan", "-m", "m", "-p", "50", "--multirun", *SWEEP, "--format", "json",
                               cwd=cli_project).stdout)
    assert [p["point"] for p in doc["points"]][:2] == ["search.metric=roc_auc data.split.test_size=0.2",
                                                       "search.metric=roc_auc data.split.test_size=0.3"]
    assert len({p["plan"]["fingerprint"] for p in doc["points"]}) == 4
    assert api.open_store(cli_project).runs() == []


_PROBE = """
import sys
from tesla.cli import main
try:
    main(["plan", "-m", "m", "--multirun", "search.metric=roc_auc,log_loss"])
except SystemExit:
    pass
print("HEAVY=" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & {"flaml", "sklearn", "pandas", "numpy",
                                                                        "torch", "tensorflow", "lightgbm", "xgboost"})))
"""


@pytest.mark.e2e
def test_plan_multirun_imports_no_ml_framework(cli_project: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=cli_project, capture_output=True, text=True, timeout=120)
    assert "plan train/m" in out.stdout and out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout + out.stderr


@pytest.mark.e2e
def test_a_bad_sweep_value_fails_before_anything_runs(cli_project: Path) -> None:
    proc = run_tesla("train", "-m", "m", "--multirun", "search.metric=roc_auc,rocauc", cwd=cli_project, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: override 'search.metric=rocauc': 'search.metric' must be one of auto, roc_auc")
    assert "Did you mean 'roc_auc'?" in proc.stderr and api.open_store(cli_project).runs() == []


@pytest.mark.slow
@pytest.mark.e2e
def test_train_multirun_records_the_sweep_and_registers_the_best(cli_project: Path) -> None:
    out = run_tesla("train", "-m", "m", "-f", "scikit-learn", "-p", "2", "--multirun", *SWEEP, cwd=cli_project)
    assert out.stderr.count("point #") == 4 and "trial 2/2" in out.stderr
    assert "leaderboard" in out.stdout and "held-out roc_auc" in out.stdout
    registered = next(line for line in out.stdout.splitlines() if line.startswith("m@1 registered: point #"))
    sweep_id = out.stdout.split("sweep ", 1)[1].split()[0]
    store = api.open_store(cli_project)
    assert len(store.runs(parent_id=sweep_id)) == 4 and [v.ref for v in store.model_versions("m")] == ["m@1"]
    assert store.model("m", 1).run_id in registered

    shown = run_tesla("runs", "show", sweep_id, cwd=cli_project).stdout
    assert "leaderboard across points (held-out roc_auc)" in shown
    assert shown.count("succeeded") == 5  # the sweep and its 4 points
    report = Path(shown.strip().splitlines()[-1].removeprefix("report: "))
    assert report.exists() and "Leaderboard across points" in report.read_text()

    again = run_tesla("train", "-m", "m", "-f", "scikit-learn", "-p", "2", "--multirun", *SWEEP, cwd=cli_project)
    assert again.stderr.count("cached") >= 20  # 4 points x 5 steps: nothing ran twice
    assert "m@1 unchanged" in again.stdout


@pytest.mark.slow
@pytest.mark.e2e
def test_train_multirun_with_the_joblib_launcher(cli_project: Path) -> None:
    out = run_tesla("train", "-m", "j", "-p", "2", "--multirun", "data.split.test_size=0.2,0.3",
                    "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=cli_project)
    assert "j@1 registered: point #" in out.stdout
    sweep_id = out.stdout.split("sweep ", 1)[1].split()[0]
    assert len(api.open_store(cli_project).runs(parent_id=sweep_id)) == 2
