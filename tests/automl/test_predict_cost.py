"""Serving cost in model choice: each estimator's predict cost is measured and a bound excludes the slow ones.

The measured costs are monkeypatched where a test depends on which estimator wins, so no
outcome depends on machine load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tesla import api
from tesla.automl import adapter
from tesla.automl.adapter import choose_within_cost, predict_ms_per_row
from tesla.errors import ConfigError, TeslaError

ESTIMATORS = "search.estimators=[lgbm,rf,lrl1]"


@pytest.fixture(scope="module")
def bc_project(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    root = api.init_project(tmp_path_factory.mktemp("cost") / "proj")
    api.load(datasets_dir / "bc_train.csv", "bc", target="target", project_dir=root)
    return root


def _fixed_costs(monkeypatch: pytest.MonkeyPatch, costs: dict[str, float]) -> None:
    """The cost of each estimator's model, by the class it wraps: what a slow or fast learner would measure."""
    def measured(model: Any, _X: Any, **_kw: Any) -> float:
        name = type(getattr(model, "estimator", model)).__name__
        return next(ms for key, ms in costs.items() if key in name)

    monkeypatch.setattr(adapter, "predict_ms_per_row", measured)


def test_predict_cost_is_a_positive_per_row_median() -> None:
    class Model:
        def predict(self, X: Any) -> Any:
            return np.zeros(len(X))

    X = pd.DataFrame({"a": np.arange(1000.0)})
    ms = predict_ms_per_row(Model(), X)
    assert 0 < ms < 1000


CHOICES = [
    ("no-bound", {"a": 0.1, "b": 0.2}, {"a": 5.0, "b": 1.0}, None, None),
    ("best-fits", {"a": 0.1, "b": 0.2}, {"a": 1.0, "b": 5.0}, 2.0, "a"),
    ("next-best-fits", {"a": 0.1, "b": 0.2, "c": 0.3}, {"a": 5.0, "b": 1.0, "c": 0.5}, 2.0, "b"),
    ("bound-inclusive", {"a": 0.1, "b": 0.2}, {"a": 2.0, "b": 1.0}, 2.0, "a"),
    ("loss-tie-by-name", {"b": 0.1, "a": 0.1}, {"a": 1.0, "b": 1.0}, 2.0, "a"),
]


@pytest.mark.parametrize(("losses", "costs", "bound", "chosen"), [c[1:] for c in CHOICES], ids=[c[0] for c in CHOICES])
def test_the_lowest_loss_estimator_within_the_bound_wins(losses: dict, costs: dict, bound: float | None,
                                                         chosen: str | None) -> None:
    assert choose_within_cost(losses, costs, bound) == chosen


def test_nothing_within_the_bound_names_the_key_and_the_cheapest_cost() -> None:
    with pytest.raises(ConfigError, match=r"search\.max_predict_ms_per_row=0\.5: .*the cheapest, b, takes 0\.8 ms") as exc:
        choose_within_cost({"a": 0.1, "b": 0.2}, {"a": 3.0, "b": 0.8}, 0.5)
    assert exc.value.key == "search.max_predict_ms_per_row"


def test_the_leaderboard_records_each_estimators_predict_cost(bc_project: Path) -> None:
    result = api.train("m", max_iter=6, overrides=[ESTIMATORS], project_dir=bc_project)
    costs = result.search["predict_ms_per_row"]
    assert set(costs) == set(result.leaderboard)
    assert all(ms > 0 for ms in costs.values())
    steps = {s.step_id: s for s in api.open_store(bc_project).run_steps(result.run.run_id)}
    assert steps["search"].result["predict_ms_per_row"] == costs  # what `tesla runs show` reads back


def test_a_bound_excludes_the_slow_learner(bc_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    free = api.train("free", max_iter=6, overrides=[ESTIMATORS], project_dir=bc_project)
    ranked = sorted(free.leaderboard, key=lambda e: (free.leaderboard[e], e))
    slow = {"lgbm": "LGBM", "rf": "RandomForest", "lrl1": "LogisticRegression"}[ranked[0]]
    _fixed_costs(monkeypatch, {**{"LGBM": 0.01, "RandomForest": 0.01, "LogisticRegression": 0.01}, slow: 10.0})
    bounded = api.train("bounded", max_iter=6, overrides=[ESTIMATORS, "search.max_predict_ms_per_row=1"],
                        project_dir=bc_project)
    assert bounded.search["best_estimator"] == ranked[1]
    assert bounded.search["predict_ms_per_row"][ranked[0]] == 10.0
    assert bounded.model.metrics  # the refitted runner-up was evaluated and registered


def test_a_bound_nothing_meets_is_a_config_error(bc_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_costs(monkeypatch, {"LGBM": 3.0, "RandomForest": 2.5, "LogisticRegression": 4.0})
    # 0.75, not 1: the bound is in the search step's fingerprint, so this run cannot reuse the one above
    with pytest.raises(TeslaError, match=r"search\.max_predict_ms_per_row=0\.75: .*the cheapest, rf, takes 2\.5 ms"):
        api.train("none", max_iter=6, overrides=[ESTIMATORS, "search.max_predict_ms_per_row=0.75"],
                  project_dir=bc_project)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_the_bound_must_be_positive(project: Path, value: str) -> None:
    from tesla.config import compose

    with pytest.raises(ConfigError, match="search.max_predict_ms_per_row"):
        compose([f"search.max_predict_ms_per_row={value}"], project_dir=project)


def test_the_bound_is_in_the_plan_only_when_set(bc_project: Path) -> None:
    unbounded = api.compile_plan("m", max_iter=5, project_dir=bc_project).step("search")
    bounded = api.compile_plan("m", max_iter=5, overrides=["search.max_predict_ms_per_row=0.25"],
                               project_dir=bc_project).step("search")
    assert "max_predict_ms_per_row" not in unbounded.params
    assert bounded.params["max_predict_ms_per_row"] == 0.25
    assert bounded.fingerprint != unbounded.fingerprint
