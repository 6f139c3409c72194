"""`tesla plan --diff REF`: changed keys, steps with the keys that invalidate them, cost change; clear refusals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tesla import api
from tests.conftest import run_tesla
from tests.review.conftest import commit_all, declare_source, git


@pytest.fixture
def repo(tmp_path: Path, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path / "proj")
    shutil.copy(datasets_dir / "bc.csv", root / "data" / "bc.csv")
    declare_source(root)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "base")
    return root


def _edit(path: Path, pattern: str, value: str) -> None:
    path.write_text(re.sub(pattern, value, path.read_text(), flags=re.MULTILINE))


def test_an_uncommitted_split_change_invalidates_split_and_what_follows(repo: Path) -> None:
    _edit(repo / "conf" / "data" / "default.yaml", r"test_size: 0.2", "test_size: 0.3")
    doc = json.loads(run_tesla("plan", "--diff", "HEAD", "-m", "m", "--format", "json", cwd=repo).stdout)
    assert doc["config"] == [{"key": "data.split.test_size", "old": 0.2, "new": 0.3, "added": False,
                              "removed": False}]
    change = {s["step"]: (s["change"], s["causes"]) for s in doc["steps"]}
    assert change["load"] == ("unchanged", [])
    assert change["split"] == ("invalidated", ["data.split.test_size: 0.2 -> 0.3"])
    assert change["search"] == ("invalidated", ["upstream split (data.split.test_size)"])
    assert doc["cost"]["old_usd"] is None and doc["cost"]["new_usd"] is None  # local: no charge
    text = run_tesla("plan", "--diff", "HEAD", "-m", "m", cwd=repo).stdout
    assert "  data.split.test_size: 0.2 -> 0.3\n" in text and "cost: no charge (backend local)" in text


def test_a_move_to_a_cloud_backend_shows_the_cost_change(repo: Path) -> None:
    _edit(repo / "conf" / "config.yaml", r"  - backend: local", "  - backend: sagemaker")
    _edit(repo / "conf" / "backend" / "sagemaker.yaml", r"^max_runtime_s: 3600", "max_runtime_s: 7200")
    doc = json.loads(run_tesla("plan", "--diff", "HEAD", "-m", "m", "--format", "json", cwd=repo).stdout)
    assert doc["cost"]["old_usd"] is None and doc["cost"]["new_usd"] > 0
    assert doc["cost"]["backend"] == {"old": "local", "new": "sagemaker"}
    assert {"key": "backend.name", "old": "local", "new": "sagemaker", "added": False, "removed": False} in doc["config"]
    md = run_tesla("plan", "--diff", "HEAD", "-m", "m", "--format", "md", cwd=repo).stdout
    assert f"cost (upper bound): no charge -> {doc['cost']['new_usd']:.2f} USD" in md
    assert "| `backend.name` | `\"local\"` | `\"sagemaker\"` |" in md


def test_a_data_file_change_invalidates_the_load_step_by_content(repo: Path) -> None:
    path = repo / "data" / "bc.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-10]))
    doc = json.loads(run_tesla("plan", "--diff", "HEAD", "-m", "m", "--format", "json", cwd=repo).stdout)
    load = next(s for s in doc["steps"] if s["step"] == "load")
    assert load["change"] == "invalidated" and load["keys"] == ["data content"]
    assert doc["config"] == []


@pytest.mark.parametrize(("setup", "ref", "message"), [
    ("no-git", "HEAD", r"^Error: '.*' is not in a git repository; --diff and --base compare the project with a git ref"),
    ("git", "nope", r"^Error: git ref 'nope' names no commit here; name a branch, tag or commit"),
    ("empty-first", "HEAD~1", r"^Error: git ref 'HEAD~1' \([0-9a-f]{12}\) has no conf/config.yaml in '.': the project "
                              r"did not exist there yet"),
], ids=["not-a-repository", "unknown-ref", "project-not-there-yet"])
def test_refusals_are_one_line(tmp_path: Path, setup: str, ref: str, message: str) -> None:
    root = api.init_project(tmp_path / "p")
    if setup != "no-git":
        git(root, "init", "-q", "-b", "main")
        if setup == "empty-first":
            (root / "README").write_text("x\n")
            git(root, "add", "README")
            git(root, "commit", "-q", "-m", "before tesla")
        commit_all(root, "tesla")
    proc = run_tesla("plan", "--diff", ref, "-m", "m", cwd=root, check=False)
    assert proc.returncode == 1, proc.stderr
    assert re.match(message, proc.stderr) and proc.stderr.count("\n") == 1, proc.stderr


def test_diff_with_dry_run_is_a_usage_error(repo: Path) -> None:
    proc = run_tesla("plan", "--diff", "HEAD", "--dry-run", cwd=repo, check=False)
    assert proc.returncode == 2 and "--diff compares one training plan" in proc.stderr
