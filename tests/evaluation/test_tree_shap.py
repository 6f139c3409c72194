"""TreeSHAP values of LightGBM and XGBoost bundles: they add up to the raw margin, rank the feature the label
depends on first (summed over its one-hot columns), and are drawn in the report only for those two learners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tesla.evaluation import plots, tree_shap
from tesla.evaluation.evaluate import evaluate_bundle

from .conftest import make_bundle, sklearn_frame
from .test_plots import assert_self_contained

SHAP = "<h2>SHAP values (TreeSHAP)</h2>"


def _learner(library: str, task: str) -> Any:
    """A small, fast model of ``library`` for ``task``."""
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    if library == "lightgbm":
        cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        return cls(n_estimators=20, num_leaves=8, verbose=-1, random_state=0)
    cls = xgboost.XGBRegressor if task == "regression" else xgboost.XGBClassifier
    return cls(n_estimators=20, max_depth=3, random_state=0)


def _raw_margin(estimator: Any, X: pd.DataFrame) -> np.ndarray:
    """The learner's own raw margin of ``X`` (rows, outputs): log-odds, one logit per class, or the target."""
    if type(estimator).__module__.startswith("lightgbm"):
        margin = estimator.predict(X, raw_score=True)
    else:
        margin = estimator.predict(X, output_margin=True)
    return np.asarray(margin, dtype="float64").reshape(len(X), -1)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_contributions_and_expected_value_sum_to_the_raw_margin(tmp_path: Path, library: str, task: str) -> None:
    frame = sklearn_frame(task)  # breast cancer, wine, diabetes
    bundle = make_bundle(tmp_path / "b", frame, "target", task, _learner(library, task))
    X = bundle.features(frame.drop(columns=["target"]).head(50))
    contributions = tree_shap.tree_contributions(bundle.estimator, X)
    assert contributions is not None
    outputs = 3 if task == "multiclass" else 1  # wine has three cultivars
    assert contributions.shape == (50, outputs, X.shape[1] + 1)
    np.testing.assert_allclose(contributions.sum(axis=2), _raw_margin(bundle.estimator, X), rtol=1e-5, atol=1e-5)
    values = tree_shap.mean_abs_shap(contributions, bundle.preprocessor.column_sources)
    assert set(values) == set(bundle.preprocessor.input_columns)
    assert list(values.values()) == sorted(values.values(), reverse=True)


