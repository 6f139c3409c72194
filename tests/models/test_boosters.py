"""A booster kept in its library's own format answers exactly as its scikit-learn wrapper, and a model
server reads it without importing scikit-learn or skops."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tesla.errors import BundleError
from tesla.models import boosters, load_bundle, save_bundle
from tesla.models.preprocess import Preprocessor

KINDS = {"plan": "categorical", "city": "categorical", "tenure": "numeric", "charges": "numeric"}
TASKS = ("binary", "multiclass", "regression")


def _table(n: int, seed: int) -> pd.DataFrame:
    """Mixed types with missing values: a categorical, a high-cardinality one, numbers with gaps."""
    rng = np.random.default_rng(seed)
    charges = rng.normal(50, 10, n).round(2)
    charges[::7] = np.nan
    plan = rng.choice(["basic", "pro", "team"], n).astype(object)
    plan[::11] = None
    return pd.DataFrame({"plan": plan, "city": [f"city{int(c)}" for c in rng.zipf(1.3, n) % 200],
                         "tenure": rng.integers(1, 60, n).astype(float), "charges": charges})


def _target(frame: pd.DataFrame, task: str) -> pd.Series:
    score = frame["tenure"] / 10 + frame["charges"].fillna(40) / 20 + (frame["plan"] == "pro") * 2
    if task == "regression":
        return score * 100
    return pd.Series(pd.qcut(score, 2 if task == "binary" else 3, labels=False), index=frame.index)


def _learner(library: str, task: str) -> Any:
    small = {"n_estimators": 25, "random_state": 0}
    if library == "lightgbm":
        import lightgbm

        cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        return cls(min_child_samples=5, verbose=-1, **small)
    import xgboost

    cls = xgboost.XGBRegressor if task == "regression" else xgboost.XGBClassifier
    return cls(max_depth=4, **small)


def _bundle(directory: Path, library: str, task: str, *, native: bool = False) -> tuple[Path, Any, Preprocessor]:
    frame = _table(400, seed=0)
    prep = Preprocessor.fit(frame, {k: {"type": v} for k, v in KINDS.items()}, native=native)
    y = _target(frame, task)
    estimator = _learner(library, task)
    X = prep.transform(frame)
    kwargs = {}
    if native:
        kwargs["categorical_feature"] = prep.native_columns
    estimator.fit(X, y, **kwargs)
    classes = None if task == "regression" else sorted(int(c) for c in y.unique())
    path = save_bundle(directory, estimator=estimator, framework="scikit-learn", preprocessor=prep, task=task,
                       classes=classes, estimator_name=library, target="y")
    return path, estimator, prep


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_the_booster_answers_exactly_as_its_wrapper(tmp_path: Path, library: str, task: str) -> None:
    path, estimator, prep = _bundle(tmp_path / "b", library, task)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["weights"]["booster_library"] == library
    bundle = load_bundle(path)
    assert bundle.booster is not None and "estimator" not in vars(bundle)  # the wrapper is not built to predict
    frame = _table(300, seed=1)  # other rows: unseen cities, other gaps
    X = prep.transform(frame, unseen="unknown")
    wrapper = estimator.predict(X) if task == "regression" else estimator.predict_proba(X)
    assert np.array_equal(bundle.estimate(X), wrapper)
    assert np.array_equal(bundle.estimate(X.to_numpy(dtype="float64")), wrapper)
    assert bundle.predict_records(frame, unseen="unknown") == bundle.predict_request(
        json.loads(frame.to_json(orient="records")), unseen="unknown")


def test_native_categories_keep_their_splits(tmp_path: Path) -> None:
    path, estimator, prep = _bundle(tmp_path / "b", "lightgbm", "binary", native=True)
    assert prep.native_columns and '"decision_type": "=="' in json.dumps(estimator.booster_.dump_model())
    bundle = load_bundle(path)
    assert bundle.booster is not None
    X = prep.transform(_table(300, seed=2), unseen="unknown")
    assert np.array_equal(bundle.estimate(X), estimator.predict_proba(X))


def test_a_booster_that_answers_differently_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    real = boosters.load

    def off_by_a_little(*args: Any, **kwargs: Any) -> Any:
        predict = real(*args, **kwargs)
        return lambda X: predict(X) + 1e-12

    monkeypatch.setattr(boosters, "load", off_by_a_little)
    with caplog.at_level(logging.INFO, logger="tesla.models"):
        path, _, _ = _bundle(tmp_path / "b", "lightgbm", "binary")
    monkeypatch.setattr(boosters, "load", real)
    assert "answers differently from its wrapper" in caplog.text
    assert not (path / "model.lgb.txt").exists()
    assert "booster" not in json.loads((path / "manifest.json").read_text())["weights"]
    assert load_bundle(path).booster is None  # the wrapper predicts, as before boosters were kept


@pytest.fixture(scope="module")
def lgb_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bundle(tmp_path_factory.mktemp("lgb") / "b", "lightgbm", "binary")[0]


_MODEL_SERVER = """
import json, sys
import uvicorn
from tesla.errors import BundleError

