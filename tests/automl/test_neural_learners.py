"""The PyTorch and TensorFlow tabular learners: search space, fitting, determinism, FLAML
registration, mixed (-f auto) searches and the missing-extra error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tesla.automl import _neural
from tesla.automl._neural import MLPParams
from tesla.automl.adapter import CUSTOM_LEARNERS, default_estimators, estimator_framework

FRAMEWORKS = ["pytorch", "tensorflow"]
SMALL = MLPParams(width=16, depth=1, epochs=15, batch_size=16, learning_rate=1e-2)


def _fit(framework: str, X: Any, y: Any, *, classification: bool, params: MLPParams = SMALL, **kwargs: Any) -> Any:
    if framework == "pytorch":
        from tesla.automl.torch_learner import fit_torch_mlp

        return fit_torch_mlp(X, y, classification=classification, params=params, **kwargs)
    from tesla.automl.keras_learner import fit_keras_mlp

    return fit_keras_mlp(X, y, classification=classification, params=params, **kwargs)


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X.astype("float64"), y.to_numpy()


def _linear(n: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(100, 30, size=n)})
    return X, 500 + 40 * X["a"].to_numpy() - 2 * X["b"].to_numpy() + rng.normal(0, 1, size=n)


# -- the search space ------------------------------------------------------------------------------------------
def test_search_space_covers_the_issue_hyperparameters_within_cheap_bounds() -> None:
    space = _neural.search_space((500, 10))
    assert set(space) == {"width", "depth", "dropout", "learning_rate", "batch_size", "epochs"}
    for name, spec in space.items():
        domain = spec["domain"]
        for key in ("init_value", "low_cost_init_value"):
            if key in spec:
                assert domain.lower <= spec[key] <= domain.upper, (name, key)
    assert space["epochs"]["domain"].upper <= 51 and space["width"]["domain"].upper <= 257
    assert space["depth"]["domain"].lower == 1 and space["depth"]["domain"].upper == 4  # upper exclusive


def test_batch_size_never_exceeds_a_tiny_dataset() -> None:
    space = _neural.search_space((40, 3))
    assert space["batch_size"]["domain"].upper == 41
    assert space["batch_size"]["init_value"] <= 40


def test_validation_split_is_seeded_disjoint_and_skipped_for_tiny_data() -> None:
    train, valid = _neural.validation_split(100, seed=3)
    assert len(valid) == 10 and not set(train) & set(valid) and len(train) + len(valid) == 100
    again = _neural.validation_split(100, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(valid, again[1])
    assert not np.array_equal(valid, _neural.validation_split(100, seed=4)[1])
    train, valid = _neural.validation_split(_neural.MIN_ROWS_FOR_VALID - 1, seed=3)
    assert len(valid) == 0 and len(train) == _neural.MIN_ROWS_FOR_VALID - 1


def test_standardization_maps_constant_columns_to_zero_not_inf() -> None:
    mean, scale = _neural.standardization(np.array([[1.0, 5.0], [3.0, 5.0]], dtype="float32"))
    assert mean.tolist() == [2.0, 5.0] and scale.tolist() == [1.0, 1.0]


def test_flaml_config_keys_become_params_and_extra_keys_are_ignored() -> None:
    params = MLPParams.from_config({"width": 40, "depth": 3, "dropout": 0.2, "learning_rate": 0.01,
                                    "batch_size": 64, "epochs": 12, "n_jobs": 1, "random_seed": 7})
    assert params == MLPParams(width=40, depth=3, dropout=0.2, learning_rate=0.01, batch_size=64, epochs=12, seed=7)


# -- fitting ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_classifier_learns_iris_and_returns_probabilities(framework: str) -> None:
    X, y = _iris()
    model = _fit(framework, X, y, classification=True)
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(X) == y).mean() > 0.85
    assert model.classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_regressor_predicts_in_target_units(framework: str) -> None:
    from sklearn.metrics import r2_score

    X, y = _linear()
    model = _fit(framework, X, y, classification=False, params=MLPParams(width=32, depth=1, epochs=40, batch_size=16))
    pred = model.predict(X)
    assert pred.shape == (200,)
    assert r2_score(y, pred) > 0.8  # only possible if the output is rescaled back from standard units


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_same_seed_same_model_and_another_seed_another(framework: str) -> None:
    X, y = _iris()
    first = _fit(framework, X, y, classification=True).predict_proba(X)
    second = _fit(framework, X, y, classification=True).predict_proba(X)
    other = _fit(framework, X, y, classification=True, params=MLPParams(**{**SMALL.__dict__, "seed": 1}))
    assert np.array_equal(first, second)
    assert not np.allclose(first, other.predict_proba(X))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_zero_sample_weight_rows_do_not_teach_their_class(framework: str) -> None:
    X, y = _iris()
    weights = np.where(y == 2, 0.0, 1.0)
    plain = _fit(framework, X, y, classification=True).predict_proba(X[y == 2])[:, 2].mean()
    weighted = _fit(framework, X, y, classification=True, sample_weight=weights).predict_proba(X[y == 2])[:, 2].mean()
    assert weighted < plain / 2


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_spent_time_budget_stops_after_the_first_epoch(framework: str) -> None:
    X, y = _iris()
    one_epoch = MLPParams(**{**SMALL.__dict__, "epochs": 1})
    budgeted = _fit(framework, X, y, classification=True, budget_s=0.0).predict_proba(X)
    assert np.array_equal(budgeted, _fit(framework, X, y, classification=True, params=one_epoch).predict_proba(X))


def test_torch_fit_uses_n_jobs_threads_and_restores_the_process_setting() -> None:
    import torch

    before = torch.get_num_threads()
    X, y = _iris()
    _fit("pytorch", X, y, classification=True, n_jobs=1)
    assert torch.get_num_threads() == before


def test_keras_fit_leaves_global_random_generators_alone() -> None:
    import random

    X, y = _iris()
    random.seed(123)
    np.random.seed(123)
    _fit("tensorflow", X, y, classification=True)
    assert random.random() == pytest.approx(random.Random(123).random())
    assert np.random.random() == np.random.RandomState(123).random_sample()


def test_wrong_feature_count_is_a_data_error() -> None:
    from tesla.errors import DataError

    X, y = _iris()
    model = _fit("pytorch", X, y, classification=True, params=MLPParams(width=8, depth=1, epochs=1))
    with pytest.raises(DataError, match="takes 4 feature columns; got shape \\(2, 3\\)"):
        model.predict(X.iloc[:2, :3])


# -- FLAML registration and mixed searches ----------------------------------------------------------------------
def test_framework_estimators_and_bundle_formats() -> None:
    assert default_estimators("pytorch", "binary") == ["torch_mlp"]
    assert default_estimators("tensorflow", "regression") == ["keras_mlp"]
    auto = default_estimators("auto", "multiclass")
    assert {"torch_mlp", "keras_mlp", "lgbm"} <= set(auto)
    assert estimator_framework("torch_mlp") == "pytorch" and estimator_framework("keras_mlp") == "tensorflow"
    assert estimator_framework("lgbm") == "scikit-learn"
    assert set(CUSTOM_LEARNERS) == {"torch_mlp", "keras_mlp"}


def _search(X: pd.DataFrame, y: np.ndarray, task: str, estimators: list[str], max_iter: int, workdir: Path) -> Any:
    from tesla.automl.adapter import search

    return search(X, y, task=task, estimators=estimators, metric="auto", max_iter=max_iter, time_budget_s=None,
                  eval_method="holdout", n_splits=3, ensemble=False, seed=0, n_jobs=1, workdir=workdir)


@pytest.mark.slow
@pytest.mark.parametrize(("estimator", "model_class"), [("torch_mlp", "TorchTabularModel"),
                                                         ("keras_mlp", "KerasTabularModel")])
def test_flaml_searches_each_learner_and_returns_a_plain_model(tmp_path: Path, estimator: str,
                                                              model_class: str) -> None:
    X, y = _linear(120)
    result = _search(X, y, "regression", [estimator], 3, tmp_path)
    assert result.best_estimator == estimator and type(result.model).__name__ == model_class
    assert {t["estimator"] for t in result.trials} == {estimator} and len(result.trials) == 3
    assert set(result.best_config) == {"width", "depth", "dropout", "learning_rate", "batch_size", "epochs"}
    assert result.model.predict(X).shape == (120,)


@pytest.mark.slow
def test_mixed_search_tries_every_framework_and_the_winner_picks_its_format(tmp_path: Path) -> None:
    X, y = _iris()
    result = _search(X, y, "multiclass", ["torch_mlp", "keras_mlp", "lgbm"], 6, tmp_path)
    tried = {t["estimator"] for t in result.trials}
    assert tried == {"torch_mlp", "keras_mlp", "lgbm"}
    expected = {"torch_mlp": "TorchTabularModel", "keras_mlp": "KerasTabularModel"}.get(result.best_estimator)
    assert type(result.model).__name__ == (expected or type(result.model).__name__)
    if expected is None:  # an sklearn-API winner goes to skops, not to a neural format
        assert estimator_framework(result.best_estimator) == "scikit-learn"


# -- a missing extra ---------------------------------------------------------------------------------------------
_BLOCKED_SEARCH = """
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
from tesla.automl.adapter import search
from tesla.errors import DependencyError
work = Path(sys.argv[1])
X = pd.DataFrame({{"a": np.arange(30.0)}})
try:
    search(X, np.arange(30.0), task="regression", estimators=["lgbm", {estimator!r}], metric="auto", max_iter=2,
           time_budget_s=None, eval_method="holdout", n_splits=3, ensemble=False, seed=0, n_jobs=1, workdir=work)
