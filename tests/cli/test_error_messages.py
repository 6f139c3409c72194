"""Every mistake a user can make gets one line naming the thing and the fix, exit 1, and no change to the store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_tesla, store_snapshot


def _files(tmp: Path) -> dict[str, Path]:
    (tmp / "garbage.csv").write_bytes(b'a,b\n"unterminated,1\n' + bytes(range(256)) * 4)
    (tmp / "empty.csv").write_text("")
    (tmp / "notes.txt").write_text("hello")
    (tmp / "small.csv").write_text("x,churn\n1,yes\n2,no\n3,yes\n")
    return {p.stem: p for p in tmp.iterdir()}


CASES = [
    ("missing-file", ["load", "-d", "{tmp}/nope.csv", "-o", "d"], r"data file '.*nope\.csv' does not exist; check the path"),
    ("unreadable-csv", ["load", "-d", "{tmp}/garbage.csv", "-o", "d"], r"'.*garbage\.csv' holds binary data, not csv text"),
    ("empty-csv", ["load", "-d", "{tmp}/empty.csv", "-o", "d"], r"data file '.*empty\.csv' is empty; it needs a header row"),
    ("unknown-format", ["load", "-d", "{tmp}/notes.txt", "-o", "d"], r"cannot tell the format of '.*notes\.txt'; use a file ending in"),
    ("unknown-target", ["load", "-d", "{tmp}/small.csv", "-o", "d", "--target", "chrun"],
     r"target column 'chrun' is not in '.*small\.csv'; columns: x, churn\. Did you mean 'churn'\?"),
    ("unknown-framework", ["train", "-m", "m", "-f", "sklearn", "-p", "2"],
     r"'search\.framework' must be one of scikit-learn, pytorch, tensorflow, auto; got 'sklearn'\. Did you mean 'scikit-learn'\?"),
    ("zero-trials", ["train", "-m", "m", "-p", "0"], r"'search\.max_iter' must be in the range \[1, inf\]; got 0"),
    ("unknown-key", ["train", "-m", "m", "search.metrc=log_loss"],
     r"unknown config key 'search\.metrc'\. Did you mean 'search\.metric'\?"),
    ("unknown-group-option", ["plan", "backend=sagemakr"],
     r"unknown option 'sagemakr' for config group 'backend'\. Available: local, ray, sagemaker, vertex\. Did you mean 'sagemaker'\?"),
    ("wrong-type", ["train", "-m", "m", "search.max_iter=many"], r"'search\.max_iter' must be an integer or null; got 'many'"),
    ("unknown-estimator", ["plan", "search.estimators=[lgbn]"], r"estimator 'lgbn' in search\.estimators .* Did you mean 'lgbm'\?"),
    ("unknown-model", ["evaluate", "-m", "bc_modle", "-d", "{data}/bc_test.csv"], r"no model named 'bc_modle'\. Did you mean 'bc_model'\?"),
    ("unknown-version", ["predict", "-m", "bc_model@9", "-d", "{data}/bc_test.csv"], r"model 'bc_model' has no version 9"),
    ("bad-model-ref", ["predict", "-m", "bc_model@latest", "-d", "{data}/bc_test.csv"], r"has no version called 'latest'"),
    ("unknown-dataset", ["train", "-m", "m", "data.dataset=bcc"], r"no dataset named 'bcc'; datasets: bc"),
    ("missing-eval-file", ["evaluate", "-m", "bc_model", "-d", "{tmp}/nope.csv"], r"evaluation data '.*nope\.csv' does not exist"),
    ("eval-without-target", ["evaluate", "-m", "bc_model", "-d", "{tmp}/small.csv"], r"has no target column 'target'"),
    ("port-in-use", ["deploy", "-m", "bc_model", "deploy.port={port}"], r"port \d+ on 127\.0\.0\.1 is in use; pick another with deploy\.port=N"),
    ("stop-unknown", ["deployments", "stop", "bc_modle"], r"no running deployment of 'bc_modle'"),
    ("unknown-dataset-log", ["data", "log", "nope"], r"no dataset named 'nope'; datasets: bc"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "pattern"), [pytest.param(a, p, id=i) for i, a, p in CASES])
def test_mistakes_get_one_line_and_leave_the_store_alone(args: list[str], pattern: str, trained_project: Path,
                                                        datasets_dir: Path, tmp_path: Path, busy_port: int) -> None:
    _files(tmp_path)
    argv = [a.format(tmp=tmp_path, data=datasets_dir, port=busy_port) for a in args]
    before = store_snapshot(trained_project)
    proc = run_tesla(*argv, cwd=trained_project, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr  # progress lines may come before
    assert "Traceback" not in proc.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert store_snapshot(trained_project) == before


def test_the_first_train_in_an_empty_project_says_how_to_load_data(project: Path) -> None:
    proc = run_tesla("train", "-m", "m", cwd=project, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("Error: the project has no dataset yet; load one with "
                                   "`tesla load -d FILE -o NAME --target COLUMN` or set data.source=FILE")


def test_a_word_that_is_not_an_override_is_a_usage_error(project: Path) -> None:
    proc = run_tesla("plan", "search.metric", cwd=project, check=False)
    assert proc.returncode == 2
    assert "is not an override; overrides are KEY=VALUE" in proc.stderr


def test_full_traceback_only_on_request(project: Path) -> None:
    proc = run_tesla("train", "-m", "m", cwd=project, check=False, env={"TESLA_FULL_ERROR": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "DataNotFoundError" in proc.stderr