def _plan_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """The label follows the categorical 'plan' (one-hot: three model columns); 'usage' and 'age' are noise."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], size=n)
    logit = np.select([plan == "basic", plan == "premium"], [2.5, -2.5], 0.0)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"usage": rng.normal(size=n), "plan": plan, "age": rng.integers(18, 80, size=n),
                         "churned": np.where(churned, "yes", "no")})


def _mixed_bundle(directory: Path, frame: pd.DataFrame, estimator: Any) -> Any:
    from tesla.models import load_bundle, save_bundle
    from tesla.models.preprocess import Preprocessor

    X, y = frame.drop(columns=["churned"]), frame["churned"]
    kinds = {"usage": "numeric", "plan": "categorical", "age": "numeric"}
    prep = Preprocessor.fit(X, {c: {"type": kinds[c]} for c in X.columns})
    classes = sorted(y.unique().tolist())
    estimator.fit(prep.transform(X), y.map({c: i for i, c in enumerate(classes)}))
    saved = save_bundle(directory, estimator=estimator, framework="scikit-learn", preprocessor=prep, task="binary",
                        classes=classes, estimator_name=type(estimator).__name__, target="churned",
                        extra={"baseline": {"class_prior": [float((y == c).mean()) for c in classes]}})
    return load_bundle(saved)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_the_feature_the_label_follows_ranks_first_over_its_one_hot_columns(tmp_path: Path, library: str) -> None:
    frame = _plan_table()
    bundle = _mixed_bundle(tmp_path / "b", frame, _learner(library, "binary"))
    assert bundle.preprocessor.column_sources.count("plan") == 3  # one model column per plan
    result = evaluate_bundle(bundle, frame, title="Evaluation of plans@1")
    page = result.report_html
    assert SHAP in page
    assert_self_contained(page)
    X = bundle.features(frame.drop(columns=["churned"]))
    values = tree_shap.mean_abs_shap(tree_shap.tree_contributions(bundle.estimator, X),
                                     bundle.preprocessor.column_sources)
    assert list(values) == ["plan", *[c for c in values if c != "plan"]]  # raw names, the signal first
    assert values["plan"] > 3 * max(values["usage"], values["age"])


def test_a_time_limit_cuts_the_shap_rows_to_what_a_timed_probe_says_fits(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tesla.evaluation import evaluate as ev

    frame = _plan_table()
    bundle = _mixed_bundle(tmp_path / "b", frame, _learner("lightgbm", "binary"))
    sample = frame.drop(columns=["churned"])
    whole, note = ev._shap(bundle, sample)
    assert note == "" and list(whole)[0] == "plan"
    assert ev._shap(bundle, sample, seconds=0.0) == ({}, "SHAP values skipped: search.time_budget_s has no time left "
                                                         "for them; `tesla evaluate` computes them")
    rows: list[int] = []
    real = tree_shap.tree_contributions
    monkeypatch.setattr(tree_shap, "tree_contributions", lambda est, X: rows.append(len(X)) or real(est, X))

    def clock(probe_s: float) -> None:  # the 50-row probe takes probe_s on the clock
        ticks = [0.0, probe_s]
        monkeypatch.setattr(ev.time, "perf_counter", lambda: ticks.pop(0) if len(ticks) > 1 else ticks[0])

    clock(1.0)  # 20 ms a row: 5 s leave room for 200 more rows
    cut, note = ev._shap(bundle, sample, seconds=5.0)
    assert rows == [50, 200] and list(cut)[0] == "plan"
    assert note == ("SHAP values on 250 of 600 sampled rows: that is what search.time_budget_s left room for; "
                    "`tesla evaluate` computes them on all")
    rows.clear()
    clock(0.001)
    full, note = ev._shap(bundle, sample, seconds=60.0)
    assert rows == [50, 550] and note == ""  # every row, in another order: the same means
    assert full == pytest.approx(whole, rel=1e-9)


def test_other_estimators_get_no_shap_section(task_bundles: dict[str, Any]) -> None:
    bundle, test = task_bundles["binary"]  # a LogisticRegression
    assert tree_shap.tree_contributions(bundle.estimator, bundle.features(test.drop(columns=["target"]))) is None
    assert SHAP not in evaluate_bundle(bundle, test).report_html


def test_the_shap_plot_draws_one_bar_per_column() -> None:
    fig = plots.shap_importance_plot({"plan": 1.2, "usage": 0.1, "age": 0.05}, unit="log-odds of the positive class")
    assert len(fig.axes[0].patches) == 3
    svg = plots.to_svg(fig)
    assert svg.startswith("<svg") and "mean |SHAP value|" in svg and "http" not in svg


def test_permutation_importance_on_encoded_groups_equals_shuffling_the_raw_columns(tmp_path: Path) -> None:
    """The report's importance shuffles each raw column's encoded columns together; on a mixed table (one-hot,
    ordinal, boolean, date parts, text counts, missing values) that gives the very numbers of shuffling the raw
    column and encoding again."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.metrics import log_loss

    from tesla.evaluation.evaluate import _importance
    from tesla.models import load_bundle, save_bundle
    from tesla.models.preprocess import Preprocessor
    from tesla.testing.datasets import churn

    frame = churn(400)
    frame.loc[::7, "monthly_charges"] = np.nan
    frame["note"] = np.where(frame["support_calls"] > 2, "wants a discount now", "ok")
    kinds = {"customer_id": "categorical", "plan": "categorical", "region": "categorical", "tenure_months": "numeric",
             "monthly_charges": "numeric", "support_calls": "numeric", "autopay": "boolean",
             "signup_date": "datetime", "note": "text"}
    X, y = frame[list(kinds)], (frame["churn"].astype(str) == "yes").astype(int).to_numpy()
    prep = Preprocessor.fit(X, {c: {"type": k} for c, k in kinds.items()})
    assert {f["encoding"] for f in prep.features if f["type"] == "categorical"} == {"onehot", "ordinal"}
    model = ExtraTreesClassifier(n_estimators=30, random_state=0).fit(prep.transform(X), y)
    bundle = load_bundle(save_bundle(tmp_path / "b", estimator=model, framework="scikit-learn", preprocessor=prep,
                                     task="binary", classes=[0, 1], estimator_name="extra_tree", target="churn",
                                     extra={"baseline": {"class_prior": [float((y == c).mean()) for c in (0, 1)]}}))

    def raw_score(rows: pd.DataFrame) -> float:
        return -float(log_loss(y, bundle.predict_proba_features(bundle.features(rows, unseen="unknown")),
                               labels=[0, 1]))

    expected = plots.permutation_importance(raw_score, X)
    assert _importance(bundle, X, y, "binary") == (expected, "")
    assert len(expected) == len(kinds) and max(m for m, _ in expected.values()) > 0
    # a training run's budget: no time left skips it and says why; plenty leaves it whole
    ranked, skipped = _importance(bundle, X, y, "binary", seconds=0.0)
    assert ranked == {} and skipped.startswith("permutation importance skipped: one round of 9 columns (~")
    assert "search.time_budget_s" in skipped
    assert _importance(bundle, X, y, "binary", seconds=3600.0) == (expected, "")
