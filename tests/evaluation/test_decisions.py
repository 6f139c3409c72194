"""The binary decision threshold, collapsed predictions, slices and the paired bootstrap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tesla.errors import ConfigError, DataError
from tesla.evaluation import decisions
from tesla.evaluation.evaluate import evaluate_bundle
from tesla.evaluation.metrics import higher_is_better

from .conftest import imbalanced_frame, make_bundle


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from sklearn.linear_model import LogisticRegression

    train, test = imbalanced_frame(seed=0), imbalanced_frame(seed=1)
    return make_bundle(tmp_path_factory.mktemp("imb"), train, "churned", "binary", LogisticRegression()), test


def test_argmax_collapses_to_the_majority_class_and_is_flagged(imbalanced: tuple[Any, Any]) -> None:
    bundle, test = imbalanced
    result = evaluate_bundle(bundle, test, importance=False)
    assert result.decision is None
    assert result.metrics["recall"] < 0.05
    assert any("collapse to one class: '0'" in w for w in result.warnings), result.warnings
    assert "predictions collapse to one class" in result.report_html


@pytest.mark.parametrize("rule", [{"objective": "f1"}, {"objective": "cost", "cost_fp": 1.0, "cost_fn": 10.0},
                                  {"objective": "recall", "target_recall": 0.6}], ids=lambda r: r["objective"])
def test_a_chosen_threshold_changes_decisions_and_serving_uses_it(rule: dict[str, Any], imbalanced: tuple[Any, Any],
                                                                  tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from starlette.testclient import TestClient

    from tesla.serving.app import ServingSettings, create_app

    bundle, test = imbalanced
    result = evaluate_bundle(bundle, test, threshold=rule, importance=False)
    threshold = result.decision["threshold"]
    assert 0.0 < threshold < 0.5
    assert result.metrics["recall"] > 0.3 and not result.warnings
    assert result.decision["label_metrics"] == "cross-fitted (2 folds)"
    # the threshold travels in the manifest (as the register step writes it); serving decides with it
    tuned = make_bundle(tmp_path, imbalanced_frame(seed=0), "churned", "binary", LogisticRegression(),
                        extra={"decision": result.decision})
    rows = test.drop(columns=["churned"])
    p1 = tuned.predict_proba(rows)[:, 1]
    flipped = (p1 >= threshold) & (p1 < 0.5)
    assert flipped.sum() > 10
    assert (tuned.predict(rows) == (p1 >= threshold).astype(int)).all()
    assert (bundle.predict(rows)[flipped] == 0).all()  # the untuned bundle still says 0 there
    client = TestClient(create_app(tuned, ServingSettings(model_ref="imb@1")))
    sample = rows[flipped].head(5).to_dict(orient="records")
    answer = client.post("/predict", json=sample)
    assert answer.status_code == 200, answer.text
    assert [r["prediction"] for r in answer.json()["predictions"]] == [1] * len(sample)


def test_each_objective_is_optimal_on_its_own_terms() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.2).astype(int)
    p1 = np.clip(0.2 + 0.3 * y + rng.normal(0, 0.15, 500), 0, 1)
    from sklearn.metrics import f1_score, recall_score

    grid = np.unique(p1)
    best_f1 = max(f1_score(y, p1 >= t) for t in grid)
    assert f1_score(y, p1 >= decisions.choose_threshold(y, p1, {"objective": "f1"})) == pytest.approx(best_f1)
    t = decisions.choose_threshold(y, p1, {"objective": "recall", "target_recall": 0.9})
    assert recall_score(y, p1 >= t) >= 0.9
    assert all(recall_score(y, p1 >= u) < 0.9 for u in grid[grid > t])
    cost = lambda u: ((p1 >= u) & (y == 0)).sum() * 1 + ((p1 < u) & (y == 1)).sum() * 5  # noqa: E731
    t = decisions.choose_threshold(y, p1, {"objective": "cost", "cost_fp": 1, "cost_fn": 5})
    assert cost(t) == min(cost(u) for u in grid)


def test_an_unknown_objective_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"evaluation.threshold.objective is 'auc'; allowed: none, f1, cost, recall"):
        decisions.choose_threshold(np.array([0, 1]), np.array([0.1, 0.9]), {"objective": "auc"})


def test_a_much_worse_slice_is_a_warning(task_bundles: dict[str, Any]) -> None:
    bundle, test = task_bundles["regression"]
    test = test.copy()
    test["site"] = np.where(np.arange(len(test)) % 3 == 0, "noisy", "clean")
    test.loc[test["site"] == "noisy", "target"] += np.random.default_rng(0).normal(0, 150, (test["site"] == "noisy").sum())
    result = evaluate_bundle(bundle, test, slices=["site", "bmi"], importance=False)
    by_value = {(r["column"], r["value"]): r for r in result.slices}
    assert by_value[("site", "noisy")]["rmse"] > by_value[("site", "clean")]["rmse"]
    assert sum(1 for r in result.slices if r["column"] == "bmi") == 4  # numeric: quartiles
    assert any(w.startswith("slice site=noisy") for w in result.warnings)
    with pytest.raises(DataError, match="evaluation.slices names column 'region'"):
        evaluate_bundle(bundle, test, slices=["region"], importance=False)


def test_the_paired_bootstrap_interval_contains_the_point_estimate(task_bundles: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    from sklearn.dummy import DummyClassifier

    from tesla.evaluation.compare import compare_bundles

    bundle, test = task_bundles["binary"]
    rows, same = compare_bundles(bundle, bundle, test, metrics=["roc_auc", "accuracy"], samples=300)
    assert rows == len(test)
    for d in same:  # a model against itself: every resample's delta is 0
        assert d.delta == d.low == d.high == 0 and d.verdict == "no clear difference"
    weak = make_bundle(tmp_path, test, "target", "binary", DummyClassifier(strategy="prior"))
    _, deltas = compare_bundles(bundle, weak, test, metrics=["roc_auc", "accuracy"], samples=300)
    for d in deltas:
        assert d.low <= d.delta <= d.high, d
        assert d.delta == pytest.approx(d.b - d.a)
    assert deltas[0].delta < 0 and deltas[0].verdict == "a better"
