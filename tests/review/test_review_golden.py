"""`tesla review --format md` on a two-commit repository gives exactly the comment in golden/review.md.

main: bc.csv declared as data.source, bc_test.csv as evaluation.data, lgbm for 3 trials; m@1 trained
there serves production. The branch: 55 rows fewer, a column excluded, 6 trials; m@2 trained from the
branch's plan. Both are scored on bc_test.csv.
Hashes and fingerprints (hex) are masked: they move with the Tesla version, the rest must not.
Regenerate with TESLA_UPDATE_GOLDEN=1 after an intended change, and read the diff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tesla import api
from tests.conftest import run_tesla
from tests.review.conftest import commit_all, declare_source, git

GOLDEN = Path(__file__).parent / "golden" / "review.md"
HEX = re.compile(r"\b[0-9a-f]{12}\b")


def _set(path: Path, pattern: str, value: str) -> None:
    path.write_text(re.sub(pattern, value, path.read_text(), flags=re.MULTILINE))


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("review") / "proj")
    shutil.copy(datasets_dir / "bc_train.csv", root / "data" / "bc.csv")
    shutil.copy(datasets_dir / "bc_test.csv", root / "data" / "bc_test.csv")  # the fixed held-out rows
    declare_source(root, extra="evaluation:\n  data: data/bc_test.csv\n")
    search = root / "conf" / "search" / "default.yaml"
    _set(search, r"^estimators: \[\]", "estimators: [lgbm]")
    _set(search, r"^max_iter: (\d+|null)", "max_iter: 3")
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "bc with lgbm")
    champion = api.train("m", project_dir=root).model
    api.open_store(root).set_model_stage("m", champion.version, "production")  # what `tesla deploy` records

    git(root, "checkout", "-q", "-b", "fewer-rows")
    bc = pd.read_csv(root / "data" / "bc.csv")
    bc.head(len(bc) - 55).to_csv(root / "data" / "bc.csv", index=False)
    _set(search, r"^max_iter: (\d+|null)", "max_iter: 6")
    _set(root / "conf" / "data" / "default.yaml", r"^exclude: \[\]", "exclude: [mean_area]")
    commit_all(root, "fewer rows, no mean_area, more trials")
    api.train("m", project_dir=root)
    return root


def test_review_markdown_matches_the_golden_comment(two_commits: Path) -> None:
    text = HEX.sub("<hex>", run_tesla("review", "--base", "main", "-m", "m", "--format", "md", cwd=two_commits).stdout)
    if os.environ.get("TESLA_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_review_json_names_the_candidate_the_champion_and_the_invalidating_keys(two_commits: Path) -> None:
    doc = json.loads(run_tesla("review", "--base", "main", "-m", "m", "--format", "json", cwd=two_commits).stdout)
    assert doc["metrics"]["candidate"] == "m@2" and doc["metrics"]["champion"] == "m@1"
    assert {d["metric"] for d in doc["metrics"]["deltas"]} == {"roc_auc", "log_loss", "accuracy", "f1", "precision",
                                                               "recall"}
    assert all(d["low"] <= d["high"] and d["rows"] == doc["metrics"]["deltas"][0]["rows"]
               for d in doc["metrics"]["deltas"])
    assert doc["data"]["old"] == "bc@1" and doc["data"]["new"] == "bc@2" and doc["data"]["rows"] == {"old": 455,
                                                                                                     "new": 400}
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["load"]["keys"] == ["data.exclude", "data content"]
    assert doc["metrics"]["rows_from"] == "evaluation.data bc_test.csv" and doc["metrics"]["caveat"] is None
    assert "search.max_iter" in steps["search"]["keys"] and "data.exclude" in steps["search"]["keys"]


def test_plan_diff_against_the_same_tree_changes_nothing(two_commits: Path) -> None:
    out = run_tesla("plan", "--diff", "HEAD", "-m", "m", cwd=two_commits).stdout
    assert "config: no key changed" in out
    assert all(line.split()[1] == "unchanged" for line in out.splitlines() if line.startswith("  ") and ":" not in line)