except DependencyError as exc:
    print(json.dumps({{"error": str(exc), "searched": (work / "flaml.log").exists()}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("estimator", "module", "extra"), [("torch_mlp", "torch", "pytorch"),
                                                            ("keras_mlp", "tensorflow", "tensorflow")])
def test_missing_framework_fails_before_the_search_with_the_pip_command(
        tmp_path: Path, estimator: str, module: str, extra: str) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / f"{module}.py").write_text(f"raise ModuleNotFoundError(\"No module named '{module}'\", name={module!r})\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _BLOCKED_SEARCH.format(estimator=estimator), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip(), out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["error"] == (f"-f {extra} needs {module}, which is not installed; "
                               f"run: pip install 'tesla-ml[{extra}]'")
    assert report["searched"] is False  # raised before FLAML started a single trial


@pytest.mark.slow
def test_keras_on_another_backend_is_refused_with_the_fix() -> None:
    code = ("import numpy as np\nfrom tesla.automl.keras_learner import fit_keras_mlp\n"
            "from tesla.automl._neural import MLPParams\nfrom tesla.errors import DependencyError\n"
            "try:\n    fit_keras_mlp(np.ones((5, 2)), np.ones(5), classification=False, params=MLPParams())\n"
            "except DependencyError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "KERAS_BACKEND": "torch"})
    assert out.stdout.strip() == ("keras_mlp trains with Keras' tensorflow backend, but KERAS_BACKEND is 'torch'; "
                                  "unset it or set KERAS_BACKEND=tensorflow"), out.stderr
