"""`tesla models show` gives a version's lineage; `tesla runs compare` and `tesla diff` put runs side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tesla import api
from tesla._version import __version__
from tests.conftest import run_tesla
from tests.review.conftest import commit_all, declare_source, git


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> tuple[Path, str, str, str]:
    root = api.init_project(tmp_path_factory.mktemp("lineage") / "proj")
    shutil.copy(datasets_dir / "bc_train.csv", root / "data" / "bc.csv")
    declare_source(root)
    git(root, "init", "-q", "-b", "main")
    commit = commit_all(root, "bc")
    base = ["search.estimators=[lgbm]"]
    first = api.train("m", overrides=[*base, "search.max_iter=2"], project_dir=root)
    (root / "notes.txt").write_text("untracked: the tree stays clean\n")
    second = api.train("m", overrides=[*base, "search.max_iter=3", "data.split.seed=7"], project_dir=root)
    assert first.model.version == 1 and second.model.version == 2
    return root, first.run.run_id, second.run.run_id, commit


def test_models_show_gives_the_lineage(two_runs: tuple) -> None:
    root, _, run_b, commit = two_runs
    doc = json.loads(run_tesla("models", "show", "m@2", "--json", cwd=root).stdout)
    assert doc["model"] == "m@2" and doc["run_id"] == run_b and doc["dataset"] == "bc@1"
    assert doc["dataset_sha256"] == api.open_store(root).dataset_version("bc", 1).sha256
    assert doc["plan_fingerprint"] == api.open_store(root).run(run_b).plan_fingerprint
    assert doc["code"] == {"git_commit": commit, "git_dirty": False, "tesla": __version__}
    assert {"tesla-ml", "scikit-learn", "flaml", "lightgbm", "numpy", "pandas"} <= set(doc["packages"])
    assert doc["config"]["search"]["max_iter"] == 3 and doc["config"]["data"]["split"]["seed"] == 7
    assert doc["created_by"] and doc["missing"] == []
    text = run_tesla("models", "show", "m@2", cwd=root).stdout
    assert f"git commit:       {commit}\n" in text and "  scikit-learn==" in text and "max_iter: 3" in text


def test_models_show_of_an_unknown_version_is_one_error_line(two_runs: tuple) -> None:
    proc = run_tesla("models", "show", "m@9", cwd=two_runs[0], check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1


def test_diff_lists_every_changed_key_in_full(two_runs: tuple) -> None:
    root, run_a, run_b, _ = two_runs
    out = run_tesla("diff", run_a, run_b, cwd=root).stdout.splitlines()
    assert out[2:] == ["data.split.seed: 42 -> 7", "search.max_iter: 2 -> 3"]
    doc = json.loads(run_tesla("diff", run_a, run_b, "--json", cwd=root).stdout)
    assert [c["key"] for c in doc["changes"]] == ["data.split.seed", "search.max_iter"]


def test_runs_compare_shows_config_metrics_and_leaderboards(two_runs: tuple) -> None:
    root, run_a, run_b, _ = two_runs
    doc = json.loads(run_tesla("runs", "compare", run_a, run_b, "--json", cwd=root).stdout)
    assert doc["config_differences"] == [{"key": "data.split.seed", run_a: 42, run_b: 7},
                                         {"key": "search.max_iter", run_a: 2, run_b: 3}]
    assert all(set(r["metrics"]) >= {"roc_auc", "accuracy"} and r["leaderboard"][0]["estimator"] == "lgbm"
               for r in doc["runs"])
    text = run_tesla("runs", "compare", run_a, run_b, cwd=root).stdout
    assert "held-out metrics" in text and "leaderboard" in text and "search.max_iter" in text


def test_runs_compare_needs_two_runs(two_runs: tuple) -> None:
    proc = run_tesla("runs", "compare", two_runs[1], cwd=two_runs[0], check=False)
    assert proc.returncode == 2 and "needs two or more different run ids" in proc.stderr
