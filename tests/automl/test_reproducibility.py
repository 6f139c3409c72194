"""Reproducible search: the same seed and trial count give the same search; replay checks a registered model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tesla import api
from tesla.automl.adapter import default_estimators
from tesla.errors import ReplayError
from tesla.store import metadata
from tests.conftest import run_tesla


@pytest.fixture(scope="module")
def bc_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("repro") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    return root


def _search_record(root: Path, result: api.TrainResult) -> tuple:
    trials = [(t.estimator, t.config, t.loss) for t in api.open_store(root).trials(result.run.run_id)]
    s = result.search
    return s["best_estimator"], s["best_config"], s["best_loss"], trials


def test_same_seed_and_trial_count_give_the_identical_search(bc_project: Path) -> None:
    first = api.train("repro", max_iter=10, project_dir=bc_project)
    second = api.train("repro", max_iter=10, project_dir=bc_project, force=True)  # every step runs again
    assert second.run.steps["search"]["status"] == "succeeded"
    assert _search_record(bc_project, second) == _search_record(bc_project, first)
    learners = set(default_estimators("scikit-learn", "binary"))
    assert {t[0] for t in _search_record(bc_project, first)[3]} == learners and len(learners) == 6  # every one took part
    assert second.model.metrics == first.model.metrics


def test_another_seed_gives_another_search(bc_project: Path) -> None:
    base = api.train("seeded", max_iter=10, project_dir=bc_project)
    other = api.train("seeded", max_iter=10, project_dir=bc_project, overrides=["search.seed=7"])
    assert _search_record(bc_project, other)[3] != _search_record(bc_project, base)[3]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_neural_learners_search_reproducibly(project: Path, datasets_dir: Path, framework: str) -> None:
    api.load(datasets_dir / "iris.csv", "iris", target="target", project_dir=project)
    first = api.train("nn", framework=framework, max_iter=2, project_dir=project)
    second = api.train("nn", framework=framework, max_iter=2, project_dir=project, force=True)
    assert _search_record(project, second) == _search_record(project, first)
    assert second.model.metrics == first.model.metrics


@pytest.mark.slow
@pytest.mark.e2e
def test_same_seed_and_trial_count_give_the_identical_search_through_the_cli(tmp_path: Path,
                                                                             datasets_dir: Path) -> None:
    run_tesla("init", "p", cwd=tmp_path)
    root = tmp_path / "p"
    run_tesla("load", "-d", str(datasets_dir / "bc_train.csv"), "-o", "bc", "--target", "target", cwd=root)
    run_tesla("train", "-m", "cli", "-f", "scikit-learn", "-p", "6", cwd=root)
    run_tesla("train", "-m", "cli", "-f", "scikit-learn", "-p", "6", "--force", cwd=root)
    store = api.open_store(root)
    # --force searched again; the same model (its skops bytes differ, its content does not) is not a new version
    assert [v.version for v in store.model_versions("cli")] == [1]
    runs = [r for r in store.runs() if r.plan_name.startswith("train/")]
    assert len(runs) == 2 and all(r.status == "succeeded" for r in runs)
    trials = [[(t.estimator, t.config, t.loss) for t in store.trials(r.id)] for r in runs]
    assert trials[0] == trials[1] and len(trials[0]) == 6


# -- replay -----------------------------------------------------------------------------------------------------
def test_replay_refits_the_winner_and_reproduces_the_recorded_metrics(bc_project: Path) -> None:
    mv = api.train("replayed", max_iter=6, project_dir=bc_project).model
    result = api.replay(mv.ref, project_dir=bc_project)
    assert result.replayed == result.recorded == mv.metrics
    assert result.run.plan.name == "replay/replayed" and "register" not in result.run.steps
    search = result.run.plan.step("search").params
    assert search["max_iter"] == 1 and search["estimators"] == [mv.config["best_estimator"]]
    assert search["starting_points"] == {mv.config["best_estimator"]: mv.config["best_config"]}
    recorded = {s.step_id: s for s in api.open_store(bc_project).run_steps(mv.run_id)}
    assert result.run.steps["split"]["outputs"] == recorded["split"].outputs  # the recorded rows, recomputed


@pytest.mark.slow
def test_replay_rebuilds_an_ensemble(bc_project: Path) -> None:
    mv = api.train("stacked", max_iter=6, project_dir=bc_project, overrides=[
        "search.ensemble=true", "search.estimators=[lgbm,rf,extra_tree]", "search.eval_method=holdout"]).model
    assert len(mv.config["ensemble"]) >= 2
    result = api.replay(mv.ref, project_dir=bc_project)
    assert result.replayed == result.recorded
    assert sorted(result.run.plan.step("search").params["estimators"]) == sorted(mv.config["ensemble"])


def test_replay_that_does_not_reproduce_is_an_error_naming_both_numbers(bc_project: Path) -> None:
    mv = api.train("tampered", max_iter=4, project_dir=bc_project).model
    store = api.open_store(bc_project)
    forged = {**mv.metrics, "roc_auc": 0.5}
    with store.engine.begin() as c:  # as if the recorded score had been edited after training
        c.execute(sa.update(metadata.models).where(metadata.models.c.name == "tampered")
                  .values(metrics_json=json.dumps(forged)))
    with pytest.raises(ReplayError) as err:
        api.replay("tampered@1", project_dir=bc_project)
    message = str(err.value)
    assert message.startswith(f"tampered@1 does not replay: roc_auc recorded 0.5, replayed {mv.metrics['roc_auc']:.10g} "
                              "(relative tolerance 1e-09; replay run ")
    assert "\n" not in message and err.value.run_id is not None


def test_a_stack_without_recorded_member_configs_cannot_be_replayed(bc_project: Path) -> None:
    from tesla.automl.replay import replay_plan
    from tesla.errors import PlanError

    recorded = api.compile_plan("old", max_iter=4, project_dir=bc_project)
    search = {"best_estimator": "lgbm", "best_config": {}, "ensemble": ["lgbm", "rf"],
              "best_config_per_estimator": {"lgbm": {"n_estimators": 4}}}
    with pytest.raises(PlanError) as err:
        replay_plan(recorded, search, model_ref="old@1", run_id="r1")
    assert str(err.value) == ("cannot replay old@1: its run did not record the stacked learners' configs (rf); "
                              "retrain it with this Tesla version first")


def test_scores_compare_tightly_and_nan_matches_nan() -> None:
    from tesla.automl.replay import compare_scores

    nan = float("nan")
    assert compare_scores({"roc_auc": 0.9, "f1": nan}, {"roc_auc": 0.9 * (1 + 1e-12), "f1": nan}) == []
    assert compare_scores({"roc_auc": 0.9}, {"roc_auc": 0.9 * (1 + 1e-6)}) == [("roc_auc", 0.9, 0.9 * (1 + 1e-6))]
    assert compare_scores({"r2": 0.5}, {})[0][0] == "r2"  # a metric the replay did not produce is a mismatch
