"""`tesla replay -m NAME@V` and `tesla runs show RUN` through the real executable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tesla import api
from tesla.store import metadata
from tests.conftest import run_tesla


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("replay")
    run_tesla("init", "p", cwd=root)
    root = root / "p"
    run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "bc", "--target", "target", cwd=root)
    run_tesla("train", "-m", "m", "-p", "6", cwd=root)
    return root


@pytest.mark.e2e
def test_replay_matches_the_recorded_score(trained: Path) -> None:
    out = run_tesla("replay", "-m", "m@1", cwd=trained).stdout
    assert "replay of m@1" in out and "m@1 replays: every held-out metric matches (dataset bc@1" in out


@pytest.mark.e2e
def test_replay_mismatch_exits_1_with_both_numbers(trained: Path) -> None:
    store = api.open_store(trained)
    real = store.model("m", 1).metrics
    with store.engine.begin() as c:
        c.execute(sa.update(metadata.models).where(metadata.models.c.name == "m")
                  .values(metrics_json=json.dumps({**real, "accuracy": 0.25})))
    try:
        proc = run_tesla("replay", "-m", "m@1", cwd=trained, check=False)
    finally:
        with store.engine.begin() as c:
            c.execute(sa.update(metadata.models).where(metadata.models.c.name == "m")
                      .values(metrics_json=json.dumps(real)))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = proc.stderr.splitlines()[-1]  # after the replay's progress lines
    assert error.startswith(f"Error: m@1 does not replay: accuracy recorded 0.25, replayed "
                            f"{real['accuracy']:.10g} (relative tolerance 1e-09; replay run ")


@pytest.mark.e2e
def test_replay_of_an_unknown_model_names_the_models(trained: Path) -> None:
    proc = run_tesla("replay", "-m", "mm@1", cwd=trained, check=False)
    assert proc.returncode == 1 and proc.stderr == "Error: no model named 'mm'. Did you mean 'm'?\n"


@pytest.mark.e2e
def test_runs_show_prints_the_leaderboard_and_writes_the_search_progress_report(trained: Path) -> None:
    run_id = api.open_store(trained).model("m", 1).run_id
    out = run_tesla("runs", "show", run_id, cwd=trained).stdout
    assert "leaderboard (best validation loss per estimator)" in out and "trials" in out
    assert "predict_ms_per_row" in out  # each estimator's serving cost, measured by the search
    report = Path(out.strip().splitlines()[-1].removeprefix("report: "))
    html = report.read_text()
    assert report.name == f"run-{run_id}.html" and "<script" not in html
    assert "Search progress" in html and html.count("<svg") == 3 and "best validation loss" in html
    assert "seconds since the search started" in html and "Trials" in html
