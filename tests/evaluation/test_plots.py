"""Every evaluation plot renders for binary, multiclass and regression models on scikit-learn's bundled data."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tesla.evaluation import plots
from tesla.evaluation.evaluate import _Scored, evaluate_bundle, figures

EXPECTED = {
    "binary": {"ROC", "Precision-recall", "Calibration", "Lift and gain", "Threshold", "Confusion matrix (counts)",
               "Confusion matrix (normalised)", "Per-class metrics", "Permutation feature importance"},
    "multiclass": {"ROC", "Precision-recall", "Calibration", "Lift and gain", "Confusion matrix (counts)",
                   "Confusion matrix (normalised)", "Per-class metrics", "Permutation feature importance"},
    "regression": {"Predicted vs actual", "Residuals", "Permutation feature importance"},
}


def _scored(bundle: Any, test: Any) -> _Scored:
    import numpy as np

    X = bundle.features(test.drop(columns=["target"]))
    if bundle.task == "regression":
        return _Scored(test["target"].to_numpy(float), np.asarray(bundle.estimator.predict(X), float), None, [])
    proba = bundle.predict_proba_features(X)
    return _Scored(test["target"].to_numpy(), proba.argmax(axis=1), proba, list(bundle.classes))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_plot_renders_with_data_on_its_axes(task: str, task_bundles: dict[str, Any]) -> None:
    bundle, test = task_bundles[task]
    scored = _scored(bundle, test)
    importance = {"a": (0.2, 0.01), "b": (0.05, 0.02)}
    made = dict(figures(scored, task, {"threshold": 0.4} if task == "binary" else None, importance))
    assert set(made) == EXPECTED[task]
    for heading, make in made.items():
        fig = make()
        drawn = sum(len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images) for ax in fig.axes)
        assert drawn > 0, heading
        svg = plots.to_svg(fig)
        assert svg.startswith("<svg") and "http" not in svg, heading
        assert plots.to_png(fig).startswith(b"\x89PNG"), heading


def test_permutation_importance_finds_the_feature_the_model_uses() -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    truth = rows["signal"].to_numpy() * 3

    def score(frame: pd.DataFrame) -> float:
        return -float(np.mean((frame["signal"].to_numpy() * 3 - truth) ** 2))

    ranked = plots.permutation_importance(score, rows)
    assert list(ranked) == ["signal", "noise"]
    assert ranked["signal"][0] > 1.0 and ranked["noise"][0] == 0.0


_URL = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.I)
_REF = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", re.I)


def assert_self_contained(page: str) -> None:
    """No URL anywhere; every src= / href= points inside the page (``#id``) or is inline (``data:``)."""
    assert not _URL.search(page), _URL.search(page)
    outside = [ref for ref in _REF.findall(page) if not ref.startswith(("#", "data:"))]
    assert not outside, outside[:3]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_report_holds_every_plot_and_no_external_url(task: str, task_bundles: dict[str, Any]) -> None:
    bundle, test = task_bundles[task]
    result = evaluate_bundle(bundle, test, title="Evaluation of demo@3", source="test.csv", model="demo@3")
    page = result.report_html
    assert_self_contained(page)
    assert page.count("<svg") == len(EXPECTED[task])
    for heading in EXPECTED[task]:
        assert f"<h2>{heading}</h2>" in page
    assert "<td style='text-align:left'>demo@3</td>" in page  # the model cell is filled
    assert result._repr_html_() == page
