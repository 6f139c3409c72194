"""Issue 10: every row is used (refit after evaluation), the budget is the budget, a failed stack never loses a search."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tesla import api
from tesla.automl import adapter
from tesla.automl.adapter import choose_eval_method
from tesla.automl.budget import MIN_SEARCH_S, POST_S, Budget, process_age_s
from tesla.errors import BundleError
from tesla.models import load_bundle, read_manifest
from tests.conftest import run_tesla


@pytest.fixture(scope="module")
def bc_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("refit") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    return root


# -- eval_method=auto on the raw width ---------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "rows", "columns", "budget", "want"), [
    ("auto", 5000, 10, None, "cv"),  # trial-bounded: FLAML's rule says cv
    ("auto", 5000, 10, 30.0, "cv"),  # 55.6 k cells < 83.3 k for 30 s
    ("auto", 5000, 20, 30.0, "holdout"),
    ("auto", 5000, 20, 120.0, "cv"),
    ("auto", 150_000, 2, None, "holdout"),  # too many rows for cv
    ("holdout", 100, 2, None, "holdout"),  # an explicit choice stands
    ("cv", 10**6, 50, 1.0, "cv"),
], ids=["no-budget", "small-30s", "wide-30s", "wide-120s", "many-rows", "explicit-holdout", "explicit-cv"])
def test_eval_method_auto_follows_the_raw_table(method: str, rows: int, columns: int, budget: float | None,
                                                 want: str) -> None:
    assert choose_eval_method(method, rows, columns, budget) == want


# -- the budget ----------------------------------------------------------------------------------------------------
def test_a_young_process_pays_its_start_up_from_the_budget_an_old_one_does_not() -> None:
    young, old = Budget.start(30.0, age_s=4.0), Budget.start(30.0, age_s=400.0)
    assert 25.0 < young.left_s() <= 26.0
    assert 29.0 < old.left_s() <= 30.0
    # FLAML gets the time left less what follows the search; an ensemble keeps more back
    assert young.search_s(ensemble=True) < young.search_s(ensemble=False) < young.left_s() - POST_S
    # where FLAML's budget cannot shrink while it runs (concurrent trials), a share is kept back from the start
    assert young.search_s(ensemble=False, elastic=False) < young.search_s(ensemble=False)
    assert young.allows(1.0) and not young.allows(young.left_s())


def test_one_fit_of_the_winner_is_sized_from_its_trial() -> None:
    # a holdout trial is one fit on its sample; a cv trial is n_splits fits on (n_splits - 1) / n_splits of it
    assert adapter.one_fit_s({"trial_s": 2.0, "sample_size": 900}, 1000, "holdout", 5) == pytest.approx(2000 / 900)
    assert adapter.one_fit_s({"trial_s": 5.0, "sample_size": 1000}, 1000, "cv", 5) == pytest.approx(1000 / 800)
    assert adapter.one_fit_s({"trial_s": 1.0, "sample_size": 250}, 1000, "holdout", 5) == pytest.approx(4.0)


def test_the_deadline_keeps_what_the_winners_fits_need_after_the_trials() -> None:
    automl = SimpleNamespace(_state=SimpleNamespace(time_budget=20.0))
    deadline = adapter._Deadline(automl, 20.0, Budget.hold_s, rows=1000, eval_method="holdout", n_splits=5)
    deadline.update([{"loss": None, "trial_s": 3.0, "sample_size": 1000}])  # no finished trial yet
    assert automl._state.time_budget == 20.0
    trials = [{"loss": 0.5, "trial_s": 4.0, "sample_size": 1000}, {"loss": 0.4, "trial_s": 2.0, "sample_size": 1000}]
    deadline.update(trials)  # the best trial's fit counts, not the slowest
    assert automl._state.time_budget == deadline.flaml_s == pytest.approx(20.0 - Budget.hold_s(2.0))
    deadline.update([*trials, {"loss": 0.3, "trial_s": 0.1, "sample_size": 1000}])  # a faster winner gives time back
    assert automl._state.time_budget == pytest.approx(20.0 - Budget.hold_s(0.1))
    deadline.update([*trials, {"loss": 0.1, "trial_s": 100.0, "sample_size": 1000}])
    assert automl._state.time_budget == MIN_SEARCH_S
    automl._state.time_budget = -1  # FLAML has started its final retrain: left alone
    deadline.update([*trials, {"loss": 0.05, "trial_s": 0.01, "sample_size": 1000}])
    assert automl._state.time_budget == -1


def test_a_running_flaml_search_keeps_the_shrunk_deadline(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=400) > 0).astype(int).to_numpy()
    result = adapter.search(X, y, task="binary", estimators=["lgbm"], metric="auto", max_iter=None,
                            time_budget_s=120.0, eval_method="holdout", n_splits=3, ensemble=False, seed=0, n_jobs=1,
                            workdir=tmp_path, hold_s=lambda _fit: 119.0)
    assert result.flaml_s == MIN_SEARCH_S and result.settings["time_budget"] == 120.0
    # FLAML read the budget the watcher lowered to 1 s: it stopped after about that, not after 120 s
    # (a bound 60 times the expected time: it checks that the deadline took, not how fast anything is)
    assert result.wall_s < 60.0 and len(result.trials) >= 1


def test_process_age_is_read_on_linux() -> None:
    age = process_age_s()
    assert age is None or 0.0 < age < time.monotonic() + 1


@pytest.mark.parametrize(("max_iter", "budget", "want"), [(None, 30.0, None), (None, None, 20), (7, 30.0, 7), (7, None, 7)],
                         ids=["budget-only-limit", "trial-default", "explicit-with-budget", "explicit"])
def test_a_time_budget_has_no_silent_trial_cap(tmp_path: Path, max_iter: int | None, budget: float | None,
                                               want: int | None) -> None:
    settings = adapter._fit_settings(
        task="binary", estimators=["lgbm"], metric="auto", max_iter=max_iter, time_budget_s=budget, eval_method="cv",
        n_splits=3, ensemble=False, seed=0, n_jobs=1, log_path=tmp_path / "log", hp=None, starting_points=None,
        learner_selector="auto")
    assert settings["max_iter"] == want


# -- the ensemble never raises at the end of a search ------------------------------------------------------------
def test_an_ensemble_that_fails_falls_back_to_the_best_single_model(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
    y = 1000.0 * X["a"].to_numpy() + rng.normal(size=200)

    def broken(*args: object, **kwargs: object) -> None:
        raise BundleError("the ensemble predicts differently")

    monkeypatch.setattr("tesla.automl.ensemble.fit_blend", broken)
    result = adapter.search(X, y, task="regression", estimators=["lgbm", "rf"], metric="auto", max_iter=4,
                            time_budget_s=None, eval_method="holdout", n_splits=3, ensemble=True, seed=0, n_jobs=1,
                            workdir=tmp_path)
    assert result.ensemble == [] and "the best single model is kept" in result.ensemble_note
    assert result.model.predict(X).shape == (200,)


# -- refit on every row after evaluation ---------------------------------------------------------------------------
def test_the_registered_model_is_refit_on_every_row_and_says_what_its_metrics_mean(bc_project: Path) -> None:
    result = api.train("refit", max_iter=4, project_dir=bc_project)
    manifest = read_manifest(api.open_store(bc_project).artifacts.path(result.model.bundle_sha))
    refit = manifest["refit"]
    assert refit["done"] is True and manifest["training_rows"] == refit["rows"]
    assert "held-out rows by this configuration" in refit["metrics"] and f"all {refit['rows']} rows" in refit["metrics"]
    train_rows = read_manifest(api.open_store(bc_project).artifacts.path(
        result.run.steps["search"]["outputs"]["model"]))["training_rows"]
    assert refit["rows"] > train_rows  # the held-out rows joined the training rows
    # evaluate scored the model fitted on the training rows (the plan's "model"), not the refit one
    plan = result.run.plan
    assert plan.step("evaluate").inputs["model"].output == "model" and plan.step("register").inputs["model"].output == "final"


def test_refit_off_registers_the_searched_model(bc_project: Path) -> None:
    result = api.train("norefit", max_iter=2, overrides=["search.refit=false"], project_dir=bc_project)
    manifest = read_manifest(api.open_store(bc_project).artifacts.path(result.model.bundle_sha))
    assert "refit" not in manifest and "final" not in result.run.plan.step("search").outputs
    assert "test" not in result.run.plan.step("search").inputs


def test_a_refit_the_budget_has_no_room_for_is_skipped_and_said(bc_project: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Budget, "allows", lambda self, seconds: False)  # no time left after the search
    result = api.train("tight", overrides=["search.time_budget_s=2"], project_dir=bc_project)
    bundle = load_bundle(api.open_store(bc_project).artifacts.path(result.model.bundle_sha))
    refit = bundle.manifest["refit"]
    assert refit["done"] is False and refit["reason"].startswith("search.time_budget_s: a refit on ")
    assert refit["rows"] == bundle.manifest["training_rows"] and "this model is that one" in refit["metrics"]


def test_the_reports_importance_fits_the_budget_or_is_skipped_and_said(bc_project: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Budget, "left_s", lambda self: 0.0)  # the budget is spent when the evaluate step starts
    result = api.train("spent", overrides=["search.time_budget_s=2"], project_dir=bc_project)
    warnings = result.run.result("evaluate")["warnings"]
    assert [w for w in warnings if w.startswith("permutation importance skipped: one round of 30 columns")]
    assert result.warnings == warnings  # what `tesla train` prints
    assert result.run.plan.step("evaluate").params["time_budget_s"] == 2
    unbudgeted = api.compile_plan("spent", max_iter=2, project_dir=bc_project)
    assert "time_budget_s" not in unbudgeted.step("evaluate").params  # other plans keep their fingerprints


@pytest.mark.e2e
def test_tesla_train_prints_what_the_evaluation_warns(bc_project: Path) -> None:
    # a 1 s budget is spent before the evaluate step: its importance and SHAP values are skipped, and said
    out = run_tesla("train", "-m", "warned", "-p", "2", "search.time_budget_s=1", "search.estimators=[lgbm]",
                    cwd=bc_project)
    lines = out.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("warning: permutation importance skipped: one round of 30 columns")]
    assert ("warning: SHAP values skipped: search.time_budget_s has no time left for them; `tesla evaluate` "
            "computes them") in lines, out.stdout
    assert lines[-1].startswith("run ")  # the run line stays last
