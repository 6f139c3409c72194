"""Fixtures of the serving tests: the trained breast-cancer bundle and a small mixed-type bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tesla.models import Bundle, load_bundle


@pytest.fixture(scope="session")
def bc_bundle_dir(trained_project: Path) -> Path:
    """The bundle of bc_model@1 (LightGBM or whatever FLAML picked, 30 numeric columns)."""
    from tesla import api

    store = api.open_store(trained_project)
    return store.artifacts.path(store.model("bc_model", 1).bundle_sha)


@pytest.fixture(scope="session")
def bc_bundle(bc_bundle_dir: Path) -> Bundle:
    return load_bundle(bc_bundle_dir)


@pytest.fixture(scope="session")
def bc_rows(datasets_dir: Path) -> list[dict[str, Any]]:
    """Held-out breast-cancer rows as a JSON client sends them (no target)."""
    import pandas as pd

    frame = pd.read_csv(datasets_dir / "bc_test.csv").drop(columns=["target"])
    return json.loads(frame.to_json(orient="records"))


def _mixed_frame() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 120
    plan = rng.choice(["basic", "pro", "team"], n)
    charges = rng.normal(50, 10, n).round(2)
    charges[::10] = np.nan  # nullable numeric
    region = rng.choice(["north", "south"], n).astype(object)
    region[::7] = None  # nullable categorical
    return pd.DataFrame({
        "plan": plan, "region": region, "tenure": rng.integers(1, 60, n), "charges": charges,
        "autopay": rng.choice([True, False], n),
        "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "note": rng.choice(["late payment", "happy", "wants discount now"], n),
    }), (plan == "basic").astype(int)


def make_mixed_bundle(directory: Path) -> Bundle:
    """A decision tree over categorical, nullable, boolean, datetime and text columns, saved in ``directory``
    (about a second; the HTTP corpus in tests/reliability builds one too)."""
    from sklearn.tree import DecisionTreeClassifier

    from tesla.models import save_bundle
    from tesla.models.preprocess import Preprocessor

    frame, y = _mixed_frame()
    kinds = {"plan": "categorical", "region": "categorical", "tenure": "numeric", "charges": "numeric",
             "autopay": "boolean", "signup": "datetime", "note": "text"}
    prep = Preprocessor.fit(frame, {k: {"type": v} for k, v in kinds.items()})
    estimator = DecisionTreeClassifier(max_depth=3, random_state=0).fit(prep.transform(frame), y)
    saved = save_bundle(directory, estimator=estimator, framework="scikit-learn", preprocessor=prep,
                        task="binary", classes=[0, 1], estimator_name="tree", target="churned")
    return load_bundle(saved)


MIXED_ROW: dict[str, Any] = {"plan": "pro", "region": "north", "tenure": 12, "charges": 49.5, "autopay": True,
                             "signup": "2024-03-01", "note": "happy"}


@pytest.fixture(scope="session")
def mixed_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A decision tree over categorical, nullable, boolean, datetime and text columns."""
    return make_mixed_bundle(tmp_path_factory.mktemp("mixed") / "bundle")


@pytest.fixture
def mixed_row() -> dict[str, Any]:
    """One valid row for ``mixed_bundle``."""
    return dict(MIXED_ROW)