def run(server, sockets=None):  # the model server as `python -m tesla.serving` builds it, minus serving
    bundle = server.config.app.state.bundle
    answer = bundle.predict_request({rows!r}, unseen="unknown")
    try:
        bundle.estimator
        refused = None
    except BundleError as exc:
        refused = str(exc)
    heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops', 'xgboost', 'flaml', 'pytest'))
    print(json.dumps({{"answer": answer, "refused": refused, "heavy": heavy,
                      "sklearn_left_blocked": "sklearn" in sys.modules}}))

uvicorn.Server.run = run
from tesla.serving.__main__ import main
main(["--bundle", {path!r}, "--port", "0"])
"""


def test_a_model_server_reads_the_booster_without_scikit_learn(lgb_bundle: Path) -> None:
    rows = json.loads(_table(20, seed=3).to_json(orient="records"))
    code = _MODEL_SERVER.format(path=str(lgb_bundle), rows=rows)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["answer"] == json.loads(json.dumps(load_bundle(lgb_bundle).predict_request(rows, unseen="unknown")))
    assert got["heavy"] == []
    assert not got["sklearn_left_blocked"]  # blocked for LightGBM's import only
    assert "loaded the booster alone" in got["refused"]


def _forge(bundle: Path, tmp_path: Path, **weights: Any) -> Path:
    import shutil

    copy = tmp_path / "forged"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["weights"].update(weights)
    manifest["weights"] = {k: v for k, v in manifest["weights"].items() if v is not None}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize(("weights", "message"), [
    ({"booster_library": None}, "manifest.json field 'weights.booster_library' is missing; it comes with weights.booster"),
    ({"booster_library": "catboost"}, "field 'weights.booster_library' is 'catboost'; expected one of lightgbm, xgboost"),
    ({"booster": "../model.lgb.txt"}, "field 'weights.booster' is '../model.lgb.txt'; it must be a file inside"),
    ({"booster_library": "xgboost"}, "field 'weights.booster_iterations' is missing; an XGBoost booster needs it"),
    ({"booster_iterations": [0, -1]}, "field 'weights.booster_iterations' is [0, -1]; expected [start, end]"),
], ids=["library-missing", "unknown-library", "path", "xgboost-without-iterations", "negative-iterations"])
def test_forged_booster_facts_are_named(lgb_bundle: Path, tmp_path: Path, weights: dict[str, Any],
                                        message: str) -> None:
    with pytest.raises(BundleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_bundle(_forge(lgb_bundle, tmp_path, **weights))


def test_a_damaged_booster_file_is_refused_by_name(lgb_bundle: Path, tmp_path: Path) -> None:
    forged = _forge(lgb_bundle, tmp_path)
    (forged / "model.lgb.txt").write_text("tree\nnot a model\n")
    with pytest.raises(BundleError, match="refusing to load 'model.lgb.txt': not a lightgbm model Tesla wrote") as caught:
        load_bundle(forged)
    assert caught.value.key == "model.lgb.txt"
