"""The same inputs give the same plan on any machine: a fresh clone in CI, a developer's project with
a store full of history, another directory. A ``data.source`` file is identified by its content
(the canonical Parquet sha256 ingest computes), never by the version number a store allocated it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tesla import api
from tests.conftest import run_tesla

SOURCE = ["data.source=data/bc.csv", "data.target=target"]


def _project(root: Path, datasets_dir: Path) -> Path:
    api.init_project(root)
    shutil.copy(datasets_dir / "bc.csv", root / "data" / "bc.csv")
    return root


def _plan(root: Path, *extra: str) -> dict:
    return json.loads(run_tesla("plan", "-m", "m", "-p", "5", "--format", "json", *SOURCE, *extra, cwd=root).stdout)


def test_two_fresh_projects_in_different_directories_give_identical_plan_json(tmp_path: Path,
                                                                               datasets_dir: Path) -> None:
    a = _project(tmp_path / "a" / "clone", datasets_dir)
    b = _project(tmp_path / "elsewhere" / "deeper" / "other-name", datasets_dir)
    assert _plan(a) == _plan(b)


def test_a_store_with_history_gives_the_fingerprints_of_a_fresh_clone(tmp_path: Path, datasets_dir: Path) -> None:
    fresh = _plan(_project(tmp_path / "ci", datasets_dir))
    local = _project(tmp_path / "laptop", datasets_dir)
    # history the CI machine does not have: another file first, so data/bc.csv is loaded as bc@2 here
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=local)
    api.load(local / "data" / "bc.csv", "bc", target="target", project_dir=local)
    planned = _plan(local)
    assert [s["fingerprint"] for s in planned["steps"]] == [s["fingerprint"] for s in fresh["steps"]]
    assert planned["fingerprint"] == fresh["fingerprint"]
    load = next(s for s in fresh["steps"] if s["id"] == "load")
    assert load["params"]["version"] is None and load["params"]["format"] == "parquet"
    assert load["inputs"]["source"]["sha256"] == api.open_store(local).dataset_version("bc", 2).sha256


def test_the_trained_plan_is_the_previewed_plan(tmp_path: Path, datasets_dir: Path) -> None:
    root = _project(tmp_path / "p", datasets_dir)
    preview = api.compile_plan("m", max_iter=2, overrides=SOURCE, project_dir=root)
    result = api.train("m", max_iter=2, overrides=[*SOURCE, "search.time_budget_s=5"], project_dir=root)
    trained = api.open_store(root).run(result.run.run_id)
    again = api.compile_plan("m", max_iter=2, overrides=[*SOURCE, "search.time_budget_s=5"], project_dir=root)
    assert trained.plan_fingerprint == again.fingerprint
    assert preview.step("load").fingerprint == again.step("load").fingerprint
    assert result.model.dataset == "bc" and result.model.dataset_version == 1
