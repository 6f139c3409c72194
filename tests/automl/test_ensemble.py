"""The greedy weighted ensemble (Caruana): weights from out-of-fold predictions, kept only when it pays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tesla.automl.ensemble import caruana_weights, fit_blend


def test_complementary_predictors_share_the_weight_and_beat_each_alone() -> None:
    y = np.array([0.0, 0.0, 10.0, 10.0])
    low, high = np.array([0.0, 0.0, 0.0, 0.0]), np.array([10.0, 10.0, 10.0, 10.0])
    weights, loss = caruana_weights("regression", y, [low, high])
    assert weights == pytest.approx([0.52, 0.48]) or weights == pytest.approx([0.48, 0.52])
    assert loss < 26.0  # each alone: mse 50; an even blend: 25 (25 rounds: 13 to 12)


def test_a_dominant_predictor_takes_every_round() -> None:
    y = np.array([0, 1, 1, 0])
    good = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.8, 0.2]])
    bad = np.array([[0.5, 0.5]] * 4)
    weights, loss = caruana_weights("binary", y, [good, bad])
    assert weights == [1.0, 0.0] and loss == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.8, 0.8])))


def test_a_blend_that_does_not_beat_the_best_member_is_dropped_and_says_why() -> None:
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120)})
    y = 3 * X["a"].to_numpy()  # exactly linear: the dummy can only hurt
    blend = fit_blend("regression", {"lin": LinearRegression(), "dummy": DummyRegressor()}, {"lin": 0.0, "dummy": 1.0},
                      X, y, n_splits=3, seed=0)
    assert blend.model is None and "does not beat the best single model" in blend.note


def test_a_kept_blend_is_a_fitted_soft_voting_classifier() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(400, 2)), columns=list("ab"))
    # a linear part (the logistic model's) plus a step in |b| (the tree's): neither alone has both
    y = ((X["a"] + 2.0 * (np.abs(X["b"]) > 1) + 0.5 * rng.normal(size=400)) > 0.5).astype(int).to_numpy()
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=10, random_state=0)
    blend = fit_blend("binary", {"lr": LogisticRegression(), "tree": tree}, {"lr": 0.3, "tree": 0.4}, X, y,
                      n_splits=3, seed=0)
    assert type(blend.model).__name__ == "VotingClassifier" and blend.model.voting == "soft"
    assert blend.members == ["lr", "tree"] and sum(blend.weights) == pytest.approx(1.0) and min(blend.weights) > 0
    assert blend.loss < blend.single_loss * (1 - 1e-3)
    assert blend.model.predict_proba(X).shape == (400, 2)
