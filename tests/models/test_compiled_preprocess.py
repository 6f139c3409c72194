"""The compiled preprocessing and the array estimator give exactly the pandas path's answers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tesla.errors import DataError
from tesla.models import load_bundle, save_bundle
from tesla.models.bundle import records_frame
from tesla.models.preprocess import CompiledPreprocessor, Preprocessor

KINDS = {"plan": "categorical", "city": "categorical", "tenure": "numeric", "charges": "numeric",
         "autopay": "boolean", "signup": "datetime", "seen": "datetime", "note": "text"}


def _table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Every kind of feature, with missing values, a high-cardinality categorical and mixed date formats."""
    rng = np.random.default_rng(seed)
    charges = rng.normal(50, 10, n).round(2).astype(object)
    charges[::9] = None
    plan = rng.choice(["basic", "pro", "team"], n).astype(object)
    plan[::11] = None
    stamps = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n), unit="s")
    seen = stamps.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object)
    seen[1::5] = stamps[1::5].strftime("%Y-%m-%d %H:%M")
    seen[2::5] = stamps[2::5].strftime("%Y-%m-%dT%H:%M:%S+05:30")
    seen[3::5] = stamps[3::5].strftime("%m/%d/%Y")  # not ISO: pandas parses these
    seen[4::13] = None
    return pd.DataFrame({
        "plan": plan, "city": [f"city{int(c)}" for c in rng.zipf(1.3, n) % 300],
        "tenure": rng.integers(1, 60, n).astype(object), "charges": charges,
        "autopay": rng.choice(["yes", "no", "Y", "false", None], n),
        "signup": pd.date_range("2020-02-27", periods=n, freq="D").strftime("%Y-%m-%d"), "seen": seen,
        "note": rng.choice(["late payment", "", "wants  a discount now", None, "ok"], n),
    })


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="module")
def fitted() -> Preprocessor:
    return Preprocessor.fit(_table(), {k: {"type": v} for k, v in KINDS.items()})


def test_compiled_matrix_equals_pandas(fitted: Preprocessor) -> None:
    assert {f["name"]: f.get("encoding") for f in fitted.features}["city"] == "ordinal"
    rows = _rows(_table(300, seed=1))  # other rows: unseen cities, other dates
    expected = fitted.transform(records_frame(rows, fitted.features), unseen="unknown").to_numpy()
    got = fitted.compile().records(rows, unseen="unknown")
    assert got.dtype == np.float64 and got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("row", [{}, {"plan": None, "seen": "garbage", "note": 5}],
                         ids=["every-key-missing", "odd-values"])
def test_compiled_matrix_of_odd_rows(fitted: Preprocessor, row: dict[str, Any]) -> None:
    expected = fitted.transform(records_frame([row], fitted.features), unseen="unknown").to_numpy()
    assert np.array_equal(fitted.compile().records([row], unseen="unknown"), expected, equal_nan=True)


def _tree_bundle(directory: Path, learner: Any) -> Any:
    frame = _table()
    prep = Preprocessor.fit(frame, {k: {"type": v} for k, v in KINDS.items()})
    y = (frame["plan"] == "basic").astype(int)
    estimator = learner.fit(prep.transform(frame), y)
    saved = save_bundle(directory, estimator=estimator, framework="scikit-learn", preprocessor=prep,
                        task="binary", classes=[0, 1], estimator_name="tree", target="churned")
    return load_bundle(saved)


@pytest.mark.parametrize("learner", ["lightgbm", "random-forest"])
def test_served_predictions_equal_pandas_path(tmp_path: Path, learner: str) -> None:
    if learner == "lightgbm":
        from lightgbm import LGBMClassifier

        estimator = LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1)
    else:
        from sklearn.ensemble import RandomForestClassifier

        estimator = RandomForestClassifier(n_estimators=10, random_state=0)
    bundle = _tree_bundle(tmp_path / "b", estimator)
    assert bundle.compiled is not None and (bundle.on_arrays or bundle.booster) is not None
    rows = _rows(_table(200, seed=2))
    expected = bundle.predict_records(records_frame(rows, bundle.signature), unseen="unknown")
    assert bundle.predict_request(rows, unseen="unknown") == expected
    assert [bundle.predict_request([row], unseen="unknown")[0] for row in rows[:20]] == expected[:20]


def test_unknown_category_gives_the_pandas_error(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    bundle = _tree_bundle(tmp_path / "b", DecisionTreeClassifier(max_depth=2))
    row = {**_rows(_table(1))[0], "plan": "enterprise"}
    with pytest.raises(DataError, match="column 'plan' has category 'enterprise' not seen in training") as caught:
        bundle.matrix([row])
    assert caught.value.key == "plan"


def test_a_differing_compiled_path_falls_back_to_pandas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from sklearn.tree import DecisionTreeClassifier

    def wrong(self: CompiledPreprocessor, rows: Any, *, unseen: str = "error") -> Any:
        return np.zeros((len(rows), self.width))

    monkeypatch.setattr(CompiledPreprocessor, "records", wrong)
    with caplog.at_level(logging.WARNING, logger="tesla.models"):
        bundle = _tree_bundle(tmp_path / "b", DecisionTreeClassifier(max_depth=2))
    assert bundle.compiled is None
    assert "compiled preprocessing differs from pandas" in caplog.text
    rows = _rows(_table(30, seed=3))
    assert bundle.predict_request(rows, unseen="unknown") == bundle.predict_records(
        records_frame(rows, bundle.signature), unseen="unknown")
