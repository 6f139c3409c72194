"""Bundles on scikit-learn's bundled datasets (binary, multiclass, regression) and an imbalanced one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def make_bundle(directory: Path, frame: Any, target: str, task: str, estimator: Any,
                extra: dict[str, Any] | None = None) -> Any:
    """Fit ``estimator`` on ``frame`` (numeric features) and save it as a bundle with its dummy baseline."""
    from tesla.models import load_bundle, save_bundle
    from tesla.models.preprocess import Preprocessor

    X = frame.drop(columns=[target])
    prep = Preprocessor.fit(X, {c: {"type": "numeric"} for c in X.columns})
    y = frame[target]
    classes = None if task == "regression" else sorted(y.unique().tolist())
    fitted = estimator.fit(prep.transform(X), y if task == "regression" else y.map({c: i for i, c in enumerate(classes)}))
    baseline = ({"mean": float(y.mean())} if task == "regression" else
                {"class_prior": [float((y == c).mean()) for c in classes]})
    saved = save_bundle(directory, estimator=fitted, framework="scikit-learn", preprocessor=prep, task=task,
                        classes=classes, estimator_name=type(estimator).__name__, target=target,
                        extra={"baseline": baseline, **(extra or {})})
    return load_bundle(saved)


def sklearn_frame(name: str) -> Any:
    from sklearn import datasets

    loader = {"binary": datasets.load_breast_cancer, "multiclass": datasets.load_wine,
              "regression": datasets.load_diabetes}[name]
    frame = loader(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


def imbalanced_frame(n: int = 3000, seed: int = 0) -> Any:
    """5 % positives whose signal is weak: a calibrated model rarely reaches P >= 0.5 on any row."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    logit = -3.6 + 1.1 * x[:, 0] + 0.4 * x[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["segment"] = np.where(x[:, 2] > 0, 1, 0)
    frame["churned"] = y
    return frame


@pytest.fixture(scope="session")
def task_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    """task -> (bundle, held-out frame) on breast cancer, wine and diabetes."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import train_test_split

    out = {}
    for task in ("binary", "multiclass", "regression"):
        frame = sklearn_frame(task)
        train, test = train_test_split(frame, test_size=0.3, random_state=0)
        estimator = Ridge() if task == "regression" else LogisticRegression(max_iter=5000)
        out[task] = (make_bundle(tmp_path_factory.mktemp(task), train, "target", task, estimator), test)
    return out
